// The mmusim binary as a user runs it: commands, exit statuses, messages, output files, and
// determinism across runs.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/cli_fixture.h"

namespace {

namespace fs = std::filesystem;
using mmusim::test_support::CliFixture;
using mmusim::test_support::Outcome;
using mmusim::test_support::slurp;

// One plain run at the hardware level, for the tests of a run's behaviour (the default
// experiment is a sweep): 4 CPUs, each with its own working set, a few 2 MiB pages and a
// shared region, now and then remapping a page with an INVLPG.
constexpr const char* kHardwareConfig = R"({
  "platform": {"cpus": 4, "frequency_mhz": 3000},
  "workload": {"kind": "hw_synthetic"},
  "run": {"seed": 1}
})";

// A fresh working folder per test.
class Cli : public CliFixture {
 protected:
  Cli() : CliFixture("mmusim_e2e") {}
  void SetUp() override {
    CliFixture::SetUp();
    write("hw.json", kHardwareConfig);
  }

  // stats.json without its "host" section, the only part allowed to differ between runs.
  std::string stats_without_host(const std::string& out_dir) {
    auto stats = nlohmann::ordered_json::parse(slurp(dir_ / out_dir / "stats.json"));
    EXPECT_TRUE(stats.contains("host"));
    stats.erase("host");
    return stats.dump(1);
  }
};

constexpr const char* kSmall = "run hw.json --set workload.hw_synthetic.accesses_per_cpu=500";

// The default experiment at a tiny scale: 3 iterations per CPU instead of 1000.
constexpr const char* kTinyDefault = "--set workload.scenarios.iterations_per_cpu=3";
constexpr const char* kEagerPoint = "p000_vmalloc.lazy_max_pages_mode=fixed";
constexpr const char* kLazyPoint = "p001_vmalloc.lazy_max_pages_mode=linux";

std::string with_commas(std::uint64_t value) {
  std::string digits = std::to_string(value);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3)
    digits.insert(static_cast<std::size_t>(i), ",");
  return digits;
}

constexpr const char* kTwoCpuTrace = R"(mmusim-trace 1
# Two CPUs sharing one page; CPU 1 remaps it and flushes its own TLB only.
cpus 2
boot map 0xffffc90000000000 16KiB global
0 load 0xffffc90000000000
1 store 0xffffc90000001000
0 touch 0xffffc90000000000 16KiB stride=1024
1 unmap 0xffffc90000001000 4096
1 invlpg 0xffffc90000001000
1 map 0xffffc90000001000 4096 global nx
0 compute 300
1 load 0xffffc90000001000
0 store 0xffffc90000003000
)";

TEST_F(Cli, NoArgumentsRunsTheBuiltInDefaultSweepFromAnyFolder) {
  const Outcome run = mmusim(kTinyDefault);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.err, "");
  // Two points: eager purging, then Linux 4.19's lazy purging, each a run on 16 CPUs.
  for (const char* point : {kEagerPoint, kLazyPoint}) {
    SCOPED_TRACE(point);
    const auto stats = nlohmann::json::parse(slurp(dir_ / "out" / point / "stats.json"));
    EXPECT_EQ(stats["sim"]["cpus"], 16);
    EXPECT_EQ(stats["sim"]["stop_reason"], "completed");
    const auto config = nlohmann::json::parse(slurp(dir_ / "out" / point / "config.json"));
    EXPECT_EQ(config["platform"]["topology"]["sockets"], 2);
    EXPECT_EQ(config["workload"]["kind"], "scenarios");
    EXPECT_EQ(config["workload"]["scenarios"]["iterations_per_cpu"], 3);
    EXPECT_GT(config["workload"]["background"]["pages"].get<int>(), 0);
  }
  const auto eager_config =
      nlohmann::json::parse(slurp(dir_ / "out" / kEagerPoint / "config.json"));
  EXPECT_EQ(eager_config["vmalloc"]["lazy_max_pages_mode"], "fixed");
  EXPECT_EQ(eager_config["vmalloc"]["lazy_max_pages"], 0);
  const auto lazy_config = nlohmann::json::parse(slurp(dir_ / "out" / kLazyPoint / "config.json"));
  EXPECT_EQ(lazy_config["vmalloc"]["lazy_max_pages_mode"], "linux");

  // The eager kernel purges at lazy frees, each purge one kernel TLB flush (this mix has no
  // other shootdowns); 4.19 lets fls(16) x 32 MiB = 40960 pages wait, far more than 3
  // iterations per CPU free, so it never purges.
  const auto eager = nlohmann::json::parse(slurp(dir_ / "out" / kEagerPoint / "stats.json"));
  const auto lazy = nlohmann::json::parse(slurp(dir_ / "out" / kLazyPoint / "stats.json"));
  const auto eager_shootdowns = eager["total"]["shootdown"]["started"].get<std::uint64_t>();
  EXPECT_GT(eager["vmalloc"]["purges"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(eager_shootdowns, eager["vmalloc"]["purges"].get<std::uint64_t>());
  EXPECT_EQ(lazy["vmalloc"]["purges"], 0);
  EXPECT_EQ(lazy["total"]["shootdown"]["started"], 0);
  EXPECT_EQ(eager["vmalloc"]["lazy_frees"], lazy["vmalloc"]["lazy_frees"]);

  // The summary: a row per point, then the lazy point against the eager one.
  EXPECT_EQ(run.out.rfind("sweep: 2 of 2 points completed\n  point  lazy_max_pages_mode  "
                          "shootdowns",
                          0),
            0u)
      << run.out;
  const std::string eager_row = "\n      0  fixed  ";
  const std::string lazy_row = "\n      1  linux  ";
  ASSERT_NE(run.out.find(eager_row), std::string::npos) << run.out;
  ASSERT_NE(run.out.find(lazy_row), std::string::npos) << run.out;
  const std::string eager_line = run.out.substr(run.out.find(eager_row) + eager_row.size());
  EXPECT_EQ(eager_line.substr(eager_line.find_first_not_of(' '),
                              with_commas(eager_shootdowns).size() + 1),
            with_commas(eager_shootdowns) + " ")
      << run.out;
  const std::string difference = "\n  1 - 0  ";
  ASSERT_NE(run.out.find(difference), std::string::npos) << run.out;
  const std::string difference_line = run.out.substr(run.out.find(difference) + difference.size());
  EXPECT_EQ(difference_line.substr(difference_line.find_first_not_of(' '),
                                   with_commas(eager_shootdowns).size() + 2),
            "-" + with_commas(eager_shootdowns) + " ")
      << run.out;
  EXPECT_NE(run.out.find("\n  1 / 0  "), std::string::npos) << run.out;

  const auto definition = nlohmann::json::parse(slurp(dir_ / "out" / "sweep.json"));
  EXPECT_EQ(definition["config"], "configs/default.json (built in)");
  EXPECT_EQ(definition["built_in"], true);
  EXPECT_NE(slurp(dir_ / "out" / "results.csv").find("\n1," + std::string(kLazyPoint) + ",linux,"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "out" / "results.csv.tmp"));

  // One point runs alone, as a plain run, to the same statistics.
  const Outcome point = mmusim(std::string(kTinyDefault) + " --point 1 --out lazy");
  ASSERT_EQ(point.status, 0) << point.err;
  EXPECT_NE(point.out.find("configs/default.json (built in), point 1 "
                           "(vmalloc.lazy_max_pages_mode=linux)"),
            std::string::npos)
      << point.out;
  EXPECT_EQ(stats_without_host("lazy"), stats_without_host(std::string("out/") + kLazyPoint));

  // Quiet, and both points at once: nothing printed, the same results.
  const Outcome quiet = mmusim(std::string(kTinyDefault) + " --jobs 2 -q --out again");
  ASSERT_EQ(quiet.status, 0) << quiet.err;
  EXPECT_EQ(quiet.out, "");
  EXPECT_EQ(quiet.err, "");
  EXPECT_EQ(slurp(dir_ / "again" / "results.csv"), slurp(dir_ / "out" / "results.csv"));
}

TEST_F(Cli, DefaultSweepTakesTheSweepOptions) {
  const Outcome record = mmusim("--record x.trace");
  EXPECT_EQ(record.status, 2);
  EXPECT_NE(record.err.find("give --point K as well"), std::string::npos) << record.err;
  const Outcome beyond = mmusim("--point 2");
  EXPECT_EQ(beyond.status, 2);
  EXPECT_EQ(
      beyond.err,
      "mmusim: --point 2: the sweep of configs/default.json (built in) has 2 points (0..1)\n");
  EXPECT_FALSE(fs::exists(dir_ / "out"));
  // The jobs a cluster would run: the binary with --point, no configuration file.
  const Outcome jobs = mmusim("--emit-jobs --out cluster");
  ASSERT_EQ(jobs.status, 0) << jobs.err;
  const std::string binary = fs::canonical(MMUSIM_BINARY).string();
  EXPECT_EQ(jobs.out, binary + " --point 0 --out " + (dir_ / "cluster" / kEagerPoint).string() +
                          " -q\n" + binary + " --point 1 --out " +
                          (dir_ / "cluster" / kLazyPoint).string() + " -q\n");
}

TEST_F(Cli, ValidateWithoutAFileChecksTheBuiltInDefault) {
  const Outcome good = mmusim("validate");
  EXPECT_EQ(good.status, 0) << good.err;
  EXPECT_EQ(good.out, "configs/default.json (built in): valid (a sweep of 2 points)\n");
  const Outcome bad = mmusim("validate --set platform.cpus=2000");
  EXPECT_EQ(bad.status, 2);
  EXPECT_EQ(bad.err,
            "mmusim: configs/default.json (built in) (with --set): /platform/cpus: expected an "
            "integer (1..1024), got 2000\n");
  EXPECT_EQ(mmusim("validate a.json b.json").status, 2);
}

TEST_F(Cli, ReplayWithoutAConfigRunsOnTheDefaultMachineSizedForTheTrace) {
  // Three CPUs cannot sit evenly on the default's two sockets: the trace's CPUs go on one.
  write("three.trace", "mmusim-trace 1\ncpus 3\n0 compute 10\n2 compute 20\n");
  ASSERT_EQ(mmusim("replay three.trace --out three -q").status, 0);
  const auto three = nlohmann::json::parse(slurp(dir_ / "three" / "config.json"));
  EXPECT_EQ(three["platform"]["cpus"], 3);
  EXPECT_EQ(three["platform"]["topology"]["sockets"], 1);
  EXPECT_EQ(three["platform"]["frequency_mhz"], 3000);
  EXPECT_EQ(three["workload"]["kind"], "trace");
  // Without a "cpus" line, the default machine as it is: 16 CPUs on two sockets.
  write("any.trace", "mmusim-trace 1\n0 compute 10\n");
  ASSERT_EQ(mmusim("replay any.trace --out any -q").status, 0);
  const auto any = nlohmann::json::parse(slurp(dir_ / "any" / "config.json"));
  EXPECT_EQ(any["platform"]["cpus"], 16);
  EXPECT_EQ(any["platform"]["topology"]["sockets"], 2);
  EXPECT_EQ(nlohmann::json::parse(slurp(dir_ / "any" / "stats.json"))["sim"]["cycles"], 10);
}

TEST_F(Cli, ReplayOnASweepsConfigurationTakesWhatItsPointsShare) {
  write("two.trace", kTwoCpuTrace);
  write("sweep.json", R"({"platform": {"cpus": 2}, "sweep": {"flush.mechanism": ["invlpgb"]}})");
  const Outcome replay = mmusim("replay two.trace --config sweep.json --out replayed -q");
  ASSERT_EQ(replay.status, 0) << replay.err;
  const auto config = nlohmann::json::parse(slurp(dir_ / "replayed" / "config.json"));
  EXPECT_EQ(config["platform"]["cpus"], 2);
  EXPECT_EQ(config["flush"]["mechanism"], "ipi");  // the base's: the swept key is not set
}

TEST_F(Cli, ResolvedConfigRunsAgainToTheSameStats) {
  ASSERT_EQ(mmusim(std::string(kSmall) + " --out first -q").status, 0);
  const Outcome again = mmusim("run first/config.json --out second -q");
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(stats_without_host("first"), stats_without_host("second"));
}

TEST_F(Cli, HelpVersionAndList) {
  Outcome help = mmusim("--help");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("mmusim run CONFIG.json"), std::string::npos);
  EXPECT_NE(help.out.find("--set"), std::string::npos);
  Outcome version = mmusim("--version");
  EXPECT_EQ(version.status, 0);
  EXPECT_EQ(version.out, "mmusim 0.1.0\n");
  Outcome list = mmusim("list");
  EXPECT_EQ(list.status, 0);
  EXPECT_NE(list.out.find("tlb.stlb.ways"), std::string::npos);
  EXPECT_NE(list.out.find("hw_synthetic"), std::string::npos);
  EXPECT_NE(list.out.find("plru"), std::string::npos);
  EXPECT_NE(list.out.find("translation.stale_hits"), std::string::npos);
}

TEST_F(Cli, BadUsageExitsWithTwo) {
  Outcome unknown = mmusim("frobnicate");
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.err.find("unknown command 'frobnicate'"), std::string::npos) << unknown.err;
  EXPECT_EQ(mmusim("run").status, 2);
  EXPECT_EQ(mmusim("--no-such-option").status, 2);
  Outcome missing = mmusim("run nowhere.json");
  EXPECT_EQ(missing.status, 2);
  EXPECT_EQ(missing.err, "mmusim: nowhere.json: cannot open the configuration file\n");
  EXPECT_FALSE(fs::exists(dir_ / "out"));
}

TEST_F(Cli, BadConfigIsRejectedWithEveryPathAndNothingIsWritten) {
  write("bad.json", R"({"platform": {"cpus": 0}, "tlb": {"stlb": {"wayz": 4}}})");
  const Outcome run = mmusim("run bad.json");
  EXPECT_EQ(run.status, 2);
  EXPECT_EQ(run.err,
            "mmusim: bad.json: /platform/cpus: expected an integer (1..1024), got 0\n"
            "mmusim: bad.json: /tlb/stlb/wayz: unknown key (known here: sets, ways, page_sizes, "
            "latency, replacement)\n");
  EXPECT_EQ(run.out, "");
  EXPECT_FALSE(fs::exists(dir_ / "out"));
}

TEST_F(Cli, JsonSyntaxErrorNamesLineAndColumn) {
  write("broken.json", "{\n  \"run\": {\"seed\": 3,}\n}\n");
  const Outcome run = mmusim("validate broken.json");
  EXPECT_EQ(run.status, 2);
  EXPECT_EQ(run.err.rfind("mmusim: broken.json:2:21: JSON syntax error", 0), 0u) << run.err;
}

TEST_F(Cli, ValidateAcceptsAndRejects) {
  write("good.json", R"({"platform": {"cpus": 8}})");
  const Outcome good = mmusim("validate good.json");
  EXPECT_EQ(good.status, 0);
  EXPECT_EQ(good.out, "good.json: valid\n");
  const Outcome bad = mmusim("validate good.json --set platform.cpus=2000");
  EXPECT_EQ(bad.status, 2);
  EXPECT_EQ(bad.err,
            "mmusim: good.json (with --set): /platform/cpus: expected an integer (1..1024), got "
            "2000\n");
}

TEST_F(Cli, SetOverridesReachTheRunAndTheResolvedConfig) {
  const Outcome run = mmusim(std::string(kSmall) + " --set platform.cpus=2 --seed 7 -q");
  ASSERT_EQ(run.status, 0) << run.err;
  const auto stats = nlohmann::json::parse(slurp(dir_ / "out" / "stats.json"));
  EXPECT_EQ(stats["sim"]["cpus"], 2);
  const auto config = nlohmann::json::parse(slurp(dir_ / "out" / "config.json"));
  EXPECT_EQ(config["platform"]["cpus"], 2);
  EXPECT_EQ(config["run"]["seed"], 7);
  EXPECT_EQ(config["workload"]["hw_synthetic"]["accesses_per_cpu"], 500);
  const Outcome unknown = mmusim("--set platform.cores=2");
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.err.find("unknown key 'platform.cores'"), std::string::npos) << unknown.err;
}

TEST_F(Cli, MalformedTraceIsRejectedWithFileAndLine) {
  write("bad.trace", "mmusim-trace 1\ncpus 1\n0 load 0x1000\n0 invpcid 9999\n");
  const Outcome run = mmusim("replay bad.trace");
  EXPECT_EQ(run.status, 2);
  EXPECT_EQ(run.err, "mmusim: bad.trace:4: invpcid: INVPCID type 9999 is above the maximum 255\n");
  EXPECT_FALSE(fs::exists(dir_ / "out"));
}

TEST_F(Cli, TraceForMoreCpusThanTheConfigIsRejected) {
  write("four.trace", "mmusim-trace 1\ncpus 4\n0 compute 1\n");
  write("two.json", R"({"platform": {"cpus": 2}})");
  const Outcome run = mmusim("replay four.trace --config two.json");
  EXPECT_EQ(run.status, 2);
  EXPECT_NE(run.err.find("the trace is for 4 CPUs but the platform has 2"), std::string::npos)
      << run.err;
}

TEST_F(Cli, SameTraceTwiceGivesIdenticalStats) {
  write("two.trace", kTwoCpuTrace);
  ASSERT_EQ(mmusim("replay two.trace --out a -q").status, 0);
  ASSERT_EQ(mmusim("replay two.trace --out b -q").status, 0);
  EXPECT_EQ(slurp(dir_ / "a" / "stats.json").size() > 0, true);
  EXPECT_EQ(stats_without_host("a"), stats_without_host("b"));
  const auto stats = nlohmann::json::parse(slurp(dir_ / "a" / "stats.json"));
  EXPECT_EQ(stats["sim"]["cpus"], 2);  // from the trace's "cpus" line
  EXPECT_EQ(stats["total"]["ops"]["touch_accesses"], 16);
}

TEST_F(Cli, QuantumZeroAndDefaultAgreeOnOneCpu) {
  write("one.trace",
        "mmusim-trace 1\ncpus 1\nboot map 0xffffc90000000000 2MiB page=2m global\n"
        "0 touch 0xffffc90000000000 2MiB stride=4096\n0 store 0xffffc900001ff000\n"
        "0 invlpg 0xffffc90000000000\n0 load 0xffffc90000000000\n");
  ASSERT_EQ(mmusim("replay one.trace --out decoupled -q").status, 0);
  ASSERT_EQ(mmusim("replay one.trace --out exact --set run.quantum_cycles=0 -q").status, 0);
  EXPECT_EQ(stats_without_host("decoupled"), stats_without_host("exact"));
}

TEST_F(Cli, RecordedRunReplaysToTheSameStats) {
  ASSERT_EQ(mmusim(std::string(kSmall) + " --out original --record run.trace -q").status, 0);
  ASSERT_TRUE(fs::exists(dir_ / "run.trace"));
  EXPECT_FALSE(fs::exists(dir_ / "run.trace.tmp"));
  const Outcome replay = mmusim("replay run.trace --config original/config.json --out replayed -q");
  ASSERT_EQ(replay.status, 0) << replay.err;
  EXPECT_EQ(stats_without_host("original"), stats_without_host("replayed"));
}

constexpr const char* kGuestTrace = R"(mmusim-trace 1
# CPU 0 allocates and fills a buffer; CPU 1 frees it from an interrupt handler.
cpus 2
boot vm_area_register_early $early 64KiB
0 vmalloc $buf 64KiB
0 touch $buf store
0 vmallocinfo
1 compute 100000
1 irq {
1 vfree $buf
1 }
1 vm_map_ram $m 4
1 vm_unmap_ram $m
0 compute 200000
0 vm_unmap_aliases
)";

TEST_F(Cli, GuestRunWritesVmallocinfoAndReplaysFromItsRecording) {
  write("guest.trace", kGuestTrace);
  const Outcome run = mmusim("replay guest.trace --out original --record run.trace");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("  vmalloc        "), std::string::npos) << run.out;
  // The snapshot has the early area (no caller, as percpu's static vm_struct) and the buffer;
  // at the end only the early area is left.
  EXPECT_EQ(slurp(dir_ / "original" / "vmallocinfo.1.txt"),
            "0xffffc90000000000-0xffffc90000010000   65536 vmalloc\n"
            "0xffffc90000010000-0xffffc90000021000   69632 vmalloc pages=16 vmalloc N0=16\n");
  EXPECT_EQ(slurp(dir_ / "original" / "vmallocinfo.txt"),
            "0xffffc90000000000-0xffffc90000010000   65536 vmalloc\n");
  const Outcome replay = mmusim("replay run.trace --config original/config.json --out replayed -q");
  ASSERT_EQ(replay.status, 0) << replay.err;
  EXPECT_EQ(stats_without_host("original"), stats_without_host("replayed"));
  EXPECT_EQ(slurp(dir_ / "original" / "vmallocinfo.1.txt"),
            slurp(dir_ / "replayed" / "vmallocinfo.1.txt"));
}

TEST_F(Cli, SixtyFourCpusFinishTogetherWithoutSystemCWarnings) {
  // Every CPU must leave its idle loop when the last one finishes, even one that was catching
  // up with global time at that moment; otherwise the run ends with suspended threads and
  // SystemC warns about an idle sc_start().
  const Outcome run = mmusim(
      "run hw.json --set platform.cpus=64 --set workload.hw_synthetic.accesses_per_cpu=5000 -q");
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(run.err, "");
}

TEST_F(Cli, FailedRunLeavesThePreviousResultAlone) {
  ASSERT_EQ(mmusim(std::string(kSmall) + " -q").status, 0);
  const std::string before = slurp(dir_ / "out" / "stats.json");
  write("bad.trace", "mmusim-trace 1\n0 load 0x1000\n0 bogus\n");
  EXPECT_EQ(mmusim("replay bad.trace").status, 2);
  EXPECT_EQ(slurp(dir_ / "out" / "stats.json"), before);
}

}  // namespace
