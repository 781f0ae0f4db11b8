// Directive values that the modules read alike: plain decimal numbers
// (milliseconds, line counts, lengths) and byte sizes, which may end in K, M
// or G (powers of 1024). Header-only and free of httpd and APR, so that the
// modules, their unit tests and the fuzzers run the very same code.
//
// Each parser returns true and sets `out` when `text` is valid and within
// [min, max]. Otherwise it leaves `out` alone and sets `error` to what is
// wrong, with the word quoted, ready to follow "Directive: ":
//   'lots' is not a number
//   '4X' is not a size (bytes, optionally with K, M or G)
//   '10' is out of range (480-1048576)
//   '1' is out of range (64K-1G)
// Only digits are taken: no sign, no spaces, no hexadecimal. A value too
// large for 64 bits is out of range.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace config_values {

namespace detail {

inline bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// Digits to a number; false when it does not fit in 64 bits.
inline bool to_u64(std::string_view digits, uint64_t& out) {
  uint64_t v = 0;
  for (char c : digits) {
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

inline std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// How many bits a size suffix shifts by; 0 for none.
inline unsigned suffix_shift(char c) {
  switch (c) {
    case 'k':
    case 'K':
      return 10;
    case 'm':
    case 'M':
      return 20;
    case 'g':
    case 'G':
      return 30;
    default:
      return 0;
  }
}

}  // namespace detail

// "64K", "1G", "4097": bytes with the largest suffix that divides them
// exactly, as a size is written in the configuration.
inline std::string size_string(uint64_t bytes) {
  static constexpr struct {
    unsigned shift;
    char suffix;
  } kUnits[] = {{30, 'G'}, {20, 'M'}, {10, 'K'}};
  if (bytes != 0)
    for (const auto& u : kUnits)
      if (bytes % (uint64_t(1) << u.shift) == 0) return std::to_string(bytes >> u.shift) + u.suffix;
  return std::to_string(bytes);
}

inline bool parse_number(std::string_view text, uint64_t min, uint64_t max, uint64_t& out,
                         std::string& error) {
  if (!detail::all_digits(text)) {
    error = detail::quoted(text) + " is not a number";
    return false;
  }
  uint64_t v = 0;
  if (!detail::to_u64(text, v) || v < min || v > max) {
    error = detail::quoted(text) + " is out of range (" + std::to_string(min) + "-" +
            std::to_string(max) + ")";
    return false;
  }
  out = v;
  return true;
}

inline bool parse_size(std::string_view text, uint64_t min, uint64_t max, uint64_t& out,
                       std::string& error) {
  std::string_view digits = text;
  const unsigned shift = text.empty() ? 0 : detail::suffix_shift(text.back());
  if (shift) digits.remove_suffix(1);
  if (!detail::all_digits(digits)) {
    error = detail::quoted(text) + " is not a size (bytes, optionally with K, M or G)";
    return false;
  }
  uint64_t v = 0;
  const bool fits = detail::to_u64(digits, v) && v <= (UINT64_MAX >> shift);
  if (!fits || (v << shift) < min || (v << shift) > max) {
    error = detail::quoted(text) + " is out of range (" + size_string(min) + "-" +
            size_string(max) + ")";
    return false;
  }
  out = v << shift;
  return true;
}

}  // namespace config_values
