// A background working set around a generated workload (workload.background): every CPU owns
// a region of `pages` 4 KiB kernel pages, mapped at boot (global, not executable), and after
// each op of the workload's stream it makes `accesses_per_op` accesses to it. A kernel's CPUs
// keep using their data between the vmalloc calls a scenario is about; with this set the TLB
// holds entries a full flush destroys, so the refill walks that follow are measured (walks and
// walk cycles in the statistics), not assumed.
//
// The regions lie in the direct map (from kBackgroundBase, 1 GiB per CPU): outside the
// vmalloc and module areas (also with 5-level paging and KASLR), apart from hw_synthetic's
// regions, and far above the physical memory a direct map of the simulated machine would cover.
//
// Each access draws, from the stream "workload.background.cpuN" under run.seed, in this order:
// below(100) < hot_percent for a hot access; the page, below(hot_pages) or below(pages); the
// 64-byte line in the page, below(64); below(100) < store_percent for a store.
#pragma once

#include <cstdint>
#include <memory>

#include "workloads/config.h"
#include "workloads/workload.h"

namespace mmusim::workloads {

inline constexpr std::uint64_t kBackgroundBase = 0xffffa88000000000ull;  // direct map + 32 TiB
inline constexpr std::uint64_t kBackgroundCpuStride = std::uint64_t{1} << 30;
static_assert((std::uint64_t{BackgroundConfig::kMaxPages} << 12) <= kBackgroundCpuStride);

class BackgroundWorkload final : public Workload {
 public:
  BackgroundWorkload(std::unique_ptr<Workload> inner, const BackgroundConfig& config, int cpus,
                     std::uint64_t seed);
  // The wrapped workload's boot ops, then one mapping per CPU.
  [[nodiscard]] std::vector<Op> boot_ops() const override;
  std::unique_ptr<OpSource> source(int cpu) override;

 private:
  std::unique_ptr<Workload> inner_;
  BackgroundConfig config_;
  int cpus_;
  std::uint64_t seed_;
};

// `workload` with the background around it when config.pages > 0, else `workload` itself.
std::unique_ptr<Workload> with_background(std::unique_ptr<Workload> workload,
                                          const BackgroundConfig& config, int cpus,
                                          std::uint64_t seed);

}  // namespace mmusim::workloads
