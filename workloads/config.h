// What the CPUs run: a trace replayed from a file, or a generator. Each generator has its own
// section; only the one `kind` selects is used.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>

namespace mmusim::workloads {

enum class WorkloadKind : std::uint8_t { kTrace, kHwSynthetic, kTestVmalloc, kScenarios };

inline constexpr std::array<std::pair<const char*, WorkloadKind>, 4> kWorkloadNames{{
    {"trace", WorkloadKind::kTrace},
    {"hw_synthetic", WorkloadKind::kHwSynthetic},
    {"test_vmalloc", WorkloadKind::kTestVmalloc},
    {"scenarios", WorkloadKind::kScenarios},
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

// Linux's vmalloc test module (lib/test_vmalloc.c) on the simulated CPUs; the parameters are
// the module's (workloads/test_vmalloc.h describes what each test does).
struct TestVmallocConfig {
  // run_test_mask bits of the tests that are modelled: 1 to 128, and 1024 (vm_map_ram_test).
  static constexpr std::uint32_t kModelledTests = 0x4ff;
  static constexpr std::uint32_t kIntMax = 0x7fffffff;

  std::uint32_t test_loop_count = 1000000;
  std::uint32_t test_repeat_count = 1;
  std::uint32_t run_test_mask = kModelledTests;
  bool sequential_test_order = false;
  std::uint32_t nr_threads = 0;

  template <class V>
  void visit(V& v) {
    v.integer("test_loop_count", test_loop_count, 1u, kIntMax,
              "iterations of each test's loop (the module's test_loop_count)");
    v.integer("test_repeat_count", test_repeat_count, 1u, kIntMax,
              "times each selected test runs on each CPU (its average time is per run)");
    v.integer("run_test_mask", run_test_mask, 1u, kModelledTests,
              "tests to run, one bit each: 1 fix_size_alloc_test, 2 full_fit_alloc_test, 4 "
              "long_busy_list_alloc_test, 8 random_size_alloc_test, 16 fix_align_alloc_test, 32 "
              "random_size_align_alloc_test, 64 align_shift_alloc_test, 128 pcpu_alloc_test, "
              "1024 vm_map_ram_test (all of them by default)");
    v.boolean("sequential_test_order", sequential_test_order,
              "run the tests in table order; otherwise each CPU shuffles its order with its own "
              "seeded stream");
    v.integer("nr_threads", nr_threads, 0u, 4096u,
              "CPUs that run the tests, the first N (0: every CPU); the others only take IPIs");
    v.check((run_test_mask & ~kModelledTests) == 0, "run_test_mask",
            "selects tests that are not modelled (256 and 512, the kvfree_rcu tests); the "
            "modelled ones are 1, 2, 4, 8, 16, 32, 64, 128 and 1024");
  }
};

// An inclusive range a scenario draws a value from, uniformly, each time it needs one.
// `lowest` and `highest` bound what a configuration may ask for; they are not keys.
struct ScenarioRange {
  std::uint32_t min = 0;
  std::uint32_t max = 0;
  std::uint32_t lowest = 0;
  std::uint32_t highest = 0;

  template <class V>
  void visit(V& v) {
    v.integer("min", min, lowest, highest, "smallest value drawn");
    v.integer("max", max, lowest, highest, "largest value drawn");
    v.check(min <= max, "max", "must not be below min");
  }
};

inline constexpr std::uint32_t kMaxScenarioWeight = 1000000;
inline constexpr const char* kScenarioWeightHelp =
    "relative share of each CPU's iterations (0: this scenario is off)";

// The kernel paths below are described, with their Linux 4.19 sources and simplifications, in
// workloads/scenarios.h.
struct VmapStackScenarioConfig {
  std::uint32_t weight = 1;
  ScenarioRange threads{1, 4, 1, 256};
  ScenarioRange stack_touch_bytes{1024, 8192, 0, 16384};
  ScenarioRange run_cycles{2000, 20000, 0, 1u << 24};

  template <class V>
  void visit(V& v) {
    v.integer("weight", weight, 0u, kMaxScenarioWeight, kScenarioWeightHelp);
    v.section("threads", threads,
              "threads alive at once: created one after another, run, then exit");
    v.section("stack_touch_bytes", stack_touch_bytes,
              "bytes of its 16 KiB stack a thread writes while it runs, from the top down");
    v.section("run_cycles", run_cycles, "cycles a thread computes while it runs");
  }
};

struct ModuleLoadScenarioConfig {
  std::uint32_t weight = 1;
  ScenarioRange text_pages{2, 16, 1, 4096};
  ScenarioRange rodata_pages{1, 4, 0, 4096};
  ScenarioRange ro_after_init_pages{0, 1, 0, 4096};
  ScenarioRange data_pages{1, 4, 1, 4096};
  ScenarioRange init_text_pages{1, 2, 0, 4096};
  ScenarioRange init_data_pages{1, 2, 0, 4096};
  ScenarioRange text_fetches{16, 64, 0, 65536};

  template <class V>
  void visit(V& v) {
    v.integer("weight", weight, 0u, kMaxScenarioWeight, kScenarioWeightHelp);
    v.section("text_pages", text_pages, "pages of the module's core text");
    v.section("rodata_pages", rodata_pages, "pages of its core read-only data");
    v.section("ro_after_init_pages", ro_after_init_pages,
              "pages of its core data made read-only after init (__ro_after_init)");
    v.section("data_pages", data_pages, "pages of its core writable data (the module struct)");
    v.section("init_text_pages", init_text_pages, "pages of its init text (freed after init)");
    v.section("init_data_pages", init_data_pages,
              "pages of its init data and init symbol table (freed after init)");
    v.section("text_fetches", text_fetches,
              "instruction fetches from random core text pages while the module is used");
  }
};

struct BpfJitScenarioConfig {
  std::uint32_t weight = 1;
  ScenarioRange programs{1, 8, 1, 64};
  ScenarioRange insns{16, 512, 1, 4096};
  std::uint32_t jit_bytes_per_insn = 6;
  ScenarioRange runs{1, 16, 0, 256};

  template <class V>
  void visit(V& v) {
    v.integer("weight", weight, 0u, kMaxScenarioWeight, kScenarioWeightHelp);
    v.section("programs", programs, "programs loaded, run and freed together (alive at once)");
    v.section("insns", insns, "BPF instructions of a program (4.19's BPF_MAXINSNS is 4096)");
    v.integer("jit_bytes_per_insn", jit_bytes_per_insn, 1u, 15u,
              "bytes of x86-64 code the JIT emits per BPF instruction, on average");
    v.section("runs", runs, "times each program runs (its image fetched page by page)");
  }
};

// The smallest power of two at or above `value` (which is at most 2^31).
[[nodiscard]] constexpr std::uint32_t power_of_two_at_least(std::uint32_t value) {
  std::uint32_t power = 1;
  while (power < value)
    power <<= 1;
  return power;
}

struct XfsBufScenarioConfig {
  std::uint32_t weight = 1;
  ScenarioRange buffers{1, 8, 1, 1024};
  ScenarioRange pages{2, 16, 2, 1024};
  std::uint32_t store_percent = 30;

  template <class V>
  void visit(V& v) {
    v.integer("weight", weight, 0u, kMaxScenarioWeight, kScenarioWeightHelp);
    v.section("buffers", buffers, "multi-page buffers mapped, used and unmapped together");
    v.section("pages", pages,
              "pages of a buffer: a power of two in this range (XFS metadata blocks of 8 to 64 "
              "KiB are 2 to 16 pages; above VMAP_MAX_ALLOC = 64 pages, vm_map_ram() takes a "
              "vmap area of its own instead of per-CPU block space)");
    v.integer("store_percent", store_percent, 0u, 100u,
              "percent of buffers written (the others are only read)");
    v.check(power_of_two_at_least(pages.min) <= pages.max, "pages.max",
            "the range must hold a power of two");
  }
};

struct RingBufferScenarioConfig {
  std::uint32_t weight = 1;
  ScenarioRange pages{2, 16, 2, 16384};
  ScenarioRange rounds{4, 32, 0, 4096};
  std::uint32_t pcid = 1;

  template <class V>
  void visit(V& v) {
    v.integer("weight", weight, 0u, kMaxScenarioWeight, kScenarioWeightHelp);
    v.section("pages", pages, "pages of the ring: a control page, then the data pages");
    v.section("rounds", rounds,
              "times the driver fills a data page and the process reads it, per mapping");
    v.integer("pcid", pcid, 0u, 4095u,
              "PCID the user process runs with (0: none, as with mmu.pcid = false)");
  }
};

// Generated workloads that drive vmalloc as the kernel's real users do, in a seeded weighted
// mix: each CPU runs iterations_per_cpu iterations, each one of the scenarios.
struct ScenariosConfig {
  std::uint64_t iterations_per_cpu = 1000;
  std::uint32_t access_stride = 64;
  VmapStackScenarioConfig vmap_stack;
  ModuleLoadScenarioConfig module_load;
  BpfJitScenarioConfig bpf_jit;
  XfsBufScenarioConfig xfs_buf;
  RingBufferScenarioConfig ring_buffer;

  template <class V>
  void visit(V& v) {
    v.integer("iterations_per_cpu", iterations_per_cpu, std::uint64_t{1}, std::uint64_t{1} << 40,
              "scenario iterations each CPU runs");
    v.integer("access_stride", access_stride, 1u, 4096u,
              "bytes between two accesses when a scenario reads or writes a buffer (64: every "
              "cache line; 4096: every page once)");
    v.section("vmap_stack", vmap_stack,
              "thread stacks with CONFIG_VMAP_STACK (kernel/fork.c): create, run, exit");
    v.section("module_load", module_load,
              "module load and unload (kernel/module.c): module_alloc, RO/NX, module_memfree");
    v.section("bpf_jit", bpf_jit, "BPF programs JIT-compiled, locked read-only, run and freed");
    v.section("xfs_buf", xfs_buf, "XFS multi-page buffers through vm_map_ram / vm_unmap_ram");
    v.section("ring_buffer", ring_buffer,
              "a driver's ring buffer mapped to user space (vmalloc_user, remap_vmalloc_range)");
    const std::uint64_t total = std::uint64_t{vmap_stack.weight} + module_load.weight +
                                bpf_jit.weight + xfs_buf.weight + ring_buffer.weight;
    v.check(total > 0, "vmap_stack.weight",
            "every scenario's weight is 0: give at least one a weight above 0");
  }
};

// A working set of kernel data per CPU that a generated workload's CPUs keep using between the
// workload's ops, so that a flush's indirect cost (refill walks) shows in the statistics.
struct BackgroundConfig {
  static constexpr std::uint32_t kMaxPages = 1u << 18;  // 1 GiB per CPU

  std::uint32_t pages = 0;
  std::uint32_t accesses_per_op = 2;
  std::uint32_t hot_pages = 16;
  std::uint32_t hot_percent = 90;
  std::uint32_t store_percent = 20;

  template <class V>
  void visit(V& v) {
    v.integer("pages", pages, 0u, kMaxPages,
              "4 KiB pages of kernel data each CPU keeps using (0: no background); mapped at "
              "boot, global, in the direct map, one region per CPU. Generated workloads only: a "
              "trace (a recording included) is replayed as written");
    v.integer("accesses_per_op", accesses_per_op, 1u, 4096u,
              "accesses to it after each op of the workload");
    v.integer("hot_pages", hot_pages, 1u, kMaxPages, "pages at the start of it that are hot");
    v.integer("hot_percent", hot_percent, 0u, 100u,
              "percent of its accesses that go to the hot pages");
    v.integer("store_percent", store_percent, 0u, 100u, "percent of its accesses that are stores");
    v.check(pages == 0 || hot_pages <= pages, "hot_pages", "must not exceed pages");
  }
};

struct WorkloadConfig {
  WorkloadKind kind = WorkloadKind::kHwSynthetic;
  TraceWorkloadConfig trace;
  HwSyntheticConfig hw_synthetic;
  TestVmallocConfig test_vmalloc;
  ScenariosConfig scenarios;
  BackgroundConfig background;

  template <class V>
  void visit(V& v) {
    v.choice("kind", kind, kWorkloadNames,
             "which workload runs: trace, hw_synthetic, test_vmalloc or scenarios");
    v.section("trace", trace, "kind \"trace\": replay a trace file");
    v.section("hw_synthetic", hw_synthetic,
              "kind \"hw_synthetic\": a generated hardware-level mix");
    v.section("test_vmalloc", test_vmalloc,
              "kind \"test_vmalloc\": Linux's vmalloc test module (lib/test_vmalloc.c)");
    v.section("scenarios", scenarios,
              "kind \"scenarios\": the kernel's real vmalloc users in a weighted mix");
    v.section("background", background,
              "a per-CPU working set used between the ops of a generated workload");
    v.check(kind != WorkloadKind::kTrace || !trace.path.empty(), "trace.path",
            "kind \"trace\" needs a trace file");
  }
};

}  // namespace mmusim::workloads
