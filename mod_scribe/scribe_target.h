// The pure parts of mod_scribe: parsing of CustomLog targets and collector
// addresses, and the choice of collector when several are configured. No httpd,
// APR or Thrift headers, so all of it is unit-tested on its own.
#pragma once

#include <cstdint>
#include <optional>
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

// Which collector of an ordered list to use. The first healthy one in list
// order is preferred; a collector that failed is skipped until its own
// backoff expires, and then the sender goes back to it ("the first is retried
// after the backoff"). Pure logic on an explicit clock.
class CollectorRotation {
 public:
  CollectorRotation(size_t count, delivery::Millis retry_min, delivery::Millis retry_max,
                    uint64_t seed = 0);
  // Collectors to try for a new connection, in order: those not backing off
  // first (list order); when every one is backing off, the one whose backoff
  // ends first, so that a connection attempt is never refused outright.
  std::vector<size_t> connect_order(delivery::Clock::time_point now) const;
  // A more preferred collector than `current` whose backoff has expired, if
  // any: the sender should try it before using `current` again.
  std::optional<size_t> preferred_over(size_t current, delivery::Clock::time_point now) const;
  void failed(size_t index, delivery::Clock::time_point now);
  void succeeded(size_t index);
  bool backing_off(size_t index, delivery::Clock::time_point now) const;
  size_t size() const { return slots_.size(); }

 private:
  struct Slot {
    delivery::Backoff backoff;
    delivery::Clock::time_point retry_at{};
  };
  std::vector<Slot> slots_;
};

}  // namespace scribe
