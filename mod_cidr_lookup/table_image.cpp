#include "table_image.h"

#include <openssl/evp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "content_hash.h"

namespace cidr {
namespace {

constexpr char kMagic[8] = {'C', 'I', 'D', 'R', 'I', 'M', 'G', '\n'};
// Written as a native integer: an image from a machine of the other byte
// order reads it reversed and is refused.
constexpr uint64_t kByteOrderMark = 0x0102030405060708ull;
constexpr uint64_t kSectionAlign = 64;
constexpr unsigned kMaxTopBits = 24;
// A mapped image larger than this is refused before anything is read.
constexpr uint64_t kMaxImageBytes = uint64_t(16) << 30;
constexpr size_t kWriteChunk = size_t(1) << 20;

struct ImageSection {
  uint64_t offset;
  uint64_t bytes;
};

struct ImageFamily {
  uint32_t top_bits;
  uint32_t lead_bits;
  uint64_t lead_hi, lead_lo;
  uint32_t outside;
  uint32_t reserved;
  ImageSection top, nodes, leaves, pool;
};

struct ImageHeader {
  char magic[8];
  uint32_t format_version;
  uint32_t header_bytes;
  uint64_t byte_order;
  uint64_t file_bytes;
  uint64_t checksum;  // of the whole file, with this field zero
  uint64_t identity;
  uint64_t config_key;
  int64_t built_at;
  uint64_t load_micros;
  uint64_t warning_total;
  uint64_t count_v4;
  uint64_t count_v6;
  uint64_t type_count;
  ImageFamily v4, v6;
  ImageSection name_offsets, names, type_counts, warnings;
  ImageSection v4_direct_slots, v4_direct_results;  // both empty: no direct index
};

// The TableInfo fields of a header, both ways.
void put_info(ImageHeader& h, const TableInfo& info) {
  h.identity = info.identity;
  h.config_key = info.config_key;
  h.built_at = info.built_at;
  h.load_micros = info.load_micros;
  h.warning_total = info.warning_total;
}

TableInfo info_of(const ImageHeader& h) {
  TableInfo info;
  info.identity = h.identity;
  info.config_key = h.config_key;
  info.built_at = h.built_at;
  info.load_micros = h.load_micros;
  info.warning_total = h.warning_total;
  return info;
}

uint64_t align_up(uint64_t v) { return (v + kSectionAlign - 1) / kSectionAlign * kSectionAlign; }

// Warnings as records: kind (u32), length (u32), text, padded to 4 bytes.
std::string encode_warnings(const std::vector<Warning>& warnings) {
  std::string out;
  for (const Warning& w : warnings) {
    uint32_t head[2] = {uint32_t(w.kind), uint32_t(w.text.size())};
    out.append(reinterpret_cast<const char*>(head), sizeof(head));
    out += w.text;
    out.append((4 - w.text.size() % 4) % 4, '\0');
  }
  return out;
}

bool decode_warnings(const unsigned char* p, size_t size, std::vector<Warning>& out) {
  size_t at = 0;
  while (at < size) {
    uint32_t head[2];
    if (size - at < sizeof(head)) return false;
    std::memcpy(head, p + at, sizeof(head));
    at += sizeof(head);
    if (head[0] > uint32_t(WarningKind::More) || head[1] > size - at) return false;
    out.push_back(
        Warning{WarningKind(head[0]), std::string(reinterpret_cast<const char*>(p + at), head[1])});
    at += head[1] + (4 - head[1] % 4) % 4;
  }
  return at == size;
}

// Writes everything, retrying short writes, and adds it to `digest` (may be
// null).
bool write_all(int fd, const void* data, size_t size, std::string& error,
               EVP_MD_CTX* digest = nullptr) {
  if (digest && size && EVP_DigestUpdate(digest, data, size) != 1) {
    error = "cannot compute the image's digest";
    return false;
  }
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size < kWriteChunk ? size : kWriteChunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = std::string("cannot write the image: ") + std::strerror(errno);
      return false;
    }
    p += n;
    size -= size_t(n);
  }
  return true;
}

// The file's bytes in order, for the checksum and the write alike.
struct Piece {
  const void* data;
  uint64_t bytes;
  uint64_t offset;
};

class Layout {
 public:
  ImageSection place(const void* data, uint64_t bytes) {
    ImageSection s{align_up(end_), bytes};
    if (bytes > 0) pieces_.push_back(Piece{data, bytes, s.offset});
    end_ = s.offset + bytes;
    return s;
  }
  ImageFamily place_family(const TrieSections& t) {
    ImageFamily f{};
    f.top_bits = t.top_bits;
    f.lead_bits = t.lead_bits;
    f.lead_hi = t.lead_hi;
    f.lead_lo = t.lead_lo;
    f.outside = t.outside;
    f.top = place(t.top, (uint64_t(1) << t.top_bits) * sizeof(uint32_t));
    f.nodes = place(t.nodes, t.node_count * sizeof(TrieNode));
    f.leaves = place(t.leaves, t.leaf_count * sizeof(uint32_t));
    f.pool = place(t.pool, t.pool_words * sizeof(uint32_t));
    return f;
  }
  uint64_t end() const { return align_up(end_); }
  const std::vector<Piece>& pieces() const { return pieces_; }

 private:
  uint64_t end_ = sizeof(ImageHeader);
  std::vector<Piece> pieces_;
};

// The checksum over the file as it will be (header with checksum zero,
// pieces, zero padding between them).
uint64_t checksum_of(const ImageHeader& header, const Layout& layout) {
  static const unsigned char kZeros[kSectionAlign] = {};
  ContentHash h;
  h.update(&header, sizeof(header));
  uint64_t at = sizeof(header);
  for (const Piece& p : layout.pieces()) {
    for (; at < p.offset; at += std::min<uint64_t>(p.offset - at, kSectionAlign)) {
      h.update(kZeros, size_t(std::min<uint64_t>(p.offset - at, kSectionAlign)));
    }
    h.update(p.data, size_t(p.bytes));
    at = p.offset + p.bytes;
  }
  for (; at < layout.end(); at += std::min<uint64_t>(layout.end() - at, kSectionAlign)) {
    h.update(kZeros, size_t(std::min<uint64_t>(layout.end() - at, kSectionAlign)));
  }
  return h.digest();
}

// ---- validation ------------------------------------------------------------

class Validator {
 public:
  Validator(const unsigned char* data, size_t size, std::string& error)
      : data_(data), size_(size), error_(error) {}

  bool header(ImageHeader& h) {
    if (size_ < sizeof(ImageHeader)) return fail("too short to be an image");
    std::memcpy(&h, data_, sizeof(h));
    if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0) return fail("not a table image");
    if (h.byte_order != kByteOrderMark) return fail("written on a machine of another byte order");
    if (h.format_version != kImageFormatVersion) {
      return fail("image format " + std::to_string(h.format_version) + ", this module reads " +
                  std::to_string(kImageFormatVersion));
    }
    if (h.header_bytes != sizeof(ImageHeader)) return fail("header of an unknown size");
    if (h.file_bytes != size_) {
      return fail("truncated or extended: " + std::to_string(size_) + " bytes, the header says " +
                  std::to_string(h.file_bytes));
    }
    return true;
  }

  bool checksum(const ImageHeader& h) {
    ImageHeader zeroed = h;
    zeroed.checksum = 0;
    ContentHash sum;
    sum.update(&zeroed, sizeof(zeroed));
    sum.update(data_ + sizeof(ImageHeader), size_ - sizeof(ImageHeader));
    if (sum.digest() != h.checksum) return fail("checksum mismatch: the image is damaged");
    return true;
  }

  // A section within the file, aligned, of whole elements.
  bool section(const ImageSection& s, size_t element, const char* what, const void*& out) {
    if (s.bytes == 0) {
      out = nullptr;
      return true;
    }
    if (s.offset % kSectionAlign != 0 || s.offset < sizeof(ImageHeader) || s.offset > size_ ||
        s.bytes > size_ - s.offset || s.bytes % element != 0) {
      return fail(std::string("bad ") + what + " section");
    }
    out = data_ + s.offset;
    return true;
  }

  bool family(const ImageFamily& f, bool v6, size_t type_count, TrieSections& t) {
    if (f.top_bits < 1 || f.top_bits > kMaxTopBits) return fail("bad top array size");
    if ((v6 ? f.lead_bits + f.top_bits > 128 : f.lead_bits != 0)) return fail("bad lead");
    t.lead_bits = f.lead_bits;
    t.lead_hi = f.lead_hi;
    t.lead_lo = f.lead_lo;
    t.outside = f.outside;
    const void* p = nullptr;
    if (!section(f.top, sizeof(uint32_t), "top", p)) return false;
    if (f.top.bytes != (uint64_t(1) << f.top_bits) * sizeof(uint32_t))
      return fail("bad top array size");
    t.top_bits = f.top_bits;
    t.top = static_cast<const uint32_t*>(p);
    if (!section(f.nodes, sizeof(TrieNode), "nodes", p)) return false;
    t.nodes = static_cast<const TrieNode*>(p);
    t.node_count = size_t(f.nodes.bytes / sizeof(TrieNode));
    if (!section(f.leaves, sizeof(uint32_t), "leaves", p)) return false;
    t.leaves = static_cast<const uint32_t*>(p);
    t.leaf_count = size_t(f.leaves.bytes / sizeof(uint32_t));
    if (!section(f.pool, 2 * sizeof(uint32_t), "pool", p)) return false;
    t.pool = static_cast<const uint32_t*>(p);
    t.pool_words = size_t(f.pool.bytes / sizeof(uint32_t));
    if (t.node_count > kNodeIndexMask || t.pool_words / 2 > size_t(kPoolIndexMask) + 1) {
      return fail("too many nodes or records");
    }
    return Structure(*this, t, v6, type_count).check();
  }

  // IPv4's direct index: none, or every /24's byte either kDeeper or the
  // index of one of its results, each a match of /24 or shorter (or none).
  bool direct(const ImageSection& slots, const ImageSection& results, size_t type_count,
              DirectIndex& d) {
    if (slots.bytes == 0 && results.bytes == 0) return true;
    const void* p = nullptr;
    if (slots.bytes != DirectIndex::kSlots || !section(slots, 1, "direct index", p)) {
      return fail("bad direct index");
    }
    const auto* bytes = static_cast<const uint8_t*>(p);
    if (results.bytes == 0 || results.bytes > DirectIndex::kMaxResults * sizeof(uint32_t) ||
        !section(results, sizeof(uint32_t), "direct results", p)) {
      return fail("bad direct index results");
    }
    const auto* list = static_cast<const uint32_t*>(p);
    const size_t count = size_t(results.bytes / sizeof(uint32_t));
    for (size_t i = 0; i < count; ++i) {
      const Result r = list[i];
      if (r != 0 && (r > kMaxResult || (r >> 8) == 0 || (r >> 8) - 1 >= type_count ||
                     result_len(r) > DirectIndex::kBits)) {
        return fail("bad result in the direct index");
      }
    }
    // The largest byte other than kDeeper, without a branch per byte.
    uint8_t largest = 0;
    for (size_t i = 0; i < DirectIndex::kSlots; ++i) {
      const uint8_t b = bytes[i] == DirectIndex::kDeeper ? 0 : bytes[i];
      largest = b > largest ? b : largest;
    }
    if (largest >= count) return fail("bad entry in the direct index");
    d.slots = bytes;
    d.results = list;
    d.result_count = count;
    return true;
  }

  bool fail(const std::string& why) {
    error_ = why;
    return false;
  }

 private:
  // Every entry a lookup can reach: results name a type and a length of the
  // family; nodes, leaves and records lie within their arrays; a node
  // reached from node i has an index above i, a skip is reached once and
  // never leads to another: lookups end.
  class Structure {
   public:
    Structure(Validator& v, const TrieSections& t, bool v6, size_t types)
        : v_(v),
          t_(t),
          v6_(v6),
          types_(types),
          max_len_(v6 ? 128 : 32),
          skip_seen_(t.pool_words / 2, false) {}

    bool check() {
      // Off the lead: a result or a list, nothing else.
      if (t_.outside & kNodeTag) return v_.fail("bad lead entry");
      if (t_.outside & kPoolTag) {
        size_t word = size_t(t_.outside & kPoolIndexMask) * 2;
        if (word >= t_.pool_words || record::kind(t_.pool[word]) != record::Kind::List) {
          return v_.fail("bad lead entry");
        }
        if (!bucket(word)) return false;
      } else if (!result(t_.outside)) {
        return false;
      }
      const size_t top = size_t(1) << t_.top_bits;
      for (size_t i = 0; i < top; ++i) {
        if (!entry(t_.top[i], kFromTop)) return false;
      }
      for (size_t i = 0; i < t_.node_count; ++i) {
        if (!node(i)) return false;
      }
      return true;
    }

   private:
    static constexpr size_t kFromTop = ~size_t(0);

    bool result(uint32_t r) {
      if (r == 0) return true;
      if (r > kMaxResult || (r >> 8) == 0 || (r >> 8) - 1 >= types_ || result_len(r) > max_len_) {
        return v_.fail("bad result in the table");
      }
      return true;
    }

    bool entry(uint32_t e, size_t from) {
      if (e & kNodeTag) {
        size_t index = e & kNodeIndexMask;
        if (index >= t_.node_count || (from != kFromTop && index <= from)) {
          return v_.fail("bad node reference");
        }
        return true;
      }
      if (e & kPoolTag) return record(size_t(e & kPoolIndexMask) * 2, from);
      return result(e);
    }

    bool node(size_t i) {
      const TrieNode& n = t_.nodes[i];
      size_t nchildren = size_t(__builtin_popcountll(n.children));
      if (nchildren > 0 && (n.child_base <= i || nchildren > t_.node_count ||
                            n.child_base > t_.node_count - nchildren)) {
        return v_.fail("bad child reference");
      }
      if (n.children == ~uint64_t(0)) return true;
      // The first slot that is not a child must start a run: every leaf
      // slot then has a run at or before it.
      unsigned first_leaf = unsigned(__builtin_ctzll(~n.children));
      if (!(n.leaf_starts & (uint64_t(1) << first_leaf))) return v_.fail("bad leaf map");
      size_t runs = size_t(__builtin_popcountll(n.leaf_starts));
      size_t outside = runs > kInlineLeaves ? runs - kInlineLeaves : 0;
      if (outside > 0 && (n.leaf_base > t_.leaf_count || outside > t_.leaf_count - n.leaf_base)) {
        return v_.fail("bad leaf reference");
      }
      for (size_t k = 0; k < runs; ++k) {
        uint32_t e =
            k < kInlineLeaves ? n.inline_leaves[k] : t_.leaves[n.leaf_base + k - kInlineLeaves];
        if (e & kNodeTag) return v_.fail("a node in a leaf");
        if (!entry(e, i)) return false;
      }
      return true;
    }

    // A line (IPv4) or a list: every entry a lookup scans is a prefix of
    // the family, 1 bit long at least (lookups shift by the width less it).
    bool bucket(size_t word) {
      if (word > t_.pool_words || t_.pool_words - word < record::kHeaderWords) {
        return v_.fail("bad record reference");
      }
      const uint32_t* rec = t_.pool + word;
      const record::Kind kind = record::kind(rec[0]);
      const size_t n = record::count(rec[0]);
      if (kind == record::Kind::Line && !v6_) return line(word, n);
      size_t key_words = record::key_words(v6_, rec[0]);
      if (kind != record::Kind::List) {
        return v_.fail("bad record kind");
      }
      if (!v6_ && (rec[0] & record::kWideKeys)) return v_.fail("bad record flags");
      if ((t_.pool_words - word - record::kHeaderWords) / (key_words + 1) < n) {
        return v_.fail("record runs past the pool");
      }
      if (!result(rec[1])) return false;
      const unsigned longest = !v6_ ? 32 : (rec[0] & record::kWideKeys) ? 128 : 64;
      const uint32_t* results = rec + record::kHeaderWords + n * key_words;
      for (size_t k = 0; k < n; ++k) {
        unsigned len = result_len(results[k]);
        if (results[k] == 0 || len < 1 || len > longest) return v_.fail("bad bucket entry");
        if (!result(results[k])) return false;
      }
      return true;
    }

    // A line: 1 to 4 entries, each mask the prefix mask of its length;
    // lookups read 4 keys and 4 masks past its start whatever n.
    bool line(size_t word, size_t n) {
      if (n < 1 || n > record::kLineSlots || t_.pool_words - word < record::line_words(n)) {
        return v_.fail("bad line");
      }
      const uint32_t* keys = t_.pool + word + 1;
      const uint32_t* masks = keys + n;
      const uint32_t* results = masks + n;  // [0]: inherited
      if (!result(results[0])) return false;
      for (size_t k = 0; k < n; ++k) {
        Result r = results[k + 1];
        unsigned len = result_len(r);
        if (r == 0 || len < 1 || len > 32 || masks[k] != uint32_t(~uint64_t(0) << (32 - len))) {
          return v_.fail("bad line entry");
        }
        if (!result(r)) return false;
      }
      return true;
    }

    bool record(size_t word, size_t from) {
      if (word > t_.pool_words || t_.pool_words - word < record::kHeaderWords) {
        return v_.fail("bad record reference");
      }
      const uint32_t* rec = t_.pool + word;
      if (record::kind(rec[0]) != record::Kind::Skip) return bucket(word);
      if (skip_seen_[word / 2]) return v_.fail("a skip reached twice");
      skip_seen_[word / 2] = true;
      const unsigned depth = record::depth(rec[0]);
      if (depth < 1 || depth > (v6_ ? 127u : 32u)) return v_.fail("bad skip depth");
      const size_t key_words = v6_ ? record::kSkipKeyWordsV6 : record::kSkipKeyWordsV4;
      if (t_.pool_words - word - record::kHeaderWords < key_words)
        return v_.fail("record runs past the pool");
      const uint32_t next = rec[1];
      if (next & kNodeTag) {
        if (!entry(next, from)) return false;
      } else if (next & kPoolTag) {
        if (!bucket(size_t(next & kPoolIndexMask) * 2)) return false;
      } else if (!result(next)) {
        return false;
      }
      // What a lookup scans when it leaves the path: a list.
      const size_t off_path = word + record::kHeaderWords + key_words;
      if (off_path >= t_.pool_words || record::kind(t_.pool[off_path]) != record::Kind::List) {
        return v_.fail("bad skip");
      }
      return bucket(off_path);
    }

    Validator& v_;
    const TrieSections& t_;
    bool v6_;
    size_t types_;
    unsigned max_len_;
    std::vector<bool> skip_seen_;
  };

  const unsigned char* data_;
  size_t size_;
  std::string& error_;
};

// Builds the table over validated bytes.
std::unique_ptr<PrefixTable> open_validated(std::unique_ptr<ImageBytes> bytes,
                                            const ImageExpectation& expect, std::string& error) {
  const unsigned char* data = bytes->data();
  Validator v(data, bytes->size(), error);
  ImageHeader h;
  if (!v.header(h) || !v.checksum(h)) return nullptr;
  if (expect.check_identity && h.identity != expect.identity) {
    error = "built from other lists (or other versions of them)";
    return nullptr;
  }
  if (h.type_count > kMaxTypes) {
    error = "too many types";
    return nullptr;
  }
  TableParts parts;
  parts.type_count = size_t(h.type_count);
  parts.count_v4 = h.count_v4;
  parts.count_v6 = h.count_v6;
  const void* p = nullptr;
  if (!v.section(h.name_offsets, sizeof(uint32_t), "names", p)) return nullptr;
  parts.name_offsets = static_cast<const uint32_t*>(p);
  if (!v.section(h.names, 1, "names", p)) return nullptr;
  parts.names = static_cast<const char*>(p);
  parts.names_bytes = size_t(h.names.bytes);
  if (!v.section(h.type_counts, sizeof(uint32_t), "type counts", p)) return nullptr;
  parts.type_counts = static_cast<const uint32_t*>(p);
  if (h.name_offsets.bytes != h.type_count * sizeof(uint32_t) ||
      h.type_counts.bytes != h.type_count * 2 * sizeof(uint32_t)) {
    v.fail("type sections do not match the type count");
    return nullptr;
  }
  uint64_t sums[2] = {0, 0};
  for (size_t i = 0; i < parts.type_count; ++i) {
    uint32_t off = parts.name_offsets[i];
    const void* nul = off < parts.names_bytes
                          ? std::memchr(parts.names + off, '\0', parts.names_bytes - off)
                          : nullptr;
    if (nul == nullptr || !valid_type_name(parts.names + off)) {
      v.fail("bad type name");
      return nullptr;
    }
    sums[0] += parts.type_counts[2 * i];
    sums[1] += parts.type_counts[2 * i + 1];
  }
  if (sums[0] != h.count_v4 || sums[1] != h.count_v6) {
    v.fail("type counts do not add up");
    return nullptr;
  }
  std::vector<Warning> warnings;
  if (!v.section(h.warnings, 4, "warnings", p) ||
      (p != nullptr && !decode_warnings(static_cast<const unsigned char*>(p),
                                        size_t(h.warnings.bytes), warnings))) {
    v.fail("bad warnings section");
    return nullptr;
  }
  if (!v.family(h.v4, false, parts.type_count, parts.v4) ||
      !v.family(h.v6, true, parts.type_count, parts.v6) ||
      !v.direct(h.v4_direct_slots, h.v4_direct_results, parts.type_count, parts.v4_direct)) {
    return nullptr;
  }
  return std::make_unique<PrefixTable>(std::move(bytes), parts, info_of(h), std::move(warnings));
}

// Image bytes in memory this process mapped: the image file itself, shared
// with its other readers, or private memory the file was read into
// (read-only once filled).
class MappedRegion : public ImageBytes {
 public:
  enum class Backing { ImageFile, PrivateCopy };
  MappedRegion(void* base, size_t size, Backing backing)
      : base_(base), size_(size), backing_(backing) {}
  ~MappedRegion() override { ::munmap(base_, size_); }
  bool mapped() const override { return backing_ == Backing::ImageFile; }
  const unsigned char* data() const override { return static_cast<const unsigned char*>(base_); }
  size_t size() const override { return size_; }

 private:
  void* base_;
  size_t size_;
  Backing backing_;
};

class BorrowedBytes : public ImageBytes {
 public:
  BorrowedBytes(const void* data, size_t size) : data_(data), size_(size) {}
  bool mapped() const override { return false; }
  const unsigned char* data() const override { return static_cast<const unsigned char*>(data_); }
  size_t size() const override { return size_; }

 private:
  const void* data_;
  size_t size_;
};

}  // namespace

bool write_image(int fd, const PrefixTable& table, std::string& error, ImageDigest* digest) {
  const TableParts& parts = table.parts();
  const TableInfo& info = table.info();
  std::string warnings = encode_warnings(table.warnings());

  ImageHeader h;
  std::memset(&h, 0, sizeof(h));
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.format_version = kImageFormatVersion;
  h.header_bytes = sizeof(ImageHeader);
  h.byte_order = kByteOrderMark;
  put_info(h, info);
  h.count_v4 = parts.count_v4;
  h.count_v6 = parts.count_v6;
  h.type_count = parts.type_count;

  Layout layout;
  h.v4 = layout.place_family(parts.v4);
  h.v6 = layout.place_family(parts.v6);
  h.name_offsets = layout.place(parts.name_offsets, parts.type_count * sizeof(uint32_t));
  h.names = layout.place(parts.names, parts.names_bytes);
  h.type_counts = layout.place(parts.type_counts, parts.type_count * 2 * sizeof(uint32_t));
  h.warnings = layout.place(warnings.data(), warnings.size());
  const DirectIndex& direct = parts.v4_direct;
  if (direct.slots != nullptr) {
    h.v4_direct_slots = layout.place(direct.slots, DirectIndex::kSlots);
    h.v4_direct_results = layout.place(direct.results, direct.result_count * sizeof(uint32_t));
  }
  h.file_bytes = layout.end();
  h.checksum = checksum_of(h, layout);

  static const unsigned char kZeros[kSectionAlign] = {};
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> sha(digest ? EVP_MD_CTX_new() : nullptr,
                                                         EVP_MD_CTX_free);
  EVP_MD_CTX* sum = sha.get();
  if (digest && (!sum || EVP_DigestInit_ex(sum, EVP_sha256(), nullptr) != 1)) {
    error = "cannot compute the image's digest";
    return false;
  }
  if (!write_all(fd, &h, sizeof(h), error, sum)) return false;
  uint64_t at = sizeof(h);
  for (const Piece& p : layout.pieces()) {
    if (!write_all(fd, kZeros, size_t(p.offset - at), error, sum)) return false;
    if (!write_all(fd, p.data, size_t(p.bytes), error, sum)) return false;
    at = p.offset + p.bytes;
  }
  if (!write_all(fd, kZeros, size_t(layout.end() - at), error, sum)) return false;
  unsigned int length = 0;
  if (sum && EVP_DigestFinal_ex(sum, digest->bytes, &length) != 1) {
    error = "cannot compute the image's digest";
    return false;
  }
  return true;
}

bool ImageDigest::operator==(const ImageDigest& o) const {
  return std::memcmp(bytes, o.bytes, sizeof bytes) == 0;
}

std::unique_ptr<PrefixTable> map_image(int fd, const ImageExpectation& expect, std::string& error,
                                       ImageAccess access) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    error = std::string("cannot examine: ") + std::strerror(errno);
    return nullptr;
  }
  if (!S_ISREG(st.st_mode)) {
    error = "not a regular file";
    return nullptr;
  }
  if (st.st_size < off_t(sizeof(ImageHeader)) || uint64_t(st.st_size) > kMaxImageBytes) {
    error = "not the size of an image (" + std::to_string(uint64_t(st.st_size)) + " bytes)";
    return nullptr;
  }
  size_t size = size_t(st.st_size);
  std::unique_ptr<ImageBytes> bytes;
  if (access == ImageAccess::Shared) {
    void* base = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
      error = std::string("cannot map: ") + std::strerror(errno);
      return nullptr;
    }
    bytes = std::make_unique<MappedRegion>(base, size, MappedRegion::Backing::ImageFile);
  } else {
    void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
      error = std::string("cannot allocate: ") + std::strerror(errno);
      return nullptr;
    }
    auto copy = std::make_unique<MappedRegion>(base, size, MappedRegion::Backing::PrivateCopy);
    size_t got = 0;
    while (got < size) {
      ssize_t n = ::pread(fd, static_cast<char*>(base) + got, size - got, off_t(got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error = n < 0 ? std::string("cannot read: ") + std::strerror(errno)
                      : "shorter than it was (changed while read)";
        return nullptr;
      }
      got += size_t(n);
    }
    ::mprotect(base, size, PROT_READ);
    bytes = std::move(copy);
  }
  if (expect.digest) {
    ImageDigest seen;
    if (EVP_Digest(bytes->data(), bytes->size(), seen.bytes, nullptr, EVP_sha256(), nullptr) != 1 ||
        seen != *expect.digest) {
      error = "not the bytes the child that built it wrote (changed since)";
      return nullptr;
    }
  }
  return open_validated(std::move(bytes), expect, error);
}

std::unique_ptr<PrefixTable> open_image_bytes(const void* data, size_t size,
                                              const ImageExpectation& expect, std::string& error) {
  return open_validated(std::make_unique<BorrowedBytes>(data, size), expect, error);
}

bool reseal_image(void* data, size_t size) {
  if (size < sizeof(ImageHeader)) return false;
  ImageHeader h;
  std::memcpy(&h, data, sizeof(h));
  h.checksum = 0;
  ContentHash sum;
  sum.update(&h, sizeof(h));
  sum.update(static_cast<const unsigned char*>(data) + sizeof(h), size - sizeof(h));
  h.checksum = sum.digest();
  std::memcpy(data, &h, sizeof(h));
  return true;
}

bool read_image_info(int fd, TableInfo& info, std::string& error) {
  ImageHeader h;
  ssize_t n = ::pread(fd, &h, sizeof(h), 0);
  if (n != ssize_t(sizeof(h))) {
    error = "too short to be an image";
    return false;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    error = std::string("cannot examine: ") + std::strerror(errno);
    return false;
  }
  // Only the header is at hand: check it against the file's real size.
  if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0 || h.byte_order != kByteOrderMark ||
      h.format_version != kImageFormatVersion || h.header_bytes != sizeof(ImageHeader) ||
      h.file_bytes != uint64_t(st.st_size)) {
    error = "not an image of this format";
    return false;
  }
  info = info_of(h);
  return true;
}

}  // namespace cidr
