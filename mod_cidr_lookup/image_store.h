// The image directory: where table images are written, found and trusted.
//
// httpd's parent runs as root and its children as User. The directory (in
// httpd's runtime directory) is made by the parent, through directory fds
// only, never by following a name it does not control: the runtime
// directory is opened, then mkdirat()/openat(O_NOFOLLOW) the image
// directory in it, fstat() and, when children must write there (reloads),
// fchown() the open directory to User. Everything after that goes through
// the directory's fd: openat(O_NOFOLLOW) to read an image, O_CREAT|O_EXCL
// for a temporary file that renameat() puts in place, unlinkat() to clean.
//
// Images are trusted by who wrote them, then checked whole (table_image.h):
// an image is used only when it is a regular file owned by one of the
// trusted writers (root; User too where children reload), that neither its
// group nor others can write, whose checksum and structure are right and
// whose identity is the one asked for. Anything else is rebuilt from the
// lists. Only an image root owns is mapped shared. One a child wrote may be
// changed or truncated at any time by code running as User (a CGI script):
// it is read into the reader's own memory, and used only when its bytes
// have the SHA-256 its builder published on the generation's board (which
// such code cannot reach). The parent trusts only what root wrote.
//
// No httpd headers: unit-tested on its own.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "prefix_table.h"
#include "table_image.h"

namespace cidr {

// The uids whose images are trusted.
class TrustedWriters {
 public:
  explicit TrustedWriters(uid_t first) : uids_{first, first} {}
  TrustedWriters(uid_t first, uid_t second) : uids_{first, second} {}
  bool trusts(uid_t uid) const { return uid == uids_[0] || uid == uids_[1]; }

 private:
  uid_t uids_[2];
};

// Who the image directory is for.
struct DirOwner {
  uid_t uid = 0;
  gid_t gid = 0;
  // Whether children (uid) write images: the directory is then theirs.
  enum class Writers { ParentOnly, Children } writers = Writers::ParentOnly;
};

class ImageStore {
 public:
  // Takes over an open directory fd (closed with the store).
  ImageStore(int dir_fd, std::string path);
  ~ImageStore();
  ImageStore(const ImageStore&) = delete;
  ImageStore& operator=(const ImageStore&) = delete;

  // Opens parent_dir/name as the image directory, creating it (0755) when
  // missing. An existing one is used when it belongs to the caller or to
  // owner.uid and neither its group nor others can write it; one the caller
  // owns is handed to owner.uid when children write there (and the caller
  // is root). Null, with the reason in `error`, otherwise.
  // With Creation::Never (apachectl -t), an existing one is opened the
  // same way and checked alike, and nothing is created or changed.
  enum class Creation { IfMissing, Never };
  static std::unique_ptr<ImageStore> open_dir(const std::string& parent_dir,
                                              const std::string& name, const DirOwner& owner,
                                              std::string& error,
                                              Creation creation = Creation::IfMissing);
  // cidr-lookup --compile: an existing directory, used as it is.
  static std::unique_ptr<ImageStore> open_existing(const std::string& dir, std::string& error);

  // The file name of the image of lists with this identity.
  static std::string image_name(uint64_t identity);

  // Writes `table` as the image of its identity (a temporary file renamed
  // into place, mode 0644). Returns its name, or false with the reason.
  bool write(const PrefixTable& table, std::string& name, std::string& error) const;

  // The image of `identity`, mapped (or read) and checked, when there is
  // one its writers are trusted for. One that root does not own is used
  // only with `digest`, and only when its bytes have it. Null otherwise;
  // `why` says why one was refused, and stays empty when there was none.
  std::unique_ptr<PrefixTable> open(uint64_t identity, const TrustedWriters& writers,
                                    std::string& why, const ImageDigest* digest = nullptr) const;
  // Writes `table` (as write()) and gives the digest of what was written.
  bool write(const PrefixTable& table, std::string& name, std::string& error,
             ImageDigest& digest) const;

  // Who owns the image of `identity`; false when there is none.
  bool owner_of(uint64_t identity, uid_t& uid) const;

  // The newest trusted image built for config_key (CIDRLookupOnError keep),
  // or null.
  std::unique_ptr<PrefixTable> newest_for(uint64_t config_key, const TrustedWriters& writers) const;

  // Removes the images not named in `keep`, and temporary files that a
  // writer left behind (older than an hour). Other files are left alone.
  void collect(const std::vector<std::string>& keep) const;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

 private:
  // An image not root's is used only with expect.digest (see open()).
  std::unique_ptr<PrefixTable> open_file(const std::string& name, const TrustedWriters& writers,
                                         ImageExpectation expect, std::string& why) const;
  bool write_to(const PrefixTable& table, std::string& name, std::string& error,
                ImageDigest* digest) const;

  int fd_;
  std::string path_;
};

// cidr-lookup: writes an image to any path (a temporary file beside it,
// renamed), and maps one from any path, checked but trusted by nobody's
// uid (the tool runs for whoever calls it).
bool write_image_file(const std::string& path, const PrefixTable& table, std::string& error);
std::unique_ptr<PrefixTable> read_image_file(const std::string& path, std::string& error);

}  // namespace cidr
