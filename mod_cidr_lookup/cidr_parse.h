// Address, prefix and list-line parsing for mod_cidr_lookup and cidr-lookup.
//
// Pure C++: no httpd or APR headers, so the unit tests, the fuzzer and the CLI
// exercise exactly the code the module runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cidr {

// __extension__ keeps -Wpedantic quiet; every compiler this suite targets has it.
__extension__ typedef unsigned __int128 U128;

enum class Family : uint8_t { V4 = 4, V6 = 6 };

inline unsigned family_bits(Family f) { return f == Family::V4 ? 32 : 128; }

// The numeric value of an address: an IPv4 address occupies the low 32 bits.
struct Address {
  Family family = Family::V4;
  U128 value = 0;
};

struct Prefix {
  Family family = Family::V4;
  uint8_t len = 0;
  U128 value = 0;  // network address; bits below `len` are zero once normalized
};

inline bool operator==(const Prefix& a, const Prefix& b) {
  return a.family == b.family && a.len == b.len && a.value == b.value;
}

// Mask of the bits of an address of family `f` that a /len prefix fixes.
U128 prefix_mask(Family f, unsigned len);

bool parse_address(std::string_view text, Address& out);

// Accepts "addr" (a host: /32 or /128) or "addr/len". An IPv4-mapped IPv6
// prefix of length >= 96 comes back as the IPv4 prefix it denotes, because
// mapped clients are matched against the IPv4 table. On success the prefix
// is masked and host_bits tells whether masking changed it. On failure the
// reason (without any location) is stored in error.
bool parse_prefix(std::string_view text, Prefix& out, bool& host_bits, std::string& error);

std::string format_address(const Address& a);
std::string format_prefix(const Prefix& p);
// Writes the NUL-terminated CIDR text into buf (at least kMaxPrefixText bytes).
constexpr size_t kMaxPrefixText = 44;  // "ffff:...:ffff/128" is 43 characters
size_t format_prefix_to(const Prefix& p, char* buf);

// Client types end up in an environment variable and a request header, and
// are written in httpd.conf after `Require client-type`: letters, digits and
// "-_.:+@" only, at most 255 characters.
bool valid_type_name(std::string_view name);

// Which kind of list file a line comes from.
enum class FileKind : uint8_t {
  List,  // CIDRFile: one address or CIDR per line; the file names the type
  Map,   // CIDRMap: "CIDR TYPE" per line
};

struct ParsedLine {
  enum class Status : uint8_t { Blank, Entry, Error };
  Status status = Status::Blank;
  Prefix prefix;
  std::string_view text;  // the CIDR as written; points into the parsed line
  std::string_view type;  // Map only; points into the parsed line
  bool host_bits = false;
  std::string error;  // Error: the reason, without file:line
};

// Parses one line (without its line end; a trailing CR is tolerated).
ParsedLine parse_line(std::string_view line, FileKind kind);

// Calls fn(line_number, line) for each line of text, numbering from 1.
// A UTF-8 byte order mark at the start of the text is skipped.
template <typename Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  uint32_t number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    fn(++number, text.substr(pos, end - pos));
    pos = end + 1;
  }
}

// What a warning is about. The module logs each kind under a message ID of
// its own (MESSAGES.md); the text is the same for the module and cidr-lookup.
enum class WarningKind {
  WritableList,      // a list file its group or others can write
  HostBits,          // host bits set below the prefix length
  DuplicateNetwork,  // a network listed twice, under two types
  EmptyList,         // a list file without any entry
  More,              // "... and N more warnings": those not kept (always last)
};

struct Warning {
  WarningKind kind;
  std::string text;
};

// Errors make a load fail; warnings are reported and the load goes on. Both
// are complete messages ("file:line: reason"). A list with a million bad lines
// must not produce a million log lines, so only the first few of each are
// kept and the rest are counted.
class Diagnostics {
 public:
  explicit Diagnostics(size_t keep = 50) : keep_(keep) {}

  void error(std::string message);
  void warning(WarningKind kind, std::string message);
  // Worth telling the operator, but nothing is wrong (files skipped on
  // purpose).
  void notice(std::string message);

  bool has_errors() const { return error_count_ != 0; }
  size_t error_count() const { return error_count_; }
  size_t warning_count() const { return warning_count_; }
  // The kept messages, plus a final "... N more" line when some were dropped.
  std::vector<std::string> errors() const;
  std::vector<std::string> warnings() const;
  // The same, with what each is about (the "... N more" line is More).
  std::vector<Warning> warning_list() const;
  const std::vector<std::string>& notices() const { return notices_; }
  // All kept errors on separate lines, for a directive's error return.
  std::string error_text() const;

 private:
  size_t keep_;
  size_t error_count_ = 0;
  size_t warning_count_ = 0;
  std::vector<std::string> errors_;
  std::vector<Warning> warnings_;
  std::vector<std::string> notices_;
};

}  // namespace cidr
