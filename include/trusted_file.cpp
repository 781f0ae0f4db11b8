#include "trusted_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <string>

#include "path_walk.h"

namespace delivery {
namespace {

// As the kernel's MAXSYMLINKS.
constexpr int kMaxLinks = 40;
// Certificates and keys are small; a larger file is a mistake.
constexpr off_t kMaxFileBytes = 16 << 20;

// Whether the entry `st` of directory `dir` can be trusted: the directory
// lets nobody else change its entries, or it is sticky (nobody else can
// replace an entry they do not own) and the entry is ours.
bool entry_trusted(const struct stat& dir, const struct stat& st, uid_t self) {
  if (only_trusted_can_write(dir, self)) return true;
  return (dir.st_mode & S_ISVTX) && (st.st_uid == 0 || st.st_uid == self);
}

std::string why(const std::string& what, const std::string& path) {
  return path + ": " + what + ": " + std::strerror(errno);
}

}  // namespace

bool read_trusted_file(const std::string& path, std::string& out, std::string& error) {
  if (path.empty() || path[0] != '/') {
    error = path + ": not an absolute path";
    return false;
  }
  const uid_t self = geteuid();
  Fd dir(::open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!dir.valid()) {
    error = why("cannot open", "/");
    return false;
  }
  std::string at = "/";  // the directory `dir` is, for messages
  std::deque<std::string> rest = split_path(path);
  int links = 0;
  while (!rest.empty()) {
    const std::string name = rest.front();
    rest.pop_front();
    const std::string here = at == "/" ? "/" + name : at + "/" + name;
    if (name == "..") {
      error = here + ": '..' in the path";
      return false;
    }
    struct stat dst, st;
    if (fstat(dir.get(), &dst) != 0 ||
        fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      error = why("cannot read it", here);
      return false;
    }
    if (!entry_trusted(dst, st, self)) {
      error = here + ": in " + at + ", a directory others can write, and not owned by root";
      return false;
    }
    if (S_ISLNK(st.st_mode)) {
      if (++links > kMaxLinks) {
        error = path + ": too many symbolic links";
        return false;
      }
      char target[4096];
      const ssize_t n = readlinkat(dir.get(), name.c_str(), target, sizeof target - 1);
      if (n <= 0) {
        error = why("cannot read the link", here);
        return false;
      }
      target[n] = '\0';
      std::deque<std::string> more = split_path(target);
      rest.insert(rest.begin(), more.begin(), more.end());
      if (target[0] == '/') {
        dir = Fd(::open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
        at = "/";
      }
      continue;
    }
    if (!rest.empty()) {
      if (!S_ISDIR(st.st_mode)) {
        error = here + ": not a directory";
        return false;
      }
      Fd next(::openat(dir.get(), name.c_str(), O_DIRECTORY | O_NOFOLLOW | O_RDONLY | O_CLOEXEC));
      if (!next.valid()) {
        error = why("cannot open", here);
        return false;
      }
      dir = std::move(next);
      at = here;
      continue;
    }
    // The file.
    Fd file(::openat(dir.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    struct stat fst;
    if (!file.valid() || fstat(file.get(), &fst) != 0) {
      error = why("cannot open", here);
      return false;
    }
    if (!S_ISREG(fst.st_mode)) {
      error = here + ": not a regular file";
      return false;
    }
    if (!only_trusted_can_write(fst, self)) {
      error = here + ": others can write it (or it is not owned by root); run 'chown root " + here +
              "; chmod go-w " + here + "'";
      return false;
    }
    if (fst.st_size > kMaxFileBytes) {
      error = here + ": larger than a certificate or key file can be";
      return false;
    }
    out.assign(static_cast<size_t>(fst.st_size), '\0');
    size_t got = 0;
    while (got < out.size()) {
      const ssize_t n = ::read(file.get(), &out[got], out.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error = why("cannot read it", here);
        return false;
      }
      got += static_cast<size_t>(n);
    }
    return true;
  }
  error = path + ": names a directory, not a file";
  return false;
}

}  // namespace delivery
