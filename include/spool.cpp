#include "spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace delivery {

namespace {

const std::array<uint32_t, 256>& crc_table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

uint64_t get_u64(const char* p) { return uint64_t{get_u32(p)} | (uint64_t{get_u32(p + 4)} << 32); }

constexpr char kSpoolMagic[8] = {'M', 'S', 'P', 'O', 'O', 'L', '2', '\n'};

// The header's progress field (bytes 8..23): the offset, its CRC, 4 zeros.
std::string progress_field(uint64_t offset) {
  std::string f;
  put_u32(f, static_cast<uint32_t>(offset));
  put_u32(f, static_cast<uint32_t>(offset >> 32));
  put_u32(f, crc32(f.data(), 8));
  put_u32(f, 0);
  return f;
}

// Where the records still to deliver start: the header's offset, the first
// record when the offset is damaged (everything is sent again rather than
// lost), 0 in a file without a header.
uint64_t start_offset(const char* head, size_t got, bool& has_header) {
  has_header = got >= kSpoolHeaderBytes && std::memcmp(head, kSpoolMagic, 8) == 0;
  if (!has_header) return 0;
  uint64_t off = get_u64(head + 8);
  if (crc32(head + 8, 8) != get_u32(head + 16) || off < kSpoolHeaderBytes) return kSpoolHeaderBytes;
  return off;
}

// The name's creation stamp (`<name>.<stamp>.<pid>.<seq>.spool`): files of
// different shippers sort by it.
std::string_view stamp_of(std::string_view file) {
  size_t slash = file.rfind('/');
  std::string_view base = slash == std::string_view::npos ? file : file.substr(slash + 1);
  size_t dot = base.find('.');
  return dot == std::string_view::npos ? std::string_view() : base.substr(dot + 1, 16);
}

std::string_view shipper_of(std::string_view file) {
  size_t slash = file.rfind('/');
  std::string_view base = slash == std::string_view::npos ? file : file.substr(slash + 1);
  return base.substr(0, base.find('.'));
}

bool contains(const std::vector<std::string>& v, std::string_view x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

enum class SpoolScan { FirstRecord, Everything };

SpoolContent scan_spool(const std::string& path, SpoolScan scan) {
  SpoolContent c;
  // Never blocks on, or follows, something that is not a plain file.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return c;
  struct stat st;
  char head[kSpoolHeaderBytes];
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return c;
  }
  ssize_t got = ::pread(fd, head, sizeof head, 0);
  bool has_header = false;
  uint64_t off = start_offset(head, got > 0 ? static_cast<size_t>(got) : 0, has_header);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  char rec[8 + 2 + 0xffff];
  while (off + 8 <= size) {
    if (::pread(fd, rec, 8, static_cast<off_t>(off)) != 8) break;
    uint32_t len = get_u32(rec);
    if (len < 2 || off + 8 + len > size) break;
    if (c.records == 0) {
      size_t want = std::min<size_t>(len, 2 + 0xffff);
      if (::pread(fd, rec + 8, want, static_cast<off_t>(off + 8)) != static_cast<ssize_t>(want))
        break;
      size_t tag_len =
          static_cast<unsigned char>(rec[8]) | (static_cast<unsigned char>(rec[9]) << 8);
      if (tag_len + 2 > want) break;
      c.first_tag.assign(rec + 10, tag_len);
    }
    ++c.records;
    c.bytes += 8 + uint64_t{len};
    off += 8 + uint64_t{len};
    if (scan == SpoolScan::FirstRecord) break;
  }
  ::close(fd);
  return c;
}

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// A record larger than this cannot come from a valid writer: treat it as a
// torn or corrupt tail rather than trying to allocate it.
constexpr uint32_t kMaxPayload = 64u << 20;

}  // namespace

uint32_t crc32(const void* data, size_t len) {
  const auto& t = crc_table();
  uint32_t c = 0xFFFFFFFFu;
  auto p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < len; ++i) c = t[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void encode_spool_record(const RecordView& rec, std::string& out) {
  std::string payload;
  size_t tag_len = std::min<size_t>(rec.tag.size(), 0xffff);
  payload.reserve(2 + tag_len + rec.body.size());
  payload.push_back(static_cast<char>(tag_len & 0xff));
  payload.push_back(static_cast<char>(tag_len >> 8));
  payload.append(rec.tag.substr(0, tag_len));
  payload.append(rec.body);
  put_u32(out, static_cast<uint32_t>(payload.size()));
  put_u32(out, crc32(payload.data(), payload.size()));
  out.append(payload);
}

// ---- SpoolWriter ----

SpoolWriter::~SpoolWriter() { close(); }

bool SpoolWriter::open(const std::string& path, std::string& error) {
  close();
  // Created and locked under a name replay does not look at, then renamed:
  // a replaying child must never claim (and delete) a file before its
  // writer holds the lock.
  const std::string tmp = path + ".new";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = errno_text("cannot create spool file", tmp);
    return false;
  }
  // The header before the name: a replaying child never sees a file
  // without it.
  std::string header(kSpoolMagic, sizeof kSpoolMagic);
  header += progress_field(kSpoolHeaderBytes);
  if (::write(fd, header.data(), header.size()) != static_cast<ssize_t>(header.size())) {
    error = errno_text("cannot write spool file", tmp);
    ::close(fd);
    unlink(tmp.c_str());
    return false;
  }
  // link(), not rename(): it refuses to replace an existing spool file.
  if (flock(fd, LOCK_EX | LOCK_NB) != 0 || link(tmp.c_str(), path.c_str()) != 0) {
    error = errno_text("cannot lock and name spool file", path);
    ::close(fd);
    unlink(tmp.c_str());
    return false;
  }
  unlink(tmp.c_str());
  fd_ = fd;
  size_ = kSpoolHeaderBytes;
  path_ = path;
  return true;
}

bool SpoolWriter::append(const Batch& recs, std::string& error) {
  if (fd_ < 0) {
    error = "spool file not open";
    return false;
  }
  std::string buf;
  for (const auto& r : recs) encode_spool_record(r, buf);
  size_t off = 0;
  while (off < buf.size()) {
    ssize_t n = ::write(fd_, buf.data() + off, buf.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = errno_text("cannot write spool file", path_);
      // Cut back to the last whole record so the file stays readable.
      if (ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
        // The reader stops at the torn tail anyway.
      }
      return false;
    }
    off += static_cast<size_t>(n);
  }
  size_ += buf.size();
  return true;
}

void SpoolWriter::close() {
  if (fd_ >= 0) {
    ::close(fd_);  // also releases the lock
    fd_ = -1;
  }
}

// ---- SpoolReader ----

SpoolReader::~SpoolReader() { close(); }

bool SpoolReader::open(const std::string& path, std::string& error) {
  close();
  // Read and write: the header's progress is rewritten as batches go.
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    error = errno_text("cannot open spool file", path);
    return false;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    error = errno_text("spool file in use", path);
    ::close(fd);
    return false;
  }
  // The previous holder may have replayed and unlinked the file between our
  // open() and flock(): replaying that copy again would duplicate it all.
  struct stat by_fd, by_name;
  if (fstat(fd, &by_fd) != 0 || stat(path.c_str(), &by_name) != 0 ||
      by_fd.st_ino != by_name.st_ino || by_fd.st_dev != by_name.st_dev || !S_ISREG(by_fd.st_mode)) {
    error = "spool file " + path + " was removed meanwhile";
    ::close(fd);
    return false;
  }
  char head[kSpoolHeaderBytes];
  ssize_t got = ::pread(fd, head, sizeof head, 0);
  fd_ = fd;
  offset_ = start_offset(head, got > 0 ? static_cast<size_t>(got) : 0, has_header_);
  buf_.clear();
  buf_pos_ = 0;
  path_ = path;
  return true;
}

bool SpoolReader::fill(size_t need) {
  if (buf_pos_ > 0 && buf_pos_ >= buf_.size() / 2) {
    buf_.erase(0, buf_pos_);  // keeps what is consumed from growing
    buf_pos_ = 0;
  }
  while (buf_.size() - buf_pos_ < need) {
    char chunk[65536];
    ssize_t n =
        ::pread(fd_, chunk, sizeof chunk, static_cast<off_t>(offset_ + (buf_.size() - buf_pos_)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(n));
  }
  return true;
}

SpoolReader::Status SpoolReader::next(Record& out) {
  if (fd_ < 0) return Status::End;
  if (!fill(8)) return buf_pos_ == buf_.size() ? Status::End : Status::Torn;
  uint32_t len = get_u32(buf_.data() + buf_pos_);
  uint32_t crc = get_u32(buf_.data() + buf_pos_ + 4);
  if (len < 2 || len > kMaxPayload) return Status::Torn;
  if (!fill(8 + size_t{len})) return Status::Torn;
  const char* p = buf_.data() + buf_pos_ + 8;
  if (crc32(p, len) != crc) return Status::Torn;
  size_t tag_len = static_cast<unsigned char>(p[0]) | (static_cast<unsigned char>(p[1]) << 8);
  if (tag_len + 2 > len) return Status::Torn;
  out.tag.assign(p + 2, tag_len);
  out.body.assign(p + 2 + tag_len, len - 2 - tag_len);
  buf_pos_ += 8 + size_t{len};
  offset_ += 8 + uint64_t{len};
  return Status::Ok;
}

void SpoolReader::seek(uint64_t offset) {
  offset_ = offset;
  buf_.clear();
  buf_pos_ = 0;
}

void SpoolReader::record_progress(uint64_t offset) {
  if (fd_ < 0 || !has_header_) return;
  const std::string f = progress_field(offset);
  // A failed write leaves the older offset: that batch may go twice.
  if (::pwrite(fd_, f.data(), f.size(), 8) != static_cast<ssize_t>(f.size())) {
  }
}

bool SpoolReader::at_end() { return !fill(1) && buf_pos_ == buf_.size(); }

void SpoolReader::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  buf_.clear();
  buf_pos_ = 0;
  has_header_ = false;
}

SpoolContent read_spool_content(const std::string& path) {
  return scan_spool(path, SpoolScan::Everything);
}

uint64_t count_spool_records(const std::string& path) { return read_spool_content(path).records; }

// ---- SpoolDir ----

namespace {
// After a failed spool write (disk full, directory gone), no write is tried
// for this long, doubling to the maximum while they keep failing.
constexpr Millis kWriteRetryMin{1000};
constexpr Millis kWriteRetryMax{60000};
// A failing spool is reported at most this often.
constexpr Millis kErrorReportInterval{30000};
// Appended records between two looks at the directory's total size.
constexpr uint64_t kRecordsBetweenLimitChecks = 1000;
}  // namespace

SpoolDir::SpoolDir(std::string dir, std::string name, uint64_t max_bytes, Reporter report,
                   SpoolFamily family)
    : dir_(std::move(dir)),
      name_(std::move(name)),
      max_bytes_(max_bytes),
      report_(std::move(report)),
      family_(std::move(family)),
      write_backoff_(kWriteRetryMin, kWriteRetryMax) {}

void SpoolDir::write_failed(const std::string& message) {
  const auto now = Clock::now();
  write_retry_at_ = write_backoff_.failed(now);
  if (now < next_error_report_) {
    ++unreported_failures_;
    return;
  }
  std::string text = message + "; the next spool write in up to " +
                     std::to_string(write_backoff_.current_ceiling().count()) +
                     " ms, lines wait in memory meanwhile";
  if (unreported_failures_ > 0)
    text += " (" + std::to_string(unreported_failures_) + " more failures since the last report)";
  report_(Level::Error, text);
  unreported_failures_ = 0;
  next_error_report_ = now + kErrorReportInterval;
}

SpoolDir::~SpoolDir() {
  writer_.close();
  reader_.close();
}

std::vector<std::string> SpoolDir::list() const {
  std::vector<std::string> out;
  DIR* d = opendir(dir_.c_str());
  if (!d) return out;
  const std::string prefix = name_ + ".";
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > prefix.size() + 6 && n.compare(0, prefix.size(), prefix) == 0 &&
        n.compare(n.size() - 6, 6, ".spool") == 0)
      out.push_back(dir_ + "/" + n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> SpoolDir::list_all() const {
  std::vector<std::string> out;
  DIR* d = opendir(dir_.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 6 && n[0] != '.' && n.compare(n.size() - 6, 6, ".spool") == 0)
      out.push_back(dir_ + "/" + n);
  }
  closedir(d);
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    std::string_view sa = stamp_of(a), sb = stamp_of(b);
    return sa != sb ? sa < sb : a < b;
  });
  return out;
}

bool SpoolDir::ours(const std::string& file) const { return shipper_of(file) == name_; }

// Left by a shipper the configuration no longer has. Without a family
// (a shipper alone with its directory), every other file is somebody
// else's business.
bool SpoolDir::orphan(const std::string& file) const {
  return !family_.names.empty() && !contains(family_.names, shipper_of(file));
}

void SpoolDir::report_unadopted() {
  if (!family_.report_once) return;
  uint32_t unclaimed = 0;
  if (!family_.report_once->compare_exchange_strong(unclaimed, 1)) return;
  struct Kept {
    uint64_t files = 0, records = 0, bytes = 0;
    std::string example;
  };
  std::vector<std::pair<std::string, Kept>> kept;  // by tag, in order of age
  for (const auto& path : list_all()) {
    if (!orphan(path)) continue;
    SpoolContent c = read_spool_content(path);
    if (c.records == 0 || contains(family_.tags, c.first_tag)) continue;
    auto it = std::find_if(kept.begin(), kept.end(),
                           [&](const auto& k) { return k.first == c.first_tag; });
    if (it == kept.end()) it = kept.insert(kept.end(), {c.first_tag, Kept{0, 0, 0, path}});
    ++it->second.files;
    it->second.records += c.records;
    it->second.bytes += c.bytes;
  }
  for (const auto& [tag, k] : kept)
    report_(Level::Warning,
            "DE0024: " + std::to_string(k.records) + " spooled lines (" + std::to_string(k.bytes) +
                " bytes, " + std::to_string(k.files) + " files, e.g. " + k.example +
                ") of category '" + tag + "' were left by a configuration no longer in force " +
                "and no log configured now takes that category: kept, and counted against the " +
                "spool's limit");
}
bool SpoolDir::append(const Batch& recs) {
  if (recs.empty()) return true;
  std::string error;
  const uint64_t rotate_at =
      std::clamp<uint64_t>(max_bytes_ / 8, kSpoolHeaderBytes + 4096, kSpoolRotateBytes);
  if (writer_.is_open() && writer_.size() >= rotate_at) writer_.close();
  if (!writer_.is_open()) {
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    char stamp[64];
    snprintf(stamp, sizeof stamp, ".%016llu.%d.%llu.spool",
             static_cast<unsigned long long>(tv.tv_sec) * 1000000ull + tv.tv_usec,
             static_cast<int>(getpid()), static_cast<unsigned long long>(seq_++));
    if (!writer_.open(dir_ + "/" + name_ + stamp, error)) {
      write_failed("DE0010: " + error);
      return false;
    }
    enforce_limit();
  }
  if (!writer_.append(recs, error)) {
    write_failed("DE0011: " + error);
    writer_.close();
    return false;
  }
  // The report interval is not reset: a disk that keeps filling up and
  // freeing would otherwise be reported at every turn.
  write_backoff_.succeeded();
  appended_since_check_ += recs.size();
  if (appended_since_check_ >= kRecordsBetweenLimitChecks) {
    appended_since_check_ = 0;
    enforce_limit();
  }
  return true;
}

uint64_t SpoolDir::bytes_on_disk() const {
  uint64_t total = 0;
  for (const auto& f : list()) {
    struct stat st;
    if (stat(f.c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_size);
  }
  return total;
}

// The limit holds for the directory: every shipper's files count, and
// those of shippers no longer configured.
void SpoolDir::enforce_limit() {
  std::vector<std::string> files = list_all();
  std::vector<std::pair<std::string, uint64_t>> sized;
  uint64_t total = 0;
  for (const auto& f : files) {
    struct stat st;
    if (stat(f.c_str(), &st) != 0) continue;
    sized.emplace_back(f, static_cast<uint64_t>(st.st_size));
    total += static_cast<uint64_t>(st.st_size);
  }
  for (const auto& [path, size] : sized) {
    if (total <= max_bytes_) break;
    if (path == writer_.path() || path == reader_.path()) continue;
    // Only files nobody writes to may go: take the lock to be sure.
    SpoolReader probe;
    std::string error;
    if (!probe.open(path, error)) continue;
    uint64_t n = read_spool_content(path).records;
    if (unlink(path.c_str()) == 0) {
      dropped_ += n;
      total -= size;
      report_(Level::Warning, "DE0012: spool over its limit of " + std::to_string(max_bytes_) +
                                  " bytes: dropped " + std::to_string(n) + " oldest lines with " +
                                  path);
    }
  }
}

void SpoolDir::seal() { writer_.close(); }

bool SpoolDir::claim(const std::string& path) {
  std::string error;
  if (!reader_.open(path, error)) return false;
  batch_start_ = reader_.offset();
  return true;
}

// Oldest first, this shipper's files and the orphans it adopts alike.
bool SpoolDir::claim_next() {
  for (const auto& path : list_all()) {
    if (ours(path)) {
      if (path == writer_.path() && writer_.is_open()) continue;
      if (claim(path)) return true;
      continue;
    }
    if (!orphan(path)) continue;
    // An empty orphan is anybody's to remove.
    SpoolContent first = scan_spool(path, SpoolScan::FirstRecord);
    if (first.records > 0 && !contains(family_.own_tags, first.first_tag)) continue;
    if (!claim(path)) continue;
    if (first.records > 0) {
      SpoolContent c = read_spool_content(path);
      report_(Level::Notice, "DE0023: replaying " + std::to_string(c.records) +
                                 " spooled lines of category '" + first.first_tag + "' from " +
                                 path + ", left by a configuration no longer in force");
    }
    return true;
  }
  return false;
}

bool SpoolDir::next_batch(std::vector<Record>& out, size_t max, size_t max_bytes) {
  for (;;) {
    if (!reader_.is_open() && !claim_next()) return false;
    batch_start_ = reader_.offset();
    batch_ends_.clear();
    batch_committed_ = 0;
    size_t got = 0, bytes = 0;
    SpoolReader::Status st = SpoolReader::Status::Ok;
    Record r;
    while (got < max) {
      const uint64_t before = reader_.offset();
      st = reader_.next(r);
      if (st != SpoolReader::Status::Ok) break;
      if (got > 0 && bytes + r.tag.size() + r.body.size() > max_bytes) {
        reader_.seek(before);  // the next batch starts with it
        break;
      }
      bytes += r.tag.size() + r.body.size();
      batch_ends_.push_back(reader_.offset());
      out.push_back(std::move(r));
      r = Record();
      ++got;
    }
    if (got > 0) return true;
    // Nothing left in this file: it was all delivered before.
    if (st == SpoolReader::Status::Torn) {
      ++torn_;
      report_(Level::Warning, "DE0013: spool file " + reader_.path() +
                                  " ends in a torn record (crash while writing); the rest of it "
                                  "was replayed");
    }
    unlink(reader_.path().c_str());
    reader_.close();
  }
}

void SpoolDir::commit(size_t n) {
  if (!reader_.is_open() || n == 0) return;
  batch_committed_ = std::min(batch_ends_.size(), batch_committed_ + n);
  batch_start_ = batch_ends_[batch_committed_ - 1];
  reader_.record_progress(batch_start_);
  // The last record went: the file goes now, not at the next scan.
  if (batch_committed_ == batch_ends_.size() && reader_.offset() == batch_start_ &&
      reader_.at_end()) {
    unlink(reader_.path().c_str());
    reader_.close();
  }
}

void SpoolDir::rollback() {
  if (reader_.is_open()) reader_.seek(batch_start_);
  batch_ends_.clear();
  batch_committed_ = 0;
}

void SpoolDir::release() {
  reader_.close();
  batch_ends_.clear();
  batch_committed_ = 0;
}

}  // namespace delivery
