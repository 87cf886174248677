// What the CPUs run: a trace replayed from a file, or a generator. Each generator has its own
// section; only the one `kind` selects is used.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>

namespace mmusim::workloads {

enum class WorkloadKind : std::uint8_t { kTrace, kHwSynthetic };

inline constexpr std::array<std::pair<const char*, WorkloadKind>, 2> kWorkloadNames{{
    {"trace", WorkloadKind::kTrace},
    {"hw_synthetic", WorkloadKind::kHwSynthetic},
}};

struct TraceWorkloadConfig {
  std::string path;

  template <class V>
  void visit(V& v) {
    v.path("path", path,
           "trace file to replay (relative to the config file; see workloads/README.md)");
  }
};

// A hardware-level mix: every CPU touches its own 4 KiB working set (a hot part and a cold
// part), a few 2 MiB pages of its own, and a region all CPUs share; now and then it remaps one
// of its private pages and flushes it with INVLPG. The mappings are made at boot.
struct HwSyntheticConfig {
  static constexpr std::uint32_t kMaxWorkingSetPages = 1u << 18;

  std::uint64_t accesses_per_cpu = 20000;
  std::uint32_t working_set_pages = 2048;
  std::uint32_t hot_pages = 32;
  std::uint32_t hot_percent = 85;
  std::uint32_t huge_pages = 4;
  std::uint32_t huge_percent = 5;
  std::uint32_t shared_pages = 256;
  std::uint32_t shared_percent = 10;
  std::uint32_t store_percent = 30;
  std::uint32_t remap_every = 1000;
  std::uint32_t compute_cycles = 20;

  template <class V>
  void visit(V& v) {
    v.integer("accesses_per_cpu", accesses_per_cpu, std::uint64_t{1}, std::uint64_t{1} << 40,
              "memory accesses each CPU makes");
    // Each CPU's private region is 1 GiB apart from the next (kSyntheticCpuStride): no more.
    v.integer("working_set_pages", working_set_pages, 1u, kMaxWorkingSetPages,
              "4 KiB pages in each CPU's private working set (at most 1 GiB)");
    v.integer("hot_pages", hot_pages, 1u, kMaxWorkingSetPages,
              "pages at the start of it that are hot");
    v.integer("hot_percent", hot_percent, 0u, 100u,
              "percent of private accesses that go to the hot pages");
    v.integer("huge_pages", huge_pages, 0u, 512u, "2 MiB pages each CPU maps for itself");
    v.integer("huge_percent", huge_percent, 0u, 100u, "percent of accesses to the 2 MiB pages");
    v.integer("shared_pages", shared_pages, 0u, 1u << 24,
              "4 KiB pages of a region every CPU accesses");
    v.integer("shared_percent", shared_percent, 0u, 100u,
              "percent of accesses to the shared region");
    v.integer("store_percent", store_percent, 0u, 100u, "percent of accesses that are stores");
    v.integer("remap_every", remap_every, 0u, 1u << 30,
              "every N accesses, unmap, INVLPG and map again one private page (0: never)");
    v.integer("compute_cycles", compute_cycles, 0u, 1u << 20,
              "cycles of computation between two accesses");
    v.check(hot_pages <= working_set_pages, "hot_pages", "must not exceed working_set_pages");
    v.check(huge_percent + shared_percent <= 100, "shared_percent",
            "huge_percent + shared_percent must not exceed 100");
  }
};

struct WorkloadConfig {
  WorkloadKind kind = WorkloadKind::kHwSynthetic;
  TraceWorkloadConfig trace;
  HwSyntheticConfig hw_synthetic;

  template <class V>
  void visit(V& v) {
    v.choice("kind", kind, kWorkloadNames, "which workload runs: trace or hw_synthetic");
    v.section("trace", trace, "kind \"trace\": replay a trace file");
    v.section("hw_synthetic", hw_synthetic,
              "kind \"hw_synthetic\": a generated hardware-level mix");
    v.check(kind != WorkloadKind::kTrace || !trace.path.empty(), "trace.path",
            "kind \"trace\" needs a trace file");
  }
};

}  // namespace mmusim::workloads
