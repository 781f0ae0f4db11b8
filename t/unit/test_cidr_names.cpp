// Unit tests of what keeps mod_cidr_lookup's answer from being chosen by a
// client or by whoever can write a list: field-name folding, reserved names
// (cidr_names.h) and the list-file rules of the loader (cidr_loader.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "cidr_loader.h"
#include "cidr_names.h"
#include "cidr_parse.h"
#include "test_cidr_fixture.h"

namespace {

using cidr_test::make_dir;
using cidr_test::remove_dir;
using cidr_test::write_file;

bool any_contains(const std::vector<std::string>& v, const std::string& s) {
  for (const std::string& x : v) {
    if (x.find(s) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

START_TEST(field_names_fold_case_and_separators) {
  CHECK(cidr::same_field_name("X-Client-Type", "X_CLIENT_TYPE"));
  CHECK(cidr::same_field_name("x_client-type", "X-CLIENT_TYPE"));
  CHECK(!cidr::same_field_name("X-Client-Type", "X-Client-Types"));
  CHECK(!cidr::same_field_name("X-Client-Type", "X.Client.Type"));
  CHECK(cidr::same_field_name("", ""));
}
END_TEST

START_TEST(reserved_headers) {
  for (const char* name :
       {"Host", "content-length", "Transfer_Encoding", "Connection", "TE", "Authorization",
        "Cookie", "Proxy", "X-Forwarded-For", "Sec-Fetch-Site", "Proxy-Foo"}) {
    ck_assert_msg(cidr::reserved_header_reason(name) != nullptr, "%s allowed", name);
  }
  for (const char* name : {"X-Client-Type", "X-Carrier", "Client-Kind"}) {
    ck_assert_msg(cidr::reserved_header_reason(name) == nullptr, "%s refused", name);
  }
}
END_TEST

START_TEST(reserved_variables) {
  for (const char* name :
       {"REMOTE_ADDR", "remote_addr", "HTTPS", "HTTP_X_CLIENT_TYPE", "SSL_FOO", "PATH",
        "LD_PRELOAD", "REDIRECT_X", "COOKIE", "CONTENT_LENGTH", "SCRIPT_FILENAME"}) {
    ck_assert_msg(cidr::reserved_env_reason(name) != nullptr, "%s allowed", name);
  }
  for (const char* name : {"X_CLIENT_TYPE", "X_CLIENT_CIDR", "CLIENT_KIND"}) {
    ck_assert_msg(cidr::reserved_env_reason(name) == nullptr, "%s refused", name);
  }
}
END_TEST

START_TEST(backup_names) {
  for (const char* name : {"office.txt~", "office.txt.bak", "office.orig", "office.rej",
                           "office.swp", "office.txt.dpkg-old", "office.dpkg-dist", "office.rpmnew",
                           "office.rpmsave", "#office.txt#", "office.ucf-old"}) {
    ck_assert_msg(cidr::is_backup_name(name), "%s not a backup", name);
  }
  for (const char* name : {"office.txt", "office", "rpm", "partner.example.com", "#office"}) {
    ck_assert_msg(!cidr::is_backup_name(name), "%s a backup", name);
  }
}
END_TEST

START_TEST(only_regular_files_within_the_cap) {
  std::string text, error;
  bool writable = true;
  std::string fifo = cidr_test::dir() + "/fifo.txt";
  ck_assert_int_eq(mkfifo(fifo.c_str(), 0644), 0);
  CHECK(!cidr::read_list_file(fifo, text, error, writable));  // returns, no writer needed
  CHECK(error.find("not a regular file") != std::string::npos);
  CHECK(!cidr::read_list_file("/dev/null", text, error, writable));
  CHECK(!cidr::read_list_file(cidr_test::dir(), text, error, writable));

  std::string huge = cidr_test::dir() + "/huge.txt";
  int fd = open(huge.c_str(), O_CREAT | O_WRONLY, 0644);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(ftruncate(fd, off_t(cidr::kMaxListFileBytes) + 1), 0);
  close(fd);
  CHECK(!cidr::read_list_file(huge, text, error, writable));
  CHECK(error.find("more than the limit") != std::string::npos);

  std::string ok = cidr_test::dir() + "/ok.txt";
  write_file(ok, "10.0.0.0/8\n");
  ck_assert_int_eq(chmod(ok.c_str(), 0644), 0);
  CHECK(cidr::read_list_file(ok, text, error, writable));
  CHECK(text == "10.0.0.0/8\n" && !writable);
  ck_assert_int_eq(chmod(ok.c_str(), 0664), 0);
  CHECK(cidr::read_list_file(ok, text, error, writable));
  CHECK(writable);

  cidr::Diagnostics diag;
  cidr::Loader loader;
  CHECK(loader.load({cidr::FileKind::List, ok}, diag));
  CHECK(any_contains(diag.warnings(), ok + ": is writable by its group or by others"));
  CHECK(diag.warning_list().at(0).kind == cidr::WarningKind::WritableList);
}
END_TEST

START_TEST(directory_skips_backups_with_a_notice) {
  write_file(cidr_test::dir() + "/office.txt", "10.0.0.0/8\n");
  write_file(cidr_test::dir() + "/office.txt~", "10.0.0.0/8\n");
  write_file(cidr_test::dir() + "/#office.txt#", "10.0.0.0/8\n");
  write_file(cidr_test::dir() + "/office.txt.dpkg-old", "10.0.0.0/8\n");
  ck_assert_int_eq(mkfifo((cidr_test::dir() + "/pipe").c_str(), 0644), 0);
  cidr::Diagnostics diag;
  std::vector<std::string> files = cidr::expand_pattern(cidr_test::dir(), diag);
  ck_assert_uint_eq(files.size(), 1u);
  CHECK(files[0] == cidr_test::dir() + "/office.txt");
  ck_assert_uint_eq(diag.notices().size(), 1u);
  CHECK(diag.notices()[0] ==
        cidr_test::dir() +
            ": skipped backup files: #office.txt#, office.txt.dpkg-old, office.txt~");
}
END_TEST

static Suite* names_suite() {
  Suite* s = suite_create("cidr_names");
  TCase* names = tcase_create("names");
  tcase_add_test(names, field_names_fold_case_and_separators);
  tcase_add_test(names, reserved_headers);
  tcase_add_test(names, reserved_variables);
  tcase_add_test(names, backup_names);
  suite_add_tcase(s, names);
  TCase* files = tcase_create("list_files");
  tcase_add_checked_fixture(files, make_dir, remove_dir);
  tcase_add_test(files, only_regular_files_within_the_cap);
  tcase_add_test(files, directory_skips_backups_with_a_notice);
  suite_add_tcase(s, files);
  return s;
}

int main() { return cidr_test::run_suite(names_suite()); }
