// Unit tests of mod_scribe's pure core (mod_scribe/scribe_target.h): the
// CustomLog target and directive parsers, spool naming, and the choice of
// collector among several (failover and return to the preferred one) on an
// explicit clock.
#include <check.h>

#include <chrono>
#include <string>
#include <vector>

#include "apr_general.h"
#include "apr_pools.h"
#include "scribe_settings.h"
#include "scribe_target.h"

using namespace scribe;
using delivery::Clock;
using delivery::Millis;

static apr_pool_t* pool;

static void setup() {
  ck_assert_int_eq(apr_initialize(), APR_SUCCESS);
  ck_assert_int_eq(apr_pool_create(&pool, nullptr), APR_SUCCESS);
}

static void teardown() {
  apr_pool_destroy(pool);
  apr_terminate();
}

// ---- targets ----

struct TargetCase {
  const char* text;
  bool ok;
  const char* category;        // when ok
  const char* host;            // when ok; nullptr: no collector named
  unsigned port;               // when ok and host
  const char* error_contains;  // when !ok
};

static const TargetCase kTargets[] = {
    {"scribe:www", true, "www", nullptr, 0, nullptr},
    {"SCRIBE:www", true, "www", nullptr, 0, nullptr},
    {"scribe:api.access", true, "api.access", nullptr, 0, nullptr},
    {"scribe:www@collector", true, "www", "collector", 1463, nullptr},
    {"scribe:www@collector.example.com:9999", true, "www", "collector.example.com", 9999, nullptr},
    {"scribe:www@127.0.0.1:1464", true, "www", "127.0.0.1", 1464, nullptr},
    {"scribe:www@[::1]:1465", true, "www", "::1", 1465, nullptr},
    {"scribe:www@[::1]", true, "www", "::1", 1463, nullptr},
    {"scribe:a/b-c_d", true, "a/b-c_d", nullptr, 0, nullptr},
    {"scribe:", false, nullptr, nullptr, 0, "empty Scribe category"},
    {"scribe:@host:1", false, nullptr, nullptr, 0, "empty Scribe category"},
    {"scribe:www@", false, nullptr, nullptr, 0, "missing collector after '@'"},
    {"scribe:w w", false, nullptr, nullptr, 0, "spaces"},
    {"scribe:w\tw", false, nullptr, nullptr, 0, "spaces"},
    {"scribe:www@host:", false, nullptr, nullptr, 0, "is not a number"},
    {"scribe:www@host:abc", false, nullptr, nullptr, 0, "port 'abc' is not a number"},
    {"scribe:www@host:0", false, nullptr, nullptr, 0, "out of range"},
    {"scribe:www@host:65536", false, nullptr, nullptr, 0, "out of range"},
    {"scribe:www@host:99999999999999999999999", false, nullptr, nullptr, 0, "out of range"},
    {"scribe:www@host:-1", false, nullptr, nullptr, 0, "is not a number"},
    {"scribe:www@:1463", false, nullptr, nullptr, 0, "missing host name"},
    {"scribe:www@ho st", false, nullptr, nullptr, 0, "not a valid host name"},
    {"scribe:www@::1:1463", false, nullptr, nullptr, 0, "brackets"},
    {"scribe:www@[::1", false, nullptr, nullptr, 0, "missing ']'"},
    {"scribe:www@[::1]x", false, nullptr, nullptr, 0, "expected ':port'"},
    {"scribe:www@[nothex]:1", false, nullptr, nullptr, 0, "is not an IPv6 address"},
    {"syslog:local0", false, nullptr, nullptr, 0, "does not start with"},
};

START_TEST(settings_make_shipper_options) {
  Settings st;
  st.spool_dir = "/var/spool/x";
  st.queue_bytes = 1 << 20;
  st.batch_lines = 50;
  st.flush_ms = 70;
  st.retry_min_ms = 5;
  st.retry_max_ms = 900;
  st.exit_timeout_ms = 1200;
  st.spool_max = 1 << 24;
  std::vector<Endpoint> servers = {{"a", 1}, {"b", 2}};
  delivery::ShipperOptions o = shipper_options(st, servers);
  ck_assert(o.queue_bytes == size_t(1) << 20 && o.batch_lines == 50);
  ck_assert(o.flush_interval == delivery::Millis(70));
  ck_assert(o.retry_min == delivery::Millis(5) && o.retry_max == delivery::Millis(900));
  ck_assert(o.exit_deadline == delivery::Millis(1200));
  ck_assert(o.spool_dir == "/var/spool/x" && o.spool_max_bytes == uint64_t(1) << 24);
  ck_assert(o.spool_name == spool_name_for(servers));
  // The defaults are the README's.
  Settings d;
  ck_assert(d.queue_bytes == 8u << 20 && d.batch_lines == 1000 && d.flush_ms == 200);
  ck_assert(d.spool_max == 1ull << 30 && d.exit_timeout_ms == 2000);
  ck_assert(SettingLimits::kMaxExitTimeoutMs < 3000);  // httpd escalates a stop at 3 s
}
END_TEST

START_TEST(target_table) {
  const TargetCase& c = kTargets[_i];
  Target t;
  std::string err;
  bool ok = parse_target(c.text, t, err);
  ck_assert_msg(ok == c.ok, "%s: expected %s, got %s (%s)", c.text, c.ok ? "ok" : "error",
                ok ? "ok" : "error", err.c_str());
  if (c.ok) {
    ck_assert_str_eq(t.category.c_str(), c.category);
    if (c.host) {
      ck_assert_uint_eq(t.servers.size(), 1u);
      ck_assert_str_eq(t.servers[0].host.c_str(), c.host);
      ck_assert_uint_eq(t.servers[0].port, c.port);
    } else {
      ck_assert_uint_eq(t.servers.size(), 0u);
    }
  } else {
    ck_assert_msg(err.find(c.error_contains) != std::string::npos, "%s: error '%s' lacks '%s'",
                  c.text, err.c_str(), c.error_contains);
  }
}
END_TEST

START_TEST(target_category_length) {
  Target t;
  std::string err;
  ck_assert(parse_target("scribe:" + std::string(kMaxCategoryLength, 'c'), t, err));
  ck_assert(!parse_target("scribe:" + std::string(kMaxCategoryLength + 1, 'c'), t, err));
  ck_assert(err.find("longer than") != std::string::npos);
}
END_TEST

START_TEST(endpoint_forms) {
  Endpoint ep;
  std::string err;
  ck_assert(parse_endpoint("localhost", ep, err));
  ck_assert(ep.to_string() == "localhost:1463");
  ck_assert(parse_endpoint("10.0.0.7:1", ep, err));
  ck_assert(ep.to_string() == "10.0.0.7:1");
  ck_assert(parse_endpoint("[fe80::1]:65535", ep, err));
  ck_assert(ep.to_string() == "[fe80::1]:65535");
  ck_assert(!parse_endpoint("", ep, err));
  ck_assert(err.find("empty") != std::string::npos);
  ck_assert(!parse_endpoint("host:1:2", ep, err));
  // The failed parse leaves the output alone.
  ck_assert(ep.to_string() == "[fe80::1]:65535");
}
END_TEST

// ---- collector sets ----

START_TEST(keys_and_spool_names) {
  std::vector<Endpoint> one = {{"127.0.0.1", 1463}};
  std::vector<Endpoint> two = {{"127.0.0.1", 1463}, {"::1", 1464}};
  ck_assert(servers_key(one) == "127.0.0.1:1463");
  ck_assert(servers_key(two) == "127.0.0.1:1463,[::1]:1464");
  std::string n1 = spool_name_for(one), n2 = spool_name_for(two);
  ck_assert(n1 != n2);
  ck_assert(n1 == spool_name_for(one));  // stable across restarts
  for (const std::string& n : {n1, n2}) {
    ck_assert_msg(n.find('.') == std::string::npos, "%s has a dot", n.c_str());
    for (char c : n) ck_assert(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
  }
  // Names that read alike still differ (the hash).
  ck_assert(spool_name_for({{"a.b", 1}}) != spool_name_for({{"a_b", 1}}));
  // Long lists stay short enough for a file name.
  std::vector<Endpoint> many;
  for (int i = 0; i < 50; ++i)
    many.push_back({"collector-" + std::to_string(i) + ".example", 1463});
  ck_assert_uint_lt(spool_name_for(many).size(), 120u);
}
END_TEST

static Suite* scribe_suite() {
  Suite* s = suite_create("scribe");
  TCase* parse = tcase_create("parse");
  tcase_add_checked_fixture(parse, setup, teardown);
  tcase_add_loop_test(parse, target_table, 0, sizeof kTargets / sizeof kTargets[0]);
  tcase_add_test(parse, target_category_length);
  tcase_add_test(parse, endpoint_forms);
  suite_add_tcase(s, parse);
  TCase* rot = tcase_create("collectors");
  tcase_add_checked_fixture(rot, setup, teardown);
  tcase_add_test(rot, keys_and_spool_names);
  tcase_add_test(rot, settings_make_shipper_options);
  suite_add_tcase(s, rot);
  return s;
}

int main() {
  SRunner* sr = srunner_create(scribe_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
