#include "cidr_loader.h"

#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace cidr {
namespace {

bool has_glob_chars(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

std::string errno_text(int err) { return std::strerror(err); }

// A FIFO or device in a list directory would block or never end: only
// regular files (after following symlinks) are lists.
bool is_regular_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

bool is_backup_name(const std::string& name) {
  auto ends_with = [&name](const char* suffix) {
    size_t n = std::strlen(suffix);
    return name.size() >= n && name.compare(name.size() - n, n, suffix) == 0;
  };
  if (name.empty()) return false;
  if (name.back() == '~') return true;                                             // emacs, vim, ed
  if (name.size() >= 2 && name.front() == '#' && name.back() == '#') return true;  // emacs
  for (const char* suffix : {".bak", ".orig", ".rej", ".swp", ".swo"}) {
    if (ends_with(suffix)) return true;
  }
  // dpkg (.dpkg-old, -new, -dist, -tmp, -bak), ucf, rpm (.rpmnew, .rpmsave, .rpmorig).
  for (const char* infix : {".dpkg-", ".ucf-", ".rpm"}) {
    size_t at = name.rfind(infix);
    if (at != std::string::npos && at > 0) {
      if (std::strcmp(infix, ".rpm") != 0 || name.size() > at + 4) return true;
    }
  }
  return false;
}

namespace {

void list_directory(const std::string& dir, std::vector<std::string>& files, Diagnostics& diag) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    diag.error(dir + ": cannot read directory: " + errno_text(errno));
    return;
  }
  std::string prefix = dir;
  if (prefix.empty() || prefix.back() != '/') prefix += '/';
  std::vector<std::string> skipped;
  while (struct dirent* ent = ::readdir(d)) {
    // Dot files are editor swap files, VCS metadata and the like.
    if (ent->d_name[0] == '.') continue;
    std::string path = prefix + ent->d_name;
    if (!is_regular_file(path)) continue;
    // An editor's or a package manager's leftover copy of a list would
    // otherwise be loaded as a client type of its own (or, holding the
    // previous entries, undo an edit).
    if (is_backup_name(ent->d_name)) {
      skipped.push_back(ent->d_name);
      continue;
    }
    files.push_back(std::move(path));
  }
  ::closedir(d);
  std::sort(files.begin(), files.end());
  if (!skipped.empty()) {
    std::sort(skipped.begin(), skipped.end());
    std::string names;
    for (const std::string& n : skipped) names += (names.empty() ? "" : ", ") + n;
    diag.notice(dir + ": skipped backup files: " + names);
  }
  if (files.empty()) diag.error(dir + ": directory contains no list files");
}

void expand_glob(const std::string& pattern, std::vector<std::string>& files, Diagnostics& diag) {
  glob_t g;
  std::memset(&g, 0, sizeof(g));
  int rc = ::glob(pattern.c_str(), GLOB_ERR, nullptr, &g);
  if (rc == 0) {
    // glob() sorts its matches unless told not to.
    for (size_t i = 0; i < g.gl_pathc; ++i) {
      std::string path = g.gl_pathv[i];
      if (is_regular_file(path)) files.push_back(std::move(path));
    }
  }
  ::globfree(&g);
  if (rc == GLOB_ABORTED) {
    diag.error(pattern + ": cannot expand: a directory on the way is unreadable");
  } else if (rc == GLOB_NOSPACE) {
    diag.error(pattern + ": cannot expand: out of memory");
  } else if (files.empty()) {
    diag.error(pattern + ": no file matches");
  }
}

}  // namespace

std::vector<std::string> expand_pattern(const std::string& pattern, Diagnostics& diag) {
  std::vector<std::string> files;
  struct stat st;
  if (pattern.empty()) {
    diag.error("empty path");
  } else if (::stat(pattern.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    list_directory(pattern, files, diag);
  } else if (has_glob_chars(pattern)) {
    expand_glob(pattern, files, diag);
  } else {
    // A plain path is opened later, which reports a precise reason.
    files.push_back(pattern);
  }
  return files;
}

std::string type_from_path(const std::string& path) {
  size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  for (const char* ext : {".txt", ".list", ".lst", ".cidr"}) {
    size_t n = std::strlen(ext);
    if (name.size() > n && name.compare(name.size() - n, n, ext) == 0) {
      name.resize(name.size() - n);
      break;
    }
  }
  return name;
}

bool read_list_file(const std::string& path, std::string& out, std::string& error,
                    bool& writable_by_others) {
  writable_by_others = false;
  // Non-blocking, so that opening a FIFO does not wait for a writer; only a
  // regular file is read at all.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    error = "cannot read: " + errno_text(errno);
    return false;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    error = "cannot read: " + errno_text(errno);
    ::close(fd);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    error = S_ISDIR(st.st_mode) ? "cannot read: " + errno_text(EISDIR)
                                : std::string(
                                      "not a regular file (a FIFO, socket or device): "
                                      "only regular files are read as lists");
    ::close(fd);
    return false;
  }
  if (uint64_t(st.st_size) > kMaxListFileBytes) {
    error = "the file has " + std::to_string(uint64_t(st.st_size)) +
            " bytes, more than the limit of " + std::to_string(kMaxListFileBytes) +
            " bytes for one list file: split it";
    ::close(fd);
    return false;
  }
  writable_by_others = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  out.clear();
  out.reserve(size_t(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      // The file may grow while it is read.
      if (out.size() + size_t(n) > kMaxListFileBytes) {
        error = "the file grew past the limit of " + std::to_string(kMaxListFileBytes) +
                " bytes for one list file while it was read";
        ::close(fd);
        return false;
      }
      out.append(buf, size_t(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      error = "cannot read: " + errno_text(errno);
      ::close(fd);
      return false;
    }
  }
  ::close(fd);
  return true;
}

bool Loader::load(const ListSpec& spec, Diagnostics& diag) {
  size_t errors_before = diag.error_count();
  for (const std::string& path : expand_pattern(spec.pattern, diag)) {
    load_file(path, spec.kind, diag);
  }
  return diag.error_count() == errors_before;
}

bool Loader::load_file(const std::string& path, FileKind kind, Diagnostics& diag) {
  size_t errors_before = diag.error_count();
  std::string type;
  if (kind == FileKind::List) {
    type = type_from_path(path);
    if (!valid_type_name(type)) {
      diag.error(path +
                 ": the file name does not make a valid client type (letters, digits and "
                 "-_.:+@ only)");
      return false;
    }
  }
  std::string text;
  std::string error;
  bool writable_by_others = false;
  if (!read_list_file(path, text, error, writable_by_others)) {
    diag.error(path + ": " + error);
    return false;
  }
  if (writable_by_others) {
    diag.warning(WarningKind::WritableList,
                 path +
                     ": is writable by its group or by others: whoever can write it chooses the "
                     "client type of any address, and so what 'Require client-type' allows");
  }
  ++files_;
  load_text(text, path, kind, type, diag);
  return diag.error_count() == errors_before;
}

void Loader::load_text(std::string_view text, const std::string& source, FileKind kind,
                       std::string_view list_type, Diagnostics& diag) {
  uint32_t source_id = builder_.add_source(source);
  uint16_t type_id = 0;
  std::string last_type;
  bool have_last = false;
  if (kind == FileKind::List) type_id = builder_.intern_type(list_type);

  for_each_line(text, [&](uint32_t number, std::string_view line) {
    ParsedLine parsed = parse_line(line, kind);
    if (parsed.status == ParsedLine::Status::Blank) return;
    if (parsed.status == ParsedLine::Status::Error) {
      diag.error(source + ":" + std::to_string(number) + ": " + parsed.error);
      return;
    }
    if (parsed.host_bits) {
      diag.warning(WarningKind::HostBits, source + ":" + std::to_string(number) +
                                              ": host bits set in '" + std::string(parsed.text) +
                                              "', using " + format_prefix(parsed.prefix));
    }
    if (kind == FileKind::Map) {
      // Map files usually list many networks of one type in a row.
      if (!have_last || parsed.type != last_type) {
        last_type.assign(parsed.type);
        type_id = builder_.intern_type(parsed.type);
        have_last = true;
      }
    }
    builder_.add(parsed.prefix, type_id, source_id, number);
  });
}

}  // namespace cidr
