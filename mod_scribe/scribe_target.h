// The pure parts of mod_scribe: parsing of CustomLog targets and collector
// addresses, and the names a collector list goes by. No httpd, APR or
// Thrift headers, so all of it is unit-tested on its own. (Which collector
// of a list takes the lines is the Shipper's business: peer_rotation.h.)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "delivery.h"

namespace scribe {

constexpr uint16_t kDefaultPort = 1463;
constexpr const char* kTargetPrefix = "scribe:";
// Categories travel as spool tags and end up in collector file names; a
// bound keeps a typo (a whole format string pasted in) from passing.
constexpr size_t kMaxCategoryLength = 255;

struct Endpoint {
  std::string host;  // name or address, IPv6 without brackets
  uint16_t port = kDefaultPort;
  bool operator==(const Endpoint& o) const { return host == o.host && port == o.port; }
  // "host:port", IPv6 in brackets.
  std::string to_string() const;
};

// "scribe:CATEGORY[@HOST[:PORT]]". `servers` is empty when the target names
// no collector: the ScribeServer list of its server applies.
struct Target {
  std::string category;
  std::vector<Endpoint> servers;
};

// Each parser returns true on success; on failure `error` says what is wrong
// with which word, ready to follow the directive's name.
bool parse_endpoint(std::string_view text, Endpoint& out, std::string& error);
bool parse_target(std::string_view text, Target& out, std::string& error);
// Numbers and sizes in directives: config_values.h.

// "h1:p1,h2:p2": identifies a collector set (one connection per child).
std::string servers_key(const std::vector<Endpoint>& servers);
// The key made safe for a spool file name: letters, digits, '_' and '-'
// only, so it never contains the '.' that separates the name's fields.
std::string spool_name_for(const std::vector<Endpoint>& servers);

}  // namespace scribe
