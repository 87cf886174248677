// What the microbenchmarks run on: one CPU's translation unit over sparse physical memory and
// kernel page tables, with the stale-translation tracker attached as in a run (it is on by
// default), built from the default TLB and MMU configurations. No SystemC.
#pragma once

#include <cstdint>
#include <memory>

#include "mmu/page_table.h"
#include "mmu/phys_mem.h"
#include "mmu/walker.h"
#include "tlb/config.h"
#include "tlb/stale_tracker.h"
#include "tlb/translation_unit.h"

namespace mmusim::bench {

// Where the benchmarks map their pages: the start of the vmalloc area, as the traces do.
inline constexpr std::uint64_t kBase = 0xffffc90000000000ull;

struct BenchMachine {
  // `pages` 4 KiB global kernel pages mapped from kBase.
  explicit BenchMachine(std::uint64_t pages, const mmu::MmuConfig& mmu = mmu::MmuConfig{},
                        const tlb::TlbConfig& tlb = tlb::TlbConfig{});

  [[nodiscard]] mmu::VirtAddr page(std::uint64_t index) const {
    return mmu::VirtAddr{kBase + (index << mmu::kPageShift)};
  }

  mmu::PhysMem memory{mmu::PhysMemConfig{}};
  mmu::SimpleFrameAllocator frames{memory, /*reserved_frames=*/256};
  tlb::StaleTracker tracker;
  mmu::PageTableEditor editor{memory, frames, mmu::PagingMode{4}, &tracker};
  mmu::Pfn root{0};
  std::unique_ptr<tlb::TranslationUnit> unit;
};

}  // namespace mmusim::bench
