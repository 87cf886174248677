#include "workloads/hw_synthetic.h"

#include <deque>
#include <string>

#include "mmu/random.h"

namespace mmusim::workloads {
namespace {

Op make_op(OpKind kind, std::uint64_t addr, std::uint64_t size = 0, std::uint32_t flags = 0) {
  Op op;
  op.kind = kind;
  op.addr = addr;
  op.size = size;
  op.flags = flags;
  return op;
}

class HwSyntheticSource final : public OpSource {
 public:
  HwSyntheticSource(const HwSyntheticConfig& config, int cpu, std::uint64_t seed)
      : config_(config),
        cpu_(cpu),
        rng_(seed, "workload.hw_synthetic.cpu" + std::to_string(cpu)),
        private_base_(kSyntheticPrivateBase + cpu * kSyntheticCpuStride),
        huge_base_(kSyntheticHugeBase + cpu * kSyntheticCpuStride) {}

  bool next(Op& op) override {
    if (queue_.empty() && !refill()) return false;
    op = queue_.front();
    queue_.pop_front();
    ++ops_;
    return true;
  }
  [[nodiscard]] std::string where() const override {
    return "hw_synthetic cpu " + std::to_string(cpu_) + " op " + std::to_string(ops_);
  }

 private:
  bool refill() {
    if (accesses_ == config_.accesses_per_cpu) return false;
    ++accesses_;
    if (config_.remap_every != 0 && accesses_ % config_.remap_every == 0) {
      const std::uint64_t page = private_base_ + rng_.below(config_.working_set_pages) * 4096;
      queue_.push_back(make_op(OpKind::kUnmap, page, 4096));
      queue_.push_back(make_op(OpKind::kInvlpg, page));
      queue_.push_back(make_op(OpKind::kMap, page, 4096, op_flags::kGlobal | op_flags::kNoExecute));
    }
    // Bands of [0, 100): huge, then shared, then private. A band whose region does not exist
    // falls to the private working set, never to the next band.
    const std::uint64_t pick = rng_.below(100);
    const bool huge_band = pick < config_.huge_percent;
    const bool shared_band =
        !huge_band && pick < std::uint64_t{config_.huge_percent} + config_.shared_percent;
    std::uint64_t addr;
    if (huge_band && config_.huge_pages > 0) {
      addr = huge_base_ + rng_.below(std::uint64_t{config_.huge_pages} << 21);
    } else if (shared_band && config_.shared_pages > 0) {
      addr = kSyntheticSharedBase + rng_.below(std::uint64_t{config_.shared_pages} << 12);
    } else if (rng_.below(100) < config_.hot_percent) {
      addr = private_base_ + rng_.below(std::uint64_t{config_.hot_pages} << 12);
    } else {
      addr = private_base_ + rng_.below(std::uint64_t{config_.working_set_pages} << 12);
    }
    addr &= ~std::uint64_t{7};
    const bool store = rng_.below(100) < config_.store_percent;
    queue_.push_back(make_op(store ? OpKind::kStore : OpKind::kLoad, addr));
    if (config_.compute_cycles > 0) {
      Op compute;
      compute.kind = OpKind::kCompute;
      compute.value = config_.compute_cycles;
      queue_.push_back(compute);
    }
    return true;
  }

  HwSyntheticConfig config_;
  int cpu_;
  mmu::Rng rng_;
  std::uint64_t private_base_;
  std::uint64_t huge_base_;
  std::uint64_t accesses_ = 0;
  std::uint64_t ops_ = 0;
  std::deque<Op> queue_;
};

}  // namespace

HwSyntheticWorkload::HwSyntheticWorkload(const HwSyntheticConfig& config, int cpus,
                                         std::uint64_t seed)
    : config_(config), cpus_(cpus), seed_(seed) {}

std::vector<Op> HwSyntheticWorkload::boot_ops() const {
  const std::uint16_t kernel_data = op_flags::kGlobal | op_flags::kNoExecute;
  std::vector<Op> ops;
  for (int cpu = 0; cpu < cpus_; ++cpu) {
    ops.push_back(make_op(OpKind::kMap, kSyntheticPrivateBase + cpu * kSyntheticCpuStride,
                          std::uint64_t{config_.working_set_pages} << 12, kernel_data));
    if (config_.huge_pages > 0) {
      Op huge = make_op(OpKind::kMap, kSyntheticHugeBase + cpu * kSyntheticCpuStride,
                        std::uint64_t{config_.huge_pages} << 21, kernel_data);
      huge.page = mmu::PageSize::k2M;
      ops.push_back(huge);
    }
  }
  if (config_.shared_pages > 0) {
    ops.push_back(make_op(OpKind::kMap, kSyntheticSharedBase,
                          std::uint64_t{config_.shared_pages} << 12, kernel_data));
  }
  return ops;
}

std::unique_ptr<OpSource> HwSyntheticWorkload::source(int cpu) {
  return std::make_unique<HwSyntheticSource>(config_, cpu, seed_);
}

}  // namespace mmusim::workloads
