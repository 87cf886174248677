// The page allocator the guest needs: order-0 pages from NUMA nodes and two zones (DMA32,
// the frames below 4 GiB, and Normal above), lowest free frame first so that runs are
// deterministic, with the kernel's zone fallback (Normal, then DMA32) and node fallback
// (the preferred node, then the others in order). It also gives the page-table pages the
// kernel's page-table code needs, as an mmu::FrameAllocator. Fault injection makes the guest's
// error paths run: fail the Nth allocation, or each with a seeded probability.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "mmu/phys_mem.h"
#include "mmu/random.h"
#include "mmu/types.h"
#include "vmalloc/config.h"

namespace mmusim::vmalloc {

// The gfp_t bits the model looks at.
namespace gfp {
inline constexpr std::uint32_t kDma32 = 1u << 0;
inline constexpr std::uint32_t kHighmem = 1u << 1;
inline constexpr std::uint32_t kZero = 1u << 2;
inline constexpr std::uint32_t kNoWarn = 1u << 3;
inline constexpr std::uint32_t kDirectReclaim = 1u << 4;  // may sleep
inline constexpr std::uint32_t kKernel = kDirectReclaim;  // GFP_KERNEL
inline constexpr std::uint32_t kAtomic = 0;               // GFP_ATOMIC / GFP_NOWAIT
}  // namespace gfp

inline constexpr int kNumaNoNode = -1;

struct PageAllocStats {
  std::uint64_t pages_allocated = 0;
  std::uint64_t pages_freed = 0;
  std::uint64_t dma32_pages_allocated = 0;
  std::uint64_t table_pages_allocated = 0;
  std::uint64_t injected_failures = 0;
  std::uint64_t exhausted_failures = 0;
  std::uint64_t in_use = 0;
  std::uint64_t peak_in_use = 0;

  template <class V>
  void visit(V& v) {
    v.count("pages_allocated", pages_allocated, "order-0 pages the guest allocated");
    v.count("pages_freed", pages_freed, "pages the guest freed");
    v.count("dma32_pages_allocated", dma32_pages_allocated, "of those allocated, from ZONE_DMA32");
    v.count("table_pages_allocated", table_pages_allocated, "page-table pages handed out");
    v.count("injected_failures", injected_failures, "allocations failed by fault injection");
    v.count("exhausted_failures", exhausted_failures, "allocations that found no free page");
    v.count("in_use", in_use, "pages allocated and not freed at the end (page tables included)");
    v.count("peak_in_use", peak_in_use, "most pages in use at once");
  }
};

class PageAllocator final : public mmu::FrameAllocator {
 public:
  PageAllocator(const mmu::PhysMem& memory, std::uint64_t reserved_frames,
                const PageAllocConfig& config, std::uint64_t seed);

  // alloc_page()/alloc_pages_node(): one page, or nullopt (fault injection, or memory full).
  std::optional<mmu::Pfn> alloc_page(std::uint32_t gfp_mask, int node);
  void free_page(mmu::Pfn pfn);

  // mmu::FrameAllocator, for page tables (and frames the hardware-level traces map).
  std::optional<mmu::Pfn> allocate_frame(std::uint32_t node) override;
  void free_frame(mmu::Pfn pfn) override { free_page(pfn); }

  [[nodiscard]] std::uint64_t totalram_pages() const { return total_pages_; }
  [[nodiscard]] std::uint32_t node_of(mmu::Pfn pfn) const { return memory_.node_of(pfn); }
  [[nodiscard]] bool is_allocated(mmu::Pfn pfn) const;
  [[nodiscard]] const PageAllocStats& stats() const { return stats_; }

 private:
  struct Zone {
    std::uint64_t begin = 0;
    std::uint64_t next = 0;  // bump pointer
    std::uint64_t end = 0;
    // One bit per frame from `begin`, set while the frame is allocated; it covers the frames
    // below the bump pointer, so it grows with the zone's peak use, not with its size. Every
    // frame below the bump pointer was handed out once: the clear bits there are the freed
    // frames, and the lowest of them is the first clear bit.
    std::vector<std::uint64_t> allocated;
    std::uint64_t freed = 0;      // frames below the bump pointer that are free
    std::size_t first_clear = 0;  // no word before this one has a clear bit below `next`
  };
  enum ZoneIndex { kZoneDma32 = 0, kZoneNormal = 1 };

  std::optional<mmu::Pfn> take(std::uint32_t node, ZoneIndex zone);
  // The zone whose range holds a frame (it may lie below the zone's first frame, in the
  // reserved frames, or above its bump pointer).
  [[nodiscard]] const Zone& zone_of(mmu::Pfn pfn) const;
  std::optional<mmu::Pfn> allocate(bool dma32, int node);
  bool inject_failure();

  const mmu::PhysMem& memory_;
  PageAllocConfig config_;
  mmu::Rng rng_;
  std::vector<std::array<Zone, 2>> zones_;  // per node
  std::uint64_t total_pages_ = 0;
  std::uint64_t guest_allocations_ = 0;
  PageAllocStats stats_;
};

}  // namespace mmusim::vmalloc
