// sanitizer.check_invariants_after_purge on the simulated platform: off by default (nothing in
// the statistics), on it checks after every purge and tears the guest down at the end,
// freeing what the run left and reporting what cannot be given back.
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sim/config_io.h"
#include "sim/experiment.h"

namespace mmusim::sim {
namespace {

nlohmann::ordered_json run(std::vector<std::string> overrides) {
  const ExperimentConfig config = parse_config("{}", "test", "", overrides);
  RunOptions options;
  options.write_outputs = false;
  RunResult result = run_experiment(config, options);
  EXPECT_EQ(result.error, "");
  return result.stats;
}

std::vector<std::string> trace_run(const std::string& name, const std::string& text) {
  const std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return {"platform.cpus=2", "workload.kind=trace", "workload.trace.path=" + path,
          "sanitizer.check_invariants_after_purge=true"};
}

std::vector<std::string> scenario_mix() {
  return {"platform.cpus=8",
          "workload.kind=scenarios",
          "workload.scenarios.iterations_per_cpu=6",
          "workload.scenarios.bpf_jit.weight=2",
          "workload.scenarios.xfs_buf.pages.max=128",
          "vmalloc.lazy_max_pages_mode=fixed",
          "vmalloc.lazy_max_pages=32"};
}

TEST(InvariantSanitizer, OffByDefaultAndAbsentFromTheStatistics) {
  const auto stats = run(scenario_mix());
  EXPECT_FALSE(stats["sanitizer"].contains("invariant_checks"));
  EXPECT_FALSE(stats["sanitizer"].contains("invariant_violations"));
  EXPECT_GT(stats["vmalloc"]["purges"].get<std::uint64_t>(), 0u);
}

TEST(InvariantSanitizer, ChecksAfterEveryPurgeAndAtTheEnd) {
  for (const char* aliases : {"4.19", "6.5"}) {
    std::vector<std::string> overrides = scenario_mix();
    overrides.push_back("sanitizer.check_invariants_after_purge=true");
    overrides.push_back(std::string("vmalloc.vm_unmap_aliases=") + aliases);
    const auto stats = run(overrides);
    const auto& sanitizer = stats["sanitizer"];
    EXPECT_EQ(sanitizer["invariant_violations"], 0u) << sanitizer["invariant_messages"].dump();
    EXPECT_EQ(sanitizer["teardown"], "checked");
    // One check per purge (the teardown's own purge included), and the final one.
    EXPECT_EQ(sanitizer["invariant_checks"].get<std::uint64_t>(),
              stats["vmalloc"]["purges"].get<std::uint64_t>() + 1);
    EXPECT_EQ(stats["vmalloc"]["at_end"]["busy_areas"], 0u);
    EXPECT_EQ(stats["vmalloc"]["at_end"]["vmap_lazy_nr"], 0u);
    EXPECT_EQ(stats["kernel"]["bugs"], 0u);
  }
}

TEST(InvariantSanitizer, TeardownFreesWhatTheRunLeft) {
  const auto stats = run(trace_run("leftovers.trace",
                                   "mmusim-trace 1\n"
                                   "cpus 2\n"
                                   "0 vmalloc $a 3K\n"
                                   "1 vm_map_ram $b 4\n"
                                   "0 vm_map_ram $c 80\n"
                                   "1 vmap $d 2\n"
                                   "0 get_vm_area $e 8K ioremap\n"
                                   "1 pcpu_get_vm_areas $f 2 16K\n"
                                   "0 vmalloc $g 64K\n"
                                   "0 vfree $g\n"));
  const auto& sanitizer = stats["sanitizer"];
  EXPECT_EQ(sanitizer["invariant_violations"], 0u) << sanitizer["invariant_messages"].dump();
  EXPECT_EQ(sanitizer["teardown"], "checked");
  // $b, $c and $d (with their callers' pages), then $a, $e and the two percpu areas.
  EXPECT_EQ(sanitizer["teardown_frees"], 7u);
  EXPECT_EQ(stats["vmalloc"]["at_end"]["busy_areas"], 0u);
  EXPECT_EQ(stats["vmalloc"]["page_alloc"]["pages_allocated"],
            stats["vmalloc"]["page_alloc"]["pages_freed"]);
  EXPECT_EQ(stats["kernel"]["bugs"], 0u);
}

TEST(InvariantSanitizer, TeardownReportsWhatCannotBeGivenBack) {
  // $b is bound twice: the first vm_map_ram's handle is lost, so its block space and the
  // caller's pages can never be freed.
  const auto stats = run(trace_run("lost.trace",
                                   "mmusim-trace 1\n"
                                   "cpus 2\n"
                                   "0 vm_map_ram $b 4\n"
                                   "0 vm_map_ram $b 2\n"));
  const auto& sanitizer = stats["sanitizer"];
  EXPECT_EQ(sanitizer["teardown"], "checked");
  EXPECT_GE(sanitizer["invariant_violations"].get<std::uint64_t>(), 2u);
  const std::string messages = sanitizer["invariant_messages"].dump();
  EXPECT_NE(messages.find("1 vmap blocks are left after the final purge"), std::string::npos)
      << messages;
  EXPECT_NE(messages.find("4 are not back"), std::string::npos) << messages;
}

TEST(InvariantSanitizer, PagesMappedAtAnOffsetStayAllocatedWhileMapped) {
  // percpu maps each CPU's unit at an offset into its area (map_kernel_range_noflush $p+OFF):
  // the caller's pages must stay allocated until the area is unmapped. They used to be freed
  // at once, still mapped, and the next allocation got the same frame (found by the soak:
  // "maps a frame the page allocator has free").
  const auto stats = run(trace_run("percpu.trace",
                                   "mmusim-trace 1\n"
                                   "cpus 2\n"
                                   "0 pcpu_get_vm_areas $p 1 64K\n"
                                   "0 map_kernel_range_noflush $p+16K 8K\n"
                                   "0 map_kernel_range_noflush $p+32K 4K\n"
                                   "0 vmalloc $x 8K\n"
                                   "0 vfree $x\n"
                                   "0 vm_unmap_aliases\n"  // a purge, and a check
                                   "0 unmap_kernel_range_noflush $p+16K 8K\n"
                                   "0 unmap_kernel_range $p 36K\n"
                                   "0 pcpu_free_vm_areas $p\n"));
  const auto& sanitizer = stats["sanitizer"];
  EXPECT_EQ(sanitizer["invariant_violations"], 0u) << sanitizer["invariant_messages"].dump();
  EXPECT_EQ(sanitizer["invariant_checks"], 3u);  // the purge, the teardown's, the final check
  EXPECT_EQ(stats["vmalloc"]["page_alloc"]["pages_allocated"],
            stats["vmalloc"]["page_alloc"]["pages_freed"]);
}

}  // namespace
}  // namespace mmusim::sim
