// Unit tests of mod_cidr_lookup's core: parsing, loading, longest-prefix
// matching.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "apr_file_io.h"
#include "apr_general.h"
#include "apr_pools.h"
#include "apr_strings.h"
#include "cidr_loader.h"
#include "cidr_parse.h"
#include "prefix_table.h"
#include "test_cidr_fixture.h"

using cidr::Address;
using cidr::Diagnostics;
using cidr::Family;
using cidr::FileKind;
using cidr::Match;
using cidr::Prefix;
using cidr::PrefixTable;
using cidr::U128;

namespace {

apr_pool_t* pool;

void setup() { ck_assert_int_eq(apr_pool_create(&pool, nullptr), APR_SUCCESS); }

void teardown() {
  apr_pool_destroy(pool);
  pool = nullptr;
}

// ---- helpers -------------------------------------------------------------

Prefix P(const char* text) {
  Prefix p;
  bool host_bits = false;
  std::string error;
  ck_assert_msg(cidr::parse_prefix(text, p, host_bits, error), "parse %s: %s", text, error.c_str());
  return p;
}

std::string parse_error(const char* text) {
  Prefix p;
  bool host_bits = false;
  std::string error;
  ck_assert_msg(!cidr::parse_prefix(text, p, host_bits, error), "'%s' was accepted", text);
  return error;
}

// Builds a table from "CIDR TYPE" lines; warnings go to *diag if given.
// diag may be null (optional output; the tests call this without one).
std::unique_ptr<PrefixTable> table_from_map(const std::string& text, Diagnostics* diag = nullptr) {
  Diagnostics local;
  if (diag == nullptr) diag = &local;
  cidr::Loader loader;
  loader.load_text(text, "test.map", FileKind::Map, "", *diag);
  ck_assert_msg(!diag->has_errors(), "map rejected: %s", diag->error_text().c_str());
  return loader.build(*diag);
}

// "TYPE NETWORK" or "-" for an address.
std::string lookup(const PrefixTable& t, const char* addr_text) {
  Address a;
  ck_assert_msg(cidr::parse_address(addr_text, a), "bad address %s", addr_text);
  Match m;
  if (!t.lookup(a, m)) return "-";
  return std::string(t.type_name(m.type)) + " " + cidr::format_prefix(m.network);
}

bool contains(const std::vector<std::string>& lines, const std::string& needle) {
  for (const std::string& l : lines) {
    if (l.find(needle) != std::string::npos) return true;
  }
  return false;
}

std::string temp_dir() {
  const char* base = nullptr;
  ck_assert_int_eq(apr_temp_dir_get(&base, pool), APR_SUCCESS);
  char* templ = apr_pstrcat(pool, base, "/cidr_test_XXXXXX", nullptr);
  ck_assert_ptr_nonnull(mkdtemp(templ));
  return templ;
}

void write_file(const std::string& path, const std::string& content) {
  apr_file_t* f = nullptr;
  ck_assert_int_eq(
      apr_file_open(&f, path.c_str(), APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_TRUNCATE,
                    APR_FPROT_OS_DEFAULT, pool),
      APR_SUCCESS);
  apr_size_t n = content.size();
  ck_assert_int_eq(apr_file_write_full(f, content.data(), n, nullptr), APR_SUCCESS);
  apr_file_close(f);
}

void remove_tree(const std::string& dir) {
  std::string cmd = "rm -rf '" + dir + "'";
  ck_assert_int_eq(std::system(cmd.c_str()), 0);
}

// ---- address and prefix parsing ------------------------------------------

START_TEST(test_parse_ipv4_forms) {
  Prefix p = P("192.0.2.1");
  CHECK(p.family == Family::V4 && p.len == 32 && p.value == 0xC0000201u);
  p = P("0.0.0.0/0");
  CHECK(p.len == 0 && p.value == 0);
  p = P("10.0.0.0/8");
  CHECK(p.len == 8 && p.value == 0x0A000000u);
  p = P("255.255.255.255/32");
  CHECK(p.len == 32 && p.value == 0xFFFFFFFFu);
  p = P("0.0.0.0");
  CHECK(p.len == 32 && p.value == 0);

  for (const char* bad :
       {"",         "1",        "1.2.3",    "1.2.3.4.5",  "256.0.0.1", "1.2.3.256",  "01.2.3.4",
        "1.2.3.04", "1..3.4",   ".1.2.3",   "1.2.3.",     "1.2.3.4x",  "0x1.2.3.4",  "1.2.3.-4",
        "+1.2.3.4", " 1.2.3.4", "1.2.3.4 ", "1111.2.3.4", "1.2.3.4/",  "1.2.3.4//8", "/8"}) {
    parse_error(bad);
  }
}
END_TEST

START_TEST(test_parse_prefix_length) {
  CHECK(P("10.0.0.0/0").len == 0);
  CHECK(P("10.0.0.0/32").len == 32);
  CHECK(P("::/0").len == 0);
  CHECK(P("::1/128").len == 128);
  std::string e = parse_error("10.0.0.0/33");
  CHECK(e.find("out of range for IPv4 (0-32)") != std::string::npos);
  e = parse_error("2001:db8::/129");
  CHECK(e.find("out of range for IPv6 (0-128)") != std::string::npos);
  for (const char* bad : {"10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/08", "10.0.0.0/8a", "10.0.0.0/ 8",
                          "10.0.0.0/1000", "10.0.0.0/0x8", "::/0128"}) {
    e = parse_error(bad);
    CHECK(e.find("prefix length") != std::string::npos);
  }
  e = parse_error("10.0.0.256/8");
  CHECK(e.find("invalid IP address '10.0.0.256'") != std::string::npos);
}
END_TEST

START_TEST(test_parse_ipv6_forms) {
  struct {
    const char* text;
    U128 hi;  // upper 64 bits
    U128 lo;
  } ok[] = {
      {"::", 0, 0},
      {"::1", 0, 1},
      {"1::", U128(0x0001000000000000ull), 0},
      {"2001:db8::/32", U128(0x20010db800000000ull), 0},
      {"2001:DB8:0:0:8:800:200C:417A", U128(0x20010db800000000ull), U128(0x00080800200c417aull)},
      {"1:2:3:4:5:6:7:8", U128(0x0001000200030004ull), U128(0x0005000600070008ull)},
      {"1:2:3:4:5:6:7::", U128(0x0001000200030004ull), U128(0x0005000600070000ull)},
      {"::2:3:4:5:6:7:8", U128(0x0000000200030004ull), U128(0x0005000600070008ull)},
      {"64:ff9b::192.0.2.33", U128(0x0064ff9b00000000ull), U128(0x00000000c0000221ull)},
      {"1:2:3:4:5:6:1.2.3.4", U128(0x0001000200030004ull), U128(0x0005000601020304ull)},
      {"::1.2.3.4", 0, U128(0x01020304ull)},
  };
  for (const auto& c : ok) {
    Prefix p = P(c.text);
    ck_assert_msg(p.family == Family::V6 && p.value == ((c.hi << 64) | c.lo), "%s", c.text);
  }
  for (const char* bad :
       {":", ":::", "1:::2", "1::2::3", ":1::", "1:", ":1", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7",
        "12345::", "g::1", "fe80::1%eth0", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "::1.2.3.4:5",
        "1::2:3:4:5:6:7:8", "[::1]", "::ffff:256.1.1.1", "1:2:3:4:5:6:7:8::"}) {
    parse_error(bad);
  }
}
END_TEST

START_TEST(test_parse_ipv4_mapped_becomes_ipv4) {
  Prefix p = P("::ffff:10.0.0.0/104");
  CHECK(p.family == Family::V4 && p.len == 8 && p.value == 0x0A000000u);
  p = P("::ffff:192.0.2.7");
  CHECK(p.family == Family::V4 && p.len == 32 && p.value == 0xC0000207u);
  p = P("::ffff:0:0/96");
  CHECK(p.family == Family::V4 && p.len == 0);
  // Shorter than /96 it also covers non-mapped space: it stays IPv6.
  p = P("::ffff:0:0/95");
  CHECK(p.family == Family::V6 && p.len == 95);
}
END_TEST

START_TEST(test_host_bits_are_masked) {
  Prefix p;
  bool host_bits = false;
  std::string error;
  CHECK(cidr::parse_prefix("10.1.2.3/8", p, host_bits, error));
  CHECK(host_bits && p.value == 0x0A000000u && p.len == 8);
  CHECK(cidr::parse_prefix("10.0.0.0/8", p, host_bits, error));
  CHECK(!host_bits);
  CHECK(cidr::parse_prefix("2001:db8::1/32", p, host_bits, error));
  CHECK(host_bits);
  CHECK_STR(cidr::format_prefix(p), "2001:db8::/32");
  CHECK(cidr::parse_prefix("1.2.3.4/0", p, host_bits, error));
  CHECK(host_bits && p.value == 0);
}
END_TEST

START_TEST(test_format_canonical) {
  struct {
    const char* in;
    const char* out;
  } cases[] = {
      {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1/128"},
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1/128"},
      {"1:0:0:2:0:0:0:3", "1:0:0:2::3/128"},
      {"1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7/128"},
      {"0:1:0:0:0:0:0:0", "0:1::/128"},
      {"::", "::/128"},
      {"::/0", "::/0"},
      {"FFFF::/16", "ffff::/16"},
      {"192.0.2.0/24", "192.0.2.0/24"},
      {"0.0.0.0/0", "0.0.0.0/0"},
      {"255.255.255.255", "255.255.255.255/32"},
  };
  for (const auto& c : cases) CHECK_STR(cidr::format_prefix(P(c.in)), c.out);
  char buf[cidr::kMaxPrefixText];
  Prefix longest = P("1111:2222:3333:4444:5555:6666:7777:8888");
  size_t n = cidr::format_prefix_to(longest, buf);
  CHECK(n == std::strlen(buf) && n < sizeof(buf));
  CHECK_STR(buf, "1111:2222:3333:4444:5555:6666:7777:8888/128");
}
END_TEST

// ---- lines -------------------------------------------------------------------

START_TEST(test_parse_line_list) {
  using cidr::ParsedLine;
  for (const char* blank : {"", "   ", "\t", "\r", "# comment", "   # indented comment", "#"}) {
    ck_assert_msg(cidr::parse_line(blank, FileKind::List).status == ParsedLine::Status::Blank,
                  "'%s'", blank);
  }
  ParsedLine l = cidr::parse_line("  10.0.0.0/8  # office\r", FileKind::List);
  CHECK(l.status == ParsedLine::Status::Entry && l.prefix.len == 8);
  l = cidr::parse_line("10.0.0.0/8#no space", FileKind::List);
  CHECK(l.status == ParsedLine::Status::Entry);
  l = cidr::parse_line("2001:db8::/32\r", FileKind::List);
  CHECK(l.status == ParsedLine::Status::Entry && l.prefix.family == Family::V6);
  l = cidr::parse_line("10.0.0.0/8 crawler", FileKind::List);
  CHECK(l.status == ParsedLine::Status::Error &&
        l.error.find("unexpected 'crawler'") != std::string::npos);
  l = cidr::parse_line("10.0.0.0 / 8", FileKind::List);
  CHECK(l.status == ParsedLine::Status::Error);
  l = cidr::parse_line("not-an-address", FileKind::List);
  CHECK(l.status == ParsedLine::Status::Error &&
        l.error.find("invalid IP address") != std::string::npos);
  l = cidr::parse_line(std::string_view("1.2.3.4\0", 8), FileKind::List);
  CHECK(l.status == ParsedLine::Status::Error && l.error.find("'1.2.3.4?'") != std::string::npos);
}
END_TEST

START_TEST(test_parse_line_map) {
  using cidr::ParsedLine;
  ParsedLine l = cidr::parse_line("10.0.0.0/8 mobile", FileKind::Map);
  CHECK(l.status == ParsedLine::Status::Entry && l.type == "mobile");
  l = cidr::parse_line("\t2001:db8::/32\tcrawler.google  # seen 2024\r", FileKind::Map);
  CHECK(l.status == ParsedLine::Status::Entry && l.type == "crawler.google");
  l = cidr::parse_line("10.0.0.0/8", FileKind::Map);
  CHECK(l.status == ParsedLine::Status::Error &&
        l.error.find("missing client type") != std::string::npos);
  l = cidr::parse_line("10.0.0.0/8 # mobile", FileKind::Map);
  CHECK(l.status == ParsedLine::Status::Error &&
        l.error.find("missing client type") != std::string::npos);
  l = cidr::parse_line("10.0.0.0/8 mobile extra", FileKind::Map);
  CHECK(l.status == ParsedLine::Status::Error &&
        l.error.find("unexpected 'extra'") != std::string::npos);
  l = cidr::parse_line("10.0.0.0/8 mo\"bile", FileKind::Map);
  CHECK(l.status == ParsedLine::Status::Error &&
        l.error.find("invalid client type") != std::string::npos);
  l = cidr::parse_line("mobile 10.0.0.0/8", FileKind::Map);
  CHECK(l.status == ParsedLine::Status::Error &&
        l.error.find("invalid IP address") != std::string::npos);
}
END_TEST

START_TEST(test_type_names) {
  for (const char* ok : {"mobile", "a", "crawler-google", "office_tokyo", "x.y.z", "v6:only", "c++",
                         "ops@hq", "A1"}) {
    ck_assert_msg(cidr::valid_type_name(ok), "%s", ok);
  }
  for (const char* bad : {"", "has space", "quote\"", "semi;colon", "new\nline", "tab\t", "slash/",
                          "back\\slash", "comma,", "hash#"}) {
    ck_assert_msg(!cidr::valid_type_name(bad), "%s", bad);
  }
  CHECK(!cidr::valid_type_name(std::string(256, 'a')));
  CHECK(cidr::valid_type_name(std::string(255, 'a')));
  CHECK_STR(cidr::type_from_path("/etc/cidr/mobile"), "mobile");
  CHECK_STR(cidr::type_from_path("/etc/cidr/mobile.txt"), "mobile");
  CHECK_STR(cidr::type_from_path("crawler.list"), "crawler");
  CHECK_STR(cidr::type_from_path("/x/partner.example.com"), "partner.example.com");
  CHECK_STR(cidr::type_from_path("/x/.txt"), ".txt");
}
END_TEST

// ---- loading -------------------------------------------------------------------

START_TEST(test_load_text_reports_file_and_line) {
  Diagnostics diag;
  cidr::Loader loader;
  loader.load_text(
      "\xEF\xBB\xBF# published list\r\n"
      "192.0.2.0/24\r\n"
      "\r\n"
      "192.0.2.300\r\n"
      "10.1.2.3/8 # sloppy\r\n"
      "2001:db8::/129\n"
      "198.51.100.0/24",  // no final newline
      "/etc/cidr/crawler", FileKind::List, "crawler", diag);
  CHECK(diag.error_count() == 2);
  std::vector<std::string> errors = diag.errors();
  CHECK_STR(errors[0], "/etc/cidr/crawler:4: invalid IP address '192.0.2.300'");
  CHECK(errors[1].rfind("/etc/cidr/crawler:6: prefix length /129 out of range", 0) == 0);
  CHECK(diag.warning_count() == 1);
  CHECK_STR(diag.warnings()[0],
            "/etc/cidr/crawler:5: host bits set in '10.1.2.3/8', using 10.0.0.0/8");
  // The module logs it under the ID of its kind; the text carries none.
  CHECK(diag.warning_list()[0].kind == cidr::WarningKind::HostBits);
  CHECK(loader.entry_count() == 3);
}
END_TEST

START_TEST(test_duplicate_networks) {
  Diagnostics diag;
  cidr::Loader loader;
  loader.load_text("10.0.0.0/8\n192.0.2.0/24\n", "a/mobile", FileKind::List, "mobile", diag);
  loader.load_text("# header\n10.0.0.0/8 crawler\n192.0.2.0/24 mobile\n10.0.0.0/8 partner\n",
                   "b.map", FileKind::Map, "", diag);
  auto table = loader.build(diag);
  CHECK(!diag.has_errors());
  // Same type twice is silent; each different type names both places.
  CHECK(diag.warning_count() == 2);
  std::vector<std::string> w = diag.warnings();
  CHECK(
      contains(w, "b.map:2: 10.0.0.0/8 is listed as 'crawler' here and as 'mobile' at a/mobile:1"));
  CHECK(
      contains(w, "b.map:4: 10.0.0.0/8 is listed as 'partner' here and as 'mobile' at a/mobile:1"));
  for (const cidr::Warning& x : diag.warning_list())
    CHECK(x.kind == cidr::WarningKind::DuplicateNetwork);
  CHECK_STR(lookup(*table, "10.9.9.9"), "mobile 10.0.0.0/8");
  CHECK(table->size() == 2);
}
END_TEST

START_TEST(test_diagnostics_cap) {
  Diagnostics diag(3);
  cidr::Loader loader;
  std::string text;
  for (int i = 0; i < 10; ++i) text += "bad\n";
  loader.load_text(text, "f", FileKind::List, "t", diag);
  CHECK(diag.error_count() == 10);
  std::vector<std::string> e = diag.errors();
  CHECK(e.size() == 4);
  CHECK_STR(e[3], "... and 7 more errors");
  CHECK(diag.error_text().find("f:3: ") != std::string::npos);

  // Warnings likewise; the summary line is a kind of its own.
  Diagnostics warned(3);
  cidr::Loader more;
  std::string sloppy;
  for (int i = 0; i < 10; ++i) sloppy += "10.1.2." + std::to_string(i) + "/8\n";
  more.load_text(sloppy, "g", FileKind::List, "t", warned);
  CHECK(warned.warning_count() == 10);
  std::vector<cidr::Warning> w = warned.warning_list();
  CHECK(w.size() == 4);
  CHECK(w[0].kind == cidr::WarningKind::HostBits);
  CHECK(w[3].kind == cidr::WarningKind::More);
  CHECK_STR(w[3].text, "... and 7 more warnings");
  CHECK_STR(warned.warnings()[3], "... and 7 more warnings");
}
END_TEST

START_TEST(test_load_files_dirs_and_globs) {
  std::string dir = temp_dir();
  write_file(dir + "/mobile.txt", "192.0.2.0/24\n");
  write_file(dir + "/crawler", "198.51.100.0/24\n2001:db8:c::/48\n");
  write_file(dir + "/.crawler.swp", "garbage\n");
  write_file(dir + "/partners.map", "203.0.113.0/25 partner-a\n203.0.113.128/25 partner-b\n");
  ck_assert_int_eq(apr_dir_make((dir + "/sub").c_str(), APR_FPROT_OS_DEFAULT, pool), APR_SUCCESS);
  write_file(dir + "/sub/ignored", "10.0.0.0/8\n");

  Diagnostics diag;
  std::vector<std::string> files = cidr::expand_pattern(dir, diag);
  CHECK(!diag.has_errors());
  ck_assert_int_eq(files.size(), 3);  // sorted, no dot file, no subdirectory
  CHECK_STR(files[0], dir + "/crawler");
  CHECK_STR(files[1], dir + "/mobile.txt");
  CHECK_STR(files[2], dir + "/partners.map");

  files = cidr::expand_pattern(dir + "/*", diag);
  ck_assert_int_eq(files.size(), 3);
  files = cidr::expand_pattern(dir + "/m*", diag);
  ck_assert_int_eq(files.size(), 1);

  cidr::Loader loader;
  CHECK(loader.load({FileKind::List, dir + "/[cm]*"}, diag));
  CHECK(loader.load({FileKind::Map, dir + "/partners.map"}, diag));
  CHECK(!diag.has_errors());
  CHECK(loader.file_count() == 3);
  auto table = loader.build(diag);
  CHECK_STR(lookup(*table, "192.0.2.9"), "mobile 192.0.2.0/24");
  CHECK_STR(lookup(*table, "2001:db8:c::1"), "crawler 2001:db8:c::/48");
  CHECK_STR(lookup(*table, "203.0.113.200"), "partner-b 203.0.113.128/25");
  CHECK_STR(lookup(*table, "10.0.0.1"), "-");

  // What must fail, each with the path in the message.
  Diagnostics bad;
  cidr::Loader l2;
  CHECK(!l2.load({FileKind::List, dir + "/nomatch*"}, bad));
  CHECK(contains(bad.errors(), dir + "/nomatch*: no file matches"));
  CHECK(!l2.load({FileKind::List, dir + "/missing"}, bad));
  CHECK(contains(bad.errors(), dir + "/missing: cannot read: No such file or directory"));
  CHECK(!l2.load({FileKind::List, dir + "/sub/*.none"}, bad));
  ck_assert_int_eq(apr_dir_make((dir + "/empty").c_str(), APR_FPROT_OS_DEFAULT, pool), APR_SUCCESS);
  CHECK(!l2.load({FileKind::List, dir + "/empty"}, bad));
  CHECK(contains(bad.errors(), dir + "/empty: directory contains no list files"));
  write_file(dir + "/bad name", "10.0.0.0/8\n");
  CHECK(!l2.load({FileKind::List, dir + "/bad name"}, bad));
  CHECK(contains(bad.errors(), "does not make a valid client type"));
  CHECK(!l2.load({FileKind::Map, dir + "/mobile.txt"}, bad));
  CHECK(contains(bad.errors(), dir + "/mobile.txt:1: missing client type"));
  remove_tree(dir);
}
END_TEST

// ---- longest-prefix match --------------------------------------------------------

START_TEST(test_lpm_overlaps_v4) {
  auto t = table_from_map(
      "0.0.0.0/0 world\n"
      "10.0.0.0/8 ten\n"
      "10.1.0.0/16 ten-one\n"
      "10.1.2.0/24 ten-one-two\n"
      "10.1.2.128/25 upper\n"
      "10.1.2.3/32 host\n"
      "10.1.2.2/31 pair\n"
      "10.2.0.0/16 adjacent-a\n"
      "10.3.0.0/16 adjacent-b\n"
      "255.255.255.255/32 last\n"
      "0.0.0.0/32 first\n");
  CHECK_STR(lookup(*t, "1.2.3.4"), "world 0.0.0.0/0");
  CHECK_STR(lookup(*t, "10.200.0.1"), "ten 10.0.0.0/8");
  CHECK_STR(lookup(*t, "10.1.99.1"), "ten-one 10.1.0.0/16");
  CHECK_STR(lookup(*t, "10.1.2.1"), "ten-one-two 10.1.2.0/24");
  CHECK_STR(lookup(*t, "10.1.2.2"), "pair 10.1.2.2/31");
  CHECK_STR(lookup(*t, "10.1.2.3"), "host 10.1.2.3/32");
  CHECK_STR(lookup(*t, "10.1.2.4"), "ten-one-two 10.1.2.0/24");
  CHECK_STR(lookup(*t, "10.1.2.127"), "ten-one-two 10.1.2.0/24");
  CHECK_STR(lookup(*t, "10.1.2.128"), "upper 10.1.2.128/25");
  CHECK_STR(lookup(*t, "10.1.2.255"), "upper 10.1.2.128/25");
  CHECK_STR(lookup(*t, "10.1.3.0"), "ten-one 10.1.0.0/16");
  CHECK_STR(lookup(*t, "10.1.255.255"), "ten-one 10.1.0.0/16");
  CHECK_STR(lookup(*t, "10.2.255.255"), "adjacent-a 10.2.0.0/16");
  CHECK_STR(lookup(*t, "10.3.0.0"), "adjacent-b 10.3.0.0/16");
  CHECK_STR(lookup(*t, "10.4.0.0"), "ten 10.0.0.0/8");
  CHECK_STR(lookup(*t, "255.255.255.255"), "last 255.255.255.255/32");
  CHECK_STR(lookup(*t, "255.255.255.254"), "world 0.0.0.0/0");
  CHECK_STR(lookup(*t, "0.0.0.0"), "first 0.0.0.0/32");
  CHECK_STR(lookup(*t, "0.0.0.1"), "world 0.0.0.0/0");
  // IPv4 prefixes never answer for IPv6 addresses, except mapped ones.
  CHECK_STR(lookup(*t, "::a01:203"), "-");
  CHECK_STR(lookup(*t, "::ffff:10.1.2.3"), "host 10.1.2.3/32");
  CHECK_STR(lookup(*t, "::ffff:10.9.0.1"), "ten 10.0.0.0/8");
}
END_TEST

START_TEST(test_lpm_overlaps_v6) {
  auto t = table_from_map(
      "::/0 any6\n"
      "2001:db8::/32 doc\n"
      "2001:db8:1::/48 doc-1\n"
      "2001:db8:1:2::/64 doc-1-2\n"
      "2001:db8:1:2::1/128 host\n"
      "2001:db8:1:2::/127 pair\n"
      "2001:db8:2::/48 adjacent\n"
      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128 last\n"
      "::/128 unspecified\n");
  CHECK_STR(lookup(*t, "2001:db8:1:2::1"), "host 2001:db8:1:2::1/128");
  CHECK_STR(lookup(*t, "2001:db8:1:2::0"), "pair 2001:db8:1:2::/127");
  CHECK_STR(lookup(*t, "2001:db8:1:2::2"), "doc-1-2 2001:db8:1:2::/64");
  CHECK_STR(lookup(*t, "2001:db8:1:3::"), "doc-1 2001:db8:1::/48");
  CHECK_STR(lookup(*t, "2001:db8:2:ffff::1"), "adjacent 2001:db8:2::/48");
  CHECK_STR(lookup(*t, "2001:db8:3::"), "doc 2001:db8::/32");
  CHECK_STR(lookup(*t, "2001:db9::"), "any6 ::/0");
  CHECK_STR(lookup(*t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            "last ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
  CHECK_STR(lookup(*t, "::"), "unspecified ::/128");
  CHECK_STR(lookup(*t, "::1"), "any6 ::/0");
  // ::/0 does not cover mapped IPv4 clients: they are looked up as IPv4.
  CHECK_STR(lookup(*t, "::ffff:192.0.2.1"), "-");
  CHECK_STR(lookup(*t, "192.0.2.1"), "-");
}
END_TEST

START_TEST(test_lpm_mapped_entries_and_bytes) {
  auto t = table_from_map(
      "::ffff:192.0.2.0/120 mapped-entry\n"
      "198.51.100.0/24 plain\n");
  CHECK(t->size_v4() == 2 && t->size_v6() == 0);
  CHECK_STR(lookup(*t, "192.0.2.77"), "mapped-entry 192.0.2.0/24");
  CHECK_STR(lookup(*t, "::ffff:198.51.100.1"), "plain 198.51.100.0/24");
  Match m;
  const unsigned char v4[4] = {198, 51, 100, 9};
  CHECK(t->lookup_bytes(v4, 4, m) && std::string(t->type_name(m.type)) == "plain");
  unsigned char v6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
  CHECK(t->lookup_bytes(v6, 16, m) && std::string(t->type_name(m.type)) == "mapped-entry");
  v6[10] = 0;  // now ::c000:201, an IPv6 address
  CHECK(!t->lookup_bytes(v6, 16, m));
  CHECK(!t->lookup_bytes(v4, 3, m));
}
END_TEST

START_TEST(test_empty_table) {
  cidr::Loader loader;
  Diagnostics diag;
  auto t = loader.build(diag);
  CHECK(t->size() == 0);
  CHECK_STR(lookup(*t, "1.2.3.4"), "-");
  CHECK_STR(lookup(*t, "::1"), "-");
  CHECK(t->memory_bytes() > 0);
}
END_TEST

// Randomized comparisons with a reference matcher, shape by shape, are in
// test_cidr_shapes.cpp.

// ---- build order -----------------------------------------------------------------

START_TEST(test_result_independent_of_order) {
  const char* lines[] = {"10.0.0.0/8 a",    "10.1.0.0/16 b",     "10.1.1.0/24 c", "10.1.1.1/32 d",
                         "2001:db8::/32 e", "2001:db8:1::/48 f", "0.0.0.0/0 g",   "::/0 h"};
  std::vector<int> order = {0, 1, 2, 3, 4, 5, 6, 7};
  const char* probes[] = {"10.1.1.1", "10.1.1.2",      "10.1.2.1",      "10.2.0.0",
                          "11.0.0.0", "2001:db8:1::1", "2001:db8:2::1", "2002::1"};
  std::vector<std::string> first;
  std::mt19937 rng(9);
  for (int round = 0; round < 20; ++round) {
    std::string text;
    for (int i : order) text += std::string(lines[i]) + "\n";
    auto t = table_from_map(text);
    std::vector<std::string> got;
    for (const char* p : probes) got.push_back(lookup(*t, p));
    if (round == 0) {
      first = got;
      CHECK_STR(got[0], "d 10.1.1.1/32");
      CHECK_STR(got[7], "h ::/0");
    } else {
      CHECK(got == first);
    }
    std::shuffle(order.begin(), order.end(), rng);
  }
}
END_TEST

Suite* cidr_suite() {
  Suite* s = suite_create("cidr_lookup");

  TCase* parse = tcase_create("parse");
  tcase_add_checked_fixture(parse, setup, teardown);
  tcase_add_test(parse, test_parse_ipv4_forms);
  tcase_add_test(parse, test_parse_prefix_length);
  tcase_add_test(parse, test_parse_ipv6_forms);
  tcase_add_test(parse, test_parse_ipv4_mapped_becomes_ipv4);
  tcase_add_test(parse, test_host_bits_are_masked);
  tcase_add_test(parse, test_format_canonical);
  tcase_add_test(parse, test_parse_line_list);
  tcase_add_test(parse, test_parse_line_map);
  tcase_add_test(parse, test_type_names);
  suite_add_tcase(s, parse);

  TCase* load = tcase_create("load");
  tcase_add_checked_fixture(load, setup, teardown);
  tcase_add_test(load, test_load_text_reports_file_and_line);
  tcase_add_test(load, test_duplicate_networks);
  tcase_add_test(load, test_diagnostics_cap);
  tcase_add_test(load, test_load_files_dirs_and_globs);
  suite_add_tcase(s, load);

  TCase* lpm = tcase_create("lpm");
  tcase_add_checked_fixture(lpm, setup, teardown);
  tcase_add_test(lpm, test_lpm_overlaps_v4);
  tcase_add_test(lpm, test_lpm_overlaps_v6);
  tcase_add_test(lpm, test_lpm_mapped_entries_and_bytes);
  tcase_add_test(lpm, test_empty_table);
  tcase_add_test(lpm, test_result_independent_of_order);
  suite_add_tcase(s, lpm);

  return s;
}

}  // namespace

int main() {
  apr_initialize();
  int status = cidr_test::run_suite(cidr_suite());
  apr_terminate();
  return status;
}
