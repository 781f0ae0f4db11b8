// What a SyslogTarget directive declares, parsed without httpd.
//
//   SyslogTarget NAME URL [format=bsd|rfc5424] [framing=octet-counted|lf]
//                         [maxlength=BYTES] [queuesize=SIZE]
//                         tls:// [ca=FILE] [cert=FILE key=FILE] [name=NAME]
//                         relp:// [window=N] [spool=DIR] [spoolsize=SIZE]
//
// URL is one of the endpoint forms of syslog_target.h (unix:/path,
// udp://host[:port], tcp://host[:port], tls://host[:port],
// relp://host[:port]). NAME is what CustomLog names after
// '@'; it holds no '/' (so mod_log_config's log-directory check finds
// nothing to check) and no ':' (so it is never taken for a URL).
//
// A key that is not given is left unset here: the glue fills it from the
// Syslog* directives of the main server, then from the defaults below.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "syslog_format.h"
#include "syslog_target.h"
#include "tls_channel.h"

namespace syslogmod {

// How messages are delimited on a tcp:// stream: RFC 6587 octet counting,
// or one message per line (the receiver splits at LF; an LF inside a line
// is sent as a space so that it cannot start a record of its own).
enum class Framing { OctetCounted, Lf };

const char* framing_name(Framing f);

// The limits of SyslogMaxLength / maxlength= and SyslogQueueSize /
// queuesize=, and their defaults.
constexpr size_t kDefaultMaxLength = 8192;
constexpr size_t kMinMaxLength = 480;  // what RFC 5424 receivers must take
constexpr size_t kMaxMaxLength = 1 << 20;
constexpr size_t kDefaultQueueSize = 4 << 20;
constexpr size_t kMinQueueSize = 64 << 10;
constexpr size_t kMaxQueueSize = size_t{1} << 30;
// window= of relp:// (librelp's own default is 128; it takes nothing below
// 2), and spoolsize=. Each child keeps a copy of a window's lines per target.
constexpr int kDefaultRelpWindow = 128;
constexpr int kMinRelpWindow = 2;
constexpr int kMaxRelpWindow = 1024;
constexpr uint64_t kDefaultRelpSpoolSize = uint64_t{1} << 30;
constexpr uint64_t kMinRelpSpoolSize = 64 << 10;
constexpr uint64_t kMaxRelpSpoolSize = uint64_t{1} << 50;

// The keys a target may set; unset ones come from elsewhere (see above).
struct TargetSettings {
  std::optional<Format> format;
  std::optional<Framing> framing;
  size_t max_length = 0;   // 0: not set
  size_t queue_bytes = 0;  // 0: not set
  // tls://: the files named (read later, by the parent) and the name the
  // relay's certificate must carry (default: the URL's host).
  TlsCredentials tls;
  // relp://
  int relp_window = kDefaultRelpWindow;
  std::string spool_dir;  // empty: no spool
  uint64_t spool_bytes = kDefaultRelpSpoolSize;
};

struct TargetDefinition {
  std::string name;
  SyslogTarget endpoint;  // only its transport fields are used
  TargetSettings settings;
};

// The directive's arguments: NAME URL [key=value ...]. On failure `error`
// quotes the word at fault.
bool parse_target_definition(const std::vector<std::string_view>& args, TargetDefinition& out,
                             std::string& error);

// Where a queue of `queue_bytes` cannot hold a line of `max_length`, what
// to tell the operator; "" when it can.
std::string queue_too_small(size_t queue_bytes, size_t max_length);

}  // namespace syslogmod
