// The percpu allocator's congruent areas: pcpu_get_vm_areas() placing every area at
// base + offsets[i], top-down from vmap_area_pcpu_hole, around existing areas, with a purge
// and retry when the space runs out; and its helpers pvm_find_next_prev() and
// pvm_determine_end().
//
// S = VMALLOC_START = 0xffffc90000000000; VMALLOC_END = 0xffffe8ffffffffff, so with page
// alignment vmalloc_end = VMALLOC_END & ~0xfff = 0xffffe8fffffff000.
#include <gtest/gtest.h>

#include "machine.h"

namespace mmusim::vmalloc::testing {
namespace {

constexpr std::uint64_t kPageAlignedEnd = 0xffffe8fffffff000ull;

std::vector<Range> ranges_of(const std::vector<VmStruct*>& vms) {
  std::vector<Range> ranges;
  for (const VmStruct* vm : vms)
    ranges.emplace_back(vm->addr, vm->addr + vm->size);
  return ranges;
}

TEST(PcpuGetVmAreas, EmptySpaceEndsAtVmallocEnd) {
  Machine m;
  auto& guest = m.guest;
  // last_end = 0x200000 + 0x4000; no area at all: base = 0xffffe8fffffff000 - 0x204000.
  auto vms = guest.pcpu_get_vm_areas({0, 0x200000}, {0x4000, 0x4000}, kPage);
  EXPECT_EQ(ranges_of(vms), (std::vector<Range>{{0xffffe8ffffdfb000, 0xffffe8ffffdff000},
                                                {0xffffe8ffffffb000, 0xffffe8ffffffF000}}));
  // The hole now starts at the highest area: base + offsets[last_area].
  EXPECT_EQ(guest.vmap_area_pcpu_hole(), 0xffffe8ffffffb000u);
  ASSERT_EQ(vms.size(), 2u);
  EXPECT_EQ(vms[0]->flags, vm_flags::kAlloc);
  EXPECT_EQ(vms[0]->caller, "pcpu_get_vm_areas");
  EXPECT_EQ(guest.find_vm_area(0xffffe8ffffffb000), vms[1]);
  EXPECT_EQ(guest.check_invariants(), "");
}

TEST(PcpuGetVmAreas, OffsetsAreKeptWhateverTheirOrder) {
  Machine m;
  auto& guest = m.guest;
  // align 64 KiB: vmalloc_end = 0xffffe8ffffff0000. The highest offset is area 2:
  // last_end = 0x100000 + 0x30000, base = 0xffffe8ffffff0000 - 0x130000 = 0xffffe8ffffec0000.
  auto vms = guest.pcpu_get_vm_areas({0x20000, 0, 0x100000}, {0x10000, 0x10000, 0x30000}, 0x10000);
  EXPECT_EQ(ranges_of(vms), (std::vector<Range>{{0xffffe8ffffee0000, 0xffffe8ffffef0000},
                                                {0xffffe8ffffec0000, 0xffffe8ffffed0000},
                                                {0xffffe8fffffc0000, 0xffffe8ffffff0000}}));
  EXPECT_EQ(guest.vmap_area_pcpu_hole(), 0xffffe8fffffc0000u);
}

TEST(PcpuGetVmAreas, BusySpaceIsSearchedTopDownAroundExistingAreas) {
  Machine m;
  auto& [kernel, guest] = m;
  ASSERT_EQ(guest.vmalloc(kPage), kStart);  // L = [S, S+0x2000)
  VmStruct* top = guest.__get_vm_area(kPage, 0, 0xffffe8ffffffc000, kEnd);
  ASSERT_NE(top, nullptr);
  ASSERT_EQ(top->addr, 0xffffe8ffffffc000u);  // T = [..ffc000, ..ffe000)

  // From the hole (VMALLOC_END): prev = T, next = none; base = 0xffffe8fffffff000 - 0x204000
  // = ..dfb000, but T ends above base + 0x200000 = ..ffb000. So next = T, prev = L, and
  // base = T.start - 0x204000 = 0xffffe8ffffdf8000. Area 1 then ends at T's start; area 0
  // ([..df8000, ..dfc000)) has next = T and prev = L, clear of both: done.
  auto first = guest.pcpu_get_vm_areas({0, 0x200000}, {0x4000, 0x4000}, kPage);
  EXPECT_EQ(ranges_of(first), (std::vector<Range>{{0xffffe8ffffdf8000, 0xffffe8ffffdfc000},
                                                  {0xffffe8ffffff8000, 0xffffe8ffffffc000}}));
  EXPECT_EQ(guest.vmap_area_pcpu_hole(), 0xffffe8ffffff8000u);

  // Again, from the hole ..ff8000: next = the area there (ends ..ffc000), prev = the one at
  // ..df8000; base = ..ff8000 - 0x204000 = 0xffffe8ffffdf4000, right below both.
  auto second = guest.pcpu_get_vm_areas({0, 0x200000}, {0x4000, 0x4000}, kPage);
  EXPECT_EQ(ranges_of(second), (std::vector<Range>{{0xffffe8ffffdf4000, 0xffffe8ffffdf8000},
                                                   {0xffffe8ffffff4000, 0xffffe8ffffff8000}}));
  EXPECT_EQ(guest.vmap_area_pcpu_hole(), 0xffffe8ffffff4000u);
  EXPECT_EQ(guest.check_invariants(), "");

  // __free_vmap_area() raises the hole again to the end of a purged area inside the space.
  guest.free_vm_area(top);
  guest.vm_unmap_aliases();
  EXPECT_EQ(guest.vmap_area_pcpu_hole(), 0xffffe8ffffffe000u);
  EXPECT_EQ(kernel.bugs().size(), 0u);
}

// One area as large as the space allows with its base 1 MiB above VMALLOC_START.
constexpr std::uint64_t kHugeArea = kPageAlignedEnd - kStart - kMiB;

TEST(PcpuGetVmAreas, PurgesAndRetriesWhenTheSpaceRunsOut) {
  Machine m;
  auto& [kernel, guest] = m;
  ASSERT_EQ(guest.vmalloc(kPage), kStart);
  VmStruct* blocker = guest.__get_vm_area(kPage, 0, kStart + 2 * kMiB, kEnd);
  ASSERT_EQ(blocker->addr, kStart + 2 * kMiB);
  guest.free_vm_area(blocker);  // lazily freed: still in the way

  // base = vmalloc_end - size = S + 1 MiB, but the blocker overlaps: base moves below its
  // start, S + 2 MiB - size, which is under VMALLOC_START. Purge (flushing the blocker),
  // retry from the top: now only [S, S+0x2000) is there, and S + 1 MiB fits.
  auto vms = guest.pcpu_get_vm_areas({0}, {kHugeArea}, kPage);
  EXPECT_EQ(ranges_of(vms), (std::vector<Range>{{kStart + kMiB, kPageAlignedEnd}}));
  EXPECT_EQ(flush_ranges(kernel), (std::vector<Range>{{kStart + 2 * kMiB, kStart + 0x202000}}));
  EXPECT_EQ(guest.vmap_area_pcpu_hole(), kStart + kMiB);
  EXPECT_EQ(guest.vmap_lazy_nr(), 0u);
}

TEST(PcpuGetVmAreas, FailsAfterOnePurgeWhenStillFull) {
  Machine m;
  auto& [kernel, guest] = m;
  ASSERT_EQ(guest.vmalloc(kPage), kStart);
  ASSERT_NE(guest.__get_vm_area(kPage, 0, kStart + 2 * kMiB, kEnd), nullptr);  // stays
  const std::uint64_t hole = guest.vmap_area_pcpu_hole();

  EXPECT_TRUE(guest.pcpu_get_vm_areas({0}, {kHugeArea}, kPage).empty());
  int purges = 0;
  for (const auto& event : kernel.lock_events()) {
    if (event.lock == "vmap_purge_lock" && event.action == "lock") ++purges;
  }
  EXPECT_EQ(purges, 1);
  EXPECT_EQ(guest.busy_areas(), 2u);
  EXPECT_EQ(guest.vmap_area_pcpu_hole(), hole);
  EXPECT_TRUE(kernel.flushes().empty());
}

TEST(PcpuGetVmAreas, RejectsBadRequests) {
  Machine m;
  auto& [kernel, guest] = m;
  // Larger than the whole aligned space: WARN, NULL.
  EXPECT_TRUE(guest.pcpu_get_vm_areas({0}, {kPageAlignedEnd - kStart + kPage}, kPage).empty());
  EXPECT_EQ(kernel.warnings().size(), 1u);
  // Overlapping areas, misaligned offsets or sizes, an align that is no power of two: BUG.
  EXPECT_TRUE(guest.pcpu_get_vm_areas({0, 0x1000}, {0x2000, 0x1000}, kPage).empty());
  EXPECT_TRUE(guest.pcpu_get_vm_areas({0x800}, {0x1000}, kPage).empty());
  EXPECT_TRUE(guest.pcpu_get_vm_areas({0}, {0x1800}, kPage).empty());
  EXPECT_TRUE(guest.pcpu_get_vm_areas({0}, {0x3000}, 0x3000).empty());
  EXPECT_EQ(kernel.bugs().size(), 4u);
  EXPECT_EQ(guest.busy_areas(), 0u);
}

TEST(PcpuGetVmAreas, FreeGivesTheAreasBackLazily) {
  Machine m;
  auto& guest = m.guest;
  auto vms = guest.pcpu_get_vm_areas({0, 0x200000}, {0x4000, 0x4000}, kPage);
  ASSERT_EQ(vms.size(), 2u);
  guest.pcpu_free_vm_areas(vms);
  EXPECT_TRUE(vms.empty());
  EXPECT_EQ(guest.vmap_lazy_nr(), 8u);  // 2 x 4 pages, no guard pages
  EXPECT_EQ(guest.find_vm_area(0xffffe8ffffffb000), nullptr);
}

class PvmHelpers : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = guest_.vmalloc(kPage);                                         // [S, S+0x2000)
    b_ = guest_.__get_vm_area(kPage, 0, kStart + 0x10000, kEnd)->addr;  // [S+0x10000, S+0x12000)
    c_ = guest_.__get_vm_area(kPage, 0, kStart + 0x20000, kEnd)->addr;  // [S+0x20000, S+0x22000)
    ASSERT_EQ(a_, kStart);
    ASSERT_EQ(b_, kStart + 0x10000);
    ASSERT_EQ(c_, kStart + 0x20000);
  }
  std::uint64_t start_of(const VmapArea* va) { return va == nullptr ? 0 : va->va_start; }

  Machine machine_;
  Vmalloc& guest_ = machine_.guest;
  std::uint64_t a_ = 0, b_ = 0, c_ = 0;
};

TEST_F(PvmHelpers, FindNextPrevEnclosesTheEndAddress) {
  // next->va_end > end >= prev->va_end.
  const std::vector<std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>> cases = {
      {kStart, kStart, 0},                           // below everything: next = a
      {kStart + 0x2000, kStart + 0x10000, kStart},   // exactly a's end: prev = a
      {kStart + 0x11000, kStart + 0x10000, kStart},  // inside b
      {kStart + 0x12000, kStart + 0x20000, kStart + 0x10000},
      {kStart + 0x30000, 0, kStart + 0x20000},  // above everything: prev = c
  };
  for (const auto& [end, next_start, prev_start] : cases) {
    VmapArea* next = nullptr;
    VmapArea* prev = nullptr;
    ASSERT_TRUE(guest_.pvm_find_next_prev(end, &next, &prev));
    EXPECT_EQ(start_of(next), next_start) << std::hex << end;
    EXPECT_EQ(start_of(prev), prev_start) << std::hex << end;
  }
}

TEST_F(PvmHelpers, DetermineEndFindsTheHighestAlignedAddressBelowNext) {
  VmapArea* c = guest_.find_vmap_area(c_);
  VmapArea* b = guest_.find_vmap_area(b_);
  VmapArea* next = c;
  VmapArea* prev = b;
  // c.start is 64 KiB aligned and b ends below it.
  EXPECT_EQ(guest_.pvm_determine_end(&next, &prev, 0x10000), kStart + 0x20000);
  EXPECT_EQ(next, c);
  EXPECT_EQ(prev, b);
  // 256 KiB: c.start rounds down to S, below the ends of b and a: both slide down.
  EXPECT_EQ(guest_.pvm_determine_end(&next, &prev, 0x40000), kStart);
  EXPECT_EQ(start_of(next), kStart);
  EXPECT_EQ(prev, nullptr);
  // No next: the aligned end of the space.
  next = nullptr;
  prev = c;
  EXPECT_EQ(guest_.pvm_determine_end(&next, &prev, kPage), kPageAlignedEnd);
  EXPECT_EQ(guest_.pvm_determine_end(&next, &prev, kGiB), 0xffffe8ffc0000000u);
  EXPECT_EQ(next, nullptr);
  EXPECT_EQ(prev, c);
}

TEST(PvmFindNextPrev, EmptyTreeFindsNothing) {
  Machine m;
  VmapArea* next = nullptr;
  VmapArea* prev = nullptr;
  EXPECT_FALSE(m.guest.pvm_find_next_prev(kEnd, &next, &prev));
}

}  // namespace
}  // namespace mmusim::vmalloc::testing
