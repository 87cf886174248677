// The stale-translation check: the tracker counts live TLB entries per leaf PTE, the page-table
// editor reports changed leaves to it, the matching entries on every CPU are marked stale, and
// a hit on one is counted (and, like hardware, still translates to the old frame).
#include "tlb/stale_tracker.h"

#include <cstdint>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "mmu/pte.h"
#include "mmu/types.h"
#include "tests/tlb/tlb_test_support.h"
#include "tlb/translation_unit.h"

namespace mmusim::tlb {
namespace {

using mmu::AccessType;
using mmu::FaultKind;
using mmu::PageSize;
using mmu::Pcid;
using mmu::Pfn;
using mmu::PhysAddr;
using mmu::Privilege;
using mmu::VirtAddr;

constexpr VirtAddr kPage{0x400000};
constexpr Pfn kFrame{0x11000};
constexpr VirtAddr kOtherPage{0x401000};
constexpr Pfn kOtherFrame{0x11001};
constexpr VirtAddr kLargePage{0x600000};
constexpr Pfn kLargeFrame{0x20200};
constexpr Pcid kPcid{1};

class StaleTrackerTest : public ::testing::Test {
 protected:
  StaleTrackerTest() {
    machine.map(root, kPage, PageSize::k4K, kFrame, test::user_flags());
    machine.map(root, kOtherPage, PageSize::k4K, kOtherFrame, test::user_flags());
    machine.map(root, kLargePage, PageSize::k2M, kLargeFrame, test::user_flags());
    page_pte = machine.leaf(root, kPage).pte_addr;
    other_pte = machine.leaf(root, kOtherPage).pte_addr;
    large_pte = machine.leaf(root, kLargePage).pte_addr;
  }

  // A CPU whose TLBs the tracker watches, running address space `root` with PCID 1.
  TranslationUnit& add_cpu() {
    const int cpu = static_cast<int>(units.size());
    units.push_back(std::make_unique<TranslationUnit>(cpu, tlb, test::test_mmu_config(),
                                                      machine.memory, /*seed=*/1, &tracker));
    tracker.add_unit(units.back().get());
    units.back()->load_cr3(root, kPcid);
    return *units.back();
  }
  static TranslateResult load(TranslationUnit& unit, VirtAddr va) {
    return unit.translate(va, AccessType::kRead, Privilege::kUser);
  }
  static TranslateResult store(TranslationUnit& unit, VirtAddr va) {
    return unit.translate(va, AccessType::kWrite, Privilege::kUser);
  }
  void unmap(VirtAddr va, PageSize size) {
    ASSERT_TRUE(machine.editor.unmap(root, va, mmu::page_bytes(size)).ok());
  }
  void make_read_only(VirtAddr va) {
    ASSERT_TRUE(
        machine.editor.protect(root, va, mmu::kPageBytes, test::user_flags(/*writable=*/false))
            .ok());
  }

  StaleTracker tracker;
  test::Machine machine{&tracker};
  Pfn root = machine.new_root();
  TlbConfig tlb = test::test_tlb_config();
  std::vector<std::unique_ptr<TranslationUnit>> units;
  PhysAddr page_pte;
  PhysAddr other_pte;
  PhysAddr large_pte;
};

TEST_F(StaleTrackerTest, FillsAreCountedPerLeaf) {
  TranslationUnit& cpu = add_cpu();
  ASSERT_TRUE(load(cpu, kPage).ok());
  EXPECT_EQ(tracker.live_entries(page_pte), 2u);  // L1D and STLB
  ASSERT_TRUE(cpu.translate(kPage, AccessType::kExecute, Privilege::kUser).ok());
  EXPECT_EQ(tracker.live_entries(page_pte), 3u);  // plus the L1I copy of the STLB entry
  EXPECT_EQ(tracker.live_entries(other_pte), 0u);
}

TEST_F(StaleTrackerTest, UnmapWithoutInvlpgLeavesAStaleEntryThatStillTranslates) {
  TranslationUnit& cpu = add_cpu();
  ASSERT_TRUE(load(cpu, kPage).ok());
  unmap(kPage, PageSize::k4K);
  EXPECT_EQ(tracker.stats().leaf_changes, 1u);
  EXPECT_EQ(tracker.stats().leaf_changes_cached, 1u);
  EXPECT_EQ(tracker.stats().entries_marked_stale, 2u);

  // The hardware would still use the cached translation: the old frame comes back.
  const TranslateResult stale = load(cpu, kPage + 0x10);
  EXPECT_TRUE(stale.ok());
  EXPECT_TRUE(stale.stale_hit);
  EXPECT_EQ(stale.level, HitLevel::kL1);
  EXPECT_EQ(stale.paddr, PhysAddr{0x11000010});
  EXPECT_EQ(cpu.stats().stale_hits, 1u);
  EXPECT_EQ(cpu.walker().stats().walks, 1u);
  // Every further use counts again.
  EXPECT_TRUE(load(cpu, kPage + 0x20).stale_hit);
  EXPECT_EQ(cpu.stats().stale_hits, 2u);
}

TEST_F(StaleTrackerTest, InvlpgBetweenUnmapAndLoadPreventsTheStaleHit) {
  TranslationUnit& cpu = add_cpu();
  ASSERT_TRUE(load(cpu, kPage).ok());
  unmap(kPage, PageSize::k4K);
  EXPECT_EQ(cpu.invlpg(kPage), 2u);
  EXPECT_EQ(tracker.live_entries(page_pte), 0u);

  const TranslateResult fault = load(cpu, kPage + 0x10);
  EXPECT_FALSE(fault.stale_hit);
  EXPECT_EQ(fault.level, HitLevel::kWalk);
  EXPECT_EQ(fault.fault, FaultKind::kNotPresent);
  EXPECT_EQ(fault.error_code, 0x4u);  // user read of a not-present page
  // All four reads; every table entry on the way is already accessed.
  EXPECT_EQ(fault.walk_cycles, mmu::Cycles{test::kWalkStart + test::kReadPml4 + test::kReadPdpt +
                                           test::kReadPd + test::kReadPt});
  EXPECT_EQ(cpu.stats().stale_hits, 0u);
  EXPECT_EQ(cpu.stats().faults.not_present, 1u);
}

TEST_F(StaleTrackerTest, UnmapMarksTheEntriesOfEveryCpu) {
  TranslationUnit& cpu0 = add_cpu();
  TranslationUnit& cpu1 = add_cpu();
  ASSERT_TRUE(load(cpu0, kPage).ok());
  ASSERT_TRUE(load(cpu1, kPage).ok());
  ASSERT_TRUE(load(cpu1, kOtherPage).ok());
  EXPECT_EQ(tracker.live_entries(page_pte), 4u);

  unmap(kPage, PageSize::k4K);
  EXPECT_EQ(tracker.stats().entries_marked_stale, 4u);
  // Marking does not remove: the entries are still live until flushed.
  EXPECT_EQ(tracker.live_entries(page_pte), 4u);

  const TranslateResult on_cpu0 = load(cpu0, kPage);
  const TranslateResult on_cpu1 = load(cpu1, kPage);
  EXPECT_TRUE(on_cpu0.stale_hit);
  EXPECT_TRUE(on_cpu1.stale_hit);
  EXPECT_EQ(on_cpu1.paddr, PhysAddr{0x11000000});
  EXPECT_EQ(cpu0.stats().stale_hits, 1u);
  EXPECT_EQ(cpu1.stats().stale_hits, 1u);
  // The neighbouring page's entries were not touched.
  EXPECT_FALSE(load(cpu1, kOtherPage).stale_hit);
  EXPECT_EQ(cpu1.stats().stale_hits, 1u);
}

// Another address space maps the same page from its own leaf: its entry is not stale.
TEST_F(StaleTrackerTest, OnlyEntriesFilledFromTheChangedLeafAreMarked) {
  const Pfn other_root = machine.new_root();
  machine.map(other_root, kPage, PageSize::k4K, kOtherFrame, test::user_flags());
  TranslationUnit& cpu = add_cpu();
  ASSERT_TRUE(load(cpu, kPage).ok());
  cpu.load_cr3(other_root, Pcid{2});
  ASSERT_TRUE(load(cpu, kPage).ok());
  EXPECT_EQ(cpu.valid_entries(), 4u);  // L1D and STLB, for PCID 1 and PCID 2

  unmap(kPage, PageSize::k4K);  // in address space 1 only
  EXPECT_EQ(tracker.stats().entries_marked_stale, 2u);
  const TranslateResult other = load(cpu, kPage);
  EXPECT_FALSE(other.stale_hit);
  EXPECT_EQ(other.paddr, PhysAddr{0x11001000});
  cpu.load_cr3(root, kPcid);
  EXPECT_TRUE(load(cpu, kPage).stale_hit);
  EXPECT_EQ(cpu.stats().stale_hits, 1u);
}

TEST_F(StaleTrackerTest, ProtectMarksEntriesStaleToo) {
  TranslationUnit& cpu = add_cpu();
  ASSERT_TRUE(load(cpu, kPage).ok());
  make_read_only(kPage);
  EXPECT_EQ(tracker.stats().leaf_changes, 1u);
  EXPECT_EQ(tracker.stats().entries_marked_stale, 2u);
  const TranslateResult stale = load(cpu, kPage);
  EXPECT_TRUE(stale.stale_hit);
  EXPECT_EQ(cpu.stats().stale_hits, 1u);

  // Protecting again with the same flags writes nothing, so nothing is reported.
  make_read_only(kPage);
  EXPECT_EQ(tracker.stats().leaf_changes, 1u);
}

TEST_F(StaleTrackerTest, UnmapOfALargePageMarksItsEntries) {
  TranslationUnit& cpu = add_cpu();
  ASSERT_TRUE(load(cpu, kLargePage + 0x123456).ok());
  EXPECT_EQ(tracker.live_entries(large_pte), 2u);  // L1D 2 MiB structure and STLB
  unmap(kLargePage, PageSize::k2M);
  EXPECT_EQ(tracker.stats().entries_marked_stale, 2u);
  const TranslateResult stale = load(cpu, kLargePage + 0x1000);
  EXPECT_TRUE(stale.stale_hit);
  EXPECT_EQ(stale.paddr, PhysAddr{0x20201000});
}

// What the guest asks before handing out a virtual range again: stale entries of pages that
// reach into it, 4 KiB ones from just below its start and large ones from further down.
TEST_F(StaleTrackerTest, StaleEntriesInARangeCountThePagesReachingIntoIt) {
  TranslationUnit& cpu = add_cpu();
  ASSERT_TRUE(load(cpu, kPage).ok());
  ASSERT_TRUE(load(cpu, kLargePage + 0x123456).ok());
  EXPECT_EQ(tracker.stale_entries_in(0, ~std::uint64_t{0}), 0u);
  unmap(kPage, PageSize::k4K);
  unmap(kLargePage, PageSize::k2M);
  // Each page has an L1 and an STLB entry.
  EXPECT_EQ(tracker.stale_entries_in(0x400000, 0x401000), 2u);
  EXPECT_EQ(tracker.stale_entries_in(0x3ff000, 0x400001), 2u);
  EXPECT_EQ(tracker.stale_entries_in(0x400800, 0x402000), 2u);
  EXPECT_EQ(tracker.stale_entries_in(0x401000, 0x402000), 0u);
  EXPECT_EQ(tracker.stale_entries_in(0x7ff000, 0x800000), 2u);  // the 2 MiB page's last 4 KiB
  EXPECT_EQ(tracker.stale_entries_in(0x800000, 0x900000), 0u);
  EXPECT_EQ(tracker.stale_entries_in(0x3ff000, 0x900000), 4u);
  EXPECT_EQ(tracker.stale_entries_in(0x500000, 0x500000), 0u);  // an empty range
  // Flushed entries are no longer stale anywhere.
  cpu.invlpg(kLargePage);
  EXPECT_EQ(tracker.stale_entries_in(0x7ff000, 0x800000), 0u);
  EXPECT_EQ(tracker.stale_entries_in(0x3ff000, 0x900000), 2u);
}

TEST_F(StaleTrackerTest, ChangingALeafNoTlbHoldsIsCountedButMarksNothing) {
  TranslationUnit& cpu = add_cpu();
  ASSERT_TRUE(load(cpu, kOtherPage).ok());
  unmap(kPage, PageSize::k4K);
  EXPECT_EQ(tracker.stats().leaf_changes, 1u);
  EXPECT_EQ(tracker.stats().leaf_changes_cached, 0u);
  EXPECT_EQ(tracker.stats().entries_marked_stale, 0u);
}

TEST_F(StaleTrackerTest, LiveEntriesGoBackToZeroOnEviction) {
  // One entry per structure: the second page evicts the first from L1D and from the STLB.
  tlb.l1d_4k = TlbArrayConfig{1, 1, k4K, test::kL1dLatency, Replacement::kLru};
  tlb.stlb = TlbArrayConfig{1, 1, k4K | k2M, test::kL2Latency, Replacement::kLru};
  TranslationUnit& cpu = add_cpu();
  ASSERT_TRUE(load(cpu, kPage).ok());
  EXPECT_EQ(tracker.live_entries(page_pte), 2u);
  ASSERT_TRUE(load(cpu, kOtherPage).ok());
  EXPECT_EQ(tracker.live_entries(page_pte), 0u);
  EXPECT_EQ(tracker.live_entries(other_pte), 2u);
  // So unmapping the evicted page has nothing to mark.
  unmap(kPage, PageSize::k4K);
  EXPECT_EQ(tracker.stats().leaf_changes_cached, 0u);
}

TEST_F(StaleTrackerTest, LiveEntriesGoBackToZeroOnEveryInvalidation) {
  TranslationUnit& cpu = add_cpu();
  const auto refill = [&] {
    ASSERT_TRUE(load(cpu, kPage).ok());
    ASSERT_EQ(tracker.live_entries(page_pte), 2u);
  };
  refill();
  EXPECT_EQ(cpu.invlpg(kPage), 2u);
  EXPECT_EQ(tracker.live_entries(page_pte), 0u);
  refill();
  EXPECT_EQ(cpu.mov_cr3(root, kPcid, /*no_flush=*/false), 2u);
  EXPECT_EQ(tracker.live_entries(page_pte), 0u);
  for (unsigned type = 0; type < 4; ++type) {
    refill();
    EXPECT_EQ(cpu.invpcid(type, kPcid, kPage), 2u) << "INVPCID type " << type;
    EXPECT_EQ(tracker.live_entries(page_pte), 0u) << "INVPCID type " << type;
  }
  refill();
  EXPECT_EQ(cpu.toggle_pge(), 2u);
  EXPECT_EQ(tracker.live_entries(page_pte), 0u);
}

TEST_F(StaleTrackerTest, RefreshInPlaceKeepsTheCount) {
  TranslationUnit& cpu = add_cpu();
  ASSERT_TRUE(load(cpu, kPage).ok());
  // The store re-walks to set D and refills both entries in place.
  ASSERT_TRUE(store(cpu, kPage).ok());
  EXPECT_EQ(cpu.stats().dirty_rewalks, 1u);
  EXPECT_EQ(tracker.live_entries(page_pte), 2u);
}

TEST_F(StaleTrackerTest, PermissionFaultOnAHitDropsTheEntries) {
  TranslationUnit& cpu = add_cpu();
  make_read_only(kPage);
  ASSERT_TRUE(load(cpu, kPage).ok());
  ASSERT_EQ(tracker.live_entries(page_pte), 2u);
  EXPECT_EQ(store(cpu, kPage).fault, FaultKind::kWriteProtect);
  EXPECT_EQ(tracker.live_entries(page_pte), 0u);
  EXPECT_EQ(cpu.stats().stale_hits, 0u);
}

// A store through a stale writable entry with D clear walks (to set D), the walk finds the
// page read-only and faults, and the fault drops the stale entries (SDM 4.10.4.1).
TEST_F(StaleTrackerTest, StoreThroughStaleCleanEntryFaultsAndDropsIt) {
  TranslationUnit& cpu = add_cpu();
  ASSERT_TRUE(load(cpu, kPage).ok());
  make_read_only(kPage);
  const TranslateResult fault = store(cpu, kPage);
  EXPECT_TRUE(fault.stale_hit);
  EXPECT_EQ(fault.fault, FaultKind::kWriteProtect);
  EXPECT_EQ(fault.error_code, 0x7u);
  EXPECT_EQ(cpu.stats().dirty_rewalks, 1u);
  EXPECT_EQ(tracker.live_entries(page_pte), 0u);
  EXPECT_EQ(cpu.valid_entries(), 0u);

  const TranslateResult reload = load(cpu, kPage);
  EXPECT_FALSE(reload.stale_hit);
  EXPECT_EQ(reload.level, HitLevel::kWalk);
  EXPECT_EQ(cpu.stats().stale_hits, 1u);
}

}  // namespace
}  // namespace mmusim::tlb
