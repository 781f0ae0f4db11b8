# mod_syslog: included by the top-level Makefile.
#
#   build/libsyslog_core.a              the core: target and SyslogTarget
#                                       parsers, line encoders, transports
#                                       (TLS with OpenSSL, RELP with librelp)
#   build/mod_syslog.so                 the module
#   build/t/unit/test_syslog            Check unit tests of the core
#   build/t/fuzz/fuzz_syslog_target     libFuzzer target: targets, tags, format
#                                       words and line encoding (make fuzz only)

SYSLOG_DIR := mod_syslog

# Core: no httpd headers (see the object rules in the Makefile).
SYSLOG_CORE_SRCS := $(addprefix $(SYSLOG_DIR)/, syslog_target.cpp target_definition.cpp \
	syslog_format.cpp syslog_transport.cpp tls_channel.cpp relp_sink.cpp)
# What the transports link: OpenSSL (tls://) and librelp (relp://).
SYSLOG_LIBS := -lssl -lcrypto -lrelp
SYSLOG_CORE_OBJS := $(call OBJS_OF,$(SYSLOG_CORE_SRCS))

# Glue: the module record and the hooks, compiled with httpd's headers.
SYSLOG_GLUE_SRCS := $(addprefix $(SYSLOG_DIR)/, mod_syslog.c syslog_directives.cpp \
	syslog_glue.cpp log_dir_exemption.cpp)
SYSLOG_GLUE_OBJS := $(call OBJS_OF,$(SYSLOG_GLUE_SRCS))

# Archive.
SYSLOG_CORE_LIB := $(BUILD)/libsyslog_core.a
$(SYSLOG_CORE_LIB): $(SYSLOG_CORE_OBJS)
	$(ARCHIVE)

# Module: glue, then the core, then the shared code.
$(BUILD)/mod_syslog.so: $(SYSLOG_GLUE_OBJS) $(SYSLOG_CORE_LIB) $(DELIVERY_LIB)
	$(call LINK_MODULE,$(SYSLOG_LIBS))

# Unit tests.
SYSLOG_TESTS := $(BUILD)/t/unit/test_syslog
$(BUILD)/obj/t/unit/test_syslog.o: OBJ_CXXFLAGS := -I$(SYSLOG_DIR)

$(BUILD)/t/unit/test_syslog: $(BUILD)/obj/t/unit/test_syslog.o $(SYSLOG_CORE_LIB) \
		$(DELIVERY_LIB)
	$(call LINK_UNIT,$(SYSLOG_LIBS))

# Fuzzers.
SYSLOG_FUZZ_SRCS := $(addprefix $(SYSLOG_DIR)/, syslog_target.cpp syslog_format.cpp)

$(BUILD)/t/fuzz/fuzz_syslog_target: t/fuzz/fuzz_syslog_target.cpp $(SYSLOG_FUZZ_SRCS) \
		$(wildcard $(SYSLOG_DIR)/*.h)
	@mkdir -p $(dir $@)
	$(call FUZZ_SEED,fuzz_syslog_target,syslog)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -I$(SYSLOG_DIR) -o $@ $< $(SYSLOG_FUZZ_SRCS)

# Registration.
MODULES += $(BUILD)/mod_syslog.so
GLUE_SRCS += $(SYSLOG_GLUE_SRCS)
UNIT_TESTS += $(SYSLOG_TESTS)
FUZZERS += $(BUILD)/t/fuzz/fuzz_syslog_target
