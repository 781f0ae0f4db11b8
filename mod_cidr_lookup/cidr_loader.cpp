#include "cidr_loader.h"

#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

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

bool operator==(const FileStamp& a, const FileStamp& b) {
  return a.device == b.device && a.inode == b.inode && a.size == b.size &&
         a.modified_ns == b.modified_ns && a.changed_ns == b.changed_ns && a.mode == b.mode;
}

namespace {

constexpr size_t kReadChunk = size_t(1) << 20;
// How often a load looks at its stop flag, in lines.
constexpr uint32_t kStopCheckLines = 65536;
constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

const char* kind_word(FileKind kind) { return kind == FileKind::List ? "list" : "map"; }

FileStamp stamp_of(const struct stat& st) {
  FileStamp s;
  s.device = uint64_t(st.st_dev);
  s.inode = uint64_t(st.st_ino);
  s.size = uint64_t(st.st_size);
  s.modified_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  s.changed_ns = int64_t(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  s.mode = uint32_t(st.st_mode);
  return s;
}

// What a table built from given lists means. Raised whenever a table built
// from the same bytes would answer differently (a parser or builder fix
// without a layout change): images of the older meaning, which outlive
// package upgrades in the runtime directory, then match no identity.
constexpr uint64_t kTableMeaning = 1;

// A file's part of a set's identity: the tables' meaning, its kind and name,
// then its bytes, then their count.
void hash_file_start(ContentHash& h, FileKind kind, const std::string& path) {
  h.update_u64(kTableMeaning);
  h.update_text(kind_word(kind));
  h.update_text(path);
}
void hash_file_end(ContentHash& h, uint64_t bytes) { h.update_u64(bytes); }

// Reads a list file chunk by chunk: a regular file (a FIFO or device is
// refused, not waited on) of at most kMaxListFileBytes. On failure `error`
// says why, without the path. writable_by_others tells whether its group or
// others may write it.
template <typename Fn>
bool read_list_chunks(const std::string& path, Fn&& on_chunk, std::string& error,
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
  std::vector<char> buf(kReadChunk);
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n > 0) {
      // The file may grow while it is read.
      total += uint64_t(n);
      if (total > kMaxListFileBytes) {
        error = "the file grew past the limit of " + std::to_string(kMaxListFileBytes) +
                " bytes for one list file while it was read";
        ::close(fd);
        return false;
      }
      on_chunk(buf.data(), size_t(n));
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

// Cuts a stream of chunks into lines (without their '\n'), numbered from
// 1, as for_each_line() cuts a whole text: a byte order mark at the start
// is skipped, a last line without '\n' counts.
class LineSplitter {
 public:
  template <typename Fn>
  void feed(const char* data, size_t size, Fn&& fn) {
    std::string_view chunk(data, size);
    size_t pos = 0;
    for (;;) {
      size_t end = chunk.find('\n', pos);
      if (end == std::string_view::npos) break;
      if (carry_.empty()) {
        emit(chunk.substr(pos, end - pos), fn);
      } else {
        carry_.append(chunk.data() + pos, end - pos);
        emit(carry_, fn);
        carry_.clear();
      }
      pos = end + 1;
    }
    carry_.append(chunk.data() + pos, chunk.size() - pos);
  }
  template <typename Fn>
  void finish(Fn&& fn) {
    if (!carry_.empty()) emit(carry_, fn);
    carry_.clear();
  }

 private:
  template <typename Fn>
  void emit(std::string_view line, Fn&& fn) {
    if (++number_ == 1 && line.substr(0, kByteOrderMark.size()) == kByteOrderMark) {
      line.remove_prefix(kByteOrderMark.size());
    }
    fn(number_, line);
  }

  std::string carry_;
  uint32_t number_ = 0;
};

int64_t now_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool read_list_file(const std::string& path, std::string& out, std::string& error,
                    bool& writable_by_others) {
  out.clear();
  return read_list_chunks(
      path, [&out](const char* data, size_t n) { out.append(data, n); }, error, writable_by_others);
}

namespace {

Warning writable_list_warning(const std::string& path) {
  return Warning{WarningKind::WritableList,
                 path +
                     ": is writable by its group or by others: whoever can write it chooses the "
                     "client type of any address, and so what 'Require client-type' allows"};
}

}  // namespace

std::vector<Warning> writable_list_warnings(const std::vector<ListFile>& files) {
  std::vector<Warning> out;
  for (const ListFile& f : files) {
    if (f.stamp.mode & (S_IWGRP | S_IWOTH)) out.push_back(writable_list_warning(f.path));
  }
  return out;
}

std::vector<ListFile> find_list_files(const std::vector<ListSpec>& specs, Diagnostics& diag) {
  std::vector<ListFile> files;
  for (const ListSpec& spec : specs) {
    for (std::string& path : expand_pattern(spec.pattern, diag)) {
      ListFile f;
      f.kind = spec.kind;
      struct stat st;
      if (::stat(path.c_str(), &st) == 0) f.stamp = stamp_of(st);
      f.path = std::move(path);
      files.push_back(std::move(f));
    }
  }
  return files;
}

uint64_t stamps_fingerprint(const std::vector<ListFile>& files) {
  ContentHash h;
  for (const ListFile& f : files) {
    hash_file_start(h, f.kind, f.path);
    const FileStamp& s = f.stamp;
    for (uint64_t v : {s.device, s.inode, s.size, uint64_t(s.modified_ns), uint64_t(s.changed_ns),
                       uint64_t(s.mode)}) {
      h.update_u64(v);
    }
  }
  return h.digest();
}

bool list_identity(const std::vector<ListFile>& files, uint64_t& identity, std::string& error) {
  ContentHash h;
  for (const ListFile& f : files) {
    hash_file_start(h, f.kind, f.path);
    uint64_t bytes = 0;
    bool writable = false;
    std::string why;
    auto chunk = [&](const char* data, size_t n) {
      h.update(data, n);
      bytes += n;
    };
    if (!read_list_chunks(f.path, chunk, why, writable)) {
      error = f.path + ": " + why;
      return false;
    }
    hash_file_end(h, bytes);
  }
  identity = h.digest();
  return true;
}

uint64_t specs_key(const std::vector<ListSpec>& specs) {
  ContentHash h;
  for (const ListSpec& s : specs) {
    h.update_text(kind_word(s.kind));
    h.update_text(s.pattern);
  }
  return h.digest();
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

// One file (or text) being loaded: its lines into the builder.
class Loader::Source {
 public:
  Source(TableBuilder& builder, const std::string& name, FileKind kind, std::string_view list_type)
      : builder_(builder), name_(name), kind_(kind) {
    id_ = builder_.add_source(name);
    if (kind == FileKind::List) type_id_ = builder_.intern_type(list_type);
  }

  void line(uint32_t number, std::string_view text, Diagnostics& diag) {
    ParsedLine parsed = parse_line(text, kind_);
    if (parsed.status == ParsedLine::Status::Blank) return;
    if (parsed.status == ParsedLine::Status::Error) {
      diag.error(name_ + ":" + std::to_string(number) + ": " + parsed.error);
      return;
    }
    if (parsed.host_bits) {
      diag.warning(WarningKind::HostBits, name_ + ":" + std::to_string(number) +
                                              ": host bits set in '" + std::string(parsed.text) +
                                              "', using " + format_prefix(parsed.prefix));
    }
    if (kind_ == FileKind::Map) {
      // Map files usually list many networks of one type in a row.
      if (!have_last_ || parsed.type != last_type_) {
        last_type_.assign(parsed.type);
        type_id_ = builder_.intern_type(parsed.type);
        have_last_ = true;
      }
    }
    builder_.add(parsed.prefix, type_id_, id_, number);
    ++entries_;
  }

  size_t entries() const { return entries_; }

 private:
  TableBuilder& builder_;
  const std::string& name_;
  FileKind kind_;
  uint32_t id_ = 0;
  uint16_t type_id_ = 0;
  std::string last_type_;
  bool have_last_ = false;
  size_t entries_ = 0;
};

Loader::Loader(StopFlag stop) : stop_(stop), started_micros_(now_micros()) {}

bool Loader::load(const ListSpec& spec, Diagnostics& diag) {
  size_t errors_before = diag.error_count();
  for (const std::string& path : expand_pattern(spec.pattern, diag)) {
    load_file(path, spec.kind, diag);
  }
  return diag.error_count() == errors_before;
}

bool Loader::load_files(const std::vector<ListFile>& files, Diagnostics& diag) {
  size_t errors_before = diag.error_count();
  for (const ListFile& f : files) load_file(f.path, f.kind, diag);
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
  hash_file_start(identity_, kind, path);
  Source source(builder_, path, kind, type);
  LineSplitter splitter;
  uint64_t bytes = 0;
  auto on_line = [&](uint32_t number, std::string_view line) {
    if (number % kStopCheckLines == 0) check_stop(stop_);
    source.line(number, line, diag);
  };
  auto on_chunk = [&](const char* data, size_t n) {
    identity_.update(data, n);
    bytes += n;
    splitter.feed(data, n, on_line);
  };
  std::string error;
  bool writable_by_others = false;
  if (!read_list_chunks(path, on_chunk, error, writable_by_others)) {
    diag.error(path + ": " + error);
    return false;
  }
  splitter.finish(on_line);
  hash_file_end(identity_, bytes);
  if (writable_by_others) {
    Warning w = writable_list_warning(path);
    diag.warning(w.kind, std::move(w.text));
  }
  ++files_;
  if (source.entries() == 0 && diag.error_count() == errors_before) {
    diag.warning(WarningKind::EmptyList, path + ": has no entries");
  }
  return diag.error_count() == errors_before;
}

void Loader::load_text(std::string_view text, const std::string& source_name, FileKind kind,
                       std::string_view list_type, Diagnostics& diag) {
  hash_file_start(identity_, kind, source_name);
  identity_.update(text.data(), text.size());
  hash_file_end(identity_, text.size());
  Source source(builder_, source_name, kind, list_type);
  for_each_line(text, [&](uint32_t number, std::string_view line) {
    if (number % kStopCheckLines == 0) check_stop(stop_);
    source.line(number, line, diag);
  });
}

std::unique_ptr<PrefixTable> Loader::build(Diagnostics& diag) {
  auto table = builder_.build(diag, stop_);
  TableInfo info = table->info();
  info.identity = identity();
  info.built_at = int64_t(std::time(nullptr));
  info.load_micros = uint64_t(now_micros() - started_micros_);
  table->set_info(info);
  return table;
}

}  // namespace cidr
