// What a "syslog:..." CustomLog target means, parsed without httpd.
//
//   syslog:FACILITY[.LEVEL][:TAG][@TARGET]
//
// FACILITY and LEVEL are syslog(3)'s names, case-insensitive; "syslog:" alone
// is local6.info. TAG is the syslog tag (empty here means "use SyslogIdent").
// TARGET is the NAME of a SyslogTarget (no ':' in it), or an endpoint URL
// written inline: unix:/path, udp://host[:port], tcp://host[:port],
// tls://host[:port] or relp://host[:port] (host may be [v6addr]; the port
// defaults to 514, 6514 for tls and 2514 for relp); without it,
// unix:/dev/log.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace syslogmod {

// Tls: RFC 5425 (octet-counted messages over TLS); Relp: rsyslog's RELP,
// whose receiver acknowledges each message.
enum class Transport { Unix, Udp, Tcp, Tls, Relp };

// Numeric codes as on the wire (RFC 5424 section 6.2.1), not shifted.
constexpr int kDefaultFacility = 22;  // local6
constexpr int kDefaultSeverity = 6;   // info
constexpr uint16_t kDefaultPort = 514;
constexpr uint16_t kDefaultTlsPort = 6514;   // RFC 5425
constexpr uint16_t kDefaultRelpPort = 2514;  // rsyslog's examples; RELP has no IANA port
constexpr const char* kDefaultSocket = "/dev/log";
// RFC 5424's APP-NAME limit; RFC 3164's TAG limit (32) is widely ignored.
constexpr size_t kMaxTagLength = 48;
constexpr size_t kMaxTargetName = 64;

struct SyslogTarget {
  int facility = kDefaultFacility;
  int severity = kDefaultSeverity;
  std::string tag;  // empty: the server's SyslogIdent
  Transport transport = Transport::Unix;
  std::string path = kDefaultSocket;  // unix
  std::string host;                   // network transports, without brackets
  uint16_t port = kDefaultPort;       // network transports
  // "@NAME": a SyslogTarget's, whose endpoint the fields above do not hold.
  std::string target_name;

  int priority() const { return facility * 8 + severity; }
  // "unix:/dev/log", "udp://127.0.0.1:514", "tcp://[::1]:514",
  // "tls://relay.example.net:6514".
  std::string endpoint() const;
  bool is_network() const { return transport != Transport::Unix; }
};

// An endpoint URL alone (what follows '@' inline, or a SyslogTarget's URL)
// into the transport fields of `out`.
bool parse_endpoint(std::string_view url, SyslogTarget& out, std::string& error);

// Parses a whole CustomLog target, "syslog:" prefix included (matched
// case-insensitively). On failure returns false and sets `error` to a message
// that quotes the offending word.
bool parse_target(std::string_view spec, SyslogTarget& out, std::string& error);

// A SyslogTarget's name: 1..kMaxTargetName letters, digits, '_', '-' or '.'.
bool check_target_name(std::string_view name, std::string& error);

// A syslog tag: 1..kMaxTagLength printable ASCII characters, none of them a
// space or one of ":[]@" (which would end or garble the tag on the wire).
bool check_tag(std::string_view tag, std::string& error);

// Facility/severity names <-> codes. Lookups are case-insensitive; -1 when
// unknown.
int facility_code(std::string_view name);
int severity_code(std::string_view name);
const char* facility_name(int code);
const char* severity_name(int code);

}  // namespace syslogmod
