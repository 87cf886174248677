// Sweeps: the cross product of the swept values (in the order written, the last key fastest),
// each value typed through the config schema as --set types it, the points' folder names,
// the errors with their JSON paths, sweep.json's round trip and the results rows.
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sim/config_io.h"
#include "sim/sweep.h"

namespace mmusim::sim {
namespace {

Sweep expand(const std::string& text, const std::vector<std::string>& overrides = {}) {
  std::optional<Sweep> sweep = parse_sweep(text, "s.json", "/base", overrides);
  EXPECT_TRUE(sweep.has_value());
  return sweep ? *sweep : Sweep{};
}

std::vector<std::string> errors_of(const std::string& text,
                                   const std::vector<std::string>& overrides = {}) {
  try {
    parse_sweep(text, "s.json", "/base", overrides);
  } catch (const ConfigError& e) {
    return e.errors();
  }
  return {};
}

std::vector<std::vector<std::string>> overrides_of(const Sweep& sweep) {
  std::vector<std::vector<std::string>> out;
  for (const SweepPoint& point : sweep.points)
    out.push_back(point.overrides);
  return out;
}

std::vector<std::string> dirs_of(const Sweep& sweep) {
  std::vector<std::string> out;
  for (const SweepPoint& point : sweep.points)
    out.push_back(point.dir);
  return out;
}

TEST(SweepExpand, AConfigWithoutSweepIsNotOne) {
  EXPECT_FALSE(parse_sweep(R"({"platform": {"cpus": 2}})", "s.json", "", {}).has_value());
}

TEST(SweepExpand, OneKey) {
  const Sweep sweep = expand(R"({"sweep": {"platform.cpus": [1, 2, 16]}})");
  ASSERT_EQ(sweep.axes.size(), 1u);
  EXPECT_EQ(sweep.axes[0].key, "platform.cpus");
  EXPECT_EQ(overrides_of(sweep),
            (std::vector<std::vector<std::string>>{
                {"platform.cpus=1"}, {"platform.cpus=2"}, {"platform.cpus=16"}}));
  EXPECT_EQ(dirs_of(sweep),
            (std::vector<std::string>{"p000_platform.cpus=1", "p001_platform.cpus=2",
                                      "p002_platform.cpus=16"}));
  EXPECT_EQ(point_config(sweep, 2).platform.cpus, 16u);
}

TEST(SweepExpand, TwoKeysInTheOrderWrittenTheLastFastest) {
  // "platform.cpus" sorts after "flush.mechanism": the order written must win.
  const Sweep sweep =
      expand(R"({"sweep": {"platform.cpus": [2, 4], "flush.mechanism": ["ipi", "invlpgb"]}})");
  EXPECT_EQ(overrides_of(sweep), (std::vector<std::vector<std::string>>{
                                     {"platform.cpus=2", "flush.mechanism=ipi"},
                                     {"platform.cpus=2", "flush.mechanism=invlpgb"},
                                     {"platform.cpus=4", "flush.mechanism=ipi"},
                                     {"platform.cpus=4", "flush.mechanism=invlpgb"},
                                 }));
  EXPECT_EQ(sweep.points[1].dir, "p001_platform.cpus=2_flush.mechanism=invlpgb");
  EXPECT_EQ(describe_point(sweep, 3), "point 3 (platform.cpus=4, flush.mechanism=invlpgb)");
  const ExperimentConfig config = point_config(sweep, 1);
  EXPECT_EQ(config.platform.cpus, 2u);
  EXPECT_EQ(config.flush.mechanism, FlushMechanism::kInvlpgb);
}

TEST(SweepExpand, ThreeKeys) {
  const Sweep sweep = expand(R"({"sweep": {
      "run.seed": [7, 8],
      "mmu.pcid": [true],
      "tlb.stlb.ways": [4, 8, 12]}})");
  ASSERT_EQ(sweep.points.size(), 6u);
  EXPECT_EQ(overrides_of(sweep), (std::vector<std::vector<std::string>>{
                                     {"run.seed=7", "mmu.pcid=true", "tlb.stlb.ways=4"},
                                     {"run.seed=7", "mmu.pcid=true", "tlb.stlb.ways=8"},
                                     {"run.seed=7", "mmu.pcid=true", "tlb.stlb.ways=12"},
                                     {"run.seed=8", "mmu.pcid=true", "tlb.stlb.ways=4"},
                                     {"run.seed=8", "mmu.pcid=true", "tlb.stlb.ways=8"},
                                     {"run.seed=8", "mmu.pcid=true", "tlb.stlb.ways=12"},
                                 }));
  EXPECT_EQ(sweep.points[5].choice, (std::vector<std::size_t>{1, 0, 2}));
  EXPECT_EQ(sweep.points[4].dir, "p004_run.seed=8_mmu.pcid=true_tlb.stlb.ways=8");
  EXPECT_EQ(point_config(sweep, 4).run.seed, 8u);
  EXPECT_EQ(point_config(sweep, 4).tlb.stlb.ways, 8u);
}

TEST(SweepExpand, ValuesAreTypedThroughTheSchema) {
  const Sweep sweep = expand(R"({"sweep": {
      "description": ["small machine", "4"],
      "mmu.pcid": [false, "on"],
      "platform.cpus": [3, "5"],
      "tlb.stlb.page_sizes": [["4k", "2m"]]}})");
  ASSERT_EQ(sweep.points.size(), 8u);
  // Strings stay strings even when they look like numbers; --set's words for booleans work;
  // an integer may be written as a string, as on the command line; a list joins with commas.
  EXPECT_EQ(sweep.points[0].overrides,
            (std::vector<std::string>{"description=small machine", "mmu.pcid=false",
                                      "platform.cpus=3", "tlb.stlb.page_sizes=4k,2m"}));
  const ExperimentConfig first = point_config(sweep, 0);
  EXPECT_EQ(first.description, "small machine");
  EXPECT_FALSE(first.mmu.pcid);
  EXPECT_EQ(first.platform.cpus, 3u);
  EXPECT_EQ(first.tlb.stlb.page_sizes, tlb::k4K | tlb::k2M);
  const ExperimentConfig last = point_config(sweep, 7);
  EXPECT_EQ(last.description, "4");
  EXPECT_TRUE(last.mmu.pcid);
  EXPECT_EQ(last.platform.cpus, 5u);
  // The folder name keeps only safe characters: a blank becomes '-', a comma '+'. In full it
  // would be 86 characters, so the keys are cut to their last parts.
  EXPECT_EQ(sweep.points[0].dir,
            "p000_description=small-machine_pcid=false_cpus=3_page_sizes=4k+2m");
}

TEST(SweepExpand, SetOnTheCommandLineAppliesToEveryPoint) {
  const Sweep sweep = expand(R"({"run": {"seed": 3}, "sweep": {"platform.cpus": [1, 2]}})",
                             {"run.seed=9", "mmu.pcid=false"});
  for (std::size_t i = 0; i < sweep.points.size(); ++i) {
    const ExperimentConfig config = point_config(sweep, i);
    EXPECT_EQ(config.run.seed, 9u);
    EXPECT_FALSE(config.mmu.pcid);
    EXPECT_EQ(config.platform.cpus, i + 1);
  }
}

TEST(SweepExpand, RelativePathsResolveAgainstTheConfigFolder) {
  const Sweep sweep =
      expand(R"({"workload": {"kind": "trace"}, "sweep": {"workload.trace.path": ["a.trace"]}})");
  EXPECT_EQ(point_config(sweep, 0).workload.trace.path, "/base/a.trace");
  EXPECT_EQ(sweep.points[0].dir, "p000_workload.trace.path=a.trace");
}

TEST(SweepExpand, LongFolderNamesAreShortened) {
  const Sweep sweep = expand(R"({"sweep": {
      "workload.hw_synthetic.working_set_pages": [100],
      "workload.hw_synthetic.shared_percent": [5],
      "workload.hw_synthetic.store_percent": [50]}})");
  // In full it is 111 characters: the keys' last parts only, then.
  EXPECT_EQ(sweep.points[0].dir, "p000_working_set_pages=100_shared_percent=5_store_percent=50");
  const std::string long_name = point_dir_name(12, 1000, {"description"}, {std::string(200, 'x')});
  EXPECT_EQ(long_name.size(), 80u);
  EXPECT_EQ(long_name.substr(0, 17), "p012_description=");
  EXPECT_EQ(point_dir_name(12, 10000, {"run.seed"}, {"1"}), "p0012_run.seed=1");
}

TEST(SweepExpand, UnknownKeyIsNamed) {
  EXPECT_EQ(errors_of(R"({"sweep": {"platform.cores": [1, 2]}})"),
            (std::vector<std::string>{"s.json: sweep.platform.cores: unknown key "
                                      "'platform.cores'; 'mmusim list' shows every key"}));
  EXPECT_EQ(errors_of(R"({"sweep": {"tlb.stlb": [1]}})"),
            (std::vector<std::string>{"s.json: sweep.tlb.stlb: 'tlb.stlb' is a section, not a "
                                      "value"}));
}

TEST(SweepExpand, WrongTypeIsNamedWithItsIndex) {
  EXPECT_EQ(errors_of(R"({"sweep": {"platform.cpus": [1, "many", 2.5]}})"),
            (std::vector<std::string>{
                "s.json: sweep.platform.cpus[1]: expected an integer (1..1024), got \"many\"",
                "s.json: sweep.platform.cpus[2]: expected an integer (1..1024), got 2.5"}));
  EXPECT_EQ(errors_of(R"({"sweep": {"run.stale_check": [true, "maybe"]}})"),
            (std::vector<std::string>{
                "s.json: sweep.run.stale_check[1]: expected true or false, got \"maybe\""}));
  EXPECT_EQ(errors_of(R"({"sweep": {"platform.cpus": [{"n": 1}]}})"),
            (std::vector<std::string>{"s.json: sweep.platform.cpus[0]: expected a number, a "
                                      "string, true or false (or a list of page sizes), got "
                                      "{\"n\":1}"}));
}

TEST(SweepExpand, OutOfRangeValueIsNamedWithItsIndexOnce) {
  // The reader's message, at the value's place in the sweep; reported once though two points
  // carry it.
  EXPECT_EQ(errors_of(R"({"sweep": {"platform.cpus": [1, 2, 2000], "mmu.pcid": [true, false]}})"),
            (std::vector<std::string>{
                "s.json: sweep.platform.cpus[2]: expected an integer (1..1024), got 2000"}));
  EXPECT_EQ(errors_of(R"({"sweep": {"flush.mechanism": ["ipi", "magic"]}})"),
            (std::vector<std::string>{"s.json: sweep.flush.mechanism[1]: expected one of ipi, "
                                      "invlpgb; got \"magic\""}));
}

TEST(SweepExpand, EmptyListsAndMalformedSweeps) {
  EXPECT_EQ(errors_of(R"({"sweep": {"platform.cpus": []}})"),
            (std::vector<std::string>{
                "s.json: sweep.platform.cpus: expected a non-empty list of values, got []"}));
  EXPECT_EQ(errors_of(R"({"sweep": {"platform.cpus": 4}})"),
            (std::vector<std::string>{
                "s.json: sweep.platform.cpus: expected a non-empty list of values, got 4"}));
  EXPECT_EQ(errors_of(R"({"sweep": {}})"),
            (std::vector<std::string>{"s.json: sweep: expected an object mapping dotted keys "
                                      "to non-empty lists of values, got {}"}));
  EXPECT_EQ(errors_of(R"({"sweep": {"platform.cpus": [2, 4, "2"]}})"),
            (std::vector<std::string>{
                "s.json: sweep.platform.cpus[2]: \"2\" repeats sweep.platform.cpus[0]"}));
}

TEST(SweepExpand, SetOfASweptKeyIsRefused) {
  EXPECT_EQ(errors_of(R"({"sweep": {"platform.cpus": [1, 2]}})", {"platform.cpus=8"}),
            (std::vector<std::string>{"s.json: sweep.platform.cpus: also given as --set "
                                      "platform.cpus=8; a swept key takes its values from the "
                                      "sweep"}));
}

TEST(SweepExpand, ProblemsOfSomePointsOrOfAllAreTold) {
  // NR_CPUS below the CPUs only where 8 CPUs meet nr_cpus 4; the unknown key everywhere.
  EXPECT_EQ(errors_of(R"({"sweep": {"platform.cpus": [4, 8], "vmalloc.nr_cpus": [4, 8]}})"),
            (std::vector<std::string>{
                "s.json: sweep point 2 (platform.cpus=8, vmalloc.nr_cpus=4): vmalloc.nr_cpus: 4 "
                "is below platform.cpus (8): a kernel cannot bring up more CPUs than NR_CPUS"}));
  EXPECT_EQ(
      errors_of(R"({"mmu": {"pcide": 1}, "sweep": {"platform.cpus": [4, 8]}})", {"run.seed=2"})[0]
          .substr(0, 42),
      "s.json (with --set): /mmu/pcide: unknown k");
}

TEST(SweepExpand, OnlyOnePointIsValidatedWhenAsked) {
  const std::string text = R"({"sweep": {"platform.cpus": [4, 8], "vmalloc.nr_cpus": [4, 8]}})";
  EXPECT_TRUE(parse_sweep(text, "s.json", "", {}, 1).has_value());
  try {
    parse_sweep(text, "s.json", "", {}, 4);
    FAIL() << "point 4 of 4 points";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.errors(),
              (std::vector<std::string>{"--point 4: the sweep of s.json has 4 points (0..3)"}));
  }
}

TEST(SweepExpand, SweepJsonRoundTrip) {
  const Sweep sweep =
      expand(R"({"sweep": {"platform.cpus": [2, 4], "flush.mechanism": ["ipi", "invlpgb"]}})",
             {"run.seed=5"});
  const Sweep back = sweep_from_json(sweep_to_json(sweep).dump(2), "out/sweep.json");
  EXPECT_EQ(back.overrides, (std::vector<std::string>{"run.seed=5"}));
  ASSERT_EQ(back.axes.size(), 2u);
  EXPECT_EQ(back.axes[1].key, "flush.mechanism");
  EXPECT_EQ(overrides_of(back), overrides_of(sweep));
  EXPECT_EQ(dirs_of(back), dirs_of(sweep));
  EXPECT_EQ(back.points[3].choice, (std::vector<std::size_t>{1, 1}));
  try {
    sweep_from_json(R"({"format": "mmusim-sweep 1", "sweep": {"run.seed": [1]},
                        "points": [{"dir": "../elsewhere", "values": {"run.seed": 1}}]})",
                    "out/sweep.json");
    FAIL() << "a folder outside the sweep's";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.errors(), (std::vector<std::string>{
                              "out/sweep.json: /points/0/dir: expected a folder name, got "
                              "\"../elsewhere\""}));
  }
}

TEST(SweepExpand, CommandsQuoteForTheShell) {
  const Sweep sweep = expand(R"({"sweep": {"description": ["it's"]}})", {"run.seed=2"});
  std::vector<std::string> args = point_command(sweep, 0, "/bin/mmusim", "/o/p000");
  EXPECT_EQ(args, (std::vector<std::string>{"/bin/mmusim", "run", sweep.config_path, "--point", "0",
                                            "--out", "/o/p000", "-q", "--set", "run.seed=2"}));
  EXPECT_EQ(shell_quote("/a/b-c_d.json"), "/a/b-c_d.json");
  EXPECT_EQ(shell_quote("a b"), "'a b'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote(""), "''");
  const std::string script = slurm_script(sweep, "/bin/mmusim", "/o");
  EXPECT_NE(script.find("#SBATCH --array=0-0\n"), std::string::npos) << script;
  EXPECT_NE(script.find("  0) dir=p000_description=it-s ;;\n"), std::string::npos) << script;
}

TEST(SweepResults, RowsFromStatsWithAbsentSectionsAsZero) {
  const Sweep sweep = expand(R"({"sweep": {"platform.cpus": [2, 3], "description": ["a,b"]}})");
  const auto stats = nlohmann::json::parse(R"({
    "sim": {"cpus": 3, "cycles": 3000, "seconds": 0.000001234567, "ops": 77,
            "stop_reason": "max_ops"},
    "total": {"cycles": {"busy": 9000, "walk": 400, "invalidation": 100, "flush_send": 10,
                         "flush_spin": 20, "flush_local": 30, "ipi_handling": 40,
                         "idle_wakeup": 50, "lock_wait": 999},
              "shootdown": {"started": 5, "started_full": 1, "started_ranges": 4,
                            "ipis_sent": 10},
              "translation": {"translations": 3, "misses": 1}},
    "shootdowns": {"latency_cycles": {"mean": 1234.5678, "p99": 2000}},
    "kernel": {"warnings": 2, "bugs": 1}
  })");
  SweepResults results;
  results.rows.push_back(result_row(sweep, 1, stats));
  results.columns = {"point",
                     "dir",
                     "platform.cpus",
                     "description",
                     "stop_reason",
                     "cpus",
                     "sim_cycles",
                     "sim_seconds",
                     "ops",
                     "shootdowns",
                     "shootdowns_full",
                     "shootdowns_pages",
                     "ipis_sent",
                     "shootdown_latency_mean",
                     "shootdown_latency_p99",
                     "flush_cycles",
                     "tlb_maintenance_cycles_per_cpu",
                     "busy_cycles",
                     "translations",
                     "tlb_misses",
                     "tlb_miss_rate",
                     "walk_cycles",
                     "stale_tlb_hits",
                     "va_reuse_with_stale_tlb",
                     "frees",
                     "lazy_frees",
                     "purges",
                     "pages_purged",
                     "vm_unmap_aliases",
                     "kernel_warnings",
                     "kernel_bugs"};
  ASSERT_EQ(results.rows[0].size(), results.columns.size());
  // flush 10+20+30+40+50 = 150; per CPU (150 + 100) / 3 = 83.3333; miss rate 1/3.
  EXPECT_EQ(results_csv(results).substr(results_csv(results).find('\n') + 1),
            "1,p001_platform.cpus=3_description=a+b,3,\"a,b\",max_ops,3,3000,1.23457e-06,77,5,"
            "1,4,10,1234.57,2000,150,83.3333,9000,3,1,0.333333,400,0,0,0,0,0,0,0,2,1\n");
  const auto json = nlohmann::json::parse(results_json(results));
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0]["platform.cpus"], 3);
  EXPECT_EQ(json[0]["description"], "a,b");
  EXPECT_EQ(json[0]["stop_reason"], "max_ops");
  EXPECT_DOUBLE_EQ(json[0]["tlb_miss_rate"].get<double>(), 0.333333);
  EXPECT_EQ(json[0]["frees"], 0);
  EXPECT_EQ(results_json(SweepResults{}), "[]\n");
}

}  // namespace
}  // namespace mmusim::sim
