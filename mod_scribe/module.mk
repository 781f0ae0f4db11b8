# mod_scribe: included by the top-level Makefile.
#
#   build/gen/scribe/                   C++ generated from mod_scribe/scribe.thrift
#                                       (never committed); part of the core
#   build/gen/py/                       Python generated from it, for
#                                       t/collector/scribe_collector.py and
#                                       t/bench/scribe_pipe.py (TOOLS)
#   build/libscribe_core.a              the core: ScribeSink (Thrift client) with
#                                       the generated code, target parser,
#                                       spool directory setup
#   build/mod_scribe.so                 the module
#   build/t/unit/test_scribe            Check unit tests of the core
#   t/bench/bench_scribe.py             benchmark (BENCHES)
#   build/t/fuzz/fuzz_scribe_target     libFuzzer target: targets and directive
#                                       values (make fuzz only)

SCRIBE_DIR := mod_scribe

# Core: no httpd headers (see the object rules in the Makefile). The Thrift
# translation units must stay so: httpd.h defines OK, scribe.thrift's
# ResultCode has a member OK.
SCRIBE_CORE_SRCS := $(addprefix $(SCRIBE_DIR)/, scribe_sink.cpp scribe_target.cpp scribe_settings.cpp)
SCRIBE_CORE_OBJS := $(call OBJS_OF,$(SCRIBE_CORE_SRCS))

# The core's generated part.
THRIFT ?= thrift
SCRIBE_IDL := $(SCRIBE_DIR)/scribe.thrift
SCRIBE_GEN_DIR := $(BUILD)/gen/scribe
SCRIBE_GEN_SRCS := $(SCRIBE_GEN_DIR)/scribe.cpp $(SCRIBE_GEN_DIR)/scribe_types.cpp
SCRIBE_GEN_HDRS := $(SCRIBE_GEN_DIR)/scribe.h $(SCRIBE_GEN_DIR)/scribe_types.h
SCRIBE_GEN_OBJS := $(patsubst $(SCRIBE_GEN_DIR)/%.cpp,$(BUILD)/obj/gen/scribe/%.o,$(SCRIBE_GEN_SRCS))
SCRIBE_PY_GEN := $(BUILD)/gen/py
SCRIBE_PY_STAMP := $(SCRIBE_PY_GEN)/scribe/ttypes.py

# Our sources see the generated headers as system headers: -Werror stays on
# for our code without judging thrift's output.
CXXFLAGS_mod_scribe += -isystem $(BUILD)/gen

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
# the generic rules, these objects belong to one build flavour (SANITIZE),
# and see no httpd header either.
$(SCRIBE_GEN_OBJS): $(BUILD)/obj/gen/scribe/%.o: $(SCRIBE_GEN_DIR)/%.cpp $(SCRIBE_GEN_HDRS) $(FLAVOUR_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 $(OPT) $(NO_UNIQUE) -w -I$(SCRIBE_GEN_DIR) -MMD -MP -c $< -o $@

# The Thrift translation unit needs the generated headers before its first
# compilation (after that, -MMD tracks them).
$(BUILD)/obj/$(SCRIBE_DIR)/scribe_sink.o: $(SCRIBE_GEN_HDRS)

# Glue: the module record and the hooks, compiled with httpd's headers.
SCRIBE_GLUE_SRCS := $(addprefix $(SCRIBE_DIR)/, mod_scribe.c scribe_glue.cpp)
SCRIBE_GLUE_OBJS := $(call OBJS_OF,$(SCRIBE_GLUE_SRCS))

# Archive: the core with its generated code.
SCRIBE_CORE_LIB := $(BUILD)/libscribe_core.a
$(SCRIBE_CORE_LIB): $(SCRIBE_CORE_OBJS) $(SCRIBE_GEN_OBJS)
	$(ARCHIVE)

# Module: glue, then the core, then the shared code.
$(BUILD)/mod_scribe.so: $(SCRIBE_GLUE_OBJS) $(SCRIBE_CORE_LIB) $(DELIVERY_LIB)
	$(call LINK_MODULE,-lthrift)

# Unit tests. Neither reaches ScribeSink, so neither links Thrift.
SCRIBE_TESTS := $(BUILD)/t/unit/test_scribe
$(BUILD)/obj/t/unit/test_scribe.o: OBJ_CXXFLAGS := -I$(SCRIBE_DIR)

$(BUILD)/t/unit/test_scribe: $(BUILD)/obj/t/unit/test_scribe.o $(SCRIBE_CORE_LIB) \
		$(DELIVERY_LIB)
	$(LINK_UNIT)

# Tools and benches: the generated Python (the collector's); bench_scribe.py
# is a script, and spool_fill writes the spool its replay figures start from.
$(BUILD)/obj/t/bench/spool_fill.o: OBJ_CXXFLAGS := -I$(SCRIBE_DIR)

$(BUILD)/t/bench/spool_fill: $(BUILD)/obj/t/bench/spool_fill.o $(SCRIBE_CORE_LIB) $(DELIVERY_LIB)
	$(LINK_PROGRAM)

.PHONY: scribe scribe-py
scribe: $(BUILD)/mod_scribe.so $(DELIVERY_TESTS) $(SCRIBE_TESTS) $(SCRIBE_PY_STAMP)
scribe-py: $(SCRIBE_PY_STAMP)

# Fuzzers.
SCRIBE_FUZZ_SRCS := $(SCRIBE_DIR)/scribe_target.cpp $(DELIVERY_SRCS)

$(BUILD)/t/fuzz/fuzz_scribe_target: t/fuzz/fuzz_scribe_target.cpp $(SCRIBE_FUZZ_SRCS) \
		$(SCRIBE_DIR)/scribe_target.h include/delivery.h include/spool.h
	@mkdir -p $(dir $@)
	$(call FUZZ_SEED,fuzz_scribe_target,scribe)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -I$(SCRIBE_DIR) -pthread -o $@ $< $(SCRIBE_FUZZ_SRCS)

# Registration.
MODULES += $(BUILD)/mod_scribe.so
GLUE_SRCS += $(SCRIBE_GLUE_SRCS)
TOOLS += $(SCRIBE_PY_STAMP)
UNIT_TESTS += $(SCRIBE_TESTS)
BENCHES += t/bench/bench_scribe.py $(BUILD)/t/bench/spool_fill
FUZZERS += $(BUILD)/t/fuzz/fuzz_scribe_target
