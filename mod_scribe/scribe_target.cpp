#include "scribe_target.h"

#include <strings.h>

#include <algorithm>
#include <cctype>

#include "config_values.h"

namespace scribe {

namespace {

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

bool valid_hostname(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

bool valid_ipv6(std::string_view h) {
  if (h.find(':') == std::string_view::npos) return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
  });
}

bool parse_port(std::string_view whole, std::string_view text, uint16_t& port, std::string& error) {
  uint64_t v = 0;
  if (!config_values::parse_number(text, 1, UINT16_MAX, v, error)) {
    error = quoted(whole) + ": port " + error;
    return false;
  }
  port = static_cast<uint16_t>(v);
  return true;
}

// FNV-1a: a short, stable fingerprint for file names.
uint32_t fnv1a(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

}  // namespace

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

bool parse_endpoint(std::string_view text, Endpoint& out, std::string& error) {
  if (text.empty()) {
    error = "empty collector address (expected host:port)";
    return false;
  }
  Endpoint ep;
  std::string_view host, port;
  bool has_port = false;
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      error = quoted(text) + ": missing ']' after the IPv6 address";
      return false;
    }
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        error = quoted(text) + ": expected ':port' after ']'";
        return false;
      }
      port = rest.substr(1);
      has_port = true;
    }
    if (!valid_ipv6(host)) {
      error = quoted(text) + ": " + quoted(host) + " is not an IPv6 address";
      return false;
    }
  } else {
    size_t colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      error = quoted(text) + ": write IPv6 addresses in brackets, e.g. [::1]:1463";
      return false;
    }
    host = text.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = text.substr(colon + 1);
      has_port = true;
    }
    if (host.empty()) {
      error = quoted(text) + ": missing host name before ':'";
      return false;
    }
    if (!valid_hostname(host)) {
      error = quoted(text) + ": " + quoted(host) + " is not a valid host name or address";
      return false;
    }
  }
  ep.host = std::string(host);
  if (has_port && !parse_port(text, port, ep.port, error)) return false;
  out = std::move(ep);
  return true;
}

bool parse_target(std::string_view text, Target& out, std::string& error) {
  const size_t plen = std::char_traits<char>::length(kTargetPrefix);
  if (text.size() < plen || strncasecmp(text.data(), kTargetPrefix, plen) != 0) {
    error = quoted(text) + " does not start with " + quoted(kTargetPrefix);
    return false;
  }
  std::string_view rest = text.substr(plen);
  size_t at = rest.find('@');
  std::string_view category = rest.substr(0, at);
  if (category.empty()) {
    error = quoted(text) + ": empty Scribe category (expected scribe:CATEGORY[@HOST[:PORT]])";
    return false;
  }
  if (category.size() > kMaxCategoryLength) {
    error = quoted(text) + ": category longer than " + std::to_string(kMaxCategoryLength) +
            " characters";
    return false;
  }
  for (char c : category) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isspace(u) || std::iscntrl(u)) {
      error = quoted(text) + ": the category must not contain spaces or control characters";
      return false;
    }
  }
  Target t;
  t.category = std::string(category);
  if (at != std::string_view::npos) {
    std::string_view where = rest.substr(at + 1);
    if (where.empty()) {
      error = quoted(text) + ": missing collector after '@'";
      return false;
    }
    Endpoint ep;
    if (!parse_endpoint(where, ep, error)) return false;
    t.servers.push_back(std::move(ep));
  }
  out = std::move(t);
  return true;
}

std::string servers_key(const std::vector<Endpoint>& servers) {
  std::string key;
  for (const auto& ep : servers) {
    if (!key.empty()) key += ',';
    key += ep.to_string();
  }
  return key;
}

std::string spool_name_for(const std::vector<Endpoint>& servers) {
  const std::string key = servers_key(servers);
  std::string readable;
  for (char c : key) {
    if (readable.size() >= 80) break;
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')
      readable += c;
    else if (c == ',')
      readable += "--";
    else if (c != '[' && c != ']')
      readable += '_';
  }
  char hash[16];
  snprintf(hash, sizeof hash, "%08x", fnv1a(key));
  return "scribe-" + readable + "-" + hash;
}

}  // namespace scribe
