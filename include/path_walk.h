// Pieces for walking a path the way the root parent must: one component at
// a time, through directory fds, trusting a directory only when nobody but
// root (or the caller) can change its entries, and listing it by its fd.
// Shared by spool_setup.cpp (making a spool directory), trusted_file.cpp
// (reading a certificate) and mod_cidr_lookup's image store.
#pragma once

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <string>
#include <utility>

namespace delivery {

// An owned file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Components of a path, without empty ones and ".".
inline std::deque<std::string> split_path(const std::string& path) {
  std::deque<std::string> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(pos, end - pos);
    if (!part.empty() && part != ".") parts.push_back(std::move(part));
    pos = end + 1;
  }
  return parts;
}

// Whether only root (or `self`) can change the entries of a directory, or
// the contents of a file: then what is in it was put there by one of us.
inline bool only_trusted_can_write(const struct stat& st, uid_t self) {
  if (st.st_uid != 0 && st.st_uid != self) return false;
  if (st.st_mode & S_IWOTH) return false;
  if ((st.st_mode & S_IWGRP) && st.st_gid != 0) return false;
  return true;
}

// Calls visit(name) for each entry of a directory fd but "." and "..", from
// the first, until visit returns false. The fd itself is left as it was (the
// walk reads a duplicate). False when the directory cannot be read.
template <typename Visit>
bool for_each_entry(int dir_fd, Visit&& visit) {
  int copy = ::dup(dir_fd);
  if (copy < 0) return false;
  DIR* d = ::fdopendir(copy);
  if (d == nullptr) {
    ::close(copy);
    return false;
  }
  ::rewinddir(d);  // a duplicate shares the offset of an earlier walk
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    if (!visit(static_cast<const char*>(e->d_name))) break;
  }
  ::closedir(d);
  return true;
}

}  // namespace delivery
