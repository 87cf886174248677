// The time series (output.sample_interval_cycles): samples on small traces with values worked
// out by hand. With run.quantum_cycles = 0 a CPU counts an op's cycles when the op starts and
// then waits in global time until it ends, so a sample at cycle C holds every op started
// before C. Latencies from the default table (see experiment_test.cpp): a load that walks
// from CR3 costs 8 (STLB lookup) + 202 (walk: 2 + 4 reads x 30 + 4 A-bit writes x 20) + 4;
// a load that hits the L1 costs 4.
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sim/config_io.h"
#include "sim/experiment.h"
#include "workloads/trace.h"

namespace mmusim::sim {
namespace {

using nlohmann::ordered_json;

std::string write_trace(const std::string& name, const std::string& text) {
  const std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// The platform has as many CPUs as the trace's header names.
ExperimentConfig trace_config(const std::string& path, std::vector<std::string> overrides) {
  overrides.insert(overrides.begin(),
                   "platform.cpus=" + std::to_string(workloads::TraceReader(path).declared_cpus()));
  overrides.push_back("workload.kind=trace");
  overrides.push_back("workload.trace.path=" + path);
  return parse_config("{}", "test", "", overrides);
}

ordered_json run(const ExperimentConfig& config) {
  RunOptions options;
  options.write_outputs = false;
  const RunResult result = run_experiment(config, options);
  EXPECT_EQ(result.error, "");
  ordered_json stats = result.stats;
  stats.erase("host");
  return stats;
}

// One expected sample: its cycle and the counters that are not zero.
struct Expected {
  std::uint64_t cycle;
  std::map<std::string, std::uint64_t> counters;
};

void expect_samples(const ordered_json& timeseries, const std::vector<Expected>& expected) {
  const ordered_json& samples = timeseries["samples"];
  ASSERT_EQ(samples.size(), expected.size()) << timeseries.dump();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("sample " + std::to_string(i));
    EXPECT_EQ(samples[i]["cycle"], expected[i].cycle);
    for (const auto& item : samples[i].items()) {
      if (item.key() == "cycle") continue;
      const auto it = expected[i].counters.find(item.key());
      EXPECT_EQ(item.value(), it == expected[i].counters.end() ? 0 : it->second) << item.key();
    }
  }
}

constexpr const char* kComputeTrace = R"(mmusim-trace 1
cpus 1
0 compute 700
0 compute 700
0 compute 700
0 compute 2500
0 compute 100
)";

TEST(Sampler, BusyCyclesOfEachInterval) {
  const auto stats =
      run(trace_config(write_trace("sampler_compute.trace", kComputeTrace),
                       {"run.quantum_cycles=0", "output.sample_interval_cycles=1000"}));
  // Ops start at 0, 700, 1400, 2100 and 4600; the run ends at 4700, the last, partial
  // interval's end.
  EXPECT_EQ(stats["sim"]["cycles"], 4700u);
  EXPECT_EQ(stats["timeseries"]["interval_cycles"], 1000u);
  expect_samples(stats["timeseries"], {{1000, {{"busy_cycles", 1400}}},
                                       {2000, {{"busy_cycles", 700}}},
                                       {3000, {{"busy_cycles", 2500}}},
                                       {4000, {}},
                                       {4700, {{"busy_cycles", 100}}}});
  // Keys of a run that never used the guest: no vmalloc counters.
  EXPECT_EQ(stats["timeseries"]["samples"][0].size(), 8u);
  EXPECT_FALSE(stats["timeseries"]["samples"][0].contains("vmalloc_calls"));
}

TEST(Sampler, FullSampleListMergesPairwiseAndDoublesTheInterval) {
  const auto stats = run(trace_config(
      write_trace("sampler_merge.trace", kComputeTrace),
      {"run.quantum_cycles=0", "output.sample_interval_cycles=1000", "output.max_samples=2"}));
  // 1000: [1400]; 2000: two samples, merged to [2100 @2000], interval 2000; 4000: two again,
  // merged to [4600 @4000], interval 4000; the end adds [100 @4700].
  EXPECT_EQ(stats["timeseries"]["interval_cycles"], 4000u);
  expect_samples(stats["timeseries"],
                 {{4000, {{"busy_cycles", 4600}}}, {4700, {{"busy_cycles", 100}}}});
}

TEST(Sampler, TranslationsMissesAndWalkCycles) {
  constexpr const char* kLoads = R"(mmusim-trace 1
cpus 1
boot map 0xffffc90000000000 4096 global
0 compute 1500
0 load 0xffffc90000000000
0 compute 1000
0 load 0xffffc90000000008
0 compute 10
)";
  const auto stats =
      run(trace_config(write_trace("sampler_loads.trace", kLoads),
                       {"run.quantum_cycles=0", "output.sample_interval_cycles=1000"}));
  // The walking load at 1500 (214 cycles), compute from 1714, the hit at 2714 (4), compute
  // from 2718 to the end at 2728.
  EXPECT_EQ(stats["sim"]["cycles"], 2728u);
  expect_samples(
      stats["timeseries"],
      {{1000, {{"busy_cycles", 1500}}},
       {2000,
        {{"translations", 1}, {"tlb_misses", 1}, {"walk_cycles", 202}, {"busy_cycles", 1214}}},
       {2728, {{"translations", 1}, {"busy_cycles", 14}}}});
}

TEST(Sampler, ShootdownsAndGuestCallsAreCounted) {
  // CPU 0 allocates and frees twice with a purge threshold of 0: each vfree() purges at once,
  // with one kernel range flush that sends the halted CPU 1 one IPI. The guest calls are
  // counted as the ops start: the second pair after 20000 cycles of compute.
  constexpr const char* kTrace = R"(mmusim-trace 1
cpus 2
0 vmalloc $a 8192
0 vfree $a
0 compute 20000
0 vmalloc $b 8192
0 vfree $b
1 idle 60000
)";
  const auto stats =
      run(trace_config(write_trace("sampler_guest.trace", kTrace),
                       {"vmalloc.lazy_max_pages_mode=fixed", "vmalloc.lazy_max_pages=0",
                        "output.sample_interval_cycles=10000"}));
  const ordered_json& samples = stats["timeseries"]["samples"];
  ASSERT_FALSE(samples.empty());
  std::map<std::string, std::uint64_t> sums;
  for (const auto& sample : samples) {
    for (const auto& item : sample.items()) {
      if (item.key() != "cycle") sums[item.key()] += item.value().get<std::uint64_t>();
    }
  }
  EXPECT_EQ(sums["vmalloc_calls"], 4u);
  EXPECT_EQ(sums["purges"], 2u);
  EXPECT_EQ(sums["shootdowns"], 2u);
  EXPECT_EQ(sums["ipis_sent"], 2u);
  // The second allocation starts after 20000 cycles of compute: its calls are not in the
  // first two samples.
  EXPECT_EQ(samples[0]["vmalloc_calls"], 2u);
  EXPECT_EQ(samples[1]["vmalloc_calls"], 0u);
  EXPECT_EQ(samples.back()["cycle"], stats["sim"]["cycles"]);
}

// Everything but the time series is the same with and without it: the sampler only reads.
void expect_same_run_with_and_without_samples(const std::string& trace,
                                              std::vector<std::string> overrides) {
  const auto plain = run(trace_config(trace, overrides));
  overrides.push_back("output.sample_interval_cycles=1000");
  auto sampled = run(trace_config(trace, overrides));
  ASSERT_TRUE(sampled.contains("timeseries"));
  // The samples add up to the totals.
  std::uint64_t busy = 0;
  std::uint64_t translations = 0;
  for (const auto& sample : sampled["timeseries"]["samples"]) {
    busy += sample["busy_cycles"].get<std::uint64_t>();
    translations += sample["translations"].get<std::uint64_t>();
  }
  EXPECT_EQ(busy, sampled["total"]["cycles"]["busy"]);
  EXPECT_EQ(translations, sampled["total"]["translation"]["translations"]);
  EXPECT_EQ(sampled["timeseries"]["samples"].back()["cycle"], sampled["sim"]["cycles"]);
  sampled.erase("timeseries");
  EXPECT_EQ(plain.dump(1), sampled.dump(1));
}

TEST(Sampler, DeadlockedRunEndsWhereItWouldWithoutSamples) {
  // Both CPUs flush with interrupts masked: each waits for the other's ack forever. Without
  // care, the sampler's next boundary would carry the run's end past the last event.
  constexpr const char* kDeadlock = R"(mmusim-trace 1
cpus 2
0 irq_off
1 irq_off
0 compute 5500
0 flush_tlb_all
1 flush_tlb_all
)";
  const std::string trace = write_trace("sampler_deadlock.trace", kDeadlock);
  const auto stats = run(trace_config(trace, {"output.sample_interval_cycles=1000"}));
  EXPECT_EQ(stats["sim"]["stop_reason"], "deadlock");
  expect_same_run_with_and_without_samples(trace, {});
}

TEST(Sampler, StoppedRunUnwindsWithTheSampler) {
  const std::string trace = write_trace("sampler_stop.trace", kComputeTrace);
  const auto stats =
      run(trace_config(trace, {"output.sample_interval_cycles=1000", "run.max_cycles=1500"}));
  EXPECT_EQ(stats["sim"]["stop_reason"], "max_cycles");
  expect_same_run_with_and_without_samples(trace, {"run.max_cycles=1500"});
}

TEST(Sampler, FourCpusWithDecouplingMatchTheTotals) {
  constexpr const char* kFour = R"(mmusim-trace 1
cpus 4
boot map 0xffffc90000000000 262144 global
0 touch 0xffffc90000000000 262144
0 flush_tlb_kernel_range 0xffffc90000000000 0xffffc90000008000
0 touch 0xffffc90000000000 262144
1 touch 0xffffc90000000000 131072 stride=64
1 flush_tlb_all
2 idle 9000
2 touch 0xffffc90000010000 65536
3 compute 12345
)";
  expect_same_run_with_and_without_samples(write_trace("sampler_four.trace", kFour), {});
}

TEST(Sampler, MaxSamplesMustBeEven) {
  try {
    parse_config("{\"output\": {\"max_samples\": 7}}", "test.json", "", {});
    FAIL() << "an odd max_samples was accepted";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.errors().size(), 1u);
    EXPECT_NE(e.errors()[0].find("/output/max_samples: must be an even number"), std::string::npos)
        << e.errors()[0];
  }
}

}  // namespace
}  // namespace mmusim::sim
