// libFuzzer target for what mod_scribe reads from the operator: CustomLog
// "scribe:..." targets, ScribeServer endpoints and the numeric directive
// values (sizes with K/M/G, plain numbers: config_values.h, which
// mod_syslog reads its values with too).
//
// The first input byte picks the parser. Beyond "no crash, no sanitizer
// report" it checks: a rejected value always says why; an accepted target has
// a valid category; an endpoint's to_string() parses back to itself; sizes
// and numbers land within the bounds asked for; a spool name uses only the
// characters a spool file name may hold.
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "config_values.h"
#include "scribe_target.h"

namespace {

void fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "property violated: %s: %.*s\n", what, int(detail.size()), detail.data());
  std::abort();
}

void check_endpoint_round_trip(const scribe::Endpoint& ep, std::string_view input) {
  scribe::Endpoint again;
  std::string error;
  if (!scribe::parse_endpoint(ep.to_string(), again, error) || !(again == ep)) {
    fail("endpoint round trip", input);
  }
}

void check_spool_name(const std::vector<scribe::Endpoint>& servers, std::string_view input) {
  for (char c : scribe::spool_name_for(servers)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') {
      fail("spool name character", input);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 4096) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string error;
  switch (data[0] % 4) {
    case 0: {
      scribe::Target t;
      std::string spec = std::string(scribe::kTargetPrefix) + std::string(text);
      if (!scribe::parse_target(spec, t, error)) {
        if (error.empty()) fail("rejected without a reason", spec);
        break;
      }
      if (t.category.empty() || t.category.size() > scribe::kMaxCategoryLength) {
        fail("category length", spec);
      }
      for (char c : t.category) {
        if (std::isspace(static_cast<unsigned char>(c)) ||
            std::iscntrl(static_cast<unsigned char>(c))) {
          fail("category character", spec);
        }
      }
      for (const scribe::Endpoint& ep : t.servers) check_endpoint_round_trip(ep, spec);
      if (!t.servers.empty()) check_spool_name(t.servers, spec);
      break;
    }
    case 1: {
      scribe::Endpoint ep;
      if (!scribe::parse_endpoint(text, ep, error)) {
        if (error.empty()) fail("rejected without a reason", text);
        break;
      }
      if (ep.port == 0 || ep.host.empty()) fail("host or port", text);
      check_endpoint_round_trip(ep, text);
      check_spool_name({ep}, text);
      break;
    }
    case 2: {
      uint64_t out = 0;
      if (config_values::parse_size(text, 4096, uint64_t(1) << 50, out, error)) {
        if (out < 4096 || out > (uint64_t(1) << 50)) fail("size out of bounds", text);
      } else if (error.empty()) {
        fail("rejected without a reason", text);
      }
      break;
    }
    default: {
      uint64_t out = 0;
      if (config_values::parse_number(text, 1, 3600000, out, error)) {
        if (out < 1 || out > 3600000) fail("number out of bounds", text);
      } else if (error.empty()) {
        fail("rejected without a reason", text);
      }
      break;
    }
  }
  return 0;
}
