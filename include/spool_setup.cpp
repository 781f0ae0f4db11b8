#include "spool_setup.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "path_walk.h"

namespace delivery {
namespace {

constexpr mode_t kParentMode = 0755;
constexpr mode_t kSpoolMode = 0700;
// Another process creating or removing the same name while we look at it
// makes the walk look again; a name that keeps changing is an error.
constexpr int kMaxRaceRetries = 8;

std::string errno_text() { return std::strerror(errno); }

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", unsigned(mode & 07777));
  return buf;
}

std::string child_path(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

std::string parent_path(const std::string& dir) {
  size_t slash = dir.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return dir.substr(0, slash);
}

// Search permission as the kernel decides it: the owner class, else the
// group class, else others (the classes do not add up).
bool owner_can_search(const struct stat& st, const SpoolOwner& owner) {
  if (owner.uid == 0) return true;
  if (st.st_uid == owner.uid) return (st.st_mode & S_IXUSR) != 0;
  for (gid_t g : owner.groups) {
    if (g == st.st_gid) return (st.st_mode & S_IXGRP) != 0;
  }
  return (st.st_mode & S_IXOTH) != 0;
}

bool is_empty_directory(int dir_fd) {
  bool empty = true;
  const bool read = for_each_entry(dir_fd, [&](const char*) { return empty = false; });
  return read && empty;
}

std::string user_label(const SpoolOwner& owner) {
  return owner.user_name.empty() ? "uid " + std::to_string(owner.uid) : owner.user_name;
}

// The checks an existing (or just created) spool directory must pass.
bool check_spool_dir(int fd, const std::string& path, const SpoolOwner& owner, std::string& error) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    error = "cannot examine " + path + ": " + errno_text();
    return false;
  }
  const std::string user = user_label(owner);
  if (st.st_uid != owner.uid) {
    if (st.st_uid == 0) {
      error = path + " exists and is owned by root; httpd does not hand an existing directory to " +
              user +
              " (the user the children run as): name a directory that does not exist yet "
              "(httpd creates it), or, if nothing else lives in it, run 'chown " +
              user + " " + path + "; chmod 0700 " + path + "' yourself";
    } else {
      error = path + " exists and is owned by uid " + std::to_string(st.st_uid) + ", not by " +
              user + " (the user the children run as): name a directory that does not exist yet";
    }
    return false;
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    error = path + " is writable by its group or by others (mode " + octal_mode(st.st_mode) +
            "): whoever can write it can plant spool files that are replayed as log lines; run "
            "'chmod 0700 " +
            path + "'";
    return false;
  }
  if ((st.st_mode & S_IRWXU) != S_IRWXU) {
    error = path + " (mode " + octal_mode(st.st_mode) + ") does not let " + user +
            " read, write and enter it; run 'chmod 0700 " + path + "'";
    return false;
  }
  struct statvfs vfs;
  if (::fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
    error = path + " is on a read-only file system";
    return false;
  }
  return true;
}

// A directory this walk created: give it its mode and, for the spool
// directory, its owner. Another process may have replaced the name between
// mkdirat() and openat(): then it is not ours, and is checked as an existing
// directory instead.
bool finish_created(int fd, const std::string& path, bool is_spool_dir, const SpoolOwner& owner,
                    std::string& error) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    error = "cannot examine " + path + ": " + errno_text();
    return false;
  }
  if (st.st_uid != ::geteuid()) return true;
  if (::fchmod(fd, is_spool_dir ? kSpoolMode : kParentMode) != 0) {
    error = "cannot set the mode of " + path + ": " + errno_text();
    return false;
  }
  if (!is_spool_dir || ::geteuid() != 0 || owner.uid == 0) return true;
  // A directory someone else moved in under this name would carry what is
  // in it over to the new owner: only an empty one is handed over.
  if (!is_empty_directory(fd)) {
    error = path + " changed while it was being created (it is not empty); start again";
    return false;
  }
  if (::fchown(fd, owner.uid, owner.gid) != 0) {
    error = "cannot hand " + path + " to " + user_label(owner) + ": " + errno_text();
    return false;
  }
  return true;
}

}  // namespace

SpoolOwner spool_owner_for(uid_t uid, gid_t gid, const std::string& user_name) {
  SpoolOwner owner;
  owner.uid = uid;
  owner.gid = gid;
  owner.user_name = user_name;
  owner.groups.push_back(gid);
  struct passwd pwbuf;
  struct passwd* pw = nullptr;
  std::vector<char> strings(16384);
  if (::getpwuid_r(uid, &pwbuf, strings.data(), strings.size(), &pw) != 0 || pw == nullptr) {
    return owner;
  }
  if (owner.user_name.empty()) owner.user_name = pw->pw_name;
  int n = 64;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  if (::getgrouplist(pw->pw_name, gid, groups.data(), &n) < 0) {
    if (n <= 0) return owner;
    groups.resize(static_cast<size_t>(n));
    if (::getgrouplist(pw->pw_name, gid, groups.data(), &n) < 0) return owner;
  }
  groups.resize(static_cast<size_t>(n));
  owner.groups = std::move(groups);
  return owner;
}

bool prepare_spool_dir(const std::string& dir, const SpoolOwner& owner, std::string& error) {
  if (dir.empty() || dir[0] != '/') {
    error = "'" + dir + "' is not an absolute path";
    return false;
  }
  std::deque<std::string> rest = split_path(dir);
  if (rest.empty()) {
    error = "the root directory cannot be the spool directory";
    return false;
  }
  if (rest.back() == "..") {
    error = dir + " ends in '..': name the directory itself";
    return false;
  }
  const uid_t self = ::geteuid();
  Fd cur(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cur.valid()) {
    error = "cannot open /: " + errno_text();
    return false;
  }
  std::string where = "/";  // the real path of cur
  int links = 0;
  int races = 0;
  std::string unsearchable;
  while (!rest.empty()) {
    const std::string name = rest.front();
    rest.pop_front();
    const bool is_spool_dir = rest.empty();
    struct stat parent;
    if (::fstat(cur.get(), &parent) != 0) {
      error = "cannot examine " + where + ": " + errno_text();
      return false;
    }
    // Reported once the walk got through: what is wrong with the path
    // itself is the more useful message.
    if (unsearchable.empty() && !owner_can_search(parent, owner)) {
      unsearchable = user_label(owner) + " (the user the children run as) cannot enter " + where +
                     " (mode " + octal_mode(parent.st_mode) + ")";
    }
    if (name == "..") {
      Fd up(::openat(cur.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!up.valid()) {
        error = "cannot open the parent of " + where + ": " + errno_text();
        return false;
      }
      cur = std::move(up);
      where = parent_path(where);
      continue;
    }
    const std::string path = child_path(where, name);
    bool created = false;
    struct stat st;
    if (::fstatat(cur.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) {
        error = "cannot examine " + path + ": " + errno_text();
        return false;
      }
      if (::mkdirat(cur.get(), name.c_str(), is_spool_dir ? kSpoolMode : kParentMode) != 0) {
        if (errno == EEXIST && ++races <= kMaxRaceRetries) {
          rest.push_front(name);
          continue;
        }
        error = "cannot create " + path + ": " + errno_text();
        return false;
      }
      created = true;
    } else if (S_ISLNK(st.st_mode)) {
      if (!only_trusted_can_write(parent, self)) {
        error = path + " is a symbolic link in " + where +
                ", a directory others can write: name the directory it points to instead";
        return false;
      }
      if (++links > kMaxSpoolPathLinks) {
        error = "cannot resolve " + dir + ": too many symbolic links";
        return false;
      }
      std::vector<char> target(PATH_MAX + 1);
      ssize_t n = ::readlinkat(cur.get(), name.c_str(), target.data(), target.size() - 1);
      if (n <= 0) {
        error = "cannot read the symbolic link " + path + ": " + errno_text();
        return false;
      }
      std::string to(target.data(), size_t(n));
      std::deque<std::string> parts = split_path(to);
      rest.insert(rest.begin(), parts.begin(), parts.end());
      if (to[0] == '/') {
        Fd root(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!root.valid()) {
          error = "cannot open /: " + errno_text();
          return false;
        }
        cur = std::move(root);
        where = "/";
      }
      if (rest.empty() || rest.back() == "..") {
        error = path + " points to '" + to + "': name the directory itself";
        return false;
      }
      continue;
    } else if (!S_ISDIR(st.st_mode)) {
      error = "cannot create " + dir + ": " + path + " exists and is not a directory";
      return false;
    }
    Fd next(::openat(cur.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) {
      if ((errno == ELOOP || errno == ENOTDIR || errno == ENOENT) && ++races <= kMaxRaceRetries) {
        rest.push_front(name);
        continue;
      }
      error = "cannot open " + path + ": " + errno_text();
      return false;
    }
    if (created && !finish_created(next.get(), path, is_spool_dir, owner, error)) return false;
    cur = std::move(next);
    where = path;
    if (is_spool_dir) {
      if (!check_spool_dir(cur.get(), where, owner, error)) return false;
      if (unsearchable.empty()) return true;
      error = unsearchable;
      return false;
    }
  }
  error = "cannot resolve " + dir;
  return false;
}

}  // namespace delivery
