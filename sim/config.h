// The experiment configuration: sim/ composes the sections each layer owns (mmu, tlb,
// workloads) with its own (platform, latency, run, output). Every field is declared once, in a
// visit() function, with its key, default (the member initialiser), range and description;
// sim/config_io.h turns that into the JSON reader, writer, `mmusim list` and `--set`.
#pragma once

#include <cstdint>
#include <string>

#include "mmu/phys_mem.h"
#include "mmu/walker.h"
#include "tlb/config.h"
#include "workloads/config.h"

namespace mmusim::sim {

inline constexpr std::uint32_t kMaxCpus = 1024;

struct TopologyConfig {
  std::uint32_t sockets = 1;
  std::uint32_t threads_per_core = 1;

  template <class V>
  void visit(V& v) {
    v.integer("sockets", sockets, 1u, 64u, "sockets; CPUs are spread evenly over them");
    v.integer("threads_per_core", threads_per_core, 1u, 8u,
              "SMT threads per core (CPUs numbered thread-fastest)");
  }
};

struct PlatformConfig {
  std::uint32_t cpus = 4;
  std::uint32_t frequency_mhz = 3000;
  TopologyConfig topology;
  mmu::PhysMemConfig memory;

  template <class V>
  void visit(V& v) {
    v.integer("cpus", cpus, 1u, kMaxCpus, "simulated CPUs (logical processors)");
    v.integer("frequency_mhz", frequency_mhz, 100u, 10000u,
              "core clock; cycles convert to seconds with it");
    v.section("topology", topology, "how the CPUs sit in sockets, cores and SMT threads");
    v.section("memory", memory, "simulated physical memory");
    v.check(cpus % (topology.sockets * topology.threads_per_core) == 0, "cpus",
            "must be a multiple of topology.sockets x topology.threads_per_core");
  }
  [[nodiscard]] std::uint32_t cores_per_socket() const {
    return cpus / (topology.sockets * topology.threads_per_core);
  }
};

// Cycle costs of what the CPUs execute besides translation (TLB and walk latencies live in the
// tlb and mmu sections). Defaults come from published measurements (Ingo Molnar's x86 TLB
// micro-benchmarks, 2015; Andy Lutomirski's INVPCID patch, 2016), at 3 GHz.
struct LatencyConfig {
  std::uint32_t memory_access = 4;
  std::uint32_t invlpg = 260;
  std::uint32_t mov_cr3 = 250;
  std::uint32_t mov_cr3_noflush = 100;
  std::uint32_t invpcid_individual = 300;
  std::uint32_t invpcid_single_context = 400;
  std::uint32_t invpcid_all_global = 1130;
  std::uint32_t invpcid_all_nonglobal = 900;
  std::uint32_t toggle_pge = 1600;
  std::uint32_t pte_write = 10;
  std::uint32_t table_alloc = 200;

  template <class V>
  void visit(V& v) {
    constexpr std::uint32_t kMax = 10'000'000;
    v.integer("memory_access", memory_access, 0u, kMax,
              "cycles of a load, store or fetch beyond its translation (data caches are not "
              "modelled: an L1 hit)");
    v.integer("invlpg", invlpg, 0u, kMax, "INVLPG (260 cycles measured, Molnar 2015)");
    v.integer("mov_cr3", mov_cr3, 0u, kMax,
              "CR3 write that flushes (96 to 366 cycles measured, Molnar 2015)");
    v.integer("mov_cr3_noflush", mov_cr3_noflush, 0u, kMax, "CR3 write with the no-flush bit");
    v.integer("invpcid_individual", invpcid_individual, 0u, kMax,
              "INVPCID type 0 (slower than INVLPG, Amit 2019)");
    v.integer("invpcid_single_context", invpcid_single_context, 0u, kMax, "INVPCID type 1");
    v.integer("invpcid_all_global", invpcid_all_global, 0u, kMax,
              "INVPCID type 2 (about 376 ns, Lutomirski 2016)");
    v.integer("invpcid_all_nonglobal", invpcid_all_nonglobal, 0u, kMax, "INVPCID type 3");
    v.integer("toggle_pge", toggle_pge, 0u, kMax,
              "CR4.PGE toggle, global flush (about 539 ns, Lutomirski 2016)");
    v.integer("pte_write", pte_write, 0u, kMax, "each page-table entry a map/unmap/protect writes");
    v.integer("table_alloc", table_alloc, 0u, kMax,
              "each page-table page a map allocates (and zeroes)");
  }
  [[nodiscard]] std::uint32_t invpcid(unsigned type) const {
    switch (type) {
      case 0:
        return invpcid_individual;
      case 1:
        return invpcid_single_context;
      case 2:
        return invpcid_all_global;
      default:
        return invpcid_all_nonglobal;
    }
  }
};

struct RunConfig {
  std::uint64_t seed = 1;
  std::uint64_t quantum_cycles = 10000;
  std::uint64_t max_ops = 0;
  std::uint64_t max_cycles = 0;
  bool stale_check = true;
  bool stop_on_stale = false;

  template <class V>
  void visit(V& v) {
    v.integer("seed", seed, std::uint64_t{0}, ~std::uint64_t{0},
              "master seed; every random stream derives from it and its component's name");
    v.integer("quantum_cycles", quantum_cycles, std::uint64_t{0}, std::uint64_t{1} << 40,
              "temporal-decoupling quantum: a CPU runs ahead at most this many cycles before "
              "it synchronises (0: every op synchronises, the exact reference)");
    v.integer("max_ops", max_ops, std::uint64_t{0}, ~std::uint64_t{0},
              "stop after this many ops on all CPUs together (0: no limit)");
    v.integer("max_cycles", max_cycles, std::uint64_t{0}, ~std::uint64_t{0},
              "stop at this simulated cycle (0: no limit)");
    v.boolean("stale_check", stale_check,
              "track TLB entries whose PTE changed and count hits on them "
              "(sanitizer.stale_tlb_hits)");
    v.boolean("stop_on_stale", stop_on_stale,
              "stop the run at the first stale TLB hit, naming the CPU, address and op");
  }
};

struct OutputConfig {
  bool per_cpu = true;

  template <class V>
  void visit(V& v) {
    v.boolean("per_cpu", per_cpu, "write each CPU's statistics, not only the totals");
  }
};

struct ExperimentConfig {
  std::string description;
  PlatformConfig platform;
  mmu::MmuConfig mmu;
  tlb::TlbConfig tlb;
  LatencyConfig latency;
  workloads::WorkloadConfig workload;
  RunConfig run;
  OutputConfig output;

  template <class V>
  void visit(V& v) {
    v.string("description", description, "what this experiment is for (free text)");
    v.section("platform", platform, "the simulated machine");
    v.section("mmu", mmu, "paging hardware: levels, PCID, paging-structure caches, walk costs");
    v.section("tlb", tlb, "each TLB structure of a CPU");
    v.section("latency", latency, "cycle costs of instructions and page-table edits");
    v.section("workload", workload, "what the CPUs run");
    v.section("run", run, "seed, time quantum, limits and checks");
    v.section("output", output, "what goes into the output folder");
  }
};

}  // namespace mmusim::sim
