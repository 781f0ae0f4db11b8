#include "exit_log.h"

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

namespace delivery {
namespace {

const char* const kLevels[] = {"emerg", "alert",  "crit", "error",
                               "warn",  "notice", "info", "debug"};
const char* const kDays[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};  // from 1970-01-01
const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Appends to a fixed buffer, never past its end.
struct Out {
  char* p;
  char* end;
  void put(const char* s, size_t n) {
    size_t room = static_cast<size_t>(end - p);
    if (n > room) n = room;
    std::memcpy(p, s, n);
    p += n;
  }
  void put(const char* s) { put(s, std::strlen(s)); }
  // `v` in decimal, left-padded with zeros to `width` digits.
  void num(long long v, int width) {
    char digits[24];
    int n = 0;
    bool negative = v < 0;
    unsigned long long u = negative ? 0ULL - static_cast<unsigned long long>(v) : v;
    do {
      digits[n++] = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u && n < 20);
    while (n < width && n < 20) digits[n++] = '0';
    if (negative) put("-", 1);
    while (n) put(&digits[--n], 1);
  }
};

// Days since 1970-01-01 to a civil date (proleptic Gregorian).
void civil_from_days(long long z, long long& y, unsigned& m, unsigned& d) {
  z += 719468;
  const long long era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<long long>(yoe) + era * 400 + (m <= 2);
}

}  // namespace

void ExitLog::open(int fd, const char* module, long utc_offset, int max_level) {
  fd_ = fd;
  module_ = module;
  utc_offset_ = utc_offset;
  max_level_ = max_level;
}

size_t ExitLog::format(char* buf, size_t size, long long unix_us, int level, const char* text,
                       size_t text_len, long pid, long tid) const {
  Out o{buf, buf + size};
  long long local_us = unix_us + static_cast<long long>(utc_offset_) * 1000000;
  long long secs = local_us >= 0 ? local_us / 1000000 : (local_us - 999999) / 1000000;
  long long micros = local_us - secs * 1000000;
  long long days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  long long in_day = secs - days * 86400;
  long long y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  // [Wed Dec 02 00:27:04.710777 2026] [syslog:error] [pid 1:tid 2] text
  o.put("[");
  o.put(kDays[((days % 7) + 7) % 7]);
  o.put(" ");
  o.put(kMonths[m - 1]);
  o.put(" ");
  o.num(d, 2);
  o.put(" ");
  o.num(in_day / 3600, 2);
  o.put(":");
  o.num(in_day / 60 % 60, 2);
  o.put(":");
  o.num(in_day % 60, 2);
  o.put(".");
  o.num(micros, 6);
  o.put(" ");
  o.num(y, 4);
  o.put("] [");
  o.put(module_);
  o.put(":");
  o.put(kLevels[level < 0 ? 0 : level > 7 ? 7 : level]);
  o.put("] [pid ");
  o.num(pid, 1);
  o.put(":tid ");
  o.num(tid, 1);
  o.put("] ");
  o.put(text, text_len);
  o.put("\n", 1);
  if (o.p == o.end && size > 0) o.p[-1] = '\n';  // cut short: still one line
  return static_cast<size_t>(o.p - buf);
}

void ExitLog::write(int level, const char* text, size_t len) const {
  if (fd_ < 0 || level > max_level_) return;
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char buf[2048];
  size_t n =
      format(buf, sizeof buf, static_cast<long long>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000,
             level, text, len, static_cast<long>(getpid()), static_cast<long>(syscall(SYS_gettid)));
  ssize_t rc = ::write(fd_, buf, n);
  (void)rc;
}

void ExitLog::write_count(int level, const char* before, unsigned long long n,
                          const char* after) const {
  char text[512];
  Out o{text, text + sizeof text};
  o.put(before);
  o.num(static_cast<long long>(n), 1);
  o.put(after);
  write(level, text, static_cast<size_t>(o.p - text));
}

}  // namespace delivery
