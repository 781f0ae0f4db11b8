// Pieces for walking a path the way the root parent must: one component at
// a time, through directory fds, trusting a directory only when nobody but
// root (or the caller) can change its entries. Shared by spool_setup.cpp
// (making a spool directory) and trusted_file.cpp (reading a certificate).
#pragma once

#include <sys/stat.h>
#include <unistd.h>

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

}  // namespace delivery
