// What mod_cidr_lookup's unit tests share: assertions that suit C++, a
// temporary directory per test, files written whole, running a suite.
// Include it after the C++ headers: check.h defines macros (fail) that
// libstdc++ uses.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <fstream>
#include <string>

// After the C++ headers: check.h defines macros (fail) that libstdc++ uses.
#include <check.h>

// ck_assert(x) hands NULL to a printf-style parameter, which g++ warns about
// in C++; this one always passes a format string.
#define CHECK(expr) ck_assert_msg((expr), "%s", #expr)
// ck_assert_str_eq evaluates its arguments more than once, which would leave
// it comparing dead temporaries.
#define CHECK_STR(a, b)                                                                       \
  do {                                                                                        \
    const std::string got_ = (a), want_ = (b);                                                \
    ck_assert_msg(got_ == want_, "%s: got '%s', want '%s'", #a, got_.c_str(), want_.c_str()); \
  } while (0)

namespace cidr_test {

// The current test's directory (each test runs in a process of its own).
inline std::string& dir() {
  static std::string path;
  return path;
}

inline void make_dir() {
  char tmpl[] = "/tmp/cidr-test-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(tmpl));
  dir() = tmpl;
}

inline void remove_dir() {
  std::string cmd = "rm -rf '" + dir() + "'";
  ck_assert_int_eq(std::system(cmd.c_str()), 0);
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

// Runs every test of the suite; the exit status of a test program.
inline int run_suite(Suite* s) {
  SRunner* runner = srunner_create(s);
  srunner_run_all(runner, CK_NORMAL);
  int failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? 0 : 1;
}

}  // namespace cidr_test
