// The hw_synthetic generator: deterministic per seed, maps exactly its regions at boot, never
// accesses outside them, and remaps a private page every `remap_every` accesses.
#include "workloads/hw_synthetic.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/workloads/op_printer.h"
#include "workloads/config.h"
#include "workloads/op.h"

namespace mmusim::workloads {
namespace {

namespace f = op_flags;

constexpr std::uint32_t kKernelData = f::kGlobal | f::kNoExecute;
constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;

HwSyntheticConfig small_config() {
  HwSyntheticConfig config;
  config.accesses_per_cpu = 3000;
  config.working_set_pages = 64;
  config.hot_pages = 8;
  config.hot_percent = 80;
  config.huge_pages = 2;
  config.huge_percent = 10;
  config.shared_pages = 16;
  config.shared_percent = 20;
  config.store_percent = 30;
  config.remap_every = 100;
  config.compute_cycles = 20;
  return config;
}

std::vector<Op> all_ops(HwSyntheticWorkload& workload, int cpu) {
  auto source = workload.source(cpu);
  std::vector<Op> ops;
  Op op;
  while (source->next(op))
    ops.push_back(op);
  return ops;
}

Op map_op(std::uint64_t addr, std::uint64_t bytes, mmu::PageSize page = mmu::PageSize::k4K) {
  Op op;
  op.kind = OpKind::kMap;
  op.addr = addr;
  op.size = bytes;
  op.page = page;
  op.flags = kKernelData;
  return op;
}

bool is_access(const Op& op) {
  return op.kind == OpKind::kLoad || op.kind == OpKind::kStore;
}

// Where an access of `cpu` may go.
enum class Region { kPrivateHot, kPrivateCold, kHuge, kShared, kOutside };

Region region_of(const HwSyntheticConfig& config, int cpu, std::uint64_t addr) {
  const std::uint64_t private_base = kSyntheticPrivateBase + cpu * kSyntheticCpuStride;
  const std::uint64_t huge_base = kSyntheticHugeBase + cpu * kSyntheticCpuStride;
  if (addr >= private_base && addr < private_base + (std::uint64_t{config.hot_pages} << 12)) {
    return Region::kPrivateHot;
  }
  if (addr >= private_base &&
      addr < private_base + (std::uint64_t{config.working_set_pages} << 12)) {
    return Region::kPrivateCold;
  }
  if (addr >= huge_base && addr < huge_base + (std::uint64_t{config.huge_pages} << 21)) {
    return Region::kHuge;
  }
  if (addr >= kSyntheticSharedBase &&
      addr < kSyntheticSharedBase + (std::uint64_t{config.shared_pages} << 12)) {
    return Region::kShared;
  }
  return Region::kOutside;
}

std::map<Region, std::uint64_t> accesses_by_region(const HwSyntheticConfig& config, int cpus) {
  HwSyntheticWorkload workload(config, cpus, 5);
  std::map<Region, std::uint64_t> counts;
  for (int cpu = 0; cpu < cpus; ++cpu) {
    for (const Op& op : all_ops(workload, cpu)) {
      if (is_access(op)) ++counts[region_of(config, cpu, op.addr)];
    }
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------
// Determinism.

TEST(HwSynthetic, SameSeedGivesTheSameStreams) {
  HwSyntheticWorkload a(small_config(), 3, 11);
  HwSyntheticWorkload b(small_config(), 3, 11);
  for (int cpu = 0; cpu < 3; ++cpu) {
    const std::vector<Op> ops = all_ops(a, cpu);
    EXPECT_EQ(ops.size(), 3000u * 2 + 30 * 3);  // access + compute, and 30 remap triples
    EXPECT_EQ(ops, all_ops(b, cpu)) << "CPU " << cpu;
  }
  // A second source of the same CPU starts over.
  EXPECT_EQ(all_ops(a, 1), all_ops(b, 1));
}

TEST(HwSynthetic, DifferentSeedOrCpuGivesDifferentStreams) {
  HwSyntheticWorkload a(small_config(), 2, 11);
  HwSyntheticWorkload b(small_config(), 2, 12);
  const std::vector<Op> a0 = all_ops(a, 0);
  const std::vector<Op> b0 = all_ops(b, 0);
  ASSERT_EQ(a0.size(), b0.size());  // the shape is the config's...
  EXPECT_NE(a0, b0);                // ...the addresses are the seed's
  std::size_t same_address = 0;
  for (std::size_t i = 0; i < a0.size(); ++i) {
    if (is_access(a0[i]) && a0[i] == b0[i]) ++same_address;
  }
  EXPECT_LT(same_address, 300u);  // no more than chance (hot pages are few) would give

  // CPU 1 is not CPU 0 moved by a fixed offset.
  const std::vector<Op> a1 = all_ops(a, 1);
  std::size_t same_offset = 0;
  for (std::size_t i = 0; i < a0.size(); ++i) {
    if (is_access(a0[i]) && is_access(a1[i]) && a1[i].addr - a0[i].addr == kSyntheticCpuStride) {
      ++same_offset;
    }
  }
  EXPECT_LT(same_offset, 300u);
}

TEST(HwSynthetic, WhereCountsTheOpsReturned) {
  HwSyntheticWorkload workload(small_config(), 2, 1);
  auto source = workload.source(1);
  Op op;
  EXPECT_EQ(source->where(), "hw_synthetic cpu 1 op 0");
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(source->next(op));
  EXPECT_EQ(source->where(), "hw_synthetic cpu 1 op 5");
}

// ---------------------------------------------------------------------------------------------
// Boot mappings.

TEST(HwSynthetic, BootMapsExactlyTheConfiguredRegions) {
  HwSyntheticWorkload workload(small_config(), 3, 1);
  const std::vector<Op> expected = {
      map_op(0xffffc90000000000, 64 * 4096),
      map_op(0xffffd00000000000, 2 << 21, mmu::PageSize::k2M),
      map_op(0xffffc90040000000, 64 * 4096),
      map_op(0xffffd00040000000, 2 << 21, mmu::PageSize::k2M),
      map_op(0xffffc90080000000, 64 * 4096),
      map_op(0xffffd00080000000, 2 << 21, mmu::PageSize::k2M),
      map_op(0xffffd80000000000, 16 * 4096),
  };
  EXPECT_EQ(workload.boot_ops(), expected);
}

TEST(HwSynthetic, BootLeavesOutRegionsOfSizeZero) {
  HwSyntheticConfig config = small_config();
  config.huge_pages = 0;
  config.shared_pages = 0;
  HwSyntheticWorkload workload(config, 2, 1);
  const std::vector<Op> expected = {
      map_op(0xffffc90000000000, 64 * 4096),
      map_op(0xffffc90040000000, 64 * 4096),
  };
  EXPECT_EQ(workload.boot_ops(), expected);
}

// Records the largest value the config accepts for each integer field.
struct LargestAccepted {
  std::map<std::string, std::uint64_t> max;
  template <class T>
  void integer(const char* key, T& /*field*/, T /*min*/, T most, const char* /*description*/) {
    max[key] = most;
  }
  void check(bool /*ok*/, const char* /*key*/, const std::string& /*message*/) {}
};

TEST(HwSynthetic, LargestAcceptedRegionsOfNeighbouringCpusDoNotOverlap) {
  HwSyntheticConfig config;
  LargestAccepted largest;
  config.visit(largest);
  ASSERT_EQ(largest.max.count("working_set_pages"), 1u);
  ASSERT_EQ(largest.max.count("huge_pages"), 1u);
  config.working_set_pages = static_cast<std::uint32_t>(largest.max["working_set_pages"]);
  config.huge_pages = static_cast<std::uint32_t>(largest.max["huge_pages"]);
  config.shared_pages = static_cast<std::uint32_t>(largest.max["shared_pages"]);

  HwSyntheticWorkload workload(config, 64, 1);
  std::vector<Op> maps = workload.boot_ops();
  ASSERT_EQ(maps.size(), 64u * 2 + 1);
  std::sort(maps.begin(), maps.end(), [](const Op& a, const Op& b) { return a.addr < b.addr; });
  for (std::size_t i = 1; i < maps.size(); ++i) {
    EXPECT_LE(maps[i - 1].addr + maps[i - 1].size, maps[i].addr)
        << format_op(maps[i - 1]) << " overlaps " << format_op(maps[i]);
  }
}

// ---------------------------------------------------------------------------------------------
// Accesses.

TEST(HwSynthetic, AccessesStayInsideTheMappedRegions) {
  const HwSyntheticConfig config = small_config();
  HwSyntheticWorkload workload(config, 4, 3);
  for (int cpu = 0; cpu < 4; ++cpu) {
    std::uint64_t accesses = 0;
    std::uint64_t stores = 0;
    for (const Op& op : all_ops(workload, cpu)) {
      if (!is_access(op)) continue;
      ++accesses;
      if (op.kind == OpKind::kStore) ++stores;
      EXPECT_NE(region_of(config, cpu, op.addr), Region::kOutside)
          << "CPU " << cpu << ": " << format_op(op);
      EXPECT_EQ(op.addr % 8, 0u) << format_op(op);
      EXPECT_EQ(op.flags, 0u) << format_op(op);  // kernel accesses
    }
    EXPECT_EQ(accesses, config.accesses_per_cpu);
    // 30 % of 3000, give or take what a fair coin gives.
    EXPECT_GT(stores, 780u);
    EXPECT_LT(stores, 1020u);
  }
}

TEST(HwSynthetic, EveryRegionIsUsedInAboutItsShare) {
  const HwSyntheticConfig config = small_config();
  const auto counts = accesses_by_region(config, 4);  // 12000 accesses
  EXPECT_EQ(counts.count(Region::kOutside), 0u);
  // huge 10 %, shared 20 %, private 70 % of which 80 % hot, plus the cold draws that land on
  // the hot pages (8 of 64).
  EXPECT_NEAR(static_cast<double>(counts.at(Region::kHuge)), 1200, 150);
  EXPECT_NEAR(static_cast<double>(counts.at(Region::kShared)), 2400, 200);
  EXPECT_NEAR(static_cast<double>(counts.at(Region::kPrivateHot)), 8400 * (0.8 + 0.2 / 8), 250);
  EXPECT_NEAR(static_cast<double>(counts.at(Region::kPrivateCold)), 8400 * 0.2 * 7 / 8, 150);
}

TEST(HwSynthetic, ZeroSharedPercentNeverTouchesTheSharedRegion) {
  HwSyntheticConfig config = small_config();
  config.shared_percent = 0;
  config.huge_pages = 0;  // its 10 % must go to the private pages, not the shared ones
  const auto counts = accesses_by_region(config, 2);
  EXPECT_EQ(counts.count(Region::kShared), 0u);
  EXPECT_EQ(counts.count(Region::kHuge), 0u);
  EXPECT_EQ(counts.count(Region::kOutside), 0u);
  EXPECT_EQ(counts.at(Region::kPrivateHot) + counts.at(Region::kPrivateCold), 6000u);
}

TEST(HwSynthetic, HugeShareWithoutHugePagesGoesToPrivatePages) {
  HwSyntheticConfig config = small_config();
  config.huge_pages = 0;
  config.huge_percent = 50;
  config.shared_percent = 10;
  const auto counts = accesses_by_region(config, 2);  // 6000 accesses
  EXPECT_EQ(counts.count(Region::kHuge), 0u);
  EXPECT_NEAR(static_cast<double>(counts.at(Region::kShared)), 600, 100);
}

TEST(HwSynthetic, AllHotMeansOnlyHotPages) {
  HwSyntheticConfig config = small_config();
  config.hot_percent = 100;
  config.huge_percent = 0;
  config.shared_percent = 0;
  const auto counts = accesses_by_region(config, 2);
  EXPECT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts.at(Region::kPrivateHot), 6000u);
}

TEST(HwSynthetic, ComputeBetweenAccesses) {
  HwSyntheticConfig config = small_config();
  config.remap_every = 0;
  HwSyntheticWorkload workload(config, 1, 1);
  const std::vector<Op> ops = all_ops(workload, 0);
  ASSERT_EQ(ops.size(), 6000u);
  for (std::size_t i = 0; i < ops.size(); i += 2) {
    EXPECT_TRUE(is_access(ops[i])) << i;
    EXPECT_EQ(ops[i + 1].kind, OpKind::kCompute) << i;
    EXPECT_EQ(ops[i + 1].value, 20u) << i;
  }

  config.compute_cycles = 0;
  HwSyntheticWorkload no_compute(config, 1, 1);
  const std::vector<Op> accesses = all_ops(no_compute, 0);
  ASSERT_EQ(accesses.size(), 3000u);
  EXPECT_TRUE(std::all_of(accesses.begin(), accesses.end(), is_access));
}

// ---------------------------------------------------------------------------------------------
// Remapping.

TEST(HwSynthetic, RemapEveryNAccessesIsUnmapInvlpgMapOfOnePrivatePage) {
  const HwSyntheticConfig config = small_config();
  HwSyntheticWorkload workload(config, 2, 9);
  const std::uint64_t private_base = kSyntheticPrivateBase + 1 * kSyntheticCpuStride;
  const std::vector<Op> ops = all_ops(workload, 1);
  std::uint64_t accesses = 0;
  std::uint64_t triples = 0;
  std::vector<std::uint64_t> pages;
  for (std::size_t i = 0; i < ops.size();) {
    if (ops[i].kind == OpKind::kUnmap) {
      ASSERT_LE(i + 3, ops.size());
      const std::uint64_t page = ops[i].addr;
      Op unmap;
      unmap.kind = OpKind::kUnmap;
      unmap.addr = page;
      unmap.size = 4096;
      Op invlpg;
      invlpg.kind = OpKind::kInvlpg;
      invlpg.addr = page;
      const Op map = map_op(page, 4096);  // the same attributes as at boot
      EXPECT_EQ(ops[i], unmap);
      EXPECT_EQ(ops[i + 1], invlpg);
      EXPECT_EQ(ops[i + 2], map);
      EXPECT_EQ(page % 4096, 0u);
      EXPECT_GE(page, private_base);
      EXPECT_LT(page, private_base + 64 * 4096);
      // It comes just before access number 100, 200, ...
      EXPECT_EQ((accesses + 1) % config.remap_every, 0u) << "after access " << accesses;
      pages.push_back(page);
      ++triples;
      i += 3;
      continue;
    }
    ASSERT_TRUE(is_access(ops[i])) << i << ": " << format_op(ops[i]);
    ++accesses;
    ASSERT_EQ(ops[i + 1].kind, OpKind::kCompute);
    i += 2;
  }
  EXPECT_EQ(accesses, 3000u);
  EXPECT_EQ(triples, 30u);
  std::sort(pages.begin(), pages.end());
  EXPECT_GT(std::unique(pages.begin(), pages.end()) - pages.begin(), 10);  // not one page
}

TEST(HwSynthetic, RemapEveryZeroNeverEditsPageTables) {
  HwSyntheticConfig config = small_config();
  config.remap_every = 0;
  HwSyntheticWorkload workload(config, 2, 9);
  for (int cpu = 0; cpu < 2; ++cpu) {
    for (const Op& op : all_ops(workload, cpu)) {
      EXPECT_TRUE(is_access(op) || op.kind == OpKind::kCompute) << format_op(op);
    }
  }
}

TEST(HwSynthetic, MakeWorkloadBuildsTheSameGenerator) {
  WorkloadConfig config;
  config.kind = WorkloadKind::kHwSynthetic;
  config.hw_synthetic = small_config();
  auto made = make_workload(config, 2, 77);
  HwSyntheticWorkload direct(small_config(), 2, 77);
  EXPECT_EQ(made->boot_ops(), direct.boot_ops());
  auto source = made->source(1);
  std::vector<Op> ops;
  Op op;
  while (source->next(op))
    ops.push_back(op);
  EXPECT_EQ(ops, all_ops(direct, 1));
}

}  // namespace
}  // namespace mmusim::workloads
