// The experiment configuration: sim/ composes the sections each layer owns (mmu, tlb,
// workloads) with its own (platform, latency, run, output). Every field is declared once, in a
// visit() function, with its key, default (the member initialiser), range and description;
// sim/config_io.h turns that into the JSON reader, writer, `mmusim list` and `--set`.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>

#include "mmu/phys_mem.h"
#include "mmu/walker.h"
#include "tlb/config.h"
#include "vmalloc/config.h"
#include "workloads/config.h"

namespace mmusim::sim {

inline constexpr std::uint32_t kMaxCpus = 1024;
// TLB and paging-structure-cache entries over all CPUs together: about 800 MiB of host memory
// (the default machine has 1830 per CPU, so 1024 CPUs of it hold 1.9 million).
inline constexpr std::uint64_t kMaxTranslationEntries = std::uint64_t{1} << 24;

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

enum class FlushMechanism : std::uint8_t { kIpi, kInvlpgb };
inline constexpr std::array<std::pair<const char*, FlushMechanism>, 2> kFlushMechanismNames{{
    {"ipi", FlushMechanism::kIpi},
    {"invlpgb", FlushMechanism::kInvlpgb},
}};

// How the initiator's ICR writes address the targets: x2APIC cluster mode writes once per
// cluster of targets, physical mode once per target, and the all-but-self shorthand once for
// everybody (when every other CPU needs the IPI).
enum class IpiMode : std::uint8_t { kCluster, kPhysical, kShorthand };
inline constexpr std::array<std::pair<const char*, IpiMode>, 3> kIpiModeNames{{
    {"cluster", IpiMode::kCluster},
    {"physical", IpiMode::kPhysical},
    {"shorthand", IpiMode::kShorthand},
}};

// How kernel TLB flushes reach the other CPUs.
struct FlushConfig {
  FlushMechanism mechanism = FlushMechanism::kIpi;
  std::uint32_t single_page_flush_ceiling = 33;
  IpiMode ipi_mode = IpiMode::kCluster;
  std::uint32_t x2apic_cluster_size = 16;
  std::uint32_t invlpgb_count_max = 8;

  template <class V>
  void visit(V& v) {
    v.choice("mechanism", mechanism, kFlushMechanismNames,
             "ipi: Linux 4.19's on_each_cpu() IPIs; invlpgb: AMD broadcast invalidation "
             "(INVLPGB + TLBSYNC, no IPIs; Linux 6.15)");
    v.integer("single_page_flush_ceiling", single_page_flush_ceiling, 0u, 1u << 20,
              "tlb_single_page_flush_ceiling: ranges of more pages get a full flush "
              "(0: always a full flush)");
    v.choice("ipi_mode", ipi_mode, kIpiModeNames,
             "how ICR writes address targets: cluster (x2APIC cluster mode), physical (one "
             "per target) or shorthand (all-but-self)");
    v.integer("x2apic_cluster_size", x2apic_cluster_size, 1u, 64u,
              "logical CPUs per x2APIC cluster (clusters never span sockets)");
    v.integer("invlpgb_count_max", invlpgb_count_max, 1u, 65536u,
              "most pages one INVLPGB invalidates (CPUID 0x80000008 EDX[15:0] + 1)");
  }
};

// The IPI fabric and the cross-CPU function call (smp_call_function_many and its handler).
struct IpiLatencyConfig {
  std::uint32_t call_setup = 250;
  std::uint32_t csd_enqueue = 45;
  std::uint32_t icr_write = 450;
  std::uint32_t deliver_smt = 300;
  std::uint32_t deliver_socket = 380;
  std::uint32_t deliver_remote = 5500;
  std::uint32_t irq_entry = 250;
  std::uint32_t irq_exit = 200;
  std::uint32_t idle_wakeup = 3000;
  std::uint32_t call_handler = 120;
  std::uint32_t ack_smt = 60;
  std::uint32_t ack_socket = 150;
  std::uint32_t ack_remote = 400;
  std::uint32_t ack_poll_smt = 40;
  std::uint32_t ack_poll_socket = 130;
  std::uint32_t ack_poll_remote = 400;

  template <class V>
  void visit(V& v) {
    constexpr std::uint32_t kMax = 100'000'000;
    v.integer("call_setup", call_setup, 0u, kMax,
              "initiator: fixed work of a cross-CPU call (smp_call_function_many)");
    v.integer("csd_enqueue", csd_enqueue, 0u, kMax,
              "initiator: per target, lock and fill its call data and queue it");
    v.integer("icr_write", icr_write, 0u, kMax,
              "initiator: one ICR write sending an IPI (437 cycles measured per send, "
              "Skyloft SOSP'24)");
    v.integer("deliver_smt", deliver_smt, 0u, kMax, "IPI delivery to an SMT sibling");
    v.integer("deliver_socket", deliver_socket, 0u, kMax, "IPI delivery within a socket");
    v.integer("deliver_remote", deliver_remote, 0u, kMax, "IPI delivery to another socket");
    v.integer("irq_entry", irq_entry, 0u, kMax, "target: interrupt entry");
    v.integer("irq_exit", irq_exit, 0u, kMax, "target: interrupt exit");
    v.integer("idle_wakeup", idle_wakeup, 0u, kMax,
              "target: leaving a shallow idle state to take the interrupt (about 1 us)");
    v.integer("call_handler", call_handler, 0u, kMax,
              "target: per queued call, dispatch and release of its call data (the ack)");
    v.integer("ack_smt", ack_smt, 0u, kMax,
              "an ack becomes visible to an initiator on the SMT sibling after this");
    v.integer("ack_socket", ack_socket, 0u, kMax, "... to an initiator in the same socket");
    v.integer("ack_remote", ack_remote, 0u, kMax, "... to an initiator on another socket");
    v.integer("ack_poll_smt", ack_poll_smt, 0u, kMax,
              "initiator: reading one released ack written by the SMT sibling");
    v.integer("ack_poll_socket", ack_poll_socket, 0u, kMax,
              "initiator: reading one released ack written in the same socket");
    v.integer("ack_poll_remote", ack_poll_remote, 0u, kMax,
              "initiator: reading one released ack written on another socket");
  }
};

// The kernel flush entry points and AMD's broadcast invalidation.
struct FlushLatencyConfig {
  std::uint32_t flush_call = 1050;
  std::uint32_t invlpgb = 300;
  std::uint32_t invlpgb_per_page = 20;
  std::uint32_t tlbsync_socket = 1500;
  std::uint32_t tlbsync_remote = 3000;

  template <class V>
  void visit(V& v) {
    constexpr std::uint32_t kMax = 100'000'000;
    v.integer("flush_call", flush_call, 0u, kMax,
              "flush_tlb_kernel_range()/flush_tlb_all(): entry, the range decision and "
              "on_each_cpu's own work (fitted to Hansen's 2014 per-call costs, which include "
              "his tracing overhead)");
    v.integer("invlpgb", invlpgb, 0u, kMax, "issuing one INVLPGB (no published figure)");
    v.integer("invlpgb_per_page", invlpgb_per_page, 0u, kMax,
              "each page an INVLPGB covers beyond the first");
    v.integer("tlbsync_socket", tlbsync_socket, 0u, kMax,
              "TLBSYNC when every CPU is in the initiator's socket (no published figure)");
    v.integer("tlbsync_remote", tlbsync_remote, 0u, kMax,
              "TLBSYNC when some CPU is on another socket");
  }
};

// Simulated locks.
struct LockLatencyConfig {
  std::uint32_t acquire = 20;
  std::uint32_t release = 10;
  std::uint32_t handover_socket = 150;
  std::uint32_t handover_remote = 450;
  std::uint32_t mutex_wakeup = 2000;

  template <class V>
  void visit(V& v) {
    constexpr std::uint32_t kMax = 100'000'000;
    v.integer("acquire", acquire, 0u, kMax, "taking a free lock");
    v.integer("release", release, 0u, kMax, "releasing a lock");
    v.integer("handover_socket", handover_socket, 0u, kMax,
              "a released lock reaching the next waiter in the same socket");
    v.integer("handover_remote", handover_remote, 0u, kMax,
              "a released lock reaching the next waiter on another socket");
    v.integer("mutex_wakeup", mutex_wakeup, 0u, kMax,
              "waking a task that slept on a mutex, added to the hand-over");
  }
};

// Cycle costs of what the CPUs execute besides translation (TLB and walk latencies live in the
// tlb and mmu sections). Defaults come from published measurements (Ingo Molnar's x86 TLB
// micro-benchmarks, 2015; Andy Lutomirski's INVPCID patch, 2016), at 3 GHz.
struct LatencyConfig {
  std::uint32_t memory_access = 4;
  std::uint32_t invlpg = 230;
  std::uint32_t mov_cr3 = 250;
  std::uint32_t mov_cr3_noflush = 100;
  std::uint32_t invpcid_individual = 300;
  std::uint32_t invpcid_single_context = 400;
  std::uint32_t invpcid_all_global = 1200;
  std::uint32_t invpcid_all_nonglobal = 900;
  std::uint32_t toggle_pge = 1700;
  std::uint32_t pte_write = 10;
  std::uint32_t table_alloc = 200;
  IpiLatencyConfig ipi;
  FlushLatencyConfig flush;
  LockLatencyConfig lock;
  vmalloc::VmallocCosts vmalloc;

  template <class V>
  void visit(V& v) {
    constexpr std::uint32_t kMax = 10'000'000;
    v.integer("memory_access", memory_access, 0u, kMax,
              "cycles of a load, store or fetch beyond its translation (data caches are not "
              "modelled: an L1 hit)");
    v.integer("invlpg", invlpg, 0u, kMax,
              "INVLPG; in a flush loop about 227 cycles per page (Hansen 2014; 260 alone, "
              "Molnar 2015)");
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
    v.section("ipi", ipi, "the IPI fabric and cross-CPU calls");
    v.section("flush", flush, "kernel TLB flush entry points and INVLPGB/TLBSYNC");
    v.section("lock", lock, "simulated spinlocks and mutexes");
    v.section("vmalloc", vmalloc, "the guest's own work (the vmalloc model)");
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
  std::uint64_t quantum_cycles = 300;
  std::uint64_t max_ops = 0;
  std::uint64_t max_cycles = 0;
  bool stale_check = true;
  bool stop_on_stale = false;
  bool stop_on_bug = false;

  template <class V>
  void visit(V& v) {
    v.integer("seed", seed, std::uint64_t{0}, ~std::uint64_t{0},
              "master seed; every random stream derives from it and its component's name");
    v.integer("quantum_cycles", quantum_cycles, std::uint64_t{0}, std::uint64_t{1} << 40,
              "temporal-decoupling quantum: a CPU runs ahead of global time by at most this "
              "many cycles (0: every op synchronises, the exact reference). At or below the "
              "smallest IPI delivery latency, IPIs are taken exactly when they would be with "
              "0; above it, a CPU can run past an IPI's arrival before the IPI is sent");
    v.integer("max_ops", max_ops, std::uint64_t{0}, ~std::uint64_t{0},
              "stop after this many ops on all CPUs together (0: no limit)");
    v.integer("max_cycles", max_cycles, std::uint64_t{0}, ~std::uint64_t{0},
              "stop at this simulated cycle (0: no limit)");
    v.boolean("stale_check", stale_check,
              "track TLB entries whose PTE changed and count hits on them "
              "(sanitizer.stale_tlb_hits)");
    v.boolean("stop_on_stale", stop_on_stale,
              "stop the run at the first stale TLB hit, naming the CPU, address and op");
    v.boolean("stop_on_bug", stop_on_bug,
              "stop the run at the guest's first kernel BUG or oops (stop_reason kernel_bug); "
              "otherwise count it (kernel.bugs), abandon the failing call and go on");
  }
};

// Checks of the guest's own books (vmalloc/invariants.h), for soak runs.
struct SanitizerConfig {
  bool check_invariants_after_purge = false;

  template <class V>
  void visit(V& v) {
    v.boolean("check_invariants_after_purge", check_invariants_after_purge,
              "check the guest's books after every lazy purge (lazy page count against the "
              "lazily freed areas, area tree and list, vmap blocks, page ownership, no kernel "
              "page mapped twice unless a caller's vmap/vm_map_ram did it); when the run "
              "completes, the last CPU to finish frees everything still allocated, purges, and "
              "checks that /proc/vmallocinfo holds only early areas and every page is back in "
              "the allocator (that teardown's work counts in the statistics). Violations: "
              "sanitizer.invariant_violations, with their text in the log");
  }
};

// What a sweep's summary table shows below its points.
enum class SweepCompare : std::uint8_t {
  kAuto,   // with exactly two points, the second against the first
  kFirst,  // every point against the first
  kNone,   // the points only
};
inline constexpr std::array<std::pair<const char*, SweepCompare>, 3> kSweepCompareNames{{
    {"auto", SweepCompare::kAuto},
    {"first", SweepCompare::kFirst},
    {"none", SweepCompare::kNone},
}};

struct OutputConfig {
  bool per_cpu = true;
  std::uint64_t timeline_max_events = 1'000'000;
  std::uint64_t timeline_walk_threshold = 200;
  std::uint64_t sample_interval_cycles = 0;
  std::uint64_t max_samples = 100'000;
  SweepCompare sweep_compare = SweepCompare::kAuto;

  template <class V>
  void visit(V& v) {
    v.boolean("per_cpu", per_cpu, "write each CPU's statistics, not only the totals");
    // A timeline event is about 120 bytes of file: 10 million of them, over a GiB.
    v.integer("timeline_max_events", timeline_max_events, std::uint64_t{1},
              std::uint64_t{10'000'000},
              "--timeline: events written at most; the file then notes that it was cut");
    v.integer("timeline_walk_threshold", timeline_walk_threshold, std::uint64_t{0},
              std::uint64_t{1} << 32, "--timeline: page walks of at least this many cycles appear");
    v.integer("sample_interval_cycles", sample_interval_cycles, std::uint64_t{0},
              std::uint64_t{1} << 40,
              "record the machine-wide counters gained in every interval of this many cycles "
              "as stats.json's timeseries (0: no time series)");
    // Each sample costs about 1 KiB of host memory while stats.json is written.
    v.integer("max_samples", max_samples, std::uint64_t{2}, std::uint64_t{1'000'000},
              "timeseries: samples kept at most; on reaching it the interval doubles and "
              "neighbouring samples merge pairwise (an even number)");
    v.choice("sweep_compare", sweep_compare, kSweepCompareNames,
             "a sweep's summary table: auto compares the second point with the first when "
             "there are exactly two; first compares every point with the first (differences "
             "and ratios); none shows the points only");
    v.check(max_samples % 2 == 0, "max_samples", "must be an even number");
  }
};

struct ExperimentConfig {
  std::string description;
  PlatformConfig platform;
  mmu::MmuConfig mmu;
  tlb::TlbConfig tlb;
  FlushConfig flush;
  LatencyConfig latency;
  vmalloc::VmallocConfig vmalloc;
  workloads::WorkloadConfig workload;
  RunConfig run;
  SanitizerConfig sanitizer;
  OutputConfig output;

  template <class V>
  void visit(V& v) {
    v.string("description", description, "what this experiment is for (free text)");
    v.section("platform", platform, "the simulated machine");
    v.section("mmu", mmu, "paging hardware: levels, PCID, paging-structure caches, walk costs");
    v.section("tlb", tlb, "each TLB structure of a CPU");
    v.section("flush", flush, "how kernel TLB flushes reach the other CPUs");
    v.section("latency", latency, "cycle costs of instructions and page-table edits");
    v.section("vmalloc", vmalloc,
              "the guest kernel's vmalloc: build and boot options, the page allocator under it");
    v.section("workload", workload, "what the CPUs run");
    v.section("run", run, "seed, time quantum, limits and checks");
    v.section("sanitizer", sanitizer, "checks of the guest's books (slow; for soak runs)");
    v.section("output", output, "what goes into the output folder");
  }
};

}  // namespace mmusim::sim
