// The hardware page walker (Intel SDM Vol. 3A, 4.5 and 4.10.3): starts at CR3, reads one
// entry per level from simulated physical memory, checks present, reserved bits, write,
// user/supervisor and execute permission, sets Accessed on every entry it reads and Dirty on
// the leaf for a write (written back to memory), and raises page faults with the x86 error
// code. Paging-structure caches (PML5E, PML4E, PDPTE, PDE; PCID-tagged) let a walk start
// below the top level.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "mmu/phys_mem.h"
#include "mmu/pte.h"
#include "mmu/types.h"

namespace mmusim::mmu {

struct PscConfig {
  std::uint32_t entries = 0;  // 0 disables the cache
  std::uint32_t ways = 1;

  template <class V>
  void visit(V& v) {
    v.integer("entries", entries, 0u, 4096u, "entries (0 disables this cache)");
    v.integer("ways", ways, 1u, 64u, "associativity; entries must be a multiple of it");
    v.check(entries % ways == 0, "entries", "must be a multiple of ways");
  }
};

struct WalkLatencyConfig {
  std::uint32_t start = 2;  // probing the paging-structure caches and starting the walk
  std::uint32_t pml5 = 30;
  std::uint32_t pml4 = 30;
  std::uint32_t pdpt = 30;
  std::uint32_t pd = 30;
  std::uint32_t pt = 30;
  std::uint32_t ad_update = 20;  // one locked write-back of an Accessed or Dirty bit

  template <class V>
  void visit(V& v) {
    v.integer("start", start, 0u, 100000u, "cycles to start a walk, including the PSC probe");
    v.integer("pml5", pml5, 0u, 100000u, "cycles for the memory read of a PML5E");
    v.integer("pml4", pml4, 0u, 100000u, "cycles for the memory read of a PML4E");
    v.integer("pdpt", pdpt, 0u, 100000u, "cycles for the memory read of a PDPTE");
    v.integer("pd", pd, 0u, 100000u, "cycles for the memory read of a PDE");
    v.integer("pt", pt, 0u, 100000u, "cycles for the memory read of a PTE");
    v.integer("ad_update", ad_update, 0u, 100000u,
              "cycles to write back one entry whose Accessed or Dirty bit the walk sets");
  }
  [[nodiscard]] std::uint32_t read(Level level) const {
    switch (level) {
      case Level::kPml5:
        return pml5;
      case Level::kPml4:
        return pml4;
      case Level::kPdpt:
        return pdpt;
      case Level::kPd:
        return pd;
      case Level::kPt:
        return pt;
    }
    return 0;
  }
};

struct MmuConfig {
  std::uint32_t paging_levels = 4;
  bool pcid = true;
  bool pge = true;
  bool invpcid = true;
  std::uint32_t phys_addr_bits = 46;
  // Intel does not publish its paging-structure cache sizes; these are modest guesses meant to
  // be swept.
  PscConfig pml5e{2, 2};
  PscConfig pml4e{4, 4};
  PscConfig pdpte{4, 4};
  PscConfig pde{32, 4};
  WalkLatencyConfig walk_latency;

  template <class V>
  void visit(V& v) {
    v.integer("paging_levels", paging_levels, 4u, 5u,
              "4 (48-bit linear addresses) or 5 (LA57, 57-bit)");
    v.boolean("pcid", pcid, "CR4.PCIDE: TLB and paging-structure-cache entries carry a PCID");
    v.boolean("pge", pge, "CR4.PGE: global pages survive CR3 writes");
    v.boolean("invpcid", invpcid, "the CPU supports INVPCID (else flushes use CR4.PGE toggles)");
    v.integer("phys_addr_bits", phys_addr_bits, 36u, 52u,
              "MAXPHYADDR: entry address bits at or above it are reserved");
    v.section("pml5e_cache", pml5e, "paging-structure cache of PML5 entries (5-level only)");
    v.section("pml4e_cache", pml4e, "paging-structure cache of PML4 entries");
    v.section("pdpte_cache", pdpte, "paging-structure cache of PDPT entries");
    v.section("pde_cache", pde, "paging-structure cache of PD entries");
    v.section("walk_latency", walk_latency, "cycles of each step of a page walk");
  }
  [[nodiscard]] PagingMode mode() const { return PagingMode{static_cast<int>(paging_levels)}; }
};

// Why a translation failed.
enum class FaultKind : std::uint8_t {
  kNone = 0,
  kNotPresent,
  kWriteProtect,    // write to a read-only page
  kUserSupervisor,  // user access to a supervisor page
  kNoExecute,       // fetch from an NX page
  kReservedBit,     // a reserved bit set in a paging-structure entry
  kNonCanonical,    // #GP, not a page fault
};
[[nodiscard]] const char* to_string(FaultKind kind);

struct FaultStats {
  std::uint64_t not_present = 0;
  std::uint64_t write_protect = 0;
  std::uint64_t user_supervisor = 0;
  std::uint64_t no_execute = 0;
  std::uint64_t reserved_bit = 0;
  std::uint64_t non_canonical = 0;

  void count(FaultKind kind);
  template <class V>
  void visit(V& v) {
    v.count("not_present", not_present, "page faults on a not-present entry");
    v.count("write_protect", write_protect, "page faults on a write to a read-only page");
    v.count("user_supervisor", user_supervisor,
            "page faults on a user access to a supervisor page");
    v.count("no_execute", no_execute, "page faults on an instruction fetch from an NX page");
    v.count("reserved_bit", reserved_bit, "page faults on a reserved bit (error code RSVD)");
    v.count("non_canonical", non_canonical, "general-protection faults on non-canonical addresses");
  }
};

struct WalkerStats {
  std::uint64_t walks = 0;
  std::uint64_t walk_cycles = 0;
  std::uint64_t memory_reads = 0;
  std::array<std::uint64_t, 6> reads_by_level{};  // indexed by level number
  std::array<std::uint64_t, 6> psc_hits{};        // indexed by the cached entry's level
  std::uint64_t psc_misses = 0;
  std::uint64_t accessed_writes = 0;
  std::uint64_t dirty_writes = 0;

  template <class V>
  void visit(V& v) {
    v.count("walks", walks, "page walks started (TLB misses and D-bit re-walks)");
    v.cycles("walk_cycles", walk_cycles, "cycles spent in page walks");
    v.count("memory_reads", memory_reads, "paging-structure entries read from memory");
    v.count("reads_pml5", reads_by_level[5], "PML5E reads");
    v.count("reads_pml4", reads_by_level[4], "PML4E reads");
    v.count("reads_pdpt", reads_by_level[3], "PDPTE reads");
    v.count("reads_pd", reads_by_level[2], "PDE reads");
    v.count("reads_pt", reads_by_level[1], "PTE reads");
    v.count("psc_hits_pml5e", psc_hits[5], "walks that started below a cached PML5E");
    v.count("psc_hits_pml4e", psc_hits[4], "walks that started below a cached PML4E");
    v.count("psc_hits_pdpte", psc_hits[3], "walks that started below a cached PDPTE");
    v.count("psc_hits_pde", psc_hits[2], "walks that started below a cached PDE");
    v.count("psc_misses", psc_misses, "walks that started at CR3");
    v.count("accessed_writes", accessed_writes, "entries written back to set Accessed");
    v.count("dirty_writes", dirty_writes, "leaf entries written back to set Dirty");
  }
};

// A PCID-tagged, set-associative cache of non-leaf paging-structure entries for one level,
// with LRU replacement. Each entry holds the next table and the permissions accumulated
// from the top down to (and including) the cached entry (SDM 4.10.3.1).
class PagingStructureCache {
 public:
  struct Entry {
    std::uint64_t tag = 0;  // linear address >> level_shift(level)
    std::uint64_t last_use = 0;
    Pfn next_table;
    std::uint16_t pcid = 0;
    bool valid = false;
    bool writable = false;
    bool user = false;
    bool no_execute = false;
  };

  PagingStructureCache(Level level, const PscConfig& config);

  [[nodiscard]] bool enabled() const { return !entries_.empty(); }
  [[nodiscard]] Level level() const { return level_; }
  [[nodiscard]] std::uint64_t tag_of(VirtAddr va) const {
    return va.value() >> level_shift(level_);
  }
  const Entry* lookup(Pcid pcid, VirtAddr va);
  void fill(Pcid pcid, VirtAddr va, Pfn next_table, bool writable, bool user, bool no_execute);
  std::uint64_t invalidate_pcid(Pcid pcid);
  std::uint64_t invalidate_all();
  std::uint64_t invalidate_address(Pcid pcid, VirtAddr va);
  [[nodiscard]] std::uint64_t valid_entries() const;

 private:
  [[nodiscard]] Entry* set_of(std::uint64_t tag) {
    // Sets are a power of two by default: a mask instead of a division on every walk.
    const std::uint64_t set = sets_pow2_ ? tag & (sets_ - 1) : tag % sets_;
    return &entries_[set * ways_];
  }

  Level level_;
  std::uint32_t sets_ = 0;
  std::uint32_t ways_ = 0;
  bool sets_pow2_ = false;
  std::uint64_t clock_ = 0;
  std::vector<Entry> entries_;
};

// What a successful walk produces: everything a TLB entry needs.
struct Translation {
  Pfn frame;  // first frame of the page
  PageSize size = PageSize::k4K;
  bool writable = false;    // R/W set at every level
  bool user = false;        // U/S set at every level
  bool executable = false;  // XD clear at every level
  bool global = false;      // G of the leaf
  bool dirty = false;       // D of the leaf after the walk
  PhysAddr leaf_pte;        // where the leaf entry lives (for the stale-translation check)
};

struct WalkResult {
  Translation translation;
  FaultKind fault = FaultKind::kNone;
  std::uint32_t error_code = 0;
  Cycles cycles{0};
  std::uint32_t memory_reads = 0;
  [[nodiscard]] bool ok() const { return fault == FaultKind::kNone; }
};

// The current CR3 as the walker sees it.
struct WalkContext {
  Pfn root;
  Pcid pcid{0};
};

class PageWalker {
 public:
  PageWalker(PhysMem& memory, const MmuConfig& config);

  WalkResult walk(const WalkContext& context, VirtAddr va, AccessType access, Privilege privilege);

  // Paging-structure-cache invalidations used by the x86 invalidation instructions.
  std::uint64_t invalidate_pcid(Pcid pcid);
  std::uint64_t invalidate_all();

  [[nodiscard]] PagingMode mode() const { return mode_; }
  [[nodiscard]] const WalkerStats& stats() const { return stats_; }
  [[nodiscard]] PagingStructureCache& cache(Level level) { return caches_[level_number(level)]; }

 private:
  // Fills in `result` for a fault (modified in place, so that walk() returns its one result
  // object without a copy).
  void fail(WalkResult& result, FaultKind kind, bool present_violation, AccessType access,
            Privilege privilege, const WalkContext& context, VirtAddr va);

  PhysMem& memory_;
  PagingMode mode_;
  unsigned phys_bits_;
  WalkLatencyConfig latency_;
  std::vector<PagingStructureCache> caches_;  // indexed by level number; [0], [1] unused
  WalkerStats stats_;
};

}  // namespace mmusim::mmu
