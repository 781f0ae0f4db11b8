#include "resend_store.h"

#include <algorithm>
#include <cstring>

namespace delivery {

namespace {
constexpr size_t kBlockBytes = 64 * 1024;
}  // namespace

ResendStore::Block& ResendStore::room_for(size_t bytes) {
  if (!blocks_.empty() && blocks_.back().capacity - blocks_.back().used >= bytes)
    return blocks_.back();
  Block b;
  if (bytes <= kBlockBytes && spare_.data) {
    b = std::move(spare_);
    spare_ = Block();
  } else {
    // A line longer than a block gets a block of its own size.
    b.capacity = std::max(bytes, kBlockBytes);
    b.data.reset(new char[b.capacity]);  // not zeroed: every byte read was written
  }
  b.used = 0;
  b.lines = 0;
  blocks_.push_back(std::move(b));
  return blocks_.back();
}

void ResendStore::add(const Record& r, Clock::time_point sent) {
  const size_t n = r.tag.size() + r.body.size();
  Block& b = room_for(n);
  char* at = b.data.get() + b.used;
  if (!r.tag.empty()) std::memcpy(at, r.tag.data(), r.tag.size());
  if (!r.body.empty()) std::memcpy(at + r.tag.size(), r.body.data(), r.body.size());
  b.used += n;
  ++b.lines;
  lines_.push_back(
      Line{at, static_cast<uint32_t>(r.tag.size()), static_cast<uint32_t>(r.body.size()), sent});
  bytes_ += lines_.back().cost();
}

void ResendStore::forget(size_t max_bytes, Clock::time_point keep_since) {
  while (!lines_.empty() && (bytes_ > max_bytes || lines_.front().sent < keep_since)) {
    bytes_ -= lines_.front().cost();
    lines_.pop_front();
    // Lines leave in the order they came, so the oldest block empties first.
    if (--blocks_.front().lines == 0) {
      Block done = std::move(blocks_.front());
      blocks_.pop_front();
      if (done.capacity == kBlockBytes) spare_ = std::move(done);
    }
  }
}

void ResendStore::clear() {
  lines_.clear();
  while (!blocks_.empty()) {
    if (blocks_.front().capacity == kBlockBytes) spare_ = std::move(blocks_.front());
    blocks_.pop_front();
  }
  bytes_ = 0;
}

void ResendStore::take_from(size_t i, std::vector<Record>& out, std::vector<Record>& spare) {
  for (size_t k = i; k < lines_.size(); ++k) {
    const Line& line = lines_[k];
    if (spare.empty()) {
      out.emplace_back();
    } else {
      out.push_back(std::move(spare.back()));
      spare.pop_back();
    }
    Record& r = out.back();
    r.tag.assign(line.at, line.tag_len);
    r.body.assign(line.at + line.tag_len, line.body_len);
  }
  clear();
}

}  // namespace delivery
