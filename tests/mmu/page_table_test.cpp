// The page-table editor: the entries it writes, the tables it allocates, its failures and
// whom it tells about changed leaves.
#include "mmu/page_table.h"

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "mmu/phys_mem.h"
#include "mmu/pte.h"
#include "tests/mmu/printers.h"

namespace mmusim::mmu {
namespace {

struct LeafChange {
  PhysAddr pte_addr;
  VirtAddr va;
  PageSize size;
  friend bool operator==(const LeafChange& a, const LeafChange& b) {
    return a.pte_addr == b.pte_addr && a.va == b.va && a.size == b.size;
  }
  friend void PrintTo(const LeafChange& c, std::ostream* os) {
    *os << "{pte " << hex(c.pte_addr.value()) << ", va " << hex(c.va.value()) << ", "
        << to_string(c.size) << "}";
  }
};

class RecordingObserver : public PteObserver {
 public:
  void leaf_changed(PhysAddr pte_addr, VirtAddr va, PageSize size) override {
    changes.push_back(LeafChange{pte_addr, va, size});
  }
  std::vector<LeafChange> changes;
};

// 0x80'8060'4000: PML4 index 1, PDPT index 2, PD index 3, PT index 4.
constexpr std::uint64_t kVa = 0x80'8060'4000;
constexpr std::uint64_t kVa2M = 0x80'8060'0000;  // the 2 MiB page holding kVa (PD index 3)
constexpr std::uint64_t kVa1G = 0x80'8000'0000;  // the 1 GiB page holding kVa (PDPT index 2)
constexpr std::uint64_t kKernelVa = 0xffff'c900'0000'0000;  // PML4 index 402, then 0, 0, 0

constexpr std::uint64_t k2M = std::uint64_t{1} << 21;
constexpr std::uint64_t k1G = std::uint64_t{1} << 30;

// With 16 reserved frames the root is frame 0x10 and the tables of the first mapping follow
// in allocation order: PDPT 0x11, PD 0x12, PT 0x13. So for kVa the entries live at
// PML4E 0x10008, PDPTE 0x11010, PDE 0x12018 and PTE 0x13020 (table + 8 * index).
constexpr std::uint64_t kPml4eAddr = 0x1'0008;
constexpr std::uint64_t kPdpteAddr = 0x1'1010;
constexpr std::uint64_t kPdeAddr = 0x1'2018;
constexpr std::uint64_t kPteAddr = 0x1'3020;

class PageTableFixture : public ::testing::Test {
 protected:
  [[nodiscard]] std::uint64_t entry(std::uint64_t addr) const {
    return memory_.read_u64(PhysAddr{addr});
  }
  void set(std::uint64_t addr, std::uint64_t raw) { memory_.write_u64(PhysAddr{addr}, raw); }

  EditResult map(std::uint64_t va, std::uint64_t length, std::uint64_t frame, PageSize size,
                 const PteFlags& flags = PteFlags{}) {
    return editor_.map(root_, VirtAddr{va}, length, Pfn{frame}, size, flags);
  }

  PhysMem memory_{PhysMemConfig{std::uint64_t{64} << 20, 1}};
  SimpleFrameAllocator frames_{memory_, 16};
  RecordingObserver observer_;
  PageTableEditor editor_{memory_, frames_, PagingMode{4}, &observer_};
  Pfn root_ = editor_.create_root().value();
};

using PageTableMap = PageTableFixture;
using PageTableErrors = PageTableFixture;
using PageTableUnmap = PageTableFixture;
using PageTableProtect = PageTableFixture;
using PageTableKernel = PageTableFixture;
using PageTableLookup = PageTableFixture;

// --- map ------------------------------------------------------------------------------------

TEST_F(PageTableMap, FourKPageBuildsThreeTables) {
  EXPECT_EQ(root_, Pfn{0x10});
  const EditResult r = map(kVa, 0x1000, 0x5555, PageSize::k4K);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.entries_written, 1u);
  EXPECT_EQ(r.tables_allocated, 3u);
  // Lower-half table entries are P|RW|US so that the leaf alone decides U/S.
  EXPECT_EQ(entry(kPml4eAddr), 0x1'1007u);
  EXPECT_EQ(entry(kPdpteAddr), 0x1'2007u);
  EXPECT_EQ(entry(kPdeAddr), 0x1'3007u);
  EXPECT_EQ(entry(kPteAddr), 0x555'5003u);  // P|RW, supervisor
  EXPECT_TRUE(observer_.changes.empty());   // a new mapping is not a change
  EXPECT_EQ(editor_.stats().leaves_set, 1u);
  EXPECT_EQ(editor_.stats().tables_allocated, 4u);  // the root too
  EXPECT_EQ(frames_.allocated(), 4u);
}

TEST_F(PageTableMap, TwoMPagesBuildTwoTables) {
  PteFlags flags;
  flags.writable = false;
  flags.user = true;
  flags.no_execute = true;
  const EditResult r = map(kVa2M, 2 * k2M, 0x40a00, PageSize::k2M, flags);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.entries_written, 2u);
  EXPECT_EQ(r.tables_allocated, 2u);
  // P|US|PS = 0x85 plus XD; the second page takes the next 2 MiB of frames (0x40c00).
  EXPECT_EQ(entry(kPdeAddr), 0x8000'0000'40a0'0085u);
  EXPECT_EQ(entry(kPdeAddr + 8), 0x8000'0000'40c0'0085u);
  EXPECT_EQ(entry(0x1'3000), 0u);  // no PT was made
}

TEST_F(PageTableMap, OneGPageBuildsOneTable) {
  const EditResult r = map(kVa1G, k1G, 0x14'0000, PageSize::k1G);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.entries_written, 1u);
  EXPECT_EQ(r.tables_allocated, 1u);
  EXPECT_EQ(entry(kPdpteAddr), 0x1'4000'0083u);
}

TEST_F(PageTableMap, KernelHalfTablesAreSupervisor) {
  PteFlags flags;
  flags.global = true;
  const EditResult r = map(kKernelVa, 0x1000, 0x5555, PageSize::k4K, flags);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.tables_allocated, 3u);
  EXPECT_EQ(entry(0x1'0000 + 402 * 8), 0x1'1003u);  // P|RW
  EXPECT_EQ(entry(0x1'1000), 0x1'2003u);
  EXPECT_EQ(entry(0x1'2000), 0x1'3003u);
  EXPECT_EQ(entry(0x1'3000), 0x555'5103u);  // P|RW|G
}

TEST_F(PageTableMap, RangeCrossingPageTables) {
  // PT indexes 510 and 511 under PD index 3, then 0 and 1 under PD index 4.
  const EditResult r = map(0x80'807f'e000, 0x4000, 0x5555, PageSize::k4K);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.entries_written, 4u);
  EXPECT_EQ(r.tables_allocated, 4u);  // PDPT 0x11, PD 0x12, PT 0x13, PT 0x14
  EXPECT_EQ(entry(0x1'3ff0), 0x555'5003u);
  EXPECT_EQ(entry(0x1'3ff8), 0x555'6003u);
  EXPECT_EQ(entry(0x1'2020), 0x1'4007u);  // PDE index 4 -> PT 0x14
  EXPECT_EQ(entry(0x1'4000), 0x555'7003u);
  EXPECT_EQ(entry(0x1'4008), 0x555'8003u);
}

TEST_F(PageTableMap, MapPagesUsesTheGivenFrames) {
  PteFlags flags;
  flags.user = true;
  const EditResult r =
      editor_.map_pages(root_, VirtAddr{kVa}, {Pfn{0x900}, Pfn{0x300}, Pfn{0x700}}, flags);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.entries_written, 3u);
  EXPECT_EQ(entry(kPteAddr), 0x90'0007u);
  EXPECT_EQ(entry(kPteAddr + 8), 0x30'0007u);
  EXPECT_EQ(entry(kPteAddr + 16), 0x70'0007u);
}

TEST_F(PageTableMap, ZeroLengthDoesNothing) {
  const EditResult r = map(kVa, 0, 0x5555, PageSize::k4K);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.entries_written, 0u);
  EXPECT_EQ(r.tables_allocated, 0u);
}

TEST_F(PageTableMap, FiveLevelBuildsFourTables) {
  PageTableEditor five(memory_, frames_, PagingMode{5});
  const Pfn root = five.create_root().value();
  EXPECT_EQ(root, Pfn{0x11});
  // 0x0000'8000'0000'0000 is canonical only with 5 levels: PML5 index 0, PML4 index 256.
  const EditResult r = five.map(root, VirtAddr{0x0000'8000'0000'0000}, 0x1000, Pfn{0x5555},
                                PageSize::k4K, PteFlags{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.tables_allocated, 4u);
  EXPECT_EQ(entry(0x1'1000), 0x1'2007u);            // PML5E -> PML4 0x12
  EXPECT_EQ(entry(0x1'2000 + 256 * 8), 0x1'3007u);  // PML4E -> PDPT 0x13
  EXPECT_EQ(entry(0x1'5000), 0x555'5003u);          // PTE in PT 0x15
  const auto found = five.lookup(root, VirtAddr{0x0000'8000'0000'0abc});
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->translate(VirtAddr{0x0000'8000'0000'0abc}), PhysAddr{0x555'5abc});
}

// --- failures -------------------------------------------------------------------------------

TEST_F(PageTableErrors, AlreadyMappedStopsAtTheFirstPresentLeaf) {
  ASSERT_TRUE(map(kVa, 0x1000, 0x5555, PageSize::k4K).ok());
  const EditResult r = map(kVa - 0x1000, 0x3000, 0x7000, PageSize::k4K);
  EXPECT_EQ(r.status, EditStatus::kAlreadyMapped);
  EXPECT_EQ(r.failed_at, VirtAddr{kVa});
  EXPECT_EQ(r.entries_written, 1u);  // the page before kVa
  EXPECT_EQ(r.tables_allocated, 0u);
  EXPECT_EQ(entry(kPteAddr - 8), 0x700'0003u);
  EXPECT_EQ(entry(kPteAddr), 0x555'5003u);  // untouched
  EXPECT_EQ(entry(kPteAddr + 8), 0u);       // never reached
}

TEST_F(PageTableErrors, AlreadyMappedByALargerOrSmallerPage) {
  ASSERT_TRUE(map(kVa2M, k2M, 0x40a00, PageSize::k2M).ok());
  EditResult r = map(kVa, 0x1000, 0x5555, PageSize::k4K);  // inside the 2 MiB page
  EXPECT_EQ(r.status, EditStatus::kAlreadyMapped);
  EXPECT_EQ(r.failed_at, VirtAddr{kVa});
  EXPECT_EQ(r.tables_allocated, 0u);
  EXPECT_EQ(entry(kPdeAddr), 0x40a0'0083u);

  // A 2 MiB page where a PT already exists, and a 1 GiB page over a PD.
  ASSERT_TRUE(map(kVa2M + k2M, 0x1000, 0x5555, PageSize::k4K).ok());
  r = map(kVa2M + k2M, k2M, 0x40c00, PageSize::k2M);
  EXPECT_EQ(r.status, EditStatus::kAlreadyMapped);
  EXPECT_EQ(r.failed_at, VirtAddr{kVa2M + k2M});
  r = map(kVa1G, k1G, 0x4'0000, PageSize::k1G);
  EXPECT_EQ(r.status, EditStatus::kAlreadyMapped);
  EXPECT_EQ(r.failed_at, VirtAddr{kVa1G});
  EXPECT_TRUE(observer_.changes.empty());
}

TEST_F(PageTableErrors, Misaligned) {
  const auto expect_misaligned = [](const EditResult& r, std::uint64_t va) {
    EXPECT_EQ(r.status, EditStatus::kMisaligned);
    EXPECT_EQ(r.failed_at, VirtAddr{va});
    EXPECT_EQ(r.entries_written, 0u);
    EXPECT_EQ(r.tables_allocated, 0u);
  };
  expect_misaligned(map(kVa + 0x10, 0x1000, 0x5555, PageSize::k4K), kVa + 0x10);
  expect_misaligned(map(kVa, 0x1800, 0x5555, PageSize::k4K), kVa);
  expect_misaligned(map(kVa, k2M, 0x40a00, PageSize::k2M), kVa);         // va
  expect_misaligned(map(kVa2M, 0x1000, 0x40a00, PageSize::k2M), kVa2M);  // length
  expect_misaligned(map(kVa2M, k2M, 0x40a01, PageSize::k2M), kVa2M);     // frame
  expect_misaligned(map(kVa1G, k1G, 0x4'0200, PageSize::k1G), kVa1G);    // 2 MiB-aligned only
  expect_misaligned(editor_.map_pages(root_, VirtAddr{kVa + 8}, {Pfn{1}}, PteFlags{}), kVa + 8);
  expect_misaligned(editor_.unmap(root_, VirtAddr{kVa}, 0x800), kVa);
  expect_misaligned(editor_.protect(root_, VirtAddr{kVa + 0x800}, 0x1000, PteFlags{}), kVa + 0x800);
  EXPECT_EQ(frames_.allocated(), 1u);  // the root only
}

TEST_F(PageTableErrors, NonCanonical) {
  EditResult r = map(0x0000'8000'0000'0000, 0x1000, 0x5555, PageSize::k4K);
  EXPECT_EQ(r.status, EditStatus::kNonCanonical);
  EXPECT_EQ(r.failed_at, VirtAddr{0x0000'8000'0000'0000});
  // Starts canonical, ends past the top of the lower half.
  r = map(0x7fff'ffff'f000, 0x2000, 0x5555, PageSize::k4K);
  EXPECT_EQ(r.status, EditStatus::kNonCanonical);
  EXPECT_EQ(r.failed_at, VirtAddr{0x7fff'ffff'f000});
  EXPECT_EQ(r.tables_allocated, 0u);
  EXPECT_FALSE(editor_.lookup(root_, VirtAddr{0x7fff'ffff'f000}).has_value());
  // A length that wraps around 2^64.
  r = editor_.unmap(root_, VirtAddr{0xffff'ffff'ffff'f000}, 0x2000);
  EXPECT_EQ(r.status, EditStatus::kNonCanonical);
  r = editor_.protect(root_, VirtAddr{0xffff'7fff'ffff'f000}, 0x1000, PteFlags{});
  EXPECT_EQ(r.status, EditStatus::kNonCanonical);
  EXPECT_EQ(frames_.allocated(), 1u);
}

TEST_F(PageTableErrors, WouldSplitALargePage) {
  ASSERT_TRUE(map(kVa2M, k2M, 0x40a00, PageSize::k2M).ok());
  EditResult r = editor_.unmap(root_, VirtAddr{kVa}, 0x1000);
  EXPECT_EQ(r.status, EditStatus::kWouldSplit);
  EXPECT_EQ(r.failed_at, VirtAddr{kVa});
  EXPECT_EQ(r.entries_written, 0u);
  EXPECT_EQ(entry(kPdeAddr), 0x40a0'0083u);
  r = editor_.protect(root_, VirtAddr{kVa2M}, k2M / 2, PteFlags{});
  EXPECT_EQ(r.status, EditStatus::kWouldSplit);
  EXPECT_EQ(r.failed_at, VirtAddr{kVa2M});

  ASSERT_TRUE(map(kVa1G + k1G, k1G, 0x4'0000, PageSize::k1G).ok());  // PDPT index 3
  r = editor_.unmap(root_, VirtAddr{kVa1G + k1G}, k2M);
  EXPECT_EQ(r.status, EditStatus::kWouldSplit);
  EXPECT_TRUE(observer_.changes.empty());
}

TEST_F(PageTableErrors, OutOfMemoryForATable) {
  PhysMem small(PhysMemConfig{std::uint64_t{16} << 20, 1});  // 4096 frames
  SimpleFrameAllocator two_frames(small, 4094);              // only 4094 and 4095 are free
  PageTableEditor editor(small, two_frames, PagingMode{4});
  const Pfn root = editor.create_root().value();
  EXPECT_EQ(root, Pfn{4094});
  const EditResult r =
      editor.map(root, VirtAddr{kVa}, 0x1000, Pfn{0x5555}, PageSize::k4K, PteFlags{});
  EXPECT_EQ(r.status, EditStatus::kOutOfMemory);
  EXPECT_EQ(r.failed_at, VirtAddr{kVa});
  EXPECT_EQ(r.tables_allocated, 1u);  // the PDPT; the PD did not fit
  EXPECT_EQ(r.entries_written, 0u);
  EXPECT_FALSE(editor.create_root().has_value());
}

TEST_F(PageTableErrors, OutOfMemoryWhilePopulatingKernelHalf) {
  PhysMem small(PhysMemConfig{std::uint64_t{16} << 20, 1});
  SimpleFrameAllocator frames(small, 4090);  // root + 5 tables
  PageTableEditor editor(small, frames, PagingMode{4});
  const Pfn root = editor.create_root().value();
  const EditResult r = editor.populate_kernel_half(root);
  EXPECT_EQ(r.status, EditStatus::kOutOfMemory);
  EXPECT_EQ(r.tables_allocated, 5u);
}

// --- unmap ----------------------------------------------------------------------------------

TEST_F(PageTableUnmap, ClearsPresentLeavesAndSkipsHoles) {
  ASSERT_TRUE(map(kVa, 0x2000, 0x5555, PageSize::k4K).ok());
  ASSERT_TRUE(map(kVa + 0x3000, 0x1000, 0x7777, PageSize::k4K).ok());  // hole at kVa + 0x2000
  const EditResult r = editor_.unmap(root_, VirtAddr{kVa}, 0x4000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.entries_written, 3u);
  EXPECT_EQ(r.tables_allocated, 0u);
  const std::vector<LeafChange> expected{
      {PhysAddr{kPteAddr}, VirtAddr{kVa}, PageSize::k4K},
      {PhysAddr{kPteAddr + 8}, VirtAddr{kVa + 0x1000}, PageSize::k4K},
      {PhysAddr{kPteAddr + 24}, VirtAddr{kVa + 0x3000}, PageSize::k4K},
  };
  EXPECT_EQ(observer_.changes, expected);
  EXPECT_EQ(entry(kPteAddr), 0u);
  EXPECT_EQ(entry(kPteAddr + 24), 0u);
  EXPECT_EQ(entry(kPdeAddr), 0x1'3007u);  // tables are kept
  EXPECT_EQ(editor_.stats().leaves_cleared, 3u);
  EXPECT_FALSE(editor_.lookup(root_, VirtAddr{kVa}).has_value());

  // Unmapping again finds only holes.
  const EditResult again = editor_.unmap(root_, VirtAddr{kVa}, 0x4000);
  EXPECT_TRUE(again.ok());
  EXPECT_EQ(again.entries_written, 0u);
  EXPECT_EQ(observer_.changes.size(), 3u);
}

TEST_F(PageTableUnmap, RangeWithoutTablesAllocatesNothing) {
  const EditResult r = editor_.unmap(root_, VirtAddr{0x7f00'0000'0000}, k1G);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.entries_written, 0u);
  EXPECT_EQ(r.tables_allocated, 0u);
  EXPECT_EQ(frames_.allocated(), 1u);
}

TEST_F(PageTableUnmap, LargePages) {
  ASSERT_TRUE(map(kVa1G, k1G, 0x14'0000, PageSize::k1G).ok());  // PDPT 0x11, index 2
  // 0x80'c000'0000: PDPT index 3 -> PD 0x12, PD index 0.
  ASSERT_TRUE(map(0x80'c000'0000, k2M, 0x40a00, PageSize::k2M).ok());
  // From one 4 KiB hole below the 1 GiB page to the end of the 2 MiB page.
  const EditResult r = editor_.unmap(root_, VirtAddr{kVa1G - 0x1000}, 0x1000 + k1G + k2M);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.entries_written, 2u);
  const std::vector<LeafChange> expected{
      {PhysAddr{kPdpteAddr}, VirtAddr{kVa1G}, PageSize::k1G},
      {PhysAddr{0x1'2000}, VirtAddr{0x80'c000'0000}, PageSize::k2M},
  };
  EXPECT_EQ(observer_.changes, expected);
  EXPECT_EQ(entry(kPdpteAddr), 0u);
  EXPECT_EQ(entry(0x1'2000), 0u);
}

// --- protect --------------------------------------------------------------------------------

TEST_F(PageTableProtect, ChangesPermissionsKeepsFrameAndAccessedDirty) {
  ASSERT_TRUE(map(kVa, 0x2000, 0x5555, PageSize::k4K).ok());
  set(kPteAddr, 0x555'5063);  // as a walker would leave it after a write: A|D
  PteFlags read_only;
  read_only.writable = false;
  read_only.no_execute = true;
  const EditResult r = editor_.protect(root_, VirtAddr{kVa}, 0x2000, read_only);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.entries_written, 2u);
  EXPECT_EQ(entry(kPteAddr), 0x8000'0000'0555'5061u);  // P|A|D, XD
  EXPECT_EQ(entry(kPteAddr + 8), 0x8000'0000'0555'6001u);
  const std::vector<LeafChange> expected{
      {PhysAddr{kPteAddr}, VirtAddr{kVa}, PageSize::k4K},
      {PhysAddr{kPteAddr + 8}, VirtAddr{kVa + 0x1000}, PageSize::k4K},
  };
  EXPECT_EQ(observer_.changes, expected);
  EXPECT_EQ(editor_.stats().leaves_changed, 2u);

  // The same permissions again change nothing and tell nobody.
  const EditResult same = editor_.protect(root_, VirtAddr{kVa}, 0x2000, read_only);
  EXPECT_TRUE(same.ok());
  EXPECT_EQ(same.entries_written, 0u);
  EXPECT_EQ(observer_.changes.size(), 2u);
  EXPECT_EQ(editor_.stats().leaves_changed, 2u);
}

TEST_F(PageTableProtect, KeepsPatAndSoftwareBits) {
  ASSERT_TRUE(map(kVa, 0x1000, 0x5555, PageSize::k4K).ok());
  // Bit 52 and bit 9 are free for software, bit 7 of a PTE is PAT.
  set(kPteAddr, 0x0010'0000'0555'5283);
  PteFlags user;
  user.user = true;
  ASSERT_TRUE(editor_.protect(root_, VirtAddr{kVa}, 0x1000, user).ok());
  EXPECT_EQ(entry(kPteAddr), 0x0010'0000'0555'5287u);

  // 0x80'80a0'0000 is PD index 5; bit 12 of a 2 MiB leaf is its PAT.
  ASSERT_TRUE(map(0x80'80a0'0000, k2M, 0x40a00, PageSize::k2M).ok());
  set(0x1'2028, 0x40a0'1083);
  PteFlags user_read_only;
  user_read_only.writable = false;
  user_read_only.user = true;
  const EditResult r = editor_.protect(root_, VirtAddr{0x80'80a0'0000}, k2M, user_read_only);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.entries_written, 1u);
  EXPECT_EQ(entry(0x1'2028), 0x40a0'1085u);  // P|US|PS, PAT kept
  ASSERT_EQ(observer_.changes.size(), 2u);
  EXPECT_EQ(observer_.changes[1],
            (LeafChange{PhysAddr{0x1'2028}, VirtAddr{0x80'80a0'0000}, PageSize::k2M}));
}

TEST_F(PageTableProtect, SkipsHoles) {
  ASSERT_TRUE(map(kVa + 0x1000, 0x1000, 0x5555, PageSize::k4K).ok());
  PteFlags global;
  global.global = true;
  const EditResult r = editor_.protect(root_, VirtAddr{kVa - 0x20'0000}, 0x40'0000, global);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.entries_written, 1u);
  EXPECT_EQ(entry(kPteAddr + 8), 0x555'5103u);
  EXPECT_EQ(frames_.allocated(), 4u);  // protect allocates nothing
}

// --- kernel half ----------------------------------------------------------------------------

TEST_F(PageTableKernel, PopulateThenShareMakesKernelMappingsVisible) {
  const EditResult populated = editor_.populate_kernel_half(root_);
  ASSERT_TRUE(populated.ok());
  EXPECT_EQ(populated.tables_allocated, 256u);       // PML4 indexes 256..511
  EXPECT_EQ(entry(0x1'0000 + 256 * 8), 0x1'1003u);   // supervisor, PDPT 0x11
  EXPECT_EQ(entry(0x1'0000 + 511 * 8), 0x11'0003u);  // PDPT 0x11 + 255
  EXPECT_EQ(entry(0x1'0000 + 255 * 8), 0u);          // the user half is left alone
  EXPECT_EQ(editor_.populate_kernel_half(root_).tables_allocated, 0u);

  const Pfn other = editor_.create_root().value();
  EXPECT_EQ(other, Pfn{0x111});
  editor_.share_kernel_half(other, root_);
  EXPECT_EQ(entry(0x11'1000 + 402 * 8), 0xa3'003u);  // PDPT 0x11 + (402 - 256)

  // Mapped through the first root after sharing: the second sees it too.
  const EditResult r = map(kKernelVa, 0x1000, 0x5555, PageSize::k4K);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.tables_allocated, 2u);  // PD and PT; the PDPT came from populate
  const auto seen = editor_.lookup(other, VirtAddr{kKernelVa + 0x10});
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->frame, Pfn{0x5555});
  EXPECT_EQ(seen->pte_addr, editor_.lookup(root_, VirtAddr{kKernelVa})->pte_addr);

  // User-half mappings stay private.
  ASSERT_TRUE(map(kVa, 0x1000, 0x6666, PageSize::k4K).ok());
  EXPECT_FALSE(editor_.lookup(other, VirtAddr{kVa}).has_value());
}

TEST_F(PageTableKernel, ShareWithoutPopulateMissesNewTopLevelEntries) {
  const Pfn other = editor_.create_root().value();
  editor_.share_kernel_half(other, root_);
  ASSERT_TRUE(map(kKernelVa, 0x1000, 0x5555, PageSize::k4K).ok());
  EXPECT_TRUE(editor_.lookup(root_, VirtAddr{kKernelVa}).has_value());
  EXPECT_FALSE(editor_.lookup(other, VirtAddr{kKernelVa}).has_value());
}

// --- lookup ---------------------------------------------------------------------------------

TEST_F(PageTableLookup, EveryPageSize) {
  ASSERT_TRUE(map(kVa, 0x1000, 0x5555, PageSize::k4K).ok());
  ASSERT_TRUE(map(kVa2M + k2M, k2M, 0x40a00, PageSize::k2M).ok());    // PD index 4
  ASSERT_TRUE(map(kVa1G + k1G, k1G, 0x14'0000, PageSize::k1G).ok());  // PDPT index 3

  auto m = editor_.lookup(root_, VirtAddr{kVa + 0x567});
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->frame, Pfn{0x5555});
  EXPECT_EQ(m->size, PageSize::k4K);
  EXPECT_EQ(m->pte_addr, PhysAddr{kPteAddr});
  EXPECT_EQ(m->pte.raw(), 0x555'5003u);
  EXPECT_EQ(m->translate(VirtAddr{kVa + 0x567}), PhysAddr{0x555'5567});

  m = editor_.lookup(root_, VirtAddr{kVa2M + k2M + 0x1'2345});
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->size, PageSize::k2M);
  EXPECT_EQ(m->pte_addr, PhysAddr{kPdeAddr + 8});
  EXPECT_EQ(m->translate(VirtAddr{kVa2M + k2M + 0x1'2345}), PhysAddr{0x40a1'2345});

  m = editor_.lookup(root_, VirtAddr{kVa1G + k1G + 0x1234'5678});
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->size, PageSize::k1G);
  EXPECT_EQ(m->pte_addr, PhysAddr{kPdpteAddr + 8});
  EXPECT_EQ(m->translate(VirtAddr{kVa1G + k1G + 0x1234'5678}), PhysAddr{0x1'5234'5678});
}

TEST_F(PageTableLookup, MissingOrNonCanonical) {
  ASSERT_TRUE(map(kVa, 0x1000, 0x5555, PageSize::k4K).ok());
  EXPECT_FALSE(editor_.lookup(root_, VirtAddr{kVa + 0x1000}).has_value());  // empty PTE
  EXPECT_FALSE(editor_.lookup(root_, VirtAddr{kVa + k2M}).has_value());     // empty PDE
  EXPECT_FALSE(editor_.lookup(root_, VirtAddr{0x0000'8000'0000'4000}).has_value());
  // 0xffff'8080'8060'4000 has the same indexes below the top as kVa, but PML4 index 257.
  EXPECT_FALSE(editor_.lookup(root_, VirtAddr{0xffff'8080'8060'4000}).has_value());
}

}  // namespace
}  // namespace mmusim::mmu
