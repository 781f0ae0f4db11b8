#include "page_array.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

namespace cidr {
namespace {

constexpr size_t kHugePage = size_t(2) << 20;

size_t page_size() { return size_t(::sysconf(_SC_PAGESIZE)); }

void advise(void* p, size_t bytes) {
  // Advice only: the kernel may ignore it, and that is fine.
  if (bytes >= kHugePage) ::madvise(p, bytes, MADV_HUGEPAGE);
}

}  // namespace

size_t page_round(size_t bytes) {
  size_t page = page_size();
  return (bytes + page - 1) / page * page;
}

void* map_pages(size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  advise(p, bytes);
  return p;
}

void* remap_pages(void* p, size_t old_bytes, size_t new_bytes) {
  void* q = ::mremap(p, old_bytes, new_bytes, MREMAP_MAYMOVE);
  if (q == MAP_FAILED) throw std::bad_alloc();
  advise(q, new_bytes);
  return q;
}

void unmap_pages(void* p, size_t bytes) { ::munmap(p, bytes); }

void* huge_page_copy(const void* p, size_t bytes, size_t& mapped) {
  if (bytes < kHugePage) return nullptr;
  // Map one huge page more than needed, then cut the mapping down to a
  // huge-page-aligned range of whole huge pages.
  size_t want = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* raw =
      ::mmap(nullptr, want + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  uintptr_t start = (uintptr_t(raw) + kHugePage - 1) / kHugePage * kHugePage;
  size_t before = start - uintptr_t(raw);
  if (before > 0) ::munmap(raw, before);
  ::munmap(reinterpret_cast<void*>(start + want), kHugePage - before);
  void* copy = reinterpret_cast<void*>(start);
  advise(copy, want);
  std::memcpy(copy, p, bytes);
  mapped = want;
  return copy;
}

}  // namespace cidr
