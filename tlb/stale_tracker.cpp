#include "tlb/stale_tracker.h"

#include "tlb/translation_unit.h"

namespace mmusim::tlb {

void StaleTracker::on_remove(const TlbEntry& entry) {
  Holders& holders = holders_of(entry.pte_addr);
  if (holders.entries != 0) --holders.entries;
  if (!entry.stale) return;
  const std::uint64_t base = entry.base().value();
  auto stale = stale_by_va_.find(base);
  if (stale != stale_by_va_.end() && --stale->second.count == 0) {
    stale_by_va_.erase(stale);
    large_stale_.erase(base);
  }
}

void StaleTracker::leaf_changed(mmu::PhysAddr pte_addr, mmu::VirtAddr va, mmu::PageSize size) {
  ++stats_.leaf_changes;
  const Holders* found = find_holders(pte_addr.value());
  if (found == nullptr) return;
  const Holders holders = *found;
  ++stats_.leaf_changes_cached;
  std::uint64_t marked = 0;
  if (holders.several) {
    for (TranslationUnit* unit : units_)
      marked += unit->mark_stale(va, size, pte_addr);
  } else {
    // No other CPU has an entry from this leaf: there is nothing to mark elsewhere.
    marked = holders.unit->mark_stale(va, size, pte_addr);
  }
  stats_.entries_marked_stale += marked;
  if (marked != 0) {
    StalePages& pages = stale_by_va_[va.value()];
    pages.count += marked;
    pages.bytes = mmu::page_bytes(size);
    if (pages.bytes > mmu::kPageBytes) {
      large_stale_.insert(va.value());
    } else {
      large_stale_.erase(va.value());
    }
  }
}

std::uint64_t StaleTracker::stale_entries_in(std::uint64_t start, std::uint64_t end) const {
  if (start >= end || stale_by_va_.empty()) return 0;
  std::uint64_t entries = 0;
  auto count = [&](std::uint64_t page, const StalePages& pages) {
    if (page + pages.bytes > start) entries += pages.count;
  };
  // Any page starting less than 4 KiB below `start` may reach into the range.
  const std::uint64_t near = start >= mmu::kPageBytes ? start - mmu::kPageBytes + 1 : 0;
  for (auto it = stale_by_va_.lower_bound(near); it != stale_by_va_.end() && it->first < end;
       ++it) {
    count(it->first, it->second);
  }
  // Below that, only a large page can (one starting up to 1 GiB below `start`).
  const std::uint64_t from =
      start >= (std::uint64_t{1} << 30) ? start - (std::uint64_t{1} << 30) + 1 : 0;
  for (auto it = large_stale_.lower_bound(from); it != large_stale_.end() && *it < near; ++it) {
    count(*it, stale_by_va_.at(*it));
  }
  return entries;
}

}  // namespace mmusim::tlb
