// Sweeps: the cross product of the swept values (in the order written, the last key fastest),
// each value typed through the config schema as --set types it, keys joined with '+' taking
// one value together, the points' folder names, the errors with their JSON paths, sweep.json's
// round trip, the built-in default's sweep, the results rows and the summary table.
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

TEST(SweepExpand, JoinedKeysTakeEachValueTogether) {
  const Sweep sweep = expand(R"({"sweep": {
      "workload.scenarios.xfs_buf.pages.min+workload.scenarios.xfs_buf.pages.max": [8, 128],
      "run.seed": [1]}})");
  ASSERT_EQ(sweep.axes.size(), 2u);
  EXPECT_EQ(sweep.axes[0].keys, (std::vector<std::string>{"workload.scenarios.xfs_buf.pages.min",
                                                          "workload.scenarios.xfs_buf.pages.max"}));
  EXPECT_EQ(overrides_of(sweep), (std::vector<std::vector<std::string>>{
                                     {"workload.scenarios.xfs_buf.pages.min=8",
                                      "workload.scenarios.xfs_buf.pages.max=8", "run.seed=1"},
                                     {"workload.scenarios.xfs_buf.pages.min=128",
                                      "workload.scenarios.xfs_buf.pages.max=128", "run.seed=1"},
                                 }));
  // In full the names would be 95 characters: each joined key is cut to its last parts.
  EXPECT_EQ(dirs_of(sweep),
            (std::vector<std::string>{"p000_min+max=8_seed=1", "p001_min+max=128_seed=1"}));
  const ExperimentConfig config = point_config(sweep, 1);
  EXPECT_EQ(config.workload.scenarios.xfs_buf.pages.min, 128u);
  EXPECT_EQ(config.workload.scenarios.xfs_buf.pages.max, 128u);
  // sweep.json keeps the joined key; reading it back gives the same points.
  const Sweep back = sweep_from_json(sweep_to_json(sweep).dump(2), "out/sweep.json");
  EXPECT_EQ(back.axes[0].keys, sweep.axes[0].keys);
  EXPECT_EQ(overrides_of(back), overrides_of(sweep));
}

TEST(SweepExpand, JoinedKeysAreCheckedOneByOne) {
  EXPECT_EQ(errors_of(R"({"sweep": {"platform.cpus+platform.cores": [2]}})"),
            (std::vector<std::string>{
                "s.json: sweep.platform.cpus+platform.cores: 'platform.cores': unknown key "
                "'platform.cores'; 'mmusim list' shows every key"}));
  EXPECT_EQ(errors_of(R"({"sweep": {"platform.cpus": [2], "vmalloc.nr_cpus+platform.cpus": [4]}})"),
            (std::vector<std::string>{"s.json: sweep.vmalloc.nr_cpus+platform.cpus: "
                                      "'platform.cpus': swept twice; a key takes its values from "
                                      "one place"}));
  // 2000 is a valid NR_CPUS but not a valid CPU count.
  EXPECT_EQ(errors_of(R"({"sweep": {"platform.cpus+vmalloc.nr_cpus": [2000]}})"),
            (std::vector<std::string>{"s.json: sweep.platform.cpus+vmalloc.nr_cpus[0]: "
                                      "'platform.cpus': expected an integer (1..1024), got 2000"}));
  // A rule across sections, broken by one point only.
  EXPECT_EQ(errors_of(R"({"platform": {"topology": {"sockets": 8}},
                          "sweep": {"platform.cpus+vmalloc.nr_cpus": [4, 8]}})"),
            (std::vector<std::string>{"s.json: sweep.platform.cpus+vmalloc.nr_cpus[0]: "
                                      "'platform.cpus': must be a multiple of topology.sockets x "
                                      "topology.threads_per_core"}));
  EXPECT_EQ(errors_of(R"({"sweep": {"platform.cpus": [2]}})", {"vmalloc.nr_cpus=64"}),
            (std::vector<std::string>{}));
  EXPECT_EQ(
      errors_of(R"({"sweep": {"platform.cpus+vmalloc.nr_cpus": [2]}})", {"vmalloc.nr_cpus=64"}),
      (std::vector<std::string>{"s.json: sweep.platform.cpus+vmalloc.nr_cpus: "
                                "'vmalloc.nr_cpus': also given as --set vmalloc.nr_cpus=64; "
                                "a swept key takes its values from the sweep"}));
}

TEST(SweepExpand, EveryPointIsNamedAlikeWhenTheLongestWouldBeCut) {
  // "p000_workload.hw_synthetic.working_set_pages=2048_description=a" fits in 80 characters,
  // but the second point's name would not: both take the keys' last parts.
  const Sweep sweep = expand(R"({"sweep": {
      "workload.hw_synthetic.working_set_pages": [2048],
      "description": ["a", "a-description-of-thirty-chars!"]}})");
  EXPECT_EQ(dirs_of(sweep),
            (std::vector<std::string>{"p000_working_set_pages=2048_description=a",
                                      "p001_working_set_pages=2048_description=a-description-of-"
                                      "thirty-chars-"}));
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

TEST(SweepExpand, TheBuiltInDefaultIsASweepWhosePointsRunWithoutAFile) {
  const std::optional<Sweep> sweep = default_sweep({"run.seed=4"});
  ASSERT_TRUE(sweep.has_value());
  EXPECT_TRUE(sweep->built_in);
  EXPECT_EQ(sweep->name, kDefaultConfigName);
  EXPECT_EQ(sweep->config_path, "");
  EXPECT_EQ(overrides_of(*sweep),
            (std::vector<std::vector<std::string>>{{"vmalloc.lazy_max_pages_mode=fixed"},
                                                   {"vmalloc.lazy_max_pages_mode=linux"}}));
  EXPECT_EQ(dirs_of(*sweep), (std::vector<std::string>{"p000_vmalloc.lazy_max_pages_mode=fixed",
                                                       "p001_vmalloc.lazy_max_pages_mode=linux"}));
  // Point 0 purges at every lazy free; point 1 is Linux 4.19.
  const ExperimentConfig eager = point_config(*sweep, 0);
  EXPECT_EQ(eager.vmalloc.lazy_max_pages_mode, vmalloc::LazyMaxPages::kFixed);
  EXPECT_EQ(eager.vmalloc.lazy_max_pages, 0u);
  EXPECT_EQ(eager.run.seed, 4u);
  EXPECT_EQ(point_config(*sweep, 1).vmalloc.lazy_max_pages_mode, vmalloc::LazyMaxPages::kLinux);
  // Its points run as `mmusim --point K`, from any folder.
  EXPECT_EQ(point_command(*sweep, 1, "/bin/mmusim", "/o/p001"),
            (std::vector<std::string>{"/bin/mmusim", "--point", "1", "--out", "/o/p001", "-q",
                                      "--set", "run.seed=4"}));
  const std::string script = slurm_script(*sweep, "/bin/mmusim", "/o");
  EXPECT_NE(script.find("\nexec /bin/mmusim --point \"$SLURM_ARRAY_TASK_ID\" --out /o/\"$dir\" -q "
                        "--set run.seed=4\n"),
            std::string::npos)
      << script;
  EXPECT_NE(script.find("# The sweep of configs/default.json (built in):\n"), std::string::npos);
  const Sweep back = sweep_from_json(sweep_to_json(*sweep).dump(2), "out/sweep.json");
  EXPECT_TRUE(back.built_in);
  EXPECT_EQ(point_command(back, 0, "/bin/mmusim", "/o/p000"),
            point_command(*sweep, 0, "/bin/mmusim", "/o/p000"));
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
                     "tlb_maintenance_cycles",
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
                     "areas_allocated",
                     "vmap_blocks_created",
                     "kernel_warnings",
                     "kernel_bugs"};
  ASSERT_EQ(results.rows[0].size(), results.columns.size());
  // flush 10+20+30+40+50 = 150; with invalidation 250, per CPU 250 / 3 = 83.3333; miss rate
  // 1/3.
  EXPECT_EQ(results_csv(results).substr(results_csv(results).find('\n') + 1),
            "1,p001_platform.cpus=3_description=a+b,3,\"a,b\",max_ops,3,3000,1.23457e-06,77,5,"
            "1,4,10,1234.57,2000,150,250,83.3333,9000,3,1,0.333333,400,0,0,0,0,0,0,0,0,0,2,1\n");
  const auto json = nlohmann::json::parse(results_json(results));
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0]["platform.cpus"], 3);
  EXPECT_EQ(json[0]["description"], "a,b");
  EXPECT_EQ(json[0]["stop_reason"], "max_ops");
  EXPECT_DOUBLE_EQ(json[0]["tlb_miss_rate"].get<double>(), 0.333333);
  EXPECT_EQ(json[0]["frees"], 0);
  EXPECT_EQ(results_json(SweepResults{}), "[]\n");
}

// A results row with the columns the summary table reads (the others it ignores).
std::vector<SweepResults::Cell> table_row(const std::vector<std::string>& texts) {
  std::vector<SweepResults::Cell> row;
  for (const std::string& text : texts)
    row.push_back({text, text});
  return row;
}

const std::vector<std::string> kTableColumns = {"point",
                                                "dir",
                                                "stop_reason",
                                                "cpus",
                                                "sim_seconds",
                                                "shootdowns",
                                                "shootdowns_full",
                                                "ipis_sent",
                                                "tlb_maintenance_cycles",
                                                "busy_cycles",
                                                "tlb_misses"};

SweepResults table_results(const std::string& key,
                           const std::vector<std::vector<std::string>>& rows) {
  SweepResults results;
  results.columns = kTableColumns;
  results.columns.insert(results.columns.begin() + 2, key);
  for (const auto& row : rows)
    results.rows.push_back(table_row(row));
  return results;
}

const std::string kTableLegend =
    "  shootdowns: kernel TLB flushes started (full flushes: those that flush everything);\n"
    "  TLB maint./CPU: cycles per CPU spent sending, waiting for and doing flushes, in IPI\n"
    "  handlers, waking up for them and in invalidation instructions (% busy: their share of\n"
    "  busy cycles); walks: page walks, refills after flushes included\n";

TEST(SweepTable, TwoPointsWithTheSecondAgainstTheFirst) {
  // Eager against lazy on 4 CPUs. Per CPU 400000 / 4 = 100000 and 40000 / 4 = 10000 cycles;
  // of the busy cycles 400000 / 4000000 = 10% and 40000 / 3200000 = 1.25%.
  const SweepResults results = table_results(
      "vmalloc.lazy_max_pages_mode", {{"0", "p000", "fixed", "completed", "4", "0.0125", "1000",
                                       "250", "3000", "400000", "4000000", "50000"},
                                      {"1", "p001", "linux", "completed", "4", "0.01", "10", "5",
                                       "30", "40000", "3200000", "20000"}});
  // Differences: -990, -2970, -245, -90000 cycles, -8.75 percentage points, -30000 walks,
  // -2.5 ms; ratios 0.01, 0.01, 0.02, 0.1, 0.125, 0.4, 0.8.
  EXPECT_EQ(sweep_table(results, SweepCompare::kAuto, 40),
            "  point  lazy_max_pages_mode  shootdowns    IPIs  full flushes  TLB maint./CPU    "
            "% busy    walks  simulated\n"
            "      0  fixed                     1,000   3,000           250         100,000    "
            "10.00%   50,000  12.500 ms\n"
            "      1  linux                        10      30             5          10,000     "
            "1.25%   20,000  10.000 ms\n"
            "  1 - 0                             -990  -2,970          -245         -90,000  "
            "-8.75 pp  -30,000  -2.500 ms\n"
            "  1 / 0                            0.01x   0.01x         0.02x            0.1x    "
            "0.125x     0.4x       0.8x\n" +
                kTableLegend +
                "  1 - 0, 1 / 0: point 1's difference from point 0 and its ratio to it\n");
  // "none" shows the points only.
  const std::string points_only = sweep_table(results, SweepCompare::kNone, 40);
  EXPECT_EQ(points_only.find(" - 0"), std::string::npos) << points_only;
  EXPECT_NE(points_only.find("      1  linux  "), std::string::npos) << points_only;
}

TEST(SweepTable, EveryPointAgainstTheFirstCompletedOneAndRunsThatStopped) {
  // Point 0 failed: the first row, point 1, is the reference. It started no flush, so no ratio
  // can be taken of those columns. Point 2 stopped at run.max_ops: a "stopped" column appears.
  const SweepResults results = table_results(
      "platform.cpus",
      {{"1", "p001", "2", "completed", "2", "0.5", "0", "0", "0", "0", "1000", "100"},
       {"2", "p002", "4", "max_ops", "4", "1.5", "4", "2", "12", "400", "4000", "300"}});
  EXPECT_EQ(sweep_table(results, SweepCompare::kFirst, 40),
            "  point  cpus  shootdowns  IPIs  full flushes  TLB maint./CPU     % busy  walks  "
            "simulated  stopped\n"
            "      1  2              0     0             0               0      0.00%    100    "
            "0.500 s  completed\n"
            "      2  4              4    12             2             100     10.00%    300    "
            "1.500 s  max_ops\n"
            "  2 - 1                +4   +12            +2            +100  +10.00 pp   +200   "
            "+1.000 s\n"
            "  2 / 1                 -     -             -               -          -     3x     "
            "    3x\n" +
                kTableLegend +
                "  2 - 1, 2 / 1: point 2's difference from point 1 and its ratio to it\n");
  // With two points "auto" compares too; past max_rows the rest are only counted.
  EXPECT_EQ(sweep_table(results, SweepCompare::kAuto, 40),
            sweep_table(results, SweepCompare::kFirst, 40));
  const std::string first_only = sweep_table(results, SweepCompare::kNone, 1);
  EXPECT_NE(first_only.find("\n  ... and 1 more in results.csv\n"), std::string::npos)
      << first_only;
  EXPECT_EQ(first_only.find("max_ops"), std::string::npos) << first_only;
  EXPECT_EQ(sweep_table(SweepResults{}, SweepCompare::kAuto, 40), "");
}

}  // namespace
}  // namespace mmusim::sim
