// The bytes of one syslog message, and how it is framed on a stream.
//
// bsd      what glibc's syslog(3) writes to /dev/log:
//            <PRI>Mmm dd hh:mm:ss TAG[PID]: MSG
//          and, for network targets, the RFC 3164 form with the HOSTNAME
//          field after the timestamp.
// rfc5424  <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID - - MSG
//          with TIMESTAMP = YYYY-MM-DDThh:mm:ss.uuuuuu+hh:mm (local zone).
//
// A message longer than the limit loses the end of MSG (never its header) and
// is never split into two records. Pure: no httpd headers, no clock reads
// except local_time(); tests pass in a fixed time, host name and pid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace syslogmod {

enum class Format { Bsd, Rfc5424 };

const char* format_name(Format f);
// "bsd" or "rfc5424", case-insensitive.
bool parse_format(std::string_view word, Format& out);

// A wall-clock instant broken down in the local time zone.
struct LocalTime {
  int year = 1970;
  int month = 1;  // 1..12
  int day = 1;    // 1..31
  int hour = 0;
  int minute = 0;
  int second = 0;
  int usec = 0;
  long utc_offset = 0;  // seconds east of UTC
};

// Breaks `sec`.`usec` down in the local zone. Cached per thread for the
// current second, since localtime_r takes a process-wide lock.
LocalTime local_time(int64_t sec, int usec);
// The current time, broken down.
LocalTime local_time_now();

struct Header {
  int priority = 0;  // facility * 8 + severity
  LocalTime time;
  // bsd: empty gives the local form (no HOSTNAME), as syslog(3) writes it.
  // rfc5424: empty becomes the NILVALUE "-".
  std::string_view hostname;
  std::string_view tag;
  long pid = 0;
};

// What a header holds that stays the same for every line of one log in one
// process: all but the time stamp. Made once per log at child start, so that
// a line costs a time stamp and the copy of its parts.
//   bsd      "<PRI>" STAMP " [HOSTNAME ]TAG[PID]: " MSG
//   rfc5424  "<PRI>1 " STAMP " HOSTNAME APP-NAME PROCID - -" [" " MSG]
struct HeaderTemplate {
  std::string before_stamp;
  std::string after_stamp;
  std::string before_msg;  // only when there is a MSG
};
HeaderTemplate header_template(Format f, int priority, std::string_view hostname,
                               std::string_view tag, long pid);

// The time stamp of format `f`, written to `out` (kMaxStamp bytes at least);
// returns its length.
constexpr size_t kMaxStamp = 40;
size_t write_stamp(Format f, const LocalTime& t, char* out);
// The same for `sec`.`usec` (local_time() of it goes to `t`), with what
// changes once a second formatted once a second per thread: the request
// path's stamp.
size_t write_stamp_at(Format f, int64_t sec, int usec, char* out, LocalTime& t);
// write_stamp_at() for the current time.
size_t write_stamp_now(Format f, char* out, LocalTime& t);

// Appends the encoded message to `out`. The whole message is at most
// `max_len` bytes: MSG is cut when needed (at a UTF-8 character boundary when
// MSG is UTF-8 there). Returns true when MSG was cut.
bool encode_bsd(const Header& h, std::string_view msg, size_t max_len, std::string& out);
bool encode_rfc5424(const Header& h, std::string_view msg, size_t max_len, std::string& out);
bool encode(Format f, const Header& h, std::string_view msg, size_t max_len, std::string& out);
bool encode(Format f, const HeaderTemplate& head, const LocalTime& t, std::string_view msg,
            size_t max_len, std::string& out);

// How many bytes of `msg` fit in `room` bytes without splitting a UTF-8
// multi-byte sequence (bytes that are not UTF-8 are cut at `room` exactly).
size_t cut_length(std::string_view msg, size_t room);

// Each framing writes `msg` framed at `out`, which has room for
// framed_size(msg) bytes, and returns the end of what it wrote.
constexpr size_t kMaxFraming = 21;  // "LEN SP" of the longest length
inline size_t framed_size(std::string_view msg) { return msg.size() + kMaxFraming; }
// RFC 6587 section 3.4.1, octet counting: "LEN SP MSG".
char* frame_octet_counted(std::string_view msg, char* out);
// What syslog(3) writes to a unix stream socket: MSG followed by a NUL.
char* frame_nul_terminated(std::string_view msg, char* out);
// RFC 6587 section 3.4.2, non-transparent framing: MSG followed by LF. An
// LF inside MSG would end the record early (and let the rest pose as a
// record of its own), so it goes as a space.
char* frame_lf_terminated(std::string_view msg, char* out);
// `msg` framed by `frame`, appended to `out`.
inline void append_framed(char* (*frame)(std::string_view, char*), std::string_view msg,
                          std::string& out) {
  const size_t at = out.size();
  out.resize(at + framed_size(msg));
  out.resize(static_cast<size_t>(frame(msg, &out[at]) - out.data()));
}

// A host name usable in either header: printable ASCII without spaces, at
// most 255 bytes; "-" when nothing is left.
std::string header_hostname(std::string_view name);

}  // namespace syslogmod
