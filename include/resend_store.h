// Lines a non-acknowledging sink (syslog over a stream) sent and may have to
// send again if the connection turns out to have died under them.
//
// The lines' bytes lie back to back in 64 KiB blocks, with each line's
// sizes and send time beside them, so that keeping a line costs one copy of
// its bytes and no allocation of its own; the records they came from go
// back to the sender's spares. Forgetting the oldest lines gives their
// block back once it holds none (one block is kept for reuse): no byte is
// ever moved. Sender thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "delivery.h"

namespace delivery {

class ResendStore {
 public:
  void add(const RecordView& r, Clock::time_point sent);
  // Forgets lines from the oldest on while more than `max_bytes` are kept or
  // the oldest was sent before `keep_since`; what a forgotten line costs no
  // longer counts.
  void forget(size_t max_bytes, Clock::time_point keep_since);
  void clear();

  bool empty() const { return lines_.empty(); }
  size_t size() const { return lines_.size(); }
  // What the kept lines cost (bytes and bookkeeping), as RecordQueue counts.
  size_t bytes() const { return bytes_; }
  // Of the i-th kept line, oldest first.
  Clock::time_point sent_at(size_t i) const { return lines_[i].sent; }
  size_t body_size(size_t i) const { return lines_[i].body_len; }

  // Appends the kept lines from the i-th on to `out` as records (their
  // memory taken from the back of `spare` while it has any), then forgets
  // every line.
  void take_from(size_t i, std::vector<Record>& out, std::vector<Record>& spare);

 private:
  struct Block {
    std::unique_ptr<char[]> data;
    size_t capacity = 0;
    size_t used = 0;
    size_t lines = 0;  // kept lines whose bytes are here
  };
  struct Line {
    const char* at;  // tag, then body, in a block of blocks_
    uint32_t tag_len;
    uint32_t body_len;
    Clock::time_point sent;
    size_t cost() const { return tag_len + body_len + sizeof(Record); }
  };
  // Makes the block the next `bytes` go into, when the last has no room.
  void new_block(size_t bytes);

  std::deque<Line> lines_;    // oldest first
  std::deque<Block> blocks_;  // oldest first; the last one is written to
  Block* writing_ = nullptr;  // blocks_.back(), or null
  Block spare_;               // an emptied standard block, for reuse
  size_t bytes_ = 0;
};

}  // namespace delivery
