// A fake kernel with the guest booted on it, and the constants the guest tests compute their
// expected addresses from. Every expected value in these tests is worked out by hand from
// Linux 4.19's mm/vmalloc.c (the comments next to them show the steps), never read back
// from the model.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fake_kernel.h"
#include "vmalloc/layout.h"
#include "vmalloc/vmalloc.h"

namespace mmusim::vmalloc::testing {

// 4-level paging (arch/x86/include/asm/pgtable_64_types.h, 4.19): VMALLOC_START and
// VMALLOC_END, the last byte of the 32 TB vmalloc space.
inline constexpr std::uint64_t kStart = 0xffffc90000000000ull;
inline constexpr std::uint64_t kEnd = 0xffffe8ffffffffffull;
inline constexpr std::uint64_t kPage = 4096;
inline constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
inline constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;

struct MachineOptions {
  int cpus = 1;
  VmallocConfig config;
  std::uint64_t memory_bytes = 256 * kMiB;
  PageAllocConfig page_alloc;
  std::uint32_t numa_nodes = 1;
  bool boot = true;  // call vmalloc_init()
};

// The fake kernel and the guest running on it.
struct Machine {
  explicit Machine(const MachineOptions& options = {})
      : kernel(options.cpus, options.memory_bytes, options.page_alloc, options.numa_nodes),
        guest(kernel, kernel.pages(), make_layout(4, false, 0), options.config, VmallocCosts{}) {
    if (options.boot) guest.vmalloc_init();
  }

  FakeKernel kernel;
  Vmalloc guest;
};

inline MachineOptions with_config(const VmallocConfig& config, int cpus = 1) {
  MachineOptions options;
  options.config = config;
  options.cpus = cpus;
  return options;
}

// `count` freshly allocated frames, for vmap() and vm_map_ram().
inline std::vector<mmu::Pfn> take_frames(FakeKernel& kernel, std::size_t count) {
  std::vector<mmu::Pfn> frames;
  for (std::size_t i = 0; i < count; ++i)
    frames.push_back(*kernel.pages().alloc_page(0, 0));
  return frames;
}

// The frame a kernel virtual address maps, if any.
inline std::optional<mmu::Pfn> frame_at(FakeKernel& kernel, std::uint64_t addr) {
  auto mapping = kernel.page_tables().lookup(kernel.kernel_root(), mmu::VirtAddr{addr});
  if (!mapping) return std::nullopt;
  return mapping->frame;
}

inline bool mapped(FakeKernel& kernel, std::uint64_t addr) {
  return frame_at(kernel, addr).has_value();
}

// The flushes as (start, end) pairs, which is what most tests compare.
inline std::vector<std::pair<std::uint64_t, std::uint64_t>> flush_ranges(const FakeKernel& kernel) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (const auto& flush : kernel.flushes())
    ranges.emplace_back(flush.start, flush.end);
  return ranges;
}

using Range = std::pair<std::uint64_t, std::uint64_t>;

}  // namespace mmusim::vmalloc::testing
