#include "table_holder.h"

#include <utility>

namespace cidr {

TableHolder::TableHolder(std::shared_ptr<const PrefixTable> table, Switching switching)
    : switching_(switching) {
  slots_[0].table.store(table.get());
  slots_[0].owner = std::move(table);
}

// Every access is sequentially consistent: a lease increments its slot's
// count and then checks that the slot is still current, the reload thread
// makes another slot current and then reads the old slot's count. One of
// the two always sees the other, so a table is never freed under a lease.
TableHolder::Lease TableHolder::acquire() const noexcept {
  if (switching_ == Switching::Never) return Lease{slots_[0].table.load(), kFixedSlot};
  for (;;) {
    unsigned i = current_.load();
    slots_[i].leases.fetch_add(1);
    if (current_.load() == i) return Lease{slots_[i].table.load(), i};
    slots_[i].leases.fetch_sub(1);
  }
}

void TableHolder::release(unsigned slot) const noexcept {
  if (slot < kSlots) slots_[slot].leases.fetch_sub(1);
}

bool TableHolder::install(std::shared_ptr<const PrefixTable> table) {
  retire();
  const unsigned cur = current_.load();
  for (unsigned i = 0; i < kSlots; ++i) {
    if (i == cur || slots_[i].owner) continue;
    slots_[i].table.store(table.get());
    slots_[i].owner = std::move(table);
    current_.store(i);
    return true;
  }
  return false;
}

void TableHolder::retire() {
  const unsigned cur = current_.load();
  for (unsigned i = 0; i < kSlots; ++i) {
    if (i == cur || !slots_[i].owner || slots_[i].leases.load() != 0) continue;
    slots_[i].table.store(nullptr);
    slots_[i].owner.reset();
  }
}

const PrefixTable& TableHolder::current() const { return *slots_[current_.load()].table.load(); }

}  // namespace cidr
