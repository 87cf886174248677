// The x86-64 paging-structure entry format (SDM Vol. 3A, 4.5, tables 4-15 to 4-20): leaf and
// table encodings, frame extraction, reserved-bit detection and canonical addresses.
#include "mmu/pte.h"

#include <cstdint>

#include <gtest/gtest.h>

#include "tests/mmu/printers.h"

namespace mmusim::mmu {
namespace {

// Bit layout used below: P=0x1, R/W=0x2, U/S=0x4, PWT=0x8, PCD=0x10, A=0x20, D=0x40,
// PS=0x80, G=0x100, PAT of a large leaf=0x1000, XD=bit 63.

TEST(Pte, LeafBitsOfDefaultFlags) {
  const PteFlags flags;                             // writable, supervisor, executable, not global
  EXPECT_EQ(flags.leaf_bits(Level::kPt), 0x3u);     // P|RW
  EXPECT_EQ(flags.leaf_bits(Level::kPd), 0x83u);    // P|RW|PS
  EXPECT_EQ(flags.leaf_bits(Level::kPdpt), 0x83u);  // P|RW|PS
}

TEST(Pte, LeafBitsOfEveryFlag) {
  PteFlags flags;
  flags.writable = false;
  flags.write_through = true;
  flags.cache_disable = true;
  EXPECT_EQ(flags.leaf_bits(Level::kPt), 0x19u);  // P|PWT|PCD
  flags.writable = true;
  flags.user = true;
  flags.global = true;
  flags.no_execute = true;
  // P|RW|US|PWT|PCD|G = 0x11f, plus XD.
  EXPECT_EQ(flags.leaf_bits(Level::kPt), 0x8000'0000'0000'011full);
  EXPECT_EQ(flags.leaf_bits(Level::kPd), 0x8000'0000'0000'019full);
}

TEST(Pte, MakeLeafFor4KPage) {
  PteFlags flags;
  flags.user = true;
  flags.global = true;
  flags.no_execute = true;
  const Pte pte = make_leaf(Level::kPt, Pfn{0x12345}, flags);
  // Frame 0x12345 -> address 0x12345000, P|RW|US|G = 0x107, XD.
  EXPECT_EQ(pte.raw(), 0x8000'0000'1234'5107ull);
  EXPECT_TRUE(pte.present());
  EXPECT_TRUE(pte.global());
  EXPECT_TRUE(pte.no_execute());
  EXPECT_FALSE(pte.page_size_bit());
  EXPECT_EQ(pte.leaf_pfn(Level::kPt), Pfn{0x12345});
}

TEST(Pte, MakeLeafFor2MPageSetsPs) {
  // Frame 0x200 is 2 MiB: address 0x200000.
  const Pte pte = make_leaf(Level::kPd, Pfn{0x200}, PteFlags{});
  EXPECT_EQ(pte.raw(), 0x20'0083ull);
  EXPECT_TRUE(pte.is_leaf(Level::kPd));
  EXPECT_EQ(pte.leaf_pfn(Level::kPd), Pfn{0x200});
}

TEST(Pte, MakeLeafFor1GPageSetsPs) {
  PteFlags flags;
  flags.writable = false;
  flags.no_execute = true;
  // Frame 0x40000 is 1 GiB: address 0x40000000; P|PS = 0x81, XD.
  const Pte pte = make_leaf(Level::kPdpt, Pfn{0x40000}, flags);
  EXPECT_EQ(pte.raw(), 0x8000'0000'4000'0081ull);
  EXPECT_TRUE(pte.is_leaf(Level::kPdpt));
  EXPECT_FALSE(pte.writable());
  EXPECT_EQ(pte.leaf_pfn(Level::kPdpt), Pfn{0x40000});
}

TEST(Pte, TableEntries) {
  EXPECT_EQ(Pte::table(Pfn{0x1234}, /*writable=*/true, /*user=*/false).raw(), 0x123'4003ull);
  EXPECT_EQ(Pte::table(Pfn{0x1234}, /*writable=*/false, /*user=*/true).raw(), 0x123'4005ull);
  EXPECT_EQ(Pte::table(Pfn{0x1234}, true, true).table_pfn(), Pfn{0x1234});
  // Address bit 52 (frame bit 40) is outside the 51:12 field and is dropped.
  EXPECT_EQ(Pte::table(Pfn{(std::uint64_t{1} << 40) | 0x5}, false, false).raw(), 0x5001ull);
}

TEST(Pte, LeafPfnMasksPatOfLargePages) {
  // A 2 MiB leaf at 0x40200000 with PAT (bit 12) set: the frame starts at bit 21.
  const Pte pd_leaf{0x4020'1083};
  EXPECT_EQ(pd_leaf.leaf_pfn(Level::kPd), Pfn{0x40200});
  EXPECT_EQ(pd_leaf.table_pfn(), Pfn{0x40201});  // table_pfn keeps bit 12
  // A 1 GiB leaf at 0xc0000000 with PAT and XD: the frame starts at bit 30.
  const Pte pdpt_leaf{0x8000'0000'c000'1083};
  EXPECT_EQ(pdpt_leaf.leaf_pfn(Level::kPdpt), Pfn{0xc0000});
  // In a PTE bit 7 is PAT and bit 8 G; neither is part of the frame, nor are bits 62:52.
  EXPECT_EQ(Pte{0x8000'0000'1234'5167}.leaf_pfn(Level::kPt), Pfn{0x12345});
  EXPECT_EQ(Pte{0x7ff0'0000'1234'5003}.leaf_pfn(Level::kPt), Pfn{0x12345});
}

TEST(Pte, IsLeafDependsOnLevelAndPs) {
  const Pte with_ps{0x83};
  EXPECT_TRUE(with_ps.is_leaf(Level::kPt));  // bit 7 of a PTE is PAT: always a leaf
  EXPECT_TRUE(with_ps.is_leaf(Level::kPd));
  EXPECT_TRUE(with_ps.is_leaf(Level::kPdpt));
  EXPECT_FALSE(with_ps.is_leaf(Level::kPml4));
  EXPECT_FALSE(with_ps.is_leaf(Level::kPml5));
  const Pte without_ps{0x3};
  EXPECT_TRUE(without_ps.is_leaf(Level::kPt));
  EXPECT_FALSE(without_ps.is_leaf(Level::kPd));
  EXPECT_FALSE(without_ps.is_leaf(Level::kPdpt));
}

TEST(Pte, FromLeafReadsBackEveryFlag) {
  const PteFlags all = PteFlags::from_leaf(Pte{0x8000'0000'0000'011f});
  EXPECT_TRUE(all.writable);
  EXPECT_TRUE(all.user);
  EXPECT_TRUE(all.write_through);
  EXPECT_TRUE(all.cache_disable);
  EXPECT_TRUE(all.global);
  EXPECT_TRUE(all.no_execute);
  const PteFlags none = PteFlags::from_leaf(Pte{0x1});
  EXPECT_FALSE(none.writable || none.user || none.write_through || none.cache_disable ||
               none.global || none.no_execute);
  PteFlags flags;
  flags.user = true;
  flags.no_execute = true;
  EXPECT_EQ(PteFlags::from_leaf(make_leaf(Level::kPd, Pfn{0x400}, flags)), flags);
}

TEST(Pte, ReservedBitsAtAndAboveMaxPhyAddr) {
  // MAXPHYADDR 46: bits 51:46 are reserved, bit 45 is an address bit.
  EXPECT_EQ(Pte{(std::uint64_t{1} << 46) | 0x3}.reserved_bits(Level::kPt, 46),
            std::uint64_t{1} << 46);
  EXPECT_EQ(Pte{(std::uint64_t{1} << 45) | 0x3}.reserved_bits(Level::kPt, 46), 0u);
  EXPECT_EQ(Pte{(std::uint64_t{1} << 51) | 0x3}.reserved_bits(Level::kPt, 46),
            std::uint64_t{1} << 51);
  EXPECT_EQ(Pte{(std::uint64_t{1} << 51) | 0x3}.reserved_bits(Level::kPt, 52), 0u);
  // The same rule at every level, table entries included.
  EXPECT_EQ(Pte{(std::uint64_t{1} << 50) | 0x3}.reserved_bits(Level::kPml4, 46),
            std::uint64_t{1} << 50);
  EXPECT_EQ(Pte{(std::uint64_t{1} << 36) | 0x3}.reserved_bits(Level::kPdpt, 36),
            std::uint64_t{1} << 36);
  // Bits 62:52 are ignored (software, protection keys) and XD is valid with EFER.NXE.
  EXPECT_EQ(Pte{0xfff0'0000'0000'1003}.reserved_bits(Level::kPt, 46), 0u);
}

TEST(Pte, PsIsReservedInPml4eAndPml5e) {
  const Pte with_ps{0x1083};
  EXPECT_EQ(with_ps.reserved_bits(Level::kPml4, 52), 0x80u);
  EXPECT_EQ(with_ps.reserved_bits(Level::kPml5, 52), 0x80u);
  // In a PDPTE PS makes a 1 GiB leaf and bit 12 is its PAT; in a PTE bit 7 is PAT.
  EXPECT_EQ(with_ps.reserved_bits(Level::kPdpt, 52), 0u);
  EXPECT_EQ(with_ps.reserved_bits(Level::kPt, 52), 0u);
}

TEST(Pte, ReservedBits29To13Of1GLeaf) {
  // 1 GiB leaf at 0x40000000 with PAT (bit 12, allowed) and bits 29 and 13 set.
  const Pte leaf{0x6000'3083};
  EXPECT_EQ(leaf.reserved_bits(Level::kPdpt, 46), 0x2000'2000u);
  // Read as a 2 MiB leaf only bit 13 is reserved: bit 29 is an address bit there.
  EXPECT_EQ(leaf.reserved_bits(Level::kPd, 46), 0x2000u);
  // Without PS the entry points to a table and bits 29:13 are address bits.
  EXPECT_EQ(Pte{0x6000'3003}.reserved_bits(Level::kPdpt, 46), 0u);
}

TEST(Pte, ReservedBits20To13Of2MLeaf) {
  // 2 MiB leaf at 0x200000 with PAT (bit 12) and bits 20 and 13 set.
  const Pte leaf{0x30'3083};
  EXPECT_EQ(leaf.reserved_bits(Level::kPd, 46), 0x10'2000u);
  EXPECT_EQ(Pte{0x30'3003}.reserved_bits(Level::kPd, 46), 0u);  // a table entry
  // Low reserved bits and a bit above MAXPHYADDR are reported together.
  EXPECT_EQ(Pte{0x8000'0020'4083}.reserved_bits(Level::kPd, 46), 0x8000'0000'4000u);
}

TEST(Pte, LevelGeometry) {
  EXPECT_EQ(level_shift(Level::kPt), 12u);
  EXPECT_EQ(level_shift(Level::kPd), 21u);
  EXPECT_EQ(level_shift(Level::kPdpt), 30u);
  EXPECT_EQ(level_shift(Level::kPml4), 39u);
  EXPECT_EQ(level_shift(Level::kPml5), 48u);
  // 0x0005'0080'8060'4567 = PML5 5, PML4 1, PDPT 2, PD 3, PT 4, offset 0x567.
  const VirtAddr va{0x0005'0080'8060'4567};
  EXPECT_EQ(level_index(va, Level::kPml5), 5u);
  EXPECT_EQ(level_index(va, Level::kPml4), 1u);
  EXPECT_EQ(level_index(va, Level::kPdpt), 2u);
  EXPECT_EQ(level_index(va, Level::kPd), 3u);
  EXPECT_EQ(level_index(va, Level::kPt), 4u);
  EXPECT_EQ(level_index(VirtAddr{0xffff'c900'0000'0000}, Level::kPml4), 402u);  // 0x192
  EXPECT_EQ(leaf_size(Level::kPt), PageSize::k4K);
  EXPECT_EQ(leaf_size(Level::kPd), PageSize::k2M);
  EXPECT_EQ(leaf_size(Level::kPdpt), PageSize::k1G);
  EXPECT_EQ(leaf_level(PageSize::k2M), Level::kPd);
  EXPECT_EQ(level_below(Level::kPml5), Level::kPml4);
  EXPECT_STREQ(level_name(Level::kPdpt), "pdpt");
  EXPECT_STREQ(level_name(Level::kPml5), "pml5");
}

TEST(PteCanonical, FourLevelIs48Bit) {
  const PagingMode mode{4};
  EXPECT_EQ(mode.va_bits(), 48u);
  EXPECT_EQ(mode.top(), Level::kPml4);
  EXPECT_TRUE(mode.is_canonical(VirtAddr{0}));
  EXPECT_TRUE(mode.is_canonical(VirtAddr{0x0000'7fff'ffff'ffff}));
  EXPECT_FALSE(mode.is_canonical(VirtAddr{0x0000'8000'0000'0000}));
  EXPECT_TRUE(mode.is_canonical(VirtAddr{0xffff'8000'0000'0000}));
  EXPECT_FALSE(mode.is_canonical(VirtAddr{0xffff'7fff'ffff'ffff}));
  EXPECT_FALSE(mode.is_canonical(VirtAddr{0xfff0'8000'0000'0000}));  // bits 63:48 mixed
  EXPECT_FALSE(mode.is_canonical(VirtAddr{0x0001'0000'0000'0000}));
  EXPECT_TRUE(mode.is_canonical(VirtAddr{0xffff'ffff'ffff'ffff}));
}

TEST(PteCanonical, FiveLevelIs57Bit) {
  const PagingMode mode{5};
  EXPECT_EQ(mode.va_bits(), 57u);
  EXPECT_EQ(mode.top(), Level::kPml5);
  EXPECT_TRUE(mode.is_canonical(VirtAddr{0x0000'8000'0000'0000}));  // not canonical in 48-bit
  EXPECT_TRUE(mode.is_canonical(VirtAddr{0x00ff'ffff'ffff'ffff}));
  EXPECT_FALSE(mode.is_canonical(VirtAddr{0x0100'0000'0000'0000}));
  EXPECT_TRUE(mode.is_canonical(VirtAddr{0xff00'0000'0000'0000}));
  EXPECT_FALSE(mode.is_canonical(VirtAddr{0xfeff'ffff'ffff'ffff}));
  EXPECT_FALSE(mode.is_canonical(VirtAddr{0x8000'0000'0000'0000}));
}

}  // namespace
}  // namespace mmusim::mmu
