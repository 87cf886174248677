// The page allocator under the guest: zones (DMA32 below 4 GiB, Normal above), the lowest
// free frame first, node and zone fallback, and fault injection.
#include "vmalloc/page_alloc.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mmu/phys_mem.h"

namespace mmusim::vmalloc {
namespace {

constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;
constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kFirstFrameAbove4GiB = 0x100000;
constexpr std::uint64_t kReserved = 256;

TEST(PageAlloc, ZonesSplitAt4GiB) {
  mmu::PhysMem memory({8 * kGiB, 1});
  PageAllocator pages(memory, kReserved, {}, 1);
  EXPECT_EQ(pages.totalram_pages(), 8 * kGiB / 4096 - kReserved);
  // Normal first for ordinary requests, DMA32 (after the reserved frames) for GFP_DMA32.
  EXPECT_EQ(pages.alloc_page(gfp::kKernel, kNumaNoNode)->value(), kFirstFrameAbove4GiB);
  EXPECT_EQ(pages.alloc_page(gfp::kKernel | gfp::kDma32, 0)->value(), kReserved);
  EXPECT_EQ(pages.alloc_page(gfp::kKernel, 0)->value(), kFirstFrameAbove4GiB + 1);
  EXPECT_EQ(pages.stats().dma32_pages_allocated, 1u);
  EXPECT_EQ(pages.stats().in_use, 3u);
}

TEST(PageAlloc, LowestFreedFrameComesBackFirst) {
  mmu::PhysMem memory({64 * kMiB, 1});
  PageAllocator pages(memory, kReserved, {}, 1);
  std::vector<mmu::Pfn> taken;
  for (int i = 0; i < 8; ++i)
    taken.push_back(*pages.alloc_page(gfp::kKernel, 0));
  EXPECT_EQ(taken[0].value(), kReserved);  // all memory is below 4 GiB: DMA32 fallback
  for (const int i : {6, 1, 4, 0, 5, 2})
    pages.free_page(taken[i]);
  // Freed frames come back lowest first, whatever order they were freed in; then the bump.
  for (const int i : {0, 1, 2, 4, 5, 6})
    EXPECT_EQ(*pages.alloc_page(gfp::kKernel, 0), taken[i]);
  EXPECT_EQ(pages.alloc_page(gfp::kKernel, 0)->value(), kReserved + 8);
  EXPECT_EQ(pages.stats().peak_in_use, 9u);
  EXPECT_TRUE(pages.is_allocated(taken[1]));
}

TEST(PageAlloc, PreferredNodeThenTheOthers) {
  mmu::PhysMem memory({16 * kMiB, 2});  // 4096 frames: node 0 [0, 2048), node 1 [2048, 4096)
  PageAllocator pages(memory, kReserved, {}, 1);
  EXPECT_EQ(pages.alloc_page(gfp::kKernel, 1)->value(), 2048u);
  EXPECT_EQ(pages.alloc_page(gfp::kKernel, 0)->value(), kReserved);
  for (int i = 1; i < 2048; ++i)
    ASSERT_TRUE(pages.alloc_page(gfp::kKernel, 1));
  // Node 1 is full: its next page comes from node 0.
  const auto fallback = pages.alloc_page(gfp::kKernel, 1);
  ASSERT_TRUE(fallback);
  EXPECT_EQ(pages.node_of(*fallback), 0u);
  EXPECT_EQ(fallback->value(), kReserved + 1);
}

TEST(PageAlloc, ExhaustionFailsCleanly) {
  mmu::PhysMem memory({16 * kMiB, 1});
  PageAllocator pages(memory, kReserved, {}, 1);
  for (std::uint64_t i = 0; i < pages.totalram_pages(); ++i) {
    ASSERT_TRUE(pages.alloc_page(gfp::kKernel, 0));
  }
  EXPECT_FALSE(pages.alloc_page(gfp::kKernel, 0));
  EXPECT_FALSE(pages.allocate_frame(0));
  EXPECT_EQ(pages.stats().exhausted_failures, 2u);
}

TEST(PageAlloc, FailNthFailsExactlyThatAllocation) {
  mmu::PhysMem memory({16 * kMiB, 1});
  PageAllocConfig config;
  config.fail_nth = 3;
  PageAllocator pages(memory, kReserved, config, 1);
  EXPECT_TRUE(pages.alloc_page(gfp::kKernel, 0));
  EXPECT_TRUE(pages.alloc_page(gfp::kKernel, 0));
  // Page-table frames do not count unless fail_page_tables is set.
  EXPECT_TRUE(pages.allocate_frame(0));
  EXPECT_FALSE(pages.alloc_page(gfp::kKernel, 0));
  EXPECT_TRUE(pages.alloc_page(gfp::kKernel, 0));
  EXPECT_EQ(pages.stats().injected_failures, 1u);
  EXPECT_EQ(pages.stats().pages_allocated, 3u);
  EXPECT_EQ(pages.stats().table_pages_allocated, 1u);
}

TEST(PageAlloc, FailNthCanHitPageTables) {
  mmu::PhysMem memory({16 * kMiB, 1});
  PageAllocConfig config;
  config.fail_nth = 2;
  config.fail_page_tables = true;
  PageAllocator pages(memory, kReserved, config, 1);
  EXPECT_TRUE(pages.alloc_page(gfp::kKernel, 0));
  EXPECT_FALSE(pages.allocate_frame(0));
}

TEST(PageAlloc, FailPpmIsSeededAndDeterministic) {
  mmu::PhysMem memory({16 * kMiB, 1});
  PageAllocConfig config;
  config.fail_ppm = 250'000;
  const auto pattern = [&](std::uint64_t seed) {
    PageAllocator pages(memory, kReserved, config, seed);
    std::string outcome;
    for (int i = 0; i < 200; ++i)
      outcome += pages.alloc_page(gfp::kKernel, 0) ? '.' : 'x';
    return outcome;
  };
  const std::string first = pattern(7);
  EXPECT_EQ(first, pattern(7));
  EXPECT_NE(first, pattern(8));
  const auto failures = std::count(first.begin(), first.end(), 'x');
  EXPECT_GT(failures, 20);  // about 50 of 200
  EXPECT_LT(failures, 90);

  config.fail_ppm = 1'000'000;
  PageAllocator never(memory, kReserved, config, 1);
  EXPECT_FALSE(never.alloc_page(gfp::kKernel, 0));
}

TEST(PageAlloc, FreeingAFrameNotAllocatedThrows) {
  mmu::PhysMem memory({16 * kMiB, 1});
  PageAllocator pages(memory, kReserved, {}, 1);
  const auto page = *pages.alloc_page(gfp::kKernel, 0);
  pages.free_page(page);
  EXPECT_THROW(pages.free_page(page), std::logic_error);
  EXPECT_THROW(pages.free_page(mmu::Pfn{1}), std::logic_error);  // a reserved frame
}

}  // namespace
}  // namespace mmusim::vmalloc
