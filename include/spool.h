// Append-only spool files: where a Shipper puts records its peer cannot take.
//
// Each child writes its own file, `<name>.<microseconds>.<pid>.<seq>.spool`,
// under an exclusive flock(2) held for as long as the file is open for
// writing; the stamp sorts by creation time, so replay goes oldest first. A
// file is replayed by whichever child first takes the lock on a file nobody
// writes to any more: files of dead children and of earlier httpd runs
// included, and files of shippers the configuration no longer has (see
// SpoolFamily).
//
// A file starts with a header (little endian): the 8 bytes "MSPOOL2\n", a
// u64 offset of the first record not yet delivered, its CRC-32 (u32) and 4
// zero bytes. The replaying child rewrites the offset after each delivered
// batch, so a child that exits, crashes or is killed mid-file leaves at most
// one batch to be sent again. It is written to the file, not synced: it
// survives the process, not a power loss (a power loss replays the file
// from the last offset the kernel wrote back). A file is deleted as soon as
// its last record is delivered. Files without the header (an earlier
// version's) are replayed from their start, with progress kept in memory.
//
// Record layout (little endian): u32 payload length, u32 CRC-32 of the
// payload, payload = u16 tag length, tag bytes, body bytes. A record cut
// short by a crash (short read or bad CRC) ends the file: the reader stops
// there and counts it as torn.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "delivery.h"

namespace delivery {

uint32_t crc32(const void* data, size_t len);

// Serialises one record as it is stored in a spool file.
void encode_spool_record(const RecordView& rec, std::string& out);

// The header of a spool file, and where its records start.
constexpr size_t kSpoolHeaderBytes = 24;

// Files are rotated at an eighth of the size limit, at most this: shedding
// the oldest file frees room without dropping much, and a file of a shipper
// that is no longer configured is never large.
constexpr uint64_t kSpoolRotateBytes = 4u << 20;

class SpoolWriter {
 public:
  SpoolWriter() = default;
  ~SpoolWriter();
  SpoolWriter(const SpoolWriter&) = delete;
  SpoolWriter& operator=(const SpoolWriter&) = delete;
  // Creates the file (O_EXCL, O_CLOEXEC) and takes its lock.
  bool open(const std::string& path, std::string& error);
  bool append(const Batch& recs, std::string& error);
  void close();
  bool is_open() const { return fd_ >= 0; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string path_;
};

class SpoolReader {
 public:
  enum class Status { Ok, End, Torn };
  SpoolReader() = default;
  ~SpoolReader();
  SpoolReader(const SpoolReader&) = delete;
  SpoolReader& operator=(const SpoolReader&) = delete;
  // Opens and takes the lock without waiting; false when somebody holds it.
  // Reading starts at the offset the header records.
  bool open(const std::string& path, std::string& error);
  Status next(Record& out);
  uint64_t offset() const { return offset_; }
  void seek(uint64_t offset);
  // Records `offset` in the header as delivered up to (no-op without one).
  void record_progress(uint64_t offset);
  // Nothing more to read now (at the end of what was written).
  bool at_end();
  void close();
  bool is_open() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

 private:
  bool fill(size_t need);
  int fd_ = -1;
  bool has_header_ = false;
  uint64_t offset_ = 0;  // of the next record
  std::string buf_;      // bytes read from offset_ on
  size_t buf_pos_ = 0;   // buf_'s first byte not consumed (at offset_)
  std::string path_;
};

// What a spool file holds that was not delivered yet, read without taking
// its lock (for reporting what a full spool sheds, and what nobody adopts):
// records from the header's offset on, and the tag of the first of them.
struct SpoolContent {
  uint64_t records = 0;
  uint64_t bytes = 0;  // of those records
  std::string first_tag;
};
SpoolContent read_spool_content(const std::string& path);
uint64_t count_spool_records(const std::string& path);

// All spool files of one shipper in one directory: the write side (this
// child's file) and the replay side (one claimed file at a time).
class SpoolDir {
 public:
  SpoolDir(std::string dir, std::string name, uint64_t max_bytes, Reporter report,
           SpoolFamily family = {});
  ~SpoolDir();

  // Appends to this child's file, opening one when needed and shedding the
  // oldest files when the directory holds more than max_bytes. A failure
  // (disk full, directory gone) starts a backoff: see writable().
  bool append(const Batch& recs);
  // False for a while after append() failed (1 s, doubling up to a
  // minute): the Shipper keeps lines in its queue meanwhile instead of
  // failing a write per batch. Failures are reported when they start and
  // at most every half minute after, with the count in between.
  bool writable(Clock::time_point now) const { return now >= write_retry_at_; }
  // Closes this child's file so that it can be replayed.
  void seal();
  bool writing() const { return writer_.is_open(); }

  // Reads up to `max` records, and no more than `max_bytes` bytes of tags
  // and bodies (a longer first record comes alone), from the oldest
  // replayable file into `out`. False when there is nothing to replay.
  bool next_batch(std::vector<Record>& out, size_t max, size_t max_bytes = SIZE_MAX);
  // The first `n` records of the batch from next_batch() not committed yet
  // were delivered (or dropped and counted): never read them again. Their
  // end is recorded in the file's header.
  void commit(size_t n);
  void commit_all() { commit(batch_ends_.size()); }
  // The rest of it was not: the next next_batch() returns it again.
  void rollback();
  // Drops the claim on the current file without deleting it: at exit, and
  // after a failed batch, so that a full spool may shed the file meanwhile.
  void release();

  uint64_t dropped() const { return dropped_; }
  uint64_t torn() const { return torn_; }
  // Files of this shipper sorted oldest first.
  std::vector<std::string> list() const;
  // Files of every shipper, and of none configured, oldest first.
  std::vector<std::string> list_all() const;
  // Reports the files that no configured shipper adopts (once, see
  // SpoolFamily::report_once).
  void report_unadopted();
  // What those files hold now, in bytes (a directory scan).
  uint64_t bytes_on_disk() const;

 private:
  void enforce_limit();
  bool claim_next();
  bool ours(const std::string& file) const;
  bool orphan(const std::string& file) const;
  bool claim(const std::string& path);
  // A failed create or write: backs off, and reports unless one was
  // reported less than kErrorReportInterval ago.
  void write_failed(const std::string& message);

  std::string dir_, name_;
  uint64_t max_bytes_;
  Reporter report_;
  SpoolFamily family_;
  SpoolWriter writer_;
  SpoolReader reader_;
  uint64_t batch_start_ = 0;
  std::vector<uint64_t> batch_ends_;  // of each record of the batch not committed yet
  size_t batch_committed_ = 0;        // of batch_ends_
  uint64_t seq_ = 0;
  uint64_t dropped_ = 0;
  uint64_t torn_ = 0;
  uint64_t appended_since_check_ = 0;
  Backoff write_backoff_;
  Clock::time_point write_retry_at_{};
  Clock::time_point next_error_report_{};
  uint64_t unreported_failures_ = 0;
};

}  // namespace delivery
