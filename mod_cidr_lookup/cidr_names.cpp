#include "cidr_names.h"

#include <cstddef>

namespace cidr {
namespace {

char fold(char c) {
  if (c == '_') return '-';
  if (c >= 'A' && c <= 'Z') return char(c - 'A' + 'a');
  return c;
}

bool starts_with_field(std::string_view name, std::string_view prefix) {
  return name.size() >= prefix.size() && same_field_name(name.substr(0, prefix.size()), prefix);
}

struct Reserved {
  const char* name;
  const char* reason;
};

// Headers whose value httpd, a proxy or a backend already acts on.
constexpr Reserved kReservedHeaders[] = {
    {"Host", "a request routing header"},
    {"Content-Length", "a message framing header"},
    {"Content-Type", "a message framing header"},
    {"Content-Encoding", "a message framing header"},
    {"Transfer-Encoding", "a message framing header"},
    {"Trailer", "a message framing header"},
    {"Expect", "a message framing header"},
    {"Connection", "a hop-by-hop header"},
    {"Keep-Alive", "a hop-by-hop header"},
    {"Proxy-Connection", "a hop-by-hop header"},
    {"TE", "a hop-by-hop header"},
    {"Upgrade", "a hop-by-hop header"},
    {"Proxy", "a header CGI turns into HTTP_PROXY, which HTTP clients read as their proxy"},
    {"Authorization", "a credentials header"},
    {"Proxy-Authorization", "a credentials header"},
    {"Cookie", "a credentials header"},
    {"Cookie2", "a credentials header"},
    {"Forwarded", "a header proxies and mod_remoteip read the client address from"},
    {"X-Forwarded-For", "a header proxies and mod_remoteip read the client address from"},
    {"X-Forwarded-Host", "a header proxies read the original host from"},
    {"X-Forwarded-Proto", "a header backends read the original scheme from"},
    {"X-Forwarded-Server", "a header proxies read the original server from"},
    {"X-Real-IP", "a header proxies and mod_remoteip read the client address from"},
    {"Via", "a header proxies use to detect loops"},
    {"Max-Forwards", "a header proxies act on"},
    {"Range", "a header httpd acts on"},
    {"If-Range", "a header httpd acts on"},
    {"Origin", "a header browsers' cross-origin checks rely on"},
};

// Variables CGI (RFC 3875) or httpd gives a meaning.
constexpr const char* kCgiVariables[] = {
    "AUTH_TYPE",
    "CONTENT_LENGTH",
    "CONTENT_TYPE",
    "GATEWAY_INTERFACE",
    "PATH_INFO",
    "PATH_TRANSLATED",
    "QUERY_STRING",
    "REMOTE_ADDR",
    "REMOTE_HOST",
    "REMOTE_IDENT",
    "REMOTE_USER",
    "REMOTE_PORT",
    "REQUEST_METHOD",
    "REQUEST_URI",
    "REQUEST_SCHEME",
    "SCRIPT_NAME",
    "SCRIPT_FILENAME",
    "SCRIPT_URI",
    "SCRIPT_URL",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "SERVER_SOFTWARE",
    "SERVER_ADDR",
    "SERVER_ADMIN",
    "SERVER_SIGNATURE",
    "DOCUMENT_ROOT",
    "CONTEXT_PREFIX",
    "CONTEXT_DOCUMENT_ROOT",
    "HTTPS",
    "PATH",
    "UNIQUE_ID",
    "TZ",
};

// Families of variables: prefixes with a meaning of their own.
constexpr Reserved kReservedEnvPrefixes[] = {
    {"HTTP_", "the prefix CGI gives request headers"},
    {"SSL_", "the prefix of mod_ssl's variables"},
    {"REDIRECT_", "the prefix httpd gives variables of an internal redirect"},
    {"LD_", "the prefix of the dynamic loader's variables"},
};

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = char(x - 'a' + 'A');
    if (y >= 'a' && y <= 'z') y = char(y - 'a' + 'A');
    if (x != y) return false;
  }
  return true;
}

bool starts_with_ignoring_case(std::string_view name, std::string_view prefix) {
  return name.size() >= prefix.size() && equal_ignoring_case(name.substr(0, prefix.size()), prefix);
}

}  // namespace

bool same_field_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (fold(a[i]) != fold(b[i])) return false;
  }
  return true;
}

const char* reserved_header_reason(std::string_view name) {
  for (const Reserved& r : kReservedHeaders) {
    if (same_field_name(name, r.name)) return r.reason;
  }
  // Headers that carry the CGI prefix would reach a CGI as HTTP_HTTP_...,
  // and mod_ssl's or a proxy's own headers are theirs.
  if (starts_with_field(name, "Sec-")) return "a header browsers reserve (Sec-*)";
  if (starts_with_field(name, "Proxy-")) return "a header proxies act on (Proxy-*)";
  return nullptr;
}

const char* reserved_env_reason(std::string_view name) {
  for (const char* v : kCgiVariables) {
    if (equal_ignoring_case(name, v)) return "a variable CGI or httpd gives a meaning";
  }
  for (const Reserved& r : kReservedEnvPrefixes) {
    if (starts_with_ignoring_case(name, r.name)) return r.reason;
  }
  // Every header spelled like the variable is removed from requests: the
  // name must not be one a request needs.
  if (reserved_header_reason(name) != nullptr) {
    return "the name of a header the request needs (headers spelled like the variable are "
           "removed from every request)";
  }
  return nullptr;
}

}  // namespace cidr
