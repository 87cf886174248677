#include "tlb/stale_tracker.h"

#include "tlb/translation_unit.h"

namespace mmusim::tlb {

void StaleTracker::on_remove(const TlbEntry& entry) {
  auto it = live_.find(entry.pte_addr);
  if (it != live_.end() && --it->second == 0) live_.erase(it);
  if (!entry.stale) return;
  auto stale = stale_by_va_.find(entry.base().value());
  if (stale != stale_by_va_.end() && --stale->second.count == 0) stale_by_va_.erase(stale);
}

void StaleTracker::leaf_changed(mmu::PhysAddr pte_addr, mmu::VirtAddr va, mmu::PageSize size) {
  ++stats_.leaf_changes;
  if (live_.count(pte_addr.value()) == 0) return;
  ++stats_.leaf_changes_cached;
  std::uint64_t marked = 0;
  for (TranslationUnit* unit : units_)
    marked += unit->mark_stale(va, size, pte_addr);
  stats_.entries_marked_stale += marked;
  if (marked != 0) {
    StalePages& pages = stale_by_va_[va.value()];
    pages.count += marked;
    pages.bytes = mmu::page_bytes(size);
  }
}

std::uint64_t StaleTracker::stale_entries_in(std::uint64_t start, std::uint64_t end) const {
  if (start >= end || stale_by_va_.empty()) return 0;
  // A page starting up to 1 GiB below `start` may still reach into the range.
  const std::uint64_t from =
      start >= (std::uint64_t{1} << 30) ? start - (std::uint64_t{1} << 30) + 1 : 0;
  std::uint64_t entries = 0;
  for (auto it = stale_by_va_.lower_bound(from); it != stale_by_va_.end() && it->first < end;
       ++it) {
    if (it->first + it->second.bytes > start) entries += it->second.count;
  }
  return entries;
}

}  // namespace mmusim::tlb
