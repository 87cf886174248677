// Parameter sweeps through the mmusim binary: one folder per point, the results files, --jobs,
// --point, the jobs emitted for GNU parallel and Slurm, `collect`, and failed points.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/cli_fixture.h"

namespace {

namespace fs = std::filesystem;
using mmusim::test_support::CliFixture;
using mmusim::test_support::Outcome;
using mmusim::test_support::slurp;
using nlohmann::json;

// CPU 0 allocates, fills and frees three 16 KiB buffers. With lazy_max_pages fixed at 0 every
// lazy free purges at once: 3 purges of one area of 4 pages and its guard page, each a
// single-range kernel TLB flush that every other CPU must take (by IPI), or one INVLPGB.
constexpr const char* kGuestTrace = R"(mmusim-trace 1
cpus 1
0 vmalloc $a 16KiB
0 touch $a store
0 vfree $a
0 vmalloc $b 16KiB
0 touch $b store
0 vfree $b
0 vmalloc $c 16KiB
0 touch $c store
0 vfree $c
)";

constexpr const char* kSweep = R"(// 2 x 2 points
{
  "workload": {"kind": "trace", "trace": {"path": "guest.trace"}},
  "vmalloc": {"lazy_max_pages_mode": "fixed", "lazy_max_pages": 0},
  "sweep": {"platform.cpus": [2, 4], "flush.mechanism": ["ipi", "invlpgb"]}
}
)";

const std::vector<std::string> kDirs = {
    "p000_platform.cpus=2_flush.mechanism=ipi",
    "p001_platform.cpus=2_flush.mechanism=invlpgb",
    "p002_platform.cpus=4_flush.mechanism=ipi",
    "p003_platform.cpus=4_flush.mechanism=invlpgb",
};

class Sweep : public CliFixture {
 protected:
  Sweep() : CliFixture("mmusim_sweep") {}
  void SetUp() override {
    CliFixture::SetUp();
    write("guest.trace", kGuestTrace);
    write("sweep.json", kSweep);
  }

  json stats(const fs::path& folder) { return json::parse(slurp(dir_ / folder / "stats.json")); }
  std::string stats_without_host(const fs::path& folder) {
    json all = stats(folder);
    EXPECT_TRUE(all.contains("host"));
    all.erase("host");
    return all.dump(1);
  }

  // results.csv as rows of fields (no field of these sweeps holds a comma).
  std::vector<std::vector<std::string>> csv(const fs::path& file) {
    std::vector<std::vector<std::string>> rows;
    std::istringstream lines(slurp(dir_ / file));
    std::string line;
    while (std::getline(lines, line)) {
      std::vector<std::string> fields;
      std::istringstream cells(line);
      std::string cell;
      while (std::getline(cells, cell, ','))
        fields.push_back(cell);
      rows.push_back(fields);
    }
    return rows;
  }
};

TEST_F(Sweep, TwoByTwoWritesAFolderPerPointAndResultsMatchingThem) {
  const Outcome run = mmusim("run sweep.json --out out -q");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, "");  // no progress: stderr is not a terminal
  for (const std::string& dir : kDirs) {
    EXPECT_TRUE(fs::exists(dir_ / "out" / dir / "stats.json")) << dir;
    EXPECT_TRUE(fs::exists(dir_ / "out" / dir / "config.json")) << dir;
  }
  EXPECT_FALSE(fs::exists(dir_ / "out" / "failed.txt"));

  const auto rows = csv("out/results.csv");
  ASSERT_EQ(rows.size(), 5u);
  const std::vector<std::string> header = {"point",
                                           "dir",
                                           "platform.cpus",
                                           "flush.mechanism",
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
  EXPECT_EQ(rows[0], header);
  const json results = json::parse(slurp(dir_ / "out" / "results.json"));
  ASSERT_EQ(results.size(), 4u);

  for (std::size_t p = 0; p < 4; ++p) {
    SCOPED_TRACE(kDirs[p]);
    std::map<std::string, std::string> row;
    for (std::size_t c = 0; c < header.size(); ++c)
      row[header[c]] = rows[p + 1].at(c);
    const int cpus = p < 2 ? 2 : 4;
    const bool ipi = p % 2 == 0;
    // Worked out from the trace: 9 ops; 3 vfree()s, each lazy and purged at once, a purge
    // releasing 5 pages (16 KiB and the guard page) with one range flush; an IPI to every
    // other CPU per flush, or none with INVLPGB; 4 translations per touch of 16 KiB.
    EXPECT_EQ(row["point"], std::to_string(p));
    EXPECT_EQ(row["dir"], kDirs[p]);
    EXPECT_EQ(row["platform.cpus"], std::to_string(cpus));
    EXPECT_EQ(row["flush.mechanism"], ipi ? "ipi" : "invlpgb");
    EXPECT_EQ(row["stop_reason"], "completed");
    EXPECT_EQ(row["cpus"], std::to_string(cpus));
    EXPECT_EQ(row["ops"], "9");
    EXPECT_EQ(row["frees"], "3");
    EXPECT_EQ(row["lazy_frees"], "3");
    EXPECT_EQ(row["purges"], "3");
    EXPECT_EQ(row["pages_purged"], "15");
    EXPECT_EQ(row["areas_allocated"], "3");
    EXPECT_EQ(row["vmap_blocks_created"], "0");
    EXPECT_EQ(row["shootdowns"], "3");
    EXPECT_EQ(row["shootdowns_pages"], "3");
    EXPECT_EQ(row["shootdowns_full"], "0");
    EXPECT_EQ(row["ipis_sent"], std::to_string(ipi ? 3 * (cpus - 1) : 0));
    EXPECT_EQ(row["translations"], "12");
    EXPECT_EQ(row["stale_tlb_hits"], "0");
    EXPECT_EQ(row["kernel_warnings"], "0");

    // The rest as the point's own stats.json has it.
    const json s = stats(fs::path("out") / kDirs[p]);
    const json& cycles = s["total"]["cycles"];
    const auto flush =
        cycles["flush_send"].get<std::uint64_t>() + cycles["flush_spin"].get<std::uint64_t>() +
        cycles["flush_local"].get<std::uint64_t>() + cycles["ipi_handling"].get<std::uint64_t>() +
        cycles["idle_wakeup"].get<std::uint64_t>();
    EXPECT_EQ(row["sim_cycles"], std::to_string(s["sim"]["cycles"].get<std::uint64_t>()));
    EXPECT_EQ(row["busy_cycles"], std::to_string(cycles["busy"].get<std::uint64_t>()));
    EXPECT_EQ(row["walk_cycles"], std::to_string(cycles["walk"].get<std::uint64_t>()));
    EXPECT_EQ(row["flush_cycles"], std::to_string(flush));
    EXPECT_EQ(row["tlb_maintenance_cycles"],
              std::to_string(flush + cycles["invalidation"].get<std::uint64_t>()));
    EXPECT_EQ(row["tlb_misses"],
              std::to_string(s["total"]["translation"]["misses"].get<std::uint64_t>()));
    EXPECT_EQ(row["shootdown_latency_p99"],
              std::to_string(s["shootdowns"]["latency_cycles"]["p99"].get<std::uint64_t>()));
    EXPECT_GT(flush, 0u);

    // results.json: the same values, numbers as numbers.
    const json& entry = results[p];
    EXPECT_EQ(entry["point"], p);
    EXPECT_EQ(entry["dir"], kDirs[p]);
    EXPECT_EQ(entry["platform.cpus"], cpus);
    EXPECT_EQ(entry["flush.mechanism"], ipi ? "ipi" : "invlpgb");
    EXPECT_EQ(entry["sim_cycles"], s["sim"]["cycles"]);
    EXPECT_EQ(entry["flush_cycles"], flush);
    EXPECT_EQ(entry["ipis_sent"], ipi ? 3 * (cpus - 1) : 0);
    EXPECT_EQ(entry.size(), header.size());
  }

  // sweep.json names the configuration, the points and their folders.
  const json definition = json::parse(slurp(dir_ / "out" / "sweep.json"));
  EXPECT_EQ(definition["config"], (dir_ / "sweep.json").string());
  EXPECT_EQ(definition["points"].size(), 4u);
  EXPECT_EQ(definition["points"][3]["dir"], kDirs[3]);
}

TEST_F(Sweep, TwoJobsGiveByteIdenticalResults) {
  ASSERT_EQ(mmusim("run sweep.json --out one -q").status, 0);
  const Outcome two = mmusim("run sweep.json --out two --jobs 2 -q");
  ASSERT_EQ(two.status, 0) << two.err;
  EXPECT_EQ(slurp(dir_ / "one" / "results.csv"), slurp(dir_ / "two" / "results.csv"));
  EXPECT_EQ(slurp(dir_ / "one" / "results.json"), slurp(dir_ / "two" / "results.json"));
  for (const std::string& dir : kDirs) {
    EXPECT_EQ(stats_without_host(fs::path("one") / dir), stats_without_host(fs::path("two") / dir))
        << dir;
  }
}

TEST_F(Sweep, JobsAreBounded) {
  // Points run at once, each a process of its own: 1 to 256.
  for (const char* jobs : {"0", "257"}) {
    const Outcome outcome = mmusim(std::string("run sweep.json --out out --jobs ") + jobs);
    EXPECT_EQ(outcome.status, 2);
    EXPECT_EQ(outcome.err, std::string("mmusim: --jobs ") + jobs +
                               ": expected a number from 1 to 256\n(see 'mmusim --help')\n");
  }
  EXPECT_FALSE(fs::exists(dir_ / "out"));
}

TEST_F(Sweep, OnePointRunsAloneToTheSameStats) {
  ASSERT_EQ(mmusim("run sweep.json --out all -q").status, 0);
  const Outcome single = mmusim("run sweep.json --point 1 --out single");
  ASSERT_EQ(single.status, 0) << single.err;
  EXPECT_NE(single.out.find("sweep.json, point 1 (platform.cpus=2, flush.mechanism=invlpgb)"),
            std::string::npos)
      << single.out;
  EXPECT_EQ(stats_without_host("single"), stats_without_host(fs::path("all") / kDirs[1]));
  EXPECT_EQ(slurp(dir_ / "single" / "config.json"), slurp(dir_ / "all" / kDirs[1] / "config.json"));
  // The resolved configuration of a point runs again to the same result, without the sweep.
  ASSERT_EQ(mmusim("run single/config.json --out again -q").status, 0);
  EXPECT_EQ(stats_without_host("again"), stats_without_host("single"));

  const Outcome beyond = mmusim("run sweep.json --point 4 --out beyond");
  EXPECT_EQ(beyond.status, 2);
  EXPECT_EQ(beyond.err, "mmusim: --point 4: the sweep of sweep.json has 4 points (0..3)\n");
  EXPECT_FALSE(fs::exists(dir_ / "beyond"));
}

TEST_F(Sweep, EmittedJobsRunThroughTheShellThenCollectGiveTheSameResults) {
  ASSERT_EQ(mmusim("run sweep.json --out direct -q").status, 0);
  const Outcome emit = mmusim("run sweep.json --out cluster --emit-jobs --seed 1");
  ASSERT_EQ(emit.status, 0) << emit.err;
  std::vector<std::string> lines;
  std::istringstream text(emit.out);
  for (std::string line; std::getline(text, line);)
    lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u) << emit.out;
  const std::string binary = fs::canonical(MMUSIM_BINARY).string();
  EXPECT_EQ(lines[2], binary + " run " + (dir_ / "sweep.json").string() + " --point 2 --out " +
                          (dir_ / "cluster" / kDirs[2]).string() + " -q --set run.seed=1");
  EXPECT_TRUE(fs::exists(dir_ / "cluster" / "sweep.json"));
  EXPECT_FALSE(fs::exists(dir_ / "cluster" / kDirs[0]));  // nothing ran yet

  // From another folder, as a cluster node would.
  write("jobs.sh", emit.out);
  const Outcome jobs = shell("cd / && /bin/sh '" + (dir_ / "jobs.sh").string() + "'");
  ASSERT_EQ(jobs.status, 0) << jobs.err;
  const Outcome collect = mmusim("collect cluster -q");
  ASSERT_EQ(collect.status, 0) << collect.err;
  EXPECT_EQ(slurp(dir_ / "cluster" / "results.csv"), slurp(dir_ / "direct" / "results.csv"));
  EXPECT_EQ(slurp(dir_ / "cluster" / "results.json"), slurp(dir_ / "direct" / "results.json"));
}

TEST_F(Sweep, CollectReportsMissingPoints) {
  ASSERT_EQ(mmusim("run sweep.json --out cluster --emit-jobs").status, 0);
  ASSERT_EQ(mmusim("run sweep.json --point 3 --out cluster/" + kDirs[3] + " -q").status, 0);
  const Outcome collect = mmusim("collect cluster -q");
  EXPECT_EQ(collect.status, 1);
  EXPECT_EQ(collect.err, "mmusim: " + kDirs[0] +
                             " (point 0): no stats.json (the point has not run, or it failed)\n"
                             "mmusim: " +
                             kDirs[1] +
                             " (point 1): no stats.json (the point has not run, or it failed)\n"
                             "mmusim: " +
                             kDirs[2] +
                             " (point 2): no stats.json (the point has not run, or it failed)\n");
  const auto rows = csv("cluster/results.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1][0], "3");
  EXPECT_EQ(slurp(dir_ / "cluster" / "failed.txt").substr(0, kDirs[0].size() + 11),
            kDirs[0] + " (point 0):");

  const Outcome nothing = mmusim("collect nowhere");
  EXPECT_EQ(nothing.status, 2);
  EXPECT_EQ(nothing.err,
            "mmusim: nowhere/sweep.json: cannot open it (is nowhere the --out of a sweep?)\n");
}

TEST_F(Sweep, SlurmScriptRunsEachPointOfItsArray) {
  ASSERT_EQ(mmusim("run sweep.json --out direct -q").status, 0);
  const Outcome emit = mmusim("run sweep.json --out cluster --emit-slurm job.sh");
  ASSERT_EQ(emit.status, 0) << emit.err;
  const std::string script = slurp(dir_ / "job.sh");
  EXPECT_EQ(script.rfind("#!/bin/sh\n", 0), 0u);
  EXPECT_NE(script.find("\n#SBATCH --array=0-3\n"), std::string::npos) << script;
  EXPECT_TRUE(fs::exists(dir_ / "cluster" / "sweep.json"));
  for (int task = 0; task < 4; ++task) {
    const Outcome run = shell("cd / && SLURM_ARRAY_TASK_ID=" + std::to_string(task) + " /bin/sh '" +
                              (dir_ / "job.sh").string() + "'");
    ASSERT_EQ(run.status, 0) << run.err;
  }
  const Outcome outside = shell("SLURM_ARRAY_TASK_ID=4 /bin/sh job.sh");
  EXPECT_EQ(outside.status, 2);
  ASSERT_EQ(mmusim("collect cluster -q").status, 0);
  EXPECT_EQ(slurp(dir_ / "cluster" / "results.csv"), slurp(dir_ / "direct" / "results.csv"));
}

TEST_F(Sweep, AFailedPointIsReportedAndTheOthersComplete) {
  write("paths.json", R"({
    "workload": {"kind": "trace"},
    "sweep": {"workload.trace.path": ["guest.trace", "missing.trace"], "platform.cpus": [1, 2]}
  })");
  const Outcome run = mmusim("run paths.json --out out --jobs 2 -q");
  EXPECT_EQ(run.status, 2);
  const std::string missing = (dir_ / "missing.trace").string();
  const std::string failed2 = "p002_workload.trace.path=missing.trace_platform.cpus=1";
  const std::string failed3 = "p003_workload.trace.path=missing.trace_platform.cpus=2";
  EXPECT_NE(run.err.find("mmusim: " + failed2 + ": " + missing + ": cannot open the trace file\n"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("mmusim: 2 of 4 points failed; see " +
                         (dir_ / "out" / "failed.txt").string() + "\n"),
            std::string::npos)
      << run.err;
  EXPECT_EQ(slurp(dir_ / "out" / "failed.txt"),
            failed2 + " (point 2): " + missing + ": cannot open the trace file\n" + failed3 +
                " (point 3): " + missing + ": cannot open the trace file\n");
  EXPECT_FALSE(fs::exists(dir_ / "out" / failed2));
  const auto rows = csv("out/results.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1][1], "p000_workload.trace.path=guest.trace_platform.cpus=1");
  EXPECT_EQ(rows[2][1], "p001_workload.trace.path=guest.trace_platform.cpus=2");
  EXPECT_EQ(json::parse(slurp(dir_ / "out" / "results.json")).size(), 2u);
}

TEST_F(Sweep, BadSweepIsRefusedBeforeAnythingRunsOrIsWritten) {
  write("bad.json", R"({"sweep": {"platform.cpus": [2, 2000], "mmu.pcid": []}})");
  const Outcome run = mmusim("run bad.json --out out");
  EXPECT_EQ(run.status, 2);
  EXPECT_EQ(run.err,
            "mmusim: bad.json: sweep.mmu.pcid: expected a non-empty list of values, got []\n");
  write("range.json", R"({"sweep": {"platform.cpus": [2, 2000]}})");
  const Outcome range = mmusim("run range.json --out out --set platform.cpus=4");
  EXPECT_EQ(range.status, 2);
  EXPECT_EQ(range.err,
            "mmusim: range.json: sweep.platform.cpus: also given as --set platform.cpus=4; a "
            "swept key takes its values from the sweep\n");
  const Outcome validate = mmusim("validate range.json");
  EXPECT_EQ(validate.status, 2);
  EXPECT_EQ(validate.err,
            "mmusim: range.json: sweep.platform.cpus[1]: expected an integer (1..1024), got "
            "2000\n");
  EXPECT_EQ(mmusim("run range.json --out out --emit-jobs").status, 2);
  EXPECT_FALSE(fs::exists(dir_ / "out"));

  const Outcome good = mmusim("validate sweep.json");
  EXPECT_EQ(good.status, 0);
  EXPECT_EQ(good.out, "sweep.json: valid (a sweep of 4 points)\n");
}

TEST_F(Sweep, SweepOptionsAreCheckedAsUsage) {
  write("plain.json", R"({"platform": {"cpus": 2}})");
  const Outcome point = mmusim("run plain.json --point 0");
  EXPECT_EQ(point.status, 2);
  EXPECT_EQ(point.err.rfind("mmusim: plain.json has no \"sweep\"; --point, --emit-jobs and "
                            "--emit-slurm need one\n",
                            0),
            0u)
      << point.err;
  EXPECT_EQ(mmusim("run sweep.json --jobs 0").status, 2);
  EXPECT_EQ(mmusim("run sweep.json --point 1 --jobs 2").status, 2);
  EXPECT_EQ(mmusim("replay guest.trace --jobs 2").status, 2);
  const Outcome record = mmusim("run sweep.json --record x.trace");
  EXPECT_EQ(record.status, 2);
  EXPECT_NE(record.err.find("give --point K as well"), std::string::npos) << record.err;
  EXPECT_FALSE(fs::exists(dir_ / "out"));

  const Outcome help = mmusim("--help");
  EXPECT_NE(help.out.find("mmusim collect DIR"), std::string::npos);
  EXPECT_NE(help.out.find("--emit-slurm"), std::string::npos);
  EXPECT_NE(help.out.find("--jobs"), std::string::npos);
}

}  // namespace
