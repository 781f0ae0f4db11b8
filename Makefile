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
#   make deb       build/<package>_<version>_<arch>.deb: what make install writes
#                  (PREFIX=/usr), packaging/* and dpkg-deb
#   make test-deb  the package round trip alone (t/integration/test_package.py;
#                  make test runs it too): lintian, dpkg -i, a2enmod, a request
#                  through each installed module, dpkg --purge
#   make fuzz      every libFuzzer target (CIDR lists, syslog and scribe targets and
#                  directive values, spool files), FUZZ_SECONDS each (default 30)
#
# SANITIZE=1 builds with AddressSanitizer and UBSan; the test harness then
# preloads the sanitizer runtime into httpd.
#
# Build template. include/module.mk (the shared code) and each mod_*/module.mk
# have one shape: CORE sources, GLUE sources, the core archive, the .so, unit
# tests, tools/benches/fuzzers, then registration (MODULES +=, GLUE_SRCS +=,
# UNIT_TESTS +=, ...). A module builds build/libNAME_core.a from its core,
# compiled without httpd's or APR's include flags, so a core that includes an
# httpd header does not build; then its glue, the only sources compiled with
# them; then links the glue with its core archive and include/'s
# (build/libdelivery.a). Unit tests, tools and benches link the same archives.

SHELL := /bin/bash
BUILD := build
APXS ?= apxs
CXX ?= g++
CC ?= gcc
PYTHON := /usr/bin/python3

# valgrind, apache2-utils (ab) and linux-perf (perf): t/bench/bench_cost.py.
# libssl-dev and librelp-dev: mod_syslog's tls:// and relp://; libxxhash-dev:
# mod_cidr_lookup's list identities and image checksums; rsyslog-openssl,
# rsyslog-relp and openssl: the receiving rsyslogd and the certificates of
# their tests.
DEB_PACKAGES := apache2 apache2-dev libapr1-dev libaprutil1-dev check rsyslog curl \
	libssl-dev librelp-dev libxxhash-dev rsyslog-openssl rsyslog-relp openssl \
	python3-pytest python3-requests libthrift-dev libboost-dev thrift-compiler \
	python3-thrift wrk pkg-config g++ clang libclang-rt-14-dev dpkg-dev lintian \
	valgrind apache2-utils linux-perf
# For make bench only: dpdk-dev (DPDK's rte_lpm beside mod_cidr_lookup's
# table, t/bench/bench_cidr_dpdk.cpp).
BENCH_PACKAGES := dpdk-dev

# Lazy (=) so that 'make deps' works before apxs exists.
APR_CFLAGS = $(shell pkg-config --cflags apr-1 apr-util-1)
HTTPD_CFLAGS = -I$(shell $(APXS) -q INCLUDEDIR) $(APR_CFLAGS)
APR_LIBS = $(shell pkg-config --libs apr-1 apr-util-1)
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS = $(shell pkg-config --libs check)

WARN := -Wall -Wextra -Werror
# Link-time optimisation, in plain builds: a line's way down the request
# path crosses the glue, the module's core and the shared core (the writer,
# Shipper::push, RecordQueue::push, the copy of its parts); inlined across
# them it costs about 100 instructions fewer per line (make bench, the cost
# table). Archives of such objects need the LTO plugin's symbol index:
# gcc-ar.
LTO := -flto=auto
OPT := -O2 -g -fPIC -pthread $(LTO)
LDOPT := $(LTO) -O2
AR := gcc-ar
ifeq ($(SANITIZE),1)
OPT := -O1 -g -fPIC -pthread -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN := -fsanitize=address,undefined
LDOPT :=
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
SO_LDFLAGS = -shared $(LDOPT) $(LDSAN) -Wl,--as-needed -Wl,--version-script=$(SO_EXPORTS)
SO_LIBS = $(APR_LIBS) -lstdc++ -lpthread

# $(call OBJS_OF,sources): their objects, under $(BUILD)/obj/.
OBJS_OF = $(patsubst %,$(BUILD)/obj/%.o,$(basename $(1)))

# Recipes the fragments share. An archive is written afresh, so a source that
# left the list leaves no member behind. A static archive gives the linker
# only the members that define a symbol still undefined at that point: link
# glue, then the module's core archive, then the shared one ($(DELIVERY_LIB)),
# each after what uses it. The module record lives in the glue (mod_NAME.c),
# which is linked whole.
define ARCHIVE
@mkdir -p $(dir $@)
rm -f $@ && $(AR) rcs $@ $(filter %.o,$^)
endef
# $(call LINK_MODULE,extra libraries)
define LINK_MODULE
@mkdir -p $(dir $@)
$(CXX) $(SO_LDFLAGS) -o $@ $^ $(SO_LIBS) $(1)
endef
# $(call LINK_PROGRAM,libraries): tools and benches.
define LINK_PROGRAM
@mkdir -p $(dir $@)
$(CXX) $(LDOPT) $(LDSAN) -pthread -o $@ $^ $(1)
endef
# Check unit tests (they may use APR: pools, temporary files).
define LINK_UNIT
@mkdir -p $(dir $@)
$(CXX) $(LDOPT) $(LDSAN) -pthread -o $@ $^ $(CHECK_LIBS) $(APR_LIBS) $(1)
endef

# libFuzzer targets (make fuzz) need clang. Each fragment adds its own to
# FUZZERS; a fuzzer compiles the core sources it reaches itself (not the
# archives), so that they are instrumented too, and without httpd's headers
# like every core; its corpus is seeded from t/fuzz/seeds/<seeds>/.
FUZZ_CXX ?= clang++
FUZZ_CXXFLAGS := -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -Iinclude
# $(call FUZZ_SEED,fuzzer-name,seed-dir)
FUZZ_SEED = @mkdir -p $(BUILD)/fuzz/corpus/$(1) && cp -p t/fuzz/seeds/$(2)/* $(BUILD)/fuzz/corpus/$(1)/

MODULES :=
GLUE_SRCS :=
UNIT_TESTS :=
TOOLS :=
FUZZERS :=
BENCHES :=

all: build-all

# A plain and a sanitizer build must not share objects: switching flavour
# throws the old objects away. Defined before the module fragments so that
# their rules can depend on it.
# The "-hidden" and "-lto" parts change with the visibility and LTO flags,
# so objects compiled before them are thrown away too.
FLAVOUR_STAMP := $(BUILD)/.flavour-sanitize$(SANITIZE)-hidden-lto

# The shared code first: the module fragments link its archive.
-include include/module.mk
-include mod_syslog/module.mk
-include mod_cidr_lookup/module.mk
-include mod_scribe/module.mk

build-all: $(MODULES) $(TOOLS) $(UNIT_TESTS)

$(FLAVOUR_STAMP):
	@rm -rf $(BUILD)/obj $(BUILD)/.flavour-*; mkdir -p $(BUILD); touch $@

# Object rules: which include flags a source gets depends on what it is.
#   core, tools, benches  every source not listed below: -Iinclude, the flags
#         of its top directory (CXXFLAGS_<dir>, e.g. mod_scribe's generated
#         Thrift headers) and its own (OBJ_CXXFLAGS). Neither httpd's nor
#         APR's headers: a core uses neither (cidr-lookup and the fuzzers link
#         no APR), and an include of httpd.h or apr_*.h in one fails the build.
#         A core that ever needs APR adds $(APR_CFLAGS) to its CXXFLAGS_<dir>
#         and says why; httpd's headers stay out.
#   glue  what the fragments add to GLUE_SRCS (module records, hooks): httpd's
#         and APR's headers too.
#   unit  t/unit/*.cpp: APR's and Check's headers, and a test's OBJ_CXXFLAGS
#         (its module's directory); not httpd's.
# OBJ_CXXFLAGS is set per object (target-specific) by the fragments; it is
# not EXTRA_CXXFLAGS, which a command line may set and would then override.
OBJ_RULE_FLAGS = $(CXXFLAGS_COMMON) $(CXXFLAGS_$(firstword $(subst /, ,$*))) $(OBJ_CXXFLAGS)

$(BUILD)/obj/%.o: %.cpp $(FLAVOUR_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(OBJ_RULE_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.c $(FLAVOUR_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -MMD -MP -c $< -o $@

$(BUILD)/obj/t/unit/%.o: t/unit/%.cpp $(FLAVOUR_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(OBJ_RULE_FLAGS) $(APR_CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c $< -o $@

GLUE_CXX_OBJS := $(call OBJS_OF,$(filter %.cpp,$(GLUE_SRCS)))
GLUE_C_OBJS := $(call OBJS_OF,$(filter %.c,$(GLUE_SRCS)))

$(GLUE_CXX_OBJS): $(BUILD)/obj/%.o: %.cpp $(FLAVOUR_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(OBJ_RULE_FLAGS) $(HTTPD_CFLAGS) -MMD -MP -c $< -o $@

$(GLUE_C_OBJS): $(BUILD)/obj/%.o: %.c $(FLAVOUR_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(HTTPD_CFLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

.PHONY: all build-all deps test unit integration bench run install deb deb-path test-deb fuzz \
	list-fuzzers clean format

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

bench: DEB_PACKAGES += $(BENCH_PACKAGES)
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

# The Debian package: the tree make install writes (PREFIX=/usr) staged in
# build/deb/root, stripped, with the files of packaging/: copyright,
# changelog, maintainer scripts and lintian overrides. dpkg-shlibdeps and
# dpkg-gencontrol read packaging/control and packaging/changelog from
# build/deb/debian/, where they look for them. Every file under /etc is a
# conffile. Depends: what the binaries link (dpkg-shlibdeps) and, as
# dh_apache2 sets it, the module ABI (apache2-api-MMN) and apache2-bin.
DEB_WORK := $(BUILD)/deb
DEB_ROOT := $(DEB_WORK)/root
DEB_PACKAGE = $(shell sed -n 's/^Package: *//p' packaging/control)
DEB_VERSION = $(shell dpkg-parsechangelog -l packaging/changelog -S Version)
DEB_ARCH = $(shell dpkg-architecture -qDEB_HOST_ARCH)
DEB_FILE = $(BUILD)/$(DEB_PACKAGE)_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_DOC_DIR = $(DEB_ROOT)/usr/share/doc/$(DEB_PACKAGE)
DEB_MISC_DEPENDS = apache2-api-$(shell $(APXS) -q HTTPD_MMN), apache2-bin (>= 2.4.16)
# What dh_strip removes.
STRIP_SECTIONS := --remove-section=.comment --remove-section=.note

ifeq ($(SANITIZE),1)
deb:
	@echo "make deb: sanitizer builds are not packaged; run it without SANITIZE=1" >&2; exit 1
else
deb: build-all
	rm -rf $(DEB_WORK) $(BUILD)/$(DEB_PACKAGE)_*.deb
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(DEB_ROOT)) PREFIX=/usr
	strip $(STRIP_SECTIONS) --strip-unneeded $(DEB_ROOT)$(APACHE_MODULE_DIR)/*.so
	strip $(STRIP_SECTIONS) $(DEB_ROOT)/usr/bin/cidr-lookup
	gzip -9n $(DEB_ROOT)/usr/share/man/man1/cidr-lookup.1
	install -d $(DEB_DOC_DIR) $(DEB_ROOT)/usr/share/lintian/overrides $(DEB_ROOT)/DEBIAN
	install -m 644 packaging/copyright $(DEB_DOC_DIR)/
	gzip -9nc packaging/changelog > $(DEB_DOC_DIR)/changelog.Debian.gz
	gzip -9nc README.md > $(DEB_DOC_DIR)/README.md.gz
	gzip -9nc MESSAGES.md > $(DEB_DOC_DIR)/MESSAGES.md.gz
	install -m 644 packaging/lintian-overrides $(DEB_ROOT)/usr/share/lintian/overrides/$(DEB_PACKAGE)
	install -m 755 packaging/postinst packaging/prerm packaging/postrm $(DEB_ROOT)/DEBIAN/
	set -o pipefail; cd $(DEB_ROOT) && find etc -type f -printf '/%p\n' | \
	    LC_ALL=C sort > DEBIAN/conffiles
	set -o pipefail; cd $(DEB_ROOT) && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | \
	    LC_ALL=C sort -z | xargs -0 md5sum > DEBIAN/md5sums
	chmod 644 $(DEB_DOC_DIR)/*.gz $(DEB_ROOT)/DEBIAN/conffiles $(DEB_ROOT)/DEBIAN/md5sums
	install -d $(DEB_WORK)/debian
	install -m 644 packaging/control packaging/changelog $(DEB_WORK)/debian/
	cd $(DEB_WORK) && dpkg-shlibdeps -Tdebian/substvars \
	    root$(APACHE_MODULE_DIR)/*.so root/usr/bin/cidr-lookup
	cd $(DEB_WORK) && dpkg-gencontrol -p$(DEB_PACKAGE) -Proot -Tdebian/substvars \
	    -fdebian/files -V'misc:Depends=$(DEB_MISC_DEPENDS)'
	SOURCE_DATE_EPOCH=$$(dpkg-parsechangelog -l packaging/changelog -S Timestamp) \
	    dpkg-deb --root-owner-group --build $(DEB_ROOT) $(DEB_FILE)
endif

# For the tests: the file make deb writes.
deb-path:
	@echo $(DEB_FILE)

test-deb: deps
	$(MAKE) build-all
	$(PYTHON) -m pytest -p no:cacheprovider t/integration/test_package.py $(PYTEST_ARGS)

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
