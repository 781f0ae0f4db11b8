#include "syslog_target.h"

#include <arpa/inet.h>
#include <sys/un.h>

#include <cctype>

namespace syslogmod {
namespace {

struct Name {
  const char* name;
  int code;
};

// syslog(3)'s facility names; codes from RFC 5424 table 1.
constexpr Name kFacilities[] = {
    {"kern", 0},      {"user", 1},    {"mail", 2},    {"daemon", 3},  {"auth", 4},
    {"syslog", 5},    {"lpr", 6},     {"news", 7},    {"uucp", 8},    {"cron", 9},
    {"authpriv", 10}, {"ftp", 11},    {"local0", 16}, {"local1", 17}, {"local2", 18},
    {"local3", 19},   {"local4", 20}, {"local5", 21}, {"local6", 22}, {"local7", 23},
};

// The names, then the aliases syslog.conf(5) accepts (deprecated there,
// still common): name_of() finds a canonical name first.
constexpr Name kSeverities[] = {
    {"emerg", 0}, {"alert", 1}, {"crit", 2},  {"err", 3},   {"warning", 4}, {"notice", 5},
    {"info", 6},  {"debug", 7}, {"panic", 0}, {"error", 3}, {"warn", 4},
};

constexpr const char* kFacilityList =
    "kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp or "
    "local0..local7";
constexpr const char* kSeverityList =
    "emerg, alert, crit, err, warning, notice, info or debug (or panic, error, warn)";
constexpr const char* kTargetForms =
    "unix:/path, udp://host[:port], tcp://host[:port], tls://host[:port] or relp://host[:port]";

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

template <size_t N>
int lookup(const Name (&table)[N], std::string_view word) {
  for (const Name& n : table)
    if (iequals(word, n.name)) return n.code;
  return -1;
}

template <size_t N>
const char* name_of(const Name (&table)[N], int code) {
  for (const Name& n : table)
    if (n.code == code) return n.name;
  return "?";
}

std::string quoted(std::string_view word) { return "'" + std::string(word) + "'"; }

bool valid_hostname(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    unsigned char u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && c != '-' && c != '.' && c != '_') return false;
  }
  return true;
}

bool valid_ipv6(std::string_view addr) {
  // An optional zone ("fe80::1%eth0") is not something inet_pton reads.
  std::string_view zone;
  size_t pct = addr.find('%');
  if (pct != std::string_view::npos) {
    zone = addr.substr(pct + 1);
    addr = addr.substr(0, pct);
    if (zone.empty()) return false;
    for (char c : zone)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_')
        return false;
  }
  unsigned char buf[16];
  return inet_pton(AF_INET6, std::string(addr).c_str(), buf) == 1;
}

bool parse_port(std::string_view word, uint16_t& port, std::string& error) {
  if (word.empty()) {
    error = "empty port after ':'";
    return false;
  }
  for (char c : word) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      error = "port " + quoted(word) + " is not a number";
      return false;
    }
  }
  // Leading zeros are harmless; more than five significant digits is out of
  // range whatever they say.
  size_t first = word.find_first_not_of('0');
  std::string_view digits = first == std::string_view::npos ? "0" : word.substr(first);
  unsigned long value = digits.size() > 5 ? 100000 : std::stoul(std::string(digits));
  if (value < 1 || value > 65535) {
    error = "port " + quoted(word) + " out of range (1-65535)";
    return false;
  }
  port = static_cast<uint16_t>(value);
  return true;
}

// "host", "host:port", "[v6]" or "[v6]:port" (what follows "udp://").
bool parse_host_port(std::string_view scheme, std::string_view rest, SyslogTarget& out,
                     std::string& error) {
  std::string_view host, port;
  bool has_port = false;
  if (rest.empty()) {
    error = "missing host after " + quoted(std::string(scheme) + "://");
    return false;
  }
  if (rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated '[' in " + quoted(rest);
      return false;
    }
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "unexpected " + quoted(after) + " after " + quoted(rest.substr(0, close + 1)) +
                " (expected ':port' or nothing)";
        return false;
      }
      has_port = true;
      port = after.substr(1);
    }
    if (!valid_ipv6(host)) {
      error = "invalid IPv6 address " + quoted(host);
      return false;
    }
  } else {
    size_t colon = rest.find(':');
    if (colon != std::string_view::npos && rest.find(':', colon + 1) != std::string_view::npos) {
      error = "host " + quoted(rest) + " has several ':' (write IPv6 addresses as [addr]:port)";
      return false;
    }
    host = rest.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port = rest.substr(colon + 1);
    }
    if (host.empty()) {
      error = "missing host before " + quoted(rest);
      return false;
    }
    if (!valid_hostname(host)) {
      error = "invalid host name " + quoted(host);
      return false;
    }
  }
  out.host = std::string(host);
  out.port = out.transport == Transport::Tls    ? kDefaultTlsPort
             : out.transport == Transport::Relp ? kDefaultRelpPort
                                                : kDefaultPort;
  if (has_port && !parse_port(port, out.port, error)) return false;
  return true;
}

}  // namespace

bool parse_endpoint(std::string_view word, SyslogTarget& out, std::string& error) {
  if (istarts_with(word, "unix:")) {
    std::string_view path = word.substr(5);
    if (path.empty()) {
      error = "missing socket path after 'unix:'";
      return false;
    }
    if (path.front() != '/') {
      error = "socket path " + quoted(path) + " is not absolute";
      return false;
    }
    if (path.size() >= sizeof(sockaddr_un::sun_path)) {
      error = "socket path " + quoted(path) + " is too long (at most " +
              std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)";
      return false;
    }
    out.transport = Transport::Unix;
    out.path = std::string(path);
    return true;
  }
  for (auto [scheme, transport] : {std::pair{"udp", Transport::Udp},
                                   {"tcp", Transport::Tcp},
                                   {"tls", Transport::Tls},
                                   {"relp", Transport::Relp}}) {
    std::string prefix = std::string(scheme) + "://";
    if (istarts_with(word, prefix)) {
      out.transport = transport;
      return parse_host_port(scheme, word.substr(prefix.size()), out, error);
    }
  }
  error = "malformed target " + quoted(word) + " (expected " + kTargetForms + ")";
  return false;
}

int facility_code(std::string_view name) { return lookup(kFacilities, name); }
int severity_code(std::string_view name) { return lookup(kSeverities, name); }
const char* facility_name(int code) { return name_of(kFacilities, code); }
const char* severity_name(int code) { return name_of(kSeverities, code); }

std::string SyslogTarget::endpoint() const {
  switch (transport) {
    case Transport::Unix:
      return "unix:" + path;
    case Transport::Udp:
    case Transport::Tcp:
    case Transport::Tls:
    case Transport::Relp: {
      static constexpr const char* kSchemes[] = {"", "udp://", "tcp://", "tls://", "relp://"};
      std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
      return kSchemes[static_cast<int>(transport)] + h + ":" + std::to_string(port);
    }
  }
  return "?";
}

bool check_target_name(std::string_view name, std::string& error) {
  if (name.empty()) {
    error = "empty target name";
    return false;
  }
  if (name.size() > kMaxTargetName) {
    error = "target name " + quoted(name) + " is longer than " + std::to_string(kMaxTargetName) +
            " bytes";
    return false;
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      error = "target name " + quoted(name) + " may hold only letters, digits, '_', '-' and '.'";
      return false;
    }
  }
  return true;
}

bool check_tag(std::string_view tag, std::string& error) {
  if (tag.empty()) {
    error = "empty tag";
    return false;
  }
  if (tag.size() > kMaxTagLength) {
    error = "tag " + quoted(tag) + " is longer than " + std::to_string(kMaxTagLength) + " bytes";
    return false;
  }
  for (char c : tag) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == ' ') {
      error = "tag " + quoted(tag) + " contains a space";
      return false;
    }
    if (u < 33 || u > 126) {
      error = "tag " + quoted(tag) + " contains a control or non-ASCII byte";
      return false;
    }
    if (c == ':' || c == '[' || c == ']' || c == '@') {
      error = "tag " + quoted(tag) + " contains '" + std::string(1, c) + "'";
      return false;
    }
  }
  return true;
}

bool parse_target(std::string_view spec, SyslogTarget& out, std::string& error) {
  out = SyslogTarget{};
  if (!istarts_with(spec, "syslog:")) {
    error = quoted(spec) + " does not start with 'syslog:'";
    return false;
  }
  std::string_view rest = spec.substr(7);

  // The target comes last and may itself hold ':' (unix:/path), so it is cut
  // off first; a tag may not contain '@'. Checks then go left to right.
  size_t at = rest.find('@');
  std::string_view selector_and_tag = rest.substr(0, at);
  size_t colon = selector_and_tag.find(':');
  std::string_view selector = selector_and_tag.substr(0, colon);

  if (!selector.empty()) {
    size_t dot = selector.find('.');
    std::string_view facility = selector.substr(0, dot);
    if (facility.empty()) {
      error = "missing facility before " + quoted(selector);
      return false;
    }
    out.facility = facility_code(facility);
    if (out.facility < 0) {
      error = "unknown facility " + quoted(facility) + " (expected " + kFacilityList + ")";
      return false;
    }
    if (dot != std::string_view::npos) {
      std::string_view level = selector.substr(dot + 1);
      if (level.empty()) {
        error = "missing level after " + quoted(selector);
        return false;
      }
      out.severity = severity_code(level);
      if (out.severity < 0) {
        error = "unknown level " + quoted(level) + " (expected " + kSeverityList + ")";
        return false;
      }
    }
  }

  if (colon != std::string_view::npos) {
    std::string_view tag = selector_and_tag.substr(colon + 1);
    if (tag.empty()) {
      error = "empty tag after ':'";
      return false;
    }
    if (!check_tag(tag, error)) return false;
    out.tag = std::string(tag);
  }

  if (at != std::string_view::npos) {
    std::string_view endpoint = rest.substr(at + 1);
    if (endpoint.empty()) {
      error = "missing target after '@'";
      return false;
    }
    // A name holds no ':'; every URL form does.
    if (endpoint.find(':') == std::string_view::npos) {
      std::string why;
      if (!check_target_name(endpoint, why)) {
        error = "malformed target " + quoted(endpoint) + " (expected the name of a SyslogTarget, " +
                kTargetForms + "; " + why + ")";
        return false;
      }
      out.target_name = std::string(endpoint);
      return true;
    }
    if (!parse_endpoint(endpoint, out, error)) return false;
  }
  return true;
}

}  // namespace syslogmod
