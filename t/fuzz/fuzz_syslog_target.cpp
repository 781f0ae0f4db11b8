// libFuzzer target for what mod_syslog reads from the operator and from
// clients: CustomLog "syslog:..." targets, SyslogIdent tags, SyslogFormat
// words, and the encoding of log lines (whose bytes come from requests).
//
// The first input byte picks what the rest is fed to. Beyond "no crash, no
// sanitizer report" it checks: an accepted target has a valid facility,
// severity, tag and port and its endpoint() parses back to the same place; a
// message never exceeds max_len; a cut never splits a UTF-8 character.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "syslog_format.h"
#include "syslog_target.h"

namespace {

void fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "property violated: %s: %.*s\n", what, int(detail.size()), detail.data());
  std::abort();
}

void check_target(std::string_view text) {
  syslogmod::SyslogTarget t;
  std::string error;
  if (!syslogmod::parse_target(text, t, error)) {
    if (error.empty()) fail("rejected without a reason", text);
    return;
  }
  if (syslogmod::facility_name(t.facility) == nullptr) fail("facility", text);
  if (syslogmod::severity_name(t.severity) == nullptr) fail("severity", text);
  std::string tag_error;
  if (!t.tag.empty() && !syslogmod::check_tag(t.tag, tag_error)) fail("tag", text);
  if (t.transport != syslogmod::Transport::Unix && (t.port == 0 || t.host.empty())) {
    fail("host or port", text);
  }
  // The endpoint, put back into a target, names the same place.
  std::string again = std::string("syslog:local0@") + t.endpoint();
  syslogmod::SyslogTarget u;
  if (!syslogmod::parse_target(again, u, error)) fail("endpoint does not parse", again);
  if (u.transport != t.transport || u.host != t.host || u.port != t.port || u.path != t.path) {
    fail("endpoint round trip", again);
  }
}

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

void check_encoding(std::string_view input) {
  if (input.size() < 2) return;
  // SyslogMaxLength is at least 480, which leaves room for any header.
  size_t max_len = 480 + static_cast<unsigned char>(input[0]) * 16;
  std::string_view msg = input.substr(1);
  syslogmod::Header h;
  h.priority = 8 * 22 + 6;
  h.hostname = "web1";
  h.tag = "apache2";
  h.pid = 1234;
  for (syslogmod::Format f : {syslogmod::Format::Bsd, syslogmod::Format::Rfc5424}) {
    std::string out;
    syslogmod::encode(f, h, msg, max_len, out);
    if (out.size() > max_len) fail("message longer than max_len", out);
  }
  size_t room = static_cast<unsigned char>(input[0]) % (msg.size() + 1);
  size_t cut = syslogmod::cut_length(msg, room);
  if (cut > room) fail("cut past the room", msg);
  if (cut < room) {
    // Cut short of the room only to keep a UTF-8 sequence whole: at its lead
    // byte, with the byte after the room continuing it.
    if (static_cast<unsigned char>(msg[cut]) < 0xC0) fail("cut short, not at a lead byte", msg);
    if (!is_continuation(static_cast<unsigned char>(msg[room]))) fail("cut short", msg);
  }
  std::string framed;
  syslogmod::append_framed(syslogmod::frame_octet_counted, msg, framed);
  if (framed.compare(framed.size() - msg.size(), msg.size(), msg) != 0) fail("framing", msg);
  std::string host = syslogmod::header_hostname(msg);
  if (host.empty() || host.size() > 255) fail("host name", host);
  for (char c : host) {
    if (c <= ' ' || c > '~') fail("host name byte", host);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 4096) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      check_target(text);
      break;
    case 1: {
      // Operators write "syslog:" first; also feed it without the prefix.
      check_target(std::string("syslog:") + std::string(text));
      break;
    }
    case 2: {
      std::string error;
      syslogmod::check_tag(text, error);
      syslogmod::Format f;
      syslogmod::parse_format(text, f);
      syslogmod::facility_code(text);
      syslogmod::severity_code(text);
      break;
    }
    default:
      check_encoding(text);
      break;
  }
  return 0;
}
