#include "image_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <utility>

#include "path_walk.h"
#include "table_image.h"

namespace cidr {
namespace {

using delivery::Fd;

constexpr mode_t kDirMode = 0755;
constexpr mode_t kImageMode = 0644;
constexpr const char* kImageSuffix = ".cidr";
constexpr const char* kTempPrefix = ".tmp-";
// A temporary file older than this was left by a writer that died.
constexpr time_t kStaleTempSeconds = 3600;

std::string errno_text() { return std::strerror(errno); }

bool has_suffix(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// Names of the entries of a directory fd.
std::vector<std::string> entries_of(int dir_fd) {
  std::vector<std::string> names;
  delivery::for_each_entry(dir_fd, [&](const char* name) {
    if (name[0] != '.' || std::strncmp(name, kTempPrefix, std::strlen(kTempPrefix)) == 0)
      names.emplace_back(name);
    return true;
  });
  return names;
}

// Unique per writer and moment: several writers (the parent, a child
// reloading) may write at once, and O_EXCL refuses anything already there.
std::string temp_name(const std::string& final_name) {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::string(kTempPrefix) + std::to_string(::getpid()) + "-" +
         std::to_string(long(::gettid())) + "-" + std::to_string(ts.tv_sec) + "." +
         std::to_string(ts.tv_nsec) + "-" + final_name;
}

}  // namespace

bool write_image_file(const std::string& path, const PrefixTable& table, std::string& error) {
  size_t slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string temp = dir + "/" + temp_name(path.substr(slash == std::string::npos ? 0 : slash + 1));
  Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, kImageMode));
  if (fd.get() < 0) {
    error = "cannot create " + temp + ": " + errno_text();
    return false;
  }
  bool ok = ::fchmod(fd.get(), kImageMode) == 0 && write_image(fd.get(), table, error);
  if (ok && ::rename(temp.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + temp + " to " + path + ": " + errno_text();
    ok = false;
  }
  if (!ok) ::unlink(temp.c_str());
  return ok;
}

std::unique_ptr<PrefixTable> read_image_file(const std::string& path, std::string& error) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (fd.get() < 0) {
    error = "cannot open: " + errno_text();
    return nullptr;
  }
  // Whoever's file it is: read, never mapped shared.
  return map_image(fd.get(), ImageExpectation{}, error, ImageAccess::Copy);
}

ImageStore::ImageStore(int dir_fd, std::string path) : fd_(dir_fd), path_(std::move(path)) {}

ImageStore::~ImageStore() {
  if (fd_ >= 0) ::close(fd_);
}

std::unique_ptr<ImageStore> ImageStore::open_dir(const std::string& parent_dir,
                                                 const std::string& name, const DirOwner& owner,
                                                 std::string& error, Creation creation) {
  const bool may_change = creation == Creation::IfMissing;
  const std::string path = parent_dir + "/" + name;
  Fd parent(::open(parent_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (parent.get() < 0) {
    error = "cannot open " + parent_dir + ": " + errno_text();
    return nullptr;
  }
  if (may_change && ::mkdirat(parent.get(), name.c_str(), kDirMode) != 0 && errno != EEXIST) {
    error = "cannot create " + path + ": " + errno_text();
    return nullptr;
  }
  // O_NOFOLLOW: a symbolic link someone put there is refused, not followed.
  Fd dir(::openat(parent.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir.get() < 0) {
    error = "cannot open " + path + ": " + errno_text() + " (it must be a directory)";
    return nullptr;
  }
  struct stat st;
  if (::fstat(dir.get(), &st) != 0) {
    error = "cannot examine " + path + ": " + errno_text();
    return nullptr;
  }
  const uid_t self = ::geteuid();
  if (st.st_uid != self && st.st_uid != owner.uid) {
    error = path + " is owned by uid " + std::to_string(st.st_uid) +
            ", neither httpd's parent nor its children: remove it (httpd makes it again)";
    return nullptr;
  }
  if (!may_change && (st.st_mode & (S_IWGRP | S_IWOTH))) {
    error = path + " is writable by its group or by others";
    return nullptr;
  }
  if (may_change && st.st_uid == self && (st.st_mode & 07777) != kDirMode &&
      ::fchmod(dir.get(), kDirMode) != 0) {
    error = "cannot set the mode of " + path + ": " + errno_text();
    return nullptr;
  }
  if (st.st_uid != self && (st.st_mode & (S_IWGRP | S_IWOTH))) {
    error = path + " is writable by its group or by others: remove it (httpd makes it again)";
    return nullptr;
  }
  if (may_change && owner.writers == DirOwner::Writers::Children && self == 0 && owner.uid != 0 &&
      st.st_uid != owner.uid && ::fchown(dir.get(), owner.uid, owner.gid) != 0) {
    error = "cannot hand " + path + " to uid " + std::to_string(owner.uid) + ": " + errno_text();
    return nullptr;
  }
  return std::make_unique<ImageStore>(dir.release(), path);
}

std::unique_ptr<ImageStore> ImageStore::open_existing(const std::string& dir, std::string& error) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) {
    error = "cannot open " + dir + ": " + errno_text();
    return nullptr;
  }
  return std::make_unique<ImageStore>(fd.release(), dir);
}

std::string ImageStore::image_name(uint64_t identity) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016" PRIx64 "%s", identity, kImageSuffix);
  return buf;
}

bool ImageStore::write(const PrefixTable& table, std::string& name, std::string& error) const {
  return write_to(table, name, error, nullptr);
}

bool ImageStore::write(const PrefixTable& table, std::string& name, std::string& error,
                       ImageDigest& digest) const {
  return write_to(table, name, error, &digest);
}

bool ImageStore::write_to(const PrefixTable& table, std::string& name, std::string& error,
                          ImageDigest* digest) const {
  name = image_name(table.info().identity);
  const std::string temp = temp_name(name);
  Fd fd(::openat(fd_, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 kImageMode));
  if (fd.get() < 0) {
    error = "cannot create " + path_ + "/" + temp + ": " + errno_text();
    return false;
  }
  bool ok = ::fchmod(fd.get(), kImageMode) == 0;
  if (!ok) error = "cannot set the mode of " + path_ + "/" + temp + ": " + errno_text();
  ok = ok && write_image(fd.get(), table, error, digest);
  if (ok && ::renameat(fd_, temp.c_str(), fd_, name.c_str()) != 0) {
    error = "cannot rename " + temp + " to " + name + " in " + path_ + ": " + errno_text();
    ok = false;
  }
  if (!ok) ::unlinkat(fd_, temp.c_str(), 0);
  return ok;
}

std::unique_ptr<PrefixTable> ImageStore::open_file(const std::string& name,
                                                   const TrustedWriters& writers,
                                                   ImageExpectation expect,
                                                   std::string& why) const {
  why.clear();
  // Non-blocking: a FIFO put there must not hang the reader; it is refused
  // below as not a regular file.
  Fd fd(::openat(fd_, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno != ENOENT) why = "cannot open: " + errno_text();
    return nullptr;
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    why = "cannot examine: " + errno_text();
    return nullptr;
  }
  if (!S_ISREG(st.st_mode)) {
    why = "not a regular file";
    return nullptr;
  }
  if (!writers.trusts(st.st_uid)) {
    why = "owned by uid " + std::to_string(st.st_uid) + ", who is not trusted to write images";
    return nullptr;
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    why = "writable by its group or by others";
    return nullptr;
  }
  const bool roots = st.st_uid == 0;
  if (!roots && !expect.digest) {
    why = "written by a child (uid " + std::to_string(st.st_uid) +
          "), and no digest of it was published: anything running as that user may have "
          "written it";
    return nullptr;
  }
  if (roots) expect.digest = nullptr;  // root's own: its checksum is enough
  return map_image(fd.get(), expect, why, roots ? ImageAccess::Shared : ImageAccess::Copy);
}

std::unique_ptr<PrefixTable> ImageStore::open(uint64_t identity, const TrustedWriters& writers,
                                              std::string& why, const ImageDigest* digest) const {
  ImageExpectation expect;
  expect.check_identity = true;
  expect.identity = identity;
  expect.digest = digest;
  return open_file(image_name(identity), writers, expect, why);
}

bool ImageStore::owner_of(uint64_t identity, uid_t& uid) const {
  struct stat st;
  if (::fstatat(fd_, image_name(identity).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
  uid = st.st_uid;
  return true;
}

std::unique_ptr<PrefixTable> ImageStore::newest_for(uint64_t config_key,
                                                    const TrustedWriters& writers) const {
  std::string newest;
  int64_t newest_at = 0;
  for (const std::string& name : entries_of(fd_)) {
    if (!has_suffix(name, kImageSuffix)) continue;
    Fd fd(::openat(fd_, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    struct stat st;
    if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
        !writers.trusts(st.st_uid)) {
      continue;
    }
    TableInfo info;
    std::string ignored;
    if (!read_image_info(fd.get(), info, ignored) || info.config_key != config_key) continue;
    if (newest.empty() || info.built_at > newest_at) {
      newest = name;
      newest_at = info.built_at;
    }
  }
  if (newest.empty()) return nullptr;
  std::string why;
  return open_file(newest, writers, ImageExpectation{}, why);
}

void ImageStore::collect(const std::vector<std::string>& keep) const {
  const time_t now = std::time(nullptr);
  for (const std::string& name : entries_of(fd_)) {
    bool temp = name.compare(0, std::strlen(kTempPrefix), kTempPrefix) == 0;
    if (!temp && !has_suffix(name, kImageSuffix)) continue;
    bool kept = false;
    for (const std::string& k : keep) kept = kept || k == name;
    if (kept) continue;
    struct stat st;
    if (::fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (temp && now - st.st_mtime < kStaleTempSeconds) continue;
    ::unlinkat(fd_, name.c_str(), 0);
  }
}

}  // namespace cidr
