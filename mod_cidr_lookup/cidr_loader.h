// Turning CIDRFile / CIDRMap arguments into a PrefixTable: path, directory
// and glob expansion, file reading, per-line diagnostics. Shared by the
// module and the cidr-lookup tool so both accept and reject the same lists.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cidr_parse.h"
#include "prefix_table.h"

namespace cidr {

struct ListSpec {
  FileKind kind = FileKind::List;
  std::string pattern;  // a file, a directory or a glob; absolute or relative to the cwd
};

// The files a pattern names, in the order they are loaded: a directory gives
// its regular files (names starting with '.' and backups skipped: see
// is_backup_name(); the skipped ones are named in a notice), a glob its matches
// (directories skipped), both sorted; a plain path gives itself. Reports
// "pattern: reason" errors when nothing usable is found.
std::vector<std::string> expand_pattern(const std::string& pattern, Diagnostics& diag);

// The client type a CIDRFile list stands for: the file's base name, less a
// final ".txt", ".list", ".lst" or ".cidr". Other dots are kept, so
// "partner.example.com" names the type "partner.example.com".
std::string type_from_path(const std::string& path);

class Loader {
 public:
  // Loads every file of the spec. Returns false if this spec added errors.
  bool load(const ListSpec& spec, Diagnostics& diag);
  // Loads one file. `path` is used as given in messages.
  bool load_file(const std::string& path, FileKind kind, Diagnostics& diag);
  // Parses text as the content of `source`. For FileKind::List, list_type is the type
  // every entry gets.
  void load_text(std::string_view text, const std::string& source, FileKind kind,
                 std::string_view list_type, Diagnostics& diag);

  size_t entry_count() const { return builder_.entry_count(); }
  size_t file_count() const { return files_; }

  // Duplicate-network warnings go to diag. The loader is empty afterwards.
  std::unique_ptr<PrefixTable> build(Diagnostics& diag) { return builder_.build(diag); }

 private:
  TableBuilder builder_;
  size_t files_ = 0;
};

// The largest list file read (1M IPv4 prefixes are about 16 MiB of text).
constexpr uint64_t kMaxListFileBytes = uint64_t(64) << 20;

// Reads a whole list file: a regular file (a FIFO or device is refused, not
// waited on) of at most kMaxListFileBytes. On failure `error` says why,
// without the path. writable_by_others tells whether its group or others
// may write it.
bool read_list_file(const std::string& path, std::string& out, std::string& error,
                    bool& writable_by_others);

// Editor and package-manager leftovers that a list directory skips: names
// ending in "~", ".bak", ".orig", ".rej", ".swp", ".swo",
// containing ".dpkg-", ".ucf-" or ".rpm<suffix>", or of the form "#...#".
bool is_backup_name(const std::string& name);

}  // namespace cidr
