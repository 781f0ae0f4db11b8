#include "cidr_parse.h"

#include <cstdio>

namespace cidr {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// Offending input is echoed into the error log and onto terminals: keep it
// printable and short whatever bytes the file holds.
std::string quote(std::string_view s) {
  constexpr size_t kMax = 60;
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    char c = s[i];
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (s.size() > kMax) out += "...";
  out += '\'';
  return out;
}

// Dotted quad, exactly four decimal octets. Leading zeros are refused because
// other tools read "010" as octal, and a list must mean the same everywhere.
bool parse_v4(std::string_view s, uint32_t& out) {
  uint32_t value = 0;
  size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
    size_t start = i;
    unsigned octet = 0;
    while (i < s.size() && is_digit(s[i])) {
      if (i - start == 3) return false;
      octet = octet * 10 + unsigned(s[i] - '0');
      ++i;
    }
    if (i == start || octet > 255) return false;
    if (i - start > 1 && s[start] == '0') return false;
    value = (value << 8) | octet;
  }
  if (i != s.size()) return false;
  out = value;
  return true;
}

// RFC 4291 text form: up to eight groups of 1-4 hex digits, at most one "::",
// optionally ending in a dotted quad. Zone indexes (fe80::1%eth0) are refused:
// a list entry cannot be tied to an interface.
bool parse_v6(std::string_view s, U128& out) {
  uint16_t groups[8] = {};
  int count = 0;
  int gap = -1;  // number of groups before "::"
  size_t i = 0;
  if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
    gap = 0;
    i = 2;
  } else if (!s.empty() && s[0] == ':') {
    return false;
  }
  while (i < s.size()) {
    size_t end = s.find(':', i);
    if (end == std::string_view::npos) end = s.size();
    std::string_view token = s.substr(i, end - i);
    if (token.find('.') != std::string_view::npos) {
      uint32_t v4;
      if (end != s.size() || count > 6 || !parse_v4(token, v4)) return false;
      groups[count++] = uint16_t(v4 >> 16);
      groups[count++] = uint16_t(v4 & 0xffff);
      i = end;
      break;
    }
    if (token.empty() || token.size() > 4 || count == 8) return false;
    unsigned group = 0;
    for (char c : token) {
      int h = hex_value(c);
      if (h < 0) return false;
      group = (group << 4) | unsigned(h);
    }
    groups[count++] = uint16_t(group);
    i = end;
    if (i == s.size()) break;
    ++i;  // the ':' after the group
    if (i < s.size() && s[i] == ':') {
      if (gap >= 0) return false;
      gap = count;
      ++i;
    } else if (i == s.size()) {
      return false;  // a single trailing ':'
    }
  }
  if (i != s.size()) return false;
  if (gap < 0 ? count != 8 : count > 7) return false;
  U128 value = 0;
  int zeros = 8 - count;
  for (int g = 0, src = 0; g < 8; ++g) {
    uint16_t group = 0;
    if (gap >= 0 && g >= gap && g < gap + zeros) {
      group = 0;
    } else {
      group = groups[src++];
    }
    value = (value << 16) | group;
  }
  out = value;
  return true;
}

size_t format_v4(uint32_t v, char* buf) {
  int n =
      std::snprintf(buf, 16, "%u.%u.%u.%u", v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
  return size_t(n);
}

// RFC 5952 canonical form: lowercase, no leading zeros, the longest run of two
// or more zero groups (the first one on a tie) shortened to "::".
size_t format_v6(U128 v, char* buf) {
  uint16_t groups[8];
  for (int g = 7; g >= 0; --g) {
    groups[g] = uint16_t(v & 0xffff);
    v >>= 16;
  }
  int best = -1, best_len = 0;
  for (int g = 0; g < 8;) {
    if (groups[g] != 0) {
      ++g;
      continue;
    }
    int start = g;
    while (g < 8 && groups[g] == 0) ++g;
    if (g - start > best_len) {
      best = start;
      best_len = g - start;
    }
  }
  if (best_len < 2) best = -1;
  size_t n = 0;
  for (int g = 0; g < 8; ++g) {
    if (g == best) {
      buf[n++] = ':';
      buf[n++] = ':';
      g += best_len - 1;
      continue;
    }
    if (n > 0 && buf[n - 1] != ':') buf[n++] = ':';
    n += size_t(std::snprintf(buf + n, 5, "%x", unsigned(groups[g])));
  }
  buf[n] = '\0';
  return n;
}

}  // namespace

U128 prefix_mask(Family f, unsigned len) {
  unsigned width = family_bits(f);
  if (len == 0) return 0;
  U128 all = width == 128 ? ~U128(0) : (U128(1) << width) - 1;
  if (len >= width) return all;
  return all & ~((U128(1) << (width - len)) - 1);
}

bool parse_address(std::string_view text, Address& out) {
  if (text.find(':') != std::string_view::npos) {
    U128 v;
    if (!parse_v6(text, v)) return false;
    out.family = Family::V6;
    out.value = v;
    return true;
  }
  uint32_t v;
  if (!parse_v4(text, v)) return false;
  out.family = Family::V4;
  out.value = v;
  return true;
}

bool parse_prefix(std::string_view text, Prefix& out, bool& host_bits, std::string& error) {
  size_t slash = text.find('/');
  std::string_view addr_text = text.substr(0, slash);
  Address addr;
  if (!parse_address(addr_text, addr)) {
    error = "invalid IP address " + quote(addr_text);
    return false;
  }
  unsigned width = family_bits(addr.family);
  unsigned len = width;
  if (slash != std::string_view::npos) {
    std::string_view len_text = text.substr(slash + 1);
    bool ok =
        !len_text.empty() && len_text.size() <= 3 && !(len_text.size() > 1 && len_text[0] == '0');
    len = 0;
    for (char c : len_text) {
      if (!is_digit(c)) ok = false;
      if (ok) len = len * 10 + unsigned(c - '0');
    }
    if (!ok) {
      error = "invalid prefix length " + quote(len_text) + " in " + quote(text);
      return false;
    }
    if (len > width) {
      error = "prefix length /" + std::to_string(len) + " out of range for " +
              (addr.family == Family::V4 ? "IPv4 (0-32)" : "IPv6 (0-128)") + " in " + quote(text);
      return false;
    }
  }
  if (addr.family == Family::V6 && len >= 96 && (addr.value >> 32) == 0xffff) {
    addr.family = Family::V4;
    addr.value &= 0xffffffffu;
    len -= 96;
  }
  U128 masked = addr.value & prefix_mask(addr.family, len);
  host_bits = masked != addr.value;
  out.family = addr.family;
  out.len = uint8_t(len);
  out.value = masked;
  return true;
}

std::string format_address(const Address& a) {
  char buf[kMaxPrefixText];
  size_t n = a.family == Family::V4 ? format_v4(uint32_t(a.value), buf) : format_v6(a.value, buf);
  return std::string(buf, n);
}

size_t format_prefix_to(const Prefix& p, char* buf) {
  size_t n = p.family == Family::V4 ? format_v4(uint32_t(p.value), buf) : format_v6(p.value, buf);
  n += size_t(std::snprintf(buf + n, kMaxPrefixText - n, "/%u", unsigned(p.len)));
  return n;
}

std::string format_prefix(const Prefix& p) {
  char buf[kMaxPrefixText];
  size_t n = format_prefix_to(p, buf);
  return std::string(buf, n);
}

bool valid_type_name(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
              c == '_' || c == '.' || c == ':' || c == '+' || c == '@';
    if (!ok) return false;
  }
  return true;
}

ParsedLine parse_line(std::string_view line, FileKind kind) {
  ParsedLine result;
  size_t hash = line.find('#');
  if (hash != std::string_view::npos) line = line.substr(0, hash);

  std::string_view fields[3];
  size_t nfields = 0;
  size_t i = 0;
  while (i < line.size() && nfields < 3) {
    while (i < line.size() && is_space(line[i])) ++i;
    if (i == line.size()) break;
    size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    fields[nfields++] = line.substr(start, i - start);
  }
  if (nfields == 0) return result;

  result.status = ParsedLine::Status::Error;
  result.text = fields[0];
  if (!parse_prefix(fields[0], result.prefix, result.host_bits, result.error)) return result;
  if (kind == FileKind::List) {
    if (nfields > 1) {
      result.error = "unexpected " + quote(fields[1]) + " after " + quote(fields[0]) +
                     " (one address or CIDR per line)";
      return result;
    }
  } else {
    if (nfields < 2) {
      result.error = "missing client type after " + quote(fields[0]) + " (expected 'CIDR TYPE')";
      return result;
    }
    if (!valid_type_name(fields[1])) {
      result.error =
          "invalid client type " + quote(fields[1]) + " (letters, digits and -_.:+@ only)";
      return result;
    }
    if (nfields > 2) {
      result.error = "unexpected " + quote(fields[2]) + " after client type " + quote(fields[1]);
      return result;
    }
    result.type = fields[1];
  }
  result.status = ParsedLine::Status::Entry;
  return result;
}

void Diagnostics::error(std::string message) {
  if (errors_.size() < keep_) errors_.push_back(std::move(message));
  ++error_count_;
}

void Diagnostics::warning(WarningKind kind, std::string message) {
  if (warnings_.size() < keep_) warnings_.push_back(Warning{kind, std::move(message)});
  ++warning_count_;
}

void Diagnostics::notice(std::string message) {
  if (notices_.size() < keep_) notices_.push_back(std::move(message));
}

std::vector<std::string> Diagnostics::errors() const {
  std::vector<std::string> out = errors_;
  if (error_count_ > errors_.size()) {
    out.push_back("... and " + std::to_string(error_count_ - errors_.size()) + " more errors");
  }
  return out;
}

std::vector<Warning> Diagnostics::warning_list() const {
  std::vector<Warning> out = warnings_;
  if (warning_count_ > warnings_.size()) {
    out.push_back(
        Warning{WarningKind::More,
                "... and " + std::to_string(warning_count_ - warnings_.size()) + " more warnings"});
  }
  return out;
}

std::vector<std::string> Diagnostics::warnings() const {
  std::vector<std::string> out;
  for (Warning& w : warning_list()) out.push_back(std::move(w.text));
  return out;
}

std::string Diagnostics::error_text() const {
  std::string text;
  for (const std::string& e : errors()) {
    if (!text.empty()) text += '\n';
    text += e;
  }
  return text;
}

}  // namespace cidr
