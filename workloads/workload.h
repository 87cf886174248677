// A workload: what runs on each CPU. It can set up page tables at boot (before simulated time
// starts; not timed, not counted) and gives each CPU its own lazy op stream.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "workloads/config.h"
#include "workloads/op.h"

namespace mmusim::workloads {

class Workload {
 public:
  virtual ~Workload() = default;
  // Ops executed on CPU 0 at boot: mappings the workload expects to exist.
  [[nodiscard]] virtual std::vector<Op> boot_ops() const { return {}; }
  // The op stream of `cpu`; called once per CPU.
  virtual std::unique_ptr<OpSource> source(int cpu) = 0;
};

struct WorkloadInfo {
  const char* name;
  const char* description;
};
// Every workload kind with a one-paragraph description, for `mmusim list`.
[[nodiscard]] const std::vector<WorkloadInfo>& workload_catalog();

// Where the guest's vmalloc area lies: [start, end], `end` its last byte as the kernel's
// VMALLOC_END. The default is 4-level paging without KASLR.
struct VmallocSpan {
  std::uint64_t start = 0xffffc90000000000ull;
  std::uint64_t end = 0xffffe8ffffffffffull;
};

// Builds the configured workload for a platform of `cpus` CPUs whose guest allocates in
// `vmalloc` (a generator may foresee where the kernel's allocations must fail). Throws
// TraceError for a bad trace and std::invalid_argument when the workload cannot run on that
// platform.
std::unique_ptr<Workload> make_workload(const WorkloadConfig& config, int cpus, std::uint64_t seed,
                                        const VmallocSpan& vmalloc = {});

}  // namespace mmusim::workloads
