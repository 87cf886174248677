#pragma once

#include <cstdint>
#include <memory>

#include "workloads/config.h"
#include "workloads/workload.h"

namespace mmusim::workloads {

// Where the hw_synthetic regions live (kernel addresses in the vmalloc range).
inline constexpr std::uint64_t kSyntheticPrivateBase = 0xffffc90000000000ull;
inline constexpr std::uint64_t kSyntheticHugeBase = 0xffffd00000000000ull;
inline constexpr std::uint64_t kSyntheticSharedBase = 0xffffd80000000000ull;
inline constexpr std::uint64_t kSyntheticCpuStride = std::uint64_t{1} << 30;
// One CPU's regions must end before the next CPU's begin.
static_assert((std::uint64_t{HwSyntheticConfig::kMaxWorkingSetPages} << 12) <= kSyntheticCpuStride);
static_assert((std::uint64_t{512} << 21) <= kSyntheticCpuStride);  // huge_pages is at most 512

class HwSyntheticWorkload final : public Workload {
 public:
  HwSyntheticWorkload(const HwSyntheticConfig& config, int cpus, std::uint64_t seed);
  [[nodiscard]] std::vector<Op> boot_ops() const override;
  std::unique_ptr<OpSource> source(int cpu) override;

 private:
  HwSyntheticConfig config_;
  int cpus_;
  std::uint64_t seed_;
};

}  // namespace mmusim::workloads
