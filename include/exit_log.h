// Error-log lines written without taking any lock: what a sender thread uses
// to report while a prefork child stops.
//
// Prefork runs the stop inside its SIGTERM handler, and the request thread it
// interrupted may hold glibc's time-zone lock (localtime_r) or the syslog(3)
// lock, both of which ap_log_error() may take. A sender reporting through it
// then would wait for a thread that never runs again. ExitLog formats the
// line itself, in httpd's default ErrorLogFormat, with the UTC offset taken
// when the child started, and writes it with one write(2) to the error log's
// descriptor. Glue-free: the glue hands it the descriptor and the levels.
// It writes no message of its own: the text it is given starts with its
// message ID (MESSAGES.md), as any other report does; for write_count() that
// is `before`, a literal, so nothing is allocated.
#pragma once

#include <string>

namespace delivery {

class ExitLog {
 public:
  // `fd`: the main server's error log; `module`: the tag ("syslog");
  // `utc_offset`: local time minus UTC in seconds, now; `max_level`: the
  // most verbose APLOG level the server logs (APLOG_ERR is 3, APLOG_DEBUG 7).
  void open(int fd, const char* module, long utc_offset, int max_level);
  bool usable() const { return fd_ >= 0; }
  // Drops what `max_level` filters out. No allocation, no lock.
  void write(int level, const std::string& text) const { write(level, text.data(), text.size()); }
  void write(int level, const char* text, size_t len) const;
  // `before` N `after`, for callers that may not allocate (a signal handler).
  void write_count(int level, const char* before, unsigned long long n, const char* after) const;
  // The line as write() would send it, `unix_us` microseconds after the epoch
  // (for tests). Returns its length; `buf` is not NUL-terminated.
  size_t format(char* buf, size_t size, long long unix_us, int level, const char* text,
                size_t text_len, long pid, long tid) const;

 private:
  int fd_ = -1;
  const char* module_ = "";
  long utc_offset_ = 0;
  int max_level_ = 7;
};

}  // namespace delivery
