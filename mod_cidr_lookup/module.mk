# mod_cidr_lookup: included by the top-level Makefile.
#
#   build/mod_cidr_lookup.so            the module
#   build/cidr-lookup                   the list checker / lookup tool
#   build/t/unit/test_cidr_lookup       Check unit tests of the core
#   build/t/fuzz/fuzz_cidr_parser       libFuzzer target (make fuzz only)
#   build/t/bench/bench_cidr            micro-benchmark (BENCHES)

CIDR_DIR := mod_cidr_lookup
CIDR_CORE_SRCS := $(CIDR_DIR)/cidr_parse.cpp $(CIDR_DIR)/prefix_table.cpp $(CIDR_DIR)/cidr_loader.cpp \
	$(CIDR_DIR)/cidr_names.cpp
CIDR_CORE_OBJS := $(CIDR_CORE_SRCS:%.cpp=$(BUILD)/obj/%.o)
CIDR_GLUE_OBJS := $(BUILD)/obj/$(CIDR_DIR)/cidr_glue.o $(BUILD)/obj/$(CIDR_DIR)/mod_cidr_lookup.o
CIDR_FUZZ_CXX ?= clang++
CIDR_FUZZ_CORPUS := $(BUILD)/fuzz/corpus/fuzz_cidr_parser

MODULES += $(BUILD)/mod_cidr_lookup.so
TOOLS += $(BUILD)/cidr-lookup
UNIT_TESTS += $(BUILD)/t/unit/test_cidr_lookup $(BUILD)/t/unit/test_cidr_names
FUZZERS += $(BUILD)/t/fuzz/fuzz_cidr_parser
BENCHES += $(BUILD)/t/bench/bench_cidr

$(BUILD)/mod_cidr_lookup.so: $(CIDR_GLUE_OBJS) $(CIDR_CORE_OBJS) $(BUILD)/obj/include/status_board.o
	$(CXX) $(SO_LDFLAGS) -o $@ $^ $(SO_LIBS)

$(BUILD)/cidr-lookup: $(BUILD)/obj/$(CIDR_DIR)/cidr_lookup_cli.o $(CIDR_CORE_OBJS)
	$(CXX) $(LDSAN) -pthread -o $@ $^

# Test and bench objects come from the generic rule (and so follow the build
# flavour); they include the core headers by name.
$(BUILD)/obj/t/unit/test_cidr_lookup.o: EXTRA_CXXFLAGS += -I$(CIDR_DIR) $(CHECK_CFLAGS)
$(BUILD)/obj/t/unit/test_cidr_names.o: EXTRA_CXXFLAGS += -I$(CIDR_DIR) $(CHECK_CFLAGS)
$(BUILD)/obj/t/bench/bench_cidr.o: EXTRA_CXXFLAGS += -I$(CIDR_DIR)

$(BUILD)/t/unit/test_cidr_lookup: $(BUILD)/obj/t/unit/test_cidr_lookup.o $(CIDR_CORE_OBJS)
	@mkdir -p $(dir $@)
	$(CXX) $(LDSAN) -pthread -o $@ $^ $(CHECK_LIBS) $(APR_LIBS)

$(BUILD)/t/unit/test_cidr_names: $(BUILD)/obj/t/unit/test_cidr_names.o $(CIDR_CORE_OBJS)
	@mkdir -p $(dir $@)
	$(CXX) $(LDSAN) -pthread -o $@ $^ $(CHECK_LIBS)

$(BUILD)/t/bench/bench_cidr: $(BUILD)/obj/t/bench/bench_cidr.o $(CIDR_CORE_OBJS)
	@mkdir -p $(dir $@)
	$(CXX) $(LDSAN) -pthread -o $@ $^

# libFuzzer needs clang; the core is compiled into the fuzzer directly so it
# is instrumented too. The top-level fuzz target runs the binary on
# build/fuzz/corpus/<name>/: it is seeded from t/fuzz/seeds/cidr/.
$(BUILD)/t/fuzz/fuzz_cidr_parser: t/fuzz/fuzz_cidr_parser.cpp $(CIDR_CORE_SRCS) \
		$(wildcard $(CIDR_DIR)/*.h) | cidr-fuzz-corpus
	@mkdir -p $(dir $@)
	$(CIDR_FUZZ_CXX) -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -I$(CIDR_DIR) -o $@ $< $(CIDR_CORE_SRCS)

.PHONY: cidr-fuzz-corpus
cidr-fuzz-corpus:
	@mkdir -p $(CIDR_FUZZ_CORPUS)
	@cp -p t/fuzz/seeds/cidr/* $(CIDR_FUZZ_CORPUS)/
