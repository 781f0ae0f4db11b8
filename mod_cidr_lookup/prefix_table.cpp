#include "prefix_table.h"

#include <utility>

namespace cidr {

bool cpu_has_popcount() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("popcnt");
#else
  return true;
#endif
}

PrefixTable::PrefixTable(std::unique_ptr<TableStorage> storage, const TableParts& parts,
                         const TableInfo& info, std::vector<Warning> warnings)
    : storage_(std::move(storage)), parts_(parts), info_(info), warnings_(std::move(warnings)) {
  names_.reserve(parts_.type_count);
  for (size_t i = 0; i < parts_.type_count; ++i)
    names_.push_back(parts_.names + parts_.name_offsets[i]);
  direct_ = parts_.v4_direct;
  static_cast<TrieSections&>(v4_) = parts_.v4;
  static_cast<TrieSections&>(v6_) = parts_.v6;
}

void PrefixTable::settle() {
  storage_->settle(parts_);
  direct_ = parts_.v4_direct;
  static_cast<TrieSections&>(v4_) = parts_.v4;
  static_cast<TrieSections&>(v6_) = parts_.v6;
}

bool PrefixTable::lookup_bytes(const unsigned char* bytes, size_t size, Match& m) const {
  if (size == 4) {
    uint32_t v = (uint32_t(bytes[0]) << 24) | (uint32_t(bytes[1]) << 16) |
                 (uint32_t(bytes[2]) << 8) | uint32_t(bytes[3]);
    return lookup_v4(v, m);
  }
  if (size == 16) {
    U128 v = 0;
    for (size_t i = 0; i < 16; ++i) v = (v << 8) | bytes[i];
    return lookup_v6(v, m);
  }
  return false;
}

size_t PrefixTable::memory_bytes() const {
  return parts_.v4_direct.bytes() + parts_.v4.bytes() + parts_.v6.bytes() +
         parts_.type_count * 3 * sizeof(uint32_t) + parts_.names_bytes;
}

}  // namespace cidr
