# mod_syslog: build/mod_syslog.so and its unit test.
#
#   make build/mod_syslog.so build/t/unit/test_syslog

SYSLOG_CORE_OBJS := $(addprefix $(BUILD)/obj/mod_syslog/, \
	syslog_target.o syslog_format.o syslog_transport.o)
SYSLOG_SHARED_OBJS := $(DELIVERY_OBJS)
SYSLOG_GLUE_OBJS := $(BUILD)/obj/mod_syslog/mod_syslog.o $(BUILD)/obj/mod_syslog/syslog_glue.o

$(BUILD)/mod_syslog.so: $(SYSLOG_GLUE_OBJS) $(SYSLOG_CORE_OBJS) $(SYSLOG_SHARED_OBJS)
	@mkdir -p $(dir $@)
	$(CXX) $(SO_LDFLAGS) -o $@ $^ $(SO_LIBS)

$(BUILD)/obj/t/unit/test_syslog.o: EXTRA_CXXFLAGS += -Imod_syslog $(CHECK_CFLAGS)

$(BUILD)/t/unit/test_syslog: $(BUILD)/obj/t/unit/test_syslog.o $(SYSLOG_CORE_OBJS) \
		$(SYSLOG_SHARED_OBJS)
	@mkdir -p $(dir $@)
	$(CXX) $(LDSAN) -pthread -o $@ $^ $(CHECK_LIBS) $(APR_LIBS) $(LDSAN)

MODULES += $(BUILD)/mod_syslog.so
UNIT_TESTS += $(BUILD)/t/unit/test_syslog

# libFuzzer: targets, tags, format words and line encoding (make fuzz only).
SYSLOG_FUZZ_SRCS := mod_syslog/syslog_target.cpp mod_syslog/syslog_format.cpp
FUZZERS += $(BUILD)/t/fuzz/fuzz_syslog_target

$(BUILD)/t/fuzz/fuzz_syslog_target: t/fuzz/fuzz_syslog_target.cpp $(SYSLOG_FUZZ_SRCS) \
		$(wildcard mod_syslog/*.h)
	@mkdir -p $(dir $@)
	$(call FUZZ_SEED,fuzz_syslog_target,syslog)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -Imod_syslog -o $@ $< $(SYSLOG_FUZZ_SRCS)
