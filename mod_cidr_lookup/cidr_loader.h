// Turning CIDRFile / CIDRMap arguments into a PrefixTable: path, directory
// and glob expansion, file reading, per-line diagnostics. Shared by the
// module and the cidr-lookup tool so both accept and reject the same lists.
//
// Two things say whether lists changed:
//  - a file's stamp (device, inode, size, change and modification times,
//    type): cheap, what a reload polls;
//  - the identity of a set of files: a hash of their kinds, names and
//    bytes, which names the image built from them (image_store.h). The
//    Loader computes it from the very bytes it parses.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cidr_parse.h"
#include "content_hash.h"
#include "prefix_table.h"
#include "table_builder.h"

namespace cidr {

struct ListSpec {
  FileKind kind = FileKind::List;
  std::string pattern;  // a file, a directory or a glob; absolute or relative to the cwd
};

// What stat() says of a file; equal stamps mean nothing was written to,
// replaced, moved or changed kind. A file stat() cannot reach gets a zero
// stamp (loading it says why).
struct FileStamp {
  uint64_t device = 0;
  uint64_t inode = 0;
  uint64_t size = 0;
  int64_t modified_ns = 0;
  int64_t changed_ns = 0;
  uint32_t mode = 0;
};
bool operator==(const FileStamp& a, const FileStamp& b);

struct ListFile {
  FileKind kind = FileKind::List;
  std::string path;
  FileStamp stamp;
};

// The files a pattern names, in the order they are loaded: a directory gives
// its regular files (names starting with '.' and backups skipped: see
// is_backup_name(); the skipped ones are named in a notice), a glob its matches
// (directories skipped), both sorted; a plain path gives itself. Reports
// "pattern: reason" errors when nothing usable is found.
std::vector<std::string> expand_pattern(const std::string& pattern, Diagnostics& diag);

// Every file of the specs, in load order, with its stamp.
std::vector<ListFile> find_list_files(const std::vector<ListSpec>& specs, Diagnostics& diag);

// The warning about a list its group or others can write (CL0001), for the
// files whose stamps say so. A table's own warnings say what held when it
// was built; this says what holds now, for a table mapped from its image.
std::vector<Warning> writable_list_warnings(const std::vector<ListFile>& files);

// A digest of the files' names, kinds and stamps: what a reload compares.
uint64_t stamps_fingerprint(const std::vector<ListFile>& files);

// The identity of the files (as Loader::identity() computes it while
// loading them), reading their bytes without parsing. False, with
// "file: reason", when one cannot be read as a list.
bool list_identity(const std::vector<ListFile>& files, uint64_t& identity, std::string& error);

// A digest of the specs themselves (kinds and patterns): which directives
// a table is for, whatever the files say today.
uint64_t specs_key(const std::vector<ListSpec>& specs);

// The client type a CIDRFile list stands for: the file's base name, less a
// final ".txt", ".list", ".lst" or ".cidr". Other dots are kept, so
// "partner.example.com" names the type "partner.example.com".
std::string type_from_path(const std::string& path);

class Loader {
 public:
  // stop: a load in a thread that must end gives up (throws LoadStopped).
  explicit Loader(StopFlag stop = nullptr);

  // Loads every file of the spec. Returns false if this spec added errors.
  bool load(const ListSpec& spec, Diagnostics& diag);
  // Loads files found by find_list_files(). Returns false on errors.
  bool load_files(const std::vector<ListFile>& files, Diagnostics& diag);
  // Loads one file. `path` is used as given in messages.
  bool load_file(const std::string& path, FileKind kind, Diagnostics& diag);
  // Parses text as the content of `source`. For FileKind::List, list_type is the type
  // every entry gets.
  void load_text(std::string_view text, const std::string& source, FileKind kind,
                 std::string_view list_type, Diagnostics& diag);

  size_t entry_count() const { return builder_.entry_count(); }
  size_t file_count() const { return files_; }
  // Of the files loaded so far: see list_identity().
  uint64_t identity() const { return identity_.digest(); }

  // Duplicate-network warnings go to diag. The loader is empty afterwards.
  // The table's info() has the identity, when it was built and how long
  // loading took since the loader was made; its warnings are diag's.
  std::unique_ptr<PrefixTable> build(Diagnostics& diag);

 private:
  class Source;

  TableBuilder builder_;
  ContentHash identity_;
  StopFlag stop_;
  size_t files_ = 0;
  int64_t started_micros_;
};

// The largest list file read (1M IPv4 prefixes are about 16 MiB of text).
constexpr uint64_t kMaxListFileBytes = uint64_t(64) << 20;

// Reads a whole list file: a regular file (a FIFO or device is refused, not
// waited on) of at most kMaxListFileBytes. On failure `error` says why,
// without the path. writable_by_others tells whether its group or others
// may write it. (Loading reads lists chunk by chunk, by the same rules.)
bool read_list_file(const std::string& path, std::string& out, std::string& error,
                    bool& writable_by_others);

// Editor and package-manager leftovers that a list directory skips: names
// ending in "~", ".bak", ".orig", ".rej", ".swp", ".swo",
// containing ".dpkg-", ".ucf-" or ".rpm<suffix>", or of the form "#...#".
bool is_backup_name(const std::string& name);

}  // namespace cidr
