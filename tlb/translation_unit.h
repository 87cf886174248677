// One CPU's address translation: its TLB structures (L1 instruction and data TLBs split by page
// size, a unified second level), its page walker and paging-structure caches, the control
// registers that matter (CR3 with its PCID, CR4.PCIDE and CR4.PGE), and the x86 invalidation
// instructions with exactly the effects the Intel SDM gives them (Vol. 3A, 4.10.4.1).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "mmu/phys_mem.h"
#include "mmu/types.h"
#include "mmu/walker.h"
#include "tlb/config.h"
#include "tlb/tlb_array.h"

namespace mmusim::tlb {

class StaleTracker;

enum class HitLevel : std::uint8_t { kL1, kL2, kWalk };

struct TranslateResult {
  mmu::PhysAddr paddr;
  mmu::FaultKind fault = mmu::FaultKind::kNone;
  std::uint32_t error_code = 0;
  HitLevel level = HitLevel::kL1;
  mmu::Cycles tlb_cycles{0};
  mmu::Cycles walk_cycles{0};
  bool stale_hit = false;
  [[nodiscard]] bool ok() const { return fault == mmu::FaultKind::kNone; }
  [[nodiscard]] mmu::Cycles cycles() const { return tlb_cycles + walk_cycles; }
};

// The INVPCID types (SDM, INVPCID instruction).
enum class InvpcidType : std::uint8_t {
  kIndividualAddress = 0,
  kSingleContext = 1,
  kAllContextsIncludingGlobal = 2,
  kAllContexts = 3,
};

struct InvalidationStats {
  std::uint64_t invlpg = 0;
  std::uint64_t invlpg_entries = 0;
  std::uint64_t mov_cr3 = 0;
  std::uint64_t mov_cr3_noflush = 0;
  std::uint64_t mov_cr3_entries = 0;
  std::array<std::uint64_t, 4> invpcid{};
  std::array<std::uint64_t, 4> invpcid_entries{};
  std::uint64_t pge_toggles = 0;
  std::uint64_t pge_toggle_entries = 0;
  std::uint64_t psc_entries = 0;
  std::uint64_t invlpgb_received = 0;
  std::uint64_t invlpgb_entries = 0;
  std::uint64_t invalid_instructions = 0;

  template <class V>
  void visit(V& v) {
    v.count("invlpg", invlpg, "INVLPG instructions");
    v.count("invlpg_entries", invlpg_entries, "TLB entries INVLPG removed");
    v.count("mov_cr3", mov_cr3, "CR3 writes that invalidate (no-flush bit clear)");
    v.count("mov_cr3_noflush", mov_cr3_noflush, "CR3 writes with the no-flush bit (bit 63) set");
    v.count("mov_cr3_entries", mov_cr3_entries, "TLB entries CR3 writes removed");
    v.count("invpcid_individual", invpcid[0], "INVPCID type 0 (individual address)");
    v.count("invpcid_single_context", invpcid[1], "INVPCID type 1 (single context)");
    v.count("invpcid_all_global", invpcid[2], "INVPCID type 2 (all contexts, globals too)");
    v.count("invpcid_all_nonglobal", invpcid[3], "INVPCID type 3 (all contexts but globals)");
    v.count("invpcid_individual_entries", invpcid_entries[0], "TLB entries INVPCID type 0 removed");
    v.count("invpcid_single_context_entries", invpcid_entries[1],
            "TLB entries INVPCID type 1 removed");
    v.count("invpcid_all_global_entries", invpcid_entries[2], "TLB entries INVPCID type 2 removed");
    v.count("invpcid_all_nonglobal_entries", invpcid_entries[3],
            "TLB entries INVPCID type 3 removed");
    v.count("pge_toggles", pge_toggles, "CR4.PGE toggles (flush everything)");
    v.count("pge_toggle_entries", pge_toggle_entries, "TLB entries CR4.PGE toggles removed");
    v.count("psc_entries", psc_entries, "paging-structure-cache entries invalidated");
    v.count("invlpgb_received", invlpgb_received,
            "broadcast invalidations (INVLPGB, any CPU's) applied to this CPU's TLBs");
    v.count("invlpgb_entries", invlpgb_entries, "TLB entries those broadcasts removed");
    v.count("invalid_instructions", invalid_instructions,
            "invalidations that fault and do nothing (INVPCID unsupported, type > 3, PCID "
            "over 12 bits or type 0 with a non-canonical address; INVPCID types 0-1 or a CR3 "
            "write with a non-zero PCID or the no-flush bit while CR4.PCIDE = 0)");
  }
};

struct TranslationStats {
  std::uint64_t translations = 0;
  std::uint64_t l1_hits = 0;
  std::uint64_t l2_hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t dirty_rewalks = 0;
  std::uint64_t tlb_cycles = 0;
  std::uint64_t walk_cycles = 0;
  std::uint64_t stale_hits = 0;
  mmu::FaultStats faults;

  template <class V>
  void visit(V& v) {
    v.count("translations", translations, "addresses translated");
    v.count("l1_hits", l1_hits, "translations that hit a first-level TLB");
    v.count("l2_hits", l2_hits, "translations that missed L1 and hit the second level");
    v.count("misses", misses, "translations that missed every TLB and walked");
    v.count("dirty_rewalks", dirty_rewalks,
            "stores that hit an entry filled with D clear and re-walked to set D");
    v.cycles("tlb_cycles", tlb_cycles, "cycles spent in TLB lookups");
    v.cycles("walk_cycles", walk_cycles, "cycles spent in page walks");
    v.count("stale_hits", stale_hits,
            "hits on an entry whose leaf PTE changed since it was filled (a missing flush)");
    v.section("faults", faults, "faults raised, from a TLB entry or from a walk");
  }
};

class TranslationUnit {
 public:
  // `tracker` may be null (stale-translation check off).
  TranslationUnit(int cpu, const TlbConfig& tlb, const mmu::MmuConfig& mmu, mmu::PhysMem& memory,
                  std::uint64_t seed, StaleTracker* tracker);
  TranslationUnit(const TranslationUnit&) = delete;
  TranslationUnit& operator=(const TranslationUnit&) = delete;

  [[nodiscard]] int cpu() const { return cpu_; }

  // Inline: the common case (a hit in L1's first structure, 4 KiB pages, whose entry permits
  // the access) is nothing but counting, and runs in the caller's loop; anything else goes on
  // in translate_further().
  TranslateResult translate(mmu::VirtAddr va, mmu::AccessType access, mmu::Privilege privilege) {
    const bool fetch = access == mmu::AccessType::kExecute;
    const TlbLevel& l1 = fetch ? l1i_ : l1d_;
    TlbEntry* entry = nullptr;
    if (l1.probe_count != 0) {
      const TlbLevel::Probe& first = l1.probes[0];
      entry = first.array->lookup(va.vpn(first.size), first.size, pcid_.value());
    }
    if (entry != nullptr && !entry->stale && (privilege != mmu::Privilege::kUser || entry->user) &&
        (access != mmu::AccessType::kWrite || (entry->writable && entry->dirty)) &&
        (!fetch || entry->executable)) {
      ++stats_.translations;
      ++stats_.l1_hits;
      stats_.tlb_cycles += l1.latency;
      TranslateResult result;
      result.paddr = mmu::Pfn{entry->frame}.addr() + va.page_offset(entry->size);
      result.level = HitLevel::kL1;
      result.tlb_cycles = mmu::Cycles{l1.latency};
      return result;
    }
    return translate_further(va, access, privilege, l1, entry);
  }

  // Loads CR3 without any invalidation (the state at boot).
  void load_cr3(mmu::Pfn root, mmu::Pcid pcid);
  [[nodiscard]] mmu::Pfn cr3_root() const { return root_; }
  [[nodiscard]] mmu::Pcid current_pcid() const { return pcid_; }
  [[nodiscard]] bool pcid_enabled() const { return pcide_; }
  [[nodiscard]] bool invpcid_supported() const { return invpcid_; }

  // The x86 invalidation instructions. Each returns the TLB entries it removed.
  std::uint64_t invlpg(mmu::VirtAddr va);
  std::uint64_t mov_cr3(mmu::Pfn root, mmu::Pcid pcid, bool no_flush);
  std::uint64_t invpcid(unsigned type, mmu::Pcid pcid, mmu::VirtAddr va);
  std::uint64_t toggle_pge();
  // What the kernel's global flush does: INVPCID type 2 when supported, else a CR4.PGE toggle.
  std::uint64_t flush_all_global();

  // The effect on this CPU of one INVLPGB broadcast (AMD APM, INVLPGB, as Linux 6.15 issues
  // it: including global entries, in every PCID, paging-structure caches too): `pages` 4 KiB
  // pages from `va`, or everything.
  std::uint64_t invlpgb_range(mmu::VirtAddr va, std::uint64_t pages);
  std::uint64_t invlpgb_all();

  // Marks the entries filled from the leaf at `pte_addr` (mapping `va`, `size`) stale.
  std::uint64_t mark_stale(mmu::VirtAddr va, mmu::PageSize size, mmu::PhysAddr pte_addr);

  [[nodiscard]] const std::vector<TlbArray>& arrays() const { return arrays_; }
  [[nodiscard]] const TlbArray* find_array(const std::string& name) const;
  [[nodiscard]] std::uint64_t valid_entries() const;
  [[nodiscard]] mmu::PageWalker& walker() { return walker_; }
  [[nodiscard]] const mmu::PageWalker& walker() const { return walker_; }
  [[nodiscard]] const TranslationStats& stats() const { return stats_; }
  [[nodiscard]] const InvalidationStats& invalidation_stats() const { return inval_; }

 private:
  // One level of the hierarchy (L1 instruction, L1 data, second level) as translations use it,
  // worked out once from the configuration: the lookups to make in order (each structure, each
  // page size it holds), the structure each page size fills, and the level's latency.
  struct TlbLevel {
    struct Probe {
      TlbArray* array = nullptr;
      mmu::PageSize size = mmu::PageSize::k4K;
    };
    std::array<Probe, 3 * mmu::kNumPageSizes> probes{};
    std::size_t probe_count = 0;
    std::array<TlbArray*, mmu::kNumPageSizes> fill_target{};
    std::uint32_t latency = 0;  // the largest of its structures'

    void add(TlbArray& array);
  };

  // A translation that did not end with a plain hit in L1's first structure: `l1_entry` is
  // the entry found there (stale, or not allowing the access), or nullptr when it missed.
  TranslateResult translate_further(mmu::VirtAddr va, mmu::AccessType access,
                                    mmu::Privilege privilege, const TlbLevel& l1,
                                    TlbEntry* l1_entry);
  // The first hit among the level's lookups from the `from`-th on, or nullptr.
  TlbEntry* probe(const TlbLevel& level, std::size_t from, mmu::VirtAddr va, std::uint16_t pcid) {
    for (std::size_t i = from; i < level.probe_count; ++i) {
      const TlbLevel::Probe& probe = level.probes[i];
      if (TlbEntry* entry = probe.array->lookup(va.vpn(probe.size), probe.size, pcid)) {
        return entry;
      }
    }
    return nullptr;
  }
  void fill(const TlbLevel& level, const TlbEntry& entry);
  TlbEntry make_entry(mmu::VirtAddr va, const mmu::Translation& translation) const;
  // Removes every entry for which pred holds, in every structure; counts into `invalidated`.
  template <class Pred>
  std::uint64_t remove_all(Pred&& pred);
  std::uint64_t remove_address(mmu::VirtAddr va, bool include_global, bool any_pcid,
                               std::uint16_t pcid);
  // What a page fault invalidates (SDM 4.10.4.1): the TLB entries for the faulting page and the
  // paging-structure-cache entries the address would use, of the current PCID, so that a retry
  // sees the paging structures in memory.
  void drop_on_page_fault(mmu::VirtAddr va);
  void walk_and_fill(mmu::VirtAddr va, mmu::AccessType access, mmu::Privilege privilege,
                     const TlbLevel& l1, TranslateResult& result);

  int cpu_;
  std::vector<TlbArray> arrays_;  // never resized after construction: the levels point in
  TlbLevel l1i_;
  TlbLevel l1d_;
  TlbLevel l2_;
  mmu::PageWalker walker_;
  StaleTracker* tracker_;
  mmu::Pfn root_{0};
  mmu::Pcid pcid_{0};
  bool pcide_;
  bool pge_;
  bool invpcid_;
  TranslationStats stats_;
  InvalidationStats inval_;
};

}  // namespace mmusim::tlb
