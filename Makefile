# Apache httpd module suite: mod_syslog, mod_cidr_lookup, mod_scribe.
#
#   make deps      install the Debian packages the suite needs (idempotent)
#   make           build build/*.so and the tools
#   make test      unit tests (Check) then integration tests (pytest, real httpd)
#   make bench     benchmarks (t/bench), figures printed, nothing asserted on time
#   make run       httpd + rsyslogd + Scribe collector on loopback, foreground
#   make install   apxs -i each module, conf.d files into Apache's mods-available,
#                  cidr-lookup and its man page under PREFIX (default /usr/local);
#                  honours DESTDIR
#   make fuzz      every libFuzzer target (CIDR lists, syslog and scribe targets and
#                  directive values, spool files), FUZZ_SECONDS each (default 30)
#
# SANITIZE=1 builds with AddressSanitizer and UBSan; the test harness then
# preloads the sanitizer runtime into httpd.

SHELL := /bin/bash
BUILD := build
APXS ?= apxs
CXX ?= g++
CC ?= gcc
PYTHON := /usr/bin/python3

DEB_PACKAGES := apache2 apache2-dev libapr1-dev libaprutil1-dev check rsyslog curl \
	python3-pytest python3-requests libthrift-dev libboost-dev thrift-compiler \
	python3-thrift wrk pkg-config g++ clang libclang-rt-14-dev

# Lazy (=) so that 'make deps' works before apxs exists.
HTTPD_CFLAGS = -I$(shell $(APXS) -q INCLUDEDIR) $(shell pkg-config --cflags apr-1 apr-util-1)
APR_LIBS = $(shell pkg-config --libs apr-1 apr-util-1)
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS = $(shell pkg-config --libs check)

WARN := -Wall -Wextra -Werror
OPT := -O2 -g -fPIC -pthread
ifeq ($(SANITIZE),1)
OPT := -O1 -g -fPIC -pthread -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN := -fsanitize=address,undefined
endif
# No STB_GNU_UNIQUE symbols: glibc never unloads a DSO that has one, and
# httpd unloads and reloads every module on each restart. With them our
# modules would silently stay mapped, and a lifetime bug (a cleanup that
# outlives the module's code) would go unseen until a build without them.
NO_UNIQUE := -fno-gnu-unique
# Hidden by default: a module exports its record only (see SO_LDFLAGS).
CXXFLAGS_COMMON = -std=c++17 $(OPT) $(WARN) $(NO_UNIQUE) -fvisibility=hidden \
	-fvisibility-inlines-hidden -Iinclude $(EXTRA_CXXFLAGS)
CFLAGS_COMMON = -std=gnu11 $(OPT) $(WARN) -Iinclude
# What every module .so links with. libstdc++ is linked explicitly: httpd is C.
# No -z defs: the ap_* symbols come from the httpd binary at load time.
# The version script keeps every symbol but the module record local, so two
# modules never bind each other's copy of the shared code.
SO_EXPORTS := include/module_exports.map
SO_LDFLAGS = -shared $(LDSAN) -Wl,--as-needed -Wl,--version-script=$(SO_EXPORTS)
SO_LIBS = $(APR_LIBS) -lstdc++ -lpthread

# libFuzzer targets (make fuzz) need clang. Each module fragment adds its own
# with FUZZ_BUILD, which compiles the core sources into the fuzzer so that
# they are instrumented too; the corpus is seeded from t/fuzz/seeds/<seeds>/.
FUZZ_CXX ?= clang++
FUZZ_CXXFLAGS := -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -Iinclude
# $(call FUZZ_SEED,fuzzer-name,seed-dir)
FUZZ_SEED = @mkdir -p $(BUILD)/fuzz/corpus/$(1) && cp -p t/fuzz/seeds/$(2)/* $(BUILD)/fuzz/corpus/$(1)/

MODULES :=
UNIT_TESTS :=
TOOLS :=
FUZZERS :=
BENCHES :=

all: build-all

# A plain and a sanitizer build must not share objects: switching flavour
# throws the old objects away. Defined before the module fragments so that
# their rules can depend on it.
# The "-hidden" part changes with the visibility flags, so objects compiled
# before them are thrown away too.
FLAVOUR_STAMP := $(BUILD)/.flavour-sanitize$(SANITIZE)-hidden

-include mod_syslog/module.mk
-include mod_cidr_lookup/module.mk
-include mod_scribe/module.mk

build-all: $(MODULES) $(TOOLS) $(UNIT_TESTS)

$(FLAVOUR_STAMP):
	@rm -rf $(BUILD)/obj $(BUILD)/.flavour-*; mkdir -p $(BUILD); touch $@

# Generic object rules. Sources under the module directories and include/.
$(BUILD)/obj/%.o: %.cpp $(FLAVOUR_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_COMMON) $(HTTPD_CFLAGS) $(CXXFLAGS_$(firstword $(subst /, ,$*))) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.c $(FLAVOUR_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(HTTPD_CFLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

.PHONY: all build-all deps test unit integration bench run install fuzz list-fuzzers clean format

# Idempotent: asks dpkg first and runs apt-get only for what is missing.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing:" $$missing; \
	    SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

unit: build-all
	@rc=0; for t in $(UNIT_TESTS); do echo "== $$t"; CK_FORK=yes $$t || rc=1; done; exit $$rc

integration: build-all
	SANITIZE=$(SANITIZE) $(PYTHON) -m pytest -p no:cacheprovider t/integration $(PYTEST_ARGS)

test: deps
	$(MAKE) build-all
	$(MAKE) unit
	$(MAKE) integration

bench: deps
	$(MAKE) build-all $(BENCHES)
	$(PYTHON) t/bench/run_bench.py $(BENCH_ARGS)

run: deps
	$(MAKE) build-all
	$(PYTHON) t/run_demo.py

# Where make install puts things. The modules and their .load/.conf files go
# where apxs says httpd looks for them, whatever PREFIX says. apxs -i does
# not read DESTDIR: it is handed the staged module directory instead.
PREFIX ?= /usr/local
APACHE_MODULE_DIR = $(shell $(APXS) -q LIBEXECDIR)
APACHE_MODS_AVAILABLE = $(shell $(APXS) -q SYSCONFDIR)/mods-available
CLI_MAN_PAGE := mod_cidr_lookup/cidr-lookup.1

install: build-all
	install -d $(DESTDIR)$(APACHE_MODULE_DIR) $(DESTDIR)$(APACHE_MODS_AVAILABLE) \
	    $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	@set -e; for m in $(MODULES); do n=$$(basename $$m .so); n=$${n#mod_}; \
	    $(APXS) -S LIBEXECDIR=$(DESTDIR)$(APACHE_MODULE_DIR) -i -n $$n $$m; done
	install -m 644 conf.d/*.load conf.d/*.conf $(DESTDIR)$(APACHE_MODS_AVAILABLE)/
	install -m 755 $(BUILD)/cidr-lookup $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(CLI_MAN_PAGE) $(DESTDIR)$(PREFIX)/share/man/man1/

fuzz: deps
	$(MAKE) $(FUZZERS)
	@for f in $(FUZZERS); do echo "== $$f"; c=$(BUILD)/fuzz/corpus/$$(basename $$f); mkdir -p $$c; \
	    $$f -max_total_time=$${FUZZ_SECONDS:-30} -print_final_stats=1 $$c || exit 1; done

# For the tests: every fuzzer make fuzz runs.
list-fuzzers:
	@echo $(FUZZERS)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h' '*.hpp' '*.c')

clean:
	rm -rf $(BUILD)
