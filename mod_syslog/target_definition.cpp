#include "target_definition.h"

#include <cctype>

#include "config_values.h"

namespace syslogmod {
namespace {

constexpr const char* kKeys =
    "format, framing, maxlength, queuesize; for tls:// ca, cert, key, name; for relp:// window, "
    "spool, spoolsize";
// Room left in the queue beside one longest line (a batch in flight).
constexpr size_t kQueueSlack = 4096;

std::string quoted(std::string_view word) { return "'" + std::string(word) + "'"; }

bool lower_equals(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != lower[i]) return false;
  return true;
}

bool parse_framing(std::string_view word, Framing& out) {
  if (lower_equals(word, "octet-counted")) {
    out = Framing::OctetCounted;
    return true;
  }
  if (lower_equals(word, "lf")) {
    out = Framing::Lf;
    return true;
  }
  return false;
}

// One key=value word into `s`.
bool parse_setting(std::string_view word, const SyslogTarget& endpoint, TargetSettings& s,
                   std::string& error) {
  size_t eq = word.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    error = "expected key=value, not " + quoted(word) + " (keys: " + kKeys + ")";
    return false;
  }
  std::string_view key = word.substr(0, eq);
  std::string_view value = word.substr(eq + 1);
  std::string why;
  if (lower_equals(key, "format")) {
    Format f;
    if (!parse_format(value, f)) {
      error = "format=" + std::string(value) + ": expected bsd or rfc5424";
      return false;
    }
    s.format = f;
  } else if (lower_equals(key, "framing")) {
    Framing f;
    if (!parse_framing(value, f)) {
      error = "framing=" + std::string(value) + ": expected octet-counted or lf";
      return false;
    }
    if (endpoint.transport != Transport::Tcp) {
      error = "framing= applies to tcp:// targets only";
      return false;
    }
    s.framing = f;
  } else if (lower_equals(key, "maxlength")) {
    uint64_t v;
    if (!config_values::parse_number(value, kMinMaxLength, kMaxMaxLength, v, why)) {
      error = "maxlength: " + why;
      return false;
    }
    s.max_length = static_cast<size_t>(v);
  } else if (lower_equals(key, "queuesize")) {
    uint64_t v;
    if (!config_values::parse_size(value, kMinQueueSize, kMaxQueueSize, v, why)) {
      error = "queuesize: " + why;
      return false;
    }
    s.queue_bytes = static_cast<size_t>(v);
  } else if (lower_equals(key, "ca") || lower_equals(key, "cert") || lower_equals(key, "key") ||
             lower_equals(key, "name")) {
    if (endpoint.transport != Transport::Tls) {
      error = std::string(key) + "= applies to tls:// targets only";
      return false;
    }
    if (value.empty()) {
      error = std::string(key) + "= needs a value";
      return false;
    }
    std::string& field = lower_equals(key, "ca")     ? s.tls.ca_file
                         : lower_equals(key, "cert") ? s.tls.cert_file
                         : lower_equals(key, "key")  ? s.tls.key_file
                                                     : s.tls.peer_name;
    field = std::string(value);
  } else if (lower_equals(key, "window") || lower_equals(key, "spool") ||
             lower_equals(key, "spoolsize")) {
    if (endpoint.transport != Transport::Relp) {
      error = std::string(key) + "= applies to relp:// targets only";
      return false;
    }
    uint64_t v;
    if (lower_equals(key, "window")) {
      if (!config_values::parse_number(value, kMinRelpWindow, kMaxRelpWindow, v, why)) {
        error = "window: " + why;
        return false;
      }
      s.relp_window = static_cast<int>(v);
    } else if (lower_equals(key, "spool")) {
      if (value.empty()) {
        error = "spool= needs a directory";
        return false;
      }
      s.spool_dir = std::string(value);
    } else {
      if (!config_values::parse_size(value, kMinRelpSpoolSize, kMaxRelpSpoolSize, v, why)) {
        error = "spoolsize: " + why;
        return false;
      }
      s.spool_bytes = v;
    }
  } else {
    error = "unknown key " + quoted(key) + " (expected " + kKeys + ")";
    return false;
  }
  return true;
}

}  // namespace

const char* framing_name(Framing f) { return f == Framing::Lf ? "lf" : "octet-counted"; }

bool parse_target_definition(const std::vector<std::string_view>& args, TargetDefinition& out,
                             std::string& error) {
  out = TargetDefinition{};
  if (args.size() < 2) {
    error =
        "expected a name and a URL (NAME unix:/path|udp://host[:port]|tcp://host[:port]|"
        "tls://host[:port]|relp://host[:port] [key=value ...])";
    return false;
  }
  if (!check_target_name(args[0], error)) return false;
  out.name = std::string(args[0]);
  if (!parse_endpoint(args[1], out.endpoint, error)) return false;
  for (size_t i = 2; i < args.size(); ++i)
    if (!parse_setting(args[i], out.endpoint, out.settings, error)) return false;
  if (out.endpoint.transport == Transport::Tls && out.settings.tls.peer_name.empty())
    out.settings.tls.peer_name = out.endpoint.host;
  if (out.settings.tls.cert_file.empty() != out.settings.tls.key_file.empty()) {
    error = out.settings.tls.cert_file.empty() ? "key= needs cert= (the client certificate)"
                                               : "cert= needs key= (its private key)";
    return false;
  }
  if (out.settings.max_length && out.settings.queue_bytes) {
    std::string why = queue_too_small(out.settings.queue_bytes, out.settings.max_length);
    if (!why.empty()) {
      error = why;
      return false;
    }
  }
  return true;
}

std::string queue_too_small(size_t queue_bytes, size_t max_length) {
  if (queue_bytes >= max_length + kQueueSlack) return "";
  return "the queue (" + std::to_string(queue_bytes) +
         " bytes) must be larger than the longest line (" + std::to_string(max_length) +
         " bytes) by 4096 bytes at least";
}

}  // namespace syslogmod
