// One set-associative TLB structure (e.g. the L1 DTLB for 4 KiB pages, or the STLB), with its
// replacement policy. Entries are tagged with the virtual page number, the page size and the
// PCID; a global entry matches every PCID.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mmu/random.h"
#include "mmu/types.h"
#include "tlb/config.h"

namespace mmusim::tlb {

struct TlbEntry {
  std::uint64_t vpn = 0;       // virtual address >> page_shift(size)
  std::uint64_t frame = 0;     // first frame of the page
  std::uint64_t pte_addr = 0;  // physical address of the leaf entry it was filled from
  std::uint16_t pcid = 0;
  mmu::PageSize size = mmu::PageSize::k4K;
  bool valid = false;
  bool writable = false;
  bool user = false;
  bool executable = false;
  bool global = false;
  bool dirty = false;  // D was set in the leaf when the entry was filled
  bool stale = false;  // the leaf it came from changed since (stale-translation check)

  [[nodiscard]] bool matches(std::uint64_t page, mmu::PageSize page_size,
                             std::uint16_t current_pcid) const {
    return vpn == page && valid && size == page_size && (global || pcid == current_pcid);
  }
  [[nodiscard]] mmu::VirtAddr base() const { return mmu::VirtAddr{vpn << mmu::page_shift(size)}; }
};

struct TlbArrayStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t fills = 0;
  std::uint64_t evictions = 0;
  std::uint64_t invalidated = 0;

  template <class V>
  void visit(V& v) {
    v.count("hits", hits, "lookups that hit");
    v.count("misses", misses, "lookups that missed (one per page size probed)");
    v.count("fills", fills, "entries inserted");
    v.count("evictions", evictions, "valid entries replaced by a fill");
    v.count("invalidated", invalidated, "entries removed by invalidations of any kind");
  }
};

class TlbArray {
 public:
  TlbArray(std::string name, const TlbArrayConfig& config, std::uint64_t seed);

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] bool exists() const { return !entries_.empty(); }
  [[nodiscard]] bool holds(mmu::PageSize size) const {
    return exists() && (config_.page_sizes & mask_of(size)) != 0;
  }
  [[nodiscard]] PageSizeMask page_sizes() const { return exists() ? config_.page_sizes : 0; }
  [[nodiscard]] std::uint32_t latency() const { return config_.latency; }
  [[nodiscard]] std::uint32_t sets() const { return sets_; }
  [[nodiscard]] std::uint32_t ways() const { return ways_; }

  // The entry translating page `vpn` of `size` for `pcid`, or nullptr. A hit updates the
  // replacement state and the statistics. Inline: every translation makes one or more.
  TlbEntry* lookup(std::uint64_t vpn, mmu::PageSize size, std::uint16_t pcid) {
    const std::uint64_t set = set_of(vpn);
    TlbEntry* base = &entries_[set * ways_];
    for (std::uint32_t way = 0; way < ways_; ++way) {
      if (base[way].matches(vpn, size, pcid)) {
        touch(set, way);
        ++stats_.hits;
        return &base[way];
      }
    }
    ++stats_.misses;
    return nullptr;
  }
  // Inserts `entry`, replacing an entry with the same tag if there is one, else a victim chosen
  // by the policy. The replaced valid entry, if any, is copied to `evicted` (valid set).
  void insert(const TlbEntry& entry, TlbEntry& evicted);

  // Removes every valid entry for which pred(entry) holds; on_remove(entry) sees each one
  // before it goes. Returns how many were removed.
  template <class Pred, class OnRemove>
  std::uint64_t remove_if(Pred&& pred, OnRemove&& on_remove) {
    std::uint64_t removed = 0;
    for_each_valid_index([&](std::size_t index) {
      TlbEntry& entry = entries_[index];
      if (!pred(entry)) return;
      on_remove(entry);
      entry.valid = false;
      clear_valid_bit(index);
      ++removed;
    });
    stats_.invalidated += removed;
    return removed;
  }
  // Like remove_if, but only looks in the set `vpn` of `size` maps to.
  template <class Pred, class OnRemove>
  std::uint64_t remove_in_set(std::uint64_t vpn, Pred&& pred, OnRemove&& on_remove) {
    std::uint64_t removed = 0;
    const std::size_t first = set_of(vpn) * ways_;
    TlbEntry* set = &entries_[first];
    for (std::uint32_t way = 0; way < ways_; ++way) {
      if (set[way].valid && pred(set[way])) {
        on_remove(set[way]);
        set[way].valid = false;
        clear_valid_bit(first + way);
        ++removed;
      }
    }
    stats_.invalidated += removed;
    return removed;
  }
  // Calls fn(entry) for each valid entry in the set `vpn` maps to.
  template <class Fn>
  void for_each_in_set(std::uint64_t vpn, Fn&& fn) {
    TlbEntry* set = &entries_[set_of(vpn) * ways_];
    for (std::uint32_t way = 0; way < ways_; ++way) {
      if (set[way].valid) fn(set[way]);
    }
  }
  template <class Fn>
  void for_each_valid(Fn&& fn) const {
    for_each_valid_index([&](std::size_t index) { fn(entries_[index]); });
  }

  [[nodiscard]] std::uint64_t valid_entries() const;
  [[nodiscard]] const TlbArrayStats& stats() const { return stats_; }
  [[nodiscard]] TlbArrayStats& stats() { return stats_; }

 private:
  // Every default geometry has a power-of-two number of sets: a mask instead of a division on
  // every lookup.
  [[nodiscard]] std::uint64_t set_of(std::uint64_t vpn) const {
    return sets_pow2_ ? vpn & (sets_ - 1) : vpn % sets_;
  }
  // Calls fn(index) for each valid entry, in index order: a flush then reads the valid entries
  // only (a few after the last flush), not every entry of a 1536-entry STLB.
  template <class Fn>
  void for_each_valid_index(Fn&& fn) const {
    for (std::size_t word = 0; word < valid_bits_.size(); ++word) {
      for (std::uint64_t bits = valid_bits_[word]; bits != 0; bits &= bits - 1) {
        fn(word * 64 + static_cast<std::size_t>(__builtin_ctzll(bits)));
      }
    }
  }
  void set_valid_bit(std::size_t index) {
    valid_bits_[index / 64] |= std::uint64_t{1} << (index % 64);
  }
  void clear_valid_bit(std::size_t index) {
    valid_bits_[index / 64] &= ~(std::uint64_t{1} << (index % 64));
  }
  void touch(std::uint64_t set, std::uint32_t way) {
    if (config_.replacement == Replacement::kLru) {
      last_use_[set * ways_ + way] = ++clock_;
    } else if (config_.replacement == Replacement::kPlru) {
      touch_plru(set, way);
    }
  }
  void touch_plru(std::uint64_t set, std::uint32_t way);
  // The way the policy replaces in a full set.
  std::uint32_t victim(std::uint64_t set);

  std::string name_;
  TlbArrayConfig config_;
  std::uint32_t sets_ = 0;
  std::uint32_t ways_ = 0;
  bool sets_pow2_ = false;
  std::vector<TlbEntry> entries_;
  std::vector<std::uint64_t> valid_bits_;  // bit i: entries_[i].valid
  std::vector<std::uint64_t> last_use_;    // LRU: per entry
  std::vector<std::uint64_t> plru_bits_;   // PLRU: per set, one bit per tree node
  std::uint64_t clock_ = 0;
  mmu::Rng rng_;
  TlbArrayStats stats_;
};

}  // namespace mmusim::tlb
