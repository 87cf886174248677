// Whole runs of the simulated platform on small traces, with cycle counts worked out by hand
// from the default latency table:
//   TLB: L1 lookups 0 cycles, a lookup that reaches the STLB +8;
//   walk: start 2, 30 per entry read, 20 per entry written back to set A and/or D;
//   memory access 4 (after a successful translation); compute N: N.
#include "sim/experiment.h"

#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "sim/config_io.h"
#include "workloads/trace.h"

namespace mmusim::sim {
namespace {

std::string write_trace(const std::string& name, const std::string& text) {
  const std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

ExperimentConfig trace_config(const std::string& path, std::vector<std::string> overrides = {}) {
  overrides.push_back("workload.kind=trace");
  overrides.push_back("workload.trace.path=" + path);
  return parse_config("{}", "test", "", overrides);
}

nlohmann::ordered_json run(const ExperimentConfig& config) {
  RunOptions options;
  options.write_outputs = false;
  nlohmann::ordered_json stats = run_experiment(config, options).stats;
  stats.erase("host");
  return stats;
}

constexpr const char* kOneCpuTrace = R"(mmusim-trace 1
cpus 1
boot map 0xffffc90000000000 8192 global
0 load 0xffffc90000000000
0 load 0xffffc90000000008
0 store 0xffffc90000001000
0 compute 100
)";

TEST(Experiment, OneCpuCyclesAreExact) {
  const auto stats =
      run(trace_config(write_trace("one_cpu.trace", kOneCpuTrace), {"platform.cpus=1"}));
  const auto& total = stats["total"];
  // load #1: STLB reached (8) + walk from CR3: 2 + 4 reads x 30 + A set on PML4E, PDPTE, PDE
  // and PTE (4 x 20) = 202, + 4 access = 214.
  // load #2: L1 hit, 0 + 4 = 4.
  // store to the second page: 8 + walk from the cached PDE: 2 + 30 + one write-back setting
  // A and D (20) = 52, + 4 = 64.  compute: 100.  Total 382.
  EXPECT_EQ(stats["sim"]["cycles"], 382u);
  EXPECT_EQ(total["cycles"]["busy"], 382u);
  EXPECT_EQ(total["cycles"]["tlb"], 16u);
  EXPECT_EQ(total["cycles"]["walk"], 254u);
  EXPECT_EQ(total["cycles"]["work"], 112u);
  EXPECT_EQ(total["translation"]["translations"], 3u);
  EXPECT_EQ(total["translation"]["l1_hits"], 1u);
  EXPECT_EQ(total["translation"]["misses"], 2u);
  EXPECT_EQ(total["walker"]["walks"], 2u);
  EXPECT_EQ(total["walker"]["memory_reads"], 5u);
  EXPECT_EQ(total["walker"]["psc_hits_pde"], 1u);
  EXPECT_EQ(total["walker"]["psc_misses"], 1u);
  EXPECT_EQ(total["walker"]["accessed_writes"], 5u);
  EXPECT_EQ(total["walker"]["dirty_writes"], 1u);
  EXPECT_EQ(total["tlb"]["l1d_4k"]["hits"], 1u);
  EXPECT_EQ(total["tlb"]["stlb"]["fills"], 2u);
  EXPECT_EQ(stats["sim"]["ops"], 4u);
  EXPECT_EQ(stats["sim"]["stop_reason"], "completed");
}

TEST(Experiment, QuantumZeroMatchesTheDefaultOnOneCpu) {
  const std::string path = write_trace("quantum.trace", kOneCpuTrace);
  const auto decoupled = run(trace_config(path, {"platform.cpus=1"}));
  const auto exact = run(trace_config(path, {"platform.cpus=1", "run.quantum_cycles=0"}));
  EXPECT_EQ(decoupled.dump(), exact.dump());
}

// CPU 1 unmaps a page CPU 0 has cached and nobody flushes: CPU 0's next load uses the stale
// entry. Quantum 0 keeps the CPUs in exact time order.
constexpr const char* kStaleTrace = R"(mmusim-trace 1
cpus 2
boot map 0xffffc90000000000 4096 global
0 load 0xffffc90000000000
0 compute 1000
0 load 0xffffc90000000000
1 compute 500
1 unmap 0xffffc90000000000 4096
)";

TEST(Experiment, UnmapWithoutFlushLeavesAStaleHit) {
  const auto stats =
      run(trace_config(write_trace("stale.trace", kStaleTrace), {"run.quantum_cycles=0"}));
  EXPECT_EQ(stats["sanitizer"]["stale_tlb_hits"], 1u);
  EXPECT_EQ(stats["sanitizer"]["leaf_changes"], 1u);
  EXPECT_EQ(stats["sanitizer"]["leaf_changes_cached"], 1u);
  // CPU 0 held the translation in its L1 DTLB and in its STLB.
  EXPECT_EQ(stats["sanitizer"]["entries_marked_stale"], 2u);
  EXPECT_EQ(stats["per_cpu"][0]["translation"]["stale_hits"], 1u);
}

TEST(Experiment, StaleCheckOffCountsNothing) {
  const auto stats = run(trace_config(write_trace("stale_off.trace", kStaleTrace),
                                      {"run.quantum_cycles=0", "run.stale_check=false"}));
  EXPECT_EQ(stats["sanitizer"]["stale_tlb_hits"], 0u);
  EXPECT_FALSE(stats["sanitizer"].contains("entries_marked_stale"));
}

TEST(Experiment, StopOnStaleNamesCpuAddressAndOp) {
  ExperimentConfig config = trace_config(write_trace("stop_stale.trace", kStaleTrace),
                                         {"run.quantum_cycles=0", "run.stop_on_stale=true"});
  RunOptions options;
  options.write_outputs = false;
  const RunResult result = run_experiment(config, options);
  EXPECT_EQ(result.stop_reason, StopReason::kStaleTlbHit);
  // The second load starts at 214 (first load) + 1000 and costs 4 cycles (an L1 hit).
  EXPECT_EQ(result.stop_detail,
            "CPU 0 used a stale TLB entry for 0xffffc90000000000 at cycle "
            "1218 in op 'load 0xffffc90000000000' (" +
                config.workload.trace.path + ":6)");
  EXPECT_EQ(result.stats["sim"]["stop_reason"], "stale_tlb_hit");
}

TEST(Experiment, MaxOpsStopsTheRun) {
  const auto stats = run(trace_config(write_trace("max_ops.trace", kOneCpuTrace),
                                      {"platform.cpus=1", "run.max_ops=2"}));
  EXPECT_EQ(stats["sim"]["ops"], 2u);
  EXPECT_EQ(stats["sim"]["stop_reason"], "max_ops");
}

TEST(Experiment, MalformedLineInsideTheRunIsReportedAsAnInputError) {
  const std::string path =
      write_trace("bad_late.trace", "mmusim-trace 1\n0 load 0x1000\n0 compute 5\n0 lod 0x2\n");
  RunOptions options;
  options.write_outputs = false;
  const RunResult result = run_experiment(trace_config(path, {"platform.cpus=1"}), options);
  EXPECT_TRUE(result.input_error);
  EXPECT_EQ(result.error.rfind(path + ":4: unknown op 'lod'", 0), 0u) << result.error;
  EXPECT_TRUE(result.stats.is_null());
}

TEST(Experiment, FailedEditIsCountedAndWarned) {
  const std::string path =
      write_trace("failed_edit.trace",
                  "mmusim-trace 1\n0 map 0xffffc90000000000 4096\n0 map 0xffffc90000000000 4096\n");
  ExperimentConfig config = trace_config(path, {"platform.cpus=1"});
  RunOptions options;
  options.write_outputs = false;
  const RunResult result = run_experiment(config, options);
  EXPECT_EQ(result.stats["total"]["ops"]["failed_edits"], 1u);
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0], path +
                                    ":3: map 0xffffc90000000000 4096: already mapped at "
                                    "0xffffc90000000000");
}

TEST(Experiment, TwoRunsInOneProcessAreIdentical) {
  // The default machine's latencies and TLBs, with 4 CPUs of the plain hardware-level mix.
  ExperimentConfig config = default_config(
      {"workload.kind=hw_synthetic", "workload.hw_synthetic.accesses_per_cpu=2000",
       "workload.background.pages=0", "platform.cpus=4", "platform.topology.sockets=1"});
  const auto first = run(config);
  const auto second = run(config);
  EXPECT_EQ(first.dump(), second.dump());
  EXPECT_EQ(first["sim"]["ops"], 4u * 2000u * 2u + 3u * 4u * 2u);
}

}  // namespace
}  // namespace mmusim::sim
