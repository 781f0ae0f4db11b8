// Append-only spool files: where a Shipper puts records its peer cannot take.
//
// Each child writes its own file, `<name>.<microseconds>.<pid>.spool`, under
// an exclusive flock(2) held for as long as the file is open for writing; the
// name sorts by creation time, so replay goes oldest first. A file is
// replayed by whichever child first takes the lock on a file nobody writes to
// any more: files of dead children and of earlier httpd runs included.
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
  bool open(const std::string& path, std::string& error);
  Status next(Record& out);
  uint64_t offset() const { return offset_; }
  void seek(uint64_t offset);
  void close();
  bool is_open() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

 private:
  bool fill(size_t need);
  int fd_ = -1;
  uint64_t offset_ = 0;  // of the next record
  std::string buf_;      // bytes read from offset_ on
  std::string path_;
};

// Counts the records of a spool file without taking its lock (for reporting
// what is dropped when a full spool sheds its oldest file).
uint64_t count_spool_records(const std::string& path);

// All spool files of one shipper in one directory: the write side (this
// child's file) and the replay side (one claimed file at a time).
class SpoolDir {
 public:
  SpoolDir(std::string dir, std::string name, uint64_t max_bytes, Reporter report);
  ~SpoolDir();

  // Appends to this child's file, opening one when needed and shedding the
  // oldest files when the directory holds more than max_bytes.
  bool append(const Batch& recs);
  // Closes this child's file so that it can be replayed.
  void seal();
  bool writing() const { return writer_.is_open(); }

  // Reads up to `max` records from the oldest replayable file into `out`.
  // False when there is nothing to replay.
  bool next_batch(std::vector<Record>& out, size_t max);
  // The batch from next_batch() was delivered: never read it again.
  void commit();
  // It was not: the next next_batch() returns it again.
  void rollback();
  // Drops the claim on the current file (at exit) without deleting it.
  void release();

  uint64_t dropped() const { return dropped_; }
  uint64_t torn() const { return torn_; }
  // Files of this shipper sorted oldest first.
  std::vector<std::string> list() const;
  // What those files hold now, in bytes (a directory scan).
  uint64_t bytes_on_disk() const;

 private:
  void enforce_limit();
  bool claim_next();

  std::string dir_, name_;
  uint64_t max_bytes_;
  Reporter report_;
  SpoolWriter writer_;
  SpoolReader reader_;
  uint64_t batch_start_ = 0;
  uint64_t seq_ = 0;
  uint64_t dropped_ = 0;
  uint64_t torn_ = 0;
  uint64_t appended_since_check_ = 0;
};

}  // namespace delivery
