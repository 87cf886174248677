// Reaching vmalloc memory from outside: vread()/vwrite() over areas, guard pages and holes;
// remap_vmalloc_range() into a user address space; map/unmap_kernel_range(_noflush) and
// alloc_vm_area() on bare areas.
//
// S = VMALLOC_START = 0xffffc90000000000.
#include <algorithm>

#include <gtest/gtest.h>

#include "machine.h"

namespace mmusim::vmalloc::testing {
namespace {

std::vector<std::uint8_t> pattern(std::size_t size, std::uint8_t seed) {
  std::vector<std::uint8_t> bytes(size);
  for (std::size_t i = 0; i < size; ++i)
    bytes[i] = static_cast<std::uint8_t>(seed + i * 7);
  return bytes;
}

bool all_equal(const std::uint8_t* bytes, std::size_t size, std::uint8_t value) {
  return std::all_of(bytes, bytes + size, [&](std::uint8_t b) { return b == value; });
}

class VreadVwrite : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = guest_.vmalloc(2 * kPage);  // [S, S+0x3000): usable [S, S+0x2000), guard after
    b_ = guest_.vmalloc(kPage);      // [S+0x3000, S+0x5000): usable [S+0x3000, S+0x4000)
    ASSERT_EQ(a_, kStart);
    ASSERT_EQ(b_, kStart + 0x3000);
  }
  Machine machine_;
  FakeKernel& kernel_ = machine_.kernel;
  Vmalloc& guest_ = machine_.guest;
  std::uint64_t a_ = 0, b_ = 0;
};

TEST_F(VreadVwrite, HolesReadAsZerosAndAreSkippedByWrites) {
  const auto source = pattern(0x4000, 1);
  // a takes source[0, 0x2000); the guard page [S+0x2000, S+0x3000) is a hole: its 0x1000
  // buffer bytes are passed over; b takes source[0x3000, 0x4000).
  EXPECT_EQ(guest_.vwrite(source.data(), kStart, 0x4000), 0x4000);

  std::vector<std::uint8_t> out(0x5000, 0xaa);
  // a's 0x2000 bytes, 0x1000 zeros up to b, b's 0x1000, then b's guard page: nothing covers
  // it, so the tail is zero-filled. The whole count is returned.
  EXPECT_EQ(guest_.vread(out.data(), kStart, 0x5000), 0x5000);
  EXPECT_TRUE(std::equal(out.begin(), out.begin() + 0x2000, source.begin()));
  EXPECT_TRUE(all_equal(out.data() + 0x2000, 0x1000, 0));
  EXPECT_TRUE(std::equal(out.begin() + 0x3000, out.begin() + 0x4000, source.begin() + 0x3000));
  EXPECT_TRUE(all_equal(out.data() + 0x4000, 0x1000, 0));

  // The data is really in the pages: read a's second page through physical memory.
  std::vector<std::uint8_t> page(kPage);
  kernel_.physical_memory().read(frame_at(kernel_, a_ + kPage)->addr(), page.data(), kPage);
  EXPECT_TRUE(std::equal(page.begin(), page.end(), source.begin() + 0x1000));
}

TEST_F(VreadVwrite, StartingInAHole) {
  const auto source = pattern(kPage, 9);
  kernel_.physical_memory().write(frame_at(kernel_, b_)->addr(), source.data(), kPage);
  std::vector<std::uint8_t> out(0x1000, 0xaa);
  // From S+0x2800 (a's guard page): 0x800 zeros, then the first 0x800 bytes of b.
  EXPECT_EQ(guest_.vread(out.data(), kStart + 0x2800, 0x1000), 0x1000);
  EXPECT_TRUE(all_equal(out.data(), 0x800, 0));
  EXPECT_TRUE(std::equal(out.begin() + 0x800, out.end(), source.begin()));
}

TEST_F(VreadVwrite, RangesEndingInOrAtTheEndOfAHole) {
  std::vector<std::uint8_t> buffer(0x800, 0xaa);
  // [S+0x2800, S+0x3000) ends exactly at b's start. vwrite's hole loop stops there without
  // looking at the count, writes 0 bytes into b and counts that as a copy: the full length.
  EXPECT_EQ(guest_.vwrite(buffer.data(), kStart + 0x2800, 0x800), 0x800);
  // Ending inside the hole: the count runs out before any area: 0.
  EXPECT_EQ(guest_.vwrite(buffer.data(), kStart + 0x2000, 0x800), 0);
  // vread zero-fills the hole either way and returns the length.
  EXPECT_EQ(guest_.vread(buffer.data(), kStart + 0x2800, 0x800), 0x800);
  EXPECT_TRUE(all_equal(buffer.data(), buffer.size(), 0));
  // b's first page is untouched.
  std::vector<std::uint8_t> page(kPage);
  kernel_.physical_memory().read(frame_at(kernel_, b_)->addr(), page.data(), kPage);
  EXPECT_TRUE(all_equal(page.data(), page.size(), 0));
}

TEST_F(VreadVwrite, NothingCoveredReturnsZeroAndLeavesTheBuffer) {
  std::vector<std::uint8_t> out(0x100, 0xaa);
  // Past every area: no byte copied, so 0 and no zero-fill.
  EXPECT_EQ(guest_.vread(out.data(), kStart + 0x10000, 0x100), 0);
  EXPECT_TRUE(all_equal(out.data(), out.size(), 0xaa));
  // b's guard page: b ends its usable part below it, nothing after.
  EXPECT_EQ(guest_.vread(out.data(), kStart + 0x4000, 0x100), 0);
  EXPECT_EQ(guest_.vwrite(out.data(), kStart + 0x4000, 0x100), 0);
  // A range wrapping past the top is cut at the top; nothing is up there.
  std::vector<std::uint8_t> wide(0x200, 0xaa);
  EXPECT_EQ(guest_.vread(wide.data(), ~std::uint64_t{0} - 0xff, 0x200), 0);
}

TEST_F(VreadVwrite, LazilyFreedAndVmMapRamAreasAreHoles) {
  const auto source = pattern(kPage, 3);
  kernel_.physical_memory().write(frame_at(kernel_, b_)->addr(), source.data(), kPage);
  guest_.vfree(a_);  // still busy, but without a vm_struct
  std::vector<std::uint8_t> out(0x4000, 0xaa);
  // [S, S+0x3000) is now a hole before b: zeros, then b.
  EXPECT_EQ(guest_.vread(out.data(), kStart, 0x4000), 0x4000);
  EXPECT_TRUE(all_equal(out.data(), 0x3000, 0));
  EXPECT_TRUE(std::equal(out.begin() + 0x3000, out.end(), source.begin()));

  // A vm_map_ram() block (at ALIGN(S+0x5000, 4 MiB)) is mapped, yet vread never looks at it.
  const auto frames = take_frames(kernel_, 1);
  kernel_.physical_memory().write(frames[0].addr(), source.data(), kPage);
  const std::uint64_t ram = guest_.vm_map_ram(frames, 1, kNumaNoNode, PageProt::kKernel);
  ASSERT_EQ(ram, kStart + 4 * kMiB);
  EXPECT_EQ(guest_.vread(out.data(), ram, kPage), 0);
}

TEST_F(VreadVwrite, IoremapAreasAreHoles) {
  // An ioremap area with a real page mapped in it: vread gives zeros, vwrite leaves it alone.
  VmStruct* io = guest_.get_vm_area(kPage, vm_flags::kIoremap);
  ASSERT_EQ(io->addr, kStart + 0x5000);
  const auto frames = take_frames(kernel_, 1);
  const auto source = pattern(kPage, 5);
  kernel_.physical_memory().write(frames[0].addr(), source.data(), kPage);
  ASSERT_EQ(guest_.map_kernel_range_noflush(io->addr, kPage, PageProt::kKernel, frames), 1);

  std::vector<std::uint8_t> out(kPage, 0xaa);
  EXPECT_EQ(guest_.vread(out.data(), io->addr, kPage), static_cast<long>(kPage));
  EXPECT_TRUE(all_equal(out.data(), kPage, 0));
  const auto other = pattern(kPage, 77);
  // Only an ioremap area in range: nothing written, 0.
  EXPECT_EQ(guest_.vwrite(other.data(), io->addr, kPage), 0);
  std::vector<std::uint8_t> page(kPage);
  kernel_.physical_memory().read(frames[0].addr(), page.data(), kPage);
  EXPECT_EQ(page, source);
}

TEST_F(VreadVwrite, UnmappedPagesOfAnAreaReadAsZeros) {
  VmStruct* bare = guest_.get_vm_area(2 * kPage, 0);  // nothing mapped
  ASSERT_EQ(bare->addr, kStart + 0x5000);
  std::vector<std::uint8_t> out(2 * kPage, 0xaa);
  EXPECT_EQ(guest_.vread(out.data(), bare->addr, 2 * kPage), static_cast<long>(2 * kPage));
  EXPECT_TRUE(all_equal(out.data(), out.size(), 0));
  // vwrite counts the area as written even though there was no page to write to.
  EXPECT_EQ(guest_.vwrite(out.data(), bare->addr, 2 * kPage), static_cast<long>(2 * kPage));
}

class Remap : public ::testing::Test {
 protected:
  static constexpr std::uint64_t kUser = 0x7f0000000000;
  UserVma vma(std::uint64_t pages) { return UserVma{1, kUser, kUser + pages * kPage, false}; }
  std::optional<mmu::Pfn> user_frame(std::uint64_t uaddr) {
    auto mapping = kernel_.page_tables().lookup(kernel_.user_root(1), mmu::VirtAddr{uaddr});
    if (!mapping) return std::nullopt;
    return mapping->frame;
  }
  Machine machine_;
  FakeKernel& kernel_ = machine_.kernel;
  Vmalloc& guest_ = machine_.guest;
};

TEST_F(Remap, MapsTheAreaPagesIntoTheUserVma) {
  const std::uint64_t buf = guest_.vmalloc_user(2 * kPage);
  UserVma user = vma(2);
  EXPECT_EQ(guest_.remap_vmalloc_range(user, buf, 0), 0);
  EXPECT_TRUE(user.dont_expand);
  EXPECT_EQ(user_frame(kUser), frame_at(kernel_, buf));
  EXPECT_EQ(user_frame(kUser + kPage), frame_at(kernel_, buf + kPage));
  auto mapping = kernel_.page_tables().lookup(kernel_.user_root(1), mmu::VirtAddr{kUser});
  EXPECT_TRUE(mapping->pte.user());

  // pgoff: start one page into the buffer.
  UserVma shifted{2, kUser, kUser + kPage, false};
  EXPECT_EQ(guest_.remap_vmalloc_range(shifted, buf, 1), 0);
  auto second = kernel_.page_tables().lookup(kernel_.user_root(2), mmu::VirtAddr{kUser});
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->frame, *frame_at(kernel_, buf + kPage));

  // The same range again: vm_insert_page() finds the PTE taken.
  UserVma again = vma(2);
  EXPECT_EQ(guest_.remap_vmalloc_range(again, buf, 0), -16);  // -EBUSY
  EXPECT_FALSE(again.dont_expand);
}

TEST_F(Remap, ErrorCodes) {
  const std::uint64_t plain = guest_.vmalloc(kPage);         // [S, S+0x2000)
  const std::uint64_t buf = guest_.vmalloc_user(2 * kPage);  // [S+0x2000, S+0x5000)
  UserVma one = vma(1);
  EXPECT_EQ(guest_.remap_vmalloc_range(one, plain, 0), -22);  // no VM_USERMAP: -EINVAL
  UserVma four = vma(4);
  EXPECT_EQ(guest_.remap_vmalloc_range(four, buf, 0), -22);  // 4 pages > area (3 with guard)
  EXPECT_EQ(guest_.remap_vmalloc_range(one, buf, 3), -22);   // starts past the area
  EXPECT_EQ(guest_.remap_vmalloc_range_partial(one, kUser + 0x10, buf, kPage), -22);
  EXPECT_EQ(guest_.remap_vmalloc_range_partial(one, kUser, buf + 0x10, kPage), -22);
  EXPECT_EQ(guest_.remap_vmalloc_range(one, kStart + kGiB, 0), -22);  // no area there
  // The user address lies outside the vma: vm_insert_page() says -EFAULT.
  EXPECT_EQ(guest_.remap_vmalloc_range_partial(one, kUser + kPage, buf, kPage), -14);
  EXPECT_TRUE(kernel_.bugs().empty());
}

TEST_F(Remap, TheGuardPagePassesTheSizeCheckAndOopses) {
  // 4.19 checks against vm->size, guard page included: a 3-page vma over a 2-page buffer
  // passes, and the third page has no struct page behind it.
  const std::uint64_t buf = guest_.vmalloc_user(2 * kPage);
  UserVma three = vma(3);
  EXPECT_NE(guest_.remap_vmalloc_range(three, buf, 0), 0);
  ASSERT_EQ(kernel_.bugs().size(), 1u);
  EXPECT_NE(kernel_.bugs()[0].find("NULL pointer dereference"), std::string::npos);
}

TEST(KernelRange, OnlyUnmapKernelRangeFlushes) {
  Machine m;
  auto& [kernel, guest] = m;
  VmStruct* area = guest.get_vm_area(2 * kPage, 0);
  ASSERT_EQ(area->addr, kStart);
  const auto frames = take_frames(kernel, 2);
  // Returns the number of pages mapped.
  EXPECT_EQ(guest.map_kernel_range_noflush(kStart, 2 * kPage, PageProt::kKernel, frames), 2);
  EXPECT_EQ(frame_at(kernel, kStart + kPage), frames[1]);
  guest.unmap_kernel_range_noflush(kStart, 2 * kPage);
  EXPECT_FALSE(mapped(kernel, kStart));
  EXPECT_TRUE(kernel.flushes().empty());

  EXPECT_EQ(guest.map_kernel_range_noflush(kStart, 2 * kPage, PageProt::kKernel, frames), 2);
  // Mapping over present PTEs: the PTE level's -EBUSY comes back as -ENOMEM.
  EXPECT_EQ(guest.map_kernel_range_noflush(kStart, kPage, PageProt::kKernel, frames), -12);
  EXPECT_EQ(kernel.warnings().size(), 1u);
  kernel.set_cpu(0);
  guest.unmap_kernel_range(kStart, 2 * kPage);
  EXPECT_FALSE(mapped(kernel, kStart + kPage));
  EXPECT_EQ(kernel.flushes(), (std::vector<FakeKernel::Flush>{{kStart, kStart + 0x2000, 0}}));
  // The area itself is untouched by either.
  EXPECT_EQ(guest.find_vm_area(kStart), area);
}

TEST(KernelRange, AllocVmAreaBuildsTablesButMapsNothing) {
  Machine m;
  auto& [kernel, guest] = m;
  std::vector<mmu::PhysAddr> ptes;
  VmStruct* area = guest.alloc_vm_area(3 * kPage, &ptes);
  ASSERT_NE(area, nullptr);
  // VM_IOREMAP: 0x3000 -> 16 KiB alignment; from S.
  EXPECT_EQ(area->addr, kStart);
  EXPECT_EQ(area->flags, vm_flags::kIoremap);
  ASSERT_EQ(ptes.size(), 3u);
  for (std::size_t i = 0; i < ptes.size(); ++i) {
    EXPECT_EQ(ptes[i], ptes[0] + i * 8);
    EXPECT_EQ(kernel.physical_memory().read_u64(ptes[i]), 0u);
    EXPECT_FALSE(mapped(kernel, kStart + i * kPage));
  }
  // The tables are there: mapping now needs no new table page.
  const std::uint64_t tables = kernel.page_tables().stats().tables_allocated;
  const auto frames = take_frames(kernel, 3);
  EXPECT_EQ(guest.map_kernel_range_noflush(kStart, 3 * kPage, PageProt::kKernel, frames), 3);
  EXPECT_EQ(kernel.page_tables().stats().tables_allocated, tables);
  guest.free_vm_area(area);
  EXPECT_FALSE(mapped(kernel, kStart));
  EXPECT_EQ(guest.vmap_lazy_nr(), 4u);
}

TEST(KernelRange, FreeVmAreaTwiceIsReported) {
  Machine m;
  auto& [kernel, guest] = m;
  VmStruct* area = guest.get_vm_area(kPage, 0);
  guest.free_vm_area(area);
  // The model refuses to touch a vm_struct it already freed (4.19 would read freed memory).
  guest.free_vm_area(area);
  ASSERT_EQ(kernel.bugs().size(), 1u);
  EXPECT_NE(kernel.bugs()[0].find("already freed"), std::string::npos);
}

}  // namespace
}  // namespace mmusim::vmalloc::testing
