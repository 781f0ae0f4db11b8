#include "resend_store.h"

#include <algorithm>
#include <cstring>

namespace delivery {

namespace {
constexpr size_t kBlockBytes = 64 * 1024;
}  // namespace

void ResendStore::new_block(size_t bytes) {
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
  writing_ = &blocks_.back();  // a deque's elements stay put as it grows
}

void ResendStore::add(const RecordView& r, Clock::time_point sent) {
  const size_t n = r.tag.size() + r.body.size();
  if (!writing_ || writing_->capacity - writing_->used < n) new_block(n);
  Block& b = *writing_;
  char* at = b.data.get() + b.used;
  if (!r.tag.empty()) std::memcpy(at, r.tag.data(), r.tag.size());
  if (!r.body.empty()) std::memcpy(at + r.tag.size(), r.body.data(), r.body.size());
  lines_.push_back(
      Line{at, static_cast<uint32_t>(r.tag.size()), static_cast<uint32_t>(r.body.size()), sent});
  b.used += n;  // after the one step that may throw
  ++b.lines;
  bytes_ += lines_.back().cost();
}

void ResendStore::forget(size_t max_bytes, Clock::time_point keep_since) {
  while (!lines_.empty() && (bytes_ > max_bytes || lines_.front().sent < keep_since)) {
    bytes_ -= lines_.front().cost();
    lines_.pop_front();
    // Lines leave in the order they came, so the oldest block empties first.
    if (--blocks_.front().lines == 0) {
      if (writing_ == &blocks_.front()) writing_ = nullptr;
      Block done = std::move(blocks_.front());
      blocks_.pop_front();
      if (done.capacity == kBlockBytes) spare_ = std::move(done);
    }
  }
}

void ResendStore::clear() {
  lines_.clear();
  writing_ = nullptr;
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
