// lib/test_vmalloc.c's tests run on the simulated platform. Expected counters come from Linux
// 4.19's arithmetic, not from runs:
//   - a vfree()d area is freed lazily with its guard page: a 3-page vmalloc adds 4 pages to
//     vmap_lazy_nr, a 1-page one 2, a 100-page one 101;
//   - lazy_max_pages() = fls(online CPUs) x 8192 pages, and a purge runs when vmap_lazy_nr,
//     after adding a free, exceeds it; the purge frees every lazy area, so the count restarts
//     at 0;
//   - an array of P pointers is vmalloc(8 x P): ceil(8P / 4096) pages and a guard page.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sim/config_io.h"
#include "sim/experiment.h"

namespace mmusim::sim {
namespace {

RunResult run_tests(int cpus, std::vector<std::string> overrides) {
  overrides.push_back("platform.cpus=" + std::to_string(cpus));
  overrides.push_back("workload.kind=test_vmalloc");
  const ExperimentConfig config = parse_config("{}", "test", "", overrides);
  RunOptions options;
  options.write_outputs = false;
  RunResult result = run_experiment(config, options);
  if (result.stats.is_object()) result.stats.erase("host");
  return result;
}

std::uint64_t calls(const nlohmann::ordered_json& stats, const char* op) {
  return stats["total"]["ops"][op].get<std::uint64_t>();
}

TEST(TestVmallocRun, FixSizeAllocTestPurgesWhereLinuxDoes) {
  // 5000 frees of 4 pages on 1 CPU: lazy_max_pages = 8192; 4 x 2048 = 8192 is not above it,
  // 4 x 2049 = 8196 is: the 2049th free purges 2049 areas. floor(5000 / 2049) = 2 purges,
  // and 5000 - 2 x 2049 = 902 areas (3608 pages) stay lazy.
  const RunResult run = run_tests(
      1, {"workload.test_vmalloc.run_test_mask=1", "workload.test_vmalloc.test_loop_count=5000"});
  ASSERT_EQ(run.error, "");
  const auto& stats = run.stats;
  EXPECT_EQ(stats["sim"]["stop_reason"], "completed");
  EXPECT_EQ(calls(stats, "vmalloc"), 5000u);
  EXPECT_EQ(calls(stats, "vfree"), 5000u);
  EXPECT_EQ(calls(stats, "store"), 5000u);  // *ptr = 0
  EXPECT_EQ(calls(stats, "guest_failures"), 0u);
  const auto& vm = stats["vmalloc"];
  EXPECT_EQ(vm["vmalloc"], 5000u);
  EXPECT_EQ(vm["vfree"], 5000u);
  EXPECT_EQ(vm["lazy_frees"], 5000u);
  EXPECT_EQ(vm["purges"], 2u);
  EXPECT_EQ(vm["areas_purged"], 2u * 2049);
  EXPECT_EQ(vm["pages_purged"], 2u * 2049 * 4);
  EXPECT_EQ(vm["at_end"]["vmap_lazy_nr"], 902u * 4);
  EXPECT_EQ(vm["invariants"], "ok");
  // Each purge flushes one range far above 33 pages: a full flush, on the only CPU.
  EXPECT_EQ(stats["total"]["shootdown"]["started"], 2u);
  EXPECT_EQ(stats["total"]["shootdown"]["started_full"], 2u);
  const auto& span = stats["spans"]["fix_size_alloc_test"];
  EXPECT_EQ(span["count"], 1u);
  EXPECT_EQ(span["passed"], 1u);
  EXPECT_EQ(span["failed"], 0u);
  // The worker's span is the test's, and the test is all the CPU did.
  EXPECT_EQ(stats["spans"]["vmalloc_test"]["cycles"], span["cycles"]);
  EXPECT_EQ(span["cycles"], stats["sim"]["cycles"]);
}

TEST(TestVmallocRun, FullFitAllocTestPurgesWhereLinuxDoes) {
  // 1 CPU, 10 loops; J = 8192 pairs of 1-page areas (2 lazy pages each), arrays of 8192
  // pointers = 16 pages + guard = 17 lazy pages each.
  //   J junk frees: 2 x 4097 = 8194 > 8192 at the 4097th: purge 1; 4095 more: 8190.
  //   loop frees: 8192 (not above), 8194 at the 2nd: purge 2; 8 more: 16.
  //   J ptr frees: 16 + 2 x 4089 = 8194: purge 3; then 2 x 4097: purge 4; 6 more: 12.
  //   the arrays: 12 + 17 + 17 = 46 pages left lazy.
  const RunResult run = run_tests(
      1, {"workload.test_vmalloc.run_test_mask=2", "workload.test_vmalloc.test_loop_count=10"});
  ASSERT_EQ(run.error, "");
  const auto& vm = run.stats["vmalloc"];
  EXPECT_EQ(vm["vmalloc"], 2u + 2 * 8192 + 10);
  EXPECT_EQ(vm["vfree"], 2u + 2 * 8192 + 10);
  EXPECT_EQ(vm["purges"], 4u);
  EXPECT_EQ(vm["at_end"]["vmap_lazy_nr"], 46u);
  EXPECT_EQ(vm["invariants"], "ok");
  // ptr[i] and junk_ptr[i] written once each, read once each; the loop writes a byte.
  EXPECT_EQ(calls(run.stats, "store"), 2u * 8192 + 10);
  EXPECT_EQ(calls(run.stats, "load"), 2u * 8192);
  EXPECT_EQ(run.stats["spans"]["full_fit_alloc_test"]["passed"], 1u);
}

TEST(TestVmallocRun, LongBusyListAllocTestPurgesWhereLinuxDoes) {
  // 1 CPU, 10 loops: each frees 101 + 2 = 103 pages: 1030, no purge. Then 15000 frees of 2:
  // 1030 + 2 x 3582 = 8194: purge 1; 2 x 4097 twice more: purges 2 and 3; the last
  // 15000 - 3582 - 2 x 4097 = 3224 frees leave 6448; the array of 15000 pointers (30 pages
  // + guard) makes 6479.
  const RunResult run = run_tests(
      1, {"workload.test_vmalloc.run_test_mask=4", "workload.test_vmalloc.test_loop_count=10"});
  ASSERT_EQ(run.error, "");
  const auto& vm = run.stats["vmalloc"];
  EXPECT_EQ(vm["vmalloc"], 1u + 15000 + 2 * 10);
  EXPECT_EQ(vm["vfree"], 1u + 15000 + 2 * 10);
  EXPECT_EQ(vm["purges"], 3u);
  EXPECT_EQ(vm["at_end"]["vmap_lazy_nr"], 6479u);
  EXPECT_EQ(run.stats["spans"]["long_busy_list_alloc_test"]["passed"], 1u);
}

TEST(TestVmallocRun, AlignShiftAllocTestFails) {
  // With 4-level paging 2^46 is the first alignment that cannot be had: 47 calls, 46 frees,
  // and the last call returns NULL, so the run fails, as the module expects.
  const RunResult run = run_tests(1, {"workload.test_vmalloc.run_test_mask=64"});
  ASSERT_EQ(run.error, "");
  const auto& span = run.stats["spans"]["align_shift_alloc_test"];
  EXPECT_EQ(span["count"], 1u);
  EXPECT_EQ(span["passed"], 0u);
  EXPECT_EQ(span["failed"], 1u);
  EXPECT_EQ(calls(run.stats, "__vmalloc_node"), 47u);
  EXPECT_EQ(calls(run.stats, "vfree"), 46u);
  EXPECT_GE(calls(run.stats, "guest_failures"), 1u);
}

TEST(TestVmallocRun, PcpuAllocTestReleasesAllButOneChunk) {
  // 1 CPU (2 MiB units): every chunk but the spare one is unmapped, flushed once and given
  // back. A percpu area has no guard page: each destroyed chunk adds 512 lazy pages, and the
  // pointer array 69 pages + guard; with fewer than 16 destroyed chunks that stays below
  // 8192, so nothing is purged.
  const RunResult run = run_tests(1, {"workload.test_vmalloc.run_test_mask=128"});
  ASSERT_EQ(run.error, "");
  const auto& stats = run.stats;
  const auto& vm = stats["vmalloc"];
  const std::uint64_t created = vm["pcpu_get_vm_areas"];
  EXPECT_GE(created, 2u);
  ASSERT_LT(created - 1, 16u);  // about 24 MiB of allocations: 12 chunks
  EXPECT_EQ(vm["pcpu_free_vm_areas"], created - 1);
  EXPECT_EQ(vm["unmap_kernel_range"], created - 1);
  EXPECT_EQ(vm["unmap_kernel_range_noflush"], 0u);  // one CPU: its unmap is the flushing one
  EXPECT_EQ(vm["purges"], 0u);
  EXPECT_EQ(vm["at_end"]["vmap_lazy_nr"], 512 * (created - 1) + 70);
  EXPECT_EQ(stats["total"]["shootdown"]["started"], created - 1);
  EXPECT_EQ(vm["vmalloc"], 1u);  // the array of 35000 pointers
  EXPECT_EQ(vm["vfree"], 1u);
  EXPECT_EQ(calls(stats, "store"), 35000u);
  EXPECT_EQ(calls(stats, "load"), 35000u);
  EXPECT_EQ(vm["invariants"], "ok");
  EXPECT_EQ(stats["spans"]["pcpu_alloc_test"]["passed"], 1u);
}

TEST(TestVmallocRun, VmMapRamTestUsesVmapBlocks) {
  // 1-page vm_map_ram() comes from the CPU's vmap block: one block for 100 maps of 1 page.
  const RunResult run = run_tests(
      1, {"workload.test_vmalloc.run_test_mask=1024", "workload.test_vmalloc.test_loop_count=100"});
  ASSERT_EQ(run.error, "");
  const auto& vm = run.stats["vmalloc"];
  EXPECT_EQ(vm["vm_map_ram"], 100u);
  EXPECT_EQ(vm["vm_unmap_ram"], 100u);
  EXPECT_EQ(vm["vmap_blocks_created"], 1u);
  EXPECT_EQ(run.stats["spans"]["vm_map_ram_test"]["passed"], 1u);
}

std::vector<std::string> light_tests(int repeat) {
  return {
      "workload.test_vmalloc.run_test_mask=" + std::to_string(1 | 8 | 16 | 32 | 64 | 128 | 1024),
      "workload.test_vmalloc.test_loop_count=50",
      "workload.test_vmalloc.test_repeat_count=" + std::to_string(repeat)};
}

const char* const kLightTests[] = {"fix_size_alloc_test",    "random_size_alloc_test",
                                   "fix_align_alloc_test",   "random_size_align_alloc_test",
                                   "align_shift_alloc_test", "pcpu_alloc_test",
                                   "vm_map_ram_test"};

class TestVmallocCpus : public testing::TestWithParam<int> {};

TEST_P(TestVmallocCpus, DeterministicAndEveryCpuReportsItsTests) {
  const int cpus = GetParam();
  const RunResult first = run_tests(cpus, light_tests(2));
  const RunResult second = run_tests(cpus, light_tests(2));
  ASSERT_EQ(first.error, "");
  EXPECT_EQ(first.stats.dump(), second.stats.dump());
  for (int cpu = 0; cpu < cpus; ++cpu) {
    const auto& spans = first.stats["per_cpu"][cpu]["spans"];
    for (const char* test : kLightTests) {
      ASSERT_TRUE(spans.contains(test)) << "CPU " << cpu << " " << test;
      EXPECT_EQ(spans[test]["count"], 2u) << "CPU " << cpu << " " << test;
      // align_shift_alloc_test fails by design; the others can fail only when memory or
      // vmalloc space runs out, which these small runs are far from.
      const bool expected_to_fail = std::string(test) == "align_shift_alloc_test";
      EXPECT_EQ(spans[test]["failed"], expected_to_fail ? 2u : 0u) << "CPU " << cpu << " " << test;
    }
    EXPECT_EQ(spans["vmalloc_test"]["count"], 1u);
  }
  // The module's lines, one set per CPU.
  for (int cpu = 0; cpu < cpus; ++cpu) {
    EXPECT_NE(first.summary.find("All test took CPU" + std::to_string(cpu) + "="),
              std::string::npos)
        << first.summary;
  }
  EXPECT_NE(first.summary.find("Summary: align_shift_alloc_test passed: 0 failed: 2 repeat: 2 "
                               "loops: 50 avg: "),
            std::string::npos)
      << first.summary;
}

INSTANTIATE_TEST_SUITE_P(Cpus, TestVmallocCpus, testing::Values(2, 4));

TEST(TestVmallocRun, OnlyNrThreadsCpusRunAndTheRestStayIdle) {
  const RunResult run = run_tests(
      4, {"workload.test_vmalloc.run_test_mask=1", "workload.test_vmalloc.test_loop_count=20",
          "workload.test_vmalloc.nr_threads=1"});
  ASSERT_EQ(run.error, "");
  EXPECT_EQ(run.stats["per_cpu"][0]["ops"]["vmalloc"], 20u);
  for (int cpu = 1; cpu < 4; ++cpu) {
    EXPECT_EQ(run.stats["per_cpu"][cpu]["ops"]["total"], 0u);
    EXPECT_TRUE(run.stats["per_cpu"][cpu]["spans"].empty());
  }
}

TEST(TestVmallocRun, ManyCpusGetOneLinePerTest) {
  // 9 CPUs: above 8, the summary sums each test over the CPUs.
  const RunResult run = run_tests(
      9, {"workload.test_vmalloc.run_test_mask=65", "workload.test_vmalloc.test_loop_count=10",
          "workload.test_vmalloc.sequential_test_order=true"});
  ASSERT_EQ(run.error, "");
  EXPECT_NE(run.summary.find("Summary: fix_size_alloc_test passed: 9 failed: 0 repeat: 1 "
                             "loops: 10 avg: "),
            std::string::npos)
      << run.summary;
  EXPECT_NE(run.summary.find("Summary: align_shift_alloc_test passed: 0 failed: 9"),
            std::string::npos)
      << run.summary;
  EXPECT_EQ(run.summary.find("All test took CPU"), std::string::npos) << run.summary;
  EXPECT_NE(run.summary.find("over the 9 CPUs"), std::string::npos) << run.summary;
}

TEST(TestVmallocSettings, TestsThatAreNotModelledAreRejected) {
  try {
    (void)parse_config("{}", "test.json", "",
                       {"workload.kind=test_vmalloc", "workload.test_vmalloc.run_test_mask=257"});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.errors().size(), 1u);
    EXPECT_NE(e.errors()[0].find("/workload/test_vmalloc/run_test_mask: selects tests that are "
                                 "not modelled"),
              std::string::npos)
        << e.errors()[0];
  }
}

}  // namespace
}  // namespace mmusim::sim
