// The guest running out of what it allocates from, without fault injection: the page allocator
// running dry (vmalloc returns NULL after warn_alloc()'s message, the partly built area is freed
// and every page goes back), and the vmalloc space filling up (alloc_vmap_area() purges the
// lazily freed areas and retries once, then prints "vmap allocation for size ... failed").
//
// Every count below is worked out from the machine's size and Linux 4.19's mm/vmalloc.c:
// S = VMALLOC_START = 0xffffc90000000000, VMALLOC_END = 0xffffe8ffffffffff (the last byte; the
// space is 32 TiB), and __get_vm_area_node() adds a guard page to every area's size.
#include <gtest/gtest.h>

#include "machine.h"

namespace mmusim::vmalloc::testing {
namespace {

// 16 MiB of memory: 4096 frames, of which the fake kernel reserves the first 256.
constexpr std::uint64_t kSmallMemory = 16 * kMiB;
constexpr std::uint64_t kFreeAtStart = 4096 - 256;
constexpr std::uint64_t kTiB = std::uint64_t{1} << 40;

MachineOptions small_machine() {
  MachineOptions options;
  options.memory_bytes = kSmallMemory;
  return options;
}

// Takes every free page, so that the test decides exactly how many the guest finds.
std::vector<mmu::Pfn> drain(PageAllocator& pages) {
  std::vector<mmu::Pfn> held;
  while (const auto pfn = pages.alloc_page(gfp::kKernel | gfp::kNoWarn, kNumaNoNode))
    held.push_back(*pfn);
  return held;
}

// Gives back the last `count` pages of `held`.
void give_back(PageAllocator& pages, std::vector<mmu::Pfn>& held, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    pages.free_page(held.back());
    held.pop_back();
  }
}

TEST(Exhaustion, PageAllocatorRunsDryWhileFillingTheArea) {
  Machine m(small_machine());
  auto& [kernel, guest] = m;
  PageAllocator& pages = kernel.pages();
  EXPECT_EQ(pages.totalram_pages(), kFreeAtStart);
  const std::uint64_t in_use_at_boot = pages.stats().in_use;  // the kernel's page tables
  std::vector<mmu::Pfn> held = drain(pages);
  ASSERT_EQ(held.size(), kFreeAtStart - in_use_at_boot);
  const std::uint64_t failures_before = pages.stats().exhausted_failures;

  // 10 pages free; vmalloc(16 pages): the area is [S, S + 17 pages) with its guard, the page
  // array (16 x 8 bytes) comes from kmalloc, pages 1..10 come and page 11 finds none.
  give_back(pages, held, 10);
  EXPECT_EQ(guest.vmalloc(16 * kPage), 0u);
  EXPECT_EQ(
      kernel.messages(),
      (std::vector<std::string>{"vmalloc: allocation failure, allocated 40960 of 69632 bytes"}));
  EXPECT_EQ(pages.stats().exhausted_failures - failures_before, 1u);
  EXPECT_EQ(pages.stats().injected_failures, 0u);
  EXPECT_EQ(guest.stats().page_allocation_failures, 1u);
  // __vunmap() gave the 10 pages back: all 10 are free again, nothing else was taken.
  EXPECT_EQ(pages.stats().in_use, in_use_at_boot + held.size());
  EXPECT_EQ(drain(pages).size(), 10u);
  // The area went lazily: it shows as unpurged until a purge, then nothing is left.
  EXPECT_EQ(guest.vmallocinfo(),
            "0xffffc90000000000-0xffffc90000011000   69632 unpurged vm_area\n");
  guest.vm_unmap_aliases();
  EXPECT_EQ(guest.vmallocinfo(), "");
  EXPECT_EQ(guest.busy_areas(), 0u);
  EXPECT_EQ(guest.vmap_lazy_nr(), 0u);
  EXPECT_EQ(guest.check_invariants(), "");
  EXPECT_TRUE(kernel.warnings().empty());
  EXPECT_TRUE(kernel.bugs().empty());
}

TEST(Exhaustion, NoPageAtAllFailsOnTheFirstPage) {
  Machine m(small_machine());
  auto& [kernel, guest] = m;
  PageAllocator& pages = kernel.pages();
  const std::vector<mmu::Pfn> held = drain(pages);
  const std::uint64_t in_use = pages.stats().in_use;
  // vmalloc(1 page): the area is 2 pages with its guard; not one page is allocated.
  EXPECT_EQ(guest.vmalloc(kPage), 0u);
  EXPECT_EQ(kernel.messages(),
            (std::vector<std::string>{"vmalloc: allocation failure, allocated 0 of 8192 bytes"}));
  EXPECT_EQ(pages.stats().in_use, in_use);
  guest.vm_unmap_aliases();
  EXPECT_EQ(guest.vmallocinfo(), "");
  EXPECT_EQ(guest.check_invariants(), "");
}

TEST(Exhaustion, EveryPageGoesBackAfterRepeatedFailures) {
  Machine m(small_machine());
  auto& [kernel, guest] = m;
  PageAllocator& pages = kernel.pages();
  const std::uint64_t in_use_at_boot = pages.stats().in_use;
  const std::uint64_t tables_at_boot = kernel.page_tables().stats().tables_allocated;
  // The fake kernel's boot took the kernel page table's root and the 256 PDPT pages of the
  // kernel half: 3840 - 257 = 3583 pages are free.
  ASSERT_EQ(in_use_at_boot, 257u);
  // vmalloc(64 pages) until it fails. Area k is [S + 65k pages, + 64 pages) (and its guard).
  // 55 areas take 55 x 64 = 3520 pages and the page tables of [S, S + 3575 pages): one PD page
  // and PT pages 0..6 (512 pages each), 8 pages; 3583 - 3528 = 55 are left. The 56th area
  // gets those 55 pages and finds none for its 56th (its PT page 7 is never reached).
  std::vector<std::uint64_t> live;
  for (;;) {
    const std::uint64_t addr = guest.vmalloc(64 * kPage);
    if (addr == 0) break;
    EXPECT_EQ(addr, kStart + live.size() * 65 * kPage);
    live.push_back(addr);
    ASSERT_LT(live.size(), 60u);
  }
  EXPECT_EQ(live.size(), 55u);
  EXPECT_EQ(kernel.page_tables().stats().tables_allocated - tables_at_boot, 8u);
  EXPECT_EQ(
      kernel.messages(),
      (std::vector<std::string>{"vmalloc: allocation failure, allocated 225280 of 266240 bytes"}));
  EXPECT_EQ(pages.stats().in_use, in_use_at_boot + 55 * 64 + 8);
  EXPECT_EQ(guest.stats().page_allocation_failures, 1u);
  // The failed area's 55 pages are free again.
  std::vector<mmu::Pfn> rest = drain(pages);
  EXPECT_EQ(rest.size(), 55u);
  for (const mmu::Pfn pfn : rest)
    pages.free_page(pfn);
  // Freeing everything leaves no area and only the page tables in use.
  for (const std::uint64_t addr : live)
    guest.vfree(addr);
  kernel.run_work(0);
  guest.vm_unmap_aliases();
  EXPECT_EQ(guest.vmallocinfo(), "");
  EXPECT_EQ(guest.busy_areas(), 0u);
  // vfree() gave back all 55 x 64 pages; only the 8 page-table pages stay (the kernel keeps
  // them).
  EXPECT_EQ(pages.stats().in_use, in_use_at_boot + 8);
  EXPECT_EQ(drain(pages).size(), 55u * 64 + 55);
  EXPECT_EQ(guest.check_invariants(), "");
}

TEST(Exhaustion, VmallocSpaceRunsOutThenAPurgeMakesRoom) {
  // Lazily freed areas wait for a purge however large (Linux's threshold, fls(1) x 32 MiB of
  // pages, would purge a 4 TiB area at once).
  VmallocConfig config;
  config.lazy_max_pages_mode = LazyMaxPages::kFixed;
  config.lazy_max_pages = std::uint64_t{1} << 40;
  Machine m(with_config(config));
  auto& [kernel, guest] = m;
  // get_vm_area() takes address space only (no pages). 4 TiB - 4 KiB plus the guard is 4 TiB:
  // seven such areas fill [S, S + 28 TiB); an eighth would end at VMALLOC_END + 1, past the
  // last byte, which alloc_vmap_area() never hands out.
  const std::uint64_t size = 4 * kTiB - kPage;
  std::vector<VmStruct*> areas;
  for (int i = 0; i < 7; ++i) {
    VmStruct* area = guest.get_vm_area(size, 0);
    ASSERT_NE(area, nullptr) << i;
    EXPECT_EQ(area->addr, kStart + i * 4 * kTiB) << i;
    areas.push_back(area);
  }
  // Overflow: purge (nothing lazy, so no flush), retry once, fail with the message.
  EXPECT_EQ(guest.get_vm_area(size, 0), nullptr);
  EXPECT_EQ(kernel.messages(),
            (std::vector<std::string>{
                "vmap allocation for size 4398046511104 failed: use vmalloc=<size> to increase "
                "size"}));
  EXPECT_EQ(guest.stats().purge_retries, 1u);
  EXPECT_EQ(guest.stats().vmap_allocation_failures, 1u);
  EXPECT_TRUE(kernel.flushes().empty());
  // One page less fits at the end: [S + 28 TiB, VMALLOC_END + 1 - 4 KiB).
  VmStruct* last = guest.get_vm_area(size - kPage, 0);
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->addr, kStart + 28 * kTiB);
  EXPECT_EQ(guest.busy_areas(), 8u);

  // Free the fourth area: free_vm_area() frees it lazily (2^30 pages wait). The next
  // allocation overflows, purges it (one flush over its range) and takes its place on the
  // retry.
  guest.free_vm_area(areas[3]);
  EXPECT_EQ(guest.vmap_lazy_nr(), std::uint64_t{1} << 30);
  EXPECT_TRUE(kernel.flushes().empty());
  VmStruct* again = guest.get_vm_area(size, 0);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->addr, kStart + 12 * kTiB);
  EXPECT_EQ(guest.stats().purge_retries, 2u);
  EXPECT_EQ(guest.stats().vmap_allocation_failures, 1u);
  EXPECT_EQ(flush_ranges(kernel), (std::vector<Range>{{kStart + 12 * kTiB, kStart + 16 * kTiB}}));
  EXPECT_EQ(kernel.messages().size(), 1u);
  EXPECT_EQ(guest.vmap_lazy_nr(), 0u);
  EXPECT_EQ(guest.check_invariants(), "");
}

}  // namespace
}  // namespace mmusim::vmalloc::testing
