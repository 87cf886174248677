// Per-CPU vmap blocks (vm_map_ram() up to VMAP_MAX_ALLOC = 64 pages): their size from
// NR_CPUS, the power-of-two bump allocation, per-CPU queues, dirty ranges, retirement to the
// lazy list, and vm_unmap_aliases() in its 4.19 and 6.5 forms.
//
// S = VMALLOC_START = 0xffffc90000000000, which is aligned to every block size.
#include <gtest/gtest.h>

#include "machine.h"

namespace mmusim::vmalloc::testing {
namespace {

MachineOptions with_nr_cpus(std::uint32_t nr_cpus, int cpus = 1) {
  VmallocConfig config;
  config.nr_cpus = nr_cpus;
  return with_config(config, cpus);
}

MachineOptions with_unmap_aliases(UnmapAliases mode, std::uint32_t nr_cpus = 64) {
  VmallocConfig config;
  config.nr_cpus = nr_cpus;
  config.vm_unmap_aliases = mode;
  return with_config(config);
}

const VmapBlock& only_block(const Vmalloc& guest, int cpu) {
  const auto& queue = guest.vmap_block_queue(cpu);
  EXPECT_EQ(queue.size(), 1u);
  return *queue.front();
}

TEST(VmapBlock, BbmapBitsFollowNrCpus) {
  // min(1024, max(128, 2^25 / roundup_pow_of_two(NR_CPUS) / 16)): 2^21 / NR_CPUS.
  const std::vector<std::pair<std::uint32_t, std::uint64_t>> cases = {
      {1, 1024}, {64, 1024}, {2048, 1024}, {2049, 512}, {4096, 512}, {8192, 256}};
  for (const auto& [nr_cpus, bits] : cases) {
    Machine m(with_nr_cpus(nr_cpus));
    EXPECT_EQ(m.guest.vmap_bbmap_bits(), bits) << "NR_CPUS " << nr_cpus;
    EXPECT_EQ(m.guest.vmap_block_size(), bits * kPage) << "NR_CPUS " << nr_cpus;
  }
}

TEST(VmapBlock, AllocationsRoundUpToPowersOfTwoAndBump) {
  Machine m;  // NR_CPUS 64: 1024 pages, 4 MiB blocks
  auto& [kernel, guest] = m;
  const auto three = take_frames(kernel, 3);
  const auto one = take_frames(kernel, 1);
  const auto five = take_frames(kernel, 5);
  const auto sixty_four = take_frames(kernel, 64);

  // No block yet: new_vmap_block(order 2) takes [S, S+4 MiB), aligned to its size, and
  // hands out its first 4 pages; free = 1024 - 4.
  const std::uint64_t a = guest.vm_map_ram(three, 3, kNumaNoNode, PageProt::kKernel);
  EXPECT_EQ(a, kStart);
  // Bump: next offset = 1024 - free.
  const std::uint64_t b = guest.vm_map_ram(one, 1, kNumaNoNode, PageProt::kKernel);
  EXPECT_EQ(b, kStart + 4 * kPage);  // free 1019
  const std::uint64_t c = guest.vm_map_ram(five, 5, kNumaNoNode, PageProt::kKernel);
  EXPECT_EQ(c, kStart + 5 * kPage);  // order 3: 8 pages, free 1011; not aligned to 8
  const std::uint64_t d = guest.vm_map_ram(sixty_four, 64, kNumaNoNode, PageProt::kKernel);
  EXPECT_EQ(d, kStart + 13 * kPage);  // free 947

  const VmapBlock& block = only_block(guest, 0);
  EXPECT_EQ(block.va->va_start, kStart);
  EXPECT_EQ(block.va->va_end, kStart + 4 * kMiB);
  EXPECT_EQ(block.free, 947u);
  EXPECT_EQ(block.dirty, 0u);
  EXPECT_EQ(block.dirty_min, 1024u);
  EXPECT_EQ(block.dirty_max, 0u);

  // Only the requested pages are mapped; the rounding slack stays empty.
  EXPECT_EQ(frame_at(kernel, a + 2 * kPage), three[2]);
  EXPECT_FALSE(mapped(kernel, a + 3 * kPage));
  EXPECT_EQ(frame_at(kernel, b), one[0]);
  EXPECT_EQ(frame_at(kernel, c + 4 * kPage), five[4]);
  EXPECT_FALSE(mapped(kernel, c + 5 * kPage));
  EXPECT_EQ(frame_at(kernel, d + 63 * kPage), sixty_four[63]);

  EXPECT_EQ(guest.busy_areas(), 1u);
  EXPECT_EQ(guest.stats().vmap_blocks_created, 1u);
  EXPECT_TRUE(kernel.flushes().empty());
}

TEST(VmapBlock, NewBlockWhenNoBlockOfTheCpuFits) {
  Machine m(with_nr_cpus(8192));  // 256 pages, 1 MiB blocks
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 64);
  const auto map = [&](std::uint32_t count) {
    return guest.vm_map_ram(frames, count, kNumaNoNode, PageProt::kKernel);
  };
  EXPECT_EQ(map(64), kStart);            // block 1 = [S, S+1 MiB), free 192
  EXPECT_EQ(map(64), kStart + 0x40000);  // free 128
  EXPECT_EQ(map(64), kStart + 0x80000);  // free 64
  EXPECT_EQ(map(33), kStart + 0xc0000);  // order 6 = 64 pages: free 0, off the queue
  EXPECT_TRUE(guest.vmap_block_queue(0).empty());

  // New block: alloc_vmap_area(1 MiB, align 1 MiB) from the cache (block 1) = S+1 MiB.
  EXPECT_EQ(map(1), kStart + 0x100000);   // block 2, free 255
  EXPECT_EQ(map(64), kStart + 0x101000);  // offset 1, free 191
  EXPECT_EQ(map(64), kStart + 0x141000);  // offset 65, free 127
  EXPECT_EQ(map(64), kStart + 0x181000);  // offset 129, free 63
  // 64 > 63: block 3 at S+2 MiB, queued after block 2.
  EXPECT_EQ(map(64), kStart + 0x200000);
  ASSERT_EQ(guest.vmap_block_queue(0).size(), 2u);
  // The first block in the queue that fits: block 2, offset 256 - 63 = 193.
  EXPECT_EQ(map(32), kStart + 0x100000 + 193 * kPage);
  EXPECT_EQ(guest.vmap_block_queue(0).front()->free, 31u);
  EXPECT_EQ(guest.stats().vmap_blocks_created, 3u);
}

TEST(VmapBlock, QueuesArePerCpu) {
  Machine m(with_nr_cpus(64, 2));
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 1);
  const std::uint64_t a = guest.vm_map_ram(frames, 1, kNumaNoNode, PageProt::kKernel);
  EXPECT_EQ(a, kStart);
  // CPU 1 has no block: a new one, although CPU 0's has room. ALIGN(S+4 MiB, 4 MiB).
  kernel.set_cpu(1);
  const std::uint64_t b = guest.vm_map_ram(frames, 1, kNumaNoNode, PageProt::kKernel);
  EXPECT_EQ(b, kStart + 4 * kMiB);
  kernel.set_cpu(0);
  EXPECT_EQ(guest.vm_map_ram(frames, 1, kNumaNoNode, PageProt::kKernel), kStart + kPage);
  EXPECT_EQ(only_block(guest, 0).va->va_start, kStart);
  EXPECT_EQ(only_block(guest, 1).va->va_start, kStart + 4 * kMiB);
  EXPECT_EQ(only_block(guest, 1).cpu, 1);

  // vb_free() finds the block by address, whichever CPU frees.
  kernel.set_cpu(1);
  guest.vm_unmap_ram(a, 1);
  EXPECT_EQ(only_block(guest, 0).dirty, 1u);
  EXPECT_EQ(only_block(guest, 1).dirty, 0u);
}

TEST(VmapBlock, VbFreeExtendsTheDirtyRange) {
  Machine m;
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 5);
  const std::uint64_t a = guest.vm_map_ram(frames, 3, kNumaNoNode, PageProt::kKernel);  // [0,4)
  const std::uint64_t b = guest.vm_map_ram(frames, 1, kNumaNoNode, PageProt::kKernel);  // [4,5)
  const std::uint64_t c = guest.vm_map_ram(frames, 5, kNumaNoNode, PageProt::kKernel);  // [5,13)
  const VmapBlock& block = only_block(guest, 0);

  guest.vm_unmap_ram(b, 1);
  EXPECT_EQ(block.dirty_min, 4u);
  EXPECT_EQ(block.dirty_max, 5u);
  EXPECT_EQ(block.dirty, 1u);
  EXPECT_FALSE(mapped(kernel, b));

  guest.vm_unmap_ram(c, 5);  // order 3: 8 pages of dirt
  EXPECT_EQ(block.dirty_min, 4u);
  EXPECT_EQ(block.dirty_max, 13u);
  EXPECT_EQ(block.dirty, 9u);

  guest.vm_unmap_ram(a, 3);  // order 2
  EXPECT_EQ(block.dirty_min, 0u);
  EXPECT_EQ(block.dirty_max, 13u);
  EXPECT_EQ(block.dirty, 13u);
  EXPECT_FALSE(mapped(kernel, a));
  EXPECT_FALSE(mapped(kernel, a + 2 * kPage));

  // The PTEs are gone but nothing was flushed or put on the lazy list.
  EXPECT_TRUE(kernel.flushes().empty());
  EXPECT_EQ(guest.vmap_lazy_nr(), 0u);
  EXPECT_EQ(block.free, 1011u);
}

TEST(VmapBlock, FullyDirtyBlockGoesToTheLazyListWhole) {
  Machine m(with_nr_cpus(8192));  // 256 pages, 1 MiB
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 64);
  std::vector<std::uint64_t> parts;
  for (int i = 0; i < 4; ++i) {
    parts.push_back(guest.vm_map_ram(frames, 64, kNumaNoNode, PageProt::kKernel));
  }
  for (int i = 0; i < 3; ++i)
    guest.vm_unmap_ram(parts[i], 64);
  EXPECT_EQ(guest.vmap_lazy_nr(), 0u);
  // The last quarter: dirty == VMAP_BBMAP_BITS, the block's whole area goes to the lazy list
  // (256 pages, no guard). Its vmap area has no vm_struct and no VM_LAZY_FREE: it still reads
  // as vm_map_ram until purged.
  guest.vm_unmap_ram(parts[3], 64);
  EXPECT_EQ(guest.vmap_lazy_nr(), 256u);
  EXPECT_EQ(guest.purge_list_length(), 1u);
  EXPECT_EQ(guest.stats().vmap_blocks_freed, 1u);
  EXPECT_EQ(guest.vmallocinfo(), "0xffffc90000000000-0xffffc90000100000 1048576 vm_map_ram\n");

  guest.vm_unmap_aliases();
  EXPECT_EQ(flush_ranges(kernel), (std::vector<Range>{{kStart, kStart + kMiB}}));
  ASSERT_EQ(guest.purge_records().size(), 1u);
  EXPECT_EQ(guest.purge_records()[0].pages, 256u);
  EXPECT_EQ(guest.busy_areas(), 0u);
}

TEST(VmapBlock, UnmapAliasesFlushesDirtyBlocksAndLazyAreasInOneRange) {
  Machine m;
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 1);
  const std::uint64_t p = guest.vmalloc(kPage);  // [S, S+0x2000)
  // The block: ALIGN(S+0x2000, 4 MiB) = S+4 MiB.
  const std::uint64_t kept = guest.vm_map_ram(frames, 1, kNumaNoNode, PageProt::kKernel);
  const std::uint64_t gone = guest.vm_map_ram(frames, 1, kNumaNoNode, PageProt::kKernel);
  ASSERT_EQ(kept, kStart + 0x400000);
  ASSERT_EQ(gone, kStart + 0x401000);
  guest.vm_unmap_ram(gone, 1);  // dirty [S+0x401000, S+0x402000)
  guest.vfree(p);               // lazy [S, S+0x2000)

  // The purge starts from the dirty range and widens it over the lazy areas: one flush.
  guest.vm_unmap_aliases();
  EXPECT_EQ(flush_ranges(kernel), (std::vector<Range>{{kStart, kStart + 0x402000}}));
  EXPECT_EQ(guest.stats().alias_flushes, 0u);
  // The block has a live allocation: it stays, dirty range and all (4.19 never resets it).
  const VmapBlock& block = only_block(guest, 0);
  EXPECT_EQ(block.dirty_min, 1u);
  EXPECT_EQ(block.dirty_max, 2u);
}

TEST(VmapBlock, UnmapAliasesRetiresFragmentedBlocksWhole) {
  Machine m;
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 1);
  const std::uint64_t a = guest.vm_map_ram(frames, 1, kNumaNoNode, PageProt::kKernel);
  guest.vm_unmap_ram(a, 1);  // free 1023 + dirty 1 = 1024, dirty != 1024: fragmented
  guest.vm_unmap_aliases();
  // purge_fragmented_blocks() puts the whole block on the lazy list; the purge flushes it.
  EXPECT_EQ(flush_ranges(kernel), (std::vector<Range>{{kStart, kStart + 4 * kMiB}}));
  ASSERT_EQ(guest.purge_records().size(), 1u);
  EXPECT_EQ(guest.purge_records()[0].pages, 1024u);
  EXPECT_TRUE(guest.vmap_block_queue(0).empty());
  EXPECT_EQ(guest.stats().vmap_blocks_purged, 1u);
  EXPECT_EQ(guest.busy_areas(), 0u);
}

TEST(VmapBlock, FreePathPurgeLeavesFragmentedBlocksAllocationFailurePurgesThem) {
  VmallocConfig config;
  config.lazy_max_pages_mode = LazyMaxPages::kFixed;
  config.lazy_max_pages = 0;
  Machine m(with_config(config));
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 1);
  const std::uint64_t a = guest.vm_map_ram(frames, 1, kNumaNoNode, PageProt::kKernel);
  guest.vm_unmap_ram(a, 1);  // a fragmented block at [S, S+4 MiB)

  // align 1 < 4 MiB: the walk from S passes the block: [S+4 MiB, S+4 MiB+0x2000).
  const std::uint64_t p = guest.vmalloc(kPage);
  ASSERT_EQ(p, kStart + 4 * kMiB);
  // try_purge_vmap_area_lazy() purges lazy areas only.
  guest.vfree(p);
  EXPECT_EQ(flush_ranges(kernel), (std::vector<Range>{{p, p + 0x2000}}));
  EXPECT_EQ(guest.vmap_block_queue(0).size(), 1u);

  // An allocation failure's purge_vmap_area_lazy() retires it first. (Its trip through the
  // lazy list tries to purge too, but vmap_purge_lock is held: skipped.)
  const std::uint64_t window = kStart + 8 * kMiB;
  ASSERT_NE(guest.__get_vm_area(kPage, 0, window, window + 0x2000), nullptr);
  EXPECT_EQ(guest.__get_vm_area(kPage, 0, window, window + 0x2000), nullptr);
  EXPECT_EQ(flush_ranges(kernel),
            (std::vector<Range>{{p, p + 0x2000}, {kStart, kStart + 4 * kMiB}}));
  EXPECT_TRUE(guest.vmap_block_queue(0).empty());
  EXPECT_EQ(guest.stats().purges_skipped_busy, 1u);
}

TEST(VmapBlock, UnmapAliases419NeverSeesFullBlocks) {
  Machine m(with_unmap_aliases(UnmapAliases::kLinux419, 8192));  // 256 pages
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 64);
  std::vector<std::uint64_t> parts;
  for (int i = 0; i < 4; ++i) {
    parts.push_back(guest.vm_map_ram(frames, 64, kNumaNoNode, PageProt::kKernel));
  }
  ASSERT_TRUE(guest.vmap_block_queue(0).empty());  // all handed out: off the free list
  guest.vm_unmap_ram(parts[0], 64);                // dirty [S, S+0x40000)
  guest.vm_unmap_aliases();
  // The gap: the block is on no queue, so its stale range is never flushed.
  EXPECT_TRUE(kernel.flushes().empty());
  EXPECT_EQ(guest.stats().alias_flushes, 0u);
}

TEST(VmapBlock, UnmapAliases65FlushesFullBlocksOnce) {
  Machine m(with_unmap_aliases(UnmapAliases::kLinux65, 8192));
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 64);
  std::vector<std::uint64_t> parts;
  for (int i = 0; i < 4; ++i) {
    parts.push_back(guest.vm_map_ram(frames, 64, kNumaNoNode, PageProt::kKernel));
  }
  guest.vm_unmap_ram(parts[0], 64);
  guest.vm_unmap_aliases();
  EXPECT_EQ(flush_ranges(kernel), (std::vector<Range>{{kStart, kStart + 0x40000}}));
  EXPECT_EQ(guest.stats().alias_flushes, 1u);
  // Flushed ranges are forgotten: nothing to do the second time.
  guest.vm_unmap_aliases();
  EXPECT_EQ(kernel.flushes().size(), 1u);
}

TEST(VmapBlock, UnmapAliases419FlushesTheSameRangeEveryTime) {
  Machine m(with_unmap_aliases(UnmapAliases::kLinux419));
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 1);
  const std::uint64_t a = guest.vm_map_ram(frames, 1, kNumaNoNode, PageProt::kKernel);
  guest.vm_map_ram(frames, 1, kNumaNoNode, PageProt::kKernel);  // keeps the block alive
  guest.vm_unmap_ram(a, 1);
  guest.vm_unmap_aliases();
  guest.vm_unmap_aliases();
  // Nothing lazy: vm_unmap_aliases() flushes the dirty range itself, twice.
  EXPECT_EQ(flush_ranges(kernel),
            (std::vector<Range>{{kStart, kStart + kPage}, {kStart, kStart + kPage}}));
  EXPECT_EQ(guest.stats().alias_flushes, 2u);
}

TEST(VmapBlock, UnmapAliases65FlushesADirtyRangeOnce) {
  Machine m(with_unmap_aliases(UnmapAliases::kLinux65));
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 1);
  const std::uint64_t a = guest.vm_map_ram(frames, 1, kNumaNoNode, PageProt::kKernel);
  guest.vm_unmap_ram(a, 1);
  // Fragmented, but with 1023 of 1024 pages free (not below VMAP_PURGE_THRESHOLD = 256) the
  // 6.5 code keeps the block and flushes only its dirty range.
  guest.vm_unmap_aliases();
  guest.vm_unmap_aliases();
  EXPECT_EQ(flush_ranges(kernel), (std::vector<Range>{{kStart, kStart + kPage}}));
  EXPECT_EQ(guest.vmap_block_queue(0).size(), 1u);
  EXPECT_EQ(guest.vmap_block_queue(0).front()->dirty_max, 0u);
}

TEST(VmapBlock, UnmapAliases65RetiresFragmentedBlocksWithLittleSpaceLeft) {
  Machine m(with_unmap_aliases(UnmapAliases::kLinux65));
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 64);
  std::vector<std::uint64_t> parts;
  for (int i = 0; i < 13; ++i) {  // 832 pages: 192 < 256 left
    parts.push_back(guest.vm_map_ram(frames, 64, kNumaNoNode, PageProt::kKernel));
  }
  for (const std::uint64_t part : parts)
    guest.vm_unmap_ram(part, 64);
  guest.vm_unmap_aliases();
  EXPECT_EQ(flush_ranges(kernel), (std::vector<Range>{{kStart, kStart + 4 * kMiB}}));
  EXPECT_TRUE(guest.vmap_block_queue(0).empty());
  EXPECT_EQ(guest.busy_areas(), 0u);
}

TEST(VmapBlock, LargeRequestsGetTheirOwnAreaWithoutGuard) {
  Machine m;
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 65);
  const std::uint64_t big = guest.vm_map_ram(frames, 65, kNumaNoNode, PageProt::kKernel);
  EXPECT_EQ(big, kStart);  // alloc_vmap_area(65 pages, PAGE_SIZE): [S, S+0x41000)
  EXPECT_EQ(frame_at(kernel, big + 64 * kPage), frames[64]);
  EXPECT_EQ(guest.vmallocinfo(), "0xffffc90000000000-0xffffc90000041000  266240 vm_map_ram\n");
  EXPECT_TRUE(guest.vmap_block_queue(0).empty());
  guest.vm_unmap_ram(big, 65);
  EXPECT_FALSE(mapped(kernel, big));
  EXPECT_EQ(guest.vmap_lazy_nr(), 65u);
  // Freed without remove_vm_area(): no VM_LAZY_FREE, still listed as vm_map_ram.
  EXPECT_EQ(guest.vmallocinfo(), "0xffffc90000000000-0xffffc90000041000  266240 vm_map_ram\n");
}

TEST(VmapBlock, MismatchedCountsAreBugs) {
  Machine m;
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 65);
  const std::uint64_t big = guest.vm_map_ram(frames, 65, kNumaNoNode, PageProt::kKernel);
  // A small count looks for a vmap block at the address: there is none.
  guest.vm_unmap_ram(big, 1);
  ASSERT_EQ(kernel.bugs().size(), 1u);
  EXPECT_NE(kernel.bugs()[0].find("vb_free: BUG_ON(!vb)"), std::string::npos);
  EXPECT_TRUE(mapped(kernel, big));

  // A large count on a block address: the model reports it instead of freeing the block.
  const std::uint64_t small = guest.vm_map_ram(frames, 1, kNumaNoNode, PageProt::kKernel);
  guest.vm_unmap_ram(small, 65);
  ASSERT_EQ(kernel.bugs().size(), 2u);
  EXPECT_NE(kernel.bugs()[1].find("vm_unmap_ram"), std::string::npos);
  EXPECT_EQ(guest.vmap_lazy_nr(), 0u);
}

TEST(VmapBlock, UnmappingALargeAreaTwiceIsReported) {
  Machine m;
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 65);
  const std::uint64_t big = guest.vm_map_ram(frames, 65, kNumaNoNode, PageProt::kKernel);
  guest.vm_unmap_ram(big, 65);
  // 4.19 would link the lazily freed area into the purge list again (a cycle); the model
  // reports the misuse and leaves the books as they were.
  guest.vm_unmap_ram(big, 65);
  ASSERT_EQ(kernel.bugs().size(), 1u);
  EXPECT_NE(kernel.bugs()[0].find("called twice"), std::string::npos);
  EXPECT_EQ(guest.vmap_lazy_nr(), 65u);
  EXPECT_EQ(guest.check_invariants(), "");
  guest.vm_unmap_aliases();
  EXPECT_EQ(guest.busy_areas(), 0u);
}

TEST(VmapBlock, ZeroPagesWarnsThenBugs) {
  Machine m;
  auto& [kernel, guest] = m;
  // vb_alloc(0) WARNs and returns NULL, which is not an error pointer: 4.19 maps [0, 0)
  // and BUGs in the page-table code.
  EXPECT_EQ(guest.vm_map_ram({}, 0, kNumaNoNode, PageProt::kKernel), 0u);
  ASSERT_EQ(kernel.warnings().size(), 1u);
  EXPECT_NE(kernel.warnings()[0].find("WARN_ON(size == 0)"), std::string::npos);
  ASSERT_EQ(kernel.bugs().size(), 1u);
  EXPECT_NE(kernel.bugs()[0].find("BUG_ON(addr >= end)"), std::string::npos);
  EXPECT_EQ(guest.busy_areas(), 0u);
}

TEST(VmapBlock, UnmappingZeroPagesIsABug) {
  Machine m;
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 1);
  const std::uint64_t a = guest.vm_map_ram(frames, 1, kNumaNoNode, PageProt::kKernel);
  // vb_free(addr, 0): the block is found, then vunmap_page_range(addr, addr) BUGs before
  // any dirt is recorded.
  guest.vm_unmap_ram(a, 0);
  ASSERT_EQ(kernel.bugs().size(), 1u);
  EXPECT_NE(kernel.bugs()[0].find("vunmap_page_range: BUG_ON(addr >= end)"), std::string::npos);
  EXPECT_EQ(only_block(guest, 0).dirty, 0u);
  EXPECT_TRUE(mapped(kernel, a));
}

TEST(VmapBlock, NewVmapBlockRefusesToFillTheWholeBlock) {
  Machine m(with_nr_cpus(8192));
  auto& [kernel, guest] = m;
  EXPECT_EQ(guest.new_vmap_block(7, gfp::kKernel), kStart);  // 128 of 256 pages
  EXPECT_EQ(guest.new_vmap_block(8, gfp::kKernel), 0u);      // 256 of 256
  ASSERT_EQ(kernel.bugs().size(), 1u);
  EXPECT_NE(kernel.bugs()[0].find("BUG_ON(VMAP_BBMAP_BITS <= (1UL << order))"), std::string::npos);
}

}  // namespace
}  // namespace mmusim::vmalloc::testing
