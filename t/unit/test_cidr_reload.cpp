// Unit tests of reloading lists in running children: the holder that
// switches tables under leases (table_holder.h), the claim on the
// generation's board (reload_board.h), and the rounds of two children
// watching the same lists through one board and one image directory
// (list_reload.h): one builds, the other maps; a failure is reported once
// and keeps the table in use.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cidr_loader.h"
#include "image_store.h"
#include "list_reload.h"
#include "reload_board.h"
#include "table_holder.h"
#include "test_cidr_fixture.h"

namespace {

using cidr_test::make_dir;
using cidr_test::remove_dir;
using cidr_test::write_file;

std::shared_ptr<cidr::PrefixTable> table_of(const std::string& map_text) {
  cidr::Loader loader;
  cidr::Diagnostics diag;
  loader.load_text(map_text, "test.map", cidr::FileKind::Map, "", diag);
  return loader.build(diag);
}

std::string type_at(const cidr::TableHolder& holder, const char* addr) {
  cidr::Address a;
  ck_assert(cidr::parse_address(addr, a));
  cidr::TableHolder::Lease lease = holder.acquire();
  cidr::Match m;
  std::string out = lease.table->lookup(a, m) ? lease.table->type_name(m.type) : "-";
  holder.release(lease.slot);
  return out;
}

// One child: its holder and its rounds, reporting into a shared log.
struct Child {
  Child(const cidr::ImageStore& store, cidr::ReloadSlot& slot, const std::string& list,
        std::vector<std::string>& log, const std::string& name)
      : holder(load(list), cidr::TableHolder::Switching::OnReload),
        reloader(
            store, cidr::TrustedWriters(geteuid()),
            [&log, name](cidr::ReloadEvent e, const std::string&, const std::string& text) {
              static const char* kNames[] = {"built", "failed", "switched", "problem"};
              log.push_back(name + " " + kNames[int(e)] + ": " + text);
            },
            &stop) {
    cidr::WatchedSource w;
    w.specs = {{cidr::FileKind::List, list}};
    w.origin = "test.conf:1";
    cidr::Diagnostics diag;
    auto files = cidr::find_list_files(w.specs, diag);
    w.stamps = cidr::stamps_fingerprint(files);
    w.empty_files = cidr::empty_files(files);
    w.identity = holder.current().info().identity;
    w.slot = &slot;
    w.holder = &holder;
    reloader.watch(w);
  }
  static std::shared_ptr<cidr::PrefixTable> load(const std::string& list) {
    cidr::Loader loader;
    cidr::Diagnostics diag;
    loader.load({cidr::FileKind::List, list}, diag);
    return loader.build(diag);
  }

  std::atomic<bool> stop{false};
  cidr::TableHolder holder;
  cidr::ListReloader reloader;
};

// A generation: its image directory, its board and what its children
// report, over lists in the test's directory.
struct Generation {
  Generation() {
    std::string error;
    store = cidr::ImageStore::open_dir(cidr_test::dir(), "images", cidr::DirOwner{geteuid(), 0, {}},
                                       error);
    ck_assert_msg(store != nullptr, "%s", error.c_str());
  }
  std::unique_ptr<cidr::ImageStore> store;
  cidr::ReloadBoard board{1};
  std::vector<std::string> log;
};

// Two children of one generation, over one list in the test's directory.
struct Siblings {
  explicit Siblings(const char* first_version) : list(first_list(first_version)) {}
  static std::string first_list(const char* text) {
    make_dir();
    std::string path = cidr_test::dir() + "/office.txt";
    write_file(path, text);
    return path;
  }
  std::string list;
  Generation g;
  Child a{*g.store, g.board.slot(0), list, g.log, "a"};
  Child b{*g.store, g.board.slot(0), list, g.log, "b"};
};

size_t count_with(const std::vector<std::string>& log, const std::string& needle) {
  size_t n = 0;
  for (const std::string& l : log) n += l.find(needle) != std::string::npos;
  return n;
}

// Files written within one clock tick can keep their stamps: wait for the
// next one before each edit.
void next_tick() { usleep(20000); }

}  // namespace

START_TEST(holder_keeps_leased_tables) {
  auto first = table_of("10.0.0.0/8 first\n");
  std::weak_ptr<cidr::PrefixTable> first_alive = first;
  cidr::TableHolder holder(std::move(first), cidr::TableHolder::Switching::OnReload);
  CHECK_STR(type_at(holder, "10.1.1.1"), "first");

  cidr::TableHolder::Lease old = holder.acquire();
  CHECK(holder.install(table_of("10.0.0.0/8 second\n")));
  CHECK_STR(type_at(holder, "10.1.1.1"), "second");  // new requests: the new table
  holder.retire();
  CHECK(!first_alive.expired());  // the old one is still leased
  cidr::Match m;
  cidr::Address a;
  cidr::parse_address("10.1.1.1", a);
  CHECK(old.table->lookup(a, m) && std::string(old.table->type_name(m.type)) == "first");
  holder.release(old.slot);
  holder.retire();
  CHECK(first_alive.expired());

  // Every other slot leased: no room until a lease ends.
  std::vector<cidr::TableHolder::Lease> held;
  for (unsigned i = 0; i + 1 < cidr::TableHolder::kSlots; ++i) {
    held.push_back(holder.acquire());
    CHECK(holder.install(table_of("10.0.0.0/8 t" + std::to_string(i) + "\n")));
  }
  held.push_back(holder.acquire());
  CHECK(!holder.install(table_of("10.0.0.0/8 none\n")));
  holder.release(held[0].slot);
  CHECK(holder.install(table_of("10.0.0.0/8 last\n")));
  CHECK_STR(type_at(holder, "10.0.0.1"), "last");

  cidr::TableHolder fixed(table_of("10.0.0.0/8 fixed\n"), cidr::TableHolder::Switching::Never);
  CHECK(fixed.acquire().slot == cidr::TableHolder::kFixedSlot);
  CHECK_STR(type_at(fixed, "10.0.0.1"), "fixed");
}
END_TEST

// Request threads lease and look up while the reload thread switches and
// retires as fast as it can: every lease finds a whole, live table (the
// sanitizer build sees any use after free).
START_TEST(holder_switches_under_load) {
  cidr::TableHolder holder(table_of("10.0.0.0/8 gen0\n"), cidr::TableHolder::Switching::OnReload);
  std::atomic<bool> done{false};
  std::atomic<uint64_t> lookups{0}, bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      cidr::Address a;
      cidr::parse_address("10.2.3.4", a);
      while (!done.load()) {
        cidr::TableHolder::Lease lease = holder.acquire();
        cidr::Match m;
        bool hit = lease.table->lookup(a, m);
        if (!hit || std::string(lease.table->type_name(m.type)).compare(0, 3, "gen") != 0) ++bad;
        holder.release(lease.slot);
        ++lookups;
      }
    });
  }
  int switches = 0;
  for (int i = 1; i <= 300; ++i)
    switches += holder.install(table_of("10.0.0.0/8 gen" + std::to_string(i) + "\n"));
  done.store(true);
  for (std::thread& t : readers) t.join();
  holder.retire();
  CHECK(bad.load() == 0);
  CHECK(lookups.load() > 0 && switches > 0);
}
END_TEST

START_TEST(one_claim_wins_and_stale_ones_are_taken_over) {
  cidr::ReloadBoard board(2);
  cidr::ReloadSlot& slot = board.slot(1);
  auto alive = [](pid_t) { return cidr::Liveness::Alive; };
  auto gone = [](pid_t) { return cidr::Liveness::Gone; };
  CHECK(cidr::claim_build(slot, 100, 1000, 300, alive));
  CHECK(!cidr::claim_build(slot, 200, 1010, 300, alive));
  CHECK(cidr::claim_build(slot, 200, 1010, 300, gone));  // its builder died
  CHECK(!cidr::claim_build(slot, 300, 1020, 300, alive));
  CHECK(cidr::claim_build(slot, 300, 1400, 300, alive));  // building for too long
  cidr::release_build(slot, 200);                         // not its claim any more
  CHECK((slot.builder.load() >> 32) == 300);
  cidr::release_build(slot, 300);
  CHECK(slot.builder.load() == 0);
  // A claim and its time change together: a claimant that read an older
  // claim cannot replace a newer one (its compare-and-swap fails).
  CHECK(cidr::claim_build(slot, 400, 2000, 300, alive));
  CHECK(!cidr::claim_build(slot, 500, 2001, 300, alive));
  CHECK(!cidr::claim_build(slot, 500, 2299, 300, alive));
  CHECK(cidr::claim_build(slot, 500, 2300, 300, alive));
  CHECK(board.slot(0).published.load() == 0);
}
END_TEST

START_TEST(children_build_once_and_share) {
  Siblings s("10.0.0.0/8\n");
  auto& [list, g, a, b] = s;
  std::vector<std::string>& log = g.log;
  int64_t now = 1000;

  // Nothing changed: nothing happens.
  a.reloader.round(now);
  b.reloader.round(now);
  CHECK(log.empty());

  next_tick();
  write_file(list, "10.0.0.0/8\n192.0.2.0/24\n");
  a.reloader.round(++now);  // seen once: waits for the lists to hold still
  CHECK(log.empty());
  CHECK_STR(type_at(a.holder, "192.0.2.1"), "-");
  a.reloader.round(++now);  // built, published, switched
  CHECK(count_with(log, "a built: 2 IPv4 and 0 IPv6 prefixes") == 1);
  CHECK_STR(type_at(a.holder, "192.0.2.1"), "office");
  b.reloader.round(++now);
  b.reloader.round(++now);  // maps a's image
  CHECK(count_with(log, "b switched") == 1 && count_with(log, "b built") == 0);
  CHECK_STR(type_at(b.holder, "192.0.2.1"), "office");
  CHECK(g.board.slot(0).reloads.load() == 1);

  // The same bytes written again: nothing to build.
  next_tick();
  write_file(list, "10.0.0.0/8\n192.0.2.0/24\n");
  for (int i = 0; i < 3; ++i) a.reloader.round(++now);
  CHECK(count_with(log, "built") == 1);

  // Still changing at the next round: wait until it holds still.
  next_tick();
  write_file(list, "10.0.0.0/8\n192.0.2.0/24\n198.51.100.0/24\n");
  a.reloader.round(++now);
  next_tick();
  write_file(list, "10.0.0.0/8\n198.51.100.0/24\n");
  a.reloader.round(++now);
  CHECK(count_with(log, "built") == 1);
  a.reloader.round(++now);
  CHECK(count_with(log, "a built: 2 IPv4") == 2);
  CHECK_STR(type_at(a.holder, "192.0.2.1"), "-");
  CHECK_STR(type_at(a.holder, "198.51.100.1"), "office");
  remove_dir();
}
END_TEST

// Requests that hold every slot (long downloads across several updates):
// the newest table waits for a free one, and is not built again meanwhile.
START_TEST(a_table_waits_for_a_free_slot_without_being_built_again) {
  Siblings s("10.0.0.0/8\n");
  [[maybe_unused]] auto& [list, g, a, b] = s;  // b stays idle
  std::vector<std::string>& log = g.log;
  int64_t now = 1000;
  std::vector<unsigned> held;
  held.push_back(a.holder.acquire().slot);
  const char* versions[] = {"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "100.64.0.0/10"};
  for (const char* net : versions) {
    next_tick();
    write_file(list, std::string("10.0.0.0/8\n") + net + "\n");
    a.reloader.round(++now);
    a.reloader.round(++now);
    if (held.size() < cidr::TableHolder::kSlots) held.push_back(a.holder.acquire().slot);
  }
  // Every slot is leased: the last version is built once and waits.
  const uint64_t builds = g.board.slot(0).reloads.load();
  for (int i = 0; i < 5; ++i) a.reloader.round(++now);
  CHECK(g.board.slot(0).reloads.load() == builds);
  CHECK(count_with(log, "a built") == size_t(builds));
  CHECK_STR(type_at(a.holder, "100.64.0.1"), "-");
  // A lease ends: the waiting table goes in at the next round.
  a.holder.release(held.front());
  a.reloader.round(++now);
  CHECK_STR(type_at(a.holder, "100.64.0.1"), "office");
  CHECK(g.board.slot(0).reloads.load() == builds);
  for (size_t i = 1; i < held.size(); ++i) a.holder.release(held[i]);
  remove_dir();
}
END_TEST

START_TEST(a_failed_reload_keeps_the_table_and_is_reported_once) {
  Siblings s("10.0.0.0/8\n");
  auto& [list, g, a, b] = s;
  std::vector<std::string>& log = g.log;
  int64_t now = 1000;
  auto rounds = [&](int n) {
    for (int i = 0; i < n; ++i) {
      a.reloader.round(++now);
      b.reloader.round(++now);
    }
  };

  next_tick();
  write_file(list, "10.0.0.0/8\n192.0.2.300\n");
  rounds(4);
  CHECK(count_with(log, "failed: " + list + ":2: invalid IP address '192.0.2.300'") == 1);
  CHECK_STR(type_at(a.holder, "10.1.1.1"), "office");  // the table in use stays
  CHECK_STR(type_at(b.holder, "10.1.1.1"), "office");

  // Emptied (a list being rewritten, most likely): kept, reported once.
  next_tick();
  write_file(list, "");
  rounds(4);
  CHECK(count_with(log, list + ": emptied to 0 bytes") == 1);
  CHECK_STR(type_at(a.holder, "10.1.1.1"), "office");

  // Replaced by a FIFO: refused without waiting for a writer.
  ck_assert_int_eq(unlink(list.c_str()), 0);
  ck_assert_int_eq(mkfifo(list.c_str(), 0644), 0);
  rounds(4);
  CHECK(count_with(log, "not a regular file") == 1);
  CHECK_STR(type_at(b.holder, "10.1.1.1"), "office");

  // Mended: loaded.
  ck_assert_int_eq(unlink(list.c_str()), 0);
  write_file(list, "172.16.0.0/12\n");
  rounds(3);
  CHECK(count_with(log, "built") == 1 && count_with(log, "switched") == 1);
  CHECK_STR(type_at(a.holder, "10.1.1.1"), "-");
  CHECK_STR(type_at(b.holder, "172.16.1.1"), "office");

  // A child told to stop gives up at once.
  a.stop.store(true);
  bool stopped = false;
  try {
    a.reloader.round(++now);
  } catch (const cidr::LoadStopped&) {
    stopped = true;
  }
  CHECK(stopped);
  remove_dir();
}
END_TEST

// An image a sibling published and that is gone (a newer generation's
// parent cleaned it up): said once; the child builds the table itself.
START_TEST(a_missing_image_is_reported_once) {
  Siblings s("10.0.0.0/8\n");
  auto& [list, g, a, b] = s;
  std::vector<std::string>& log = g.log;
  next_tick();
  write_file(list, "192.0.2.0/24\n");
  a.reloader.round(1);
  a.reloader.round(2);
  g.store->collect({});
  for (int i = 3; i < 9; ++i) b.reloader.round(i);
  CHECK(count_with(log, "b problem: the image") == 1);
  CHECK(count_with(log, "is gone; trying again") == 1);
  CHECK(count_with(log, "b built") == 1);
  CHECK_STR(type_at(b.holder, "192.0.2.1"), "office");
  remove_dir();
}
END_TEST

// A glob is found again at every round: a new file matching it is a change.
START_TEST(a_new_file_matching_a_glob_is_loaded) {
  make_dir();
  write_file(cidr_test::dir() + "/office.txt", "10.0.0.0/8\n");
  Generation g;
  std::vector<std::string>& log = g.log;
  Child a(*g.store, g.board.slot(0), cidr_test::dir() + "/*.txt", log, "a");
  write_file(cidr_test::dir() + "/crawler.txt", "192.0.2.0/24\n");
  a.reloader.round(1);
  a.reloader.round(2);
  CHECK(count_with(log, "a built: 2 IPv4") == 1);
  CHECK_STR(type_at(a.holder, "192.0.2.1"), "crawler");
  remove_dir();
}
END_TEST

int main() {
  Suite* s = suite_create("cidr_reload");
  TCase* tc = tcase_create("reload");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, holder_keeps_leased_tables);
  tcase_add_test(tc, holder_switches_under_load);
  tcase_add_test(tc, one_claim_wins_and_stale_ones_are_taken_over);
  tcase_add_test(tc, children_build_once_and_share);
  tcase_add_test(tc, a_table_waits_for_a_free_slot_without_being_built_again);
  tcase_add_test(tc, a_failed_reload_keeps_the_table_and_is_reported_once);
  tcase_add_test(tc, a_new_file_matching_a_glob_is_loaded);
  tcase_add_test(tc, a_missing_image_is_reported_once);
  suite_add_tcase(s, tc);
  return cidr_test::run_suite(s);
}
