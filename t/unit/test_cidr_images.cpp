// Unit tests of table images (table_image.h) and the image directory
// (image_store.h): an image answers as the table it was written from; a
// damaged, truncated, foreign or hostile image is refused, never read out of
// bounds; the directory and the images in it are trusted by owner and mode
// only; and the identity of lists follows their bytes.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "cidr_loader.h"
#include "cidr_parse.h"
#include "content_hash.h"
#include "image_store.h"
#include "prefix_table.h"
#include "table_builder.h"
#include "table_image.h"
#include "test_cidr_fixture.h"

namespace {

// A uid nobody on a test machine has.
constexpr uid_t kStranger = 54321;

using cidr_test::make_dir;
using cidr_test::remove_dir;
using cidr_test::write_file;

const char* kMap =
    "10.0.0.0/8 office\n"
    "10.1.2.0/24 lab\n"
    "10.1.2.3 printer\n"
    "192.0.2.0/25 partner\n"
    "10.0.0.5/8 lab\n"  // host bits, and listed twice: warnings kept in the image
    "2001:db8::/32 office\n"
    "2001:db8:1::1 printer\n"
    "2001:db8:1::2 printer\n"
    "2001:db8:1::3 printer\n"
    "2001:db8:1::4 printer\n"
    "2001:db8:1::5 printer\n"
    "2001:db8:1::/64 lab\n";

std::unique_ptr<cidr::PrefixTable> sample_table() {
  cidr::Loader loader;
  cidr::Diagnostics diag;
  loader.load_text(kMap, "sample.map", cidr::FileKind::Map, "", diag);
  ck_assert_msg(!diag.has_errors(), "%s", diag.error_text().c_str());
  return loader.build(diag);
}

std::vector<unsigned char> image_bytes(const cidr::PrefixTable& table) {
  int fd = memfd_create("image", MFD_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  std::string error;
  ck_assert_msg(cidr::write_image(fd, table, error), "%s", error.c_str());
  off_t size = lseek(fd, 0, SEEK_END);
  std::vector<unsigned char> bytes(static_cast<size_t>(size));
  ck_assert_int_eq(pread(fd, bytes.data(), bytes.size(), 0), size);
  close(fd);
  return bytes;
}

std::string answer(const cidr::PrefixTable& t, const char* addr) {
  cidr::Address a;
  ck_assert(cidr::parse_address(addr, a));
  cidr::Match m;
  if (!t.lookup(a, m)) return "-";
  return std::string(t.type_name(m.type)) + " " + cidr::format_prefix(m.network);
}

// Opens a copy of `bytes` with one 32-bit word changed and the checksum
// made right again: only the structure checks can refuse it.
std::string refusal(std::vector<unsigned char> bytes, size_t offset, uint32_t word) {
  ck_assert(offset + sizeof(word) <= bytes.size());
  std::memcpy(bytes.data() + offset, &word, sizeof(word));
  ck_assert(cidr::reseal_image(bytes.data(), bytes.size()));
  std::string error;
  auto t = cidr::open_image_bytes(bytes.data(), bytes.size(), cidr::ImageExpectation{}, error);
  return t ? "accepted" : error;
}

size_t offset_in(const std::vector<unsigned char>& bytes, const void* p) {
  return size_t(static_cast<const unsigned char*>(p) - bytes.data());
}

uid_t file_owner(const std::string& path) {
  struct stat st;
  ck_assert_int_eq(lstat(path.c_str(), &st), 0);
  return st.st_uid;
}

}  // namespace

START_TEST(image_answers_as_its_table) {
  auto table = sample_table();
  auto bytes = image_bytes(*table);
  std::string error;
  auto image = cidr::open_image_bytes(bytes.data(), bytes.size(), cidr::ImageExpectation{}, error);
  ck_assert_msg(image != nullptr, "%s", error.c_str());
  for (const char* a :
       {"10.9.9.9", "10.1.2.9", "10.1.2.3", "192.0.2.1", "192.0.2.200", "8.8.8.8", "2001:db8::9",
        "2001:db8:1::3", "2001:db8:1::9", "2001:db9::1", "::ffff:10.1.2.3"}) {
    CHECK_STR(answer(*image, a), answer(*table, a));
  }
  CHECK_STR(answer(*image, "2001:db8:1::3"), "printer 2001:db8:1::3/128");
  CHECK(image->size_v4() == table->size_v4() && image->size_v6() == table->size_v6());
  CHECK(image->type_count() == 4);
  CHECK(image->info().identity == table->info().identity && image->info().identity != 0);
  CHECK(image->info().built_at == table->info().built_at);
  CHECK(image->warnings().size() == 2);  // host bits, and 10.0.0.0/8 listed twice
  CHECK(image->warnings()[0].kind == cidr::WarningKind::HostBits);
  CHECK(image->warnings()[0].text == table->warnings()[0].text);
  for (uint16_t id = 0; id < image->type_count(); ++id) {
    CHECK(image->type_prefixes(id, cidr::Family::V4) == table->type_prefixes(id, cidr::Family::V4));
    CHECK(image->type_prefixes(id, cidr::Family::V6) == table->type_prefixes(id, cidr::Family::V6));
  }
}
END_TEST

START_TEST(damaged_images_are_refused) {
  auto bytes = image_bytes(*sample_table());
  std::string error;
  // Any byte changed: the checksum.
  for (size_t at = 0; at < bytes.size(); at += 37) {
    std::vector<unsigned char> copy = bytes;
    copy[at] ^= 0x5a;
    CHECK(cidr::open_image_bytes(copy.data(), copy.size(), cidr::ImageExpectation{}, error) ==
          nullptr);
  }
  CHECK(cidr::open_image_bytes(bytes.data(), bytes.size() - 1, cidr::ImageExpectation{}, error) ==
        nullptr);
  CHECK(error.find("truncated") != std::string::npos);
  CHECK(cidr::open_image_bytes(bytes.data(), 10, cidr::ImageExpectation{}, error) == nullptr);
  std::vector<unsigned char> longer = bytes;
  longer.resize(bytes.size() + 64);
  CHECK(cidr::open_image_bytes(longer.data(), longer.size(), cidr::ImageExpectation{}, error) ==
        nullptr);
  std::string text = "10.0.0.0/8\n";
  CHECK(cidr::open_image_bytes(text.data(), text.size(), cidr::ImageExpectation{}, error) ==
        nullptr);
  // Another list's image.
  cidr::ImageExpectation other;
  other.check_identity = true;
  other.identity = 42;
  CHECK(cidr::open_image_bytes(bytes.data(), bytes.size(), other, error) == nullptr);
  CHECK(error.find("other lists") != std::string::npos);
}
END_TEST

// Images whose checksum is right but whose structure would send a lookup
// out of bounds, into a loop or to a type that does not exist.
START_TEST(hostile_images_are_refused) {
  auto bytes = image_bytes(*sample_table());
  std::string error;
  auto image = cidr::open_image_bytes(bytes.data(), bytes.size(), cidr::ImageExpectation{}, error);
  ck_assert(image != nullptr);
  const cidr::TableParts& parts = image->parts();
  const size_t v4_top = offset_in(bytes, parts.v4.top);
  const size_t v6_top = offset_in(bytes, parts.v6.top);

  CHECK(refusal(bytes, v4_top, cidr::kNodeTag | 1000000).find("node") != std::string::npos);
  CHECK(refusal(bytes, v4_top, cidr::kPoolTag | 1000000).find("record") != std::string::npos);
  CHECK(refusal(bytes, v4_top, cidr::make_result(77, 8)).find("result") != std::string::npos);
  CHECK(refusal(bytes, v4_top, cidr::make_result(0, 40)).find("result") != std::string::npos);
  CHECK(refusal(bytes, v6_top, cidr::make_result(0, 129)).find("result") != std::string::npos);

  // Every word of every node and record set to values that point anywhere:
  // each changed image is refused, or, when the change is harmless (a
  // result for another), answers every lookup within its own bytes (the
  // sanitizer build would see a stray read).
  size_t refused = 0, accepted = 0;
  const uint32_t kValues[] = {0,
                              1,
                              0xffffffffu,
                              cidr::kNodeTag | 1,
                              cidr::kPoolTag | 1,
                              cidr::kPoolTag | 3,
                              cidr::make_result(1, 33)};
  struct Area {
    const void* start;
    size_t words;
  } areas[] = {{parts.v4.pool, parts.v4.pool_words},
               {parts.v6.pool, parts.v6.pool_words},
               {parts.v4.nodes, parts.v4.node_count * 16},
               {parts.v6.nodes, parts.v6.node_count * 16}};
  for (const Area& area : areas) {
    if (area.start == nullptr) continue;
    const size_t base = offset_in(bytes, area.start);
    for (size_t w = 0; w < area.words; ++w) {
      for (uint32_t value : kValues) {
        std::vector<unsigned char> copy = bytes;
        std::memcpy(copy.data() + base + 4 * w, &value, sizeof(value));
        ck_assert(cidr::reseal_image(copy.data(), copy.size()));
        auto t = cidr::open_image_bytes(copy.data(), copy.size(), cidr::ImageExpectation{}, error);
        if (!t) {
          ++refused;
          continue;
        }
        ++accepted;
        for (const char* a : {"10.1.2.3", "10.9.9.9", "192.0.2.1", "0.0.0.0", "2001:db8:1::3",
                              "2001:db8:1::", "2001:db8::1", "::", "ffff::1"}) {
          answer(*t, a);
        }
      }
    }
  }
  CHECK(refused > 0 && accepted > 0);
  // A node whose child would come before it: lookups could loop.
  if (parts.v6.node_count > 0) {
    const size_t node = offset_in(bytes, parts.v6.nodes);
    std::vector<unsigned char> copy = bytes;
    uint64_t children = 1;
    std::memcpy(copy.data() + node, &children, sizeof(children));
    CHECK(refusal(copy, node + 16, 0).find("child") != std::string::npos);
  }
}
END_TEST

// The direct index (prefix_table.h) in an image: every byte names one of
// its results or sends the lookup to the trie, and every result is a type
// of the table and a length of at most /24.
START_TEST(direct_index_in_images) {
  cidr::TableBuilder builder;
  builder.set_direct_index_min_prefixes(1);
  uint32_t src = builder.add_source("direct");
  const uint16_t wide = builder.intern_type("wide"), office = builder.intern_type("office"),
                 host = builder.intern_type("host");
  cidr::Prefix p;
  bool host_bits = false;
  std::string why;
  ck_assert(cidr::parse_prefix("10.0.0.0/8", p, host_bits, why));
  builder.add(p, wide, src, 1);
  for (uint32_t i = 0; i < 64; ++i) {
    ck_assert(cidr::parse_prefix("10.1." + std::to_string(i) + ".0/24", p, host_bits, why));
    builder.add(p, office, src, 2 + i);
  }
  ck_assert(cidr::parse_prefix("10.1.7.9/32", p, host_bits, why));
  builder.add(p, host, src, 100);
  cidr::Diagnostics diag(0);
  auto table = builder.build(diag);
  ck_assert(table->parts().v4_direct.slots != nullptr);
  auto bytes = image_bytes(*table);
  std::string error;
  auto image = cidr::open_image_bytes(bytes.data(), bytes.size(), cidr::ImageExpectation{}, error);
  ck_assert_msg(image != nullptr, "%s", error.c_str());
  for (const char* a : {"10.1.7.9", "10.1.7.10", "10.1.8.1", "10.200.0.1", "11.0.0.1"}) {
    CHECK(answer(*image, a) == answer(*table, a));
  }
  CHECK(answer(*image, "10.1.7.9") == "host 10.1.7.9/32");
  CHECK(answer(*image, "10.1.7.10") == "office 10.1.7.0/24");
  CHECK(answer(*image, "10.2.0.1") == "wide 10.0.0.0/8");
  CHECK(answer(*image, "11.0.0.1") == "-");

  const cidr::DirectIndex& d = image->parts().v4_direct;
  const size_t slots = offset_in(bytes, d.slots), results = offset_in(bytes, d.results);
  // Bytes naming no result (four /24s at once): the first past the last
  // result, and far past it. The last result is fine.
  ck_assert_uint_eq(d.result_count, 3);  // no match, wide /8, office /24
  CHECK(refusal(bytes, slots + (0x0a0100 & ~3u), 0x03030303u).find("direct index") !=
        std::string::npos);
  CHECK(refusal(bytes, slots + (0x0a0100 & ~3u), 0xc8c8c8c8u).find("direct index") !=
        std::string::npos);
  CHECK(refusal(bytes, slots + (0x0a0100 & ~3u), 0x02020202u) == "accepted");
  CHECK(refusal(bytes, results + 4, cidr::make_result(77, 8)).find("direct index") !=
        std::string::npos);
  CHECK(refusal(bytes, results + 4, cidr::make_result(0, 25)).find("direct index") !=
        std::string::npos);
  // A harmless change is accepted: the byte names another result.
  CHECK(refusal(bytes, slots + (0x0b0000 & ~3u), 0x01010101u) == "accepted");

  // The header's two sections (offset and size each), found by their
  // values: the index without its results, results without the index, an
  // index of the wrong size.
  const uint64_t want[2] = {slots, cidr::DirectIndex::kSlots};
  size_t at = 0;
  while (at + 32 <= 512 && std::memcmp(bytes.data() + at, want, sizeof(want)) != 0) at += 8;
  ck_assert_uint_lt(at + 32, 512);
  auto headed = [&](size_t field, uint64_t value) {
    std::vector<unsigned char> copy = bytes;
    std::memcpy(copy.data() + at + field, &value, sizeof(value));
    ck_assert(cidr::reseal_image(copy.data(), copy.size()));
    std::string why;
    return cidr::open_image_bytes(copy.data(), copy.size(), cidr::ImageExpectation{}, why)
               ? std::string("accepted")
               : why;
  };
  CHECK(headed(24, 0).find("direct index") != std::string::npos);  // results: 0 bytes
  CHECK(headed(8, 0).find("direct index") != std::string::npos);   // index: 0 bytes
  CHECK(headed(8, cidr::DirectIndex::kSlots - 64).find("direct index") != std::string::npos);
  CHECK(headed(24, 3 * sizeof(uint32_t)) == "accepted");  // unchanged
}
END_TEST

START_TEST(image_directory_is_made_safely) {
  make_dir();
  std::string error;
  cidr::DirOwner owner;
  owner.uid = geteuid();
  owner.gid = getegid();
  auto store = cidr::ImageStore::open_dir(cidr_test::dir(), "images", owner, error);
  ck_assert_msg(store != nullptr, "%s", error.c_str());
  struct stat st;
  ck_assert_int_eq(stat((cidr_test::dir() + "/images").c_str(), &st), 0);
  CHECK((st.st_mode & 07777) == 0755);
  store.reset();

  // A symbolic link in its place is not followed.
  ck_assert_int_eq(mkdir((cidr_test::dir() + "/elsewhere").c_str(), 0755), 0);
  ck_assert_int_eq(
      symlink((cidr_test::dir() + "/elsewhere").c_str(), (cidr_test::dir() + "/linked").c_str()),
      0);
  CHECK(cidr::ImageStore::open_dir(cidr_test::dir(), "linked", owner, error) == nullptr);
  // Nor is a file.
  write_file(cidr_test::dir() + "/plain", "x");
  CHECK(cidr::ImageStore::open_dir(cidr_test::dir(), "plain", owner, error) == nullptr);

  if (geteuid() == 0) {
    // Someone else's directory is refused, never taken over.
    ck_assert_int_eq(mkdir((cidr_test::dir() + "/theirs").c_str(), 0755), 0);
    ck_assert_int_eq(chown((cidr_test::dir() + "/theirs").c_str(), kStranger, kStranger), 0);
    CHECK(cidr::ImageStore::open_dir(cidr_test::dir(), "theirs", owner, error) == nullptr);
    CHECK(error.find("owned by uid") != std::string::npos);
    // The children's, when it is theirs and only theirs to write.
    cidr::DirOwner children{kStranger, kStranger, cidr::DirOwner::Writers::Children};
    CHECK(cidr::ImageStore::open_dir(cidr_test::dir(), "theirs", children, error) != nullptr);
    ck_assert_int_eq(chmod((cidr_test::dir() + "/theirs").c_str(), 0775), 0);
    CHECK(cidr::ImageStore::open_dir(cidr_test::dir(), "theirs", children, error) == nullptr);
    CHECK(error.find("writable by its group") != std::string::npos);
    // Root's own directory is handed to the children when they write there.
    CHECK(cidr::ImageStore::open_dir(cidr_test::dir(), "handed", children, error) != nullptr);
    CHECK(file_owner(cidr_test::dir() + "/handed") == kStranger);
  }
  remove_dir();
}
END_TEST

START_TEST(images_are_trusted_by_owner_and_mode) {
  make_dir();
  std::string error;
  cidr::DirOwner owner;
  owner.uid = geteuid();
  auto store = cidr::ImageStore::open_dir(cidr_test::dir(), "images", owner, error);
  ck_assert(store != nullptr);
  auto table = sample_table();
  const uint64_t id = table->info().identity;
  std::string name;
  cidr::ImageDigest digest;
  ck_assert_msg(store->write(*table, name, error, digest), "%s", error.c_str());
  CHECK(name == cidr::ImageStore::image_name(id));
  const std::string path = cidr_test::dir() + "/images/" + name;
  struct stat st;
  ck_assert_int_eq(stat(path.c_str(), &st), 0);
  CHECK((st.st_mode & 07777) == 0644);

  cidr::TrustedWriters me(geteuid());
  std::string why;
  auto back = store->open(id, me, why);
  ck_assert_msg(back != nullptr, "%s", why.c_str());
  CHECK(back->mapped());
  CHECK_STR(answer(*back, "10.1.2.3"), "printer 10.1.2.3/32");
  CHECK(store->open(id + 1, me, why) == nullptr && why.empty());  // none: nothing to say

  ck_assert_int_eq(chmod(path.c_str(), 0664), 0);
  CHECK(store->open(id, me, why) == nullptr);
  CHECK(why.find("writable by its group") != std::string::npos);
  ck_assert_int_eq(chmod(path.c_str(), 0644), 0);

  if (geteuid() == 0) {
    ck_assert_int_eq(chown(path.c_str(), kStranger, kStranger), 0);
    CHECK(store->open(id, me, why) == nullptr);
    CHECK(why.find("owned by uid 54321") != std::string::npos);
    // A trusted child's image: only with the digest its builder published,
    // and then read, never mapped shared.
    const cidr::TrustedWriters with_children(geteuid(), kStranger);
    CHECK(store->open(id, with_children, why) == nullptr);
    CHECK(why.find("no digest of it was published") != std::string::npos);
    auto read = store->open(id, with_children, why, &digest);
    ck_assert_msg(read != nullptr, "%s", why.c_str());
    CHECK(!read->mapped());
    CHECK_STR(answer(*read, "10.1.2.3"), "printer 10.1.2.3/32");
    cidr::ImageDigest other = digest;
    other.bytes[0] ^= 1;
    CHECK(store->open(id, with_children, why, &other) == nullptr);
    CHECK(why.find("not the bytes") != std::string::npos);
    ck_assert_int_eq(chown(path.c_str(), 0, 0), 0);
  }

  // A link to a good image is not followed; a FIFO does not block.
  ck_assert_int_eq(rename(path.c_str(), (cidr_test::dir() + "/real.cidr").c_str()), 0);
  ck_assert_int_eq(symlink((cidr_test::dir() + "/real.cidr").c_str(), path.c_str()), 0);
  CHECK(store->open(id, me, why) == nullptr && !why.empty());
  ck_assert_int_eq(unlink(path.c_str()), 0);
  ck_assert_int_eq(mkfifo(path.c_str(), 0644), 0);
  CHECK(store->open(id, me, why) == nullptr);
  CHECK(why.find("not a regular file") != std::string::npos);
  ck_assert_int_eq(unlink(path.c_str()), 0);

  // A damaged one: refused, and the reason says so.
  ck_assert_int_eq(rename((cidr_test::dir() + "/real.cidr").c_str(), path.c_str()), 0);
  int fd = open(path.c_str(), O_WRONLY);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(pwrite(fd, "damage", 6, 400), 6);
  close(fd);
  CHECK(store->open(id, me, why) == nullptr);
  CHECK(why.find("checksum") != std::string::npos);
  remove_dir();
}
END_TEST

START_TEST(newest_image_and_cleaning_up) {
  make_dir();
  std::string error;
  auto store = cidr::ImageStore::open_dir(cidr_test::dir(), "images",
                                          cidr::DirOwner{geteuid(), 0, {}}, error);
  ck_assert(store != nullptr);
  std::vector<std::string> names;
  for (int i = 0; i < 3; ++i) {
    auto table = sample_table();
    cidr::TableInfo info = table->info();
    info.identity = 100 + uint64_t(i);
    info.config_key = i < 2 ? 7 : 8;
    info.built_at = 1000 + i;
    table->set_info(info);
    std::string name;
    ck_assert(store->write(*table, name, error));
    names.push_back(name);
  }
  cidr::TrustedWriters me(geteuid());
  auto newest = store->newest_for(7, me);
  ck_assert(newest != nullptr);
  CHECK(newest->info().identity == 101);
  CHECK(store->newest_for(9, me) == nullptr);
  if (geteuid() == 0) {
    // The newest one of another writer is not what `keep` may use.
    ck_assert_int_eq(
        chown((cidr_test::dir() + "/images/" + names[1]).c_str(), kStranger, kStranger), 0);
    newest = store->newest_for(7, me);
    ck_assert(newest != nullptr);
    CHECK(newest->info().identity == 100);
  }

  write_file(cidr_test::dir() + "/images/notes.txt", "left alone");
  write_file(cidr_test::dir() + "/images/.tmp-1-2-3-fresh.cidr", "a writer at work");
  store->collect({names[0]});
  std::string why;
  CHECK(store->open(100, me, why) != nullptr);
  CHECK(store->open(101, me, why) == nullptr && store->open(102, me, why) == nullptr);
  CHECK(access((cidr_test::dir() + "/images/notes.txt").c_str(), F_OK) == 0);
  CHECK(access((cidr_test::dir() + "/images/.tmp-1-2-3-fresh.cidr").c_str(), F_OK) == 0);
  remove_dir();
}
END_TEST

START_TEST(identity_follows_the_bytes) {
  make_dir();
  const std::string a = cidr_test::dir() + "/crawler.txt", b = cidr_test::dir() + "/office.txt";
  write_file(a, "192.0.2.0/24\n");
  write_file(b, "198.51.100.0/24\n");
  std::vector<cidr::ListSpec> specs = {{cidr::FileKind::List, cidr_test::dir() + "/*.txt"}};
  cidr::Diagnostics diag;
  auto files = cidr::find_list_files(specs, diag);
  ck_assert_uint_eq(files.size(), 2);
  uint64_t id1 = 0, id2 = 0;
  std::string error;
  CHECK(cidr::list_identity(files, id1, error));
  cidr::Loader loader;
  CHECK(loader.load_files(files, diag));
  CHECK(loader.identity() == id1);
  CHECK(loader.build(diag)->info().identity == id1);

  const uint64_t stamps = cidr::stamps_fingerprint(files);
  // Rewritten with the same bytes: the stamps move, the identity does not.
  usleep(10000);
  write_file(a, "192.0.2.0/24\n");
  files = cidr::find_list_files(specs, diag);
  CHECK(cidr::stamps_fingerprint(files) != stamps);
  CHECK(cidr::list_identity(files, id2, error) && id2 == id1);
  // One byte changed: both move.
  write_file(a, "192.0.2.0/25\n");
  files = cidr::find_list_files(specs, diag);
  CHECK(cidr::list_identity(files, id2, error) && id2 != id1);
  // The same bytes as a map, or under another name: another identity.
  std::vector<cidr::ListSpec> as_map = {{cidr::FileKind::Map, a}};
  CHECK(cidr::specs_key(as_map) != cidr::specs_key(specs));
  // Named as a file and replaced by a FIFO: no identity, and no wait for a
  // writer. (A glob or directory only ever finds regular files.)
  ck_assert_int_eq(unlink(a.c_str()), 0);
  ck_assert_int_eq(mkfifo(a.c_str(), 0644), 0);
  files = cidr::find_list_files({{cidr::FileKind::List, a}}, diag);
  CHECK(!cidr::list_identity(files, id2, error));
  CHECK(error.find("not a regular file") != std::string::npos);
  remove_dir();
}
END_TEST

// Identities and checksums are streamed in whatever pieces the reader
// gets: the digest depends on the bytes only.
START_TEST(content_hash_depends_on_the_bytes_only) {
  std::vector<unsigned char> data(5000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i * 131 + 7);
  const uint64_t whole = cidr::hash_bytes(data.data(), data.size(), 3);
  for (size_t piece : {1, 7, 64, 255, 4096}) {
    cidr::ContentHash h(3);
    for (size_t at = 0; at < data.size(); at += piece) {
      h.update(data.data() + at, std::min(piece, data.size() - at));
    }
    CHECK(h.digest() == whole);
  }
  CHECK(cidr::hash_bytes(data.data(), data.size(), 4) != whole);
  data[4999] ^= 1;
  CHECK(cidr::hash_bytes(data.data(), data.size(), 3) != whole);
  cidr::ContentHash ab_c, a_bc;
  ab_c.update_text("ab");
  ab_c.update_text("c");
  a_bc.update_text("a");
  a_bc.update_text("bc");
  CHECK(ab_c.digest() != a_bc.digest());
}
END_TEST

int main() {
  Suite* s = suite_create("cidr_images");
  TCase* tc = tcase_create("images");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, image_answers_as_its_table);
  tcase_add_test(tc, damaged_images_are_refused);
  tcase_add_test(tc, hostile_images_are_refused);
  tcase_add_test(tc, direct_index_in_images);
  tcase_add_test(tc, image_directory_is_made_safely);
  tcase_add_test(tc, images_are_trusted_by_owner_and_mode);
  tcase_add_test(tc, newest_image_and_cleaning_up);
  tcase_add_test(tc, identity_follows_the_bytes);
  tcase_add_test(tc, content_hash_depends_on_the_bytes_only);
  suite_add_tcase(s, tc);
  return cidr_test::run_suite(s);
}
