// The global kva allocator: alloc_vmap_area()'s hole walk from VMALLOC_START, the
// free_vmap_cache heuristic and its resets, what __free_vmap_area() does to the cache, and the
// purge-and-retry when a range is full.
//
// Notation in the comments: S = VMALLOC_START = 0xffffc90000000000. Every area is the
// requested size rounded up to pages plus one guard page, unless VM_NO_GUARD.
#include <gtest/gtest.h>

#include "machine.h"

namespace mmusim::vmalloc::testing {
namespace {

std::uint64_t area_size(Vmalloc& guest, std::uint64_t addr) {
  const VmStruct* vm = guest.find_vm_area(addr);
  return vm == nullptr ? 0 : vm->size;
}

TEST(KvaAllocator, MixedSizesAndAlignmentsFromVmallocStart) {
  Machine m;
  auto& [kernel, guest] = m;

  // Empty tree, no cache: addr = ALIGN(S, 1) = S. 1 page + guard = 0x2000.
  const std::uint64_t a = guest.vmalloc(1);
  EXPECT_EQ(a, kStart);
  EXPECT_EQ(area_size(guest, a), 0x2000u);

  // Cache = a (same vstart, align, no hole noted): addr = a.end = S+0x2000. 3 pages + guard.
  const std::uint64_t b = guest.vmalloc(3 * kPage);
  EXPECT_EQ(b, kStart + 0x2000);
  EXPECT_EQ(area_size(guest, b), 0x4000u);

  // A larger align keeps the cache: addr = ALIGN(b.end = S+0x6000, 64 KiB) = S+0x10000.
  const std::uint64_t c =
      guest.__vmalloc_node(5 * kPage, 0x10000, gfp::kKernel, PageProt::kKernel, kNumaNoNode, "c");
  EXPECT_EQ(c, kStart + 0x10000);
  EXPECT_EQ(area_size(guest, c), 0x6000u);

  // align 1 < cached_align 64 KiB drops the cache; the walk from S passes a and b and stops
  // in the alignment hole below c: [S+0x6000, S+0x8000).
  const std::uint64_t d = guest.vmalloc(kPage);
  EXPECT_EQ(d, kStart + 0x6000);

  // VM_IOREMAP: 0x3000 bytes -> align 1 << get_count_order(0x3000) = 16 KiB. Cache = d:
  // addr = ALIGN(d.end = S+0x8000, 16 KiB) = S+0x8000, and [S+0x8000, S+0xc000) ends
  // below c.
  const VmStruct* e = guest.get_vm_area(0x3000, vm_flags::kIoremap);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->addr, kStart + 0x8000);
  EXPECT_EQ(e->size, 0x4000u);

  // VM_IOREMAP of 1 MiB: align 1 MiB (x86-64's IOREMAP_MAX_ORDER is PUD_SHIFT, so no clamp
  // at 512 KiB). From the cache e: ALIGN(S+0xc000, 1 MiB) = S+0x100000, above c.
  const VmStruct* f = guest.get_vm_area(kMiB, vm_flags::kIoremap);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->addr, kStart + 0x100000);
  EXPECT_EQ(f->size, kMiB + kPage);

  // VM_NO_GUARD, align 1 < 1 MiB: full walk from S over a, b, d, e; the hole
  // [S+0xc000, S+0x10000) below c takes the 1-page area with no guard page.
  const VmStruct* g = guest.get_vm_area(kPage, vm_flags::kNoGuard);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->addr, kStart + 0xc000);
  EXPECT_EQ(g->size, kPage);

  // Cache = g: addr = g.end = S+0xd000; [S+0xd000, S+0xf000) still ends below c.
  EXPECT_EQ(guest.vmalloc(kPage), kStart + 0xd000);

  EXPECT_EQ(guest.check_invariants(), "");
  EXPECT_TRUE(kernel.flushes().empty());
  EXPECT_EQ(guest.busy_areas(), 8u);
}

TEST(KvaAllocator, IoremapAlignmentIsClampedBetweenPageAndPudSize) {
  Machine m;
  auto& guest = m.guest;
  ASSERT_EQ(guest.vmalloc(1), kStart);  // [S, S+0x2000)

  // 1 byte: get_count_order(PAGE_SIZE) = 12 = PAGE_SHIFT -> align 4 KiB: right after.
  const VmStruct* small = guest.get_vm_area(1, vm_flags::kIoremap);
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(small->addr, kStart + 0x2000);

  // 0x5000: get_count_order = 15 -> 32 KiB: ALIGN(S+0x4000, 0x8000) = S+0x8000.
  const VmStruct* middle = guest.get_vm_area(0x5000, vm_flags::kIoremap);
  ASSERT_NE(middle, nullptr);
  EXPECT_EQ(middle->addr, kStart + 0x8000);
  EXPECT_EQ(middle->size, 0x6000u);

  // 4 GiB: order 32 clamped to PUD_SHIFT = 30 -> 1 GiB: ALIGN(S+0xe000, 1 GiB).
  const VmStruct* huge = guest.get_vm_area(4 * kGiB, vm_flags::kIoremap);
  ASSERT_NE(huge, nullptr);
  EXPECT_EQ(huge->addr, kStart + kGiB);
  EXPECT_EQ(huge->size, 4 * kGiB + kPage);
}

TEST(KvaAllocator, PurgedHoleIsReused) {
  Machine m;
  auto& [kernel, guest] = m;
  const std::uint64_t a = guest.vmalloc(kPage);  // [S, S+0x2000)
  const std::uint64_t b = guest.vmalloc(kPage);  // [S+0x2000, S+0x4000)
  const std::uint64_t c = guest.vmalloc(kPage);  // [S+0x4000, S+0x6000)
  ASSERT_EQ(a, kStart);
  ASSERT_EQ(b, kStart + 0x2000);
  ASSERT_EQ(c, kStart + 0x4000);

  // A lazily freed area stays busy until purged: the next area goes above c.
  guest.vfree(b);
  EXPECT_EQ(guest.vmap_lazy_nr(), 2u);
  EXPECT_EQ(guest.vmalloc(kPage), kStart + 0x6000);

  // The purge flushes b's range and __free_vmap_area(b) moves the cache to rb_prev(b) = a.
  guest.vm_unmap_aliases();
  EXPECT_EQ(flush_ranges(kernel), (std::vector<Range>{{kStart + 0x2000, kStart + 0x4000}}));
  ASSERT_NE(guest.free_vmap_cache(), nullptr);
  EXPECT_EQ(guest.free_vmap_cache()->va_start, a);

  // From the cache a: addr = a.end = S+0x2000, and [S+0x2000, S+0x4000) ends at c: b's hole.
  EXPECT_EQ(guest.vmalloc(kPage), kStart + 0x2000);
  EXPECT_EQ(guest.check_invariants(), "");
}

TEST(KvaAllocator, SizeBelowCachedHoleSizeDropsTheCache) {
  Machine m;
  auto& guest = m.guest;
  const std::uint64_t x = guest.vmalloc(kPage);  // [S, S+0x2000)
  const std::uint64_t y =                        // ALIGN(S+0x2000, 64 KiB) = S+0x10000
      guest.__vmalloc_node(kPage, 0x10000, gfp::kKernel, PageProt::kKernel, kNumaNoNode, "y");
  ASSERT_EQ(x, kStart);
  ASSERT_EQ(y, kStart + 0x10000);

  // align 1 < 64 KiB: walk from S. Past x, addr = S+0x2000; 0x20000 bytes do not fit below
  // y, so the hole y.start - addr = 0xe000 is noted; the area goes after y.
  const VmStruct* z = guest.get_vm_area(0x1f000, 0);
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->addr, kStart + 0x12000);
  EXPECT_EQ(guest.cached_hole_size(), 0xe000u);

  // Exactly cached_hole_size is not smaller: the cache stays and the area goes above z,
  // although the hole below would have fitted it.
  const VmStruct* w = guest.get_vm_area(0xd000, 0);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->size, 0xe000u);
  EXPECT_EQ(w->addr, kStart + 0x32000);

  // 0x2000 < 0xe000: cache dropped, search from S: the hole right after x.
  EXPECT_EQ(guest.vmalloc(kPage), kStart + 0x2000);
  EXPECT_EQ(guest.cached_hole_size(), 0u);
}

TEST(KvaAllocator, LowerVstartDropsTheCache) {
  Machine m;
  auto& guest = m.guest;
  const std::uint64_t window = kStart + 0x100000;
  ASSERT_EQ(guest.vmalloc(kPage), kStart);  // [S, S+0x2000)

  // Cache = the area at S, but ALIGN(S+0x2000, 1) < vstart: search from vstart instead, and
  // nothing ends at or above it: the window's start.
  const VmStruct* b = guest.__get_vm_area(kPage, 0, window, kStart + 0x200000);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->addr, window);

  // vstart S < cached_vstart: the cache (b) is dropped, and the walk from S finds the hole
  // after the first area instead of going on from b.
  EXPECT_EQ(guest.vmalloc(kPage), kStart + 0x2000);

  // Back in the window: the cache (S+0x2000) ends below vstart, so the search starts at
  // vstart, finds b covering it and goes on after b, the last area.
  const VmStruct* d = guest.__get_vm_area(kPage, 0, window, kStart + 0x200000);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->addr, window + 0x2000);
}

TEST(KvaAllocator, SmallerAlignDropsTheCacheLargerKeepsIt) {
  Machine m;
  auto& guest = m.guest;
  const auto aligned = [&] {
    return guest.__vmalloc_node(kPage, 0x10000, gfp::kKernel, PageProt::kKernel, kNumaNoNode,
                                "aligned");
  };
  EXPECT_EQ(aligned(), kStart);            // [S, S+0x2000)
  EXPECT_EQ(aligned(), kStart + 0x10000);  // ALIGN(S+0x2000, 64 KiB)
  // align 1 < 64 KiB: from S, the first hole.
  EXPECT_EQ(guest.vmalloc(kPage), kStart + 0x2000);
  // 64 KiB >= cached_align 1: the cache (S+0x2000) stays. ALIGN(S+0x4000, 64 KiB) =
  // S+0x10000 runs into the area there; next try ALIGN(S+0x12000, 64 KiB) = S+0x20000.
  EXPECT_EQ(aligned(), kStart + 0x20000);
}

TEST(KvaAllocator, PurgeMovesTheCacheDownButKeepsCachedHoleSize) {
  Machine m;
  auto& [kernel, guest] = m;
  ASSERT_EQ(guest.vmalloc(kPage), kStart);
  const std::uint64_t y =
      guest.__vmalloc_node(kPage, 0x10000, gfp::kKernel, PageProt::kKernel, kNumaNoNode, "y");
  ASSERT_EQ(y, kStart + 0x10000);
  // As above: [S+0x12000, S+0x32000), noting the 0xe000 hole [S+0x2000, S+0x10000).
  VmStruct* z = guest.get_vm_area(0x1f000, 0);
  ASSERT_NE(z, nullptr);
  ASSERT_EQ(z->addr, kStart + 0x12000);
  // 0x10000 bytes, not below the noted hole: from the cache z, [S+0x32000, S+0x42000).
  const VmStruct* v = guest.get_vm_area(0xf000, 0);
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(v->addr, kStart + 0x32000);

  // z freed and purged: z.start <= cache (v).start, so the cache moves to rb_prev(z) = y;
  // cached_hole_size is deliberately left as it was.
  guest.free_vm_area(z);
  guest.vm_unmap_aliases();
  EXPECT_EQ(flush_ranges(kernel), (std::vector<Range>{{kStart + 0x12000, kStart + 0x32000}}));
  ASSERT_NE(guest.free_vmap_cache(), nullptr);
  EXPECT_EQ(guest.free_vmap_cache()->va_start, y);
  EXPECT_EQ(guest.cached_hole_size(), 0xe000u);

  // 0xe000 bytes: not below the stale 0xe000, so the search goes on from y, into z's old
  // place, not into the equally large hole at S+0x2000.
  const VmStruct* u = guest.get_vm_area(0xd000, 0);
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->addr, kStart + 0x12000);
  // Anything smaller resets the cache and finds the low hole.
  EXPECT_EQ(guest.vmalloc(kPage), kStart + 0x2000);
}

TEST(KvaAllocator, FreeingBelowCachedVstartDropsTheCache) {
  Machine m;
  auto& guest = m.guest;
  const std::uint64_t low = guest.vmalloc(kPage);  // [S, S+0x2000)
  const VmStruct* high = guest.__get_vm_area(kPage, 0, kStart + 0x100000, kStart + 0x200000);
  ASSERT_NE(high, nullptr);
  ASSERT_EQ(guest.free_vmap_cache()->va_start, high->addr);
  // low.end = S+0x2000 < cached_vstart = S+0x100000: __free_vmap_area() drops the cache.
  guest.vfree(low);
  guest.vm_unmap_aliases();
  EXPECT_EQ(guest.free_vmap_cache(), nullptr);
}

TEST(KvaAllocator, FailureAtVmallocEndThenPurgeAndRetry) {
  Machine m;
  auto& [kernel, guest] = m;
  ASSERT_EQ(guest.layout().vmalloc_end, kEnd);
  // A 32 KiB window ending at VMALLOC_END (the last byte, compared as if it were an end).
  const std::uint64_t window = kEnd + 1 - 0x8000;  // 0xffffe8ffffff8000
  const auto near_end = [&](std::uint64_t size) {
    return guest.__vmalloc_node_range(size, 1, window, kEnd, gfp::kKernel, PageProt::kKernel, 0,
                                      kNumaNoNode, "near_end");
  };
  // [0xffffe8ffffff8000, 0xffffe8ffffffc000).
  const std::uint64_t a = near_end(0x3000);
  EXPECT_EQ(a, 0xffffe8ffffff8000u);

  // From the cache a: 0xffffe8ffffffc000 + 0x4000 = 0xffffe90000000000 > VMALLOC_END: the
  // last page of the space is never handed out. Overflow, purge (nothing lazy), retry, fail.
  EXPECT_EQ(near_end(0x3000), 0u);
  EXPECT_EQ(kernel.messages(),
            (std::vector<std::string>{
                "vmap allocation for size 16384 failed: use vmalloc=<size> to increase size",
                "vmalloc: allocation failure: 12288 bytes"}));
  EXPECT_EQ(guest.stats().purge_retries, 1u);
  EXPECT_EQ(guest.stats().vmap_allocation_failures, 1u);
  EXPECT_TRUE(kernel.flushes().empty());

  // 0x3000 with its guard ends at 0xffffe8fffffff000 <= VMALLOC_END: fits.
  const std::uint64_t c = near_end(0x2000);
  EXPECT_EQ(c, 0xffffe8ffffffc000u);

  // With a freed lazily, the overflow's purge releases it (one flush over a's range), the
  // cache falls to rb_prev(a) = none, and the retry from the window's start takes a's place.
  guest.vfree(a);
  EXPECT_EQ(near_end(0x3000), 0xffffe8ffffff8000u);
  EXPECT_EQ(flush_ranges(kernel), (std::vector<Range>{{0xffffe8ffffff8000, 0xffffe8ffffffc000}}));
  EXPECT_EQ(guest.stats().purge_retries, 2u);
  EXPECT_EQ(guest.stats().vmap_allocation_failures, 1u);
  EXPECT_EQ(kernel.messages().size(), 2u);
  EXPECT_EQ(guest.vmap_lazy_nr(), 0u);
}

TEST(KvaAllocator, NoWarnSilencesTheFailure) {
  Machine m;
  auto& [kernel, guest] = m;
  const std::uint64_t window = kStart + 0x100000;
  // Two pages fit in the 8 KiB window, three do not.
  EXPECT_EQ(
      guest.__vmalloc_node_range(kPage, 1, window, window + 0x2000, gfp::kKernel | gfp::kNoWarn,
                                 PageProt::kKernel, 0, kNumaNoNode, "quiet"),
      window);
  EXPECT_EQ(
      guest.__vmalloc_node_range(kPage, 1, window, window + 0x2000, gfp::kKernel | gfp::kNoWarn,
                                 PageProt::kKernel, 0, kNumaNoNode, "quiet"),
      0u);
  EXPECT_TRUE(kernel.messages().empty());
  EXPECT_EQ(guest.stats().vmap_allocation_failures, 1u);
}

TEST(KvaAllocator, AnAlignmentThatWrapsPastZeroIsTheBugOf419) {
  Machine m;
  auto& [kernel, guest] = m;
  // ALIGN(0xffffc90000000000, 2^46): 0xffffc9 << 40 rounded up to a multiple of 0x40 << 40 is
  // 2^64, i.e. 0. 4.19 only checks for "addr + size < addr", so it searches from 0, finds
  // no area below VMALLOC_START, inserts [0, 0x2000) and then hits BUG_ON(va_start < vstart).
  EXPECT_EQ(guest.__vmalloc_node(kPage, std::uint64_t{1} << 46, gfp::kKernel, PageProt::kKernel,
                                 kNumaNoNode, "align_shift"),
            0u);
  ASSERT_EQ(kernel.bugs().size(), 1u);
  EXPECT_NE(kernel.bugs()[0].find("kernel BUG at mm/vmalloc.c alloc_vmap_area: "
                                  "BUG_ON(va->va_start < vstart)"),
            std::string::npos)
      << kernel.bugs()[0];
  // The bogus area stays in the tree, as it would in the oopsed kernel.
  ASSERT_NE(guest.first_area(), nullptr);
  EXPECT_EQ(guest.first_area()->va_start, 0u);
  EXPECT_EQ(guest.first_area()->va_end, 0x2000u);
  // One alignment step lower still fits: ALIGN(S, 2^45) = 0xffffe00000000000.
  EXPECT_EQ(guest.__vmalloc_node(kPage, std::uint64_t{1} << 45, gfp::kKernel, PageProt::kKernel,
                                 kNumaNoNode, "align_shift"),
            0xffffe00000000000u);
}

TEST(KvaAllocator, EarlyAreasAreBusyAfterInit) {
  // vm_area_register_early() hands out addresses from VMALLOC_START before the allocator
  // exists; vmalloc_init() imports them as busy areas (no guard page is added).
  VmStruct first;
  first.size = 0x5000;
  first.flags = vm_flags::kAlloc;
  VmStruct second;
  second.size = 0x3000;
  second.flags = vm_flags::kAlloc;
  MachineOptions options;
  options.boot = false;
  Machine m(options);
  auto& [kernel, guest] = m;
  guest.vm_area_register_early(&first, 0x4000);    // ALIGN(S + 0, 16 KiB) = S
  guest.vm_area_register_early(&second, 0x10000);  // ALIGN(S + 0x5000, 64 KiB) = S+0x10000
  EXPECT_EQ(first.addr, kStart);
  EXPECT_EQ(second.addr, kStart + 0x10000);
  guest.vmalloc_init();
  EXPECT_EQ(guest.busy_areas(), 2u);
  EXPECT_EQ(guest.find_vm_area(kStart + 0x4fff), &first);
  // The first hole: [S+0x5000, S+0x7000).
  EXPECT_EQ(guest.vmalloc(kPage), kStart + 0x5000);
  EXPECT_EQ(guest.vmap_area_pcpu_hole(), kEnd);

  VmStruct late;
  late.size = kPage;
  guest.vm_area_add_early(&late);
  ASSERT_EQ(kernel.bugs().size(), 1u);
  EXPECT_NE(kernel.bugs()[0].find("BUG_ON(vmap_initialized)"), std::string::npos);
}

TEST(KvaAllocator, AllocVmapAreaRejectsBadArguments) {
  Machine m;
  auto& [kernel, guest] = m;
  EXPECT_EQ(guest.alloc_vmap_area(0, 1, kStart, kEnd, kNumaNoNode, gfp::kKernel), nullptr);
  EXPECT_EQ(guest.alloc_vmap_area(100, 1, kStart, kEnd, kNumaNoNode, gfp::kKernel), nullptr);
  EXPECT_EQ(guest.alloc_vmap_area(kPage, 3, kStart, kEnd, kNumaNoNode, gfp::kKernel), nullptr);
  EXPECT_EQ(kernel.bugs().size(), 3u);
  EXPECT_EQ(guest.busy_areas(), 0u);
}

}  // namespace
}  // namespace mmusim::vmalloc::testing
