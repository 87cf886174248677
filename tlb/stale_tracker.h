// The stale-translation check. Every TLB entry remembers the physical address of the leaf
// entry it was filled from; the tracker keeps a count of live TLB entries per leaf address
// across all CPUs. When the page-table editor changes or clears a present leaf that some TLB
// still caches, every such entry is marked stale; a later hit on it is a translation the
// software forgot to flush, and is counted.
#pragma once

#include <cstdint>
#include <map>
#include <unordered_map>
#include <vector>

#include "mmu/page_table.h"
#include "mmu/types.h"
#include "tlb/tlb_array.h"

namespace mmusim::tlb {

class TranslationUnit;

struct StaleTrackerStats {
  std::uint64_t leaf_changes = 0;
  std::uint64_t leaf_changes_cached = 0;
  std::uint64_t entries_marked_stale = 0;

  template <class V>
  void visit(V& v) {
    v.count("leaf_changes", leaf_changes, "present leaf PTEs changed or cleared");
    v.count("leaf_changes_cached", leaf_changes_cached,
            "of those, leaves some TLB held a translation from at the time");
    v.count("entries_marked_stale", entries_marked_stale,
            "TLB entries marked stale by those changes (each must be flushed before use)");
  }
};

class StaleTracker final : public mmu::PteObserver {
 public:
  void add_unit(TranslationUnit* unit) { units_.push_back(unit); }

  void on_fill(mmu::PhysAddr pte_addr) { ++live_[pte_addr.value()]; }
  void on_remove(const TlbEntry& entry);
  void leaf_changed(mmu::PhysAddr pte_addr, mmu::VirtAddr va, mmu::PageSize size) override;

  // Stale entries (over all CPUs) translating some address in [start, end): a range handed
  // out again while this is not zero may be reached through an old translation.
  [[nodiscard]] std::uint64_t stale_entries_in(std::uint64_t start, std::uint64_t end) const;

  // Live TLB entries (over all CPUs) filled from the leaf at `pte_addr`.
  [[nodiscard]] std::uint64_t live_entries(mmu::PhysAddr pte_addr) const {
    auto it = live_.find(pte_addr.value());
    return it == live_.end() ? 0 : it->second;
  }
  [[nodiscard]] const StaleTrackerStats& stats() const { return stats_; }

 private:
  std::vector<TranslationUnit*> units_;
  std::unordered_map<std::uint64_t, std::uint32_t> live_;
  // Stale entries by the first address of the page they map, with that page's size.
  struct StalePages {
    std::uint64_t count = 0;
    std::uint64_t bytes = 0;
  };
  std::map<std::uint64_t, StalePages> stale_by_va_;
  StaleTrackerStats stats_;
};

}  // namespace mmusim::tlb
