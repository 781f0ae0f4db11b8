// Unit tests of mod_syslog's httpd-free core: the target parser, the bsd and
// rfc5424 encoders, framing, truncation, drop reports, and the transports
// against real sockets made here.
#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "delivery.h"
#include "drop_ledger.h"
#include "syslog_format.h"
#include "syslog_target.h"
#include "syslog_transport.h"
#include "target_definition.h"

using namespace syslogmod;
using delivery::DropLedger;
using std::string;

namespace {

// ---- fixture: one APR pool per test ----

apr_pool_t* pool = nullptr;

void setup_pool() { ck_assert_int_eq(apr_pool_create(&pool, nullptr), APR_SUCCESS); }
void teardown_pool() {
  apr_pool_destroy(pool);
  pool = nullptr;
}

// A fresh path for a socket under the temp dir, unique to this test.
string temp_socket_path(const char* name) {
  const char* tmp = nullptr;
  ck_assert_int_eq(apr_temp_dir_get(&tmp, pool), APR_SUCCESS);
  char* dir = apr_psprintf(pool, "%s/test_syslog.%ld.XXXXXX", tmp, static_cast<long>(getpid()));
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char* path = apr_psprintf(pool, "%s/%s", dir, name);
  // Gone with the test's pool.
  apr_pool_cleanup_register(
      pool, path,
      [](void* p) -> apr_status_t {
        const char* file = static_cast<const char*>(p);
        unlink(file);
        string d(file);
        rmdir(d.substr(0, d.rfind('/')).c_str());
        return APR_SUCCESS;
      },
      apr_pool_cleanup_null);
  return string(path);
}

string printable(const string& s) {
  string out;
  for (unsigned char c : s) {
    if (c >= 32 && c < 127) {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

#define ck_assert_bytes(got, want)                                                  \
  ck_assert_msg((got) == (want), "got \"%s\"\nwant \"%s\"", printable(got).c_str(), \
                printable(want).c_str())

// ---- target parser ----

struct Accepted {
  const char* spec;
  int facility, severity;
  const char* tag;
  Transport transport;
  const char* path_or_host;
  int port;
};

const Accepted kAccepted[] = {
    {"syslog:", 22, 6, "", Transport::Unix, "/dev/log", 0},
    {"SYSLOG:", 22, 6, "", Transport::Unix, "/dev/log", 0},
    {"Syslog:local0", 16, 6, "", Transport::Unix, "/dev/log", 0},
    {"syslog:LOCAL0.ERR", 16, 3, "", Transport::Unix, "/dev/log", 0},
    {"syslog:daemon.warning:myapp", 3, 4, "myapp", Transport::Unix, "/dev/log", 0},
    {"syslog:local1:web-front_2.x", 17, 6, "web-front_2.x", Transport::Unix, "/dev/log", 0},
    {"syslog::tag", 22, 6, "tag", Transport::Unix, "/dev/log", 0},
    {"syslog:@udp://127.0.0.1", 22, 6, "", Transport::Udp, "127.0.0.1", 514},
    {"syslog:local2@udp://127.0.0.1:5514", 18, 6, "", Transport::Udp, "127.0.0.1", 5514},
    {"syslog:local2.info:t@tcp://log.example.com:601", 18, 6, "t", Transport::Tcp,
     "log.example.com", 601},
    {"syslog:user@tcp://[::1]:1514", 1, 6, "", Transport::Tcp, "::1", 1514},
    {"syslog:user@tcp://[::1]", 1, 6, "", Transport::Tcp, "::1", 514},
    {"syslog:user@udp://[fe80::1%eth0]:515", 1, 6, "", Transport::Udp, "fe80::1%eth0", 515},
    {"syslog:user@tcp://[::ffff:127.0.0.1]:514", 1, 6, "", Transport::Tcp, "::ffff:127.0.0.1", 514},
    {"syslog:local6@unix:/run/rsyslog/custom.sock", 22, 6, "", Transport::Unix,
     "/run/rsyslog/custom.sock", 0},
    {"syslog:local6@UNIX:/dev/log", 22, 6, "", Transport::Unix, "/dev/log", 0},
    {"syslog:local0@unix:/path:with:colons", 16, 6, "", Transport::Unix, "/path:with:colons", 0},
    {"syslog:local6@TCP://Host-1.example", 22, 6, "", Transport::Tcp, "Host-1.example", 514},
    {"syslog:mail.crit@udp://host:00514", 2, 2, "", Transport::Udp, "host", 514},
    {"syslog:local6@udp://host:65535", 22, 6, "", Transport::Udp, "host", 65535},
    {"syslog:local6@udp://host:1", 22, 6, "", Transport::Udp, "host", 1},
    {"syslog:authpriv.debug:a.b/c@tcp://10.0.0.1", 10, 7, "a.b/c", Transport::Tcp, "10.0.0.1", 514},
    {"syslog:ftp:abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuv", 11, 6,
     "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuv", Transport::Unix, "/dev/log", 0},
};

START_TEST(target_accepted) {
  const Accepted& a = kAccepted[_i];
  SyslogTarget t;
  string error;
  ck_assert_msg(parse_target(a.spec, t, error), "%s rejected: %s", a.spec, error.c_str());
  ck_assert_int_eq(t.facility, a.facility);
  ck_assert_int_eq(t.severity, a.severity);
  ck_assert_str_eq(t.tag.c_str(), a.tag);
  ck_assert_int_eq(static_cast<int>(t.transport), static_cast<int>(a.transport));
  if (a.transport == Transport::Unix) {
    ck_assert_str_eq(t.path.c_str(), a.path_or_host);
  } else {
    ck_assert_str_eq(t.host.c_str(), a.path_or_host);
    ck_assert_int_eq(t.port, a.port);
  }
}
END_TEST

struct Rejected {
  const char* spec;
  const char* error;  // a substring of the message; it quotes the bad word
};

const Rejected kRejected[] = {
    {"syslog", "'syslog' does not start with 'syslog:'"},
    {"sys:local0", "does not start with 'syslog:'"},
    {"syslog:foo", "unknown facility 'foo' (expected kern, user"},
    {"syslog:local8", "unknown facility 'local8'"},
    {"syslog:local0 ", "unknown facility 'local0 '"},
    {"syslog:local0.loud", "unknown level 'loud' (expected emerg"},
    {"syslog:local0.warnings", "unknown level 'warnings'"},
    {"syslog:local0.info.x", "unknown level 'info.x'"},
    {"syslog:local0.", "missing level after 'local0.'"},
    {"syslog:.info", "missing facility before '.info'"},
    {"syslog:local0:", "empty tag after ':'"},
    {"syslog:local0:my tag", "tag 'my tag' contains a space"},
    {"syslog:local0:a[1]", "tag 'a[1]' contains '['"},
    {"syslog:local0:a:b", "tag 'a:b' contains ':'"},
    {"syslog:local0:t\x01", "contains a control or non-ASCII byte"},
    {"syslog:local0:t\xc3\xa9", "contains a control or non-ASCII byte"},
    {"syslog:local0:abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvw", "longer than 48 bytes"},
    {"syslog:local0@", "missing target after '@'"},
    {"syslog:local0:tag@", "missing target after '@'"},
    {"syslog:local0@http://x", "malformed target 'http://x' (expected unix:/path"},
    {"syslog:local0@/dev/log", "malformed target '/dev/log' (expected the name of a SyslogTarget"},
    {"syslog:local0@relay/2", "may hold only letters, digits"},
    {"syslog:local0@relay name", "malformed target 'relay name'"},
    {"syslog:local0@udp:/host", "malformed target 'udp:/host'"},
    {"syslog:local0@unix:", "missing socket path after 'unix:'"},
    {"syslog:local0@unix:dev/log", "socket path 'dev/log' is not absolute"},
    {"syslog:local0@unix:/"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     "is too long (at most 107 bytes)"},
    {"syslog:local0@udp://", "missing host after 'udp://'"},
    {"syslog:local0@tcp://:514", "missing host before ':514'"},
    {"syslog:local0@udp://host:", "empty port after ':'"},
    {"syslog:local0@udp://host:0", "port '0' out of range (1-65535)"},
    {"syslog:local0@udp://host:65536", "port '65536' out of range"},
    {"syslog:local0@tcp://[::1]:70000", "port '70000' out of range"},
    {"syslog:local0@udp://host:99999999999", "port '99999999999' out of range"},
    {"syslog:local0@udp://host:51a", "port '51a' is not a number"},
    {"syslog:local0@udp://host:-1", "port '-1' is not a number"},
    {"syslog:local0@tcp://host:514/", "port '514/' is not a number"},
    {"syslog:local0@tcp://::1:514", "host '::1:514' has several ':'"},
    {"syslog:local0@tcp://[::1", "unterminated '[' in '[::1'"},
    {"syslog:local0@tcp://[::1]514", "unexpected '514' after '[::1]'"},
    {"syslog:local0@tcp://[nothex]:514", "invalid IPv6 address 'nothex'"},
    {"syslog:local0@tcp://[]:514", "invalid IPv6 address ''"},
    {"syslog:local0@tcp://[127.0.0.1]", "invalid IPv6 address '127.0.0.1'"},
    {"syslog:local0@tcp://bad host", "invalid host name 'bad host'"},
    {"syslog:local0@tcp://h*st:514", "invalid host name 'h*st'"},
};

START_TEST(target_rejected) {
  const Rejected& r = kRejected[_i];
  SyslogTarget t;
  string error;
  ck_assert_msg(!parse_target(r.spec, t, error), "%s accepted", printable(r.spec).c_str());
  ck_assert_msg(error.find(r.error) != string::npos, "%s: error \"%s\" lacks \"%s\"",
                printable(r.spec).c_str(), printable(error).c_str(), r.error);
}
END_TEST

START_TEST(every_facility_and_level_name) {
  const char* facilities[] = {"kern",     "user",   "mail",   "daemon", "auth",
                              "syslog",   "lpr",    "news",   "uucp",   "cron",
                              "authpriv", "ftp",    "local0", "local1", "local2",
                              "local3",   "local4", "local5", "local6", "local7"};
  const int codes[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23};
  const char* levels[] = {"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"};
  for (size_t f = 0; f < sizeof codes / sizeof codes[0]; ++f) {
    for (int l = 0; l < 8; ++l) {
      string spec = string("syslog:") + facilities[f] + "." + levels[l];
      SyslogTarget t;
      string error;
      ck_assert_msg(parse_target(spec, t, error), "%s: %s", spec.c_str(), error.c_str());
      ck_assert_int_eq(t.facility, codes[f]);
      ck_assert_int_eq(t.severity, l);
      ck_assert_int_eq(t.priority(), codes[f] * 8 + l);
      ck_assert_str_eq(facility_name(codes[f]), facilities[f]);
      ck_assert_str_eq(severity_name(l), levels[l]);
    }
  }
  // syslog.conf's aliases; the status page and messages keep the names.
  const std::pair<const char*, int> aliases[] = {{"panic", 0}, {"error", 3}, {"warn", 4}};
  for (const auto& [alias, code] : aliases) {
    SyslogTarget t;
    string error;
    ck_assert(parse_target(string("syslog:local6.") + alias, t, error));
    ck_assert_int_eq(t.severity, code);
  }
  ck_assert_str_eq(severity_name(4), "warning");
}
END_TEST

// "@NAME" names a SyslogTarget: no endpoint is parsed, the selector and
// tag still are.
START_TEST(target_names) {
  SyslogTarget t;
  string error;
  ck_assert_msg(parse_target("syslog:local2.warn:web@relay-1.eu_west", t, error), "%s",
                error.c_str());
  ck_assert_str_eq(t.target_name.c_str(), "relay-1.eu_west");
  ck_assert_int_eq(t.priority(), 18 * 8 + 4);
  ck_assert_str_eq(t.tag.c_str(), "web");
  ck_assert(parse_target("syslog:@unix:/dev/log", t, error));
  ck_assert(t.target_name.empty());
  ck_assert(check_target_name(string(kMaxTargetName, 'n'), error));
  ck_assert(!check_target_name(string(kMaxTargetName + 1, 'n'), error));
  ck_assert_msg(error.find("longer than 64") != string::npos, "%s", error.c_str());
  ck_assert(!check_target_name("", error));
}
END_TEST

struct Definition {
  std::vector<std::string_view> args;
  const char* error;  // nullptr: accepted
};

const Definition kDefinitions[] = {
    {{"relay", "tcp://127.0.0.1:1514"}, nullptr},
    {{"relay", "tcp://127.0.0.1", "format=BSD", "framing=lf", "maxlength=2048", "queuesize=8M"},
     nullptr},
    {{"local", "unix:/dev/log", "FORMAT=rfc5424"}, nullptr},
    {{"relay"}, "expected a name and a URL"},
    {{"re/lay", "tcp://h"}, "may hold only letters"},
    {{"relay", "ftp://h"}, "malformed target 'ftp://h'"},
    {{"relay", "tcp://h", "format"}, "expected key=value, not 'format'"},
    {{"relay", "tcp://h", "=bsd"}, "expected key=value, not '=bsd'"},
    {{"relay", "tcp://h", "format=xml"}, "format=xml: expected bsd or rfc5424"},
    {{"relay", "tcp://h", "framing=nul"}, "framing=nul: expected octet-counted or lf"},
    {{"relay", "udp://h", "framing=lf"}, "framing= applies to tcp:// targets only"},
    {{"relay", "tcp://h", "maxlength=10"}, "maxlength: '10' is out of range (480-1048576)"},
    {{"relay", "tcp://h", "queuesize=4X"}, "queuesize: '4X' is not a size"},
    {{"relay", "tcp://h", "cafile=/x"}, "unknown key 'cafile' (expected format, framing"},
    {{"relay", "tcp://h", "maxlength=65536", "queuesize=64K"}, "must be larger than the longest"},
    {{"secure", "tls://relay.example.net", "ca=/etc/ssl/ca.pem", "name=logs.example.net"}, nullptr},
    {{"secure", "tls://h", "cert=/c.pem", "key=/k.pem"}, nullptr},
    {{"secure", "tls://h", "cert=/c.pem"}, "cert= needs key="},
    {{"secure", "tls://h", "key=/k.pem"}, "key= needs cert="},
    {{"secure", "tls://h", "ca="}, "ca= needs a value"},
    {{"secure", "tcp://h", "ca=/x"}, "ca= applies to tls:// targets only"},
    {{"acked", "relp://h:2514", "window=64", "spool=/var/spool/relp", "spoolsize=2G"}, nullptr},
    {{"acked", "relp://h", "window=1"}, "window: '1' is out of range (2-1024)"},
    {{"acked", "relp://h", "spoolsize=1K"}, "spoolsize: '1K' is out of range"},
    {{"acked", "relp://h", "spool="}, "spool= needs a directory"},
    {{"acked", "tls://h", "window=5"}, "window= applies to relp:// targets only"},
    {{"acked", "relp://h", "framing=lf"}, "framing= applies to tcp:// targets only"},
};

START_TEST(target_definitions) {
  const Definition& d = kDefinitions[_i];
  TargetDefinition def;
  string error;
  bool ok = parse_target_definition(d.args, def, error);
  if (!d.error) {
    ck_assert_msg(ok, "definition %d rejected: %s", _i, error.c_str());
    return;
  }
  ck_assert_msg(!ok, "definition %d accepted", _i);
  ck_assert_msg(error.find(d.error) != string::npos, "definition %d: \"%s\" lacks \"%s\"", _i,
                error.c_str(), d.error);
}
END_TEST

START_TEST(target_definition_keys) {
  TargetDefinition def;
  string error;
  ck_assert(parse_target_definition({"relay", "tcp://[::1]:1514"}, def, error));
  ck_assert_str_eq(def.name.c_str(), "relay");
  string url = def.endpoint.endpoint();
  ck_assert_str_eq(url.c_str(), "tcp://[::1]:1514");
  ck_assert(!def.settings.format && !def.settings.framing);
  ck_assert_uint_eq(def.settings.max_length, 0);
  ck_assert_uint_eq(def.settings.queue_bytes, 0);
  ck_assert(parse_target_definition(
      {"relay", "tcp://h", "format=bsd", "framing=lf", "maxlength=2048", "queuesize=8M"}, def,
      error));
  ck_assert(*def.settings.format == Format::Bsd);
  ck_assert(*def.settings.framing == Framing::Lf);
  ck_assert_uint_eq(def.settings.max_length, 2048);
  ck_assert_uint_eq(def.settings.queue_bytes, 8u << 20);
  ck_assert_str_eq(framing_name(Framing::Lf), "lf");
  ck_assert_str_eq(framing_name(Framing::OctetCounted), "octet-counted");
  // tls://: the name to verify is the URL's host unless name= says.
  ck_assert(parse_target_definition({"s", "tls://relay.example.net", "ca=/ca.pem"}, def, error));
  ck_assert_str_eq(def.settings.tls.peer_name.c_str(), "relay.example.net");
  ck_assert_str_eq(def.settings.tls.ca_file.c_str(), "/ca.pem");
  ck_assert(parse_target_definition({"s", "tls://10.0.0.7", "name=logs.example.net"}, def, error));
  ck_assert_str_eq(def.settings.tls.peer_name.c_str(), "logs.example.net");
  // relp://: its window, its spool.
  ck_assert(parse_target_definition({"r", "relp://h"}, def, error));
  ck_assert_int_eq(def.settings.relp_window, kDefaultRelpWindow);
  ck_assert(def.settings.spool_dir.empty());
  ck_assert(parse_target_definition({"r", "relp://h", "window=7", "spool=/s", "spoolsize=64M"}, def,
                                    error));
  ck_assert_int_eq(def.settings.relp_window, 7);
  ck_assert_str_eq(def.settings.spool_dir.c_str(), "/s");
  ck_assert_uint_eq(def.settings.spool_bytes, 64u << 20);
}
END_TEST

START_TEST(target_endpoint_text) {
  SyslogTarget t;
  string error;
  const std::pair<const char*, const char*> cases[] = {
      {"syslog:", "unix:/dev/log"},
      {"syslog:@udp://127.0.0.1", "udp://127.0.0.1:514"},
      {"syslog:@tcp://[::1]:1514", "tcp://[::1]:1514"},
      {"syslog:@tls://relay.example.net", "tls://relay.example.net:6514"},
      {"syslog:@TLS://[::1]:7000", "tls://[::1]:7000"},
      {"syslog:@relp://relay", "relp://relay:2514"},
  };
  for (auto [spec, want] : cases) {
    ck_assert(parse_target(spec, t, error));
    string got = t.endpoint();
    ck_assert_str_eq(got.c_str(), want);
  }
}
END_TEST

// ---- encoders ----

LocalTime fixed_time(int month, int day, long offset = 0) {
  LocalTime t;
  t.year = 2026;
  t.month = month;
  t.day = day;
  t.hour = 9;
  t.minute = 5;
  t.second = 3;
  t.usec = 42;
  t.utc_offset = offset;
  return t;
}

struct Vector {
  Format format;
  int priority;
  int month, day;
  long offset;
  const char* hostname;
  const char* tag;
  long pid;
  const char* msg;
  const char* want;
};

const Vector kVectors[] = {
    // What syslog(3) writes to /dev/log: no host name, day padded with a space.
    {Format::Bsd, 182, 3, 7, 0, "", "httpd", 4242, "GET / HTTP/1.1",
     "<182>Mar  7 09:05:03 httpd[4242]: GET / HTTP/1.1"},
    {Format::Bsd, 182, 11, 21, 3600, "", "apache2", 7, "x", "<182>Nov 21 09:05:03 apache2[7]: x"},
    {Format::Bsd, 0, 1, 1, 0, "", "t", 1, "", "<0>Jan  1 09:05:03 t[1]: "},
    {Format::Bsd, 191, 12, 31, 0, "", "t", 99999, "a  b\t\"c\"",
     "<191>Dec 31 09:05:03 t[99999]: a  b\t\"c\""},
    // The network form carries the host name.
    {Format::Bsd, 134, 2, 10, 0, "web1", "httpd", 4242, "msg",
     "<134>Feb 10 09:05:03 web1 httpd[4242]: msg"},
    {Format::Rfc5424, 182, 3, 7, 0, "web1", "httpd", 4242, "GET / HTTP/1.1",
     "<182>1 2026-03-07T09:05:03.000042+00:00 web1 httpd 4242 - - GET / HTTP/1.1"},
    {Format::Rfc5424, 14, 3, 7, 5400, "web1.example.org", "httpd", 1, "m",
     "<14>1 2026-03-07T09:05:03.000042+01:30 web1.example.org httpd 1 - - m"},
    {Format::Rfc5424, 14, 3, 7, -18000, "h", "a", 1, "m",
     "<14>1 2026-03-07T09:05:03.000042-05:00 h a 1 - - m"},
    {Format::Rfc5424, 14, 3, 7, -1800, "h", "a", 1, "m",
     "<14>1 2026-03-07T09:05:03.000042-00:30 h a 1 - - m"},
    {Format::Rfc5424, 182, 3, 7, 0, "", "", 4242, "m",
     "<182>1 2026-03-07T09:05:03.000042+00:00 - - 4242 - - m"},
    {Format::Rfc5424, 182, 3, 7, 0, "h", "t", 4242, "",
     "<182>1 2026-03-07T09:05:03.000042+00:00 h t 4242 - -"},
};

START_TEST(encoder_vectors) {
  const Vector& v = kVectors[_i];
  Header h;
  h.priority = v.priority;
  h.time = fixed_time(v.month, v.day, v.offset);
  h.hostname = v.hostname;
  h.tag = v.tag;
  h.pid = v.pid;
  string out = "keep:";  // encoders append
  ck_assert(!encode(v.format, h, v.msg, 8192, out));
  ck_assert_bytes(out, string("keep:") + v.want);
}
END_TEST

START_TEST(encoder_keeps_every_byte) {
  // Bytes mod_log_config may leave in a line go through untouched.
  string msg;
  for (int c = 1; c < 256; ++c) msg.push_back(static_cast<char>(c));
  Header h;
  h.priority = 182;
  h.time = fixed_time(3, 7);
  h.tag = "t";
  h.pid = 1;
  string out;
  ck_assert(!encode_bsd(h, msg, 8192, out));
  string head = "<182>Mar  7 09:05:03 t[1]: ";
  ck_assert_bytes(out, head + msg);
}
END_TEST

START_TEST(framing_vectors) {
  string out;
  append_framed(frame_octet_counted, "GET", out);
  ck_assert_bytes(out, string("3 GET"));
  append_framed(frame_octet_counted, "", out);
  ck_assert_bytes(out, string("3 GET0 "));
  string big(1234, 'x');
  out.clear();
  append_framed(frame_octet_counted, big, out);
  ck_assert_bytes(out, "1234 " + big);
  out.clear();
  append_framed(frame_nul_terminated, "abc", out);
  append_framed(frame_nul_terminated, "", out);
  ck_assert_bytes(out, string("abc\0\0", 5));
  // LF framing: an LF inside a message cannot start a record of its own.
  out.clear();
  append_framed(frame_lf_terminated, "one\ntwo", out);
  append_framed(frame_lf_terminated, "", out);
  ck_assert_bytes(out, string("one two\n\n"));
  // A whole record as it goes over TCP.
  Header h;
  h.priority = 182;
  h.time = fixed_time(3, 7);
  h.hostname = "web1";
  h.tag = "httpd";
  h.pid = 4242;
  string msg;
  encode_rfc5424(h, "GET / HTTP/1.1", 8192, msg);
  out.clear();
  append_framed(frame_octet_counted, msg, out);
  ck_assert_bytes(out, string("74 <182>1 2026-03-07T09:05:03.000042+00:00 web1 httpd 4242 - - "
                              "GET / HTTP/1.1"));
}
END_TEST

START_TEST(format_names) {
  Format f;
  ck_assert(parse_format("bsd", f) && f == Format::Bsd);
  ck_assert(parse_format("BSD", f) && f == Format::Bsd);
  ck_assert(parse_format("rfc5424", f) && f == Format::Rfc5424);
  ck_assert(parse_format("RFC5424", f) && f == Format::Rfc5424);
  ck_assert(!parse_format("rfc3164", f));
  ck_assert(!parse_format("", f));
  ck_assert(!parse_format("bsdx", f));
  ck_assert_str_eq(format_name(Format::Bsd), "bsd");
  ck_assert_str_eq(format_name(Format::Rfc5424), "rfc5424");
}
END_TEST

// ---- truncation ----

struct Cut {
  const char* msg;
  size_t room;
  size_t want;
};

const Cut kCuts[] = {
    {"hello", 10, 5},
    {"hello", 5, 5},
    {"hello", 4, 4},
    {"hello", 0, 0},
    {"ab\xc3\xa9"
     "cd",
     2, 2},  // é = c3 a9
    {"ab\xc3\xa9"
     "cd",
     3, 2},  // would split é
    {"ab\xc3\xa9"
     "cd",
     4, 4},
    {"a\xe2\x82\xac"
     "b",
     2, 1},  // € = e2 82 ac
    {"a\xe2\x82\xac"
     "b",
     3, 1},
    {"a\xe2\x82\xac"
     "b",
     4, 4},
    {"a\xf0\x9f\x98\x80"
     "b",
     2, 1},  // U+1F600, four bytes
    {"a\xf0\x9f\x98\x80"
     "b",
     4, 1},
    {"a\xf0\x9f\x98\x80"
     "b",
     5, 5},
    {"\x80\x80\x80\x80x", 2, 2},  // not UTF-8: cut where told
    {"\xe9\xe9\xe9", 1, 1},       // Latin-1
    {"a\xc3\xa9\xa9", 3, 3},      // a stray continuation after a whole é
};

START_TEST(cut_lengths) {
  const Cut& c = kCuts[_i];
  ck_assert_uint_eq(cut_length(c.msg, c.room), c.want);
}
END_TEST

START_TEST(truncation_to_max_length) {
  Header h;
  h.priority = 182;
  h.time = fixed_time(3, 7);
  h.tag = "httpd";
  h.pid = 4242;
  const string head = "<182>Mar  7 09:05:03 httpd[4242]: ";
  const string msg(20 * 1024, 'r');
  for (size_t max : {size_t(480), size_t(8192), head.size() + 5}) {
    string out;
    ck_assert(encode_bsd(h, msg, max, out));
    ck_assert_uint_eq(out.size(), max);
    ck_assert_bytes(out, head + msg.substr(0, max - head.size()));
  }
  // Exactly at the limit: whole, not counted.
  string out;
  ck_assert(!encode_bsd(h, "12345", head.size() + 5, out));
  ck_assert_bytes(out, head + "12345");
  // A limit below the header keeps the header, never splits it.
  out.clear();
  ck_assert(encode_bsd(h, "12345", 10, out));
  ck_assert_bytes(out, head);
  // rfc5424 counts its longer header the same way.
  h.hostname = "web1";
  out.clear();
  ck_assert(encode_rfc5424(h, msg, 8192, out));
  ck_assert_uint_eq(out.size(), 8192);
  const string head5424 = "<182>1 2026-03-07T09:05:03.000042+00:00 web1 httpd 4242 - - ";
  ck_assert_bytes(out.substr(0, head5424.size()), head5424);
  // And never cuts inside a UTF-8 character.
  out.clear();
  string utf =
      "ab\xc3\xa9"
      "cd";
  ck_assert(encode_rfc5424(h, utf, head5424.size() + 3, out));
  ck_assert_bytes(out, head5424 + "ab");
}
END_TEST

START_TEST(hostnames_for_headers) {
  ck_assert_bytes(header_hostname("web1.example.org"), string("web1.example.org"));
  ck_assert_bytes(header_hostname(""), string("-"));
  ck_assert_bytes(header_hostname("bad host"), string("bad"));
  ck_assert_uint_eq(header_hostname(string(300, 'h')).size(), 255);
}
END_TEST

START_TEST(local_time_breaks_down_in_zone) {
  setenv("TZ", "XYZ-5:30", 1);  // POSIX: 5:30 east of UTC
  tzset();
  LocalTime t = local_time(365LL * 86400 + 59, 7);  // 1971-01-01T00:00:59Z
  ck_assert_int_eq(t.year, 1971);
  ck_assert_int_eq(t.month, 1);
  ck_assert_int_eq(t.day, 1);
  ck_assert_int_eq(t.hour, 5);
  ck_assert_int_eq(t.minute, 30);
  ck_assert_int_eq(t.second, 59);
  ck_assert_int_eq(t.usec, 7);
  ck_assert_int_eq(t.utc_offset, 19800);
  // Same second, other microseconds: from the cache, same breakdown.
  LocalTime u = local_time(365LL * 86400 + 59, 999999);
  ck_assert_int_eq(u.minute, 30);
  ck_assert_int_eq(u.usec, 999999);
}
END_TEST

// The request path's stamp (cached per second and thread) is the stamp
// write_stamp() makes of the same instant, whatever the order of formats,
// microseconds and seconds it is asked for.
START_TEST(cached_stamps_equal_fresh_ones) {
  setenv("TZ", "XYZ+3", 1);  // 3 hours west of UTC
  tzset();
  const int64_t base = 1700000000;
  const struct {
    int64_t sec;
    int usec;
    Format format;
  } asks[] = {{base, 1, Format::Rfc5424}, {base, 999999, Format::Rfc5424},
              {base, 42, Format::Bsd},    {base, 500000, Format::Rfc5424},
              {base + 1, 0, Format::Bsd}, {base + 1, 123456, Format::Rfc5424},
              {base, 7, Format::Rfc5424}, {base + 86400 * 40, 10, Format::Bsd}};
  for (const auto& a : asks) {
    char cached[kMaxStamp], fresh[kMaxStamp];
    LocalTime t;
    size_t n = write_stamp_at(a.format, a.sec, a.usec, cached, t);
    size_t m = write_stamp(a.format, local_time(a.sec, a.usec), fresh);
    ck_assert_uint_eq(n, m);
    ck_assert_bytes(string(cached, n), string(fresh, m));
    ck_assert_int_eq(t.usec, a.usec);
  }
  char out[kMaxStamp];
  LocalTime t;
  size_t n = write_stamp_at(Format::Rfc5424, base, 5, out, t);
  ck_assert_bytes(string(out, n), string("2023-11-14T19:13:20.000005-03:00"));
  n = write_stamp_at(Format::Bsd, base, 5, out, t);
  ck_assert_bytes(string(out, n), string("Nov 14 19:13:20"));
}
END_TEST

// The template and a stamp, put together, are what encode() makes.
START_TEST(header_template_matches_encode) {
  for (Format f : {Format::Bsd, Format::Rfc5424}) {
    for (std::string_view host : {std::string_view(""), std::string_view("web1")}) {
      Header h;
      h.priority = 182;
      h.time = local_time(1700000000, 250);
      h.hostname = host;
      h.tag = "httpd";
      h.pid = 4242;
      HeaderTemplate t = header_template(f, h.priority, host, h.tag, h.pid);
      char stamp[kMaxStamp];
      string stamp_text(stamp, write_stamp(f, h.time, stamp));
      for (std::string_view msg : {std::string_view("GET / 200"), std::string_view("")}) {
        string out;
        ck_assert(!encode(f, h, msg, 8192, out));
        string joined = t.before_stamp + stamp_text + t.after_stamp;
        if (!msg.empty()) joined += t.before_msg + string(msg);
        ck_assert_bytes(out, joined);
      }
    }
  }
}
END_TEST

// ---- drop reports ----

START_TEST(drop_ledger_reports_once_per_interval) {
  using Clock = DropLedger::Clock;
  DropLedger ledger("syslog:local6@tcp://h:514", 8192, std::chrono::milliseconds(10000));
  Clock::time_point t0 = Clock::now();
  ck_assert(!ledger.due(t0));  // nothing happened
  ledger.count_dropped(ECONNREFUSED);
  ledger.count_truncated();
  ledger.count_truncated();
  ck_assert(ledger.due(t0));
  auto msgs = ledger.take(t0, false);
  ck_assert_uint_eq(msgs.size(), 2);
  ck_assert_int_eq(static_cast<int>(msgs[0].first), static_cast<int>(delivery::Level::Error));
  ck_assert_str_eq(msgs[0].second.c_str(),
                   "DE0014: syslog:local6@tcp://h:514: 1 lines dropped (last error: Connection "
                   "refused); 1 dropped by this child in all");
  ck_assert_int_eq(static_cast<int>(msgs[1].first), static_cast<int>(delivery::Level::Warning));
  ck_assert_str_eq(msgs[1].second.c_str(),
                   "DE0015: syslog:local6@tcp://h:514: 2 lines truncated to SyslogMaxLength (8192 "
                   "bytes); 2 truncated by this child in all");
  // Claimed: nothing more until the interval has passed.
  ck_assert(!ledger.due(t0));
  ck_assert(ledger.take(t0, false).empty());
  ledger.count_dropped(EAGAIN);
  ck_assert(!ledger.due(t0 + std::chrono::seconds(9)));
  ck_assert(ledger.take(t0 + std::chrono::seconds(9), false).empty());
  ck_assert(ledger.due(t0 + std::chrono::seconds(10)));
  msgs = ledger.take(t0 + std::chrono::seconds(10), false);
  ck_assert_uint_eq(msgs.size(), 1);
  ck_assert_msg(msgs[0].second.find(": 1 lines dropped (last error: Resource temporarily "
                                    "unavailable); 2 dropped") != string::npos,
                "%s", msgs[0].second.c_str());
  // Child exit: forced, whatever the interval.
  ledger.count_truncated();
  msgs = ledger.take(t0 + std::chrono::seconds(11), true);
  ck_assert_uint_eq(msgs.size(), 1);
  ck_assert_msg(msgs[0].second.find("1 lines truncated") != string::npos, "%s",
                msgs[0].second.c_str());
  ck_assert(ledger.take(t0 + std::chrono::seconds(30), true).empty());
  ck_assert_uint_eq(ledger.dropped(), 2);
  ck_assert_uint_eq(ledger.truncated(), 3);
}
END_TEST

// ---- transports ----

bool wait_for(const std::function<bool()>& cond, int seconds = 10) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

int unix_dgram_receiver(const string& path) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
  unlink(path.c_str());
  ck_assert_int_eq(bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0);
  return fd;
}

int unix_stream_listener(const string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
  unlink(path.c_str());
  ck_assert_int_eq(bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0);
  ck_assert_int_eq(listen(fd, 16), 0);
  return fd;
}

// A loopback socket of `type` bound to `port` (0: any); returns the fd and
// sets `port`.
int loopback_socket(int type, uint16_t& port) {
  int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  in.sin_port = htons(port);
  ck_assert_int_eq(bind(fd, reinterpret_cast<sockaddr*>(&in), sizeof in), 0);
  socklen_t len = sizeof in;
  getsockname(fd, reinterpret_cast<sockaddr*>(&in), &len);
  port = ntohs(in.sin_port);
  if (type == SOCK_STREAM) ck_assert_int_eq(listen(fd, 16), 0);
  return fd;
}

string recv_datagram(int fd) {
  pollfd p{fd, POLLIN, 0};
  ck_assert_int_eq(poll(&p, 1, 5000), 1);
  char buf[65536];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  ck_assert_int_ge(n, 0);
  return string(buf, static_cast<size_t>(n));
}

// Reads from `fd` until `want` bytes came or 5 s passed.
string recv_bytes(int fd, size_t want) {
  string got;
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (got.size() < want && std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) != 1) continue;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

SocketAddress address_of(const string& path) {
  SocketAddress a;
  string error;
  ck_assert_msg(unix_address(path, a, error), "%s", error.c_str());
  return a;
}

using SteadyClock = std::chrono::steady_clock;
const SteadyClock::time_point kNoWait{};

START_TEST(datagram_unix_delivers) {
  string path = temp_socket_path("log.sock");
  int rx = unix_dgram_receiver(path);
  DatagramSender tx(address_of(path));
  ck_assert_int_eq(tx.open(), 0);
  int err = -1;
  ck_assert(tx.send("<182>hello", err, kNoWait) == DatagramSender::Result::Sent);
  ck_assert_int_eq(err, 0);
  ck_assert_bytes(recv_datagram(rx), string("<182>hello"));
  close(rx);
}
END_TEST

START_TEST(datagram_unix_reconnects_to_recreated_socket) {
  // What rsyslogd does on restart: its socket goes and a new one comes.
  string path = temp_socket_path("log.sock");
  int rx = unix_dgram_receiver(path);
  DatagramSender tx(address_of(path));
  ck_assert_int_eq(tx.open(), 0);
  int err;
  ck_assert(tx.send("one", err, kNoWait) == DatagramSender::Result::Sent);
  ck_assert_bytes(recv_datagram(rx), string("one"));
  close(rx);
  rx = unix_dgram_receiver(path);
  ck_assert(tx.send("two", err, kNoWait) == DatagramSender::Result::Sent);
  ck_assert_bytes(recv_datagram(rx), string("two"));
  close(rx);
}
END_TEST

START_TEST(datagram_unix_missing_then_present) {
  string path = temp_socket_path("late.sock");
  DatagramSender tx(address_of(path));
  ck_assert_int_eq(tx.open(), ENOENT);
  int err;
  ck_assert(tx.send("not yet", err, kNoWait) == DatagramSender::Result::NotNow);
  ck_assert_int_eq(err, ENOENT);
  int rx = unix_dgram_receiver(path);
  ck_assert(tx.send("found", err, kNoWait) == DatagramSender::Result::Sent);
  ck_assert_bytes(recv_datagram(rx), string("found"));
  close(rx);
}
END_TEST

START_TEST(datagram_unix_stream_socket_detected) {
  string path = temp_socket_path("stream.sock");
  int lx = unix_stream_listener(path);
  DatagramSender tx(address_of(path));
  ck_assert_int_eq(tx.open(), EPROTOTYPE);
  int err;
  ck_assert(tx.send("x", err, kNoWait) == DatagramSender::Result::StreamSocket);
  close(lx);
}
END_TEST

START_TEST(datagram_full_receiver_not_now_then_waits_for_room) {
  string path = temp_socket_path("full.sock");
  int rx = unix_dgram_receiver(path);  // not read for now
  DatagramSender tx(address_of(path));
  ck_assert_int_eq(tx.open(), 0);
  string msg(1000, 'm');
  int err = 0;
  int sent = 0;
  DatagramSender::Result r = DatagramSender::Result::Sent;
  for (int i = 0; i < 100000 && r == DatagramSender::Result::Sent; ++i) {
    r = tx.send(msg, err, kNoWait);
    if (r == DatagramSender::Result::Sent) ++sent;
  }
  // A request thread never waits: the full receiver is "not now".
  ck_assert(r == DatagramSender::Result::NotNow);
  ck_assert_msg(err == EAGAIN || err == EWOULDBLOCK, "err %d", err);
  ck_assert_int_gt(sent, 0);
  // The sender thread may wait, and gets through once the receiver reads.
  std::thread reader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    char buf[2048];
    while (recv(rx, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
  });
  r = tx.send(msg, err, SteadyClock::now() + std::chrono::seconds(5));
  reader.join();
  ck_assert(r == DatagramSender::Result::Sent);
  close(rx);
}
END_TEST

START_TEST(datagram_too_long_is_failed) {
  string path = temp_socket_path("log.sock");
  int rx = unix_dgram_receiver(path);
  DatagramSender tx(address_of(path));
  ck_assert_int_eq(tx.open(), 0);
  int err = 0;
  ck_assert(tx.send(string(1 << 20, 'x'), err, kNoWait) == DatagramSender::Result::Failed);
  ck_assert_int_eq(err, EMSGSIZE);
  close(rx);
}
END_TEST

START_TEST(datagram_udp_delivers_and_survives_refusal) {
  uint16_t port = 0;
  int rx = loopback_socket(SOCK_DGRAM, port);
  std::vector<SocketAddress> addrs;
  string error;
  ck_assert_msg(resolve("127.0.0.1", port, SOCK_DGRAM, addrs, error), "%s", error.c_str());
  ck_assert_bytes(addrs.front().text, "127.0.0.1:" + std::to_string(port));
  DatagramSender tx(addrs.front());
  ck_assert_int_eq(tx.open(), 0);
  int err;
  ck_assert(tx.send("<14>1 udp", err, kNoWait) == DatagramSender::Result::Sent);
  ck_assert_bytes(recv_datagram(rx), string("<14>1 udp"));
  // The receiver goes: an ICMP port unreachable comes back for a datagram,
  // and the next send says ECONNREFUSED, which is about that earlier one.
  close(rx);
  bool refused = false;
  for (int i = 0; i < 20 && !refused; ++i) {
    ck_assert(tx.send("gone", err, kNoWait) == DatagramSender::Result::Sent);
    refused = err == ECONNREFUSED;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ck_assert(refused);
}
END_TEST

START_TEST(datagram_sink_sends_one_line_per_batch) {
  string path = temp_socket_path("log.sock");
  std::vector<int> drops;
  DatagramSink sink(DatagramAddresses::unix_path(address_of(path)), "syslog:@unix:x",
                    std::chrono::milliseconds(200), [&](int err) { drops.push_back(err); });
  ck_assert(sink.acknowledges());
  string error;
  std::vector<delivery::Record> one = {{"", "a"}};
  // Nobody there: nothing taken; the Shipper keeps the line and backs off.
  ck_assert(sink.send(delivery::views_of(one), error) == delivery::SendResult::Failed);
  ck_assert_msg(error.find("No such file or directory") != string::npos, "%s", error.c_str());
  int rx = unix_dgram_receiver(path);
  ck_assert_msg(sink.send(delivery::views_of(one), error) == delivery::SendResult::Ok, "%s",
                error.c_str());
  ck_assert_bytes(recv_datagram(rx), string("a"));
  // A line that can never go is given up and counted, not retried forever.
  std::vector<delivery::Record> huge = {{"", string(1 << 20, 'x')}};
  ck_assert(sink.send(delivery::views_of(huge), error) == delivery::SendResult::Ok);
  ck_assert_uint_eq(drops.size(), 1);
  ck_assert_int_eq(drops[0], EMSGSIZE);
  close(rx);
}
END_TEST

START_TEST(datagram_sink_resumes_a_partly_sent_batch) {
  string path = temp_socket_path("log.sock");
  int rx = unix_dgram_receiver(path);
  DatagramSink sink(DatagramAddresses::unix_path(address_of(path)), "t",
                    std::chrono::milliseconds(10), [](int) {});
  // More lines than the receiver's queue holds, and nobody reading.
  std::vector<delivery::Record> batch;
  for (int i = 0; i < 3000; ++i) batch.push_back({"", "line-" + std::to_string(i)});
  string error;
  ck_assert(sink.send(delivery::views_of(batch), error) == delivery::SendResult::Failed);
  std::vector<string> got;
  char buf[64];
  ssize_t n;
  while ((n = recv(rx, buf, sizeof buf, MSG_DONTWAIT)) > 0) got.emplace_back(buf, n);
  ck_assert_uint_gt(got.size(), 0);
  ck_assert_uint_lt(got.size(), batch.size());
  // What a stopping Shipper counts as sent rather than lost: exactly what went.
  ck_assert_uint_eq(sink.sent_of_failed(delivery::views_of(batch)), got.size());
  std::vector<delivery::Record> other(batch.begin() + 1, batch.end());
  ck_assert_uint_eq(sink.sent_of_failed(delivery::views_of(other)), 0);
  // Offered again (as the Shipper does after Failed): the rest only, in order.
  auto deliver_with_reader = [&] {
    std::thread reader([&] {
      auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (got.size() < batch.size() && std::chrono::steady_clock::now() < end) {
        pollfd p{rx, POLLIN, 0};
        if (poll(&p, 1, 50) == 1 && (n = recv(rx, buf, sizeof buf, 0)) > 0)
          got.emplace_back(buf, n);
      }
    });
    bool ok = false;
    for (int tries = 0; tries < 1000 && !ok; ++tries)
      ok = sink.send(delivery::views_of(batch), error) == delivery::SendResult::Ok;
    reader.join();
    ck_assert(ok);
    ck_assert_uint_eq(got.size(), batch.size());
    for (size_t i = 0; i < got.size(); ++i) ck_assert_str_eq(got[i].c_str(), batch[i].body.c_str());
  };
  deliver_with_reader();
  // Once it went, the point is forgotten: a later batch just like it (a
  // health check's lines) goes whole.
  got.clear();
  deliver_with_reader();
  close(rx);
}
END_TEST

// A burst of lines leaves in sendmmsg calls, every line its own datagram,
// in order.
START_TEST(datagram_sink_sends_bursts_in_order) {
  string path = temp_socket_path("log.sock");
  int rx = unix_dgram_receiver(path);
  DatagramSink sink(DatagramAddresses::unix_path(address_of(path)), "t",
                    std::chrono::milliseconds(2000), [](int) {});
  std::vector<delivery::Record> batch;
  for (int i = 0; i < 200; ++i) batch.push_back({"", "burst-" + std::to_string(i)});
  std::vector<string> got;
  std::thread reader([&] {  // a unix datagram socket queues only a few
    while (got.size() < batch.size()) got.push_back(recv_datagram(rx));
  });
  string error;
  ck_assert_msg(sink.send(delivery::views_of(batch), error) == delivery::SendResult::Ok, "%s",
                error.c_str());
  reader.join();
  for (int i = 0; i < 200; ++i) ck_assert_bytes(got[i], "burst-" + std::to_string(i));
  close(rx);
}
END_TEST

// Every address of a udp target is tried in turn; one whose connect fails
// (a broadcast address without SO_BROADCAST) is skipped.
START_TEST(udp_sink_tries_every_address) {
  uint16_t port = 0;
  int rx = loopback_socket(SOCK_DGRAM, port);
  std::vector<SocketAddress> bad, good, both;
  string error;
  ck_assert(delivery::resolve("255.255.255.255", port, SOCK_DGRAM, bad, error));
  ck_assert(delivery::resolve("127.0.0.1", port, SOCK_DGRAM, good, error));
  both = {bad.front(), good.front()};
  DatagramSink sink(DatagramAddresses::udp("127.0.0.1", port, both), "t",
                    std::chrono::milliseconds(200), [](int) {});
  std::vector<delivery::Record> one = {{"", "<14>1 second address"}};
  ck_assert_msg(sink.send(delivery::views_of(one), error) == delivery::SendResult::Ok, "%s",
                error.c_str());
  ck_assert_bytes(recv_datagram(rx), string("<14>1 second address"));
  close(rx);
}
END_TEST

// DNS down, relay up: a lookup that fails falls back on the last answer;
// the address that failed last is tried last.
START_TEST(udp_addresses_fall_back_and_rotate) {
  std::vector<SocketAddress> two, v4, v6;
  string error;
  ck_assert(delivery::resolve("127.0.0.1", 5514, SOCK_DGRAM, v4, error));
  ck_assert(delivery::resolve("::1", 5514, SOCK_DGRAM, v6, error));
  two = {v4.front(), v6.front()};
  DatagramAddresses where = DatagramAddresses::udp("no-such-host.invalid", 5514, two);
  std::vector<SocketAddress> got;
  auto far = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  ck_assert(where.lookup(got, error, nullptr, far));  // the parent's answer
  ck_assert_uint_eq(got.size(), 2);
  ck_assert_str_eq(got[0].text.c_str(), v4.front().text.c_str());
  where.failed(v4.front());
  ck_assert(where.lookup(got, error, nullptr, far));  // resolving fails: the last answer
  ck_assert_uint_eq(got.size(), 2);
  ck_assert_str_eq(got[0].text.c_str(), v6.front().text.c_str());
  ck_assert_str_eq(got[1].text.c_str(), v4.front().text.c_str());
  DatagramAddresses nothing = DatagramAddresses::udp("no-such-host.invalid", 5514, {});
  ck_assert(!nothing.lookup(got, error, nullptr, far));
  ck_assert_msg(error.find("no-such-host.invalid") != string::npos, "%s", error.c_str());
}
END_TEST

// A udp socket that could not connect when the child started (no route
// yet) is not given up: the next attempt resolves the host again.
START_TEST(udp_sink_connect_failure_is_retried_with_a_new_lookup) {
  uint16_t port = 0;
  int rx = loopback_socket(SOCK_DGRAM, port);
  std::vector<SocketAddress> unusable;
  string error;
  ck_assert(delivery::resolve("255.255.255.255", port, SOCK_DGRAM, unusable, error));
  DatagramSink sink(DatagramAddresses::udp("127.0.0.1", port, unusable), "t",
                    std::chrono::milliseconds(200), [](int) {});
  std::vector<delivery::Record> one = {{"", "later"}};
  ck_assert(sink.send(delivery::views_of(one), error) == delivery::SendResult::Failed);
  ck_assert_msg(error.find("255.255.255.255") != string::npos, "%s", error.c_str());
  ck_assert(!sink.connected());
  ck_assert_msg(sink.send(delivery::views_of(one), error) == delivery::SendResult::Ok, "%s",
                error.c_str());
  ck_assert_bytes(recv_datagram(rx), string("later"));
  close(rx);
}
END_TEST

// syslog-ng restarted with unix-stream instead of unix-dgram, and back: the
// sink follows the path's kind at the next send, losing nothing.
START_TEST(unix_sink_follows_a_path_that_changes_kind) {
  string path = temp_socket_path("log.sock");
  int rx = unix_dgram_receiver(path);
  UnixSink sink(address_of(path), UnixSink::Mode::Datagram, "t", std::chrono::milliseconds(200),
                [](int) {});
  std::vector<delivery::Record> a = {{"", "as-datagram"}};
  string error;
  ck_assert_msg(sink.send(delivery::views_of(a), error) == delivery::SendResult::Ok, "%s",
                error.c_str());
  ck_assert_bytes(recv_datagram(rx), string("as-datagram"));
  ck_assert(sink.acknowledges());
  close(rx);

  int lx = unix_stream_listener(path);  // replaces the path
  std::vector<delivery::Record> b = {{"", "on-stream-1"}, {"", "on-stream-2"}};
  ck_assert_msg(sink.send(delivery::views_of(b), error) == delivery::SendResult::Ok, "%s",
                error.c_str());
  ck_assert(sink.mode() == UnixSink::Mode::Stream);
  ck_assert(!sink.acknowledges());  // the Shipper keeps what it sent, to resend
  int conn = accept4(lx, nullptr, nullptr, SOCK_CLOEXEC);
  ck_assert_int_ge(conn, 0);
  string want("on-stream-1\0on-stream-2\0", 24);
  ck_assert_bytes(recv_bytes(conn, want.size()), want);
  close(conn);
  close(lx);

  rx = unix_dgram_receiver(path);  // and back
  std::vector<delivery::Record> c = {{"", "datagram-again"}};
  bool ok = false;
  for (int tries = 0; tries < 20 && !ok; ++tries) {
    ok = sink.send(delivery::views_of(c), error) == delivery::SendResult::Ok &&
         sink.mode() == UnixSink::Mode::Datagram;
    if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ck_assert_msg(ok, "%s", error.c_str());
  ck_assert_bytes(recv_datagram(rx), string("datagram-again"));
  close(rx);
}
END_TEST

START_TEST(datagram_lines_survive_receiver_restart) {
  // The receiving socket goes away and comes back (rsyslogd restarting):
  // lines sent through a Shipper with a DatagramSink all arrive, once each.
  string path = temp_socket_path("log.sock");
  int rx = unix_dgram_receiver(path);
  delivery::ShipperOptions o;
  o.batch_lines = 16;
  o.flush_interval = std::chrono::milliseconds(10);
  o.retry_min = std::chrono::milliseconds(20);
  o.retry_max = std::chrono::milliseconds(50);
  delivery::Shipper shipper(
      std::make_unique<DatagramSink>(DatagramAddresses::unix_path(address_of(path)), "t",
                                     std::chrono::milliseconds(500),
                                     [](int) { ck_abort_msg("nothing should be dropped"); }),
      o, [](delivery::Level, const string&) {});
  shipper.start();
  std::multiset<string> got;
  auto drain = [&](int fd) {
    char buf[256];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
      got.insert(string(buf, static_cast<size_t>(n)));
  };
  std::multiset<string> want;
  for (int i = 0; i < 200; ++i) {
    if (i == 50) {
      ck_assert(wait_for([&] {  // all sent so far
        drain(rx);
        return shipper.stats().sent == 50;
      }));
      close(rx);
      unlink(path.c_str());  // gone for a while
    }
    if (i == 150) rx = unix_dgram_receiver(path);
    string m = "line-" + std::to_string(i);
    want.insert(m);
    ck_assert(shipper.push("", m));
    if (i < 50 || i >= 150) drain(rx);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ck_assert(wait_for([&] {
    drain(rx);
    return got.size() >= want.size();
  }));
  shipper.stop();
  ck_assert(got == want);
  ck_assert_uint_gt(shipper.stats().failures, 0);
  close(rx);
}
END_TEST

START_TEST(tcp_sink_frames_by_octet_counting) {
  uint16_t port = 0;
  int lx = loopback_socket(SOCK_STREAM, port);
  auto sink =
      StreamSink::tcp("127.0.0.1", port, Framing::OctetCounted, "syslog:@tcp://127.0.0.1", {});
  std::vector<delivery::Record> batch = {{"", "a"}, {"", "hello world"}, {"", ""}};
  string error;
  ck_assert_msg(sink->send(delivery::views_of(batch), error) == delivery::SendResult::Ok, "%s",
                error.c_str());
  ck_assert(!sink->acknowledges());
  int conn = accept4(lx, nullptr, nullptr, SOCK_CLOEXEC);
  ck_assert_int_ge(conn, 0);
  string want = "1 a11 hello world0 ";
  ck_assert_bytes(recv_bytes(conn, want.size()), want);
  ck_assert(!sink->connection_lost());
  // The receiver closes: the idle check sees it.
  close(conn);
  bool lost = false;
  for (int i = 0; i < 100 && !lost; ++i) {
    lost = sink->connection_lost();
    if (!lost) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ck_assert(lost);
  sink->close();
  ck_assert(!sink->connected());
  close(lx);
}
END_TEST

START_TEST(tcp_sink_frames_by_lf) {
  uint16_t port = 0;
  int lx = loopback_socket(SOCK_STREAM, port);
  auto sink = StreamSink::tcp("127.0.0.1", port, Framing::Lf, "t", {});
  std::vector<delivery::Record> batch = {{"", "a"}, {"", "hello\nworld"}};
  string error;
  ck_assert_msg(sink->send(delivery::views_of(batch), error) == delivery::SendResult::Ok, "%s",
                error.c_str());
  int conn = accept4(lx, nullptr, nullptr, SOCK_CLOEXEC);
  ck_assert_int_ge(conn, 0);
  string want = "a\nhello world\n";
  ck_assert_bytes(recv_bytes(conn, want.size()), want);
  close(conn);
  close(lx);
}
END_TEST

// Dead-peer detection is set on every tcp connection: keepalive probes
// after 30 s of silence, and unacknowledged data ends it after 30 s.
START_TEST(tcp_sink_detects_dead_peers) {
  uint16_t port = 0;
  int lx = loopback_socket(SOCK_STREAM, port);
  auto sink = StreamSink::tcp("127.0.0.1", port, Framing::OctetCounted, "t", {});
  std::vector<delivery::Record> batch = {{"", "a"}};
  string error;
  ck_assert_msg(sink->send(delivery::views_of(batch), error) == delivery::SendResult::Ok, "%s",
                error.c_str());
  int fd = sink->socket_fd();
  ck_assert_int_ge(fd, 0);
  auto opt = [fd](int level, int name) {
    int v = -1;
    socklen_t len = sizeof v;
    ck_assert_int_eq(getsockopt(fd, level, name, &v, &len), 0);
    return v;
  };
  ck_assert_int_eq(opt(SOL_SOCKET, SO_KEEPALIVE), 1);
  ck_assert_int_eq(opt(IPPROTO_TCP, TCP_KEEPIDLE), 30);
  ck_assert_int_eq(opt(IPPROTO_TCP, TCP_KEEPINTVL), 10);
  ck_assert_int_eq(opt(IPPROTO_TCP, TCP_KEEPCNT), 3);
  ck_assert_int_eq(opt(IPPROTO_TCP, TCP_USER_TIMEOUT), 30000);
  close(lx);
}
END_TEST

// A peer that stopped reading: what its kernel had not acknowledged when
// the sink gave the connection up is what the Shipper must resend.
START_TEST(tcp_sink_reports_what_the_peer_did_not_acknowledge) {
  uint16_t port = 0;
  int lx = loopback_socket(SOCK_STREAM, port);
  int small = 4096;
  setsockopt(lx, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  StreamSink::Options opts;
  opts.stall_timeout = std::chrono::milliseconds(300);
  auto sink = StreamSink::tcp("127.0.0.1", port, Framing::OctetCounted, "t", opts);
  std::vector<delivery::Record> batch(10, delivery::Record{"", string(200, 'x')});
  string error;
  // Nobody reads: earlier batches fill the peer's buffer, then ours; the
  // send that stalls is given up. What the peer had not acknowledged then
  // is more than that last batch wrote (it is resent whole anyway).
  int sent_ok = 0;
  while (sent_ok < 100000 &&
         sink->send(delivery::views_of(batch), error) == delivery::SendResult::Ok)
    ++sent_ok;
  ck_assert_int_gt(sent_ok, 0);
  ck_assert(!sink->connected());
  ck_assert_uint_gt(sink->unacknowledged_at_loss(), 0);
  ck_assert_uint_lt(sink->unacknowledged_at_loss(), static_cast<size_t>(sent_ok) * 10 * 205);
  close(lx);
}
END_TEST

// No connection: nothing was sent (the Shipper backs off, nothing to resend).
START_TEST(tcp_sink_refused_is_unreachable) {
  uint16_t port = 0;
  int lx = loopback_socket(SOCK_STREAM, port);
  close(lx);  // nobody listens there now
  auto sink = StreamSink::tcp("127.0.0.1", port, Framing::OctetCounted, "t", {});
  std::vector<delivery::Record> batch = {{"", "a"}};
  string error;
  ck_assert(sink->send(delivery::views_of(batch), error) == delivery::SendResult::Unreachable);
  ck_assert_msg(error.find("Connection refused") != string::npos, "%s", error.c_str());
  ck_assert(!sink->connected());
}
END_TEST

// The startup probe: what listens is reachable, what does not says why.
START_TEST(unreachable_reason_probes_each_transport) {
  SyslogTarget t;
  string error;
  string dgram = temp_socket_path("dgram.sock");
  ck_assert(parse_target("syslog:local6@unix:" + dgram, t, error));
  string why = unreachable_reason(t, {}, "");
  ck_assert_msg(why.find("No such file") != string::npos, "%s", why.c_str());
  int rx = unix_dgram_receiver(dgram);
  ck_assert(unreachable_reason(t, {}, "") == "");
  close(rx);
  string stream = temp_socket_path("stream.sock");
  int lx = unix_stream_listener(stream);
  ck_assert(parse_target("syslog:local6@unix:" + stream, t, error));
  ck_assert(unreachable_reason(t, {}, "") == "");  // a stream socket will do
  close(lx);

  uint16_t port = 0;
  int tcp = loopback_socket(SOCK_STREAM, port);
  ck_assert(parse_target("syslog:local6@tcp://127.0.0.1:" + std::to_string(port), t, error));
  ck_assert(unreachable_reason(t, {}, "") == "");
  close(tcp);
  ck_assert(unreachable_reason(t, {}, "").find("Connection refused") != string::npos);

  ck_assert(parse_target("syslog:local6@udp://192.0.2.1:514", t, error));
  ck_assert(unreachable_reason(t, {}, "no such host") == "no such host");
}
END_TEST

START_TEST(open_sink_picks_sink_and_preset_per_transport) {
  SyslogTarget t;
  string error;
  std::vector<SocketAddress> none;
  auto no_drop = [](int) {};
  // A unix path that is a stream socket: a stream sink, said so at info.
  string stream = temp_socket_path("stream.sock");
  int lx = unix_stream_listener(stream);
  ck_assert(parse_target("syslog:local6@unix:" + stream, t, error));
  OpenedSink s = open_sink(t, Framing::OctetCounted, none, "who", 1 << 20, Millis(1500), no_drop);
  ck_assert(s.sink != nullptr);
  ck_assert(!s.sink->acknowledges());  // a stream: resent when the peer dies
  ck_assert(s.note.find("is a stream socket") != string::npos);
  ck_assert(s.options.resend_window > Millis(0));
  ck_assert(s.options.resend_window_bytes == size_t(1) << 20);
  ck_assert(s.options.exit_deadline == Millis(1500));
  close(lx);
  // A datagram socket: smaller batches, sooner retries, nothing to resend.
  string dgram = temp_socket_path("dgram.sock");
  int rx = unix_dgram_receiver(dgram);
  ck_assert(parse_target("syslog:local6@unix:" + dgram, t, error));
  OpenedSink d = open_sink(t, Framing::OctetCounted, none, "who", 1 << 20, Millis(1500), no_drop);
  ck_assert(d.sink != nullptr && d.note.empty());
  ck_assert(d.sink->acknowledges());
  ck_assert(d.options.batch_lines < s.options.batch_lines);
  ck_assert(d.options.retry_max < s.options.retry_max);
  ck_assert(d.options.queue_bytes == size_t(1) << 20);
  close(rx);
  // A udp host that does not resolve now: a sink all the same, which
  // resolves again each time it tries (lines wait in the queue meanwhile).
  ck_assert(parse_target("syslog:local6@udp://no-such-host.invalid:514", t, error));
  std::vector<SocketAddress> unresolved;
  OpenedSink u =
      open_sink(t, Framing::OctetCounted, unresolved, "who", 1 << 20, Millis(1500), no_drop);
  ck_assert(u.sink != nullptr && u.sink->acknowledges());
  std::vector<delivery::Record> one = {{"", "a"}};
  ck_assert(u.sink->send(delivery::views_of(one), error) == delivery::SendResult::Failed);
  ck_assert_msg(error.find("no-such-host.invalid") != string::npos, "%s", error.c_str());
  // tcp: a stream sink whatever listens now (it connects when it sends).
  ck_assert(parse_target("syslog:local6@tcp://127.0.0.1:9", t, error));
  ck_assert(open_sink(t, Framing::OctetCounted, none, "who", 1 << 20, Millis(1500), no_drop).sink !=
            nullptr);
}
END_TEST

START_TEST(unix_stream_sink_nul_terminates) {
  string path = temp_socket_path("stream.sock");
  int lx = unix_stream_listener(path);
  auto sink = StreamSink::unix_stream(address_of(path), "t", {});
  std::vector<delivery::Record> batch = {{"", "<182>a"}, {"", "<182>b"}};
  string error;
  ck_assert_msg(sink->send(delivery::views_of(batch), error) == delivery::SendResult::Ok, "%s",
                error.c_str());
  int conn = accept4(lx, nullptr, nullptr, SOCK_CLOEXEC);
  ck_assert_int_ge(conn, 0);
  string want("<182>a\0<182>b\0", 14);
  ck_assert_bytes(recv_bytes(conn, want.size()), want);
  close(conn);
  close(lx);
}
END_TEST

// A TCP syslog receiver that can be frozen (stops reading) and killed
// (closes everything, dropping what it did not read), like rsyslogd.
class Receiver {
 public:
  explicit Receiver(uint16_t port = 0) {
    lx_ = loopback_socket(SOCK_STREAM, port);
    port_ = port;
    thread_ = std::thread([this] { run(); });
  }
  ~Receiver() { kill(); }
  uint16_t port() const { return port_; }
  void freeze() { frozen_ = true; }
  // Stops at once: unread bytes are lost, the peer gets a reset.
  void kill() {
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
  }
  std::vector<string> messages() {
    std::lock_guard<std::mutex> lock(mu_);
    return msgs_;
  }

 private:
  void run() {
    std::vector<int> conns;
    std::vector<string> bufs;
    while (!stop_) {
      std::vector<pollfd> fds{{lx_, POLLIN, 0}};
      if (!frozen_)
        for (int c : conns) fds.push_back({c, POLLIN, 0});
      poll(fds.data(), fds.size(), 20);
      if (fds[0].revents & POLLIN) {
        int c = accept4(lx_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) {
          conns.push_back(c);
          bufs.emplace_back();
        }
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
        char buf[65536];
        ssize_t n = recv(fds[i].fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) parse(bufs[i - 1].append(buf, static_cast<size_t>(n)));
      }
    }
    for (int c : conns) close(c);
    close(lx_);
  }
  // Octet-counted frames out of `buf`.
  void parse(string& buf) {
    for (;;) {
      size_t sp = buf.find(' ');
      if (sp == string::npos) return;
      size_t len = std::stoul(buf.substr(0, sp));
      if (buf.size() < sp + 1 + len) return;
      {
        std::lock_guard<std::mutex> lock(mu_);
        msgs_.push_back(buf.substr(sp + 1, len));
      }
      buf.erase(0, sp + 1 + len);
    }
  }
  int lx_;
  uint16_t port_;
  std::atomic<bool> stop_{false}, frozen_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<string> msgs_;
};

START_TEST(shipper_resends_across_receiver_restart) {
  // The receiver dies with lines it never read; the Shipper's resend of
  // recent records brings every line to the next receiver (duplicates are
  // allowed, losses are not).
  auto rx = std::make_unique<Receiver>();
  uint16_t port = rx->port();
  delivery::ShipperOptions o;
  o.flush_interval = std::chrono::milliseconds(10);
  o.retry_min = std::chrono::milliseconds(20);
  o.retry_max = std::chrono::milliseconds(100);
  o.resend_window = std::chrono::milliseconds(5000);
  std::vector<string> reports;
  std::mutex rmu;
  delivery::Shipper shipper(StreamSink::tcp("127.0.0.1", port, Framing::OctetCounted, "t", {}), o,
                            [&](delivery::Level, const string& m) {
                              std::lock_guard<std::mutex> lock(rmu);
                              reports.push_back(m);
                            });
  shipper.start();
  std::set<string> want;
  for (int i = 0; i < 100; ++i) {
    string m = "first-" + std::to_string(i);
    want.insert(m);
    ck_assert(shipper.push("", m));
  }
  ck_assert(wait_for([&] { return rx->messages().size() >= 100; }));
  rx->freeze();
  for (int i = 0; i < 100; ++i) {
    string m = "second-" + std::to_string(i);
    want.insert(m);
    ck_assert(shipper.push("", m));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // sent, never read
  std::set<string> got;
  for (auto& m : rx->messages()) got.insert(m);
  rx.reset();  // killed: the unread lines are gone with it
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  rx = std::make_unique<Receiver>(port);
  for (int i = 0; i < 100; ++i) {
    string m = "third-" + std::to_string(i);
    want.insert(m);
    ck_assert(shipper.push("", m));
  }
  ck_assert(wait_for([&] {
    std::set<string> all = got;
    for (auto& m : rx->messages()) all.insert(m);
    return all == want;
  }));
  shipper.stop();
  ck_assert_uint_eq(shipper.stats().dropped_queue, 0);
  ck_assert_uint_gt(shipper.stats().resent, 0);
}
END_TEST

// ---- check_tag ----

START_TEST(tags) {
  string error;
  ck_assert(check_tag("httpd", error));
  ck_assert(check_tag("a.b-c_d/e", error));
  ck_assert(!check_tag("", error));
  ck_assert(!check_tag("a b", error));
  ck_assert_str_eq(error.c_str(), "tag 'a b' contains a space");
  ck_assert(!check_tag("x@y", error));
  ck_assert_str_eq(error.c_str(), "tag 'x@y' contains '@'");
  ck_assert(!check_tag("x]", error));
  ck_assert(check_tag(string(48, 't'), error));
  ck_assert(!check_tag(string(49, 't'), error));
}
END_TEST

Suite* syslog_suite() {
  Suite* s = suite_create("mod_syslog core");
  auto add = [&](const char* name) {
    TCase* tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup_pool, teardown_pool);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return tc;
  };
  TCase* parse = add("target");
  tcase_add_loop_test(parse, target_accepted, 0, sizeof kAccepted / sizeof kAccepted[0]);
  tcase_add_loop_test(parse, target_rejected, 0, sizeof kRejected / sizeof kRejected[0]);
  tcase_add_test(parse, every_facility_and_level_name);
  tcase_add_test(parse, target_endpoint_text);
  tcase_add_test(parse, target_names);
  tcase_add_loop_test(parse, target_definitions, 0, sizeof kDefinitions / sizeof kDefinitions[0]);
  tcase_add_test(parse, target_definition_keys);
  tcase_add_test(parse, tags);

  TCase* fmt = add("format");
  tcase_add_loop_test(fmt, encoder_vectors, 0, sizeof kVectors / sizeof kVectors[0]);
  tcase_add_test(fmt, encoder_keeps_every_byte);
  tcase_add_test(fmt, framing_vectors);
  tcase_add_test(fmt, format_names);
  tcase_add_test(fmt, hostnames_for_headers);
  tcase_add_test(fmt, local_time_breaks_down_in_zone);
  tcase_add_test(fmt, cached_stamps_equal_fresh_ones);
  tcase_add_test(fmt, header_template_matches_encode);

  TCase* cut = add("truncation");
  tcase_add_loop_test(cut, cut_lengths, 0, sizeof kCuts / sizeof kCuts[0]);
  tcase_add_test(cut, truncation_to_max_length);

  TCase* rep = add("reports");
  tcase_add_test(rep, drop_ledger_reports_once_per_interval);

  TCase* tr = add("transport");
  tcase_add_test(tr, datagram_unix_delivers);
  tcase_add_test(tr, datagram_unix_reconnects_to_recreated_socket);
  tcase_add_test(tr, datagram_unix_missing_then_present);
  tcase_add_test(tr, datagram_unix_stream_socket_detected);
  tcase_add_test(tr, datagram_full_receiver_not_now_then_waits_for_room);
  tcase_add_test(tr, datagram_too_long_is_failed);
  tcase_add_test(tr, datagram_sink_sends_one_line_per_batch);
  tcase_add_test(tr, datagram_sink_resumes_a_partly_sent_batch);
  tcase_add_test(tr, datagram_lines_survive_receiver_restart);
  tcase_add_test(tr, datagram_sink_sends_bursts_in_order);
  tcase_add_test(tr, udp_sink_tries_every_address);
  tcase_add_test(tr, udp_addresses_fall_back_and_rotate);
  tcase_add_test(tr, udp_sink_connect_failure_is_retried_with_a_new_lookup);
  tcase_add_test(tr, unix_sink_follows_a_path_that_changes_kind);
  tcase_add_test(tr, datagram_udp_delivers_and_survives_refusal);
  tcase_add_test(tr, tcp_sink_frames_by_octet_counting);
  tcase_add_test(tr, tcp_sink_frames_by_lf);
  tcase_add_test(tr, tcp_sink_detects_dead_peers);
  tcase_add_test(tr, tcp_sink_reports_what_the_peer_did_not_acknowledge);
  tcase_add_test(tr, tcp_sink_refused_is_unreachable);
  tcase_add_test(tr, unix_stream_sink_nul_terminates);
  tcase_add_test(tr, unreachable_reason_probes_each_transport);
  tcase_add_test(tr, open_sink_picks_sink_and_preset_per_transport);
  tcase_add_test(tr, shipper_resends_across_receiver_restart);
  return s;
}

}  // namespace

int main() {
  apr_initialize();
  SRunner* sr = srunner_create(syslog_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  apr_terminate();
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
