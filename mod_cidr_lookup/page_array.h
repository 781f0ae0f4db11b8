// Growable arrays of plain values, each in its own anonymous mapping.
//
// A std::vector that doubles copies everything into a new block while the
// old one is still held, so building a table of a million prefixes would
// briefly need twice the memory of each of its arrays. A PageArray grows
// with mremap(): the kernel moves the pages, nothing is copied and nothing
// is held twice, so the peak memory of a load is what the arrays hold.
// Arrays of 2 MiB and more are offered to the kernel for transparent huge
// pages (lookups probe big tables at random; 4 KiB pages would also miss
// the TLB on nearly every probe).
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace cidr {

// The mapping primitives (page_array.cpp); they throw std::bad_alloc.
void* map_pages(size_t bytes);
void* remap_pages(void* p, size_t old_bytes, size_t new_bytes);
void unmap_pages(void* p, size_t bytes);
size_t page_round(size_t bytes);
// A copy of `bytes` at p in a fresh mapping that the kernel can back with
// huge pages (2 MiB aligned, advised), or null when too small to matter.
void* huge_page_copy(const void* p, size_t bytes, size_t& mapped);

template <typename T>
class PageArray {
  static_assert(std::is_trivially_copyable<T>::value, "PageArray holds plain values");

 public:
  PageArray() = default;
  ~PageArray() { release(); }
  PageArray(const PageArray&) = delete;
  PageArray& operator=(const PageArray&) = delete;
  PageArray(PageArray&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        mapped_(std::exchange(o.mapped_, 0)) {}
  PageArray& operator=(PageArray&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      mapped_ = std::exchange(o.mapped_, 0);
    }
    return *this;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t bytes() const { return size_ * sizeof(T); }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T& back() { return data_[size_ - 1]; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }

  void reserve(size_t n) {
    if (n * sizeof(T) > mapped_) grow_to(n * sizeof(T));
  }
  void push_back(const T& v) {
    if ((size_ + 1) * sizeof(T) > mapped_) grow_to((size_ + 1) * sizeof(T));
    data_[size_++] = v;
  }
  // New elements are zero.
  void resize(size_t n) {
    reserve(n);
    if (n > size_) std::memset(static_cast<void*>(data_ + size_), 0, (n - size_) * sizeof(T));
    size_ = n;
  }
  void assign(size_t n, const T& v) {
    resize(n);
    for (size_t i = 0; i < n; ++i) data_[i] = v;
  }
  // For arrays done growing that lookups probe at random: moves them onto
  // huge pages where the kernel offers them (one TLB entry per 2 MiB instead
  // of 512), giving back the pages past the end either way.
  void settle() {
    size_t mapped = 0;
    void* copy = huge_page_copy(data_, size_ * sizeof(T), mapped);
    if (copy == nullptr) {
      shrink_to_fit();
      return;
    }
    size_t size = size_;
    release();
    data_ = static_cast<T*>(copy);
    size_ = size;
    mapped_ = mapped;
  }

  // Gives back the pages past the end.
  void shrink_to_fit() {
    size_t want = page_round(size_ * sizeof(T));
    if (want == mapped_) return;
    if (want == 0) {
      release();
      return;
    }
    data_ = static_cast<T*>(remap_pages(data_, mapped_, want));
    mapped_ = want;
  }
  void release() {
    if (data_ != nullptr) unmap_pages(data_, mapped_);
    data_ = nullptr;
    size_ = 0;
    mapped_ = 0;
  }

 private:
  // Virtual space is cheap: grow it geometrically, so that pushing n values
  // costs O(log n) remaps; only touched pages take memory.
  void grow_to(size_t min_bytes) {
    size_t want = mapped_ == 0 ? page_round(min_bytes) : mapped_;
    while (want < min_bytes) want *= 2;
    want = page_round(want);
    data_ = static_cast<T*>(data_ == nullptr ? map_pages(want) : remap_pages(data_, mapped_, want));
    mapped_ = want;
  }

  T* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;  // bytes
};

}  // namespace cidr
