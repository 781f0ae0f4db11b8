# include/: the code mod_syslog and mod_scribe share (mod_cidr_lookup uses its
# status board). Included by the top-level Makefile before the modules, whose
# rules link its archive.
#
#   build/libdelivery.a               the shared core: queue and sender, failover, resend store, spool,
#                                     bounded connect, drop ledger, exit log,
#                                     status board
#   build/t/unit/test_delivery        Check unit tests of it
#   build/t/unit/test_spool_setup     ... and of making a spool directory safely
#   build/t/fuzz/fuzz_spool_reader    libFuzzer target: spool files as a
#                                     replaying child reads them (make fuzz only)

DELIVERY_DIR := include

# Core: no httpd headers (see the object rules in the Makefile).
DELIVERY_CORE_SRCS := $(addprefix $(DELIVERY_DIR)/, delivery.cpp peer_rotation.cpp resend_store.cpp \
	status_board.cpp spool.cpp spool_setup.cpp trusted_file.cpp net.cpp drop_ledger.cpp \
	exit_log.cpp)
DELIVERY_OBJS := $(call OBJS_OF,$(DELIVERY_CORE_SRCS))
# What the fuzzers compile in: the part of the core that parsing reaches.
DELIVERY_SRCS := $(addprefix $(DELIVERY_DIR)/, delivery.cpp peer_rotation.cpp resend_store.cpp drop_ledger.cpp \
	status_board.cpp spool.cpp)

# Glue: none compiled here. log_writer_chain.h, module_kit.h, status_page.h,
# spool_dir_glue.h and delivery_aplog.h include httpd headers and are
# header-only: each module's glue compiles them.
DELIVERY_GLUE_SRCS :=

# Archive.
DELIVERY_LIB := $(BUILD)/libdelivery.a
$(DELIVERY_LIB): $(DELIVERY_OBJS)
	$(ARCHIVE)

# Module: none; mod_syslog, mod_scribe and mod_cidr_lookup link the archive.

# Unit tests.
DELIVERY_TESTS := $(BUILD)/t/unit/test_delivery $(BUILD)/t/unit/test_spool_setup

$(BUILD)/t/unit/test_delivery: $(BUILD)/obj/t/unit/test_delivery.o $(DELIVERY_LIB)
	$(LINK_UNIT)

$(BUILD)/t/unit/test_spool_setup: $(BUILD)/obj/t/unit/test_spool_setup.o $(DELIVERY_LIB)
	$(LINK_UNIT)

# Fuzzers.
$(BUILD)/t/fuzz/fuzz_spool_reader: t/fuzz/fuzz_spool_reader.cpp $(DELIVERY_SRCS) \
		$(DELIVERY_DIR)/delivery.h $(DELIVERY_DIR)/spool.h
	@mkdir -p $(dir $@)
	$(call FUZZ_SEED,fuzz_spool_reader,spool)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -pthread -o $@ $< $(DELIVERY_SRCS)

# Registration.
GLUE_SRCS += $(DELIVERY_GLUE_SRCS)
UNIT_TESTS += $(DELIVERY_TESTS)
FUZZERS += $(BUILD)/t/fuzz/fuzz_spool_reader
