// The vmalloc family through __vmalloc_node_range(): each wrapper's gfp, alignment and
// protection, the page array that is itself vmalloc'ed above 512 pages, and the failure paths
// (fault injection in the page allocator), which must give back every page and area taken.
//
// S = VMALLOC_START = 0xffffc90000000000.
#include <gtest/gtest.h>

#include "machine.h"

namespace mmusim::vmalloc::testing {
namespace {

constexpr std::uint64_t kFirstFrameAbove4GiB = (std::uint64_t{4} << 30) / kPage;

MachineOptions with_memory(std::uint64_t bytes) {
  MachineOptions options;
  options.memory_bytes = bytes;
  return options;
}

MachineOptions failing_nth(std::uint64_t nth) {
  MachineOptions options;
  options.page_alloc.fail_nth = nth;
  return options;
}

std::vector<mmu::Pfn> pages_of(Vmalloc& guest, std::uint64_t addr) {
  const VmStruct* vm = guest.find_vm_area(addr);
  return vm == nullptr ? std::vector<mmu::Pfn>{} : vm->pages;
}

TEST(VmallocFamily, Vmalloc32TakesPagesBelow4GiB) {
  Machine m(with_memory(8 * kGiB));
  auto& [kernel, guest] = m;
  // GFP_KERNEL | __GFP_HIGHMEM: ZONE_NORMAL first, which starts at 4 GiB here.
  for (const mmu::Pfn page : pages_of(guest, guest.vmalloc(4 * kPage))) {
    EXPECT_GE(page.value(), kFirstFrameAbove4GiB);
  }
  // GFP_DMA32 | GFP_KERNEL (no highmem): ZONE_DMA32.
  for (const mmu::Pfn page : pages_of(guest, guest.vmalloc_32(4 * kPage))) {
    EXPECT_LT(page.value(), kFirstFrameAbove4GiB);
  }
  const std::uint64_t user32 = guest.vmalloc_32_user(2 * kPage);
  for (const mmu::Pfn page : pages_of(guest, user32)) {
    EXPECT_LT(page.value(), kFirstFrameAbove4GiB);
  }
  EXPECT_EQ(guest.find_vm_area(user32)->flags, vm_flags::kAlloc | vm_flags::kUsermap);
  EXPECT_EQ(kernel.pages().stats().dma32_pages_allocated, 6u);
}

TEST(VmallocFamily, ProtectionBits) {
  Machine m;
  auto& [kernel, guest] = m;
  const std::uint64_t data = guest.vmalloc(kPage);
  const std::uint64_t text = guest.vmalloc_exec(kPage);
  const auto data_pte = kernel.page_tables().lookup(kernel.kernel_root(), mmu::VirtAddr{data});
  const auto text_pte = kernel.page_tables().lookup(kernel.kernel_root(), mmu::VirtAddr{text});
  ASSERT_TRUE(data_pte && text_pte);
  // PAGE_KERNEL: global, writable, NX. PAGE_KERNEL_EXEC: the same without NX.
  EXPECT_TRUE(data_pte->pte.no_execute());
  EXPECT_FALSE(text_pte->pte.no_execute());
  EXPECT_TRUE(data_pte->pte.global() && text_pte->pte.global());
  EXPECT_TRUE(data_pte->pte.writable() && text_pte->pte.writable());
  EXPECT_FALSE(data_pte->pte.user());
}

TEST(VmallocFamily, ZeroedVariantsZeroRecycledPages) {
  Machine m;
  auto& [kernel, guest] = m;
  const std::vector<std::uint8_t> junk(kPage, 0x5a);
  std::vector<std::uint8_t> out(kPage);
  // Dirty a page and give it back; the allocator hands out the lowest free frame next.
  const auto recycle = [&] {
    const std::uint64_t dirty = guest.vmalloc(kPage);
    EXPECT_EQ(guest.vwrite(junk.data(), dirty, kPage), static_cast<long>(kPage));
    const mmu::Pfn frame = *frame_at(kernel, dirty);
    guest.vfree(dirty);
    return frame;
  };
  mmu::Pfn frame = recycle();
  const std::uint64_t plain = guest.vmalloc(kPage);
  ASSERT_EQ(frame_at(kernel, plain), frame);
  guest.vread(out.data(), plain, kPage);
  EXPECT_EQ(out, junk);  // vmalloc() does not zero
  guest.vfree(plain);

  for (const auto zeroed : {&Vmalloc::vzalloc, &Vmalloc::vmalloc_user}) {
    frame = recycle();
    const std::uint64_t fresh = (guest.*zeroed)(kPage, "zeroed");
    ASSERT_EQ(frame_at(kernel, fresh), frame);
    guest.vread(out.data(), fresh, kPage);
    EXPECT_EQ(out, std::vector<std::uint8_t>(kPage, 0));
    guest.vfree(fresh);
  }
}

TEST(VmallocFamily, VzallocNodeZeroesARecycledPageOfItsNode) {
  MachineOptions options;
  options.memory_bytes = 512 * kMiB;
  options.numa_nodes = 2;
  Machine m(options);
  auto& [kernel, guest] = m;
  const std::vector<std::uint8_t> junk(kPage, 0xc3);
  std::vector<std::uint8_t> out(kPage);
  // A page of node 1, dirtied and given back: the lowest free frame of node 1 again.
  const std::uint64_t dirty = guest.vmalloc_node(kPage, 1);
  ASSERT_EQ(dirty, kStart);
  ASSERT_EQ(guest.vwrite(junk.data(), dirty, kPage), static_cast<long>(kPage));
  const mmu::Pfn frame = *frame_at(kernel, dirty);
  EXPECT_EQ(kernel.pages().node_of(frame), 1u);
  guest.vfree(dirty);
  // The lazily freed area [S, S + 0x2000) is still busy: the next one starts above it.
  const std::uint64_t zeroed = guest.vzalloc_node(kPage, 1);
  ASSERT_EQ(zeroed, kStart + 0x2000);
  EXPECT_EQ(frame_at(kernel, zeroed), frame);
  guest.vread(out.data(), zeroed, kPage);
  EXPECT_EQ(out, std::vector<std::uint8_t>(kPage, 0));
  EXPECT_EQ(guest.stats().vzalloc_node, 1u);
}

TEST(VmallocFamily, VmallocUserIsUsermapAndShmlbaAligned) {
  Machine m;
  auto& guest = m.guest;
  ASSERT_EQ(guest.vmalloc(1), kStart);
  const std::uint64_t user = guest.vmalloc_user(3 * kPage);
  EXPECT_EQ(user, kStart + 0x2000);  // SHMLBA is PAGE_SIZE on x86
  EXPECT_EQ(user % kShmlba, 0u);
  const VmStruct* vm = guest.find_vm_area(user);
  EXPECT_EQ(vm->flags, vm_flags::kAlloc | vm_flags::kUsermap);  // VM_UNINITIALIZED cleared
  EXPECT_EQ(vm->nr_pages, 3u);
}

TEST(VmallocFamily, PageArrayIsVmallocedAbove512Pages) {
  Machine m;
  auto& guest = m.guest;
  // 512 pages: the array is exactly a page, kmalloc'ed. [S, S+0x201000).
  const std::uint64_t at_limit = guest.vmalloc(512 * kPage);
  EXPECT_EQ(guest.find_vm_area(at_limit)->pages_array, 0u);
  EXPECT_EQ(guest.busy_areas(), 1u);
  // 513 pages: area [S+0x201000, S+0x403000), then its 4104-byte array: 2 pages + guard.
  const std::uint64_t over = guest.vmalloc(513 * kPage);
  EXPECT_EQ(over, kStart + 0x201000);
  EXPECT_EQ(guest.find_vm_area(over)->pages_array, kStart + 0x403000);
  const VmStruct* array = guest.find_vm_area(kStart + 0x403000);
  ASSERT_NE(array, nullptr);
  EXPECT_EQ(array->nr_pages, 2u);
  EXPECT_EQ(array->size, 0x3000u);
  EXPECT_EQ(guest.busy_areas(), 3u);
  // vfree() gives back both areas: 514 + 3 lazy pages.
  guest.vfree(over);
  EXPECT_EQ(guest.vmap_lazy_nr(), 517u);
  EXPECT_EQ(guest.stats().vfree, 2u);  // kvfree() of the array is a vfree()
  EXPECT_EQ(guest.find_vm_area(kStart + 0x403000), nullptr);
}

TEST(VmallocFamily, RefusedSizes) {
  Machine m;
  auto& [kernel, guest] = m;
  EXPECT_EQ(guest.vmalloc(0), 0u);
  EXPECT_EQ(guest.vmalloc((kernel.pages().totalram_pages() + 1) * kPage), 0u);
  EXPECT_EQ(kernel.messages(),
            (std::vector<std::string>{
                "vmalloc: allocation failure: 0 bytes",
                "vmalloc: allocation failure: " +
                    std::to_string((kernel.pages().totalram_pages() + 1) * kPage) + " bytes"}));
  EXPECT_EQ(guest.busy_areas(), 0u);
}

TEST(VmallocFamily, InInterruptIsABug) {
  Machine m;
  auto& [kernel, guest] = m;
  kernel.set_interrupt(true);
  EXPECT_EQ(guest.vmalloc(kPage), 0u);
  EXPECT_EQ(kernel.bugs(),
            (std::vector<std::string>{"kernel BUG at mm/vmalloc.c __get_vm_area_node: "
                                      "BUG_ON(in_interrupt()) (CPU 0)"}));
  // The BUG kills the calling task in Linux, so warn_alloc() never prints.
  EXPECT_TRUE(kernel.messages().empty());
}

TEST(VmallocFamily, PageFailureGivesEverythingBack) {
  Machine m(failing_nth(3));
  auto& [kernel, guest] = m;
  const PageAllocStats before = kernel.pages().stats();
  // Pages 1 and 2 come, page 3 fails: nr_pages = 2 of an area of 5 pages with its guard.
  EXPECT_EQ(guest.vmalloc(4 * kPage), 0u);
  EXPECT_EQ(
      kernel.messages(),
      (std::vector<std::string>{"vmalloc: allocation failure, allocated 8192 of 20480 bytes"}));
  EXPECT_EQ(kernel.pages().stats().in_use, before.in_use);
  EXPECT_EQ(kernel.pages().stats().pages_freed - before.pages_freed, 2u);
  EXPECT_EQ(guest.stats().page_allocation_failures, 1u);
  // The area went through vfree(): lazily freed, then gone with the purge.
  EXPECT_EQ(guest.vmallocinfo(),
            "0xffffc90000000000-0xffffc90000005000   20480 unpurged vm_area\n");
  guest.vm_unmap_aliases();
  EXPECT_EQ(guest.vmallocinfo(), "");
  // The allocator works again after the injected failure.
  EXPECT_EQ(guest.vmalloc(kPage), kStart);
}

TEST(VmallocFamily, PageFailureAfterTheArrayFreesTheArrayToo) {
  Machine m(failing_nth(100));
  auto& [kernel, guest] = m;
  const PageAllocStats before = kernel.pages().stats();
  const std::uint64_t tables_before = kernel.page_tables().stats().tables_allocated;
  // 600 pages: the array (4800 bytes: 2 pages, allocations 1 and 2) is vmalloc'ed first at
  // [S+0x259000, S+0x25c000); the area's own pages are allocations 3..; the 100th fails
  // with 97 in place. The area is 601 pages with its guard.
  EXPECT_EQ(guest.vmalloc(600 * kPage), 0u);
  EXPECT_EQ(
      kernel.messages(),
      (std::vector<std::string>{"vmalloc: allocation failure, allocated 397312 of 2461696 bytes"}));
  const PageAllocStats& after = kernel.pages().stats();
  EXPECT_EQ(after.pages_allocated - before.pages_allocated, 99u);
  EXPECT_EQ(after.pages_freed - before.pages_freed, 99u);
  // Only the page tables the array's mapping needed stay in use.
  EXPECT_EQ(after.in_use - before.in_use,
            kernel.page_tables().stats().tables_allocated - tables_before);
  EXPECT_EQ(guest.vmallocinfo(),
            "0xffffc90000000000-0xffffc90000259000 2461696 unpurged vm_area\n"
            "0xffffc90000259000-0xffffc9000025c000   12288 unpurged vm_area\n");
  EXPECT_EQ(guest.check_invariants(), "");
}

TEST(VmallocFamily, ArrayFailureIsReportedByTheNestedCallOnly) {
  Machine m(failing_nth(1));
  auto& [kernel, guest] = m;
  EXPECT_EQ(guest.vmalloc(600 * kPage), 0u);
  // The nested vmalloc of the array fails on its first page and says so; the outer call then
  // removes its area and returns NULL without a message of its own.
  EXPECT_EQ(kernel.messages(),
            (std::vector<std::string>{"vmalloc: allocation failure, allocated 0 of 12288 bytes"}));
  EXPECT_EQ(guest.vmallocinfo(),
            "0xffffc90000000000-0xffffc90000259000 2461696 unpurged vm_area\n"
            "0xffffc90000259000-0xffffc9000025c000   12288 unpurged vm_area\n");
  EXPECT_EQ(kernel.pages().stats().pages_allocated, 0u);
}

TEST(VmallocFamily, NoWarnReachesTheNestedArrayAllocation) {
  Machine m(failing_nth(1));
  auto& [kernel, guest] = m;
  // GFP_RECLAIM_MASK carries __GFP_NOWARN into the array's allocation.
  EXPECT_EQ(guest.__vmalloc_node_range(600 * kPage, 1, kStart, kEnd, gfp::kKernel | gfp::kNoWarn,
                                       PageProt::kKernel, 0, kNumaNoNode, "quiet"),
            0u);
  EXPECT_TRUE(kernel.messages().empty());
}

}  // namespace
}  // namespace mmusim::vmalloc::testing
