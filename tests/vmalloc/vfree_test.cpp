// Freeing: vfree() and vfree_atomic() deferred to the CPU's work item, vunmap(), and the
// kernel's reports for bad and repeated frees.
//
// S = VMALLOC_START = 0xffffc90000000000.
#include <gtest/gtest.h>

#include "machine.h"

namespace mmusim::vmalloc::testing {
namespace {

TEST(Vfree, FreesPagesAndTheAreaLazily) {
  Machine m;
  auto& [kernel, guest] = m;
  const std::uint64_t in_use = kernel.pages().stats().in_use;
  const std::uint64_t a = guest.vmalloc(3 * kPage);
  const std::uint64_t tables = kernel.pages().stats().in_use - in_use - 3;
  guest.vfree(a);
  // The three pages are back at once; page tables stay; the area waits on the lazy list.
  EXPECT_EQ(kernel.pages().stats().in_use, in_use + tables);
  EXPECT_FALSE(mapped(kernel, a));
  EXPECT_EQ(guest.find_vm_area(a), nullptr);
  EXPECT_EQ(guest.busy_areas(), 1u);
  EXPECT_EQ(guest.vmap_lazy_nr(), 4u);
  EXPECT_TRUE(kernel.warnings().empty());
}

TEST(RemoveVmArea, HandsBackTheVmStructAndFreesTheAreaLazily) {
  Machine m;
  auto& [kernel, guest] = m;
  VmStruct* vm = guest.get_vm_area(2 * kPage, vm_flags::kIoremap);  // [S, S+0x3000) with guard
  ASSERT_NE(vm, nullptr);
  ASSERT_EQ(vm->addr, kStart);
  // remove_vm_area() finds the area by any address inside it, unmaps it and hands the
  // vm_struct to the caller; the vmap_area stays on the lazy list until a purge.
  EXPECT_EQ(guest.remove_vm_area(kStart + kPage), vm);
  EXPECT_EQ(vm->addr, kStart);
  EXPECT_EQ(guest.find_vm_area(kStart), nullptr);
  EXPECT_EQ(guest.vmap_lazy_nr(), 3u);
  EXPECT_EQ(guest.vmallocinfo(),
            "0xffffc90000000000-0xffffc90000003000   12288 unpurged vm_area\n");
  // A second removal finds no vm_struct any more.
  EXPECT_EQ(guest.remove_vm_area(kStart), nullptr);
  EXPECT_EQ(guest.stats().remove_vm_area, 2u);
  EXPECT_TRUE(kernel.warnings().empty());
  EXPECT_TRUE(kernel.bugs().empty());
}

TEST(Vfree, NullIsANoOp) {
  Machine m;
  auto& [kernel, guest] = m;
  guest.vfree(0);
  guest.vfree_atomic(0);
  kernel.set_interrupt(true);
  guest.vfree(0);
  EXPECT_EQ(kernel.pending_work(0), 0u);
  EXPECT_TRUE(kernel.warnings().empty());
  EXPECT_TRUE(kernel.bugs().empty());
  EXPECT_EQ(guest.stats().vfree, 2u);
}

TEST(Vfree, InInterruptRunsLaterOnTheSameCpuNewestFirst) {
  // A fixed threshold of 2 pages makes the free order visible in the purges: a 3-page area
  // freed first purges at once; a 2-page area freed first waits (2 is not above 2).
  VmallocConfig config;
  config.lazy_max_pages_mode = LazyMaxPages::kFixed;
  config.lazy_max_pages = 2;
  Machine m(with_config(config, 2));
  auto& [kernel, guest] = m;
  const std::uint64_t small = guest.vmalloc(kPage);      // [S, S+0x2000)
  const std::uint64_t large = guest.vmalloc(2 * kPage);  // [S+0x2000, S+0x5000)

  kernel.set_cpu(1);
  kernel.set_interrupt(true);
  guest.vfree(small);
  guest.vfree(large);
  // Both wait on CPU 1's list; only the first push scheduled the work item.
  EXPECT_EQ(guest.deferred_pending(1), 2u);
  EXPECT_EQ(kernel.pending_work(1), 1u);
  EXPECT_EQ(kernel.pending_work(0), 0u);
  EXPECT_NE(guest.find_vm_area(small), nullptr);
  EXPECT_TRUE(mapped(kernel, large));

  kernel.set_interrupt(false);
  kernel.set_cpu(0);
  EXPECT_EQ(kernel.run_work(1), 1u);
  // llist_del_all() order: large (pushed last) is freed first, 3 pages > 2: purged alone,
  // on CPU 1. Then small: 2 pages, not above 2: lazy.
  EXPECT_EQ(kernel.flushes(),
            (std::vector<FakeKernel::Flush>{{kStart + 0x2000, kStart + 0x5000, 1}}));
  EXPECT_EQ(guest.vmap_lazy_nr(), 2u);
  EXPECT_EQ(guest.deferred_pending(1), 0u);
  EXPECT_EQ(guest.find_vm_area(small), nullptr);
  EXPECT_EQ(guest.stats().deferred_frees, 2u);
}

TEST(Vfree, VfreeAtomicIsAlwaysDeferred) {
  Machine m;
  auto& [kernel, guest] = m;
  const std::uint64_t a = guest.vmalloc(kPage);
  guest.vfree_atomic(a);
  EXPECT_NE(guest.find_vm_area(a), nullptr);
  EXPECT_EQ(kernel.pending_work(0), 1u);
  EXPECT_EQ(guest.vmap_lazy_nr(), 0u);
  kernel.run_work(0);
  EXPECT_EQ(guest.find_vm_area(a), nullptr);
  EXPECT_EQ(guest.vmap_lazy_nr(), 2u);
  // A second round schedules the work again: the list was empty.
  guest.vfree_atomic(guest.vmalloc(kPage));
  EXPECT_EQ(kernel.pending_work(0), 1u);
}

TEST(Vfree, VunmapInInterruptIsABug) {
  Machine m;
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 1);
  const std::uint64_t a = guest.vmap(frames, 1, vm_flags::kMap, PageProt::kKernel);
  kernel.set_interrupt(true);
  guest.vunmap(a);
  EXPECT_EQ(kernel.bugs(),
            (std::vector<std::string>{
                "kernel BUG at mm/vmalloc.c vunmap: BUG_ON(in_interrupt()) (CPU 0)"}));
  EXPECT_TRUE(mapped(kernel, a));
  kernel.set_interrupt(false);
  guest.vunmap(a);
  EXPECT_FALSE(mapped(kernel, a));
  EXPECT_TRUE(kernel.pages().is_allocated(frames[0]));  // vunmap() keeps the caller's pages
}

TEST(Vfree, MisalignedAddressWarns) {
  Machine m;
  auto& [kernel, guest] = m;
  const std::uint64_t a = guest.vmalloc(kPage);
  guest.vfree(a + 0x10);
  EXPECT_EQ(kernel.warnings(),
            (std::vector<std::string>{"WARNING: CPU: 0 at mm/vmalloc.c __vunmap: Trying to vfree() "
                                      "bad address (0xffffc90000000010)"}));
  EXPECT_NE(guest.find_vm_area(a), nullptr);
}

TEST(Vfree, DoubleFreeWarnsThenOopsesOnceThePurgeHasRun) {
  Machine m;
  auto& [kernel, guest] = m;
  const std::uint64_t a = guest.vmalloc(kPage);
  guest.vfree(a);
  // The area is still on the lazy list, without its vm_struct.
  guest.vfree(a);
  EXPECT_EQ(kernel.warnings(),
            (std::vector<std::string>{"WARNING: CPU: 0 at mm/vmalloc.c __vunmap: Trying to vfree() "
                                      "nonexistent vm area (0xffffc90000000000)"}));
  // After the purge no area covers it: 4.19 dereferences find_vmap_area()'s NULL.
  guest.vm_unmap_aliases();
  guest.vfree(a);
  EXPECT_EQ(kernel.bugs(), (std::vector<std::string>{
                               "BUG: unable to handle kernel NULL pointer dereference in "
                               "__vunmap (no vmap area covers 0xffffc90000000000) (CPU 0)"}));
  EXPECT_EQ(kernel.warnings().size(), 1u);
}

TEST(Vfree, AnAddressInsideTheAreaFreesAllOfIt) {
  Machine m;
  auto& [kernel, guest] = m;
  const std::uint64_t a = guest.vmalloc(2 * kPage);
  const std::uint64_t in_use = kernel.pages().stats().in_use;
  // find_vmap_area() looks up containment, not the start: the whole area goes.
  guest.vfree(a + kPage);
  EXPECT_EQ(guest.find_vm_area(a), nullptr);
  EXPECT_FALSE(mapped(kernel, a));
  EXPECT_EQ(guest.vmap_lazy_nr(), 3u);
  EXPECT_EQ(kernel.pages().stats().in_use, in_use - 2);
  EXPECT_TRUE(kernel.warnings().empty());
}

TEST(Vfree, VmapAndVunmap) {
  Machine m;
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 3);
  const std::uint64_t a = guest.vmap(frames, 3, vm_flags::kMap, PageProt::kKernel);
  EXPECT_EQ(a, kStart);  // align 1 from S; 3 pages + guard
  const VmStruct* vm = guest.find_vm_area(a);
  ASSERT_NE(vm, nullptr);
  EXPECT_EQ(vm->size, 0x4000u);
  EXPECT_EQ(vm->flags, vm_flags::kMap);
  EXPECT_EQ(vm->nr_pages, 0u);  // vmap() does not record the pages
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(frame_at(kernel, a + i * kPage), frames[i]);
  EXPECT_FALSE(mapped(kernel, a + 3 * kPage));  // the guard page

  // More pages than the machine has: refused up front.
  EXPECT_EQ(guest.vmap(frames, static_cast<std::uint32_t>(kernel.pages().totalram_pages() + 1),
                       vm_flags::kMap, PageProt::kKernel),
            0u);
  guest.vunmap(a);
  EXPECT_FALSE(mapped(kernel, a));
  EXPECT_EQ(guest.vmap_lazy_nr(), 4u);
  for (const mmu::Pfn frame : frames)
    EXPECT_TRUE(kernel.pages().is_allocated(frame));
}

TEST(Vfree, VmapOverAMappedRangeFailsAndUndoes) {
  Machine m;
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 2);
  // Map a page where the next area will go, behind the allocator's back.
  ASSERT_TRUE(kernel.page_tables()
                  .map(kernel.kernel_root(), mmu::VirtAddr{kStart + kPage}, kPage, frames[0],
                       mmu::PageSize::k4K, {})
                  .ok());
  EXPECT_EQ(guest.vmap(frames, 2, vm_flags::kMap, PageProt::kKernel), 0u);
  ASSERT_EQ(kernel.warnings().size(), 1u);
  EXPECT_NE(kernel.warnings()[0].find("WARN_ON(!pte_none(*pte))"), std::string::npos);
  // vunmap() of the failed area: lazily freed, its PTEs cleared.
  EXPECT_EQ(guest.find_vm_area(kStart), nullptr);
  EXPECT_FALSE(mapped(kernel, kStart + kPage));
  EXPECT_EQ(guest.vmap_lazy_nr(), 3u);
}

}  // namespace
}  // namespace mmusim::vmalloc::testing
