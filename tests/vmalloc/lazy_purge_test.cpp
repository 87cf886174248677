// Lazy freeing: vmap_lazy_nr (guard pages included), the purge that fires on exactly the free
// that takes it past lazy_max_pages(), its single flush over all lazy areas, try_purge's
// trylock, and the fixed threshold.
//
// S = VMALLOC_START = 0xffffc90000000000.
#include <gtest/gtest.h>

#include "machine.h"

namespace mmusim::vmalloc::testing {
namespace {

TEST(LazyPurge, LazyMaxPagesIsFlsOfOnlineCpusTimes32MiB) {
  // fls(n) * (32 MiB / 4 KiB): fls(1) = 1, fls(2..3) = 2, fls(4..7) = 3, fls(8) = 4,
  // fls(64..127) = 7, fls(128) = 8.
  const std::vector<std::pair<int, std::uint64_t>> cases = {
      {1, 8192},  {2, 16384},  {3, 16384},   {4, 24576},  {7, 24576},
      {8, 32768}, {64, 57344}, {127, 57344}, {128, 65536}};
  for (const auto& [cpus, pages] : cases) {
    MachineOptions options;
    options.cpus = cpus;
    Machine m(options);
    EXPECT_EQ(m.guest.lazy_max_pages(), pages) << cpus << " CPUs";
  }
}

TEST(LazyPurge, VmapLazyNrCountsTheGuardPage) {
  Machine m;
  auto& [kernel, guest] = m;
  guest.vfree(guest.vmalloc(kPage));  // 1 page + guard
  EXPECT_EQ(guest.vmap_lazy_nr(), 2u);
  guest.free_vm_area(guest.get_vm_area(3 * kPage, vm_flags::kNoGuard));  // no guard
  EXPECT_EQ(guest.vmap_lazy_nr(), 5u);
  // vm_map_ram() above VMAP_MAX_ALLOC pages has no guard either.
  const auto frames = take_frames(kernel, 65);
  const std::uint64_t ram = guest.vm_map_ram(frames, 65, kNumaNoNode, PageProt::kKernel);
  ASSERT_NE(ram, 0u);
  guest.vm_unmap_ram(ram, 65);
  EXPECT_EQ(guest.vmap_lazy_nr(), 70u);
  EXPECT_EQ(guest.purge_list_length(), 3u);
  EXPECT_TRUE(kernel.flushes().empty());
  EXPECT_EQ(guest.check_invariants(), "");
}

struct ThresholdCase {
  int cpus;
  std::uint64_t lazy_max_pages;
};

void PrintTo(const ThresholdCase& c, std::ostream* os) {
  *os << c.cpus << " CPUs, lazy_max_pages " << c.lazy_max_pages;
}

class LazyPurgeThreshold : public ::testing::TestWithParam<ThresholdCase> {};

TEST_P(LazyPurgeThreshold, PurgeFiresOnTheFreeThatCrossesIt) {
  const ThresholdCase param = GetParam();
  MachineOptions options;
  options.cpus = param.cpus;
  Machine m(options);
  auto& [kernel, guest] = m;
  ASSERT_EQ(guest.lazy_max_pages(), param.lazy_max_pages);

  // Four areas of a quarter of the threshold each, guard page included, back to back from S,
  // then one page (+ guard) right after them.
  const std::uint64_t quarter = param.lazy_max_pages / 4;
  std::vector<VmStruct*> areas;
  for (int i = 0; i < 4; ++i) {
    areas.push_back(guest.get_vm_area((quarter - 1) * kPage, 0));
    ASSERT_NE(areas.back(), nullptr);
    EXPECT_EQ(areas.back()->addr, kStart + i * quarter * kPage);
  }
  areas.push_back(guest.get_vm_area(kPage, 0));
  const std::uint64_t top = kStart + param.lazy_max_pages * kPage + 0x2000;

  // The lazy count reaches the threshold exactly: not above it, no purge.
  for (int i = 0; i < 4; ++i)
    guest.free_vm_area(areas[i]);
  EXPECT_EQ(guest.vmap_lazy_nr(), param.lazy_max_pages);
  EXPECT_TRUE(kernel.flushes().empty());

  // Two more pages cross it, on the last CPU: one flush over [S, end of the fifth area).
  kernel.set_cpu(param.cpus - 1);
  guest.free_vm_area(areas[4]);
  EXPECT_EQ(kernel.flushes(), (std::vector<FakeKernel::Flush>{{kStart, top, param.cpus - 1}}));
  ASSERT_EQ(guest.purge_records().size(), 1u);
  const PurgeRecord& purge = guest.purge_records()[0];
  EXPECT_EQ(purge.areas, 5u);
  EXPECT_EQ(purge.pages, param.lazy_max_pages + 2);
  EXPECT_EQ(purge.flush_start, kStart);
  EXPECT_EQ(purge.flush_end, top);
  EXPECT_EQ(guest.vmap_lazy_nr(), 0u);
  EXPECT_EQ(guest.busy_areas(), 0u);
}

// The ends of the purged span: S + lazy_max_pages pages + the 2-page fifth area.
INSTANTIATE_TEST_SUITE_P(OnlineCpus, LazyPurgeThreshold,
                         ::testing::Values(ThresholdCase{1, 8192}, ThresholdCase{2, 16384},
                                           ThresholdCase{4, 24576}, ThresholdCase{64, 57344}),
                         [](const auto& info) { return std::to_string(info.param.cpus) + "cpus"; });

TEST(LazyPurge, PurgeFlushesFromLowestStartToHighestEnd) {
  Machine m;
  auto& [kernel, guest] = m;
  // 1 CPU: 8192 pages. A large area between two small ones; the small ones go first.
  const std::uint64_t low = guest.vmalloc(kPage);      // [S, S+0x2000)
  VmStruct* big = guest.get_vm_area(8191 * kPage, 0);  // [S+0x2000, +8192 pages)
  const std::uint64_t high = guest.vmalloc(kPage);     // then 2 pages
  ASSERT_EQ(low, kStart);
  ASSERT_EQ(big->addr, kStart + 0x2000);
  ASSERT_EQ(high, kStart + 0x2002000);
  guest.vfree(high);  // 2
  EXPECT_EQ(guest.vmap_lazy_nr(), 2u);
  guest.vfree(low);  // 4
  EXPECT_TRUE(kernel.flushes().empty());
  guest.free_vm_area(big);  // 8196 > 8192
  EXPECT_EQ(flush_ranges(kernel), (std::vector<Range>{{kStart, kStart + 0x2004000}}));
  EXPECT_EQ(guest.vmap_lazy_nr(), 0u);
}

TEST(LazyPurge, TrylockSkipsThePurgeWhileAnotherCpuPurges) {
  MachineOptions options;
  options.cpus = 2;
  Machine m(options);
  auto& [kernel, guest] = m;
  ASSERT_EQ(guest.lazy_max_pages(), 16384u);
  VmStruct* big = guest.get_vm_area(16383 * kPage, 0);  // 16384 pages from S
  const std::uint64_t small = guest.vmalloc(kPage);     // 2 pages after it
  const std::uint64_t later = guest.vmalloc(kPage);     // 2 more
  ASSERT_EQ(small, kStart + 0x4000000);
  ASSERT_EQ(later, kStart + 0x4002000);

  // CPU 1 holds vmap_purge_lock (it is purging).
  kernel.set_cpu(1);
  const LockId purge_lock = kernel.lock_id("vmap_purge_lock", LockKind::kMutex);
  kernel.lock(purge_lock);
  kernel.set_cpu(0);
  guest.free_vm_area(big);
  guest.vfree(small);  // 16386 > 16384, but the trylock fails
  EXPECT_EQ(guest.vmap_lazy_nr(), 16386u);
  EXPECT_TRUE(kernel.flushes().empty());
  EXPECT_EQ(guest.stats().purges_skipped_busy, 1u);
  EXPECT_EQ(kernel.lock_events().back().lock, "vmap_purge_lock");
  EXPECT_EQ(kernel.lock_events().back().action, "trylock-failed");

  // Released: the next lazy free purges all three areas at once.
  kernel.unlock(purge_lock);
  guest.vfree(later);
  EXPECT_EQ(flush_ranges(kernel), (std::vector<Range>{{kStart, kStart + 0x4004000}}));
  ASSERT_EQ(guest.purge_records().size(), 1u);
  EXPECT_EQ(guest.purge_records()[0].areas, 3u);
  EXPECT_EQ(guest.purge_records()[0].pages, 16388u);
  EXPECT_EQ(guest.vmap_lazy_nr(), 0u);
}

TEST(LazyPurge, FixedZeroPurgesOnEveryFree) {
  VmallocConfig config;
  config.lazy_max_pages_mode = LazyMaxPages::kFixed;
  config.lazy_max_pages = 0;
  Machine m(with_config(config));
  auto& [kernel, guest] = m;
  EXPECT_EQ(guest.lazy_max_pages(), 0u);
  const std::uint64_t a = guest.vmalloc(kPage);      // [S, S+0x2000)
  const std::uint64_t b = guest.vmalloc(2 * kPage);  // [S+0x2000, S+0x5000)
  const std::uint64_t c = guest.vmalloc(kPage);      // [S+0x5000, S+0x7000)
  guest.vfree(b);
  guest.vfree(a);
  guest.vfree(c);
  EXPECT_EQ(flush_ranges(kernel), (std::vector<Range>{{kStart + 0x2000, kStart + 0x5000},
                                                      {kStart, kStart + 0x2000},
                                                      {kStart + 0x5000, kStart + 0x7000}}));
  ASSERT_EQ(guest.purge_records().size(), 3u);
  EXPECT_EQ(guest.purge_records()[0].pages, 3u);
  EXPECT_EQ(guest.purge_records()[1].pages, 2u);
  EXPECT_EQ(guest.vmap_lazy_nr(), 0u);
  EXPECT_EQ(guest.busy_areas(), 0u);
}

TEST(LazyPurge, FixedThresholdIsAlsoStrictlyGreater) {
  VmallocConfig config;
  config.lazy_max_pages_mode = LazyMaxPages::kFixed;
  config.lazy_max_pages = 4;
  Machine m(with_config(config));
  auto& [kernel, guest] = m;
  const std::uint64_t a = guest.vmalloc(kPage);
  const std::uint64_t b = guest.vmalloc(kPage);
  const std::uint64_t c = guest.vmalloc(kPage);
  guest.vfree(a);  // 2
  guest.vfree(b);  // 4, not above 4
  EXPECT_TRUE(kernel.flushes().empty());
  guest.vfree(c);  // 6
  EXPECT_EQ(flush_ranges(kernel), (std::vector<Range>{{kStart, kStart + 0x6000}}));
}

TEST(LazyPurge, DebugPageallocFlushesEveryUnmapAndStillCountsItLazily) {
  VmallocConfig config;
  config.debug_pagealloc = true;
  Machine m(with_config(config));
  auto& [kernel, guest] = m;
  const std::uint64_t a = guest.vmalloc(2 * kPage);  // [S, S+0x3000)
  guest.vfree(a);
  EXPECT_EQ(flush_ranges(kernel), (std::vector<Range>{{kStart, kStart + 0x3000}}));
  EXPECT_EQ(guest.vmap_lazy_nr(), 3u);
  EXPECT_EQ(guest.purge_list_length(), 1u);
}

TEST(LazyPurge, VmUnmapAliasesPurgesEvenBelowTheThreshold) {
  Machine m;
  auto& [kernel, guest] = m;
  const std::uint64_t a = guest.vmalloc(kPage);
  guest.vmalloc(kPage);
  const std::uint64_t c = guest.vmalloc(kPage);
  guest.vfree(c);
  guest.vfree(a);
  guest.vm_unmap_aliases();
  // Newest first (a, then c) does not matter to the range: [a.start, c.end).
  EXPECT_EQ(flush_ranges(kernel), (std::vector<Range>{{kStart, kStart + 0x6000}}));
  EXPECT_EQ(guest.vmap_lazy_nr(), 0u);
  EXPECT_EQ(guest.stats().alias_flushes, 0u);  // the purge's own flush
  // Nothing left: no flush at all.
  guest.vm_unmap_aliases();
  EXPECT_EQ(kernel.flushes().size(), 1u);
}

}  // namespace
}  // namespace mmusim::vmalloc::testing
