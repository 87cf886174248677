#include "workloads/background.h"

#include <string>
#include <utility>

#include "mmu/random.h"

namespace mmusim::workloads {
namespace {

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kLine = 64;

class BackgroundSource final : public OpSource {
 public:
  BackgroundSource(std::unique_ptr<OpSource> inner, const BackgroundConfig& config, int cpu,
                   std::uint64_t seed)
      : inner_(std::move(inner)),
        config_(config),
        cpu_(cpu),
        base_(kBackgroundBase + static_cast<std::uint64_t>(cpu) * kBackgroundCpuStride),
        rng_(seed, "workload.background.cpu" + std::to_string(cpu)) {}

  bool next(Op& op) override {
    if (pending_ > 0) {
      --pending_;
      op = access();
      return true;
    }
    if (!inner_->next(op)) return false;
    pending_ = config_.accesses_per_op;
    return true;
  }

  [[nodiscard]] std::string where() const override {
    const std::string inner = inner_->where();
    if (pending_ == config_.accesses_per_op) return inner;
    return "background cpu " + std::to_string(cpu_) + " access " +
           std::to_string(config_.accesses_per_op - pending_) + " after " + inner;
  }

 private:
  Op access() {
    const bool hot = rng_.below(100) < config_.hot_percent;
    const std::uint64_t page = rng_.below(hot ? config_.hot_pages : config_.pages);
    const std::uint64_t line = rng_.below(kPage / kLine);
    const bool store = rng_.below(100) < config_.store_percent;
    Op op;
    op.kind = store ? OpKind::kStore : OpKind::kLoad;
    op.addr = base_ + page * kPage + line * kLine;
    return op;
  }

  std::unique_ptr<OpSource> inner_;
  BackgroundConfig config_;
  int cpu_;
  std::uint64_t base_;
  mmu::Rng rng_;
  std::uint32_t pending_ = 0;  // accesses still to make after the wrapped op last returned
};

}  // namespace

BackgroundWorkload::BackgroundWorkload(std::unique_ptr<Workload> inner,
                                       const BackgroundConfig& config, int cpus, std::uint64_t seed)
    : inner_(std::move(inner)), config_(config), cpus_(cpus), seed_(seed) {}

std::vector<Op> BackgroundWorkload::boot_ops() const {
  std::vector<Op> ops = inner_->boot_ops();
  for (int cpu = 0; cpu < cpus_; ++cpu) {
    Op map;
    map.kind = OpKind::kMap;
    map.addr = kBackgroundBase + static_cast<std::uint64_t>(cpu) * kBackgroundCpuStride;
    map.size = std::uint64_t{config_.pages} * kPage;
    map.flags = op_flags::kGlobal | op_flags::kNoExecute;
    ops.push_back(map);
  }
  return ops;
}

std::unique_ptr<OpSource> BackgroundWorkload::source(int cpu) {
  return std::make_unique<BackgroundSource>(inner_->source(cpu), config_, cpu, seed_);
}

std::unique_ptr<Workload> with_background(std::unique_ptr<Workload> workload,
                                          const BackgroundConfig& config, int cpus,
                                          std::uint64_t seed) {
  if (config.pages == 0) return workload;
  return std::make_unique<BackgroundWorkload>(std::move(workload), config, cpus, seed);
}

}  // namespace mmusim::workloads
