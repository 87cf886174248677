// The hardware page walker (SDM Vol. 3A, 4.5 translation, 4.6 access rights, 4.7 page-fault
// error code, 4.8 A/D flags, 4.10.3 paging-structure caches). The page tables are written
// entry by entry into physical memory, so these tests do not depend on the page-table editor.
#include "mmu/walker.h"

#include <cstdint>

#include <gtest/gtest.h>

#include "mmu/phys_mem.h"
#include "mmu/pte.h"
#include "tests/mmu/printers.h"

namespace mmusim::mmu {
namespace {

// Latencies distinct enough that a read charged to the wrong level, a missing level or an
// extra A/D write-back each change the total in a recognisable way.
constexpr std::uint32_t kStart = 7;
constexpr std::uint32_t kPml5Read = 193;
constexpr std::uint32_t kPml4Read = 97;
constexpr std::uint32_t kPdptRead = 47;
constexpr std::uint32_t kPdRead = 23;
constexpr std::uint32_t kPtRead = 11;
constexpr std::uint32_t kAdUpdate = 1000;

// The translation every test uses: 0x0000'0080'8060'4567 has PML4 index 1, PDPT index 2,
// PD index 3, PT index 4 and offset 0x567; with 5-level paging the PML5 index is 5
// (0x0005'0080'8060'4567).
constexpr std::uint64_t kVa4 = 0x0000'0080'8060'4567;
constexpr std::uint64_t kVa5 = 0x0005'0080'8060'4567;

// Table frames, and the address of the entry each level reads (table + 8 * index).
constexpr std::uint64_t kPml5Table = 0xff;
constexpr std::uint64_t kPml4Table = 0x100;
constexpr std::uint64_t kPml5Slot = 0xff028;   // 0xff000 + 8 * 5
constexpr std::uint64_t kPml4Slot = 0x100008;  // 0x100000 + 8 * 1
constexpr std::uint64_t kPdptSlot = 0x101010;  // 0x101000 + 8 * 2
constexpr std::uint64_t kPdSlot = 0x102018;    // 0x102000 + 8 * 3
constexpr std::uint64_t kPtSlot = 0x103020;    // 0x103000 + 8 * 4

// Entries with P|RW|US (0x7) and A clear; the leaves map frame 0x5555 (4 KiB), the 2 MiB page
// at 0x40a00000 (PS 0x80) and the 1 GiB page at 0x140000000.
constexpr std::uint64_t kPml5e = 0x10'0007;  // -> PML4 table 0x100
constexpr std::uint64_t kPml4e = 0x10'1007;  // -> PDPT 0x101
constexpr std::uint64_t kPdpte = 0x10'2007;  // -> PD 0x102
constexpr std::uint64_t kPde = 0x10'3007;    // -> PT 0x103
constexpr std::uint64_t kPte = 0x555'5007;
constexpr std::uint64_t kPde2M = 0x40a0'0087;
constexpr std::uint64_t kPdpte1G = 0x1'4000'0087;

constexpr std::uint64_t kA = pte_bits::kAccessed;  // 0x20
constexpr std::uint64_t kD = pte_bits::kDirty;     // 0x40

class WalkerFixture : public ::testing::Test {
 protected:
  // Paging-structure caches are off unless a test turns them on, so every walk starts at CR3.
  static MmuConfig config(int levels, bool caches = false) {
    MmuConfig config;
    config.paging_levels = static_cast<std::uint32_t>(levels);
    config.phys_addr_bits = 46;
    const PscConfig psc = caches ? PscConfig{4, 4} : PscConfig{0, 1};
    config.pml5e = psc;
    config.pml4e = psc;
    config.pdpte = psc;
    config.pde = psc;
    config.walk_latency.start = kStart;
    config.walk_latency.pml5 = kPml5Read;
    config.walk_latency.pml4 = kPml4Read;
    config.walk_latency.pdpt = kPdptRead;
    config.walk_latency.pd = kPdRead;
    config.walk_latency.pt = kPtRead;
    config.walk_latency.ad_update = kAdUpdate;
    return config;
  }

  // Writes the hierarchy for kVa4 (4 levels) or kVa5 (5 levels) down to a leaf of `size`;
  // `extra` is ORed into every entry (e.g. A to start with every Accessed flag set).
  void build(int levels, PageSize size, std::uint64_t extra = 0) {
    if (levels == 5) set(kPml5Slot, kPml5e | extra);
    set(kPml4Slot, kPml4e | extra);
    if (size == PageSize::k1G) {
      set(kPdptSlot, kPdpte1G | extra);
      return;
    }
    set(kPdptSlot, kPdpte | extra);
    if (size == PageSize::k2M) {
      set(kPdSlot, kPde2M | extra);
      return;
    }
    set(kPdSlot, kPde | extra);
    set(kPtSlot, kPte | extra);
  }

  static WalkContext context(int levels, std::uint16_t pcid = 0) {
    return WalkContext{Pfn{levels == 5 ? kPml5Table : kPml4Table}, Pcid{pcid}};
  }

  void set(std::uint64_t addr, std::uint64_t raw) { memory_.write_u64(PhysAddr{addr}, raw); }
  [[nodiscard]] std::uint64_t entry(std::uint64_t addr) const {
    return memory_.read_u64(PhysAddr{addr});
  }

  static WalkResult read(PageWalker& walker, const WalkContext& context, std::uint64_t va) {
    return walker.walk(context, VirtAddr{va}, AccessType::kRead, Privilege::kSupervisor);
  }

  PhysMem memory_{PhysMemConfig{std::uint64_t{64} << 20, 1}};
};

using WalkerTranslate = WalkerFixture;
using WalkerFault = WalkerFixture;
using WalkerAccessedDirty = WalkerFixture;
using WalkerPsc = WalkerFixture;

// --- Translations of every page size, 4- and 5-level ---------------------------------------

TEST_F(WalkerTranslate, FourLevel4KPage) {
  build(4, PageSize::k4K);
  PageWalker walker(memory_, config(4));
  const WalkResult r = read(walker, context(4), kVa4);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.frame.addr() + VirtAddr{kVa4}.page_offset(r.translation.size),
            PhysAddr{0x555'5567});
  EXPECT_EQ(r.translation.size, PageSize::k4K);
  EXPECT_EQ(r.translation.leaf_pte, PhysAddr{kPtSlot});
  EXPECT_EQ(r.memory_reads, 4u);
  // start 7 + PML4E 97 + PDPTE 47 + PDE 23 + PTE 11 = 185, + 4 A write-backs x 1000.
  EXPECT_EQ(r.cycles.value(), 4185u);
  const WalkerStats& stats = walker.stats();
  EXPECT_EQ(stats.walks, 1u);
  EXPECT_EQ(stats.memory_reads, 4u);
  EXPECT_EQ(stats.walk_cycles, 4185u);
  EXPECT_EQ(stats.reads_by_level[5], 0u);
  EXPECT_EQ(stats.reads_by_level[4], 1u);
  EXPECT_EQ(stats.reads_by_level[3], 1u);
  EXPECT_EQ(stats.reads_by_level[2], 1u);
  EXPECT_EQ(stats.reads_by_level[1], 1u);
  EXPECT_EQ(stats.psc_misses, 1u);
}

TEST_F(WalkerTranslate, FourLevel2MPage) {
  build(4, PageSize::k2M);
  PageWalker walker(memory_, config(4));
  const WalkResult r = read(walker, context(4), kVa4);
  ASSERT_TRUE(r.ok());
  // 0x40a00000 + (kVa4 & 0x1fffff = 0x4567).
  EXPECT_EQ(r.translation.frame, Pfn{0x40a00});
  EXPECT_EQ(r.translation.frame.addr() + VirtAddr{kVa4}.page_offset(r.translation.size),
            PhysAddr{0x40a0'4567});
  EXPECT_EQ(r.translation.size, PageSize::k2M);
  EXPECT_EQ(r.translation.leaf_pte, PhysAddr{kPdSlot});
  EXPECT_EQ(r.memory_reads, 3u);
  // 7 + 97 + 47 + 23 = 174, + 3 A write-backs.
  EXPECT_EQ(r.cycles.value(), 3174u);
  EXPECT_EQ(walker.stats().reads_by_level[1], 0u);
}

TEST_F(WalkerTranslate, FourLevel1GPage) {
  build(4, PageSize::k1G);
  PageWalker walker(memory_, config(4));
  const WalkResult r = read(walker, context(4), kVa4);
  ASSERT_TRUE(r.ok());
  // 0x140000000 + (kVa4 & 0x3fffffff = 0x604567).
  EXPECT_EQ(r.translation.frame, Pfn{0x14'0000});
  EXPECT_EQ(r.translation.frame.addr() + VirtAddr{kVa4}.page_offset(r.translation.size),
            PhysAddr{0x1'4060'4567});
  EXPECT_EQ(r.translation.size, PageSize::k1G);
  EXPECT_EQ(r.translation.leaf_pte, PhysAddr{kPdptSlot});
  EXPECT_EQ(r.memory_reads, 2u);
  // 7 + 97 + 47 = 151, + 2 A write-backs.
  EXPECT_EQ(r.cycles.value(), 2151u);
}

TEST_F(WalkerTranslate, FiveLevel4KPage) {
  build(5, PageSize::k4K);
  PageWalker walker(memory_, config(5));
  const WalkResult r = read(walker, context(5), kVa5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.frame.addr() + VirtAddr{kVa5}.page_offset(r.translation.size),
            PhysAddr{0x555'5567});
  EXPECT_EQ(r.memory_reads, 5u);
  // 7 + PML5E 193 + 97 + 47 + 23 + 11 = 378, + 5 A write-backs.
  EXPECT_EQ(r.cycles.value(), 5378u);
  EXPECT_EQ(walker.stats().reads_by_level[5], 1u);
  EXPECT_EQ(walker.stats().reads_by_level[1], 1u);
}

TEST_F(WalkerTranslate, FiveLevel2MPage) {
  build(5, PageSize::k2M);
  PageWalker walker(memory_, config(5));
  const WalkResult r = read(walker, context(5), kVa5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.frame.addr() + VirtAddr{kVa5}.page_offset(r.translation.size),
            PhysAddr{0x40a0'4567});
  EXPECT_EQ(r.translation.size, PageSize::k2M);
  EXPECT_EQ(r.memory_reads, 4u);
  // 7 + 193 + 97 + 47 + 23 = 367, + 4 A write-backs.
  EXPECT_EQ(r.cycles.value(), 4367u);
}

TEST_F(WalkerTranslate, FiveLevel1GPage) {
  build(5, PageSize::k1G);
  PageWalker walker(memory_, config(5));
  const WalkResult r = read(walker, context(5), kVa5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.frame.addr() + VirtAddr{kVa5}.page_offset(r.translation.size),
            PhysAddr{0x1'4060'4567});
  EXPECT_EQ(r.translation.size, PageSize::k1G);
  EXPECT_EQ(r.memory_reads, 3u);
  // 7 + 193 + 97 + 47 = 344, + 3 A write-backs.
  EXPECT_EQ(r.cycles.value(), 3344u);
}

TEST_F(WalkerTranslate, FiveLevelUsesBits56To48) {
  // The 4-level address has PML5 index 0, where nothing is mapped: a walker that ignored the
  // PML5 index would find the translation of kVa5 here.
  build(5, PageSize::k4K);
  PageWalker walker(memory_, config(5));
  const WalkResult r = read(walker, context(5), kVa4);
  EXPECT_EQ(r.fault, FaultKind::kNotPresent);
  EXPECT_EQ(r.memory_reads, 1u);
}

TEST_F(WalkerTranslate, RightsAccumulateOverAllLevels) {
  // R/W clear in the PML4E, XD in the PDE, G in the leaf, U/S set everywhere.
  build(4, PageSize::k4K, kA);
  set(kPml4Slot, 0x10'1025);            // P|US|A
  set(kPdSlot, 0x8000'0000'0010'3027);  // P|RW|US|A|XD
  set(kPtSlot, 0x555'5127);             // P|RW|US|A|G
  PageWalker walker(memory_, config(4));
  const WalkResult r = read(walker, context(4), kVa4);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.translation.writable);
  EXPECT_TRUE(r.translation.user);
  EXPECT_FALSE(r.translation.executable);
  EXPECT_TRUE(r.translation.global);
  EXPECT_FALSE(r.translation.dirty);
}

// --- Faults and their error codes (P=1, W/R=2, U/S=4, RSVD=8, I/D=0x10) ---------------------

TEST_F(WalkerFault, NotPresentPml4e) {
  PageWalker walker(memory_, config(4));  // an empty PML4 table
  const WalkResult r = read(walker, context(4), kVa4);
  EXPECT_EQ(r.fault, FaultKind::kNotPresent);
  EXPECT_EQ(r.error_code, 0x0u);  // supervisor read of a not-present page
  EXPECT_EQ(r.memory_reads, 1u);
  EXPECT_EQ(r.cycles.value(), kStart + kPml4Read);
  EXPECT_EQ(walker.stats().walk_cycles, 104u);  // 7 + 97
}

TEST_F(WalkerFault, NotPresentPdpteUserRead) {
  build(4, PageSize::k4K, kA);
  set(kPdptSlot, 0);
  PageWalker walker(memory_, config(4));
  const WalkResult r = walker.walk(context(4), VirtAddr{kVa4}, AccessType::kRead, Privilege::kUser);
  EXPECT_EQ(r.fault, FaultKind::kNotPresent);
  EXPECT_EQ(r.error_code, 0x4u);  // U/S
  EXPECT_EQ(r.memory_reads, 2u);
  EXPECT_EQ(r.cycles.value(), 151u);  // 7 + 97 + 47, every A already set
}

TEST_F(WalkerFault, NotPresentPdeSupervisorWrite) {
  build(4, PageSize::k4K, kA);
  set(kPdSlot, 0x10'3026);  // everything but P: the other bits do not matter
  PageWalker walker(memory_, config(4));
  const WalkResult r =
      walker.walk(context(4), VirtAddr{kVa4}, AccessType::kWrite, Privilege::kSupervisor);
  EXPECT_EQ(r.fault, FaultKind::kNotPresent);
  EXPECT_EQ(r.error_code, 0x2u);  // W/R
  EXPECT_EQ(r.memory_reads, 3u);
  EXPECT_EQ(r.cycles.value(), 174u);  // 7 + 97 + 47 + 23
}

TEST_F(WalkerFault, NotPresentPteUserFetch) {
  build(4, PageSize::k4K, kA);
  set(kPtSlot, 0);
  PageWalker walker(memory_, config(4));
  const WalkResult r =
      walker.walk(context(4), VirtAddr{kVa4}, AccessType::kExecute, Privilege::kUser);
  EXPECT_EQ(r.fault, FaultKind::kNotPresent);
  EXPECT_EQ(r.error_code, 0x14u);  // U/S | I/D
  EXPECT_EQ(r.memory_reads, 4u);
  EXPECT_EQ(r.cycles.value(), 185u);
}

TEST_F(WalkerFault, NotPresentPml5eUserWrite) {
  PageWalker walker(memory_, config(5));  // an empty PML5 table
  const WalkResult r =
      walker.walk(context(5), VirtAddr{kVa5}, AccessType::kWrite, Privilege::kUser);
  EXPECT_EQ(r.fault, FaultKind::kNotPresent);
  EXPECT_EQ(r.error_code, 0x6u);  // W/R | U/S
  EXPECT_EQ(r.memory_reads, 1u);
  EXPECT_EQ(r.cycles.value(), 200u);  // 7 + 193
}

TEST_F(WalkerFault, WriteToReadOnlyLeaf) {
  build(4, PageSize::k4K, kA);
  set(kPtSlot, 0x555'5025);  // P|US|A, R/W clear
  PageWalker walker(memory_, config(4));
  const WalkResult sup =
      walker.walk(context(4), VirtAddr{kVa4}, AccessType::kWrite, Privilege::kSupervisor);
  EXPECT_EQ(sup.fault, FaultKind::kWriteProtect);
  EXPECT_EQ(sup.error_code, 0x3u);  // P | W/R: CR0.WP=1 binds the supervisor too
  EXPECT_EQ(sup.memory_reads, 4u);
  EXPECT_EQ(sup.cycles.value(), 185u);
  const WalkResult user =
      walker.walk(context(4), VirtAddr{kVa4}, AccessType::kWrite, Privilege::kUser);
  EXPECT_EQ(user.fault, FaultKind::kWriteProtect);
  EXPECT_EQ(user.error_code, 0x7u);  // P | W/R | U/S
  // The faulting writes set no Dirty flag.
  EXPECT_EQ(entry(kPtSlot), 0x555'5025u);
  EXPECT_TRUE(read(walker, context(4), kVa4).ok());
}

TEST_F(WalkerFault, ReadOnlyPdpteProtectsTheWholeSubtree) {
  build(4, PageSize::k4K, kA);
  set(kPdptSlot, 0x10'2025);  // R/W clear in a non-leaf entry
  PageWalker walker(memory_, config(4));
  const WalkResult r =
      walker.walk(context(4), VirtAddr{kVa4}, AccessType::kWrite, Privilege::kSupervisor);
  EXPECT_EQ(r.fault, FaultKind::kWriteProtect);
  EXPECT_EQ(r.error_code, 0x3u);
  EXPECT_EQ(entry(kPtSlot), kPte | kA);  // leaf untouched
  EXPECT_TRUE(read(walker, context(4), kVa4).ok());
}

TEST_F(WalkerFault, UserAccessToSupervisorLeaf) {
  build(4, PageSize::k4K, kA);
  set(kPtSlot, 0x555'5023);  // P|RW|A, U/S clear
  PageWalker walker(memory_, config(4));
  const WalkResult r = walker.walk(context(4), VirtAddr{kVa4}, AccessType::kRead, Privilege::kUser);
  EXPECT_EQ(r.fault, FaultKind::kUserSupervisor);
  EXPECT_EQ(r.error_code, 0x5u);  // P | U/S
  EXPECT_EQ(r.memory_reads, 4u);
  EXPECT_TRUE(read(walker, context(4), kVa4).ok());  // the supervisor may read it
}

TEST_F(WalkerFault, SupervisorPml4eHidesUserLeaf) {
  build(4, PageSize::k2M, kA);
  set(kPml4Slot, 0x10'1023);  // U/S clear in the PML4E only
  PageWalker walker(memory_, config(4));
  const WalkResult r =
      walker.walk(context(4), VirtAddr{kVa4}, AccessType::kExecute, Privilege::kUser);
  EXPECT_EQ(r.fault, FaultKind::kUserSupervisor);
  EXPECT_EQ(r.error_code, 0x15u);  // P | U/S | I/D
  EXPECT_EQ(r.memory_reads, 3u);
}

TEST_F(WalkerFault, FetchFromNoExecuteLeaf) {
  build(4, PageSize::k4K, kA);
  set(kPtSlot, 0x8000'0000'0555'5027);
  PageWalker walker(memory_, config(4));
  const WalkResult r =
      walker.walk(context(4), VirtAddr{kVa4}, AccessType::kExecute, Privilege::kSupervisor);
  EXPECT_EQ(r.fault, FaultKind::kNoExecute);
  EXPECT_EQ(r.error_code, 0x11u);  // P | I/D
  EXPECT_TRUE(read(walker, context(4), kVa4).ok());
}

TEST_F(WalkerFault, NoExecutePdeCoversTheWholeTable) {
  build(4, PageSize::k4K, kA);
  set(kPdSlot, 0x8000'0000'0010'3027);  // XD in a non-leaf entry
  PageWalker walker(memory_, config(4));
  const WalkResult r =
      walker.walk(context(4), VirtAddr{kVa4}, AccessType::kExecute, Privilege::kUser);
  EXPECT_EQ(r.fault, FaultKind::kNoExecute);
  EXPECT_EQ(r.error_code, 0x15u);  // P | U/S | I/D
  EXPECT_EQ(r.memory_reads, 4u);
}

TEST_F(WalkerFault, ReservedBitAboveMaxPhyAddrInLeaf) {
  build(4, PageSize::k4K, kA);
  set(kPtSlot, (std::uint64_t{1} << 46) | kPte | kA);  // MAXPHYADDR is 46
  PageWalker walker(memory_, config(4));
  const WalkResult r = read(walker, context(4), kVa4);
  EXPECT_EQ(r.fault, FaultKind::kReservedBit);
  EXPECT_EQ(r.error_code, 0x9u);  // P | RSVD
  EXPECT_EQ(r.memory_reads, 4u);
  EXPECT_EQ(r.cycles.value(), 185u);
}

TEST_F(WalkerFault, ReservedBitWinsOverAccessRights) {
  // A user read of a supervisor leaf that also has a reserved bit: there is no translation,
  // so the fault is RSVD (with U/S describing the access).
  build(4, PageSize::k4K, kA);
  set(kPtSlot, (std::uint64_t{1} << 46) | 0x555'5023);
  PageWalker walker(memory_, config(4));
  const WalkResult r = walker.walk(context(4), VirtAddr{kVa4}, AccessType::kRead, Privilege::kUser);
  EXPECT_EQ(r.fault, FaultKind::kReservedBit);
  EXPECT_EQ(r.error_code, 0xdu);  // P | U/S | RSVD
}

TEST_F(WalkerFault, PsInPml4eIsReserved) {
  build(4, PageSize::k4K, kA);
  set(kPml4Slot, kPml4e | kA | pte_bits::kPageSize);
  PageWalker walker(memory_, config(4));
  const WalkResult r =
      walker.walk(context(4), VirtAddr{kVa4}, AccessType::kWrite, Privilege::kUser);
  EXPECT_EQ(r.fault, FaultKind::kReservedBit);
  EXPECT_EQ(r.error_code, 0xfu);  // P | W/R | U/S | RSVD
  EXPECT_EQ(r.memory_reads, 1u);
  EXPECT_EQ(r.cycles.value(), 104u);  // 7 + 97
}

TEST_F(WalkerFault, PsInPml5eIsReserved) {
  build(5, PageSize::k4K, kA);
  set(kPml5Slot, kPml5e | kA | pte_bits::kPageSize);
  PageWalker walker(memory_, config(5));
  const WalkResult r = read(walker, context(5), kVa5);
  EXPECT_EQ(r.fault, FaultKind::kReservedBit);
  EXPECT_EQ(r.error_code, 0x9u);
  EXPECT_EQ(r.memory_reads, 1u);
  EXPECT_EQ(r.cycles.value(), 200u);  // 7 + 193
}

TEST_F(WalkerFault, ReservedBit13Of2MLeaf) {
  build(4, PageSize::k2M, kA);
  set(kPdSlot, kPde2M | kA | 0x2000);
  PageWalker walker(memory_, config(4));
  const WalkResult r =
      walker.walk(context(4), VirtAddr{kVa4}, AccessType::kExecute, Privilege::kSupervisor);
  EXPECT_EQ(r.fault, FaultKind::kReservedBit);
  EXPECT_EQ(r.error_code, 0x19u);  // P | RSVD | I/D
  EXPECT_EQ(r.memory_reads, 3u);
}

TEST_F(WalkerFault, ReservedBit29Of1GLeaf) {
  build(4, PageSize::k1G, kA);
  set(kPdptSlot, kPdpte1G | kA | 0x2000'0000);
  PageWalker walker(memory_, config(4));
  const WalkResult r = walker.walk(context(4), VirtAddr{kVa4}, AccessType::kRead, Privilege::kUser);
  EXPECT_EQ(r.fault, FaultKind::kReservedBit);
  EXPECT_EQ(r.error_code, 0xdu);  // P | U/S | RSVD
  EXPECT_EQ(r.memory_reads, 2u);
}

TEST_F(WalkerFault, NonCanonicalReadsNothing) {
  build(4, PageSize::k4K);
  PageWalker walker(memory_, config(4));
  for (std::uint64_t va : {0x0000'8000'0000'0000ull, 0xffff'7fff'ffff'f000ull}) {
    const WalkResult r = read(walker, context(4), va);
    EXPECT_EQ(r.fault, FaultKind::kNonCanonical);
    EXPECT_EQ(r.error_code, 0u);  // #GP, not a page fault
    EXPECT_EQ(r.memory_reads, 0u);
    EXPECT_EQ(r.cycles.value(), 0u);
  }
  EXPECT_EQ(walker.stats().memory_reads, 0u);
  EXPECT_EQ(walker.stats().walk_cycles, 0u);
  EXPECT_EQ(entry(kPml4Slot), kPml4e);  // no Accessed flag set anywhere
}

TEST_F(WalkerFault, FiveLevelCanonicalityIs57Bit) {
  PageWalker walker(memory_, config(5));
  const WalkResult beyond = read(walker, context(5), 0x0100'0000'0000'0000);
  EXPECT_EQ(beyond.fault, FaultKind::kNonCanonical);
  EXPECT_EQ(beyond.memory_reads, 0u);
  // Not canonical with 4 levels, but it is with 5: the walk reads the (empty) PML5 table.
  const WalkResult inside = read(walker, context(5), 0x0000'8000'0000'0000);
  EXPECT_EQ(inside.fault, FaultKind::kNotPresent);
  EXPECT_EQ(inside.memory_reads, 1u);
}

// --- Accessed and Dirty write-back ---------------------------------------------------------

TEST_F(WalkerAccessedDirty, WriteSetsAccessedEverywhereAndDirtyOnLeaf) {
  build(4, PageSize::k4K);
  PageWalker walker(memory_, config(4));
  const WalkResult r =
      walker.walk(context(4), VirtAddr{kVa4}, AccessType::kWrite, Privilege::kSupervisor);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(entry(kPml4Slot), 0x10'1027u);
  EXPECT_EQ(entry(kPdptSlot), 0x10'2027u);
  EXPECT_EQ(entry(kPdSlot), 0x10'3027u);
  EXPECT_EQ(entry(kPtSlot), 0x555'5067u);  // A and D
  EXPECT_TRUE(r.translation.dirty);
  // The leaf's A and D go back in one write: 185 + 4 x 1000.
  EXPECT_EQ(r.cycles.value(), 4185u);
  EXPECT_EQ(walker.stats().accessed_writes, 4u);
  EXPECT_EQ(walker.stats().dirty_writes, 1u);
}

TEST_F(WalkerAccessedDirty, ReadSetsAccessedButNotDirty) {
  build(5, PageSize::k4K);
  PageWalker walker(memory_, config(5));
  const WalkResult r = read(walker, context(5), kVa5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(entry(kPml5Slot), 0x10'0027u);
  EXPECT_EQ(entry(kPml4Slot), 0x10'1027u);
  EXPECT_EQ(entry(kPdptSlot), 0x10'2027u);
  EXPECT_EQ(entry(kPdSlot), 0x10'3027u);
  EXPECT_EQ(entry(kPtSlot), 0x555'5027u);
  EXPECT_FALSE(r.translation.dirty);
  EXPECT_EQ(walker.stats().accessed_writes, 5u);
  EXPECT_EQ(walker.stats().dirty_writes, 0u);
}

TEST_F(WalkerAccessedDirty, SecondWalkWritesNothing) {
  build(4, PageSize::k4K);
  PageWalker walker(memory_, config(4));
  ASSERT_TRUE(read(walker, context(4), kVa4).ok());
  const std::uint64_t materialised = memory_.stats().frames_materialised;
  const WalkResult again = read(walker, context(4), kVa4);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.cycles.value(), 185u);  // reads only
  EXPECT_EQ(again.memory_reads, 4u);
  EXPECT_EQ(walker.stats().accessed_writes, 4u);  // still the first walk's four
  EXPECT_EQ(walker.stats().dirty_writes, 0u);
  EXPECT_EQ(walker.stats().walks, 2u);
  EXPECT_EQ(walker.stats().walk_cycles, 4370u);  // 4185 + 185
  EXPECT_EQ(entry(kPtSlot), 0x555'5027u);
  EXPECT_EQ(memory_.stats().frames_materialised, materialised);
}

TEST_F(WalkerAccessedDirty, WriteAfterReadSetsOnlyDirty) {
  build(4, PageSize::k4K);
  PageWalker walker(memory_, config(4));
  ASSERT_TRUE(read(walker, context(4), kVa4).ok());
  const WalkResult write =
      walker.walk(context(4), VirtAddr{kVa4}, AccessType::kWrite, Privilege::kSupervisor);
  ASSERT_TRUE(write.ok());
  EXPECT_EQ(write.cycles.value(), 1185u);  // 185 + one D write-back
  EXPECT_EQ(entry(kPtSlot), 0x555'5067u);
  EXPECT_EQ(walker.stats().accessed_writes, 4u);
  EXPECT_EQ(walker.stats().dirty_writes, 1u);
  // Once D is set a further write costs nothing extra.
  const WalkResult third =
      walker.walk(context(4), VirtAddr{kVa4}, AccessType::kWrite, Privilege::kSupervisor);
  EXPECT_EQ(third.cycles.value(), 185u);
  EXPECT_TRUE(third.translation.dirty);
  EXPECT_EQ(walker.stats().dirty_writes, 1u);
}

TEST_F(WalkerAccessedDirty, LargeLeavesGetDirtyToo) {
  build(4, PageSize::k2M);
  PageWalker walker(memory_, config(4));
  ASSERT_TRUE(walker.walk(context(4), VirtAddr{kVa4}, AccessType::kWrite, Privilege::kUser).ok());
  EXPECT_EQ(entry(kPdSlot), 0x40a0'00e7u);  // P|RW|US|A|D|PS
  EXPECT_EQ(entry(kPdptSlot), 0x10'2027u);

  build(5, PageSize::k1G);  // rewrites every entry with A clear
  PageWalker five(memory_, config(5));
  const WalkResult r = five.walk(context(5), VirtAddr{kVa5}, AccessType::kWrite, Privilege::kUser);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(entry(kPdptSlot), 0x1'4000'00e7u);
  EXPECT_EQ(r.cycles.value(), 3344u);  // 344 + 3 x 1000
  EXPECT_EQ(five.stats().accessed_writes, 3u);
  EXPECT_EQ(five.stats().dirty_writes, 1u);
}

// --- Paging-structure caches ----------------------------------------------------------------

TEST_F(WalkerPsc, SamePdStartsAtPt) {
  build(4, PageSize::k4K, kA);
  set(0x103028, 0x666'6027);  // PT index 5 -> frame 0x6666
  PageWalker walker(memory_, config(4, true));
  ASSERT_EQ(read(walker, context(4), kVa4).cycles.value(), 185u);
  const WalkResult r = read(walker, context(4), kVa4 + 0x1000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.frame, Pfn{0x6666});
  EXPECT_EQ(r.memory_reads, 1u);
  EXPECT_EQ(r.cycles.value(), 18u);  // 7 + PTE 11
  EXPECT_EQ(walker.stats().psc_hits[2], 1u);
  EXPECT_EQ(walker.stats().psc_hits[3], 0u);
  EXPECT_EQ(walker.stats().psc_misses, 1u);
  EXPECT_EQ(walker.stats().reads_by_level[1], 2u);
  EXPECT_EQ(walker.stats().reads_by_level[2], 1u);
}

TEST_F(WalkerPsc, SamePdptOtherPdStartsAtPd) {
  build(4, PageSize::k4K, kA);
  // 0x80'80e0'4567: PD index 7 -> PT 0x104, PT index 4 -> frame 0x7777.
  set(0x102038, 0x10'4027);
  set(0x104020, 0x777'7027);
  PageWalker walker(memory_, config(4, true));
  ASSERT_TRUE(read(walker, context(4), kVa4).ok());
  const WalkResult r = read(walker, context(4), 0x80'80e0'4567);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.frame, Pfn{0x7777});
  EXPECT_EQ(r.memory_reads, 2u);
  EXPECT_EQ(r.cycles.value(), 41u);  // 7 + PDE 23 + PTE 11
  EXPECT_EQ(walker.stats().psc_hits[3], 1u);
  EXPECT_EQ(walker.stats().psc_hits[2], 0u);
}

TEST_F(WalkerPsc, SamePml4OtherPdptStartsAtPdpt) {
  build(4, PageSize::k4K, kA);
  // 0x81'8001'2345: PDPT index 6 holds a 1 GiB leaf at 0x180000000.
  set(0x101030, 0x1'8000'00a7);
  PageWalker walker(memory_, config(4, true));
  ASSERT_TRUE(read(walker, context(4), kVa4).ok());
  const WalkResult r = read(walker, context(4), 0x81'8001'2345);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.frame.addr() + 0x1'2345, PhysAddr{0x1'8001'2345});
  EXPECT_EQ(r.memory_reads, 1u);
  EXPECT_EQ(r.cycles.value(), 54u);  // 7 + PDPTE 47
  EXPECT_EQ(walker.stats().psc_hits[4], 1u);
}

TEST_F(WalkerPsc, LargeLeavesAreNotCachedAsTables) {
  build(4, PageSize::k2M, kA);
  PageWalker walker(memory_, config(4, true));
  ASSERT_TRUE(read(walker, context(4), kVa4).ok());
  EXPECT_EQ(walker.cache(Level::kPd).valid_entries(), 0u);  // the PDE maps a page
  EXPECT_EQ(walker.cache(Level::kPdpt).valid_entries(), 1u);
  EXPECT_EQ(walker.cache(Level::kPml4).valid_entries(), 1u);
  // A second walk to the same 2 MiB page starts at the PD.
  const WalkResult r = read(walker, context(4), kVa4 + 0x1000);
  EXPECT_EQ(r.memory_reads, 1u);
  EXPECT_EQ(r.cycles.value(), 30u);  // 7 + 23
}

TEST_F(WalkerPsc, CachedEntriesKeepAccumulatedRights) {
  build(4, PageSize::k4K, kA);
  set(kPml4Slot, 0x10'1025);  // read-only PML4E
  set(0x103028, 0x666'6027);
  PageWalker walker(memory_, config(4, true));
  ASSERT_TRUE(read(walker, context(4), kVa4).ok());
  // Starts at the PT from the PDE cache, yet the PML4E's R/W=0 still applies.
  const WalkResult r =
      walker.walk(context(4), VirtAddr{kVa4 + 0x1000}, AccessType::kWrite, Privilege::kSupervisor);
  EXPECT_EQ(r.memory_reads, 1u);
  EXPECT_EQ(r.fault, FaultKind::kWriteProtect);
  EXPECT_EQ(r.error_code, 0x3u);
}

TEST_F(WalkerPsc, PcidTagsEntries) {
  build(4, PageSize::k4K, kA);
  set(0x103028, 0x666'6027);
  PageWalker walker(memory_, config(4, true));
  ASSERT_TRUE(read(walker, context(4, 1), kVa4).ok());
  const WalkResult other = read(walker, context(4, 2), kVa4 + 0x1000);
  EXPECT_EQ(other.memory_reads, 4u);  // PCID 2 has nothing cached
  EXPECT_EQ(walker.stats().psc_misses, 2u);
  const WalkResult same = read(walker, context(4, 1), kVa4 + 0x1000);
  EXPECT_EQ(same.memory_reads, 1u);
  EXPECT_EQ(walker.stats().psc_hits[2], 1u);
}

TEST_F(WalkerPsc, InvalidatePcidDropsOnlyThatPcid) {
  build(4, PageSize::k4K, kA);
  PageWalker walker(memory_, config(4, true));
  ASSERT_TRUE(read(walker, context(4, 1), kVa4).ok());
  ASSERT_TRUE(read(walker, context(4, 2), kVa4).ok());
  // Each walk cached its PML4E, PDPTE and PDE.
  EXPECT_EQ(walker.invalidate_pcid(Pcid{1}), 3u);
  EXPECT_EQ(walker.cache(Level::kPd).valid_entries(), 1u);
  EXPECT_EQ(read(walker, context(4, 1), kVa4).memory_reads, 4u);
  EXPECT_EQ(read(walker, context(4, 2), kVa4).memory_reads, 1u);
}

TEST_F(WalkerPsc, InvalidateAllDropsEveryPcid) {
  build(4, PageSize::k4K, kA);
  PageWalker walker(memory_, config(4, true));
  ASSERT_TRUE(read(walker, context(4, 1), kVa4).ok());
  ASSERT_TRUE(read(walker, context(4, 2), kVa4).ok());
  EXPECT_EQ(walker.invalidate_all(), 6u);
  EXPECT_EQ(walker.cache(Level::kPml4).valid_entries(), 0u);
  EXPECT_EQ(walker.invalidate_all(), 0u);
  EXPECT_EQ(read(walker, context(4, 2), kVa4).memory_reads, 4u);
}

TEST_F(WalkerPsc, FaultDropsEntriesForTheAddress) {
  build(4, PageSize::k4K, kA);
  PageWalker walker(memory_, config(4, true));
  ASSERT_TRUE(read(walker, context(4, 1), kVa4).ok());
  ASSERT_TRUE(read(walker, context(4, 2), kVa4).ok());
  // PT index 6 is empty: the walk starts at the PT (PDE-cache hit) and faults.
  const WalkResult fault = read(walker, context(4, 1), kVa4 + 0x2000);
  EXPECT_EQ(fault.fault, FaultKind::kNotPresent);
  EXPECT_EQ(fault.memory_reads, 1u);
  EXPECT_EQ(fault.cycles.value(), 18u);
  // SDM 4.10.4.1: the PML4E-, PDPTE- and PDE-cache entries of PCID 1 for that address are gone;
  // PCID 2's survive.
  EXPECT_EQ(walker.cache(Level::kPd).valid_entries(), 1u);
  EXPECT_EQ(walker.cache(Level::kPdpt).valid_entries(), 1u);
  EXPECT_EQ(walker.cache(Level::kPml4).valid_entries(), 1u);
  EXPECT_EQ(read(walker, context(4, 1), kVa4).memory_reads, 4u);
  EXPECT_EQ(read(walker, context(4, 2), kVa4).memory_reads, 1u);
}

TEST_F(WalkerPsc, FaultKeepsEntriesForOtherAddresses) {
  build(4, PageSize::k4K, kA);
  set(0x101030, 0x1'8000'00a7);  // 1 GiB leaf under PDPT index 6
  PageWalker walker(memory_, config(4, true));
  ASSERT_TRUE(read(walker, context(4), kVa4).ok());
  // 0x81'c000'0000 (PDPT index 7) is not present: only the PML4E entry covers it.
  const WalkResult fault = read(walker, context(4), 0x81'c000'0000);
  EXPECT_EQ(fault.fault, FaultKind::kNotPresent);
  EXPECT_EQ(fault.memory_reads, 1u);
  EXPECT_EQ(walker.cache(Level::kPml4).valid_entries(), 0u);
  EXPECT_EQ(walker.cache(Level::kPdpt).valid_entries(), 1u);
  EXPECT_EQ(walker.cache(Level::kPd).valid_entries(), 1u);
  EXPECT_EQ(read(walker, context(4), kVa4).memory_reads, 1u);  // PDE entry kept
}

TEST_F(WalkerPsc, DisabledCachesAlwaysStartAtTheTop) {
  build(4, PageSize::k4K, kA);
  set(0x103028, 0x666'6027);
  PageWalker walker(memory_, config(4, false));
  EXPECT_FALSE(walker.cache(Level::kPd).enabled());
  EXPECT_FALSE(walker.cache(Level::kPml4).enabled());
  EXPECT_EQ(read(walker, context(4), kVa4).memory_reads, 4u);
  EXPECT_EQ(read(walker, context(4), kVa4 + 0x1000).memory_reads, 4u);
  EXPECT_EQ(walker.stats().psc_misses, 2u);
  for (int level = 2; level <= 5; ++level)
    EXPECT_EQ(walker.stats().psc_hits[level], 0u);
  EXPECT_EQ(walker.invalidate_all(), 0u);
}

TEST_F(WalkerPsc, FiveLevelUsesPml5eCache) {
  build(5, PageSize::k4K, kA);
  // 0x0005'0100'0008'9abc: PML5 index 5, PML4 index 2 -> PDPT 0x105, PDPT index 0 holds a
  // 1 GiB leaf at 0x1c0000000.
  set(0x100010, 0x10'5027);
  set(0x105000, 0x1'c000'00a7);
  PageWalker walker(memory_, config(5, true));
  ASSERT_EQ(read(walker, context(5), kVa5).cycles.value(), 378u);  // 7+193+97+47+23+11
  EXPECT_EQ(walker.cache(Level::kPml5).valid_entries(), 1u);
  const WalkResult r = read(walker, context(5), 0x0005'0100'0008'9abc);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.translation.frame.addr() + 0x8'9abc, PhysAddr{0x1'c008'9abc});
  EXPECT_EQ(r.memory_reads, 2u);
  EXPECT_EQ(r.cycles.value(), 151u);  // 7 + PML4E 97 + PDPTE 47
  EXPECT_EQ(walker.stats().psc_hits[5], 1u);
  EXPECT_EQ(walker.stats().reads_by_level[5], 1u);
}

TEST_F(WalkerPsc, FourLevelHasNoPml5eCache) {
  build(4, PageSize::k4K, kA);
  PageWalker walker(memory_, config(4, true));
  ASSERT_TRUE(read(walker, context(4), kVa4).ok());
  EXPECT_FALSE(walker.cache(Level::kPml5).enabled());
  EXPECT_EQ(walker.cache(Level::kPml4).valid_entries(), 1u);
}

TEST_F(WalkerPsc, LeastRecentlyUsedEntryIsReplaced) {
  build(4, PageSize::k4K, kA);
  // PD indexes 7 and 8 point to PTs 0x104 and 0x106; each maps its PT index 4.
  set(0x102038, 0x10'4027);
  set(0x104020, 0x777'7027);
  set(0x102040, 0x10'6027);
  set(0x106020, 0x888'8027);
  constexpr std::uint64_t kVaPd7 = 0x80'80e0'4567;
  constexpr std::uint64_t kVaPd8 = 0x80'8100'4567;
  MmuConfig two_pdes = config(4, true);
  two_pdes.pde = PscConfig{2, 2};  // one set of two ways
  PageWalker walker(memory_, two_pdes);
  ASSERT_TRUE(read(walker, context(4), kVa4).ok());            // PDE cache: {3}
  ASSERT_TRUE(read(walker, context(4), kVaPd7).ok());          // {3, 7}
  EXPECT_EQ(read(walker, context(4), kVa4).memory_reads, 1u);  // 3 is now the most recent
  ASSERT_TRUE(read(walker, context(4), kVaPd8).ok());          // evicts 7
  EXPECT_EQ(read(walker, context(4), kVa4).memory_reads, 1u);
  EXPECT_EQ(read(walker, context(4), kVaPd8).memory_reads, 1u);
  EXPECT_EQ(read(walker, context(4), kVaPd7).memory_reads, 2u);  // PDPTE hit, PDE miss
}

TEST_F(WalkerPsc, CacheInvalidateAddressMatchesTagAndPcid) {
  PagingStructureCache cache(Level::kPd, PscConfig{4, 2});
  // PDE-cache tags are bits 63:21 of the address.
  EXPECT_EQ(cache.tag_of(VirtAddr{0x80'8060'4567}), 0x4'0403u);
  cache.fill(Pcid{1}, VirtAddr{0x20'0000}, Pfn{0x10}, true, true, false);
  cache.fill(Pcid{2}, VirtAddr{0x20'0000}, Pfn{0x11}, true, true, false);
  cache.fill(Pcid{1}, VirtAddr{0x40'0000}, Pfn{0x12}, false, true, true);
  EXPECT_EQ(cache.valid_entries(), 3u);
  // Any address in the same 2 MiB region hits.
  const PagingStructureCache::Entry* hit = cache.lookup(Pcid{1}, VirtAddr{0x5f'f000});
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->next_table, Pfn{0x12});
  EXPECT_FALSE(hit->writable);
  EXPECT_TRUE(hit->no_execute);
  EXPECT_EQ(cache.invalidate_address(Pcid{1}, VirtAddr{0x3f'ffff}), 1u);
  EXPECT_EQ(cache.lookup(Pcid{1}, VirtAddr{0x20'0000}), nullptr);
  ASSERT_NE(cache.lookup(Pcid{2}, VirtAddr{0x20'0000}), nullptr);
  EXPECT_EQ(cache.lookup(Pcid{2}, VirtAddr{0x20'0000})->next_table, Pfn{0x11});
  EXPECT_EQ(cache.invalidate_pcid(Pcid{1}), 1u);
  EXPECT_EQ(cache.valid_entries(), 1u);
}

}  // namespace
}  // namespace mmusim::mmu
