#include "syslog_format.h"

#include <sys/time.h>
#include <time.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace syslogmod {
namespace {

constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Written by hand and with to_chars, not snprintf: snprintf was half the
// cost of a header when headers were made per line.
void append_number(std::string& out, long v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

// "00" to "99": numbers are written two digits at a time (a time stamp's
// microseconds, a frame's length are written for every line).
struct DigitPairs {
  char text[200];
  constexpr DigitPairs() : text() {
    for (int i = 0; i < 100; ++i) {
      text[2 * i] = static_cast<char>('0' + i / 10);
      text[2 * i + 1] = static_cast<char>('0' + i % 10);
    }
  }
  const char* of(unsigned long v) const { return text + 2 * v; }  // v < 100
};
constexpr DigitPairs kPairs;

// `v` (0 <= v < 10^width) in exactly `width` digits at `out`; returns the end.
char* put_fixed(char* out, long v, int width) {
  unsigned long u = static_cast<unsigned long>(v);
  int i = width;
  for (; i >= 2; i -= 2) {
    std::memcpy(out + i - 2, kPairs.of(u % 100), 2);
    u /= 100;
  }
  if (i == 1) out[0] = static_cast<char>('0' + u % 10);
  return out + width;
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

HeaderTemplate header_template(Format f, int priority, std::string_view hostname,
                               std::string_view tag, long pid) {
  HeaderTemplate t;
  append_pri(t.before_stamp, priority);
  t.after_stamp.push_back(' ');
  if (f == Format::Bsd) {
    if (!hostname.empty()) {
      t.after_stamp.append(hostname);
      t.after_stamp.push_back(' ');
    }
    t.after_stamp.append(tag);
    t.after_stamp.push_back('[');
    append_number(t.after_stamp, pid);
    t.after_stamp.append("]: ");
    return t;
  }
  t.before_stamp.append("1 ");
  t.after_stamp.append(hostname.empty() ? std::string_view("-") : hostname);
  t.after_stamp.push_back(' ');
  t.after_stamp.append(tag.empty() ? std::string_view("-") : tag);
  t.after_stamp.push_back(' ');
  append_number(t.after_stamp, pid);
  // No MSGID, no STRUCTURED-DATA.
  t.after_stamp.append(" - -");
  t.before_msg = " ";
  return t;
}

size_t write_stamp(Format f, const LocalTime& t, char* out) {
  char* at = out;
  if (f == Format::Bsd) {
    // Mmm dd hh:mm:ss; syslog(3) uses strftime's %e: the day padded with a
    // space.
    const char* month = kMonths[(t.month >= 1 && t.month <= 12) ? t.month - 1 : 0];
    at = std::copy(month, month + 3, at);
    *at++ = ' ';
    *at++ = t.day >= 10 ? static_cast<char>('0' + (t.day / 10) % 10) : ' ';
    *at++ = static_cast<char>('0' + t.day % 10);
    *at++ = ' ';
    at = put_fixed(at, t.hour % 100, 2);
    *at++ = ':';
    at = put_fixed(at, t.minute % 100, 2);
    *at++ = ':';
    at = put_fixed(at, t.second % 100, 2);
    return static_cast<size_t>(at - out);
  }
  // 2026-12-02T13:05:59.123456+01:00: each field, then what follows it.
  long off = t.utc_offset;
  char sign = off < 0 ? '-' : '+';
  if (off < 0) off = -off;
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
  for (const Field& field : stamp) {
    at = put_fixed(at, field.value, field.width);
    if (field.then) *at++ = field.then;
  }
  return static_cast<size_t>(at - out);
}

size_t write_stamp_at(Format f, int64_t sec, int usec, char* out, LocalTime& t) {
  // Plain data only: a thread_local with a destructor would pin this DSO.
  // It holds the breakdown too: one thread_local looked up per line, not two.
  struct Cache {
    int64_t sec;
    bool valid[2];
    size_t len[2];
    char text[2][kMaxStamp];
    LocalTime lt;
  };
  static thread_local Cache cache{};
  if (cache.sec != sec || (!cache.valid[0] && !cache.valid[1])) {
    cache.sec = sec;
    cache.valid[0] = cache.valid[1] = false;
    cache.lt = local_time(sec, 0);
  }
  t = cache.lt;
  t.usec = usec;
  const int k = f == Format::Bsd ? 0 : 1;
  if (!cache.valid[k]) {
    cache.len[k] = write_stamp(f, t, cache.text[k]);
    cache.valid[k] = true;
  }
  std::memcpy(out, cache.text[k], cache.len[k]);
  // rfc5424: the microseconds follow "YYYY-MM-DDThh:mm:ss.", 20 bytes.
  if (f == Format::Rfc5424) {
    const unsigned u = static_cast<unsigned>(usec) % 1000000u, rest = u % 10000u;
    std::memcpy(out + 20, kPairs.of(u / 10000u), 2);
    std::memcpy(out + 22, kPairs.of(rest / 100u), 2);
    std::memcpy(out + 24, kPairs.of(rest % 100u), 2);
  }
  return cache.len[k];
}

size_t write_stamp_now(Format f, char* out, LocalTime& t) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return write_stamp_at(f, ts.tv_sec, static_cast<int>(ts.tv_nsec / 1000), out, t);
}

bool encode(Format f, const HeaderTemplate& head, const LocalTime& t, std::string_view msg,
            size_t max_len, std::string& out) {
  size_t start = out.size();
  char stamp[kMaxStamp];
  size_t stamp_len = write_stamp(f, t, stamp);
  out.reserve(start + head.before_stamp.size() + stamp_len + head.after_stamp.size() +
              head.before_msg.size() + msg.size());
  out.append(head.before_stamp);
  out.append(stamp, stamp_len);
  out.append(head.after_stamp);
  if (msg.empty()) return false;
  out.append(head.before_msg);
  return append_cut(out, start, msg, max_len);
}

bool encode(Format f, const Header& h, std::string_view msg, size_t max_len, std::string& out) {
  return encode(f, header_template(f, h.priority, h.hostname, h.tag, h.pid), h.time, msg, max_len,
                out);
}

bool encode_bsd(const Header& h, std::string_view msg, size_t max_len, std::string& out) {
  return encode(Format::Bsd, h, msg, max_len, out);
}

bool encode_rfc5424(const Header& h, std::string_view msg, size_t max_len, std::string& out) {
  return encode(Format::Rfc5424, h, msg, max_len, out);
}

char* frame_octet_counted(std::string_view msg, char* out) {
  // The length and its space, written backwards into a scratch buffer.
  char head[24];
  char* const end = head + sizeof head;
  char* p = end;
  *--p = ' ';
  size_t n = msg.size();
  for (; n >= 100; n /= 100) {
    p -= 2;
    std::memcpy(p, kPairs.of(n % 100), 2);
  }
  if (n >= 10) {
    p -= 2;
    std::memcpy(p, kPairs.of(n), 2);
  } else {
    *--p = static_cast<char>('0' + n);
  }
  const size_t head_len = static_cast<size_t>(end - p);
  std::memcpy(out, p, head_len);
  if (!msg.empty()) std::memcpy(out + head_len, msg.data(), msg.size());
  return out + head_len + msg.size();
}

char* frame_nul_terminated(std::string_view msg, char* out) {
  if (!msg.empty()) std::memcpy(out, msg.data(), msg.size());
  out[msg.size()] = '\0';
  return out + msg.size() + 1;
}

char* frame_lf_terminated(std::string_view msg, char* out) {
  for (char c : msg) *out++ = c == '\n' ? ' ' : c;
  *out++ = '\n';
  return out;
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
