// Unit tests of include/spool_setup.h and include/trusted_file.h: how the
// root parent makes a spool directory ready, and reads a certificate, without following names that
// User can plant. Run as root (as `make unit` does here) the tests hand directories to `nobody`; as
// another user the ownership cases are skipped.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

// After the C++ headers: check.h defines macros (fail) that libstdc++ uses.
#include <check.h>

#include "spool_setup.h"
#include "trusted_file.h"

using delivery::prepare_spool_dir;
using delivery::SpoolOwner;

namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

std::string g_top;  // a fresh directory per test, 0755, owned by the runner

void make_top() {
  char tmpl[] = "/tmp/spool-setup-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(tmpl));
  g_top = tmpl;
  ck_assert_int_eq(chmod(g_top.c_str(), 0755), 0);
}

void remove_top() {
  std::string cmd = "rm -rf '" + g_top + "'";
  ck_assert_int_eq(std::system(cmd.c_str()), 0);
}

bool running_as_root() { return geteuid() == 0; }

// The children's user: nobody under root, ourselves otherwise.
SpoolOwner owner() {
  if (running_as_root()) return delivery::spool_owner_for(kNobody, kNogroup, "nobody");
  return delivery::spool_owner_for(geteuid(), getegid(), "");
}

struct stat stat_of(const std::string& path) {
  struct stat st;
  ck_assert_int_eq(lstat(path.c_str(), &st), 0);
  return st;
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

void expect_error(const std::string& dir, const std::string& fragment) {
  std::string error;
  ck_assert_msg(!prepare_spool_dir(dir, owner(), error), "%s accepted", dir.c_str());
  ck_assert_msg(error.find(fragment) != std::string::npos, "'%s' lacks '%s'", error.c_str(),
                fragment.c_str());
}

}  // namespace

START_TEST(creates_parents_and_hands_over_only_the_leaf) {
  std::string dir = g_top + "/a/b/spool";
  std::string error;
  ck_assert_msg(prepare_spool_dir(dir, owner(), error), "%s", error.c_str());
  for (const std::string& parent : {g_top + "/a", g_top + "/a/b"}) {
    struct stat st = stat_of(parent);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0755u);
    ck_assert_uint_eq(st.st_uid, geteuid());
  }
  struct stat st = stat_of(dir);
  ck_assert_uint_eq(st.st_mode & 07777, 0700u);
  ck_assert_uint_eq(st.st_uid, owner().uid);
  // A graceful restart finds it as it was left.
  ck_assert_msg(prepare_spool_dir(dir, owner(), error), "%s", error.c_str());
  // Nothing was created inside it.
  std::string cmd = "test -z \"$(ls -A '" + dir + "')\"";
  ck_assert_int_eq(std::system(cmd.c_str()), 0);
}
END_TEST

START_TEST(existing_root_directory_is_refused_not_taken) {
  if (!running_as_root()) return;
  std::string dir = g_top + "/logs";
  ck_assert_int_eq(mkdir(dir.c_str(), 0750), 0);
  write_file(dir + "/error.log", "root's log\n");
  expect_error(dir, "owned by root");
  expect_error(dir, "chown nobody");
  ck_assert_uint_eq(stat_of(dir).st_uid, 0u);
}
END_TEST

START_TEST(group_or_world_writable_directory_is_refused) {
  std::string dir = g_top + "/spool";
  ck_assert_int_eq(mkdir(dir.c_str(), 0700), 0);
  ck_assert_int_eq(chown(dir.c_str(), owner().uid, owner().gid), 0);
  ck_assert_int_eq(chmod(dir.c_str(), 0770), 0);
  expect_error(dir, "writable by its group or by others (mode 0770)");
  ck_assert_int_eq(chmod(dir.c_str(), 01777), 0);
  expect_error(dir, "mode 1777");
  ck_assert_int_eq(chmod(dir.c_str(), 0500), 0);
  expect_error(dir, "does not let");
  ck_assert_int_eq(chmod(dir.c_str(), 0700), 0);
  std::string error;
  ck_assert_msg(prepare_spool_dir(dir, owner(), error), "%s", error.c_str());
}
END_TEST

START_TEST(other_users_directory_is_refused) {
  if (!running_as_root()) return;
  std::string dir = g_top + "/spool";
  ck_assert_int_eq(mkdir(dir.c_str(), 0700), 0);
  ck_assert_int_eq(chown(dir.c_str(), 12345, 12345), 0);
  expect_error(dir, "owned by uid 12345, not by nobody");
}
END_TEST

START_TEST(symlink_in_a_writable_directory_is_refused) {
  if (!running_as_root()) return;
  // The attacker's directory (writable by User) holds a link to a root
  // directory; the parent must neither follow nor chown it.
  std::string victim = g_top + "/victim";
  ck_assert_int_eq(mkdir(victim.c_str(), 0755), 0);
  std::string writable = g_top + "/run";
  ck_assert_int_eq(mkdir(writable.c_str(), 0777), 0);
  ck_assert_int_eq(chmod(writable.c_str(), 0777), 0);
  ck_assert_int_eq(symlink(victim.c_str(), (writable + "/spool").c_str()), 0);
  expect_error(writable + "/spool", "is a symbolic link in");
  ck_assert_uint_eq(stat_of(victim).st_uid, 0u);
  // The same for a link on the way, not only as the last component.
  ck_assert_int_eq(symlink(victim.c_str(), (writable + "/up").c_str()), 0);
  expect_error(writable + "/up/spool", "is a symbolic link in");
  ck_assert_int_ne(access((victim + "/spool").c_str(), F_OK), 0);
}
END_TEST

START_TEST(symlink_in_a_root_directory_is_followed) {
  // As Debian's /var/run -> /run: a link only root could have made.
  std::string real = g_top + "/real";
  ck_assert_int_eq(mkdir(real.c_str(), 0755), 0);
  ck_assert_int_eq(symlink("real", (g_top + "/alias").c_str()), 0);
  std::string error;
  ck_assert_msg(prepare_spool_dir(g_top + "/alias/spool", owner(), error), "%s", error.c_str());
  ck_assert_uint_eq(stat_of(real + "/spool").st_uid, owner().uid);
  ck_assert_uint_eq(stat_of(real + "/spool").st_mode & 07777, 0700u);
}
END_TEST

START_TEST(planted_names_inside_the_spool_are_not_touched) {
  // User owns the spool directory and may link any name in it to a root
  // file: the parent opens nothing in there, so the file keeps its bytes.
  std::string dir = g_top + "/spool";
  std::string error;
  ck_assert_msg(prepare_spool_dir(dir, owner(), error), "%s", error.c_str());
  std::string victim = g_top + "/shadow";
  write_file(victim, "precious\n");
  for (int pid = 1; pid < 64; ++pid) {
    symlink(victim.c_str(), (dir + "/.probe." + std::to_string(pid)).c_str());
  }
  symlink(victim.c_str(), (dir + "/.probe." + std::to_string(getpid())).c_str());
  ck_assert_msg(prepare_spool_dir(dir, owner(), error), "%s", error.c_str());
  ck_assert_int_eq(stat_of(victim).st_size, 9);
}
END_TEST

START_TEST(unreachable_or_blocked_paths_are_errors) {
  std::string file = g_top + "/file";
  write_file(file, "not a directory");
  expect_error(file + "/spool", "exists and is not a directory");
  expect_error(file, "exists and is not a directory");
  if (running_as_root()) {
    std::string closed = g_top + "/closed";
    ck_assert_int_eq(mkdir(closed.c_str(), 0700), 0);
    expect_error(closed + "/spool", "cannot enter " + closed);
  }
  expect_error("relative/spool", "not an absolute path");
  expect_error("/", "root directory");
  expect_error(g_top + "/..", "ends in '..'");
}
END_TEST

// ---- reading a certificate as the root parent ----

std::string read_or_error(const std::string& path, bool& ok) {
  std::string out, error;
  ok = delivery::read_trusted_file(path, out, error);
  return ok ? out : error;
}

START_TEST(trusted_file_reads_what_only_root_can_change) {
  // g_top sits in /tmp, sticky and writable by all, and is the runner's own.
  std::string dir = g_top + "/tls";
  ck_assert_int_eq(mkdir(dir.c_str(), 0755), 0);
  write_file(dir + "/ca.pem", "PEM\n");
  bool ok;
  std::string got = read_or_error(dir + "/ca.pem", ok);
  ck_assert_msg(ok, "%s", got.c_str());
  ck_assert_str_eq(got.c_str(), "PEM\n");
  // Through a link that sits in a directory only we can change.
  ck_assert_int_eq(symlink("ca.pem", (dir + "/current.pem").c_str()), 0);
  got = read_or_error(dir + "/current.pem", ok);
  ck_assert_msg(ok, "%s", got.c_str());
}
END_TEST

START_TEST(trusted_file_refuses_what_others_can_change) {
  std::string dir = g_top + "/tls";
  ck_assert_int_eq(mkdir(dir.c_str(), 0755), 0);
  write_file(dir + "/ca.pem", "PEM\n");
  bool ok;
  // The file itself.
  ck_assert_int_eq(chmod((dir + "/ca.pem").c_str(), 0666), 0);
  std::string got = read_or_error(dir + "/ca.pem", ok);
  ck_assert(!ok);
  ck_assert_msg(got.find("others can write it") != std::string::npos, "%s", got.c_str());
  ck_assert_int_eq(chmod((dir + "/ca.pem").c_str(), 0644), 0);
  // A directory on the way (not sticky).
  ck_assert_int_eq(chmod(dir.c_str(), 0777), 0);
  got = read_or_error(dir + "/ca.pem", ok);
  ck_assert(!ok);
  ck_assert_msg(got.find("a directory others can write") != std::string::npos, "%s", got.c_str());
  // A link planted in such a directory is never followed.
  ck_assert_int_eq(symlink("/etc/shadow", (dir + "/key.pem").c_str()), 0);
  got = read_or_error(dir + "/key.pem", ok);
  ck_assert(!ok);
  ck_assert_int_eq(chmod(dir.c_str(), 0755), 0);
  // Not a file; missing; relative.
  got = read_or_error(dir, ok);
  ck_assert(!ok);
  got = read_or_error(dir + "/missing.pem", ok);
  ck_assert(!ok);
  ck_assert_msg(got.find("No such file") != std::string::npos, "%s", got.c_str());
  got = read_or_error("tls/ca.pem", ok);
  ck_assert(!ok);
}
END_TEST

START_TEST(trusted_file_in_a_sticky_directory_only_when_ours) {
  if (!running_as_root()) return;
  std::string dir = g_top + "/shared";
  ck_assert_int_eq(mkdir(dir.c_str(), 01777), 0);
  ck_assert_int_eq(chmod(dir.c_str(), 01777), 0);
  write_file(dir + "/ours.pem", "PEM\n");
  write_file(dir + "/theirs.pem", "PEM\n");
  ck_assert_int_eq(chown((dir + "/theirs.pem").c_str(), kNobody, kNogroup), 0);
  bool ok;
  std::string got = read_or_error(dir + "/ours.pem", ok);
  ck_assert_msg(ok, "%s", got.c_str());
  got = read_or_error(dir + "/theirs.pem", ok);
  ck_assert(!ok);
}
END_TEST

static Suite* spool_setup_suite() {
  Suite* s = suite_create("spool_setup");
  TCase* tc = tcase_create("spool_setup");
  tcase_add_checked_fixture(tc, make_top, remove_top);
  tcase_add_test(tc, creates_parents_and_hands_over_only_the_leaf);
  tcase_add_test(tc, existing_root_directory_is_refused_not_taken);
  tcase_add_test(tc, group_or_world_writable_directory_is_refused);
  tcase_add_test(tc, other_users_directory_is_refused);
  tcase_add_test(tc, symlink_in_a_writable_directory_is_refused);
  tcase_add_test(tc, symlink_in_a_root_directory_is_followed);
  tcase_add_test(tc, planted_names_inside_the_spool_are_not_touched);
  tcase_add_test(tc, unreachable_or_blocked_paths_are_errors);
  suite_add_tcase(s, tc);
  TCase* files = tcase_create("trusted_file");
  tcase_add_checked_fixture(files, make_top, remove_top);
  tcase_add_test(files, trusted_file_reads_what_only_root_can_change);
  tcase_add_test(files, trusted_file_refuses_what_others_can_change);
  tcase_add_test(files, trusted_file_in_a_sticky_directory_only_when_ours);
  suite_add_tcase(s, files);
  return s;
}

int main() {
  SRunner* sr = srunner_create(spool_setup_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
