# mod_scribe: build/mod_scribe.so, its unit tests, and the Thrift code that
# both the module (C++) and the test collector (Python) are generated from.
# The generated code is never committed: it comes from mod_scribe/scribe.thrift.

THRIFT ?= thrift
SCRIBE_IDL := mod_scribe/scribe.thrift
SCRIBE_GEN_DIR := $(BUILD)/gen/scribe
SCRIBE_GEN_SRCS := $(SCRIBE_GEN_DIR)/scribe.cpp $(SCRIBE_GEN_DIR)/scribe_types.cpp
SCRIBE_GEN_HDRS := $(SCRIBE_GEN_DIR)/scribe.h $(SCRIBE_GEN_DIR)/scribe_types.h
SCRIBE_GEN_OBJS := $(patsubst $(SCRIBE_GEN_DIR)/%.cpp,$(BUILD)/obj/gen/scribe/%.o,$(SCRIBE_GEN_SRCS))
# Python side, for t/collector/scribe_collector.py and t/bench/scribe_pipe.py
# (they look here, or wherever $SCRIBE_PY_GEN points).
SCRIBE_PY_GEN := $(BUILD)/gen/py
SCRIBE_PY_STAMP := $(SCRIBE_PY_GEN)/scribe/ttypes.py

# Our sources see the generated headers as system headers: -Werror stays on
# for our code without judging thrift's output.
CXXFLAGS_mod_scribe += -isystem $(BUILD)/gen

SCRIBE_OBJS := $(BUILD)/obj/mod_scribe/mod_scribe.o \
	$(BUILD)/obj/mod_scribe/scribe_glue.o \
	$(BUILD)/obj/mod_scribe/scribe_sink.o \
	$(BUILD)/obj/mod_scribe/scribe_target.o \
	$(BUILD)/obj/mod_scribe/spool_setup.o \
	$(DELIVERY_OBJS) \
	$(SCRIBE_GEN_OBJS)

$(SCRIBE_GEN_SRCS) $(SCRIBE_GEN_HDRS) &: $(SCRIBE_IDL)
	@rm -rf $(SCRIBE_GEN_DIR) && mkdir -p $(SCRIBE_GEN_DIR)
	$(THRIFT) --gen cpp -out $(SCRIBE_GEN_DIR) $<
	@rm -f $(SCRIBE_GEN_DIR)/*.skeleton.cpp
	@touch $(SCRIBE_GEN_SRCS) $(SCRIBE_GEN_HDRS)

$(SCRIBE_PY_STAMP): $(SCRIBE_IDL)
	@rm -rf $(SCRIBE_PY_GEN)/scribe && mkdir -p $(SCRIBE_PY_GEN)
	$(THRIFT) --gen py -out $(SCRIBE_PY_GEN) $<
	@touch $@

# Generated code: warnings are thrift's business, not errors of ours. Like
# the generic rules, these objects belong to one build flavour (SANITIZE).
$(SCRIBE_GEN_OBJS): $(BUILD)/obj/gen/scribe/%.o: $(SCRIBE_GEN_DIR)/%.cpp $(SCRIBE_GEN_HDRS) $(FLAVOUR_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 $(OPT) $(NO_UNIQUE) -w -I$(SCRIBE_GEN_DIR) -MMD -MP -c $< -o $@

# The Thrift translation unit needs the generated headers before its first
# compilation (after that, -MMD tracks them).
$(BUILD)/obj/mod_scribe/scribe_sink.o: $(SCRIBE_GEN_HDRS)

$(BUILD)/mod_scribe.so: $(SCRIBE_OBJS)
	$(CXX) $(SO_LDFLAGS) -o $@ $^ $(SO_LIBS) -lthrift

# Unit-test objects: Check's flags and the module's headers.
SCRIBE_TEST_OBJS := $(BUILD)/obj/t/unit/test_delivery.o $(BUILD)/obj/t/unit/test_scribe.o \
	$(BUILD)/obj/t/unit/test_spool_setup.o
$(SCRIBE_TEST_OBJS): $(BUILD)/obj/t/unit/%.o: t/unit/%.cpp $(FLAVOUR_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_COMMON) $(HTTPD_CFLAGS) $(CHECK_CFLAGS) -Imod_scribe -MMD -MP -c $< -o $@

$(BUILD)/t/unit/test_delivery: $(BUILD)/obj/t/unit/test_delivery.o $(DELIVERY_OBJS)
	@mkdir -p $(dir $@)
	$(CXX) $(LDSAN) -pthread -o $@ $^ $(CHECK_LIBS) $(APR_LIBS) $(LDSAN)

$(BUILD)/t/unit/test_scribe: $(BUILD)/obj/t/unit/test_scribe.o \
		$(BUILD)/obj/mod_scribe/scribe_target.o $(BUILD)/obj/mod_scribe/spool_setup.o \
		$(DELIVERY_OBJS)
	@mkdir -p $(dir $@)
	$(CXX) $(LDSAN) -pthread -o $@ $^ $(CHECK_LIBS) $(APR_LIBS) $(LDSAN)

$(BUILD)/t/unit/test_spool_setup: $(BUILD)/obj/t/unit/test_spool_setup.o \
		$(BUILD)/obj/mod_scribe/spool_setup.o
	@mkdir -p $(dir $@)
	$(CXX) $(LDSAN) -pthread -o $@ $^ $(CHECK_LIBS) $(LDSAN)

.PHONY: scribe scribe-py
scribe: $(BUILD)/mod_scribe.so $(BUILD)/t/unit/test_delivery $(BUILD)/t/unit/test_scribe $(SCRIBE_PY_STAMP)
scribe-py: $(SCRIBE_PY_STAMP)

MODULES += $(BUILD)/mod_scribe.so
UNIT_TESTS += $(BUILD)/t/unit/test_delivery $(BUILD)/t/unit/test_scribe \
	$(BUILD)/t/unit/test_spool_setup
TOOLS += $(SCRIBE_PY_STAMP)
BENCHES += t/bench/bench_scribe.py

# libFuzzer (make fuzz only): targets and directive values; spool files as
# a replaying child reads them.
SCRIBE_FUZZ_SRCS := mod_scribe/scribe_target.cpp $(DELIVERY_SRCS)
SPOOL_FUZZ_SRCS := $(DELIVERY_SRCS)
FUZZERS += $(BUILD)/t/fuzz/fuzz_scribe_target $(BUILD)/t/fuzz/fuzz_spool_reader

$(BUILD)/t/fuzz/fuzz_scribe_target: t/fuzz/fuzz_scribe_target.cpp $(SCRIBE_FUZZ_SRCS) \
		mod_scribe/scribe_target.h include/delivery.h include/spool.h
	@mkdir -p $(dir $@)
	$(call FUZZ_SEED,fuzz_scribe_target,scribe)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -Imod_scribe -pthread -o $@ $< $(SCRIBE_FUZZ_SRCS)

$(BUILD)/t/fuzz/fuzz_spool_reader: t/fuzz/fuzz_spool_reader.cpp $(SPOOL_FUZZ_SRCS) \
		include/delivery.h include/spool.h
	@mkdir -p $(dir $@)
	$(call FUZZ_SEED,fuzz_spool_reader,spool)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -pthread -o $@ $< $(SPOOL_FUZZ_SRCS)
