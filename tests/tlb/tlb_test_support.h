// Shared pieces of the tlb/ tests: a small machine (physical memory, frame allocator, page-table
// editor) on which a test maps pages with frames and flags it chooses, and the MMU and TLB
// configurations whose latencies the expected cycle counts are worked out from.
#pragma once

#include <cstdint>
#include <ostream>
#include <stdexcept>
#include <string>

#include "mmu/page_table.h"
#include "mmu/phys_mem.h"
#include "mmu/pte.h"
#include "mmu/types.h"
#include "mmu/walker.h"
#include "tests/mmu/printers.h"
#include "tlb/config.h"
#include "tlb/translation_unit.h"

namespace mmusim::tlb {

// So that a failed expectation names the level instead of dumping a byte.
inline void PrintTo(HitLevel level, std::ostream* os) {
  switch (level) {
    case HitLevel::kL1:
      *os << "L1";
      return;
    case HitLevel::kL2:
      *os << "L2";
      return;
    case HitLevel::kWalk:
      *os << "walk";
      return;
  }
  *os << "?";
}

}  // namespace mmusim::tlb

namespace mmusim::tlb::test {

// Walk latencies, all different so that a wrong level shows in the total.
inline constexpr std::uint64_t kWalkStart = 3;
inline constexpr std::uint64_t kReadPml4 = 40;
inline constexpr std::uint64_t kReadPdpt = 30;
inline constexpr std::uint64_t kReadPd = 20;
inline constexpr std::uint64_t kReadPt = 10;
inline constexpr std::uint64_t kAdUpdate = 7;

// TLB lookup latencies: a data access reaching L1 costs 1, a fetch 2, the second level 9 more.
inline constexpr std::uint64_t kL1dLatency = 1;
inline constexpr std::uint64_t kL1iLatency = 2;
inline constexpr std::uint64_t kL2Latency = 9;

// 4-level paging with PCIDs, PGE and INVPCID; paging-structure caches off unless asked for
// (the walk then always reads every level, which keeps the cycle counts simple).
inline mmu::MmuConfig test_mmu_config(bool with_psc = false) {
  mmu::MmuConfig config;
  config.paging_levels = 4;
  config.pcid = true;
  config.pge = true;
  config.invpcid = true;
  config.phys_addr_bits = 46;
  config.pml5e = mmu::PscConfig{0, 1};
  config.pml4e = with_psc ? mmu::PscConfig{4, 4} : mmu::PscConfig{0, 1};
  config.pdpte = with_psc ? mmu::PscConfig{4, 4} : mmu::PscConfig{0, 1};
  config.pde = with_psc ? mmu::PscConfig{32, 4} : mmu::PscConfig{0, 1};
  config.walk_latency.start = kWalkStart;
  config.walk_latency.pml5 = 50;
  config.walk_latency.pml4 = kReadPml4;
  config.walk_latency.pdpt = kReadPdpt;
  config.walk_latency.pd = kReadPd;
  config.walk_latency.pt = kReadPt;
  config.walk_latency.ad_update = kAdUpdate;
  return config;
}

// The default Skylake-like geometry with the latencies above.
inline TlbConfig test_tlb_config() {
  TlbConfig config;
  config.l1i_4k = TlbArrayConfig{16, 8, k4K, kL1iLatency, Replacement::kLru};
  config.l1i_2m = TlbArrayConfig{1, 8, k2M, kL1iLatency, Replacement::kLru};
  config.l1d_4k = TlbArrayConfig{16, 4, k4K, kL1dLatency, Replacement::kLru};
  config.l1d_2m = TlbArrayConfig{8, 4, k2M, kL1dLatency, Replacement::kLru};
  config.l1d_1g = TlbArrayConfig{1, 4, k1G, kL1dLatency, Replacement::kLru};
  config.stlb = TlbArrayConfig{128, 12, k4K | k2M, kL2Latency, Replacement::kLru};
  config.stlb_1g = TlbArrayConfig{4, 4, k1G, kL2Latency, Replacement::kLru};
  return config;
}

inline mmu::PteFlags kernel_flags(bool global) {
  mmu::PteFlags flags;
  flags.writable = true;
  flags.user = false;
  flags.global = global;
  return flags;
}

inline mmu::PteFlags user_flags(bool writable = true, bool no_execute = false) {
  mmu::PteFlags flags;
  flags.writable = writable;
  flags.user = true;
  flags.no_execute = no_execute;
  return flags;
}

// 16 GiB of sparse memory; page tables come from frame 256 upwards, so the data frames the
// tests name (from 0x10000, i.e. 256 MiB, on) never collide with them.
struct Machine {
  explicit Machine(mmu::PteObserver* observer = nullptr)
      : memory(mmu::PhysMemConfig{}),
        frames(memory, /*reserved_frames=*/256),
        editor(memory, frames, mmu::PagingMode{4}, observer) {}

  mmu::Pfn new_root() {
    const auto root = editor.create_root();
    if (!root) throw std::runtime_error("no frame for a root table");
    return *root;
  }
  // An address space that shares the kernel half of `kernel`.
  mmu::Pfn new_root_sharing_kernel(mmu::Pfn kernel) {
    const mmu::Pfn root = new_root();
    editor.share_kernel_half(root, kernel);
    return root;
  }
  void map(mmu::Pfn root, mmu::VirtAddr va, mmu::PageSize size, mmu::Pfn frame,
           const mmu::PteFlags& flags) {
    const mmu::EditResult result = editor.map(root, va, mmu::page_bytes(size), frame, size, flags);
    if (!result.ok()) {
      throw std::runtime_error(std::string("map failed: ") + mmu::to_string(result.status));
    }
  }
  // The leaf entry that maps `va` (it must be mapped).
  mmu::Mapping leaf(mmu::Pfn root, mmu::VirtAddr va) const {
    const auto mapping = editor.lookup(root, va);
    if (!mapping) throw std::runtime_error("address not mapped: " + mmu::hex(va.value()));
    return *mapping;
  }

  mmu::PhysMem memory;
  mmu::SimpleFrameAllocator frames;
  mmu::PageTableEditor editor;
};

}  // namespace mmusim::tlb::test
