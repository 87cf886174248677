// The stale-translation check. Every TLB entry remembers the physical address of the leaf
// entry it was filled from; the tracker keeps a count of live TLB entries per leaf address
// across all CPUs, with the CPU holding them when it is only one. When the page-table editor
// changes or clears a present leaf that some TLB still caches, every such entry is marked
// stale; a later hit on it is a translation the software forgot to flush, and is counted.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "mmu/flat_map.h"
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

  // `unit` filled a TLB entry from the leaf at `pte_addr` (once per structure it went into).
  // Every TranslationUnit given this tracker must have been added with add_unit().
  void on_fill(mmu::PhysAddr pte_addr, TranslationUnit* unit) {
    Holders& holders = holders_of(pte_addr.value());
    if (holders.entries++ == 0) {
      holders.unit = unit;
      holders.several = false;
    } else if (holders.unit != unit) {
      holders.several = true;
    }
  }
  void on_remove(const TlbEntry& entry);
  void leaf_changed(mmu::PhysAddr pte_addr, mmu::VirtAddr va, mmu::PageSize size) override;

  // Stale entries (over all CPUs) translating some address in [start, end): a range handed
  // out again while this is not zero may be reached through an old translation.
  [[nodiscard]] std::uint64_t stale_entries_in(std::uint64_t start, std::uint64_t end) const;

  // Live TLB entries (over all CPUs) filled from the leaf at `pte_addr`.
  [[nodiscard]] std::uint64_t live_entries(mmu::PhysAddr pte_addr) const {
    const Holders* holders = find_holders(pte_addr.value());
    return holders == nullptr ? 0 : holders->entries;
  }
  [[nodiscard]] const StaleTrackerStats& stats() const { return stats_; }

 private:
  // The live entries filled from one leaf. A changed leaf is looked for only in the TLBs of
  // the CPU that holds them when it is one (the usual case: a CPU's own vmalloc areas), so
  // that a change costs nothing per CPU of the machine.
  struct Holders {
    std::uint32_t entries = 0;
    bool several = false;  // more than one CPU filled entries from it since it had none
    TranslationUnit* unit = nullptr;
  };

  // The holders of every leaf of one page-table page, by the leaf's index in it.
  using TableHolders = std::array<Holders, mmu::kPageBytes / 8>;

  // Every TLB fill and eviction updates the holders of a leaf: found through the page-table
  // page that holds it, the last one looked up first (a walk's fills and the evictions they
  // cause are mostly leaves of a few tables).
  Holders& holders_of(std::uint64_t pte_addr) {
    const std::uint64_t table = pte_addr >> mmu::kPageShift;
    if (table != last_table_ || last_holders_ == nullptr) {
      TableHolders*& slot = tables_[table];
      if (slot == nullptr) {
        storage_.push_back(std::make_unique<TableHolders>());
        slot = storage_.back().get();
      }
      last_table_ = table;
      last_holders_ = slot;
    }
    return (*last_holders_)[(pte_addr & (mmu::kPageBytes - 1)) / 8];
  }
  [[nodiscard]] const Holders* find_holders(std::uint64_t pte_addr) const {
    TableHolders* const* table = tables_.find(pte_addr >> mmu::kPageShift);
    if (table == nullptr) return nullptr;
    const Holders& holders = (**table)[(pte_addr & (mmu::kPageBytes - 1)) / 8];
    return holders.entries == 0 ? nullptr : &holders;
  }

  std::vector<TranslationUnit*> units_;
  mmu::FlatU64Map<TableHolders*> tables_;
  std::vector<std::unique_ptr<TableHolders>> storage_;  // one per page-table page ever cached
  std::uint64_t last_table_ = 0;
  TableHolders* last_holders_ = nullptr;
  // Stale entries by the first address of the page they map, with that page's size (the size
  // it was last marked with).
  struct StalePages {
    std::uint64_t count = 0;
    std::uint64_t bytes = 0;
  };
  std::map<std::uint64_t, StalePages> stale_by_va_;
  // The keys of stale_by_va_ whose pages are larger than 4 KiB: the only ones that can reach
  // more than 4 KiB above their start, so that a range query need not walk every stale page
  // of the 1 GiB below it.
  std::set<std::uint64_t> large_stale_;
  StaleTrackerStats stats_;
};

}  // namespace mmusim::tlb
