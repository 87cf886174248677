#include "tlb/stale_tracker.h"

#include "tlb/translation_unit.h"

namespace mmusim::tlb {

void StaleTracker::leaf_changed(mmu::PhysAddr pte_addr, mmu::VirtAddr va, mmu::PageSize size) {
  ++stats_.leaf_changes;
  if (live_.count(pte_addr.value()) == 0) return;
  ++stats_.leaf_changes_cached;
  for (TranslationUnit* unit : units_) {
    stats_.entries_marked_stale += unit->mark_stale(va, size, pte_addr);
  }
}

}  // namespace mmusim::tlb
