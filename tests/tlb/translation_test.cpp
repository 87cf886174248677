// TranslationUnit::translate(): where a lookup hits (L1, second level, walk) and what it costs,
// the instruction side, page sizes, global entries and PCIDs, permission faults on a TLB hit,
// and the store that re-walks to set the Dirty bit.
#include <cstdint>
#include <memory>

#include <gtest/gtest.h>

#include "mmu/pte.h"
#include "mmu/types.h"
#include "mmu/walker.h"
#include "tests/tlb/tlb_test_support.h"
#include "tlb/translation_unit.h"

namespace mmusim::tlb {
namespace {

using mmu::AccessType;
using mmu::FaultKind;
using mmu::PageSize;
using mmu::Pfn;
using mmu::PhysAddr;
using mmu::Privilege;
using mmu::VirtAddr;

constexpr VirtAddr kUserPage{0x400000};
constexpr Pfn kUserFrame{0x11000};
constexpr VirtAddr kUserPage2{0x401000};
constexpr Pfn kUserFrame2{0x11001};
constexpr VirtAddr kUser2M{0x600000};
constexpr Pfn kUser2MFrame{0x20200};
constexpr VirtAddr kUser1G{0x40000000};
constexpr Pfn kUser1GFrame{0x80000};
constexpr VirtAddr kKernelPage{0xffffc90000000000};
constexpr Pfn kKernelFrame{0x10000};
constexpr VirtAddr kKernelPage2{0xffffc90000001000};
constexpr Pfn kKernelFrame2{0x10001};

// Walk costs with the test latencies and the paging-structure caches off. The editor creates
// every entry with Accessed clear, and the walker writes each one back once to set it.
constexpr std::uint64_t kFourReads =
    test::kWalkStart + test::kReadPml4 + test::kReadPdpt + test::kReadPd + test::kReadPt;  // 103
// First walk through brand-new tables: 4 reads and 4 Accessed write-backs.
constexpr std::uint64_t kColdWalk = kFourReads + 4 * test::kAdUpdate;  // 131
// Upper levels already accessed, the leaf not yet (or a store setting D): one write-back.
constexpr std::uint64_t kWarmWalk = kFourReads + test::kAdUpdate;  // 110

// A translation missing L1 and the second level: every L1 structure's latency, then L2's.
constexpr std::uint64_t kDataMissLookup = test::kL1dLatency + test::kL2Latency;   // 10
constexpr std::uint64_t kFetchMissLookup = test::kL1iLatency + test::kL2Latency;  // 11

class TranslationTest : public ::testing::Test {
 protected:
  // Builds the unit from `tlb` and `mmu` (tests adjust them first) with CR3 = root, PCID 1.
  void start() {
    unit = std::make_unique<TranslationUnit>(0, tlb, mmu, machine.memory, /*seed=*/1, nullptr);
    unit->load_cr3(root, mmu::Pcid{1});
  }
  TranslateResult load(VirtAddr va, Privilege privilege = Privilege::kUser) {
    return unit->translate(va, AccessType::kRead, privilege);
  }
  TranslateResult store(VirtAddr va, Privilege privilege = Privilege::kUser) {
    return unit->translate(va, AccessType::kWrite, privilege);
  }
  TranslateResult fetch(VirtAddr va, Privilege privilege = Privilege::kUser) {
    return unit->translate(va, AccessType::kExecute, privilege);
  }
  std::uint64_t valid(const char* array) const { return unit->find_array(array)->valid_entries(); }
  const TlbArrayStats& array_stats(const char* array) const {
    return unit->find_array(array)->stats();
  }
  std::uint64_t psc_entries(mmu::Level level) {
    return unit->walker().cache(level).valid_entries();
  }

  test::Machine machine;
  Pfn root = machine.new_root();
  TlbConfig tlb = test::test_tlb_config();
  mmu::MmuConfig mmu = test::test_mmu_config();
  std::unique_ptr<TranslationUnit> unit;
};

TEST_F(TranslationTest, WalkThenL1HitThenL2HitWithExactCycles) {
  // One-entry L1: the second page pushes the first out of L1 but not out of the STLB.
  tlb.l1d_4k = TlbArrayConfig{1, 1, k4K, test::kL1dLatency, Replacement::kLru};
  machine.map(root, kUserPage, PageSize::k4K, kUserFrame, test::user_flags());
  machine.map(root, kUserPage2, PageSize::k4K, kUserFrame2, test::user_flags());
  start();

  const TranslateResult walk = load(kUserPage + 0x234);
  EXPECT_TRUE(walk.ok());
  EXPECT_EQ(walk.level, HitLevel::kWalk);
  EXPECT_EQ(walk.paddr, PhysAddr{0x11000234});
  EXPECT_EQ(walk.tlb_cycles, mmu::Cycles{10});
  EXPECT_EQ(walk.walk_cycles, mmu::Cycles{131});
  EXPECT_EQ(walk.cycles(), mmu::Cycles{141});
  EXPECT_FALSE(walk.stale_hit);

  const TranslateResult l1 = load(kUserPage + 0x238);
  EXPECT_EQ(l1.level, HitLevel::kL1);
  EXPECT_EQ(l1.paddr, PhysAddr{0x11000238});
  EXPECT_EQ(l1.tlb_cycles, mmu::Cycles{1});
  EXPECT_EQ(l1.walk_cycles, mmu::Cycles{0});

  const TranslateResult second_page = load(kUserPage2 + 8);
  EXPECT_EQ(second_page.level, HitLevel::kWalk);
  EXPECT_EQ(second_page.paddr, PhysAddr{0x11001008});
  EXPECT_EQ(second_page.tlb_cycles, mmu::Cycles{kDataMissLookup});
  EXPECT_EQ(second_page.walk_cycles, mmu::Cycles{kWarmWalk});

  const TranslateResult l2 = load(kUserPage);
  EXPECT_EQ(l2.level, HitLevel::kL2);
  EXPECT_EQ(l2.paddr, PhysAddr{0x11000000});
  EXPECT_EQ(l2.tlb_cycles, mmu::Cycles{10});
  EXPECT_EQ(l2.walk_cycles, mmu::Cycles{0});

  // The L2 hit refilled L1.
  const TranslateResult refilled = load(kUserPage + 4);
  EXPECT_EQ(refilled.level, HitLevel::kL1);
  EXPECT_EQ(refilled.tlb_cycles, mmu::Cycles{1});

  const TranslationStats& stats = unit->stats();
  EXPECT_EQ(stats.translations, 5u);
  EXPECT_EQ(stats.l1_hits, 2u);
  EXPECT_EQ(stats.l2_hits, 1u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_EQ(stats.tlb_cycles, 10u + 1 + 10 + 10 + 1);
  EXPECT_EQ(stats.walk_cycles, 131u + 110);
  EXPECT_EQ(unit->walker().stats().walks, 2u);

  // L1 lookups stop at the first structure that hits; a miss counts once per structure.
  EXPECT_EQ(array_stats("l1d_4k").hits, 2u);
  EXPECT_EQ(array_stats("l1d_4k").misses, 3u);
  EXPECT_EQ(array_stats("l1d_4k").fills, 3u);      // page 1, page 2, page 1 again
  EXPECT_EQ(array_stats("l1d_4k").evictions, 2u);  // each fill after the first
  EXPECT_EQ(array_stats("l1d_2m").misses, 3u);
  EXPECT_EQ(array_stats("l1d_1g").misses, 3u);
  // The STLB holds two page sizes: each missing lookup probes both.
  EXPECT_EQ(array_stats("stlb").hits, 1u);
  EXPECT_EQ(array_stats("stlb").misses, 4u);
  EXPECT_EQ(array_stats("stlb").fills, 2u);
  EXPECT_EQ(array_stats("stlb").evictions, 0u);
  EXPECT_EQ(array_stats("stlb_1g").misses, 2u);
  EXPECT_EQ(valid("l1d_4k"), 1u);
  EXPECT_EQ(valid("stlb"), 2u);
}

TEST_F(TranslationTest, InstructionFetchUsesL1iAndTheUnifiedStlb) {
  machine.map(root, kUserPage, PageSize::k4K, kUserFrame, test::user_flags());
  start();

  const TranslateResult walk = fetch(kUserPage + 0x10);
  EXPECT_TRUE(walk.ok());
  EXPECT_EQ(walk.level, HitLevel::kWalk);
  EXPECT_EQ(walk.paddr, PhysAddr{0x11000010});
  EXPECT_EQ(walk.tlb_cycles, mmu::Cycles{kFetchMissLookup});
  EXPECT_EQ(walk.walk_cycles, mmu::Cycles{kColdWalk});
  EXPECT_EQ(valid("l1i_4k"), 1u);
  EXPECT_EQ(valid("l1d_4k"), 0u);
  EXPECT_EQ(valid("stlb"), 1u);

  // A load finds the fetch's STLB entry and fills L1D from it.
  const TranslateResult data = load(kUserPage + 0x20);
  EXPECT_EQ(data.level, HitLevel::kL2);
  EXPECT_EQ(data.tlb_cycles, mmu::Cycles{kDataMissLookup});
  EXPECT_EQ(data.walk_cycles, mmu::Cycles{0});
  EXPECT_EQ(data.paddr, PhysAddr{0x11000020});
  EXPECT_EQ(valid("l1d_4k"), 1u);

  const TranslateResult again = fetch(kUserPage + 0x30);
  EXPECT_EQ(again.level, HitLevel::kL1);
  EXPECT_EQ(again.tlb_cycles, mmu::Cycles{test::kL1iLatency});

  EXPECT_EQ(array_stats("l1i_4k").hits, 1u);
  EXPECT_EQ(array_stats("l1d_4k").hits, 0u);
  EXPECT_EQ(array_stats("stlb").hits, 1u);
  EXPECT_EQ(unit->stats().l1_hits, 1u);
  EXPECT_EQ(unit->stats().l2_hits, 1u);
  EXPECT_EQ(unit->stats().misses, 1u);
  EXPECT_EQ(unit->stats().tlb_cycles, 11u + 10 + 2);
}

TEST_F(TranslationTest, PageSizeNoL1StructureHoldsStillHitsInTheStlb) {
  machine.map(root, kUser1G, PageSize::k1G, kUser1GFrame, test::user_flags());
  machine.map(root, kUser2M, PageSize::k2M, kUser2MFrame, test::user_flags());
  start();

  // 1 GiB: PML4E then the PDPTE leaf; both get Accessed written back.
  const TranslateResult walk = fetch(kUser1G + 0x12345678);
  EXPECT_EQ(walk.level, HitLevel::kWalk);
  EXPECT_EQ(walk.paddr, PhysAddr{0x92345678});
  EXPECT_EQ(walk.tlb_cycles, mmu::Cycles{kFetchMissLookup});
  EXPECT_EQ(walk.walk_cycles, mmu::Cycles{test::kWalkStart + test::kReadPml4 + test::kReadPdpt +
                                          2 * test::kAdUpdate});  // 87
  // No L1I structure holds 1 GiB pages: every later fetch is a second-level hit.
  for (int i = 0; i < 2; ++i) {
    const TranslateResult hit = fetch(kUser1G + 0x10);
    EXPECT_EQ(hit.level, HitLevel::kL2);
    EXPECT_EQ(hit.tlb_cycles, mmu::Cycles{kFetchMissLookup});
    EXPECT_EQ(hit.walk_cycles, mmu::Cycles{0});
    EXPECT_EQ(hit.paddr, PhysAddr{0x80000010});
  }
  EXPECT_EQ(valid("l1i_4k") + valid("l1i_2m"), 0u);
  EXPECT_EQ(valid("stlb_1g"), 1u);
  EXPECT_EQ(array_stats("stlb_1g").hits, 2u);

  // The data side has a 1 GiB L1 structure: the first load refills it, the second hits it.
  EXPECT_EQ(load(kUser1G + 0x20).level, HitLevel::kL2);
  EXPECT_EQ(load(kUser1G + 0x20).level, HitLevel::kL1);
  EXPECT_EQ(valid("l1d_1g"), 1u);

  // 2 MiB fetches do have an L1I structure. The PML4E is already accessed; the PDPTE (a
  // table here) and the PDE leaf are not.
  const TranslateResult large = fetch(kUser2M + 0x1234);
  EXPECT_EQ(large.level, HitLevel::kWalk);
  EXPECT_EQ(large.paddr, PhysAddr{0x20201234});
  EXPECT_EQ(large.walk_cycles, mmu::Cycles{test::kWalkStart + test::kReadPml4 + test::kReadPdpt +
                                           test::kReadPd + 2 * test::kAdUpdate});  // 107
  const TranslateResult large_hit = fetch(kUser2M + 0x5678);
  EXPECT_EQ(large_hit.level, HitLevel::kL1);
  EXPECT_EQ(large_hit.paddr, PhysAddr{0x20205678});
  EXPECT_EQ(valid("l1i_2m"), 1u);
}

TEST_F(TranslationTest, DataSideWithoutA1GStructureHitsTheStlbEveryTime) {
  tlb.l1d_1g.sets = 0;
  machine.map(root, kUser1G, PageSize::k1G, kUser1GFrame, test::user_flags());
  start();
  EXPECT_EQ(load(kUser1G).level, HitLevel::kWalk);
  EXPECT_EQ(load(kUser1G + 8).level, HitLevel::kL2);
  const TranslateResult hit = load(kUser1G + 16);
  EXPECT_EQ(hit.level, HitLevel::kL2);
  EXPECT_EQ(hit.tlb_cycles, mmu::Cycles{kDataMissLookup});
  EXPECT_EQ(hit.paddr, PhysAddr{0x80000010});
  EXPECT_EQ(unit->find_array("l1d_1g")->exists(), false);
  EXPECT_EQ(unit->valid_entries(), 1u);
}

class GlobalTranslationTest : public TranslationTest {
 protected:
  // Address space A (the fixture's root) and B share the kernel half, which holds a global
  // page and a non-global one.
  void map_kernel() {
    ASSERT_TRUE(machine.editor.populate_kernel_half(root).ok());
    root_b = machine.new_root_sharing_kernel(root);
    machine.map(root, kKernelPage, PageSize::k4K, kKernelFrame, test::kernel_flags(true));
    machine.map(root, kKernelPage2, PageSize::k4K, kKernelFrame2, test::kernel_flags(false));
  }
  Pfn root_b{0};
};

TEST_F(GlobalTranslationTest, GlobalEntryHitsUnderAnotherPcidWithPge) {
  map_kernel();
  start();
  EXPECT_EQ(load(kKernelPage, Privilege::kSupervisor).level, HitLevel::kWalk);
  EXPECT_EQ(load(kKernelPage2, Privilege::kSupervisor).level, HitLevel::kWalk);

  unit->load_cr3(root_b, mmu::Pcid{2});
  const TranslateResult global = load(kKernelPage + 0x40, Privilege::kSupervisor);
  EXPECT_EQ(global.level, HitLevel::kL1);
  EXPECT_EQ(global.paddr, PhysAddr{0x10000040});
  // The non-global page is cached for PCID 1 only. B's PML4E is a copy taken before A's walks
  // set Accessed, so it is the one entry on the path that still needs a write-back.
  const TranslateResult private_page = load(kKernelPage2 + 0x40, Privilege::kSupervisor);
  EXPECT_EQ(private_page.level, HitLevel::kWalk);
  EXPECT_EQ(private_page.paddr, PhysAddr{0x10001040});
  EXPECT_EQ(private_page.walk_cycles, mmu::Cycles{kWarmWalk});
  EXPECT_EQ(unit->valid_entries(), 6u);  // L1D and STLB: global, PCID 1 and PCID 2 copies
}

TEST_F(GlobalTranslationTest, GlobalBitIsIgnoredWithoutPge) {
  mmu.pge = false;
  map_kernel();
  start();
  EXPECT_EQ(load(kKernelPage, Privilege::kSupervisor).level, HitLevel::kWalk);
  unit->load_cr3(root_b, mmu::Pcid{2});
  const TranslateResult again = load(kKernelPage, Privilege::kSupervisor);
  EXPECT_EQ(again.level, HitLevel::kWalk);
  EXPECT_EQ(again.walk_cycles, mmu::Cycles{kWarmWalk});  // B's own PML4E gets Accessed
  EXPECT_EQ(unit->stats().misses, 2u);
  EXPECT_EQ(unit->valid_entries(), 4u);  // a PCID 1 and a PCID 2 entry in L1D and STLB
}

TEST_F(TranslationTest, UserAccessToSupervisorEntryFaultsAndDropsIt) {
  machine.map(root, kKernelPage, PageSize::k4K, kKernelFrame, test::kernel_flags(false));
  start();
  ASSERT_TRUE(load(kKernelPage, Privilege::kSupervisor).ok());
  ASSERT_EQ(unit->valid_entries(), 2u);

  const TranslateResult fault = load(kKernelPage + 8, Privilege::kUser);
  EXPECT_EQ(fault.fault, FaultKind::kUserSupervisor);
  EXPECT_EQ(fault.error_code, mmu::fault_bits::kPresent | mmu::fault_bits::kUser);  // 0x5
  EXPECT_EQ(fault.level, HitLevel::kL1);
  EXPECT_EQ(fault.tlb_cycles, mmu::Cycles{1});
  EXPECT_EQ(fault.walk_cycles, mmu::Cycles{0});  // decided from the entry, no walk
  EXPECT_EQ(unit->valid_entries(), 0u);
  EXPECT_EQ(array_stats("l1d_4k").invalidated, 1u);
  EXPECT_EQ(array_stats("stlb").invalidated, 1u);
  EXPECT_EQ(unit->stats().faults.user_supervisor, 1u);
  EXPECT_EQ(unit->walker().stats().walks, 1u);

  const TranslateResult refill = load(kKernelPage, Privilege::kSupervisor);
  EXPECT_EQ(refill.level, HitLevel::kWalk);
  EXPECT_EQ(refill.walk_cycles, mmu::Cycles{kFourReads});
}

TEST_F(TranslationTest, WriteToReadOnlyEntryFaultsAndDropsIt) {
  machine.map(root, kUserPage, PageSize::k4K, kUserFrame, test::user_flags(/*writable=*/false));
  start();
  ASSERT_TRUE(load(kUserPage).ok());

  const TranslateResult user_store = store(kUserPage);
  EXPECT_EQ(user_store.fault, FaultKind::kWriteProtect);
  EXPECT_EQ(user_store.error_code, 0x7u);  // present | write | user
  EXPECT_EQ(user_store.level, HitLevel::kL1);
  EXPECT_EQ(user_store.walk_cycles, mmu::Cycles{0});
  EXPECT_EQ(unit->valid_entries(), 0u);
  EXPECT_EQ(unit->stats().dirty_rewalks, 0u);

  // CR0.WP is on: a supervisor store faults too, without the user bit.
  ASSERT_TRUE(load(kUserPage, Privilege::kSupervisor).ok());
  const TranslateResult kernel_store = store(kUserPage, Privilege::kSupervisor);
  EXPECT_EQ(kernel_store.fault, FaultKind::kWriteProtect);
  EXPECT_EQ(kernel_store.error_code, 0x3u);  // present | write
  EXPECT_EQ(unit->valid_entries(), 0u);
  EXPECT_EQ(unit->stats().faults.write_protect, 2u);
  EXPECT_EQ(unit->walker().stats().walks, 2u);  // the two loads only
}

TEST_F(TranslationTest, FetchFromNoExecuteEntryFaultsAndDropsEveryCopy) {
  machine.map(root, kUserPage, PageSize::k4K, kUserFrame,
              test::user_flags(/*writable=*/true, /*no_execute=*/true));
  start();
  ASSERT_TRUE(load(kUserPage).ok());  // fills L1D and the STLB

  const TranslateResult fault = fetch(kUserPage + 0x100);
  EXPECT_EQ(fault.fault, FaultKind::kNoExecute);
  EXPECT_EQ(fault.error_code, 0x15u);  // present | user | instruction fetch
  EXPECT_EQ(fault.level, HitLevel::kL2);
  EXPECT_EQ(fault.tlb_cycles, mmu::Cycles{kFetchMissLookup});
  EXPECT_EQ(fault.walk_cycles, mmu::Cycles{0});
  // The L1I copy made on the STLB hit goes too, with the L1D and STLB entries.
  EXPECT_EQ(unit->valid_entries(), 0u);
  EXPECT_EQ(array_stats("l1i_4k").fills, 1u);
  EXPECT_EQ(array_stats("l1i_4k").invalidated, 1u);
  EXPECT_EQ(unit->stats().faults.no_execute, 1u);
}

// A page fault also drops the paging-structure-cache entries the faulting address would use
// (SDM 4.10.4.1), also when the fault came from a TLB entry.
TEST_F(TranslationTest, FaultOnATlbHitDropsThePscEntriesOfThatAddress) {
  mmu = test::test_mmu_config(/*with_psc=*/true);
  machine.map(root, kUserPage, PageSize::k4K, kUserFrame, test::user_flags(/*writable=*/false));
  machine.map(root, kKernelPage, PageSize::k4K, kKernelFrame, test::kernel_flags(false));
  start();
  ASSERT_TRUE(load(kUserPage).ok());
  ASSERT_TRUE(load(kKernelPage, Privilege::kSupervisor).ok());
  // One PML4E, PDPTE and PDE per address.
  ASSERT_EQ(psc_entries(mmu::Level::kPml4), 2u);
  ASSERT_EQ(psc_entries(mmu::Level::kPdpt), 2u);
  ASSERT_EQ(psc_entries(mmu::Level::kPd), 2u);

  EXPECT_EQ(store(kUserPage).fault, FaultKind::kWriteProtect);
  EXPECT_EQ(psc_entries(mmu::Level::kPml4), 1u);
  EXPECT_EQ(psc_entries(mmu::Level::kPdpt), 1u);
  EXPECT_EQ(psc_entries(mmu::Level::kPd), 1u);
  EXPECT_EQ(unit->valid_entries(), 2u);  // the kernel page's L1D and STLB entries

  // So the next walk of the page starts again at CR3 (a cached PDE would make it 3 + 10).
  const TranslateResult walk = load(kUserPage);
  EXPECT_EQ(walk.level, HitLevel::kWalk);
  EXPECT_EQ(walk.walk_cycles, mmu::Cycles{kFourReads});
}

TEST_F(TranslationTest, StoreToCleanEntryRewalksOnceToSetDirty) {
  machine.map(root, kUserPage, PageSize::k4K, kUserFrame, test::user_flags());
  start();
  const TranslateResult first_load = load(kUserPage);
  EXPECT_EQ(first_load.walk_cycles, mmu::Cycles{kColdWalk});
  EXPECT_TRUE(machine.leaf(root, kUserPage).pte.accessed());
  EXPECT_FALSE(machine.leaf(root, kUserPage).pte.dirty());

  // The entry was filled with D clear: the store walks again and writes D back.
  const TranslateResult first_store = store(kUserPage + 0x18);
  EXPECT_TRUE(first_store.ok());
  EXPECT_EQ(first_store.level, HitLevel::kL1);
  EXPECT_EQ(first_store.paddr, PhysAddr{0x11000018});
  EXPECT_EQ(first_store.tlb_cycles, mmu::Cycles{1});
  EXPECT_EQ(first_store.walk_cycles, mmu::Cycles{kWarmWalk});
  EXPECT_EQ(unit->stats().dirty_rewalks, 1u);
  EXPECT_TRUE(machine.leaf(root, kUserPage).pte.dirty());
  EXPECT_EQ(unit->walker().stats().dirty_writes, 1u);
  // The re-walk refreshed the entries in place.
  EXPECT_EQ(unit->valid_entries(), 2u);
  EXPECT_EQ(array_stats("l1d_4k").evictions, 0u);

  const TranslateResult second_store = store(kUserPage + 0x20);
  EXPECT_TRUE(second_store.ok());
  EXPECT_EQ(second_store.level, HitLevel::kL1);
  EXPECT_EQ(second_store.walk_cycles, mmu::Cycles{0});
  EXPECT_EQ(unit->stats().dirty_rewalks, 1u);
  EXPECT_EQ(unit->walker().stats().walks, 2u);
  EXPECT_EQ(unit->stats().walk_cycles, 131u + 110);
  EXPECT_EQ(unit->stats().l1_hits, 2u);
}

TEST_F(TranslationTest, StoreToCleanStlbEntryRewalksToo) {
  machine.map(root, kUserPage, PageSize::k4K, kUserFrame, test::user_flags());
  start();
  ASSERT_TRUE(fetch(kUserPage).ok());  // STLB and L1I only, D clear
  const TranslateResult first_store = store(kUserPage);
  EXPECT_EQ(first_store.level, HitLevel::kL2);
  EXPECT_EQ(first_store.tlb_cycles, mmu::Cycles{kDataMissLookup});
  EXPECT_EQ(first_store.walk_cycles, mmu::Cycles{kWarmWalk});
  EXPECT_EQ(unit->stats().dirty_rewalks, 1u);
  EXPECT_EQ(store(kUserPage).walk_cycles, mmu::Cycles{0});
  EXPECT_EQ(unit->valid_entries(), 3u);  // L1I, L1D, STLB
}

TEST_F(TranslationTest, FirstAccessAsStoreFillsADirtyEntry) {
  machine.map(root, kUserPage, PageSize::k4K, kUserFrame, test::user_flags());
  start();
  // A and D of the leaf go back in one write.
  EXPECT_EQ(store(kUserPage).walk_cycles, mmu::Cycles{kColdWalk});
  EXPECT_TRUE(machine.leaf(root, kUserPage).pte.dirty());
  const TranslateResult again = store(kUserPage + 8);
  EXPECT_EQ(again.level, HitLevel::kL1);
  EXPECT_EQ(again.walk_cycles, mmu::Cycles{0});
  EXPECT_EQ(unit->stats().dirty_rewalks, 0u);
}

// The page was made read-only behind the TLB's back. The store hits the old writable entry,
// whose D is clear, so it walks; the walk faults, and the fault drops the entry.
TEST_F(TranslationTest, DirtyRewalkThatFaultsDropsTheEntry) {
  machine.map(root, kUserPage, PageSize::k4K, kUserFrame, test::user_flags());
  start();
  ASSERT_TRUE(load(kUserPage).ok());
  ASSERT_TRUE(
      machine.editor.protect(root, kUserPage, mmu::kPageBytes, test::user_flags(false)).ok());

  const TranslateResult fault = store(kUserPage);
  EXPECT_EQ(fault.fault, FaultKind::kWriteProtect);
  EXPECT_EQ(fault.error_code, 0x7u);
  EXPECT_EQ(fault.walk_cycles, mmu::Cycles{kFourReads});  // faults before any write-back
  EXPECT_EQ(unit->stats().dirty_rewalks, 1u);
  EXPECT_EQ(unit->valid_entries(), 0u);

  const TranslateResult reload = load(kUserPage);
  EXPECT_TRUE(reload.ok());
  EXPECT_EQ(reload.level, HitLevel::kWalk);
}

TEST_F(TranslationTest, WalkFaultsCarryTheErrorCodeAndFillNothing) {
  machine.map(root, kUserPage, PageSize::k4K, kUserFrame, test::user_flags());
  start();
  // PML4 slot 32 is empty: one read.
  const VirtAddr far{0x100000000000};
  const TranslateResult load_fault = load(far, Privilege::kSupervisor);
  EXPECT_EQ(load_fault.fault, FaultKind::kNotPresent);
  EXPECT_EQ(load_fault.error_code, 0u);
  EXPECT_EQ(load_fault.level, HitLevel::kWalk);
  EXPECT_EQ(load_fault.tlb_cycles, mmu::Cycles{kDataMissLookup});
  EXPECT_EQ(load_fault.walk_cycles, mmu::Cycles{test::kWalkStart + test::kReadPml4});  // 43
  const TranslateResult store_fault = store(far, Privilege::kUser);
  EXPECT_EQ(store_fault.error_code, 0x6u);  // write | user, not present

  // The page next to the mapped one: three table entries read and marked accessed, then the
  // empty PTE.
  const TranslateResult next_page = load(kUserPage + mmu::kPageBytes);
  EXPECT_EQ(next_page.fault, FaultKind::kNotPresent);
  EXPECT_EQ(next_page.error_code, 0x4u);
  EXPECT_EQ(next_page.walk_cycles, mmu::Cycles{kFourReads + 3 * test::kAdUpdate});  // 124

  EXPECT_EQ(unit->valid_entries(), 0u);
  EXPECT_EQ(unit->stats().faults.not_present, 3u);
  EXPECT_EQ(unit->stats().misses, 3u);
}

TEST_F(TranslationTest, NonCanonicalAddressFaultsWithoutAWalk) {
  start();
  const TranslateResult fault = load(VirtAddr{0x0000800000000000});
  EXPECT_EQ(fault.fault, FaultKind::kNonCanonical);
  EXPECT_EQ(fault.walk_cycles, mmu::Cycles{0});
  EXPECT_EQ(fault.tlb_cycles, mmu::Cycles{kDataMissLookup});
  EXPECT_EQ(unit->stats().faults.non_canonical, 1u);
}

}  // namespace
}  // namespace mmusim::tlb
