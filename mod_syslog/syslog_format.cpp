#include "syslog_format.h"

#include <sys/time.h>
#include <time.h>

#include <cctype>
#include <charconv>
#include <cstdio>

namespace syslogmod {
namespace {

constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void append_2digits(std::string& out, int v) {
  out.push_back(static_cast<char>('0' + (v / 10) % 10));
  out.push_back(static_cast<char>('0' + v % 10));
}

// Written by hand and with to_chars, not snprintf: the header is made on
// the request thread for every line, and snprintf was half its cost.
void append_number(std::string& out, long v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

// `v` (0 <= v < 10^width) in exactly `width` digits.
void append_fixed(std::string& out, long v, int width) {
  char buf[8];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out.append(buf, static_cast<size_t>(width));
}

// "<PRI>", shared by both formats.
void append_pri(std::string& out, int priority) {
  out.push_back('<');
  append_number(out, priority);
  out.push_back('>');
}

// Appends as much of `msg` as fits so that out.size() - start <= max_len.
bool append_cut(std::string& out, size_t start, std::string_view msg, size_t max_len) {
  size_t used = out.size() - start;
  size_t room = used < max_len ? max_len - used : 0;
  size_t n = cut_length(msg, room);
  out.append(msg.data(), n);
  return n < msg.size();
}

}  // namespace

const char* format_name(Format f) { return f == Format::Bsd ? "bsd" : "rfc5424"; }

bool parse_format(std::string_view word, Format& out) {
  auto is = [&](std::string_view name) {
    if (word.size() != name.size()) return false;
    for (size_t i = 0; i < word.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(word[i])) != name[i]) return false;
    return true;
  };
  if (is("bsd")) {
    out = Format::Bsd;
    return true;
  }
  if (is("rfc5424")) {
    out = Format::Rfc5424;
    return true;
  }
  return false;
}

LocalTime local_time(int64_t sec, int usec) {
  // Plain data only: a thread_local with a destructor would pin this DSO.
  struct Cache {
    int64_t sec;
    bool valid;
    LocalTime lt;
  };
  static thread_local Cache cache{0, false, {}};
  if (!cache.valid || cache.sec != sec) {
    time_t t = static_cast<time_t>(sec);
    struct tm tm {};
    localtime_r(&t, &tm);
    cache.lt.year = tm.tm_year + 1900;
    cache.lt.month = tm.tm_mon + 1;
    cache.lt.day = tm.tm_mday;
    cache.lt.hour = tm.tm_hour;
    cache.lt.minute = tm.tm_min;
    cache.lt.second = tm.tm_sec;
    cache.lt.utc_offset = tm.tm_gmtoff;
    cache.sec = sec;
    cache.valid = true;
  }
  LocalTime lt = cache.lt;
  lt.usec = usec;
  return lt;
}

LocalTime local_time_now() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return local_time(ts.tv_sec, static_cast<int>(ts.tv_nsec / 1000));
}

size_t cut_length(std::string_view msg, size_t room) {
  if (msg.size() <= room) return msg.size();
  auto byte = [&](size_t i) { return static_cast<unsigned char>(msg[i]); };
  // msg[room] is the first byte left out. If it continues a sequence whose
  // lead byte is kept, leave out the lead byte as well.
  size_t lead = room;
  int steps = 0;
  while (lead > 0 && steps < 3 && (byte(lead) & 0xC0) == 0x80) {
    --lead;
    ++steps;
  }
  if (steps == 0 || byte(lead) < 0xC0) return room;
  unsigned char b = byte(lead);
  size_t seq = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
  return lead + seq > room ? lead : room;
}

bool encode_bsd(const Header& h, std::string_view msg, size_t max_len, std::string& out) {
  size_t start = out.size();
  out.reserve(start + 40 + h.hostname.size() + h.tag.size() + msg.size());
  append_pri(out, h.priority);
  const LocalTime& t = h.time;
  out.append(kMonths[(t.month >= 1 && t.month <= 12) ? t.month - 1 : 0]);
  out.push_back(' ');
  // syslog(3) uses strftime's %e: the day padded with a space.
  out.push_back(t.day >= 10 ? static_cast<char>('0' + t.day / 10) : ' ');
  out.push_back(static_cast<char>('0' + t.day % 10));
  out.push_back(' ');
  append_2digits(out, t.hour);
  out.push_back(':');
  append_2digits(out, t.minute);
  out.push_back(':');
  append_2digits(out, t.second);
  out.push_back(' ');
  if (!h.hostname.empty()) {
    out.append(h.hostname);
    out.push_back(' ');
  }
  out.append(h.tag);
  out.push_back('[');
  append_number(out, h.pid);
  out.append("]: ");
  return append_cut(out, start, msg, max_len);
}

bool encode_rfc5424(const Header& h, std::string_view msg, size_t max_len, std::string& out) {
  size_t start = out.size();
  out.reserve(start + 64 + h.hostname.size() + h.tag.size() + msg.size());
  append_pri(out, h.priority);
  out.append("1 ");
  const LocalTime& t = h.time;
  long off = t.utc_offset;
  char sign = off < 0 ? '-' : '+';
  if (off < 0) off = -off;
  // 2026-12-02T13:05:59.123456+01:00: each field, then what follows it.
  struct Field {
    long value;
    int width;
    char then;
  };
  const Field stamp[] = {
      {t.year % 10000, 4, '-'},    {t.month % 100, 2, '-'},      {t.day % 100, 2, 'T'},
      {t.hour % 100, 2, ':'},      {t.minute % 100, 2, ':'},     {t.second % 100, 2, '.'},
      {t.usec % 1000000, 6, sign}, {(off / 3600) % 100, 2, ':'}, {(off % 3600) / 60, 2, '\0'},
  };
  for (const Field& f : stamp) {
    append_fixed(out, f.value, f.width);
    if (f.then) out.push_back(f.then);
  }
  out.push_back(' ');
  out.append(h.hostname.empty() ? std::string_view("-") : h.hostname);
  out.push_back(' ');
  out.append(h.tag.empty() ? std::string_view("-") : h.tag);
  out.push_back(' ');
  append_number(out, h.pid);
  // No MSGID, no STRUCTURED-DATA.
  out.append(" - -");
  if (msg.empty()) return false;
  out.push_back(' ');
  return append_cut(out, start, msg, max_len);
}

bool encode(Format f, const Header& h, std::string_view msg, size_t max_len, std::string& out) {
  return f == Format::Bsd ? encode_bsd(h, msg, max_len, out) : encode_rfc5424(h, msg, max_len, out);
}

void frame_octet_counted(std::string_view msg, std::string& out) {
  append_number(out, static_cast<long>(msg.size()));
  out.push_back(' ');
  out.append(msg);
}

void frame_nul_terminated(std::string_view msg, std::string& out) {
  out.append(msg);
  out.push_back('\0');
}

void frame_lf_terminated(std::string_view msg, std::string& out) {
  size_t start = out.size();
  out.append(msg);
  for (size_t i = start; i < out.size(); ++i)
    if (out[i] == '\n') out[i] = ' ';
  out.push_back('\n');
}

std::string header_hostname(std::string_view name) {
  std::string out;
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 33 || u > 126) break;  // a space or worse ends the name
    if (out.size() == 255) break;
    out.push_back(c);
  }
  return out.empty() ? "-" : out;
}

}  // namespace syslogmod
