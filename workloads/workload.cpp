#include "workloads/workload.h"

#include <stdexcept>

#include "workloads/hw_synthetic.h"
#include "workloads/trace.h"

namespace mmusim::workloads {
namespace {

class TraceWorkload final : public Workload {
 public:
  TraceWorkload(const std::string& path, int cpus) : reader_(std::make_shared<TraceReader>(path)) {
    if (reader_->declared_cpus() > cpus) {
      throw std::invalid_argument(
          path + ": the trace is for " + std::to_string(reader_->declared_cpus()) +
          " CPUs but the platform has " + std::to_string(cpus) + " (set platform.cpus)");
    }
    reader_->set_cpu_count(cpus);
  }
  [[nodiscard]] std::vector<Op> boot_ops() const override { return reader_->boot_ops(); }
  std::unique_ptr<OpSource> source(int cpu) override {
    return std::make_unique<TraceOpSource>(reader_, cpu);
  }

 private:
  std::shared_ptr<TraceReader> reader_;
};

}  // namespace

const std::vector<WorkloadInfo>& workload_catalog() {
  static const std::vector<WorkloadInfo> catalog = {
      {"trace",
       "Replays a trace file: each line is one op of one CPU, in that CPU's program order "
       "(format: workloads/README.md). Traces recorded with --record replay to the same "
       "statistics."},
      {"hw_synthetic",
       "A generated hardware-level mix. Each CPU touches its own 4 KiB working set (mostly a "
       "small hot part), a few 2 MiB pages of its own and a region shared by all CPUs, with a "
       "configurable store share and compute between accesses; every N accesses it unmaps, "
       "INVLPGs and maps again one private page. Shows the TLB hierarchy, the walker and its "
       "paging-structure caches at work."},
  };
  return catalog;
}

std::unique_ptr<Workload> make_workload(const WorkloadConfig& config, int cpus,
                                        std::uint64_t seed) {
  switch (config.kind) {
    case WorkloadKind::kTrace:
      return std::make_unique<TraceWorkload>(config.trace.path, cpus);
    case WorkloadKind::kHwSynthetic:
      return std::make_unique<HwSyntheticWorkload>(config.hw_synthetic, cpus, seed);
  }
  throw std::invalid_argument("unknown workload kind");
}

}  // namespace mmusim::workloads
