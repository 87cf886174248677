// The background working set around a generated workload: the boot mappings it adds, the
// exact accesses it makes after each op of the wrapped stream, their locality and store share,
// and where its regions lie.
#include "workloads/background.h"

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "mmu/random.h"
#include "tests/workloads/op_printer.h"
#include "workloads/config.h"
#include "workloads/hw_synthetic.h"
#include "workloads/op.h"
#include "workloads/scenarios.h"
#include "workloads/trace.h"

namespace mmusim::workloads {
namespace {

constexpr std::uint64_t kSeed = 3;

// A workload that gives each CPU the same fixed ops, and one boot op.
class FixedWorkload final : public Workload {
 public:
  explicit FixedWorkload(std::vector<Op> ops) : ops_(std::move(ops)) {}
  [[nodiscard]] std::vector<Op> boot_ops() const override {
    return {parse_op("map 0xffffc90000000000 4096")};
  }
  std::unique_ptr<OpSource> source(int cpu) override { return std::make_unique<Source>(ops_, cpu); }

 private:
  class Source final : public OpSource {
   public:
    Source(std::vector<Op> ops, int cpu) : ops_(std::move(ops)), cpu_(cpu) {}
    bool next(Op& op) override {
      if (next_ == ops_.size()) return false;
      op = ops_[next_++];
      return true;
    }
    [[nodiscard]] std::string where() const override {
      return "fixed cpu " + std::to_string(cpu_) + " op " + std::to_string(next_);
    }

   private:
    std::vector<Op> ops_;
    int cpu_;
    std::size_t next_ = 0;
  };
  std::vector<Op> ops_;
};

std::vector<Op> two_ops() {
  return {parse_op("compute 10"), parse_op("vm_unmap_aliases")};
}

std::vector<Op> all_ops(Workload& workload, int cpu) {
  auto source = workload.source(cpu);
  std::vector<Op> ops;
  Op op;
  while (source->next(op))
    ops.push_back(op);
  return ops;
}

BackgroundConfig background(std::uint32_t pages, std::uint32_t accesses_per_op) {
  BackgroundConfig config;
  config.pages = pages;
  config.accesses_per_op = accesses_per_op;
  config.hot_pages = 1;
  config.hot_percent = 50;
  config.store_percent = 50;
  return config;
}

TEST(Background, BootMapsOneRegionPerCpuAfterTheWorkloadsOwn) {
  BackgroundWorkload workload(std::make_unique<FixedWorkload>(two_ops()), background(5, 1), 3,
                              kSeed);
  // 1 GiB apart from 0xffffa88000000000 (the direct map's start, 0xffff888000000000, + 32 TiB);
  // 5 pages each, global and not executable.
  const std::vector<Op> expected = {
      parse_op("map 0xffffc90000000000 4096"),
      parse_op("map 0xffffa88000000000 20480 nx global"),
      parse_op("map 0xffffa88040000000 20480 nx global"),
      parse_op("map 0xffffa88080000000 20480 nx global"),
  };
  EXPECT_EQ(workload.boot_ops(), expected);
}

TEST(Background, EachOpIsFollowedByItsAccessesDrawnInTheDocumentedOrder) {
  const BackgroundConfig config = background(4, 2);
  BackgroundWorkload workload(std::make_unique<FixedWorkload>(two_ops()), config, 2, kSeed);
  // CPU 1's region starts at 0xffffa88040000000. Each access draws: hot? (below(100) < 50),
  // its page (below(1) when hot, below(4) when not), its 64-byte line (below(64)), store?
  // (below(100) < 50).
  mmu::Rng rng(kSeed, "workload.background.cpu1");
  auto access = [&] {
    const bool hot = rng.below(100) < 50;
    const std::uint64_t page = rng.below(hot ? 1 : 4);
    const std::uint64_t line = rng.below(64);
    const bool store = rng.below(100) < 50;
    Op op;
    op.kind = store ? OpKind::kStore : OpKind::kLoad;
    op.addr = 0xffffa88040000000ull + page * 4096 + line * 64;
    return op;
  };
  std::vector<Op> expected;
  for (const Op& op : two_ops()) {
    expected.push_back(op);
    expected.push_back(access());
    expected.push_back(access());
  }
  EXPECT_EQ(all_ops(workload, 1), expected);
}

TEST(Background, WhereNamesTheAccessAndTheWrappedOp) {
  BackgroundWorkload workload(std::make_unique<FixedWorkload>(two_ops()), background(4, 2), 1,
                              kSeed);
  auto source = workload.source(0);
  Op op;
  ASSERT_TRUE(source->next(op));
  EXPECT_EQ(source->where(), "fixed cpu 0 op 1");
  ASSERT_TRUE(source->next(op));
  EXPECT_EQ(source->where(), "background cpu 0 access 1 after fixed cpu 0 op 1");
  ASSERT_TRUE(source->next(op));
  EXPECT_EQ(source->where(), "background cpu 0 access 2 after fixed cpu 0 op 1");
  ASSERT_TRUE(source->next(op));
  EXPECT_EQ(source->where(), "fixed cpu 0 op 2");
}

TEST(Background, AccessesPerOpTimesTheWrappedOps) {
  ScenariosConfig scenarios;
  scenarios.iterations_per_cpu = 50;
  ScenariosWorkload plain(scenarios, kSeed);
  const std::size_t inner = all_ops(plain, 2).size();
  BackgroundWorkload wrapped(std::make_unique<ScenariosWorkload>(scenarios, kSeed),
                             background(64, 3), 4, kSeed);
  const std::vector<Op> ops = all_ops(wrapped, 2);
  EXPECT_EQ(ops.size(), inner * 4);
  std::size_t background_accesses = 0;
  for (const Op& op : ops) {
    const bool mine = (op.kind == OpKind::kLoad || op.kind == OpKind::kStore) &&
                      op.addr >= 0xffffa88080000000ull && op.addr < 0xffffa88080040000ull;
    background_accesses += mine ? 1 : 0;
  }
  EXPECT_EQ(background_accesses, inner * 3);
}

TEST(Background, LocalityAndStoresFollowTheConfig) {
  BackgroundConfig config;
  config.pages = 256;
  config.accesses_per_op = 100;
  config.hot_pages = 8;
  config.hot_percent = 80;
  config.store_percent = 25;
  std::vector<Op> inner(1000, parse_op("compute 1"));
  BackgroundWorkload workload(std::make_unique<FixedWorkload>(inner), config, 1, kSeed);
  std::uint64_t accesses = 0;
  std::uint64_t in_hot = 0;
  std::uint64_t stores = 0;
  for (const Op& op : all_ops(workload, 0)) {
    if (op.kind == OpKind::kCompute) continue;
    ++accesses;
    const std::uint64_t offset = op.addr - kBackgroundBase;
    ASSERT_LT(offset, 256u * 4096) << format_op(op);
    EXPECT_EQ(offset % 64, 0u);
    in_hot += offset < 8 * 4096 ? 1 : 0;
    stores += op.kind == OpKind::kStore ? 1 : 0;
  }
  ASSERT_EQ(accesses, 100000u);
  // Hot: 80% + 20% x 8/256 = 80.625%; stores 25%. Four binomial standard deviations (at most
  // 158) bound each count.
  EXPECT_NEAR(static_cast<double>(in_hot), 80625.0, 4 * std::sqrt(100000 * 0.80625 * 0.19375));
  EXPECT_NEAR(static_cast<double>(stores), 25000.0, 4 * std::sqrt(100000 * 0.25 * 0.75));
}

TEST(Background, ZeroPagesLeavesTheWorkloadAlone) {
  auto inner = std::make_unique<FixedWorkload>(two_ops());
  const Workload* address = inner.get();
  BackgroundConfig config;
  EXPECT_EQ(config.pages, 0u);  // off by default
  EXPECT_EQ(with_background(std::move(inner), config, 4, kSeed).get(), address);
  EXPECT_NE(
      with_background(std::make_unique<FixedWorkload>(two_ops()), background(1, 1), 4, kSeed).get(),
      nullptr);
}

TEST(Background, RegionsOfTheLargestConfigStayInTheDirectMapApartFromEverythingElse) {
  // 4096 CPUs (the most a trace may name) of 2^18 pages: [base, base + 4 TiB).
  const std::uint64_t end = kBackgroundBase + 4096 * kBackgroundCpuStride;
  EXPECT_GE(kBackgroundBase, 0xffff888000000000ull);  // the 4-level direct map...
  EXPECT_LE(end, 0xffffc88000000000ull);              // ...of 64 TiB
  EXPECT_LE(end, kSyntheticPrivateBase);  // below hw_synthetic's and the vmalloc area (4-level)
  // 5-level paging: the vmalloc area is [0xffa0000000000000, +12800 TiB), the modules at
  // 0xffffffffa0000000: both far from these regions.
  EXPECT_GT(kBackgroundBase, 0xffa0000000000000ull + (std::uint64_t{12800} << 40));
  EXPECT_LT(end, 0xffffffffa0000000ull);
}

}  // namespace
}  // namespace mmusim::workloads
