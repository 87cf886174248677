#include "workloads/workload.h"

#include <stdexcept>

#include "workloads/background.h"
#include "workloads/hw_synthetic.h"
#include "workloads/scenarios.h"
#include "workloads/test_vmalloc.h"
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
      {"test_vmalloc",
       "Linux's vmalloc test module (lib/test_vmalloc.c, 5.1+; every call it makes is in 4.19's "
       "API) on the first nr_threads CPUs: each runs the tests run_test_mask selects, in a "
       "seeded shuffled order (or in table order), test_repeat_count times each, every run "
       "inside a span named after the test (stats: spans), and the summary prints the "
       "module's 'Summary:' lines in simulated time. Tests: fix_size, full_fit, long_busy_list, "
       "random_size, fix_align, random_size_align, align_shift (expected to fail, as in "
       "Linux), pcpu_alloc (its percpu chunks' vmalloc work only: pcpu_get_vm_areas, "
       "map_kernel_range_noflush per CPU, unmap and flush, pcpu_free_vm_areas; chunks are "
       "filled in order and kept per CPU) and vm_map_ram. A test's loop runs in full even "
       "after a failed call (a generator cannot see results), except align_shift's, whose "
       "first impossible alignment follows from the layout."},
      {"scenarios", scenarios_description()},
  };
  return catalog;
}

std::unique_ptr<Workload> make_workload(const WorkloadConfig& config, int cpus, std::uint64_t seed,
                                        const VmallocSpan& vmalloc) {
  switch (config.kind) {
    case WorkloadKind::kTrace:
      return std::make_unique<TraceWorkload>(config.trace.path, cpus);
    case WorkloadKind::kHwSynthetic:
      return with_background(std::make_unique<HwSyntheticWorkload>(config.hw_synthetic, cpus, seed),
                             config.background, cpus, seed);
    case WorkloadKind::kTestVmalloc:
      return with_background(
          std::make_unique<TestVmallocWorkload>(config.test_vmalloc, cpus, seed, vmalloc),
          config.background, cpus, seed);
    case WorkloadKind::kScenarios:
      return with_background(std::make_unique<ScenariosWorkload>(config.scenarios, seed),
                             config.background, cpus, seed);
  }
  throw std::invalid_argument("unknown workload kind");
}

}  // namespace mmusim::workloads
