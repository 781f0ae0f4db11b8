// libFuzzer target for mod_cidr_lookup's list parser and table builder.
//
// The input is parsed as a CIDRFile list and as a CIDRMap file. Beyond "no
// crash, no sanitizer report", it checks properties that must hold for any
// input: every message carries the source name and a line number, accepted
// prefixes survive format-and-reparse unchanged, and the built table agrees
// with a linear scan.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "cidr_loader.h"
#include "cidr_parse.h"
#include "prefix_table.h"

namespace {

void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "property violated: %s: %s\n", what, detail.c_str());
  std::abort();
}

struct Listed {
  cidr::Prefix prefix;
  uint16_t type;
};

// The longest listed prefix containing a; the first listed wins a tie.
const Listed* linear_match(const std::vector<Listed>& listed, const cidr::Address& a) {
  const Listed* best = nullptr;
  for (const Listed& l : listed) {
    cidr::Family f = l.prefix.family;
    cidr::U128 v = a.value;
    if (a.family == cidr::Family::V6 && (v >> 32) == 0xffff) {
      v &= 0xffffffffu;
      if (f != cidr::Family::V4) continue;
    } else if (f != a.family) {
      continue;
    }
    if ((v & cidr::prefix_mask(f, l.prefix.len)) != l.prefix.value) continue;
    if (best == nullptr || l.prefix.len > best->prefix.len) best = &l;
  }
  return best;
}

void check_kind(std::string_view text, cidr::FileKind kind) {
  cidr::Diagnostics diag(1000000);
  cidr::Loader loader;
  loader.load_text(text, "fuzz.list", kind, "fuzzed", diag);
  for (const std::string& m : diag.errors()) {
    if (m.rfind("fuzz.list:", 0) != 0) fail("error without location", m);
  }
  for (const std::string& m : diag.warnings()) {
    if (m.rfind("fuzz.list:", 0) != 0) fail("warning without location", m);
  }

  // Parse line by line on the side to know what the table must contain.
  std::vector<Listed> listed;
  std::vector<std::string> type_names;
  cidr::for_each_line(text, [&](uint32_t, std::string_view line) {
    cidr::ParsedLine p = cidr::parse_line(line, kind);
    if (p.status != cidr::ParsedLine::Status::Entry) return;
    std::string again_text = cidr::format_prefix(p.prefix);
    cidr::Prefix again;
    bool host_bits = true;
    std::string error;
    if (!cidr::parse_prefix(again_text, again, host_bits, error) || !(again == p.prefix) ||
        host_bits) {
      fail("format/parse round trip", again_text);
    }
    std::string type = kind == cidr::FileKind::Map ? std::string(p.type) : "fuzzed";
    if (!cidr::valid_type_name(type)) fail("accepted an invalid type", type);
    uint16_t id = 0;
    while (id < type_names.size() && type_names[id] != type) ++id;
    if (id == type_names.size()) type_names.push_back(type);
    listed.push_back(Listed{p.prefix, id});
  });
  if (listed.size() != loader.entry_count()) fail("entry count", std::to_string(listed.size()));

  auto table = loader.build(diag);
  std::vector<cidr::Address> probes;
  for (const Listed& l : listed) {
    cidr::Prefix p = l.prefix;
    probes.push_back(cidr::Address{p.family, p.value});
    cidr::U128 all = cidr::prefix_mask(p.family, cidr::family_bits(p.family));
    probes.push_back(
        cidr::Address{p.family, p.value | (all & ~cidr::prefix_mask(p.family, p.len))});
    if (p.value != 0) probes.push_back(cidr::Address{p.family, p.value - 1});
    if (p.family == cidr::Family::V4) {
      probes.push_back(cidr::Address{cidr::Family::V6, (cidr::U128(0xffff) << 32) | p.value});
    }
  }
  for (const cidr::Address& a : probes) {
    cidr::Match m;
    bool hit = table->lookup(a, m);
    const Listed* want = linear_match(listed, a);
    if (hit != (want != nullptr)) fail("hit/miss differs", cidr::format_address(a));
    if (!hit) continue;
    if (m.network.len != want->prefix.len || !(m.network == want->prefix) ||
        table->type_name(m.type) != type_names[want->type]) {
      fail("match differs", cidr::format_address(a) + " got " + cidr::format_prefix(m.network));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Long inputs only slow the search down; the parser works line by line.
  if (size > 4096) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  cidr::Address a;
  if (cidr::parse_address(text, a)) {
    cidr::Address b;
    if (!cidr::parse_address(cidr::format_address(a), b) || b.family != a.family ||
        b.value != a.value) {
      fail("address round trip", cidr::format_address(a));
    }
  }
  check_kind(text, cidr::FileKind::List);
  check_kind(text, cidr::FileKind::Map);
  return 0;
}
