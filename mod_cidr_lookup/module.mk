# mod_cidr_lookup: included by the top-level Makefile.
#
#   build/libcidr_lookup_core.a         the core: list parser, PrefixTable and its
#                                       builder, images and their directory,
#                                       list loader, reloads, list names
#   build/mod_cidr_lookup.so            the module
#   build/cidr-lookup                   the list checker / lookup tool
#   build/t/unit/test_cidr_*            Check unit tests of the core: parsing and
#                                       loading, names, shapes, images, reloads
#   build/t/bench/bench_cidr            micro-benchmark (BENCHES)
#   build/t/bench/bench_cidr_dpdk       rte_lpm on the same lists (with libdpdk)
#   build/t/fuzz/fuzz_cidr_parser       libFuzzer targets (make fuzz only): lists,
#   build/t/fuzz/fuzz_cidr_image        table images

CIDR_DIR := mod_cidr_lookup

# Core: no httpd headers (see the object rules in the Makefile).
CIDR_CORE_SRCS := $(addprefix $(CIDR_DIR)/, cidr_parse.cpp prefix_table.cpp table_builder.cpp \
	table_image.cpp content_hash.cpp page_array.cpp cidr_loader.cpp cidr_names.cpp \
	image_store.cpp reload_board.cpp table_holder.cpp list_reload.cpp)
CIDR_CORE_OBJS := $(call OBJS_OF,$(CIDR_CORE_SRCS))

# Glue: the module record and the hooks, compiled with httpd's headers.
CIDR_GLUE_SRCS := $(addprefix $(CIDR_DIR)/, mod_cidr_lookup.c cidr_glue.cpp \
	cidr_list_sets.cpp cidr_reload_glue.cpp)
CIDR_GLUE_OBJS := $(call OBJS_OF,$(CIDR_GLUE_SRCS))

# What the core links: libcrypto (SHA-256 of table images, table_image.cpp)
# and libxxhash (list identities and image checksums, content_hash.cpp).
CIDR_LIBS := -lcrypto -lxxhash

# Archive.
CIDR_CORE_LIB := $(BUILD)/libcidr_lookup_core.a
$(CIDR_CORE_LIB): $(CIDR_CORE_OBJS)
	$(ARCHIVE)

# Module: glue, then the core, then the shared code (its status board).
$(BUILD)/mod_cidr_lookup.so: $(CIDR_GLUE_OBJS) $(CIDR_CORE_LIB) $(DELIVERY_LIB)
	$(call LINK_MODULE,$(CIDR_LIBS))

# Unit tests.
CIDR_TEST_NAMES := test_cidr_lookup test_cidr_names test_cidr_shapes test_cidr_images \
	test_cidr_reload
CIDR_TESTS := $(addprefix $(BUILD)/t/unit/, $(CIDR_TEST_NAMES))
$(addprefix $(BUILD)/obj/t/unit/, $(addsuffix .o, $(CIDR_TEST_NAMES))): \
	OBJ_CXXFLAGS := -I$(CIDR_DIR)

$(CIDR_TESTS): $(BUILD)/t/unit/%: $(BUILD)/obj/t/unit/%.o $(CIDR_CORE_LIB)
	$(call LINK_UNIT,$(CIDR_LIBS))

# Tools and benches: plain programs on the core (compiled like it).
$(BUILD)/obj/t/bench/bench_cidr.o: OBJ_CXXFLAGS := -I$(CIDR_DIR)

$(BUILD)/cidr-lookup: $(BUILD)/obj/$(CIDR_DIR)/cidr_lookup_cli.o $(CIDR_CORE_LIB)
	$(call LINK_PROGRAM,$(CIDR_LIBS))

$(BUILD)/t/bench/bench_cidr: $(BUILD)/obj/t/bench/bench_cidr.o $(CIDR_CORE_LIB)
	$(call LINK_PROGRAM,$(CIDR_LIBS))

# DPDK's rte_lpm on the same lists (bench_cidr_shapes.py's anchor): only
# where pkg-config finds libdpdk, which make bench installs (BENCH_PACKAGES).
CIDR_DPDK_CFLAGS := $(shell pkg-config --cflags libdpdk 2>/dev/null)
ifneq ($(CIDR_DPDK_CFLAGS),)
$(BUILD)/obj/t/bench/bench_cidr_dpdk.o: OBJ_CXXFLAGS := -I$(CIDR_DIR) $(CIDR_DPDK_CFLAGS)
$(BUILD)/t/bench/bench_cidr_dpdk: $(BUILD)/obj/t/bench/bench_cidr_dpdk.o $(CIDR_CORE_LIB)
	$(call LINK_PROGRAM,$(shell pkg-config --libs libdpdk) $(CIDR_LIBS))
BENCHES += $(BUILD)/t/bench/bench_cidr_dpdk
endif

# Fuzzers.
$(BUILD)/t/fuzz/fuzz_cidr_parser: t/fuzz/fuzz_cidr_parser.cpp $(CIDR_CORE_SRCS) \
		$(wildcard $(CIDR_DIR)/*.h)
	@mkdir -p $(dir $@)
	$(call FUZZ_SEED,fuzz_cidr_parser,cidr)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -I$(CIDR_DIR) -o $@ $< $(CIDR_CORE_SRCS) $(CIDR_LIBS)

$(BUILD)/t/fuzz/fuzz_cidr_image: t/fuzz/fuzz_cidr_image.cpp $(CIDR_CORE_SRCS) \
		$(wildcard $(CIDR_DIR)/*.h)
	@mkdir -p $(dir $@)
	$(call FUZZ_SEED,fuzz_cidr_image,cidr)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -I$(CIDR_DIR) -o $@ $< $(CIDR_CORE_SRCS) $(CIDR_LIBS)

# Registration.
MODULES += $(BUILD)/mod_cidr_lookup.so
GLUE_SRCS += $(CIDR_GLUE_SRCS)
TOOLS += $(BUILD)/cidr-lookup
UNIT_TESTS += $(CIDR_TESTS)
BENCHES += $(BUILD)/t/bench/bench_cidr
FUZZERS += $(BUILD)/t/fuzz/fuzz_cidr_parser $(BUILD)/t/fuzz/fuzz_cidr_image
