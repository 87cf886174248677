// The scenarios and the background working set on the simulated platform. Expected values are
// worked out by hand from Linux 4.19's arithmetic, not taken from runs:
//   vmap_stack: a CPU caches NR_CACHED_STACKS = 2 stacks; T threads alive at once over N
//     iterations make T + (N - 1) x max(T - 2, 0) __vmalloc_node_range() calls and
//     N x max(T - 2, 0) vfree_atomic() calls (each iteration's exits refill both slots, the
//     rest are freed; the next iteration's creations empty the cache again).
//   module_load with every section one page: of its 32 set_memory_* calls, 16 change a page
//     (3 in module_enable_ro(false), 4 in module_enable_nx, 1 in module_enable_ro(true): the
//     ro_after_init page, 2 in the init disable_ro_nx, 6 in the core's; the other calls find
//     the pages already so, or have 0 pages), and each of those is a global flush on every CPU.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sim/config_io.h"
#include "sim/experiment.h"

namespace mmusim::sim {
namespace {

nlohmann::ordered_json run(std::vector<std::string> overrides) {
  overrides.insert(overrides.begin(), "workload.kind=scenarios");
  const ExperimentConfig config = parse_config("{}", "test", "", overrides);
  RunOptions options;
  options.write_outputs = false;
  RunResult result = run_experiment(config, options);
  EXPECT_EQ(result.error, "");
  result.stats.erase("host");
  return result.stats;
}

// Every scenario's weight 0 except `name`'s.
std::vector<std::string> only(const std::string& name, int cpus, int iterations) {
  std::vector<std::string> overrides = {
      "platform.cpus=" + std::to_string(cpus),
      "workload.scenarios.iterations_per_cpu=" + std::to_string(iterations),
  };
  for (const char* scenario : {"vmap_stack", "module_load", "bpf_jit", "xfs_buf", "ring_buffer"}) {
    overrides.push_back(std::string("workload.scenarios.") + scenario +
                        ".weight=" + (name == scenario ? "1" : "0"));
  }
  return overrides;
}

void fix(std::vector<std::string>& overrides, const std::string& range, int value) {
  overrides.push_back("workload.scenarios." + range + ".min=" + std::to_string(value));
  overrides.push_back("workload.scenarios." + range + ".max=" + std::to_string(value));
}

void expect_clean(const nlohmann::ordered_json& stats) {
  EXPECT_EQ(stats["sim"]["stop_reason"], "completed");
  EXPECT_EQ(stats["kernel"]["warnings"], 0u) << stats["kernel"]["log"].dump();
  EXPECT_EQ(stats["kernel"]["bugs"], 0u) << stats["kernel"]["log"].dump();
  EXPECT_EQ(stats["total"]["ops"]["guest_failures"], 0u);
  EXPECT_EQ(stats["total"]["ops"]["kernel_faults"], 0u);
  for (const auto& fault : stats["total"]["translation"]["faults"].items())
    EXPECT_EQ(fault.value(), 0u) << fault.key();
  EXPECT_EQ(stats["sanitizer"]["stale_tlb_hits"], 0u);
  EXPECT_EQ(stats["sanitizer"]["va_reuse_with_stale_tlb"], 0u);
}

TEST(VmapStackRun, OneThreadAtATimeIsServedByTheCacheAfterTheFirst) {
  std::vector<std::string> overrides = only("vmap_stack", 1, 5);
  fix(overrides, "vmap_stack.threads", 1);
  const auto stats = run(overrides);
  expect_clean(stats);
  EXPECT_EQ(stats["vmalloc"]["vmalloc_node_range"], 1u);
  EXPECT_EQ(stats["vmalloc"]["vfree_atomic"], 0u);
  EXPECT_EQ(stats["spans"]["vmap_stack"]["count"], 5u);
  EXPECT_EQ(stats["spans"]["vmap_stack"]["passed"], 5u);
}

TEST(VmapStackRun, MoreLiveThreadsThanTheCacheHolds) {
  std::vector<std::string> overrides = only("vmap_stack", 1, 4);
  fix(overrides, "vmap_stack.threads", 3);
  const auto stats = run(overrides);
  expect_clean(stats);
  // T = 3, N = 4: 3 + 3 x 1 = 6 allocations, 4 x 1 = 4 frees, each deferred (vfree_atomic).
  EXPECT_EQ(stats["vmalloc"]["vmalloc_node_range"], 6u);
  EXPECT_EQ(stats["vmalloc"]["vfree_atomic"], 4u);
  EXPECT_EQ(stats["vmalloc"]["deferred_frees"], 4u);
  // In the tree at the end: the two cached stacks and the four freed ones, lazily (4 pages and
  // a guard page each) since nothing purged them.
  EXPECT_EQ(stats["vmalloc"]["at_end"]["busy_areas"], 6u);
  EXPECT_EQ(stats["vmalloc"]["at_end"]["vmap_lazy_nr"], 4u * 5);
}

std::vector<std::string> one_page_module(int cpus) {
  std::vector<std::string> overrides = only("module_load", cpus, 1);
  for (const char* section : {"text_pages", "rodata_pages", "ro_after_init_pages", "data_pages",
                              "init_text_pages", "init_data_pages"}) {
    fix(overrides, std::string("module_load.") + section, 1);
  }
  fix(overrides, "module_load.text_fetches", 4);
  return overrides;
}

TEST(ModuleLoadRun, EachAttributeChangeFlushesEveryCpu) {
  const auto stats = run(one_page_module(1));
  expect_clean(stats);
  const auto& shootdown = stats["total"]["shootdown"];
  EXPECT_EQ(stats["total"]["ops"]["set_memory_ro"], 9u);
  EXPECT_EQ(stats["total"]["ops"]["set_memory_nx"], 5u);
  EXPECT_EQ(stats["total"]["ops"]["set_memory_rw"], 9u);
  EXPECT_EQ(stats["total"]["ops"]["set_memory_x"], 9u);
  EXPECT_EQ(stats["vmalloc"]["vm_unmap_aliases"], 32u);  // every call runs it
  EXPECT_EQ(shootdown["started_full"], 16u);
  EXPECT_EQ(shootdown["full_flushes_executed"], 16u);
  // The init layout's free (deferred from the RCU callback) is purged by the next call's
  // vm_unmap_aliases(): its 2 pages and guard page, one INVLPG each.
  EXPECT_EQ(stats["vmalloc"]["deferred_frees"], 1u);
  EXPECT_EQ(shootdown["started_ranges"], 1u);
  EXPECT_EQ(shootdown["invlpg_executed"], 3u);
  EXPECT_EQ(stats["spans"]["module_load"]["count"], 1u);
}

TEST(ModuleLoadRun, FourCpusLoadingAtOnceFlushEveryCpuPerChange) {
  const auto stats = run(one_page_module(4));
  expect_clean(stats);
  const auto& shootdown = stats["total"]["shootdown"];
  // 16 changes per CPU's module. The four modules' eight areas take 4 x (5 + 3) = 32 pages of
  // the module area with their guard pages, and each allocation either reuses a hole or
  // extends the highest end by its own size: every area lies within 32 pages, so does every
  // purge's range, and purges flush page by page (at most 33 pages), never in full.
  EXPECT_EQ(shootdown["started_full"], 4u * 16);
  EXPECT_EQ(shootdown["full_flushes_executed"], 4u * 4 * 16);
  for (int cpu = 0; cpu < 4; ++cpu)
    EXPECT_EQ(stats["per_cpu"][cpu]["shootdown"]["full_flushes_executed"], 4u * 16);
}

TEST(BackgroundRun, AccessesFollowEveryOpAndEveryFullFlushCostsARefillWalk) {
  std::vector<std::string> plain = one_page_module(1);
  std::vector<std::string> with_background = plain;
  for (const char* setting :
       {"workload.background.pages=1", "workload.background.hot_pages=1",
        "workload.background.accesses_per_op=1", "workload.background.store_percent=0"}) {
    with_background.push_back(setting);
  }
  const auto a = run(with_background);
  const auto b = run(plain);
  expect_clean(a);
  // One load after each of the module's ops (it has no loads of its own).
  const std::uint64_t ops = b["sim"]["ops"];
  EXPECT_EQ(b["total"]["ops"]["load"], 0u);
  EXPECT_EQ(a["sim"]["ops"], 2 * ops);
  EXPECT_EQ(a["total"]["ops"]["load"], ops);
  // Its one page is walked once, then again after each of the 16 global flushes (the INVLPGs
  // of the purge do not touch it); nothing else evicts it.
  const std::uint64_t flushes = a["total"]["shootdown"]["full_flushes_executed"];
  ASSERT_EQ(flushes, 16u);
  const std::uint64_t walks_a = a["total"]["walker"]["walks"];
  const std::uint64_t walks_b = b["total"]["walker"]["walks"];
  EXPECT_EQ(walks_a - walks_b, 1 + flushes);
  EXPECT_GT(a["total"]["walker"]["walk_cycles"], b["total"]["walker"]["walk_cycles"]);
}

TEST(ScenariosRun, TheWholeMixRunsCleanlyAndDeterministically) {
  const std::vector<std::string> overrides = {"platform.cpus=4",
                                              "workload.scenarios.iterations_per_cpu=30",
                                              "workload.background.pages=64"};
  const auto first = run(overrides);
  expect_clean(first);
  for (const char* scenario : {"vmap_stack", "module_load", "bpf_jit", "xfs_buf", "ring_buffer"}) {
    EXPECT_GT(first["spans"][scenario]["count"], 0u) << scenario;
    EXPECT_EQ(first["spans"][scenario]["failed"], 0u) << scenario;
  }
  EXPECT_EQ(first["vmalloc"]["invariants"], "ok");
  EXPECT_EQ(first, run(overrides));
}

TEST(ScenariosRun, ARecordingWithTheBackgroundReplaysToTheSameStatistics) {
  std::vector<std::string> overrides = {"workload.kind=scenarios", "platform.cpus=2",
                                        "workload.scenarios.iterations_per_cpu=10",
                                        "workload.background.pages=16"};
  const std::string recording = testing::TempDir() + "/scenarios_background.trace";
  RunOptions options;
  options.write_outputs = false;
  options.record_path = recording;
  RunResult recorded = run_experiment(parse_config("{}", "test", "", overrides), options);
  ASSERT_EQ(recorded.error, "");
  recorded.stats.erase("host");
  // Replayed on the same configuration, whose background the trace already holds.
  overrides.push_back("workload.kind=trace");
  overrides.push_back("workload.trace.path=" + recording);
  options.record_path.clear();
  RunResult replayed = run_experiment(parse_config("{}", "test", "", overrides), options);
  ASSERT_EQ(replayed.error, "");
  replayed.stats.erase("host");
  EXPECT_EQ(replayed.stats, recorded.stats);
}

TEST(ScenariosConfig, MistakesNameTheirJsonPath) {
  auto error_of = [](const std::vector<std::string>& overrides) -> std::string {
    try {
      parse_config("{}", "test.json", "", overrides);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of({"workload.scenarios.vmap_stack.threads.min=5"})
                .find("/workload/scenarios/vmap_stack/threads/max: must not be below min"),
            std::string::npos);
  EXPECT_NE(error_of(only("", 1, 1))
                .find("/workload/scenarios/vmap_stack/weight: every "
                      "scenario's weight is 0"),
            std::string::npos);
  EXPECT_NE(
      error_of({"workload.scenarios.xfs_buf.pages.min=5", "workload.scenarios.xfs_buf.pages.max=7"})
          .find("/workload/scenarios/xfs_buf/pages/max: the range must hold a power of two"),
      std::string::npos);
  EXPECT_NE(error_of({"workload.background.pages=4", "workload.background.hot_pages=5"})
                .find("/workload/background/hot_pages: must not exceed pages"),
            std::string::npos);
}

}  // namespace
}  // namespace mmusim::sim
