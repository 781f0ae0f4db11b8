// Unit tests of the shared delivery machinery (include/delivery.h,
// include/spool.h) and the directive values both log modules read
// (include/config_values.h): spool file format, SpoolDir replay and limits, batching
// and backoff on an explicit clock, queue accounting, and a Shipper driving
// an in-process fake Sink.
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "apr_file_io.h"
#include "apr_general.h"
#include "apr_pools.h"
#include "child_senders.h"
#include "config_values.h"
#include "delivery.h"
#include "drop_ledger.h"
#include "exit_log.h"
#include "peer_rotation.h"
#include "resend_store.h"
#include "spool.h"
#include "status_board.h"

using namespace delivery;
using namespace std::chrono_literals;

// ---- fixture: one APR pool and one scratch directory per test ----

static apr_pool_t* pool;
static std::string tmpdir;

static void setup() {
  ck_assert_int_eq(apr_initialize(), APR_SUCCESS);
  ck_assert_int_eq(apr_pool_create(&pool, nullptr), APR_SUCCESS);
  const char* base = nullptr;
  ck_assert_int_eq(apr_temp_dir_get(&base, pool), APR_SUCCESS);
  std::string templ = std::string(base) + "/test_delivery.XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  ck_assert_ptr_nonnull(mkdtemp(buf.data()));
  tmpdir = buf.data();
}

static void remove_tree(const std::string& path) {
  if (DIR* d = opendir(path.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      std::string p = path + "/" + n;
      struct stat st;
      if (lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        remove_tree(p);
      else
        unlink(p.c_str());
    }
    closedir(d);
  }
  rmdir(path.c_str());
}

static void teardown() {
  remove_tree(tmpdir);
  apr_pool_destroy(pool);
  apr_terminate();
}

// ---- helpers ----

static std::vector<Record> make_records(size_t n, const std::string& prefix,
                                        const std::string& tag = "www") {
  std::vector<Record> v;
  for (size_t i = 0; i < n; ++i) v.push_back(Record{tag, prefix + std::to_string(i) + "\n"});
  return v;
}

static std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

static off_t file_size(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

struct Reports {
  std::mutex mu;
  std::vector<std::pair<Level, std::string>> lines;
  Reporter reporter() {
    return [this](Level l, const std::string& m) {
      std::lock_guard<std::mutex> lock(mu);
      lines.emplace_back(l, m);
    };
  }
  bool contains(const std::string& needle) {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [l, m] : lines)
      if (m.find(needle) != std::string::npos) return true;
    return false;
  }
  // A message that starts with message ID `id` (MESSAGES.md), at `level`,
  // and contains `needle`.
  bool has(const std::string& id, Level level, const std::string& needle) {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [l, m] : lines)
      if (l == level && m.rfind(id + ": ", 0) == 0 && m.find(needle) != std::string::npos)
        return true;
    return false;
  }
};

template <typename Pred>
static bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
  auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

// ---- spool file format ----

START_TEST(crc32_known_vector) {
  const char* s = "123456789";
  ck_assert_uint_eq(crc32(s, strlen(s)), 0xCBF43926u);
  ck_assert_uint_eq(crc32("", 0), 0u);
}
END_TEST

START_TEST(encode_layout) {
  std::string out;
  encode_spool_record(Record{"ab", "xyz"}, out);
  // u32 length, u32 crc, u16 tag length, tag, body
  ck_assert_uint_eq(out.size(), 8u + 2 + 2 + 3);
  ck_assert_uint_eq(static_cast<unsigned char>(out[0]), 7u);
  ck_assert_uint_eq(static_cast<unsigned char>(out[1]), 0u);
  ck_assert_uint_eq(static_cast<unsigned char>(out[8]), 2u);
  ck_assert_uint_eq(static_cast<unsigned char>(out[9]), 0u);
  ck_assert(out.compare(10, 5, "abxyz") == 0);
  uint32_t crc = crc32(out.data() + 8, 7);
  for (int i = 0; i < 4; ++i)
    ck_assert_uint_eq(static_cast<unsigned char>(out[4 + i]), (crc >> (8 * i)) & 0xff);
}
END_TEST

START_TEST(spool_round_trip) {
  std::vector<Record> recs = {
      {"www", "GET / HTTP/1.1\n"},
      {"", "no tag"},
      {"api", ""},
      {"bin", std::string("a\0b\xff\n", 5)},
      {std::string(300, 't'), std::string(70000, 'x')},
  };
  std::string path = tmpdir + "/rt.spool";
  std::string err;
  SpoolWriter w;
  ck_assert_msg(w.open(path, err), "%s", err.c_str());
  ck_assert(w.append({recs.begin(), recs.begin() + 2}, err));
  ck_assert(w.append({recs.begin() + 2, recs.end()}, err));
  ck_assert_int_eq(static_cast<long>(w.size()), static_cast<long>(file_size(path)));
  w.close();

  SpoolReader r;
  ck_assert_msg(r.open(path, err), "%s", err.c_str());
  for (const auto& want : recs) {
    Record got;
    ck_assert(r.next(got) == SpoolReader::Status::Ok);
    ck_assert(got.tag == want.tag);
    ck_assert(got.body == want.body);
  }
  Record extra;
  ck_assert(r.next(extra) == SpoolReader::Status::End);
  ck_assert_uint_eq(count_spool_records(path), recs.size());
}
END_TEST

// A crash in the middle of a write leaves a partial record at the end: the
// records before it are intact and the reader stops there.
START_TEST(spool_torn_tail_short) {
  std::string path = tmpdir + "/torn.spool";
  std::string err;
  SpoolWriter w;
  ck_assert(w.open(path, err));
  ck_assert(w.append(views_of(make_records(3, "line-")), err));
  off_t whole = file_size(path);
  w.close();
  // Cut the last record short at every possible length.
  std::string one;
  encode_spool_record(Record{"www", "line-2\n"}, one);
  for (size_t cut = 1; cut < one.size(); ++cut) {
    ck_assert_int_eq(truncate(path.c_str(), whole - static_cast<off_t>(cut)), 0);
    SpoolReader r;
    ck_assert(r.open(path, err));
    Record rec;
    ck_assert(r.next(rec) == SpoolReader::Status::Ok);
    ck_assert(rec.body == "line-0\n");
    ck_assert(r.next(rec) == SpoolReader::Status::Ok);
    ck_assert(rec.body == "line-1\n");
    ck_assert(r.next(rec) == SpoolReader::Status::Torn);
    ck_assert_uint_eq(count_spool_records(path), 2u);
    r.close();
    // Restore the length for the next cut (the tail is zeros now: also torn).
    ck_assert_int_eq(truncate(path.c_str(), whole), 0);
  }
}
END_TEST

START_TEST(spool_torn_tail_bad_crc) {
  std::string path = tmpdir + "/crc.spool";
  std::string err;
  SpoolWriter w;
  ck_assert(w.open(path, err));
  ck_assert(w.append(views_of(make_records(2, "l")), err));
  w.close();
  // Flip a byte in the last record's body.
  int fd = open(path.c_str(), O_RDWR);
  ck_assert_int_ge(fd, 0);
  off_t size = file_size(path);
  char c;
  ck_assert_int_eq(pread(fd, &c, 1, size - 2), 1);
  c ^= 0x20;
  ck_assert_int_eq(pwrite(fd, &c, 1, size - 2), 1);
  close(fd);
  SpoolReader r;
  ck_assert(r.open(path, err));
  Record rec;
  ck_assert(r.next(rec) == SpoolReader::Status::Ok);
  ck_assert(r.next(rec) == SpoolReader::Status::Torn);
}
END_TEST

START_TEST(spool_header_garbage) {
  std::string path = tmpdir + "/junk.spool";
  // A length far beyond any valid record must not be allocated.
  std::string junk = "\xff\xff\xff\x7f\0\0\0\0";
  FILE* f = fopen(path.c_str(), "wb");
  fwrite(junk.data(), 1, junk.size(), f);
  fclose(f);
  std::string err;
  SpoolReader r;
  ck_assert(r.open(path, err));
  Record rec;
  ck_assert(r.next(rec) == SpoolReader::Status::Torn);
  ck_assert_uint_eq(count_spool_records(path), 0u);
}
END_TEST

START_TEST(spool_writer_holds_lock) {
  std::string path = tmpdir + "/locked.spool";
  std::string err;
  SpoolWriter w;
  ck_assert(w.open(path, err));
  SpoolReader r;
  ck_assert(!r.open(path, err));  // the writer's flock keeps replay away
  w.close();
  ck_assert(r.open(path, err));
  SpoolWriter again;
  ck_assert(!again.open(path, err));  // O_EXCL: never appends to an old file
}
END_TEST

// ---- SpoolDir ----

static std::vector<Record> drain(SpoolDir& sd, size_t max_batch) {
  std::vector<Record> all, batch;
  while (sd.next_batch(batch, max_batch)) {
    ck_assert_uint_le(batch.size(), max_batch);
    for (auto& r : batch) all.push_back(r);
    batch.clear();
    sd.commit_all();
  }
  return all;
}

START_TEST(spooldir_replay_commit) {
  Reports rep;
  SpoolDir sd(tmpdir, "dest", 1 << 20, rep.reporter());
  auto recs = make_records(25, "r");
  ck_assert(sd.append({recs.begin(), recs.begin() + 10}));
  ck_assert(sd.append({recs.begin() + 10, recs.end()}));
  std::vector<Record> batch;
  ck_assert(!sd.next_batch(batch, 10));  // still being written: not replayable
  sd.seal();
  auto got = drain(sd, 10);
  ck_assert_uint_eq(got.size(), 25u);
  for (size_t i = 0; i < got.size(); ++i) ck_assert(got[i].body == recs[i].body);
  ck_assert_uint_eq(sd.list().size(), 0u);  // removed once all was accepted
  ck_assert(files_in(tmpdir).empty());
}
END_TEST

START_TEST(spooldir_rollback) {
  Reports rep;
  SpoolDir sd(tmpdir, "dest", 1 << 20, rep.reporter());
  auto recs = make_records(7, "r");
  ck_assert(sd.append(views_of(recs)));
  sd.seal();
  std::vector<Record> a, b;
  ck_assert(sd.next_batch(a, 3));
  sd.commit_all();
  ck_assert(sd.next_batch(b, 3));
  ck_assert(b[0].body == "r3\n");
  sd.rollback();  // not delivered: comes again
  b.clear();
  ck_assert(sd.next_batch(b, 3));
  ck_assert(b[0].body == "r3\n");
  ck_assert_uint_eq(b.size(), 3u);
  sd.rollback();
  // A release (child exit) leaves the file for the next replayer, from the
  // last commit on.
  sd.release();
  SpoolDir other(tmpdir, "dest", 1 << 20, rep.reporter());
  auto rest = drain(other, 100);
  // The commit is in the file's header: the next replayer starts after it.
  ck_assert_uint_eq(rest.size(), 4u);
  ck_assert(rest[0].body == "r3\n");
}
END_TEST

// A file goes as soon as its last record is accepted, not at the next look.
START_TEST(spooldir_file_goes_with_its_last_commit) {
  Reports rep;
  SpoolDir sd(tmpdir, "dest", 1 << 20, rep.reporter());
  ck_assert(sd.append(views_of(make_records(5, "r"))));
  sd.seal();
  std::vector<Record> batch;
  ck_assert(sd.next_batch(batch, 3));
  sd.commit_all();
  ck_assert_uint_eq(sd.list().size(), 1u);
  batch.clear();
  ck_assert(sd.next_batch(batch, 3));
  ck_assert_uint_eq(batch.size(), 2u);
  sd.commit_all();
  ck_assert(files_in(tmpdir).empty());
}
END_TEST

static void write_file(const std::string& path, const std::string& bytes) {
  FILE* f = fopen(path.c_str(), "wb");
  ck_assert_ptr_nonnull(f);
  fwrite(bytes.data(), 1, bytes.size(), f);
  fclose(f);
}

// A file of the earlier format (no header) is replayed whole; a header whose
// offset does not check out replays every record rather than losing any.
START_TEST(spool_files_without_a_sound_header) {
  std::string raw;
  for (const auto& r : make_records(3, "v1-")) encode_spool_record(r, raw);
  write_file(tmpdir + "/dest.0000000000000001.1.0.spool", raw);
  Reports rep;
  SpoolDir sd(tmpdir, "dest", 1 << 20, rep.reporter());
  auto got = drain(sd, 2);
  ck_assert_uint_eq(got.size(), 3u);
  ck_assert(got[0].body == "v1-0\n");

  SpoolDir writer(tmpdir, "dest", 1 << 20, rep.reporter());
  ck_assert(writer.append(views_of(make_records(4, "v2-"))));
  writer.seal();
  std::vector<Record> batch;
  ck_assert(sd.next_batch(batch, 2));
  sd.commit_all();
  sd.release();
  const std::string path = writer.list().at(0);
  int fd = open(path.c_str(), O_RDWR);
  char c;
  ck_assert_int_eq(pread(fd, &c, 1, 9), 1);
  c ^= 1;
  ck_assert_int_eq(pwrite(fd, &c, 1, 9), 1);
  close(fd);
  ck_assert_uint_eq(count_spool_records(path), 4u);
  got = drain(sd, 10);
  ck_assert_uint_eq(got.size(), 4u);
}
END_TEST

// Files of a shipper the configuration no longer has: the shipper of their
// category adopts them; the others leave them; what nobody takes is
// reported once, with its counts, and counts against the limit.
START_TEST(spooldir_adopts_files_of_a_configuration_gone) {
  Reports rep;
  auto tagged = [](size_t n, const std::string& tag) {
    std::vector<Record> recs = make_records(n, tag + "-");
    for (auto& r : recs) r.tag = tag;
    return recs;
  };
  SpoolDir gone(tmpdir, "old", 1 << 20, rep.reporter());
  ck_assert(gone.append(views_of(tagged(3, "www"))));
  gone.seal();
  SpoolDir gone_too(tmpdir, "older", 1 << 20, rep.reporter());
  ck_assert(gone_too.append(views_of(tagged(2, "retired"))));
  gone_too.seal();

  std::atomic<uint32_t> once{0};
  SpoolFamily api_family{{"new", "api"}, {"www", "api"}, {"api"}, &once};
  SpoolDir api(tmpdir, "api", 1 << 20, rep.reporter(), api_family);
  std::vector<Record> batch;
  ck_assert(!api.next_batch(batch, 10));  // not its category

  api.report_unadopted();
  ck_assert(rep.has("DE0024", Level::Warning, "2 spooled lines ("));
  ck_assert(rep.has("DE0024", Level::Warning, "of category 'retired'"));
  ck_assert(!rep.contains("category 'www' were left"));
  size_t reports = rep.lines.size();
  api.report_unadopted();  // once per flag: another child stays quiet
  ck_assert_uint_eq(rep.lines.size(), reports);

  SpoolFamily www_family{{"new", "api"}, {"www", "api"}, {"www"}, nullptr};
  SpoolDir www(tmpdir, "new", 1 << 20, rep.reporter(), www_family);
  auto got = drain(www, 10);
  ck_assert_uint_eq(got.size(), 3u);
  ck_assert(got[0].tag == "www" && got[0].body == "www-0\n");
  ck_assert(rep.has("DE0023", Level::Notice, "replaying 3 spooled lines of category 'www'"));
  // The unadopted file stays, and counts against the directory's limit.
  ck_assert_uint_eq(files_in(tmpdir).size(), 1u);
  SpoolDir small(tmpdir, "new", 4096, rep.reporter(), www_family);
  // A file rotates at 4120 bytes here: the second append starts another,
  // and the check then sheds the oldest files, the orphan first.
  ck_assert(small.append(views_of(tagged(400, "www"))));
  ck_assert(small.append(views_of(tagged(1, "www"))));
  small.seal();
  ck_assert_uint_eq(small.dropped(), 402u);
  ck_assert(rep.has("DE0012", Level::Warning, "dropped 2 oldest lines"));
  ck_assert(rep.has("DE0012", Level::Warning, "dropped 400 oldest lines"));
}
END_TEST

START_TEST(spooldir_oldest_first_and_names) {
  Reports rep;
  SpoolDir first(tmpdir, "dest", 1 << 20, rep.reporter());
  ck_assert(first.append(views_of(make_records(3, "old"))));
  first.seal();
  std::this_thread::sleep_for(2ms);
  SpoolDir second(tmpdir, "dest", 1 << 20, rep.reporter());
  ck_assert(second.append(views_of(make_records(3, "new"))));
  second.seal();
  // Another shipper's files and stray names are not ours.
  SpoolDir stranger(tmpdir, "other", 1 << 20, rep.reporter());
  ck_assert(stranger.append(views_of(make_records(2, "x"))));
  stranger.seal();
  FILE* f = fopen((tmpdir + "/dest.notes.txt").c_str(), "w");
  fclose(f);

  SpoolDir replay(tmpdir, "dest", 1 << 20, rep.reporter());
  ck_assert_uint_eq(replay.list().size(), 2u);
  auto got = drain(replay, 2);
  ck_assert_uint_eq(got.size(), 6u);
  ck_assert(got[0].body == "old0\n");
  ck_assert(got[3].body == "new0\n");
  ck_assert_uint_eq(stranger.list().size(), 1u);
}
END_TEST

START_TEST(spooldir_skips_file_being_written) {
  Reports rep;
  SpoolDir writer(tmpdir, "dest", 1 << 20, rep.reporter());
  ck_assert(writer.append(views_of(make_records(4, "w"))));  // open, locked
  SpoolDir reader(tmpdir, "dest", 1 << 20, rep.reporter());
  std::vector<Record> batch;
  ck_assert(!reader.next_batch(batch, 10));
  writer.seal();
  ck_assert(reader.next_batch(batch, 10));
  ck_assert_uint_eq(batch.size(), 4u);
}
END_TEST

START_TEST(spooldir_torn_file_replayed_then_removed) {
  Reports rep;
  SpoolDir sd(tmpdir, "dest", 1 << 20, rep.reporter());
  ck_assert(sd.append(views_of(make_records(5, "t"))));
  sd.seal();
  auto files = sd.list();
  ck_assert_uint_eq(files.size(), 1u);
  ck_assert_int_eq(truncate(files[0].c_str(), file_size(files[0]) - 3), 0);
  auto got = drain(sd, 100);
  ck_assert_uint_eq(got.size(), 4u);
  ck_assert_uint_eq(sd.torn(), 1u);
  ck_assert(rep.has("DE0013", Level::Warning, "ends in a torn record"));
  ck_assert(sd.list().empty());
}
END_TEST

// A spool file that cannot be made is reported, under its message ID.
START_TEST(spooldir_uncreatable_file_is_reported) {
  Reports rep;
  SpoolDir sd(tmpdir + "/missing", "dest", 1 << 20, rep.reporter());
  ck_assert(!sd.append(views_of(make_records(3, "x"))));
  ck_assert(rep.has("DE0010", Level::Error, "cannot create spool file " + tmpdir + "/missing/"));
  ck_assert(rep.has("DE0010", Level::Error, "No such file or directory"));
}
END_TEST

// Over the limit, whole oldest files go and every line in them is counted.
START_TEST(spooldir_limit_sheds_oldest_counted) {
  Reports rep;
  const uint64_t limit = 8192;  // files rotate at max(limit/8, 4096) bytes
  SpoolDir sd(tmpdir, "dest", limit, rep.reporter());
  const size_t total = 2000;
  auto recs = make_records(total, "line-with-some-padding-");
  for (size_t i = 0; i < total; i += 20)
    ck_assert(sd.append({recs.begin() + i, recs.begin() + i + 20}));
  sd.seal();
  ck_assert_uint_gt(sd.dropped(), 0u);
  uint64_t on_disk = 0;
  for (const auto& f : sd.list()) on_disk += static_cast<uint64_t>(file_size(f));
  // Never more than the limit plus the file being written when it was checked.
  ck_assert_uint_le(on_disk, limit + 4096 + 2048);
  ck_assert(rep.has("DE0012", Level::Warning, "spool over its limit of"));
  SpoolDir replay(tmpdir, "dest", limit, rep.reporter());
  auto got = drain(replay, 1000);
  ck_assert_uint_eq(got.size() + sd.dropped(), total);
  // What survives is the newest lines, in order.
  ck_assert(got.back().body == recs.back().body);
  for (size_t i = 1; i < got.size(); ++i) {
    auto n = [](const std::string& b) { return std::stoul(b.substr(b.rfind('-') + 1)); };
    ck_assert_uint_eq(n(got[i].body), n(got[i - 1].body) + 1);
  }
}
END_TEST

// ---- BatchPolicy and Backoff on a fake clock ----

static const Clock::time_point T0 = Clock::time_point{} + std::chrono::hours(1);

START_TEST(batch_policy_due) {
  BatchPolicy p(100, Millis(200));
  ck_assert(!p.due(0, T0, T0 + 1h));            // nothing waits
  ck_assert(!p.due(99, T0, T0 + Millis(199)));  // neither full nor old
  ck_assert(p.due(100, T0, T0));                // full
  ck_assert(p.due(1, T0, T0 + Millis(200)));    // old enough
  ck_assert(p.due(5000, T0, T0));
  ck_assert_uint_eq(p.max_lines(), 100u);
}
END_TEST

START_TEST(batch_policy_wait_for) {
  BatchPolicy p(100, Millis(200));
  ck_assert(p.wait_for(0, T0, T0) == Millis(200));
  ck_assert(p.wait_for(10, T0, T0 + Millis(50)) == Millis(150));
  ck_assert(p.wait_for(10, T0, T0 + Millis(250)) == Clock::duration::zero());
  ck_assert(p.wait_for(100, T0, T0) == Clock::duration::zero());
}
END_TEST

START_TEST(backoff_doubles_with_jitter_and_caps) {
  Backoff b(Millis(500), Millis(30000), 42);
  ck_assert(b.current_ceiling() == Millis(0));
  const long long expect[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
  for (long long ceiling : expect) {
    auto at = b.failed(T0);
    ck_assert_int_eq(b.current_ceiling().count(), ceiling);
    auto wait = std::chrono::duration_cast<Millis>(at - T0).count();
    ck_assert_int_ge(wait, ceiling / 2);  // jitter stays in the upper half
    ck_assert_int_le(wait, ceiling);
  }
  for (int i = 0; i < 100; ++i) b.failed(T0);  // no overflow after many failures
  ck_assert_int_eq(b.current_ceiling().count(), 30000);
  b.succeeded();
  ck_assert_uint_eq(b.attempts(), 0u);
  b.failed(T0);
  ck_assert_int_eq(b.current_ceiling().count(), 500);
}
END_TEST

START_TEST(backoff_jitter_spreads) {
  // Children of one server must not reconnect in lockstep.
  std::set<long long> waits;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Backoff b(Millis(1000), Millis(1000), seed);
    waits.insert(std::chrono::duration_cast<Millis>(b.failed(T0) - T0).count());
  }
  ck_assert_uint_gt(waits.size(), 10u);
  Backoff same1(Millis(1000), Millis(8000), 7), same2(Millis(1000), Millis(8000), 7);
  for (int i = 0; i < 5; ++i) ck_assert(same1.failed(T0) == same2.failed(T0));
}
END_TEST

START_TEST(backoff_min_above_max) {
  Backoff b(Millis(800), Millis(100), 3);  // max is raised to min
  b.failed(T0);
  b.failed(T0);
  ck_assert_int_eq(b.current_ceiling().count(), 800);
}
END_TEST

// ---- RecordQueue ----

START_TEST(queue_overflow_accounting) {
  const std::string body(100, 'x');
  const size_t cost = RecordQueue::cost("www", body);
  RecordQueue q(cost * 10);
  for (int i = 0; i < 10; ++i) ck_assert(q.push("www", body, T0));
  ck_assert_uint_eq(q.bytes(), cost * 10);
  for (int i = 0; i < 5; ++i) ck_assert(!q.push("www", body, T0));
  ck_assert_uint_eq(q.dropped(), 5u);
  ck_assert_uint_eq(q.size(), 10u);
  // A smaller record may still fit where a big one did not.
  std::vector<Record> out;
  ck_assert_uint_eq(q.pop(out, 3), 3u);
  ck_assert_uint_eq(q.bytes(), cost * 7);
  ck_assert(q.push("www", body, T0 + 1s));
  ck_assert(!q.push("www", std::string(cost * 3, 'x'), T0));
  ck_assert_uint_eq(q.dropped(), 6u);
  ck_assert(q.oldest() == T0);
  out.clear();
  ck_assert_uint_eq(q.pop(out, 100), 8u);
  ck_assert_uint_eq(q.bytes(), 0u);
  ck_assert(q.oldest() == Clock::time_point{});
  ck_assert(out.back().tag == "www" && out.back().body == body);
}
END_TEST

// A body given in parts is queued as the parts back to back (empty parts
// included), costs what the joined body costs, and a pop that is given
// spare records fills them, reusing their strings' memory.
START_TEST(queue_parts_and_spare_records) {
  const std::string_view parts[] = {"<14>", "",    "Dec  2 10:00:00", " host app[7]: ", "GET /",
                                    "",     " 200"};
  const BodyParts body(parts, sizeof parts / sizeof parts[0]);
  const std::string joined = "<14>Dec  2 10:00:00 host app[7]: GET / 200";
  ck_assert_uint_eq(body.bytes, joined.size());
  RecordQueue q(RecordQueue::cost("t", joined) * 2);
  ck_assert(q.push("t", body, T0));
  ck_assert(q.push("t", joined, T0));
  ck_assert(!q.push("t", body, T0));  // full: the parts cost the same
  ck_assert_uint_eq(q.dropped(), 1u);
  std::vector<Record> spare(1);
  spare[0].body.reserve(1000);
  const char* reused = spare[0].body.data();
  std::vector<Record> out;
  ck_assert_uint_eq(q.pop(out, 10, &spare), 2u);
  ck_assert(spare.empty());
  ck_assert(out[0].tag == "t" && out[0].body == joined);
  ck_assert(out[1].tag == "t" && out[1].body == joined);
  ck_assert_ptr_eq(out[0].body.data(), reused);
}
END_TEST

// A line as mod_log_config's portions: its end ("\n" or "\r\n") is left
// out when asked, wherever it lies (a portion of its own, the end of a longer
// one, "\r" and "\n" portions apart, empty portions after it), and only
// one line end; the portions follow a header and arrive joined.
START_TEST(queue_line_portions_and_their_end) {
  struct Case {
    std::vector<const char*> portions;
    LineEnd end;
    const char* want;
  } cases[] = {
      {{"GET / 200", "\n"}, LineEnd::Strip, "GET / 200"},
      {{"GET / 200\n"}, LineEnd::Strip, "GET / 200"},
      {{"GET / 200\r\n"}, LineEnd::Strip, "GET / 200"},
      {{"GET / 200\r", "\n"}, LineEnd::Strip, "GET / 200"},
      {{"GET", " / 200\r", "", "\n", ""}, LineEnd::Strip, "GET / 200"},
      {{"GET / 200", "\r", "", "\n"}, LineEnd::Strip, "GET / 200"},
      {{"a\n\n"}, LineEnd::Strip, "a\n"},
      {{"\r\n"}, LineEnd::Strip, ""},
      {{"\n"}, LineEnd::Strip, ""},
      {{"", ""}, LineEnd::Strip, ""},
      {{"no end"}, LineEnd::Strip, "no end"},
      {{"a\r"}, LineEnd::Strip, "a\r"},
      {{"GET / 200", "\n"}, LineEnd::Keep, "GET / 200\n"},
  };
  const std::string_view head[] = {"<14>", "Dec  3 10:00:00", " host: "};
  for (const Case& c : cases) {
    std::vector<int> lens;
    size_t total = 0;
    for (const char* p : c.portions) {
      lens.push_back(static_cast<int>(std::strlen(p)));
      total += lens.back();
    }
    const BodyParts line =
        BodyParts::line(c.portions.data(), lens.data(), c.portions.size(), total, c.end);
    ck_assert_uint_eq(line.bytes, std::strlen(c.want));
    RecordQueue q(1 << 16);
    ck_assert(q.push("", line, T0));
    ck_assert(q.push("t", line.with_head(head, 3, 4 + 15 + 7), T0));
    std::vector<Record> out;
    ck_assert_uint_eq(q.pop(out, 10), 2u);
    ck_assert_str_eq(out[0].body.c_str(), c.want);
    const std::string with_head = std::string("<14>Dec  3 10:00:00 host: ") + c.want;
    ck_assert_str_eq(out[1].body.c_str(), with_head.c_str());
  }
}
END_TEST

// Parts of every size from 0 to 40 bytes, in one body, arrive whole and in
// order (the copy of a part depends on its size).
START_TEST(queue_parts_of_every_size) {
  std::vector<std::string> texts;
  std::string joined;
  for (size_t n = 0; n <= 40; ++n) {
    std::string t;
    for (size_t i = 0; i < n; ++i) t.push_back(static_cast<char>('a' + (n + i) % 26));
    texts.push_back(t);
    joined += t;
  }
  std::vector<std::string_view> parts(texts.begin(), texts.end());
  RecordQueue q(1 << 20);
  ck_assert(q.push("", BodyParts(parts.data(), parts.size()), T0));
  std::reverse(parts.begin(), parts.end());
  ck_assert(q.push("", BodyParts(parts.data(), parts.size()), T0));
  std::vector<Record> out;
  ck_assert_uint_eq(q.pop(out, 10), 2u);
  ck_assert(out[0].body == joined);
  std::string backwards;
  for (auto it = texts.rbegin(); it != texts.rend(); ++it) backwards += *it;
  ck_assert(out[1].body == backwards);
}
END_TEST

START_TEST(queue_pop_keeps_order) {
  RecordQueue q(1 << 20);
  for (int i = 0; i < 50; ++i) q.push("", std::to_string(i), T0 + Millis(i));
  ck_assert(q.oldest() == T0);
  std::vector<Record> out;
  q.pop(out, 20);
  ck_assert(q.oldest() == T0 + Millis(20));
  q.pop(out, 100);
  for (int i = 0; i < 50; ++i) ck_assert(out[i].body == std::to_string(i));
}
END_TEST

// Records cross chunk boundaries (64 KiB chunks), some larger than a chunk;
// producers on several threads; the consumer reads concurrently and sees
// every record once, whole.
START_TEST(queue_chunks_concurrent_producers) {
  RecordQueue q(64 << 20);
  constexpr int kThreads = 4, kEach = 5000;
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t)
    producers.emplace_back([&q, t] {
      for (int i = 0; i < kEach; ++i) {
        // Every 997th record is bigger than a chunk.
        std::string body = std::to_string(t) + ":" + std::to_string(i) + ":" +
                           std::string(i % 997 == 0 ? 100000 : i % 300, 'y');
        while (!q.push("c" + std::to_string(t), body, Clock::now())) std::this_thread::yield();
      }
    });
  std::vector<int> next(kThreads, 0);
  size_t got = 0;
  std::vector<Record> out;
  auto give_up = Clock::now() + 30s;
  while (got < size_t(kThreads) * kEach && Clock::now() < give_up) {
    // Never more waiting than were pushed, never a wrapped count.
    ck_assert_uint_le(q.size(), size_t(kThreads) * kEach - got);
    out.clear();
    got += q.pop(out, 1000);
    for (const Record& r : out) {
      int t = std::stoi(r.tag.substr(1));
      size_t colon = r.body.find(':');
      int i = std::stoi(r.body.substr(colon + 1));
      ck_assert_int_eq(i, next[t]);  // each producer's records in order
      ++next[t];
      size_t pad = r.body.size() - r.body.find(':', colon + 1) - 1;
      ck_assert_uint_eq(pad, i % 997 == 0 ? 100000u : size_t(i % 300));
    }
  }
  for (auto& p : producers) p.join();
  ck_assert_uint_eq(got, size_t(kThreads) * kEach);
  ck_assert_uint_eq(q.size(), 0u);
  ck_assert_uint_eq(q.bytes(), 0u);
  ck_assert_uint_eq(q.dropped(), 0u);
}
END_TEST

// Memory follows what is queued, not the capacity: 10 MB through a 64 MB
// queue whose consumer keeps up never holds more than a few chunks, and an
// oversized record's chunk goes back when it leaves.
START_TEST(queue_memory_follows_what_is_queued) {
  RecordQueue q(64 << 20);
  const size_t chunk_max = 72 << 10;  // a 64 KiB chunk, its header, page rounding
  std::vector<Record> out;
  const std::string line(300, 'l');
  for (int i = 0; i < 35000; ++i) {
    ck_assert(q.push("", line, T0));
    if (i % 100 == 99) {
      out.clear();
      q.pop(out, 1000);
      ck_assert_uint_le(q.mapped_bytes(), 3 * chunk_max);
    }
  }
  ck_assert(q.push("", std::string(1 << 20, 'b'), T0));
  ck_assert_uint_gt(q.mapped_bytes(), 1u << 20);
  out.clear();
  q.pop(out, 100000);
  // More than the big chunk has left: the producers move on to a new chunk,
  // then the consumer does, and the big one is unmapped.
  for (int i = 0; i < 40; ++i) ck_assert(q.push("", line, T0));
  q.pop(out, 100);
  ck_assert_uint_le(q.mapped_bytes(), 3 * chunk_max);
}
END_TEST

// Peeked records stay where they are, whole, across chunks, while producers
// go on pushing: their room counts until release() gives it back (oldest
// first), and then emptied chunks are unmapped; size() counts only what was
// not peeked, and oldest() is the oldest not peeked.
START_TEST(queue_peek_and_release) {
  const size_t chunk_max = 72 << 10;
  const std::string line(1000, 'p');
  const size_t cost = RecordQueue::cost("tag", line + "0000");
  RecordQueue q(cost * 400);
  auto body = [&](int i) {
    char n[16];
    std::snprintf(n, sizeof n, "%04d", i);
    return line + n;
  };
  for (int i = 0; i < 200; ++i)  // about three chunks
    ck_assert(q.push("tag", body(i), T0 + Millis(i)));
  Batch first;
  ck_assert_uint_eq(q.peek(first, 150), 150u);
  ck_assert_uint_eq(q.size(), 50u);
  ck_assert(q.oldest() == T0 + Millis(150));
  ck_assert_uint_eq(q.bytes(), 200 * cost);  // nothing released yet
  for (int i = 200; i < 400; ++i) ck_assert(q.push("tag", body(i), T0 + Millis(i)));
  ck_assert(!q.push("tag", body(400), T0));  // full: peeked records still count
  Batch second;
  ck_assert_uint_eq(q.peek(second, 1000), 250u);
  ck_assert_uint_eq(q.peeked(), 400u);
  ck_assert_uint_eq(q.size(), 0u);
  ck_assert(q.oldest() == Clock::time_point{});
  for (int i = 0; i < 150; ++i) {
    ck_assert(first[i].tag == "tag");
    ck_assert(first[i].body == body(i));
  }
  q.release(150);
  ck_assert_uint_eq(q.bytes(), 250 * cost);
  for (int i = 0; i < 250; ++i) ck_assert(second[i].body == body(150 + i));  // still there
  q.release(250);
  ck_assert_uint_eq(q.bytes(), 0u);
  ck_assert_uint_eq(q.peeked(), 0u);
  ck_assert_uint_le(q.mapped_bytes(), 2 * chunk_max);
  // pop() copies and releases; it refuses while views are out.
  ck_assert(q.push("", "a", T0));
  ck_assert(q.push("", "b", T0));
  Batch one;
  ck_assert_uint_eq(q.peek(one, 1), 1u);
  std::vector<Record> out;
  ck_assert_uint_eq(q.pop(out, 10), 0u);
  q.release(1);
  ck_assert_uint_eq(q.pop(out, 10), 1u);
  ck_assert(out[0].body == "b");
}
END_TEST

START_TEST(queue_wake_fd_on_full_batch) {
  RecordQueue q(1 << 20);
  q.set_wake_threshold(3);
  pollfd p{q.wake_fd(), POLLIN, 0};
  q.push("", "x", Clock::now());
  q.push("", "x", Clock::now());
  ck_assert_int_eq(::poll(&p, 1, 0), 0);
  q.push("", "x", Clock::now());  // a full batch wakes the sender
  ck_assert_int_eq(::poll(&p, 1, 0), 1);
  q.clear_wake();
  ck_assert_int_eq(::poll(&p, 1, 0), 0);
}
END_TEST

// ---- StopSignal ----

START_TEST(stop_signal_cuts_a_wait_short) {
  StopSignal stop;
  int fds[2];
  ck_assert_int_eq(::pipe(fds), 0);
  auto start = Clock::now();
  std::thread t([&] {
    std::this_thread::sleep_for(50ms);
    stop.request(Clock::now() + 100ms);
  });
  // Nothing ever becomes readable: the wait ends at the stop deadline, not
  // after its own 10 s.
  ck_assert_int_eq(stop.wait(fds[0], POLLIN, start + 10s), 0);
  // Not before the deadline, and not the wait's own 10 s.
  ck_assert(Clock::now() >= stop.deadline());
  ck_assert(Clock::now() < start + 9s);
  t.join();
  ck_assert(stop.requested());
  // A second request keeps the first deadline.
  auto first = stop.deadline();
  stop.request(Clock::now() + 1h);
  ck_assert(stop.deadline() == first);
  // Once stopping, readiness still counts until the deadline has passed.
  ck_assert_int_eq(::write(fds[1], "x", 1), 1);
  ck_assert_int_eq(stop.wait(fds[0], POLLIN, Clock::now() + 10s), 0);  // deadline passed
  StopSignal later;
  later.request(Clock::now() + 5s);
  ck_assert(later.wait(fds[0], POLLIN, Clock::now() + 10s) & POLLIN);
  ::close(fds[0]);
  ::close(fds[1]);
}
END_TEST

START_TEST(stop_signal_finished) {
  StopSignal stop;
  ck_assert(!stop.wait_finished(Clock::now() + 20ms));
  stop.mark_finished();
  ck_assert(stop.wait_finished(Clock::now() + 5s));
}
END_TEST

// ---- Shipper against a fake Sink ----

class FakeSink : public Sink {
 public:
  explicit FakeSink(bool acks = true) : acks_(acks) {}
  // Answers for the next calls, in order; Ok once the script runs out.
  void script(std::vector<SendResult> s) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto r : s) script_.push_back(r);
  }
  void set_down(bool down) { down_ = down; }
  // Calls carrying a line that contains `text` break (Failed), as a peer
  // that cannot take that line breaks the connection.
  void refuse_lines_with(std::string text) {
    std::lock_guard<std::mutex> lock(mu_);
    refused_ = std::move(text);
  }
  // What probe() answers (Unsupported by default, as the base's).
  void set_probe(Probe p) { probe_ = p; }
  void behind_balancer() { behind_balancer_ = true; }
  Probe probe(std::string& error) override {
    ++probes_;
    just_probed_ = true;
    if (probe_ == Probe::Silent) error = "fake silence";
    return down_ && probe_ != Probe::Unsupported ? Probe::Silent : probe_.load();
  }
  int probes() const { return probes_; }
  // A call with a refused line is broken off by the peer, as a collector
  // that cannot decode a line closes the connection.
  bool last_failure_was_refusal() const override { return last_was_refusal_; }
  void lose_connection_once() { lost_ = true; }
  // What unacknowledged_at_loss() answers.
  void set_unacknowledged(size_t bytes) { unacked_ = bytes; }
  size_t unacknowledged_at_loss() const override { return unacked_; }

  SendResult send(const Batch& batch, std::string& error) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.emplace_back();
    for (const RecordView& v : batch)
      calls_.back().push_back(Record{std::string(v.tag), std::string(v.body)});
    SendResult r = SendResult::Ok;
    const bool refused =
        !refused_.empty() && std::any_of(batch.begin(), batch.end(), [&](const RecordView& v) {
          return v.body.find(refused_) != std::string_view::npos;
        });
    // Behind a load balancer with a dead collector: a call on a connection
    // that did not just answer a probe reaches the dead one.
    const bool unlucky = behind_balancer_ && !just_probed_.exchange(false);
    last_was_refusal_ = (refused || unlucky) && !down_;
    if (down_ || refused || unlucky) {
      r = SendResult::Failed;
    } else if (!script_.empty()) {
      r = script_.front();
      script_.pop_front();
    }
    if (r == SendResult::Failed) error = "fake failure";
    if (r == SendResult::Ok) {
      for (const auto& rec : batch) delivered_.emplace_back(rec.body);
      max_batch_ = std::max(max_batch_, batch.size());
    }
    return r;
  }
  bool acknowledges() const override { return acks_; }
  bool connection_lost() override { return lost_.exchange(false); }
  void close() override { ++closes_; }
  std::string describe() const override { return "fake sink"; }

  std::vector<std::string> delivered() {
    std::lock_guard<std::mutex> lock(mu_);
    return delivered_;
  }
  std::vector<std::vector<Record>> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  size_t max_batch() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_batch_;
  }
  int closes() const { return closes_; }

 private:
  bool acks_;
  std::mutex mu_;
  std::deque<SendResult> script_;
  std::vector<std::vector<Record>> calls_;
  std::vector<std::string> delivered_;
  size_t max_batch_ = 0;
  std::atomic<bool> down_{false};
  std::atomic<bool> lost_{false};
  std::atomic<int> closes_{0};
  std::atomic<size_t> unacked_{0};
  std::string refused_;
  std::atomic<Probe> probe_{Probe::Unsupported};
  std::atomic<bool> last_was_refusal_{false};
  std::atomic<bool> behind_balancer_{false};
  std::atomic<bool> just_probed_{false};
  std::atomic<int> probes_{0};
};

static ShipperOptions fast_options() {
  ShipperOptions o;
  o.queue_bytes = 1 << 20;
  o.batch_lines = 100;
  o.flush_interval = Millis(5);
  o.retry_min = Millis(1);
  o.retry_max = Millis(10);
  o.exit_deadline = Millis(1000);
  o.report_interval = Millis(50);
  return o;
}

static std::set<std::string> bodies(size_t n, const std::string& prefix) {
  std::set<std::string> s;
  for (size_t i = 0; i < n; ++i) s.insert(prefix + std::to_string(i) + "\n");
  return s;
}

static void push_all(Shipper& s, size_t n, const std::string& prefix) {
  for (size_t i = 0; i < n; ++i) ck_assert(s.push("www", prefix + std::to_string(i) + "\n"));
}

START_TEST(shipper_delivers_in_batches_in_order) {
  auto sink = std::make_unique<FakeSink>();
  FakeSink* fake = sink.get();
  Reports rep;
  Shipper s(std::move(sink), fast_options(), rep.reporter());
  s.start();
  push_all(s, 1050, "a");
  ck_assert(eventually([&] { return fake->delivered().size() >= 1050; }));
  s.stop();
  auto got = fake->delivered();
  ck_assert_uint_eq(got.size(), 1050u);
  for (size_t i = 0; i < got.size(); ++i) ck_assert(got[i] == "a" + std::to_string(i) + "\n");
  ck_assert_uint_le(fake->max_batch(), 100u);
  ShipperStats st = s.stats();
  ck_assert_uint_eq(st.queued, 1050u);
  ck_assert_uint_eq(st.sent, 1050u);
  ck_assert_uint_eq(st.lost, 0u);
}
END_TEST

// ps -L and top -H show a sender by the name it was given.
START_TEST(shipper_names_its_thread) {
  auto count_named = [](const std::string& name) {
    int n = 0;
    DIR* d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::string path = std::string("/proc/self/task/") + e->d_name + "/comm";
      char got[32] = {0};
      if (FILE* f = std::fopen(path.c_str(), "r")) {
        if (std::fgets(got, sizeof got, f)) got[std::strcspn(got, "\n")] = '\0';
        std::fclose(f);
      }
      if (name == got) ++n;
    }
    closedir(d);
    return n;
  };
  ShipperOptions o = fast_options();
  o.thread_name = "test-sender-with-a-long-name";  // cut to 15 bytes
  Reports rep;
  Shipper s(std::make_unique<FakeSink>(), o, rep.reporter());
  ck_assert_int_eq(count_named("test-sender-wit"), 0);
  s.start();
  ck_assert_int_eq(count_named("test-sender-wit"), 1);
  s.stop();
  // Joined; the kernel may list the exited task for a moment longer.
  ck_assert(eventually([&] { return count_named("test-sender-wit") == 0; }));
}
END_TEST

// TRY_LATER: nothing was taken; the same batch goes again, after a backoff.
START_TEST(shipper_try_later_resends_same_batch) {
  auto sink = std::make_unique<FakeSink>();
  FakeSink* fake = sink.get();
  fake->script({SendResult::TryLater, SendResult::TryLater, SendResult::TryLater});
  Reports rep;
  Shipper s(std::move(sink), fast_options(), rep.reporter());
  s.start();
  push_all(s, 30, "t");
  ck_assert(eventually([&] { return fake->delivered().size() >= 30; }));
  s.stop();
  auto calls = fake->calls();
  ck_assert_uint_ge(calls.size(), 4u);
  for (int i = 1; i < 4; ++i) {
    ck_assert_uint_eq(calls[i].size(), calls[0].size());
    for (size_t k = 0; k < calls[0].size(); ++k) ck_assert(calls[i][k].body == calls[0][k].body);
  }
  auto got = fake->delivered();
  ck_assert_uint_eq(got.size(), 30u);  // exactly once: TRY_LATER took nothing
  ck_assert(std::set<std::string>(got.begin(), got.end()) == bodies(30, "t"));
  ck_assert(
      rep.has("DE0002", Level::Warning, "fake sink answered TRY_LATER; asking it again in up to"));
  ck_assert_uint_eq(s.stats().failures, 3u);
}
END_TEST

START_TEST(shipper_failed_resends_after_reconnect) {
  auto sink = std::make_unique<FakeSink>();
  FakeSink* fake = sink.get();
  fake->script({SendResult::Failed, SendResult::Failed});
  Reports rep;
  Shipper s(std::move(sink), fast_options(), rep.reporter());
  s.start();
  push_all(s, 250, "f");
  ck_assert(eventually([&] { return fake->delivered().size() >= 250; }));
  s.stop();
  auto got = fake->delivered();
  ck_assert(std::set<std::string>(got.begin(), got.end()) == bodies(250, "f"));
  ck_assert_int_ge(fake->closes(), 2);  // the connection goes after each failure
  ck_assert(rep.has("DE0001", Level::Warning, ": delivery failed: fake failure; retrying"));
  ck_assert(rep.has("DE0003", Level::Notice, ": delivering again after "));
}
END_TEST

// The resend store keeps lines in order, forgets the oldest first by size
// and by age, compacts without losing a byte, and gives back records that
// equal what went in (tags included), from any line on, across the blocks
// that hold them.
START_TEST(resend_store_keeps_forgets_and_gives_back) {
  ResendStore store;
  const Clock::time_point t0{};
  std::vector<Record> want;
  for (int i = 0; i < 200; ++i) {
    Record r{i % 3 ? "" : "www", "line " + std::to_string(i) + std::string(i % 17, 'x')};
    store.add(r, t0 + Millis(i));
    want.push_back(r);
  }
  ck_assert_uint_eq(store.size(), 200u);
  size_t cost = 0;
  for (const Record& r : want) cost += r.cost();
  ck_assert_uint_eq(store.bytes(), cost);

  // By age: lines sent before t0 + 50 ms go.
  store.forget(SIZE_MAX, t0 + Millis(50));
  ck_assert_uint_eq(store.size(), 150u);
  ck_assert(store.sent_at(0) == t0 + Millis(50));
  // By size: the oldest go until the rest fits (compacting on the way).
  size_t keep = 0, kept = 0;
  for (size_t i = want.size(); i-- > 0 && keep + want[i].cost() <= 4000;) {
    keep += want[i].cost();
    ++kept;
  }
  store.forget(4000, t0);
  ck_assert_uint_eq(store.size(), kept);
  ck_assert_uint_eq(store.bytes(), keep);
  ck_assert_uint_eq(store.body_size(store.size() - 1), want.back().body.size());
  // Long lines: several blocks filled, emptied and reused, and a line
  // longer than a block.
  for (int i = 200; i < 330; ++i) {
    Record r{"t", std::to_string(i) + std::string(i == 300 ? 100000 : 3000 + i, 'y')};
    store.add(r, t0 + Millis(i));
    want.push_back(r);
    store.forget(200000, t0);
    ck_assert_uint_le(store.bytes(), 200000u);
  }
  const size_t n = store.size();
  std::vector<Record> spare(3, Record{"spare tag", std::string(40, 's')});
  std::vector<Record> out(1, Record{"", "already there"});
  store.take_from(5, out, spare);
  ck_assert(store.empty());
  ck_assert_uint_eq(store.bytes(), 0u);
  ck_assert_uint_eq(spare.size(), 0u);
  ck_assert_uint_eq(out.size(), 1 + n - 5);
  for (size_t i = 1; i < out.size(); ++i) {
    const Record& w = want[want.size() - (n - 5) + (i - 1)];
    ck_assert_str_eq(out[i].tag.c_str(), w.tag.c_str());
    ck_assert_str_eq(out[i].body.c_str(), w.body.c_str());
  }
}
END_TEST

// A sink that cannot confirm delivery: records sent just before the
// connection is found dead are sent again (duplicates allowed, no loss).
START_TEST(shipper_non_ack_resends_recent) {
  auto sink = std::make_unique<FakeSink>(false);
  FakeSink* fake = sink.get();
  Reports rep;
  Shipper s(std::move(sink), fast_options(), rep.reporter());
  s.start();
  push_all(s, 40, "n");
  ck_assert(eventually([&] { return fake->delivered().size() >= 40; }));
  fake->lose_connection_once();
  ck_assert(eventually([&] { return fake->delivered().size() >= 80; }));
  s.stop();
  auto got = fake->delivered();
  ck_assert(std::set<std::string>(got.begin(), got.end()) == bodies(40, "n"));
  ck_assert_uint_eq(s.stats().resent, 40u);
}
END_TEST

// 40 lines ("o0".."o39"), an idle spell past the resend window, 10 more
// ("n0".."n9"), then the connection is found dead with `unacked` bytes the
// peer had not acknowledged. What the sink got, and the counts once `again`
// lines went a second time. `max_age`: how long sent lines are kept.
struct LossAfterIdle {
  std::vector<std::string> got;
  uint64_t resent = 0;
  uint64_t unconfirmed = 0;
  bool reported = false;  // DE0028 said how many were unconfirmed
};
static LossAfterIdle lose_after_idle(size_t unacked, size_t again, Millis max_age = Millis(45000)) {
  auto sink = std::make_unique<FakeSink>(false);
  FakeSink* fake = sink.get();
  Reports rep;
  ShipperOptions o = fast_options();
  o.resend_window = Millis(100);
  o.resend_unacked_max_age = max_age;
  Shipper s(std::move(sink), o, rep.reporter());
  s.start();
  push_all(s, 40, "o");  // o0..o9: 3 bytes each, o10..o39: 4
  ck_assert(eventually([&] { return fake->delivered().size() >= 40; }));
  std::this_thread::sleep_for(Millis(300));
  push_all(s, 10, "n");  // 3 bytes each
  ck_assert(eventually([&] { return fake->delivered().size() >= 50; }));
  fake->set_unacknowledged(unacked);
  fake->lose_connection_once();
  ck_assert(eventually([&] { return fake->delivered().size() >= 50 + again; }));
  s.stop();
  LossAfterIdle out{fake->delivered(), s.stats().resent, s.stats().unconfirmed, false};
  const std::string count = ": " + std::to_string(out.unconfirmed) + " lines sent ";
  out.reported = rep.has("DE0028", Level::Warning, count);
  return out;
}

// After an idle spell, a lost connection does not bring back lines the
// resend window is long past (the peer took them long ago); only the fresh
// ones go again. The others are counted as unconfirmed, and reported.
START_TEST(shipper_non_ack_resends_no_stale_lines) {
  LossAfterIdle r = lose_after_idle(0, 10);
  ck_assert_uint_eq(r.resent, 10u);
  std::vector<std::string> again(r.got.begin() + 50, r.got.end());
  std::vector<std::string> want;
  for (int i = 0; i < 10; ++i) want.push_back("n" + std::to_string(i) + "\n");
  ck_assert(again == want);
  ck_assert_uint_eq(r.unconfirmed, 40u);
  ck_assert(r.reported);
}
END_TEST

// Lines older than the window whose bytes the peer's kernel had not
// acknowledged when the connection died are resent as well; the older ones
// are unconfirmed.
START_TEST(shipper_non_ack_resends_what_the_peer_did_not_acknowledge) {
  LossAfterIdle r = lose_after_idle(10 * 3 + 15 * 4, 25);  // the new lines and o25..o39
  ck_assert_uint_eq(r.resent, 25u);
  ck_assert_uint_eq(r.got.size(), 75u);
  ck_assert_str_eq(r.got[50].c_str(), "o25\n");
  ck_assert_str_eq(r.got[74].c_str(), "n9\n");
  ck_assert_uint_eq(r.unconfirmed, 25u);
  ck_assert(r.reported);
}
END_TEST

// Lines sent longer ago than any connection keeps data unacknowledged are
// forgotten: neither resent nor counted when a later connection dies.
START_TEST(shipper_non_ack_forgets_lines_past_the_unacked_age) {
  LossAfterIdle r = lose_after_idle(0, 10, Millis(200));
  ck_assert_uint_eq(r.resent, 10u);
  ck_assert_uint_eq(r.unconfirmed, 0u);
}
END_TEST

// Collector away: the queue spills to the spool; when it answers again the
// spooled lines go first, and the spool is empty afterwards.
START_TEST(shipper_spools_through_outage) {
  auto sink = std::make_unique<FakeSink>();
  FakeSink* fake = sink.get();
  fake->set_down(true);
  Reports rep;
  ShipperOptions o = fast_options();
  o.queue_bytes = 64 * 1024;
  o.spool_dir = tmpdir;
  o.spool_name = "dest";
  Shipper s(std::move(sink), o, rep.reporter());
  s.start();
  for (int i = 0; i < 3000; ++i) {
    while (!s.push("www", "o" + std::to_string(i) + "\n")) std::this_thread::sleep_for(1ms);
  }
  ck_assert(eventually([&] { return s.stats().spooled > 0; }));
  fake->set_down(false);
  ck_assert(eventually([&] {
    auto d = fake->delivered();
    return std::set<std::string>(d.begin(), d.end()).size() >= 3000;
  }));
  s.stop();
  auto got = fake->delivered();
  ck_assert(std::set<std::string>(got.begin(), got.end()) == bodies(3000, "o"));
  ck_assert_uint_eq(s.stats().lost, 0u);
  ck_assert_uint_gt(s.stats().replayed, 0u);
  ck_assert(files_in(tmpdir).empty());
}
END_TEST

// Child exit while the collector is away: the rest is spooled, and the next
// child (another Shipper on the same directory) replays it.
START_TEST(shipper_stop_spools_next_replays) {
  Reports rep;
  ShipperOptions o = fast_options();
  o.spool_dir = tmpdir;
  o.spool_name = "dest";
  o.exit_deadline = Millis(100);
  {
    auto sink = std::make_unique<FakeSink>();
    sink->set_down(true);
    Shipper s(std::move(sink), o, rep.reporter());
    s.start();
    push_all(s, 500, "x");
    s.stop();
    ck_assert_uint_eq(s.stats().spooled, 500u);
    ck_assert_uint_eq(s.stats().lost, 0u);
  }
  ck_assert(!files_in(tmpdir).empty());
  auto sink = std::make_unique<FakeSink>();
  FakeSink* fake = sink.get();
  Shipper next(std::move(sink), o, rep.reporter());
  next.start();
  ck_assert(eventually([&] { return fake->delivered().size() >= 500; }));
  next.stop();
  auto got = fake->delivered();
  ck_assert(std::set<std::string>(got.begin(), got.end()) == bodies(500, "x"));
  ck_assert_uint_eq(next.stats().replayed, 500u);
  ck_assert(files_in(tmpdir).empty());
}
END_TEST

// No spool: a full queue drops, and the count reaches the report.
START_TEST(shipper_queue_full_reports_drops) {
  auto sink = std::make_unique<FakeSink>();
  sink->set_down(true);
  Reports rep;
  ShipperOptions o = fast_options();
  o.queue_bytes = 8 * 1024;
  Shipper s(std::move(sink), o, rep.reporter());
  s.start();
  size_t refused = 0;
  for (int i = 0; i < 1000; ++i)
    if (!s.push("www", std::string(100, 'q'))) ++refused;
  ck_assert_uint_gt(refused, 0u);
  s.stop();
  ShipperStats st = s.stats();
  ck_assert_uint_eq(st.dropped_queue, refused);
  ck_assert_uint_eq(st.lost + st.dropped_queue, 1000u);
  // Reported per interval with the running total: the last report has it all.
  ck_assert(
      rep.has("DE0004", Level::Error, std::to_string(refused) + " dropped by this child in all"));
  ck_assert(!s.push("www", "after stop"));  // counted as lost, never queued
}
END_TEST

// What a ledger counts outside the Shipper (lines cut, lines refused) is
// reported by the running sender, on its schedule and not only at exit, with
// the Shipper's own reports; the final report at stop has the totals.
START_TEST(shipper_reports_its_ledger) {
  auto sink = std::make_unique<FakeSink>();
  Reports rep;
  DropLedger ledger("fake", 480, Millis(3600 * 1000));  // its own interval never comes
  ShipperOptions o = fast_options();
  o.ledger = &ledger;
  Shipper s(std::move(sink), o, rep.reporter());
  s.start();
  ledger.count_truncated();
  ledger.count_dropped(EMSGSIZE);
  ck_assert(eventually([&] { return rep.has("DE0015", Level::Warning, ": 1 lines truncated"); }));
  ck_assert(rep.has("DE0014", Level::Error, ": 1 lines dropped"));
  ledger.count_truncated();
  ledger.count_truncated();
  s.stop();
  ck_assert(rep.has("DE0015", Level::Warning, "3 truncated by this child in all"));
}
END_TEST

// Spool over its limit: the oldest spooled lines go, counted and reported.
START_TEST(shipper_spool_limit_reports_drops) {
  auto sink = std::make_unique<FakeSink>();
  sink->set_down(true);
  Reports rep;
  ShipperOptions o = fast_options();
  o.queue_bytes = 16 * 1024;
  o.spool_dir = tmpdir;
  o.spool_name = "dest";
  o.spool_max_bytes = 16 * 1024;
  o.exit_deadline = Millis(50);
  Shipper s(std::move(sink), o, rep.reporter());
  s.start();
  for (int i = 0; i < 5000; ++i)
    while (!s.push("www", "spool-limit-line-" + std::to_string(i) + "\n"))
      std::this_thread::sleep_for(1ms);
  s.stop();
  ShipperStats st = s.stats();
  ck_assert_uint_gt(st.dropped_spool, 0u);
  ck_assert(rep.has("DE0005", Level::Error, "spooled lines because the spool was over its limit"));
  SpoolDir replay(tmpdir, "dest", o.spool_max_bytes, rep.reporter());
  auto left = drain(replay, 1000);
  ck_assert_uint_eq(left.size() + st.dropped_spool, 5000u);
}
END_TEST

// After an outage the spooled lines are older than anything still queued:
// they go first, and the whole sequence arrives in order.
START_TEST(shipper_spooled_before_new_after_outage) {
  auto sink = std::make_unique<FakeSink>();
  FakeSink* fake = sink.get();
  fake->set_down(true);
  Reports rep;
  ShipperOptions o = fast_options();
  o.queue_bytes = 64 * 1024;
  o.spool_dir = tmpdir;
  o.spool_name = "dest";
  Shipper s(std::move(sink), o, rep.reporter());
  s.start();
  int n = 0;
  for (; n < 2000; ++n)
    while (!s.push("www", std::to_string(n) + "\n")) std::this_thread::sleep_for(1ms);
  ck_assert(eventually([&] { return s.stats().spooled > 0; }));
  fake->set_down(false);
  ck_assert(eventually([&] { return fake->delivered().size() >= 2000; }));
  s.stop();
  auto got = fake->delivered();
  ck_assert_uint_eq(got.size(), 2000u);
  for (size_t i = 0; i < got.size(); ++i)
    ck_assert_msg(got[i] == std::to_string(i) + "\n", "line %zu is %s", i, got[i].c_str());
}
END_TEST

// Exit while the peer is failing: the rest is spooled at once, without
// another attempt that could hold the child past its deadline.
START_TEST(shipper_stop_while_down_spools_without_sending) {
  auto sink = std::make_unique<FakeSink>();
  FakeSink* fake = sink.get();
  fake->set_down(true);
  Reports rep;
  ShipperOptions o = fast_options();
  o.retry_min = Millis(60000);
  o.retry_max = Millis(60000);
  o.spool_dir = tmpdir;
  o.spool_name = "dest";
  Shipper s(std::move(sink), o, rep.reporter());
  s.start();
  push_all(s, 10, "d");
  ck_assert(eventually([&] { return fake->calls().size() >= 1; }));
  push_all(s, 10, "e");
  s.stop();
  ck_assert_uint_eq(fake->calls().size(), 1u);
  ck_assert_uint_eq(s.stats().spooled, 20u);
}
END_TEST

// A peer that is up but slower than the traffic: once a call returns and the
// queue is over three quarters full, the queue goes to the spool (instead of
// filling up and refusing lines), and everything arrives, in order.
START_TEST(shipper_slow_peer_spills_instead_of_dropping) {
  class GatedSink : public FakeSink {
   public:
    SendResult send(const Batch& batch, std::string& error) override {
      {
        std::unique_lock<std::mutex> lock(gate_mu_);
        ++waiting_;
        gate_cv_.wait(lock, [&] { return open_; });
      }
      return FakeSink::send(batch, error);
    }
    void open() {
      {
        std::lock_guard<std::mutex> lock(gate_mu_);
        open_ = true;
      }
      gate_cv_.notify_all();
    }
    int waiting() {
      std::lock_guard<std::mutex> lock(gate_mu_);
      return waiting_;
    }

   private:
    std::mutex gate_mu_;
    std::condition_variable gate_cv_;
    bool open_ = false;
    int waiting_ = 0;
  };
  auto sink = std::make_unique<GatedSink>();
  GatedSink* gated = sink.get();
  Reports rep;
  ShipperOptions o = fast_options();
  o.queue_bytes = 64 * 1024;
  o.batch_lines = 10;
  o.spool_dir = tmpdir;
  o.spool_name = "dest";
  Shipper s(std::move(sink), o, rep.reporter());
  s.start();
  size_t n = 0;
  for (; n < 5; ++n) ck_assert(s.push("www", std::to_string(n) + "\n"));
  ck_assert(eventually([&] { return gated->waiting() == 1; }));  // stuck in the first call
  const size_t cost = RecordQueue::cost("www", "1000\n");        // every line here costs this
  const size_t fill = o.queue_bytes * 85 / 100 / cost;
  for (size_t i = 0; i < fill; ++i, ++n) ck_assert(s.push("www", std::to_string(n) + "\n"));
  gated->open();
  ck_assert(eventually([&] { return gated->delivered().size() >= n; }));
  s.stop();
  ck_assert_uint_gt(s.stats().spooled, 0u);
  ck_assert_uint_eq(s.stats().dropped_queue, 0u);
  auto got = gated->delivered();
  ck_assert_uint_eq(got.size(), n);
  for (size_t i = 0; i < got.size(); ++i) ck_assert(got[i] == std::to_string(i) + "\n");
  ck_assert(files_in(tmpdir).empty());
}
END_TEST

// A peer that accepts and never answers: each send() waits, through the
// Shipper's StopSignal, for an answer that never comes.
class HangingSink : public Sink {
 public:
  HangingSink() { ck_assert_int_eq(::pipe(fds_), 0); }
  ~HangingSink() override {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  SendResult send(const Batch&, std::string& error) override {
    ++calls_;
    stop_->wait(fds_[0], POLLIN, Clock::now() + 10s);
    error = "no answer";
    return SendResult::Failed;
  }
  bool acknowledges() const override { return true; }
  void close() override {}
  std::string describe() const override { return "hanging sink"; }
  std::atomic<int> calls_{0};

 private:
  int fds_[2];
};

// Fast options with a spool in the test's directory under `name`.
static ShipperOptions spooling_options(const char* name, Millis exit_deadline) {
  ShipperOptions o = fast_options();
  o.exit_deadline = exit_deadline;
  o.spool_dir = tmpdir;
  o.spool_name = name;
  return o;
}

// A started Shipper on a HangingSink with `lines` pushed, returned once its
// first call waits for an answer.
static std::unique_ptr<Shipper> hung_shipper(const ShipperOptions& o, size_t lines,
                                             const std::string& prefix, Reports& rep) {
  auto sink = std::make_unique<HangingSink>();
  HangingSink* raw = sink.get();
  auto s = std::make_unique<Shipper>(std::move(sink), o, rep.reporter());
  s->start();
  push_all(*s, lines, prefix);
  while (raw->calls_ == 0) std::this_thread::sleep_for(1ms);
  return s;
}

// However long the peer would keep a call waiting, stop() returns by the
// exit deadline (plus the grace), and every line is accounted for.
START_TEST(shipper_stop_bounded_with_hung_peer_counts_lost) {
  Reports rep;
  ShipperOptions o = fast_options();
  o.exit_deadline = Millis(300);
  auto hung = hung_shipper(o, 50, "h", rep);
  Shipper& s = *hung;
  s.begin_stop();
  // The contract itself: done by the deadline (plus the grace), although the
  // peer would have kept the call waiting for 10 s.
  ck_assert(s.wait_stopped(ChildSenders::kGrace));
  s.join();
  ShipperStats st = s.stats();
  ck_assert_uint_eq(st.sent, 0u);
  ck_assert_uint_eq(st.lost, 50u);
  ck_assert(
      rep.has("DE0006", Level::Error, "50 lines could not be delivered before the child exited"));
}
END_TEST

// With a spool, a stopping Shipper spools first: a hung peer costs nothing,
// and the next Shipper on the directory delivers every line.
START_TEST(shipper_stop_spools_first_with_hung_peer) {
  Reports rep;
  ShipperOptions o = spooling_options("hung", Millis(300));
  {
    auto hung = hung_shipper(o, 40, "sp", rep);
    Shipper& s = *hung;
    s.begin_stop();
    ck_assert(s.wait_stopped(ChildSenders::kGrace));
    s.join();
    ShipperStats st = s.stats();
    ck_assert_uint_eq(st.spooled, 40u);
    ck_assert_uint_eq(st.lost, 0u);
  }
  auto sink = std::make_unique<FakeSink>();
  FakeSink* fake = sink.get();
  Shipper next(std::move(sink), o, rep.reporter());
  next.start();
  // The new Shipper finds the file at start and replays it.
  auto give_up = Clock::now() + 10s;
  while (fake->delivered().size() < 40 && Clock::now() < give_up) std::this_thread::sleep_for(5ms);
  next.stop();
  auto delivered = fake->delivered();
  std::set<std::string> got(delivered.begin(), delivered.end());
  for (int i = 0; i < 40; ++i) ck_assert(got.count("sp" + std::to_string(i) + "\n"));
}
END_TEST

// At exit with a live peer and a spool: spooled, then delivered from the
// spool within the deadline; nothing is left behind.
START_TEST(shipper_stop_delivers_from_spool) {
  Reports rep;
  ShipperOptions o = spooling_options("exit", Millis(1000));
  o.flush_interval = Millis(10000);  // nothing goes before the stop
  auto sink = std::make_unique<FakeSink>();
  FakeSink* fake = sink.get();
  Shipper s(std::move(sink), o, rep.reporter());
  s.start();
  push_all(s, 30, "ex");
  s.stop();
  ShipperStats st = s.stats();
  ck_assert_uint_eq(fake->delivered().size(), 30u);
  ck_assert_uint_eq(st.spooled, 30u);
  ck_assert_uint_eq(st.replayed, 30u);
  ck_assert(files_in(tmpdir).empty());
}
END_TEST

// `count` started Shippers on hanging sinks, `lines` pushed to each and the
// first call of each waiting for an answer, all in `senders`.
static std::vector<std::unique_ptr<Shipper>> hung_senders(ChildSenders& senders, int count,
                                                          size_t lines, Millis deadline,
                                                          Reports& rep) {
  ShipperOptions o = fast_options();
  o.exit_deadline = deadline;
  std::vector<std::unique_ptr<Shipper>> all;
  for (int i = 0; i < count; ++i) {
    all.push_back(hung_shipper(o, lines, "t", rep));
    senders.add(all.back().get());
  }
  return all;
}

// Several senders told to stop together finish within one deadline, not one
// after another.
START_TEST(child_senders_stop_together) {
  Reports rep;
  ChildSenders senders(ChildSenders::Join::AfterStop);
  auto all = hung_senders(senders, 4, 5, Millis(300), rep);
  senders.begin_stop_all();
  // One deadline for all, set before anyone is waited for.
  for (auto& s : all) {
    auto skew = s->exit_deadline() - all.front()->exit_deadline();
    ck_assert(skew < 50ms && skew > -50ms);
  }
  ck_assert_uint_eq(senders.finish_all(), 0u);
  for (auto& s : all) ck_assert_uint_eq(s->stats().lost, 5u);
}
END_TEST

// Prefork's policy: finish_all() waits but joins nothing (it may run in a
// signal handler); the senders are done all the same.
START_TEST(child_senders_never_join_under_prefork) {
  Reports rep;
  ChildSenders senders(ChildSenders::Join::Never);
  auto all = hung_senders(senders, 3, 4, Millis(200), rep);
  ShipperOptions o = fast_options();
  o.exit_deadline = Millis(200);
  senders.begin_stop_all();
  ck_assert_uint_eq(senders.finish_all(), 0u);
  for (auto& s : all) {
    ck_assert(s->running());  // not joined
    ck_assert_uint_eq(s->stats().lost, 4u);
  }
  // A deadline set early (child_stopping) is the one that counts.
  Shipper early(std::make_unique<FakeSink>(), o, rep.reporter());
  early.start();
  early.set_exit_deadline();
  auto first = early.exit_deadline();
  std::this_thread::sleep_for(20ms);
  early.begin_stop();
  ck_assert(early.exit_deadline() == first);
  ck_assert(!early.push("www", "late\n"));  // stopping: refused and counted
  early.stop();
  ck_assert_uint_eq(early.stats().lost, 1u);
}
END_TEST

// An ungraceful stop of a threaded child: the deadline starts (child_stopping)
// while workers still finish requests and log them; when the stop comes long
// after the deadline, the lines are still spooled, not lost.
START_TEST(shipper_early_deadline_still_spools_late_lines) {
  Reports rep;
  auto hung = hung_shipper(spooling_options("early", Millis(50)), 10, "a", rep);
  Shipper& s = *hung;
  s.set_exit_deadline();
  std::this_thread::sleep_for(400ms);  // deadline and its graces have passed
  push_all(s, 10, "b");                // the last requests still log
  s.begin_stop();
  ck_assert(s.wait_stopped(ChildSenders::kGrace));
  s.join();
  ShipperStats st = s.stats();
  ck_assert_uint_eq(st.lost, 0u);
  ck_assert_uint_eq(st.spooled, 20u);
}
END_TEST

// A Shipper whose thread never started takes no line, and counts each.
START_TEST(shipper_not_started_counts_every_line) {
  Reports rep;
  Shipper s(std::make_unique<FakeSink>(), fast_options(), rep.reporter());
  ck_assert(!s.push("www", "x\n"));
  ck_assert(!s.push("www", "y\n"));
  ck_assert_uint_eq(s.stats().lost, 2u);
  ck_assert_uint_eq(s.stats().queued, 0u);
}
END_TEST

// The lock-free error-log line looks like httpd's default ErrorLogFormat.
START_TEST(exit_log_formats_like_httpd) {
  ExitLog log;
  log.open(-1, "syslog", 0, 7);
  char buf[256];
  std::string text = "3 lines could not be delivered";
  size_t n = log.format(buf, sizeof buf, 1796171224LL * 1000000 + 710777, 3, text.data(),
                        text.size(), 1234, 5678);
  std::string line(buf, n);
  ck_assert_str_eq(line.c_str(),
                   "[Wed Dec 02 00:27:04.710777 2026] [syslog:error] [pid 1234:tid 5678] "
                   "3 lines could not be delivered\n");
  // Local time: an hour east of UTC crosses into a leap day's next day.
  ExitLog east;
  east.open(-1, "scribe", 3600, 7);
  n = east.format(buf, sizeof buf, 1709251199LL * 1000000, 4, "x", 1, 1, 1);
  line.assign(buf, n);
  ck_assert_str_eq(line.c_str(),
                   "[Fri Mar 01 00:59:59.000000 2024] [scribe:warn] [pid 1:tid 1] x\n");
  // Too long for the buffer: cut, still one line.
  n = log.format(buf, 40, 0, 3, text.data(), text.size(), 1, 1);
  ck_assert_uint_eq(n, 40u);
  ck_assert_int_eq(buf[39], '\n');
}
END_TEST

START_TEST(exit_log_filters_by_level) {
  int fds[2];
  ck_assert_int_eq(::pipe(fds), 0);
  ExitLog log;
  log.open(fds[1], "syslog", 0, 4);  // LogLevel warn
  log.write(5, "notice: filtered");
  log.write(3, "error: written");
  ::close(fds[1]);
  char buf[512];
  ssize_t n = ::read(fds[0], buf, sizeof buf);
  ::close(fds[0]);
  std::string got(buf, n > 0 ? size_t(n) : 0);
  ck_assert(got.find("error: written") != std::string::npos);
  ck_assert(got.find("filtered") == std::string::npos);
}
END_TEST

// ---- StatusBoard: figures shared across processes ----

// Counters added in forked children are seen by the parent, and stay after
// the children are gone; a new child reuses a released slot and adds on.
START_TEST(status_board_sums_across_processes) {
  StatusBoard board(2, 4);
  for (int child = 0; child < 3; ++child) {
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
      SenderSlot* slot = board.claim(1, getpid());
      if (!StatusBoard::owns(slot, getpid())) _exit(1);
      slot->add(Counter::Queued, 10);
      slot->add(Counter::Sent, 7);
      StatusBoard::release(slot, getpid());
      _exit(0);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  SenderTotals t = board.totals(1);
  ck_assert_uint_eq(t[Counter::Queued], 30u);
  ck_assert_uint_eq(t[Counter::Sent], 7u * 3);
  ck_assert_uint_eq(t.children, 0u);  // every slot released
  ck_assert_uint_eq(board.totals(0)[Counter::Queued], 0u);
}
END_TEST

// A child that died holding its slot (SIGKILL) does not count as live, and
// its slot is taken over; its counts stay.
START_TEST(status_board_reclaims_dead_owner) {
  StatusBoard board(1, 1);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    SenderSlot* slot = board.claim(0, getpid());
    slot->add(Counter::Sent, 5);
    slot->set_state(SenderState::Failing, 100);
    _exit(0);  // no release
  }
  int status = 0;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  SenderTotals dead = board.totals(0);
  ck_assert_uint_eq(dead.children, 0u);
  ck_assert_uint_eq(dead[Counter::Sent], 5u);
  ck_assert(dead.state == SenderState::Unused);

  SenderSlot* mine = board.claim(0, getpid());
  ck_assert(StatusBoard::owns(mine, getpid()));
  mine->set_state(SenderState::Up, 200);
  mine->add(Counter::Sent, 1);
  SenderTotals t = board.totals(0);
  ck_assert_uint_eq(t.children, 1u);
  ck_assert_uint_eq(t[Counter::Sent], 6u);
  ck_assert(t.state == SenderState::Up);
  ck_assert_int_eq(t.failing_since, 0);
  // More children than slots: the next one shares a slot, without gauges.
  SenderSlot* shared = board.claim(0, getpid() + 1000000);
  ck_assert(shared == mine);
  ck_assert(!StatusBoard::owns(shared, getpid() + 1000000));
  StatusBoard::release(mine, getpid());
}
END_TEST

// A pid that is alive but no child of the server (a dead child's pid given
// to another process): not live, and its slot goes to the next child.
START_TEST(status_board_reused_pid_is_not_a_child) {
  StatusBoard board(1, 1, [](pid_t pid) { return pid == getpid(); });
  SenderSlot* stale = board.claim(0, getppid());
  stale->set_state(SenderState::Failing, 100);
  stale->add(Counter::Sent, 3);
  SenderTotals t = board.totals(0);
  ck_assert_uint_eq(t.children, 0u);
  ck_assert(t.state == SenderState::Unused);
  SenderSlot* mine = board.claim(0, getpid());
  ck_assert(mine == stale && StatusBoard::owns(mine, getpid()));
  ck_assert_uint_eq(board.totals(0)[Counter::Sent], 3u);
}
END_TEST

START_TEST(status_board_worst_state_and_earliest_failure) {
  StatusBoard board(1, 3);
  // Live "children": this process and its parent (both alive), by pid.
  SenderSlot* a = board.claim(0, getpid());
  SenderSlot* b = board.claim(0, getppid());
  a->set_state(SenderState::Failing, 300);
  b->set_state(SenderState::Failing, 200);
  SenderTotals t = board.totals(0);
  ck_assert(t.state == SenderState::Failing);
  ck_assert_uint_eq(t.failing, 2u);
  ck_assert_int_eq(t.failing_since, 200);
  b->set_state(SenderState::SendingSpool, 400);
  t = board.totals(0);
  ck_assert(t.state == SenderState::Failing);
  ck_assert_int_eq(t.failing_since, 300);
  a->set_state(SenderState::Up, 500);
  t = board.totals(0);
  ck_assert(t.state == SenderState::SendingSpool);
  ck_assert_str_eq(state_name(t.state), "sending spool");
}
END_TEST

START_TEST(status_key_word_encodes_separators) {
  ck_assert(status_key_word("local6.info@tcp://[::1]:514") ==
            "local6.info@tcp%3A//[%3A%3A1]%3A514");
  ck_assert(status_key_word("a b%c\td") == "a%20b%25c%09d");
  ck_assert(status_key_word("plain-word_1") == "plain-word_1");
}
END_TEST

// The sender publishes what it did into its slot: queued, sent, spooled
// and replayed through an outage, the state while failing, and gives the
// slot up at the end with the counts left behind.
START_TEST(shipper_publishes_status) {
  StatusBoard board(1, 2);
  auto sink = std::make_unique<FakeSink>();
  FakeSink* fake = sink.get();
  Reports rep;
  ShipperOptions o = fast_options();
  o.spool_dir = tmpdir;
  o.spool_name = "status";
  o.status = board.claim(0, getpid());
  // Spill during the outage: a queue that is soon half full.
  o.queue_bytes = 4096;
  // Drops and truncations counted on request threads go to the slot too.
  DropLedger ledger("fake", 480, Millis(10000));
  ledger.mirror_to(o.status);
  ledger.count_dropped(EMSGSIZE);
  ledger.count_dropped(EMSGSIZE);
  ledger.count_truncated();
  Shipper s(std::move(sink), o, rep.reporter());
  s.start();
  push_all(s, 50, "up");
  ck_assert(eventually([&] { return board.totals(0)[Counter::Sent] == 50; }));
  SenderTotals t = board.totals(0);
  ck_assert_uint_eq(t[Counter::Queued], 50u);
  ck_assert(t.state == SenderState::Up);
  ck_assert_uint_eq(t.children, 1u);

  fake->set_down(true);
  for (int i = 0; i < 30; ++i) {
    ck_assert(s.push("www", std::string(200, 'd') + std::to_string(i) + "\n"));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ck_assert(eventually([&] { return board.totals(0).state == SenderState::Failing; }));
  ck_assert(eventually([&] { return board.totals(0)[Counter::Spooled] > 0; }));
  ck_assert_int_gt(board.totals(0).failing_since, 0);
  fake->set_down(false);
  ck_assert(eventually([&] { return board.totals(0)[Counter::Sent] == 80; }));
  s.stop();
  t = board.totals(0);
  ck_assert_uint_eq(t[Counter::Queued], 80u);
  ck_assert_uint_eq(t[Counter::Sent], 80u);
  ck_assert_uint_gt(t[Counter::Spooled], 0u);
  ck_assert_uint_eq(t[Counter::Replayed], t[Counter::Spooled]);
  ck_assert_uint_eq(t[Counter::DroppedUnsendable], 2u);
  ck_assert_uint_eq(t[Counter::Truncated], 1u);
  ck_assert_uint_eq(t.dropped(), 2u);
  ck_assert_uint_eq(t.children, 0u);  // released at the end
}
END_TEST

// A sink that answers Ok but gave one line of each batch up (a datagram the
// socket refused, counted as dropped by the sink): not counted as sent.
START_TEST(shipper_does_not_count_given_up_lines_as_sent) {
  class GivingUpSink : public FakeSink {
   public:
    size_t given_up_in_last_send() const override { return 1; }
  };
  auto sink = std::make_unique<GivingUpSink>();
  FakeSink* fake = sink.get();
  Reports rep;
  ShipperOptions o = fast_options();
  o.batch_lines = 1000;
  o.flush_interval = Millis(200);
  Shipper s(std::move(sink), o, rep.reporter());
  s.start();
  push_all(s, 10, "g");
  ck_assert(eventually([&] { return fake->delivered().size() >= 10; }));
  s.stop();
  size_t batches = fake->calls().size();
  ck_assert_uint_eq(s.stats().sent, 10u - batches);
}
END_TEST

// ---- directive values (config_values.h) ----

// One row: the text, the range, and either the value or the whole message.
struct ValueCase {
  const char* text;
  uint64_t min;
  uint64_t max;
  bool ok;
  uint64_t value;     // when ok
  const char* error;  // when not
};

constexpr uint64_t kK = 1 << 10, kM = 1 << 20, kG = 1 << 30;

// The ranges of SyslogQueueSize (64K-1G), ScribeQueueSize (4K-1024G) and
// ScribeSpoolMaxSize (4K-1048576G), and unbounded ones.
static const ValueCase kSizeCases[] = {
    {"1024", 1, UINT64_MAX, true, 1024, nullptr},
    {"8M", 1, UINT64_MAX, true, 8 * kM, nullptr},
    {"1g", 1, UINT64_MAX, true, kG, nullptr},
    {"64k", 1, UINT64_MAX, true, 64 * kK, nullptr},
    {"0064K", 64 * kK, kG, true, 64 * kK, nullptr},
    {"64K", 64 * kK, kG, true, 64 * kK, nullptr},
    {"1G", 64 * kK, kG, true, kG, nullptr},
    {"1024G", 4 * kK, kG << 10, true, kG << 10, nullptr},
    {"17179869183G", 1, UINT64_MAX, true, uint64_t(17179869183) << 30, nullptr},
    {"", 1, UINT64_MAX, false, 0, "'' is not a size (bytes, optionally with K, M or G)"},
    {"M", 1, UINT64_MAX, false, 0, "'M' is not a size (bytes, optionally with K, M or G)"},
    {"abc", 1, UINT64_MAX, false, 0, "'abc' is not a size (bytes, optionally with K, M or G)"},
    {"4X", 1, UINT64_MAX, false, 0, "'4X' is not a size (bytes, optionally with K, M or G)"},
    {"1.5M", 1, UINT64_MAX, false, 0, "'1.5M' is not a size (bytes, optionally with K, M or G)"},
    {"12MB", 1, UINT64_MAX, false, 0, "'12MB' is not a size (bytes, optionally with K, M or G)"},
    {"-1", 1, UINT64_MAX, false, 0, "'-1' is not a size (bytes, optionally with K, M or G)"},
    {"+5", 1, UINT64_MAX, false, 0, "'+5' is not a size (bytes, optionally with K, M or G)"},
    {" 12", 1, UINT64_MAX, false, 0, "' 12' is not a size (bytes, optionally with K, M or G)"},
    {"12 ", 1, UINT64_MAX, false, 0, "'12 ' is not a size (bytes, optionally with K, M or G)"},
    {"0x10", 1, UINT64_MAX, false, 0, "'0x10' is not a size (bytes, optionally with K, M or G)"},
    {"1", 64 * kK, kG, false, 0, "'1' is out of range (64K-1G)"},
    {"65535", 64 * kK, kG, false, 0, "'65535' is out of range (64K-1G)"},
    {"1025M", 64 * kK, kG, false, 0, "'1025M' is out of range (64K-1G)"},
    {"1K", 4 * kK, kG << 10, false, 0, "'1K' is out of range (4K-1024G)"},
    {"4097", 4 * kK, 8 * kK + 1, true, 4097, nullptr},
    {"1", 4097, 8 * kK + 1, false, 0, "'1' is out of range (4097-8193)"},
    // Past 64 bits, in the digits or by the suffix.
    {"99999999999G", 1, kG << 10, false, 0, "'99999999999G' is out of range (1-1024G)"},
    {"17179869184G", 1, UINT64_MAX, false, 0,
     "'17179869184G' is out of range (1-18446744073709551615)"},
    {"18446744073709551616", 0, UINT64_MAX, false, 0,
     "'18446744073709551616' is out of range (0-18446744073709551615)"},
};

// The ranges of SyslogMaxLength, the exit timeouts, ScribeBatchSize and the
// like: digits only, no suffix.
static const ValueCase kNumberCases[] = {
    {"200", 1, 1000, true, 200, nullptr},
    {"1", 1, 1000, true, 1, nullptr},
    {"1000", 1, 1000, true, 1000, nullptr},
    {"0", 0, 2500, true, 0, nullptr},
    {"2500", 0, 2500, true, 2500, nullptr},
    {"8192", 480, 1 << 20, true, 8192, nullptr},
    {"18446744073709551615", 0, UINT64_MAX, true, UINT64_MAX, nullptr},
    {"0", 1, 1000, false, 0, "'0' is out of range (1-1000)"},
    {"1001", 1, 1000, false, 0, "'1001' is out of range (1-1000)"},
    {"2501", 0, 2500, false, 0, "'2501' is out of range (0-2500)"},
    {"10", 480, 1 << 20, false, 0, "'10' is out of range (480-1048576)"},
    {"18446744073709551616", 0, UINT64_MAX, false, 0,
     "'18446744073709551616' is out of range (0-18446744073709551615)"},
    {"", 1, 1000, false, 0, "'' is not a number"},
    {"2s", 1, 1000, false, 0, "'2s' is not a number"},
    {"8K", 480, 1 << 20, false, 0, "'8K' is not a number"},
    {"lots", 480, 1 << 20, false, 0, "'lots' is not a number"},
    {"-0", 0, 2500, false, 0, "'-0' is not a number"},
    {"+5", 0, 2500, false, 0, "'+5' is not a number"},
    {" 5", 0, 2500, false, 0, "' 5' is not a number"},
    {"1e3", 0, 2500, false, 0, "'1e3' is not a number"},
};

using ValueParser = bool (*)(std::string_view, uint64_t, uint64_t, uint64_t&, std::string&);

static void check_value_cases(ValueParser parse, const ValueCase* cases, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const ValueCase& c = cases[i];
    const uint64_t untouched = 12345;
    uint64_t v = untouched;
    std::string error;
    bool ok = parse(c.text, c.min, c.max, v, error);
    ck_assert_msg(ok == c.ok, "'%s' in [%" PRIu64 ", %" PRIu64 "]: %s", c.text, c.min, c.max,
                  ok ? "accepted" : error.c_str());
    if (c.ok) {
      ck_assert_msg(v == c.value, "'%s' read as %" PRIu64, c.text, v);
    } else {
      ck_assert_msg(v == untouched, "'%s': a failed parse changed its output", c.text);
      ck_assert_msg(error == c.error, "'%s': \"%s\", expected \"%s\"", c.text, error.c_str(),
                    c.error);
    }
  }
}

START_TEST(config_sizes) {
  check_value_cases(config_values::parse_size, kSizeCases, sizeof kSizeCases / sizeof *kSizeCases);
}
END_TEST

START_TEST(config_numbers) {
  check_value_cases(config_values::parse_number, kNumberCases,
                    sizeof kNumberCases / sizeof *kNumberCases);
}
END_TEST

START_TEST(config_size_string) {
  const struct {
    uint64_t bytes;
    const char* text;
  } cases[] = {{0, "0"},
               {1, "1"},
               {1023, "1023"},
               {1024, "1K"},
               {1536, "1536"},
               {4096, "4K"},
               {65536, "64K"},
               {3 * kM, "3M"},
               {kG, "1G"},
               {kG << 10, "1024G"},
               {4 * kK + 1, "4097"},
               {UINT64_MAX, "18446744073709551615"}};
  for (const auto& c : cases) {
    const std::string text = config_values::size_string(c.bytes);
    ck_assert_str_eq(text.c_str(), c.text);
  }
}
END_TEST

// ---- failover, pacing, batch limits, refused lines ----

// The first peer not backing off is used; a failed one is skipped at once
// and taken back once its own backoff has passed.
START_TEST(peer_rotation_prefers_first_and_fails_over) {
  PeerRotation r(3, Millis(500), Millis(4000), FailoverPolicy{}, 1);
  ck_assert_uint_eq(*r.pick(T0), 0u);
  r.failed(0, T0);
  ck_assert(r.backing_off(0, T0));
  ck_assert_uint_eq(*r.pick(T0), 1u);
  r.failed(1, T0);
  ck_assert_uint_eq(*r.pick(T0), 2u);
  r.failed(2, T0);
  ck_assert(!r.pick(T0).has_value());  // all back off: wait
  ck_assert(r.next_retry() > T0);
  ck_assert(r.next_retry() <= T0 + Millis(500));
  // After the backoff (at most the ceiling), the first is preferred again.
  ck_assert_uint_eq(*r.pick(T0 + Millis(501)), 0u);
  // Backoff grows per peer and a success resets it.
  r.failed(0, T0);
  r.failed(0, T0);
  ck_assert(r.backing_off(0, T0 + Millis(999)));  // ceiling 2000: at least 1000
  r.succeeded(0);
  ck_assert(!r.backing_off(0, T0));
  ck_assert_uint_eq(r.attempts(0), 0u);
}
END_TEST

// TRY_LATER holds the sender at its peer (the next one is not tried) until
// the answers have lasted past the policy, by count or by time.
START_TEST(peer_rotation_try_later_holds_then_fails_over) {
  using Verdict = PeerRotation::Verdict;
  PeerRotation by_count(2, Millis(10), Millis(10), FailoverPolicy{3, Millis(60000)}, 2);
  ck_assert(by_count.try_later(0, T0) == Verdict::Wait);
  ck_assert(!by_count.pick(T0).has_value());  // held: peer 1 is not used meanwhile
  ck_assert(by_count.next_retry() <= T0 + Millis(10));
  ck_assert_uint_eq(*by_count.pick(T0 + Millis(11)), 0u);
  ck_assert(by_count.try_later(0, T0 + Millis(11)) == Verdict::Wait);
  ck_assert(by_count.try_later(0, T0 + Millis(22)) == Verdict::FailOver);
  ck_assert_uint_eq(*by_count.pick(T0 + Millis(22)), 1u);
  // Tried again after its backoff and still busy: the next peer at once.
  ck_assert_uint_eq(*by_count.pick(T0 + Millis(40)), 0u);
  ck_assert(by_count.try_later(0, T0 + Millis(40)) == Verdict::StillOverloaded);
  ck_assert_uint_eq(*by_count.pick(T0 + Millis(40)), 1u);
  // A success ends it: a new run counts from 1 again.
  by_count.succeeded(0);
  ck_assert(by_count.try_later(0, T0 + Millis(60)) == Verdict::Wait);

  PeerRotation by_time(2, Millis(10), Millis(10), FailoverPolicy{100, Millis(1000)}, 3);
  ck_assert(by_time.try_later(0, T0) == Verdict::Wait);
  ck_assert(by_time.try_later(0, T0 + Millis(999)) == Verdict::Wait);
  ck_assert(by_time.try_later(0, T0 + Millis(1000)) == Verdict::FailOver);
  ck_assert_uint_eq(*by_time.pick(T0 + Millis(1000)), 1u);
  // A failed peer ahead of a held one is skipped, the held one waited for.
  PeerRotation mixed(3, Millis(10), Millis(10), FailoverPolicy{5, Millis(60000)}, 4);
  mixed.failed(0, T0);
  ck_assert(mixed.try_later(1, T0) == Verdict::Wait);
  ck_assert(!mixed.pick(T0).has_value());
}
END_TEST

START_TEST(replay_pacer_limits_and_refills) {
  ReplayPacer off(0);
  ck_assert(!off.limited());
  ck_assert_uint_eq(off.allowance(5000, T0), 5000u);
  ReplayPacer p(100);
  ck_assert_uint_eq(p.allowance(1000, T0), 100u);  // a second's worth to start
  p.spend(100);
  ck_assert_uint_eq(p.allowance(1000, T0), 0u);
  ck_assert(p.when(50) <= T0 + Millis(501));
  ck_assert(p.when(50) >= T0 + Millis(499));
  ck_assert_uint_eq(p.allowance(1000, T0 + Millis(500)), 50u);
  p.spend(50);
  // Never more than a second's worth, however long it was idle.
  ck_assert_uint_eq(p.allowance(1000, T0 + std::chrono::hours(1)), 100u);
}
END_TEST

// A batch from the queue holds at most max_bytes of lines, but always one.
START_TEST(queue_peek_caps_bytes) {
  RecordQueue q(1 << 20);
  const std::string line(100, 'x');
  for (int i = 0; i < 30; ++i) ck_assert(q.push("t", line, Clock::now()));
  ck_assert(q.push("t", std::string(5000, 'y'), Clock::now()));
  Batch b;
  for (size_t want : {9u, 9u, 9u, 3u}) {  // 101 bytes a line: 9 in 1000
    ck_assert_uint_eq(q.peek(b, 100, 1000), want);
    q.release(want);
    b.clear();
  }
  ck_assert_uint_eq(q.peek(b, 100, 1000), 1u);  // longer than the cap: alone
  ck_assert_uint_eq(b[0].body.size(), 5000u);
  q.release(1);
}
END_TEST

// Spool batches are capped in bytes too, and a part of a batch can be
// committed: the next replayer starts after it.
START_TEST(spooldir_batch_bytes_and_partial_commit) {
  Reports rep;
  SpoolDir sd(tmpdir, "dest", 1 << 20, rep.reporter());
  auto recs = make_records(20, "line-");  // "line-N\n", 6 to 8 bytes, tag "www"
  ck_assert(sd.append(views_of(recs)));
  sd.seal();
  std::vector<Record> batch;
  ck_assert(sd.next_batch(batch, 100, 40));
  ck_assert_uint_eq(batch.size(), 4u);  // 4 x 10 bytes
  sd.commit(3);
  sd.release();  // the 4th was not delivered
  SpoolDir other(tmpdir, "dest", 1 << 20, rep.reporter());
  std::vector<Record> again;
  ck_assert(other.next_batch(again, 100));
  ck_assert(again[0].body == "line-3\n");
  ck_assert_uint_eq(again.size(), 17u);
  other.commit(1);
  other.commit(16);  // the last record: the file goes
  ck_assert(files_in(tmpdir).empty());
}
END_TEST

// A spool that cannot be written backs off and says so once, not per batch.
START_TEST(spooldir_write_failure_backs_off_and_reports_once) {
  Reports rep;
  const std::string dir = tmpdir + "/missing";
  SpoolDir sd(dir, "dest", 32 << 10, rep.reporter());  // files rotate at 4 KiB
  ck_assert(sd.writable(Clock::now()));
  ck_assert(!sd.append(views_of(make_records(3, "x"))));
  ck_assert(!sd.writable(Clock::now()));
  ck_assert(sd.writable(Clock::now() + Millis(1001)));
  ck_assert(rep.has("DE0010", Level::Error, "lines wait in memory meanwhile"));
  for (int i = 0; i < 5; ++i) ck_assert(!sd.append(views_of(make_records(3, "x"))));
  auto reports = [&] {
    size_t n = 0;
    for (auto& [level, text] : rep.lines) n += text.rfind("DE0010: ", 0) == 0;
    return n;
  };
  ck_assert_uint_eq(reports(), 1u);
  // It works again, then fails again (a disk that comes and goes): still one
  // report in 30 s; the failures meanwhile are counted in the next one.
  ck_assert_int_eq(mkdir(dir.c_str(), 0700), 0);
  ck_assert(sd.append(views_of(make_records(500, "x"))));  // past the rotation size
  for (const auto& f : files_in(dir)) ck_assert_int_eq(unlink((dir + "/" + f).c_str()), 0);
  ck_assert_int_eq(rmdir(dir.c_str()), 0);
  ck_assert(!sd.append(views_of(make_records(3, "y"))));  // a new file: cannot be made
  ck_assert_uint_eq(reports(), 1u);
}
END_TEST

static Peers two_peers(FakeSink*& first, FakeSink*& second) {
  auto a = std::make_unique<FakeSink>();
  auto b = std::make_unique<FakeSink>();
  first = a.get();
  second = b.get();
  Peers peers;
  peers.push_back(std::move(a));
  peers.push_back(std::move(b));
  return peers;
}

// A peer that fails hands its lines to the next one at once; the first is
// taken back once its backoff has passed and it answers again.
START_TEST(shipper_fails_over_at_once_and_goes_back) {
  FakeSink *first, *second;
  Peers peers = two_peers(first, second);
  ShipperOptions o = fast_options();
  o.retry_min = Millis(300);  // far above the time a failover may take
  o.retry_max = Millis(300);
  o.name = "pair";
  first->set_down(true);
  Reports rep;
  Shipper s(std::move(peers), o, rep.reporter());
  s.start();
  push_all(s, 50, "a");
  const auto t = Clock::now();
  ck_assert(eventually([&] { return second->delivered().size() >= 50; }));
  ck_assert(Clock::now() - t < Millis(300));  // not after the first's backoff
  ck_assert(rep.has("DE0026", Level::Warning, "pair: now sending to fake sink (failover from"));
  first->set_down(false);
  // The first's backoff passes and the next batch goes to it.
  std::this_thread::sleep_for(Millis(350));
  push_all(s, 20, "b");
  ck_assert(eventually([&] { return first->delivered().size() >= 20; }));
  ck_assert(rep.has("DE0027", Level::Notice, "pair: now sending to fake sink again"));
  s.stop();
  ck_assert_uint_eq(second->delivered().size(), 50u);
  ck_assert_uint_eq(first->delivered().size(), 20u);
  ck_assert_uint_eq(s.stats().sent, 70u);
}
END_TEST

// TRY_LATER that lasts past the policy moves the lines to the next peer;
// a shorter run is waited out at the same peer.
START_TEST(shipper_try_later_persisting_fails_over) {
  FakeSink *first, *second;
  Peers peers = two_peers(first, second);
  first->script({SendResult::TryLater, SendResult::TryLater});
  ShipperOptions o = fast_options();
  o.failover = FailoverPolicy{3, Millis(60000)};
  Reports rep;
  Shipper s(std::move(peers), o, rep.reporter());
  s.start();
  push_all(s, 10, "short");
  ck_assert(eventually([&] { return first->delivered().size() >= 10; }));
  ck_assert(second->calls().empty());  // two answers: a hiccup
  first->script({SendResult::TryLater, SendResult::TryLater, SendResult::TryLater,
                 SendResult::TryLater, SendResult::TryLater});
  push_all(s, 10, "long");
  ck_assert(eventually([&] { return second->delivered().size() >= 10; }));
  ck_assert(rep.has("DE0002", Level::Warning, "has answered so for too long: sending to"));
  s.stop();
  ck_assert_uint_eq(first->delivered().size() + second->delivered().size(), 20u);
}
END_TEST

// A line that breaks every call it is in, while the peer answers probes,
// is isolated by splitting and dropped, counted; every other line goes.
START_TEST(shipper_isolates_and_drops_a_refused_line) {
  auto sink = std::make_unique<FakeSink>();
  FakeSink* fake = sink.get();
  fake->set_probe(Probe::Answers);
  fake->refuse_lines_with("POISON");
  ShipperOptions o = fast_options();
  o.retry_min = Millis(1000);  // isolation does not wait for backoffs
  o.retry_max = Millis(1000);
  o.name = "refusing";
  Reports rep;
  Shipper s(std::move(sink), o, rep.reporter());
  s.start();
  for (int i = 0; i < 100; ++i)
    ck_assert(s.push("www", i == 37 ? "POISON\n" : "ok" + std::to_string(i) + "\n"));
  ck_assert(eventually([&] { return fake->delivered().size() >= 99; }, 5s));
  ck_assert(eventually([&] { return s.stats().rejected == 1; }));
  s.stop();
  auto got = fake->delivered();
  ck_assert_uint_eq(got.size(), 99u);
  ck_assert(std::find(got.begin(), got.end(), "POISON\n") == got.end());
  ck_assert(rep.has("DE0025", Level::Error, "refusing: dropped 1 lines that the peer refused"));
  ck_assert(rep.has("DE0025", Level::Error, "the last one 7 bytes long"));
  ShipperStats st = s.stats();
  ck_assert_uint_eq(st.sent, 99u);
  ck_assert_uint_eq(st.lost, 0u);
}
END_TEST

// Calls that break on one collector behind a load balancer while probes
// reach another are not a refused line: a call made on a connection that
// just answered a probe goes through, and nothing is dropped.
START_TEST(shipper_balancer_with_a_dead_collector_drops_nothing) {
  auto sink = std::make_unique<FakeSink>();
  FakeSink* fake = sink.get();
  fake->set_probe(Probe::Answers);
  fake->behind_balancer();
  Reports rep;
  Shipper s(std::move(sink), fast_options(), rep.reporter());
  s.start();
  push_all(s, 300, "lb");
  ck_assert(eventually([&] { return fake->delivered().size() >= 300; }));
  s.stop();
  ck_assert_uint_eq(s.stats().rejected, 0u);
  ck_assert_uint_eq(fake->delivered().size(), 300u);
}
END_TEST

// A peer that breaks calls and answers no probe is down, not refusing:
// nothing is dropped, and everything goes once it is back.
START_TEST(shipper_silent_peer_drops_nothing) {
  auto sink = std::make_unique<FakeSink>();
  FakeSink* fake = sink.get();
  fake->set_probe(Probe::Silent);
  fake->refuse_lines_with("x");
  Reports rep;
  Shipper s(std::move(sink), fast_options(), rep.reporter());
  s.start();
  push_all(s, 20, "x");
  ck_assert(eventually([&] { return fake->probes() >= 6; }));
  ck_assert_uint_eq(s.stats().rejected, 0u);
  fake->refuse_lines_with("");
  ck_assert(eventually([&] { return fake->delivered().size() >= 20; }));
  s.stop();
  ck_assert_uint_eq(s.stats().rejected, 0u);
}
END_TEST

// Batches from the queue stay under batch_bytes.
START_TEST(shipper_batches_capped_in_bytes) {
  auto sink = std::make_unique<FakeSink>();
  FakeSink* fake = sink.get();
  ShipperOptions o = fast_options();
  o.batch_bytes = 1000;  // lines of 103 bytes with their tag: 9 a batch
  Reports rep;
  Shipper s(std::move(sink), o, rep.reporter());
  s.start();
  for (int i = 0; i < 300; ++i) ck_assert(s.push("www", std::string(99, 'a') + "\n"));
  ck_assert(eventually([&] { return fake->delivered().size() >= 300; }));
  s.stop();
  ck_assert_uint_le(fake->max_batch(), 9u);
}
END_TEST

static Suite* delivery_suite() {
  Suite* s = suite_create("delivery");
  struct {
    const char* name;
    std::vector<const TTest*> tests;
  } groups[] = {
      {"spool_format",
       {crc32_known_vector, encode_layout, spool_round_trip, spool_torn_tail_short,
        spool_torn_tail_bad_crc, spool_header_garbage, spool_writer_holds_lock}},
      {"spool_dir",
       {spooldir_replay_commit, spooldir_rollback, spooldir_file_goes_with_its_last_commit,
        spool_files_without_a_sound_header, spooldir_adopts_files_of_a_configuration_gone,
        spooldir_oldest_first_and_names, spooldir_skips_file_being_written,
        spooldir_torn_file_replayed_then_removed, spooldir_limit_sheds_oldest_counted,
        spooldir_uncreatable_file_is_reported}},
      {"policy",
       {batch_policy_due, batch_policy_wait_for, backoff_doubles_with_jitter_and_caps,
        backoff_jitter_spreads, backoff_min_above_max}},
      {"queue",
       {queue_overflow_accounting, queue_pop_keeps_order, queue_parts_and_spare_records,
        queue_line_portions_and_their_end, queue_parts_of_every_size,
        queue_chunks_concurrent_producers, queue_memory_follows_what_is_queued,
        queue_peek_and_release, queue_wake_fd_on_full_batch, stop_signal_cuts_a_wait_short,
        stop_signal_finished, exit_log_formats_like_httpd, exit_log_filters_by_level}},
      {"shipper",
       {shipper_delivers_in_batches_in_order,
        shipper_names_its_thread,
        shipper_try_later_resends_same_batch,
        shipper_failed_resends_after_reconnect,
        resend_store_keeps_forgets_and_gives_back,
        shipper_non_ack_resends_recent,
        shipper_non_ack_resends_no_stale_lines,
        shipper_non_ack_forgets_lines_past_the_unacked_age,
        shipper_non_ack_resends_what_the_peer_did_not_acknowledge,
        shipper_spools_through_outage,
        shipper_stop_spools_next_replays,
        shipper_queue_full_reports_drops,
        shipper_reports_its_ledger,
        shipper_spool_limit_reports_drops,
        shipper_spooled_before_new_after_outage,
        shipper_stop_while_down_spools_without_sending,
        shipper_slow_peer_spills_instead_of_dropping,
        shipper_stop_bounded_with_hung_peer_counts_lost,
        shipper_stop_spools_first_with_hung_peer,
        shipper_stop_delivers_from_spool,
        child_senders_stop_together,
        child_senders_never_join_under_prefork,
        shipper_early_deadline_still_spools_late_lines,
        shipper_not_started_counts_every_line}},
      {"failover",
       {peer_rotation_prefers_first_and_fails_over, peer_rotation_try_later_holds_then_fails_over,
        replay_pacer_limits_and_refills, queue_peek_caps_bytes,
        spooldir_batch_bytes_and_partial_commit, spooldir_write_failure_backs_off_and_reports_once,
        shipper_fails_over_at_once_and_goes_back, shipper_try_later_persisting_fails_over,
        shipper_isolates_and_drops_a_refused_line, shipper_silent_peer_drops_nothing,
        shipper_balancer_with_a_dead_collector_drops_nothing, shipper_batches_capped_in_bytes}},
      {"config_values", {config_sizes, config_numbers, config_size_string}},
      {"status",
       {status_board_sums_across_processes, status_board_reclaims_dead_owner,
        status_board_reused_pid_is_not_a_child, status_board_worst_state_and_earliest_failure,
        status_key_word_encodes_separators, shipper_publishes_status,
        shipper_does_not_count_given_up_lines_as_sent}},
  };
  for (auto& g : groups) {
    TCase* tc = tcase_create(g.name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    for (const TTest* t : g.tests) tcase_add_test(tc, t);
    suite_add_tcase(s, tc);
  }
  return s;
}

int main() {
  SRunner* sr = srunner_create(delivery_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
