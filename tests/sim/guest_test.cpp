// The guest (the vmalloc model) running on the simulated platform through trace ops: lazy
// purges firing exactly where Linux 4.19's arithmetic says, the stale-TLB sanitizer catching a
// kernel that purges without flushing, interrupt context, handles shared between CPUs, and the
// kernel's WARN/BUG reporting. Expected values come from Linux's constants, not from runs:
//   lazy_max_pages() = fls(online CPUs) x (32 MiB / 4 KiB) = fls(n) x 8192 pages;
//   a vmalloc(1 MiB) area is 256 pages + 1 guard page = 257 pages when lazily freed;
//   a purge runs when vmap_lazy_nr exceeds lazy_max_pages() after a lazy free.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sim/config_io.h"
#include "sim/experiment.h"

namespace mmusim::sim {
namespace {

std::string write_trace(const std::string& name, const std::string& text) {
  const std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

RunResult run_trace(const std::string& name, const std::string& text, int cpus,
                    std::vector<std::string> overrides = {}, const std::string& out_dir = "") {
  overrides.push_back("platform.cpus=" + std::to_string(cpus));
  overrides.push_back("workload.kind=trace");
  overrides.push_back("workload.trace.path=" + write_trace(name, text));
  const ExperimentConfig config = parse_config("{}", "test", "", overrides);
  RunOptions options;
  options.write_outputs = !out_dir.empty();
  options.out_dir = out_dir;
  RunResult result = run_experiment(config, options);
  if (result.stats.is_object()) result.stats.erase("host");
  return result;
}

std::string header(int cpus) {
  return "mmusim-trace 1\ncpus " + std::to_string(cpus) + "\n";
}

// CPU 0 vmallocs `areas` areas of 1 MiB, then vfrees the first `frees` of them.
std::string alloc_then_free(int cpus, int areas, int frees) {
  std::string text = header(cpus);
  for (int i = 0; i < areas; ++i)
    text += "0 vmalloc $a" + std::to_string(i) + " 1MiB\n";
  for (int i = 0; i < frees; ++i)
    text += "0 vfree $a" + std::to_string(i) + "\n";
  return text;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class LazyPurge : public testing::TestWithParam<int> {};

TEST_P(LazyPurge, FiresOnTheFreeThatCrossesLazyMaxPages) {
  const int cpus = GetParam();
  const int fls = cpus == 1 ? 1 : cpus == 2 ? 2 : cpus == 4 ? 3 : 7;  // 1, 2, 4, 64 CPUs
  const std::uint64_t lazy_max = static_cast<std::uint64_t>(fls) * 8192;
  // The first free after which 257 x frees > lazy_max.
  const int trigger = static_cast<int>(lazy_max / 257) + 1;

  const auto before = run_trace("purge_before_" + std::to_string(cpus) + ".trace",
                                alloc_then_free(cpus, trigger, trigger - 1), cpus)
                          .stats;
  EXPECT_EQ(before["vmalloc"]["at_end"]["lazy_max_pages"], lazy_max);
  EXPECT_EQ(before["vmalloc"]["lazy_frees"], static_cast<std::uint64_t>(trigger - 1));
  EXPECT_EQ(before["vmalloc"]["purges"], 0u);
  EXPECT_EQ(before["vmalloc"]["at_end"]["vmap_lazy_nr"], 257u * (trigger - 1));
  EXPECT_EQ(before["total"]["shootdown"]["started"], 0u);

  const auto after = run_trace("purge_after_" + std::to_string(cpus) + ".trace",
                               alloc_then_free(cpus, trigger, trigger), cpus)
                         .stats;
  const auto& vm = after["vmalloc"];
  EXPECT_EQ(vm["purges"], 1u);
  EXPECT_EQ(vm["purge_flushes"], 1u);
  EXPECT_EQ(vm["areas_purged"], static_cast<std::uint64_t>(trigger));
  EXPECT_EQ(vm["pages_purged"], 257u * trigger);
  EXPECT_EQ(vm["at_end"]["vmap_lazy_nr"], 0u);
  EXPECT_EQ(vm["at_end"]["busy_areas"], 0u);
  EXPECT_EQ(vm["invariants"], "ok");
  // The purged range spans every area: far above the 33-page ceiling, a full flush that every
  // CPU runs, reached by one IPI per other CPU.
  EXPECT_EQ(vm["purge_flush_range_pages"]["max"], 257u * trigger);
  const auto& shootdown = after["total"]["shootdown"];
  EXPECT_EQ(shootdown["started"], 1u);
  EXPECT_EQ(shootdown["started_full"], 1u);
  EXPECT_EQ(shootdown["nr_tlb_remote_flush_received"], static_cast<std::uint64_t>(cpus));
  EXPECT_EQ(shootdown["ipis_sent"], static_cast<std::uint64_t>(cpus - 1));
  EXPECT_EQ(after["sim"]["stop_reason"], "completed");
}

INSTANTIATE_TEST_SUITE_P(Cpus, LazyPurge, testing::Values(1, 2, 4, 64));

// CPU 0 maps a page, reads it, frees it lazily, forces a purge with vm_unmap_aliases(), then
// gets the same address again and reads it.
constexpr const char* kReuse = R"(0 vmalloc $a 4096
0 load $a
0 vfree $a
0 vm_unmap_aliases
0 vmalloc $b 4096
0 load $b
)";

TEST(GuestSanitizer, PurgeThatFlushesLeavesNothingStale) {
  const auto stats = run_trace("reuse_ok.trace", header(2) + kReuse, 2).stats;
  EXPECT_EQ(stats["vmalloc"]["purges"], 1u);
  EXPECT_EQ(stats["total"]["shootdown"]["started"], 1u);
  EXPECT_EQ(stats["sanitizer"]["va_reuse_with_stale_tlb"], 0u);
  EXPECT_EQ(stats["sanitizer"]["stale_tlb_hits"], 0u);
}

TEST(GuestSanitizer, PurgeWithoutFlushIsCaughtAtReuse) {
  const auto stats =
      run_trace("reuse_bad.trace", header(2) + kReuse, 2, {"vmalloc.skip_purge_flush=true"}).stats;
  EXPECT_EQ(stats["vmalloc"]["purges"], 1u);
  EXPECT_EQ(stats["vmalloc"]["purge_flushes"], 0u);
  EXPECT_EQ(stats["total"]["shootdown"]["started"], 0u);
  // $b lands where $a was while CPU 0's L1 dTLB and STLB still hold $a's translation.
  EXPECT_EQ(stats["sanitizer"]["va_reuse_with_stale_tlb"], 1u);
  EXPECT_EQ(stats["sanitizer"]["va_reuse_stale_entries"], 2u);
  EXPECT_EQ(stats["sanitizer"]["stale_tlb_hits"], 1u);
}

TEST(GuestInterrupts, VfreeInAnIrqBlockIsDeferredToTheSameCpu) {
  const std::string out = testing::TempDir() + "/guest_irq_out";
  std::filesystem::remove_all(out);
  const auto result = run_trace("irq_vfree.trace", header(2) + R"(1 vmalloc $a 8192
1 irq {
1 vfree $a
1 vmallocinfo
1 }
1 vmallocinfo
)",
                                2, {}, out);
  ASSERT_EQ(result.error, "");
  const auto& stats = result.stats;
  EXPECT_EQ(stats["vmalloc"]["deferred_frees"], 1u);
  EXPECT_EQ(stats["vmalloc"]["lazy_frees"], 1u);
  EXPECT_EQ(stats["per_cpu"][0]["cycles"]["kernel"], 0u);
  EXPECT_EQ(stats["kernel"]["warnings"], 0u);
  // Inside the handler the area is still allocated (both pages on node 0, as a NUMA kernel
  // shows); at the next op boundary, in process context, the work item has freed it lazily.
  EXPECT_EQ(read_file(out + "/vmallocinfo.1.txt"),
            "0xffffc90000000000-0xffffc90000003000   12288 vmalloc pages=2 vmalloc N0=2\n");
  EXPECT_EQ(read_file(out + "/vmallocinfo.2.txt"),
            "0xffffc90000000000-0xffffc90000003000   12288 unpurged vm_area\n");
  EXPECT_EQ(read_file(out + "/vmallocinfo.txt"), read_file(out + "/vmallocinfo.2.txt"));
  EXPECT_FALSE(std::filesystem::exists(out + "/vmallocinfo.3.txt"));
}

TEST(GuestInterrupts, UnclosedIrqBlockIsATraceError) {
  const auto result = run_trace("irq_open.trace", header(1) + "0 irq {\n0 compute 1\n", 1);
  EXPECT_TRUE(result.input_error);
  EXPECT_NE(result.error.find("irq_open.trace:3: 'irq {' is never closed with '}'"),
            std::string::npos)
      << result.error;
}

TEST(GuestInterrupts, StrayClosingBraceIsATraceError) {
  const auto result = run_trace("irq_stray.trace", header(1) + "0 compute 1\n0 }\n", 1);
  EXPECT_TRUE(result.input_error);
  EXPECT_NE(result.error.find("irq_stray.trace:4: '}' without 'irq {'"), std::string::npos)
      << result.error;
}

TEST(GuestHandles, ACpuWaitsForAnotherCpuToBindAHandle) {
  const auto stats = run_trace("handles.trace", header(2) + R"(0 compute 5000
0 vmalloc $a 4096
1 vfree $a
)",
                               2)
                         .stats;
  EXPECT_EQ(stats["vmalloc"]["vfree"], 1u);
  EXPECT_EQ(stats["vmalloc"]["lazy_frees"], 1u);
  EXPECT_EQ(stats["kernel"]["warnings"], 0u);
  EXPECT_GT(stats["per_cpu"][1]["finish_cycle"].get<std::uint64_t>(), 5000u);
}

TEST(GuestHandles, AHandleNobodyBindsEndsTheRunAsADeadlock) {
  const auto result = run_trace("unbound.trace", header(1) + "0 vfree $never\n", 1);
  EXPECT_EQ(result.stats["sim"]["stop_reason"], "deadlock");
  EXPECT_NE(result.stop_detail.find("CPU 0 waits for handle $never to be bound"), std::string::npos)
      << result.stop_detail;
}

TEST(GuestDiagnostics, VunmapInInterruptIsAKernelBugThatCanStopTheRun) {
  const std::string trace = header(1) + "0 vmalloc $a 4096\n0 irq {\n0 vunmap $a\n0 }\n";
  const auto stopped = run_trace("bug.trace", trace, 1, {"run.stop_on_bug=true"});
  EXPECT_EQ(stopped.stats["sim"]["stop_reason"], "kernel_bug");
  EXPECT_EQ(stopped.stats["kernel"]["bugs"], 1u);
  EXPECT_NE(stopped.stop_detail.find("kernel BUG at mm/vmalloc.c vunmap: BUG_ON(in_interrupt())"),
            std::string::npos)
      << stopped.stop_detail;

  const auto counted = run_trace("bug_go_on.trace", trace, 1);
  EXPECT_EQ(counted.stats["sim"]["stop_reason"], "completed");
  EXPECT_EQ(counted.stats["kernel"]["bugs"], 1u);
  EXPECT_EQ(counted.stats["kernel"]["log"].size(), 1u);
}

TEST(GuestDiagnostics, VfreeOfAMisalignedAddressWarnsAndGoesOn) {
  const auto result = run_trace("warn.trace", header(1) + "0 vfree 0xffffc90000000123\n", 1);
  EXPECT_EQ(result.stats["sim"]["stop_reason"], "completed");
  EXPECT_EQ(result.stats["kernel"]["warnings"], 1u);
  EXPECT_NE(result.stats["kernel"]["log"][0].get<std::string>().find(
                "Trying to vfree() bad address (0xffffc90000000123)"),
            std::string::npos)
      << result.stats["kernel"]["log"][0];
}

TEST(GuestDiagnostics, LoadFromAFreedAreaOopses) {
  const auto result =
      run_trace("use_after_free.trace", header(1) + "0 vmalloc $a 4096\n0 vfree $a\n0 load $a+8\n",
                1, {"run.stop_on_bug=true"});
  EXPECT_EQ(result.stats["sim"]["stop_reason"], "kernel_bug");
  EXPECT_EQ(result.stats["total"]["ops"]["kernel_faults"], 1u);
  EXPECT_NE(result.stop_detail.find("BUG: unable to handle kernel paging request at "
                                    "0xffffc90000000008 (CPU 0, 'load $a+0x8' at "),
            std::string::npos)
      << result.stop_detail;
  EXPECT_NE(result.stop_detail.find("use_after_free.trace:5)"), std::string::npos);
}

TEST(GuestDiagnostics, TouchingTheGuardPageOopses) {
  const auto result =
      run_trace("guard.trace", header(1) + "0 vmalloc $a 8192\n0 touch $a 12KiB stride=4096\n", 1);
  // Two mapped pages, then the guard page.
  EXPECT_EQ(result.stats["total"]["ops"]["touch_accesses"], 3u);
  EXPECT_EQ(result.stats["total"]["ops"]["kernel_faults"], 1u);
  EXPECT_EQ(result.stats["kernel"]["bugs"], 1u);
}

TEST(GuestVmapBlocks, UnmapAliasesFlushesTheDirtyRangeOfAPerCpuBlock) {
  // Two vm_map_ram(4 pages) calls share a new per-CPU block; vm_unmap_ram() of the first only
  // unmaps it and marks pages 0-3 of the block dirty. The block is still partly in use
  // (free 1016 + dirty 4 < 1024), so vm_unmap_aliases() does not retire it: it flushes
  // exactly the 4 dirty pages, on every CPU.
  const auto stats = run_trace("aliases.trace", header(4) + R"(0 vm_map_ram $m 4
0 vm_map_ram $k 4
0 vm_unmap_ram $m
0 vm_unmap_aliases
)",
                               4)
                         .stats;
  const auto& vm = stats["vmalloc"];
  EXPECT_EQ(vm["vmap_blocks_created"], 1u);
  EXPECT_EQ(vm["vmap_blocks_purged"], 0u);
  EXPECT_EQ(vm["alias_flushes"], 1u);
  EXPECT_EQ(vm["purges"], 0u);
  const auto& shootdown = stats["total"]["shootdown"];
  EXPECT_EQ(shootdown["started"], 1u);
  EXPECT_EQ(shootdown["started_ranges"], 1u);
  EXPECT_EQ(shootdown["nr_tlb_local_flush_one"], 16u);  // 4 pages on 4 CPUs
  // The caller's pages: 8 allocated, the 4 of $m freed after its unmapping.
  EXPECT_EQ(vm["page_alloc"]["pages_allocated"], 8u);
  EXPECT_EQ(vm["page_alloc"]["pages_freed"], 4u);
}

TEST(GuestVmapBlocks, UnmapAliasesRetiresAFragmentedBlockThroughALazyPurge) {
  // With its only allocation unmapped, the block is free 1020 + dirty 4 = 1024 pages:
  // fragmented. vm_unmap_aliases() retires it, lazily freeing its whole 1024-page area, and
  // the purge that follows flushes that area - above the 33-page ceiling, a full flush.
  const auto stats = run_trace("fragmented.trace", header(4) + R"(0 vm_map_ram $m 4
0 vm_unmap_ram $m
0 vm_unmap_aliases
)",
                               4)
                         .stats;
  const auto& vm = stats["vmalloc"];
  EXPECT_EQ(vm["vmap_blocks_created"], 1u);
  EXPECT_EQ(vm["vmap_blocks_purged"], 1u);
  EXPECT_EQ(vm["alias_flushes"], 0u);
  EXPECT_EQ(vm["purges"], 1u);
  EXPECT_EQ(vm["areas_purged"], 1u);
  EXPECT_EQ(vm["pages_purged"], 1024u);
  EXPECT_EQ(stats["total"]["shootdown"]["started_full"], 1u);
  EXPECT_EQ(stats["total"]["shootdown"]["started"], 1u);
}

// Every API op of the trace format once, as a driver would use them together; none may fail,
// warn or fault.
constexpr const char* kEveryApi = R"(boot vm_area_register_early $early 8192 align=4096
boot vm_area_add_early 0xffffe8fff0000000 8192
0 vmalloc $a 16KiB
0 vzalloc $b 4096
0 vmalloc_user $u 8192
0 vmalloc_node $n 4096 node=0
0 vzalloc_node $zn 4096 node=0
0 vmalloc_exec $x 4096
0 vmalloc_32 $d 4096
0 vmalloc_32_user $du 4096
0 __vmalloc_node $an 8192 align=65536
0 __vmalloc_node_range $m 8192 modules exec
0 touch $a
0 fetch $x
0 vwrite $a 16KiB byte=7
0 vread $a+4096 8192
0 remap_vmalloc_range $u mm=1 uaddr=0x400000
0 remap_vmalloc_range_partial $u 4096 mm=2 uaddr=0x800000
0 mov_cr3 mm=1 pcid=1
0 load 0x401008 user
0 mov_cr3 mm=0
0 vmap $v 3
0 load $v+8192
0 vunmap $v
0 vm_map_ram $r 2
0 store $r+4096
0 vm_unmap_ram $r
0 get_vm_area $g 16KiB ioremap
0 map_kernel_range_noflush $g 8192
0 unmap_kernel_range $g 8192
0 free_vm_area $g
0 get_vm_area $g2 8192 alloc
0 map_kernel_range_noflush $g2 4096
0 unmap_kernel_range_noflush $g2 4096
0 free_vm_area $g2
0 alloc_vm_area $av 8192
0 find_vm_area $av
0 remove_vm_area $av
0 pcpu_get_vm_areas $p 2 8192
0 pcpu_free_vm_areas $p
1 vfree_atomic $b
0 vfree $a
0 vfree $n
0 vfree $zn
0 vfree $x
0 vfree $d
0 vfree $du
0 vfree $an
0 vfree $m
0 vm_unmap_aliases
0 vmallocinfo
)";

TEST(GuestApi, EveryOpRunsOnceWithoutFailureWarningOrFault) {
  const auto result = run_trace("every_api.trace", header(2) + kEveryApi, 2);
  ASSERT_EQ(result.error, "");
  const auto& stats = result.stats;
  EXPECT_EQ(stats["sim"]["stop_reason"], "completed");
  EXPECT_EQ(stats["kernel"]["warnings"], 0u) << stats["kernel"]["log"];
  EXPECT_EQ(stats["kernel"]["bugs"], 0u) << stats["kernel"]["log"];
  EXPECT_EQ(stats["total"]["ops"]["guest_failures"], 0u);
  EXPECT_EQ(stats["total"]["ops"]["kernel_faults"], 0u);
  std::uint64_t faults = 0;
  for (const auto& item : stats["total"]["translation"]["faults"].items())
    faults += item.value().get<std::uint64_t>();
  EXPECT_EQ(faults, 0u);
  EXPECT_EQ(stats["sanitizer"]["stale_tlb_hits"], 0u);
  const auto& vm = stats["vmalloc"];
  for (const char* call : {"vmalloc",
                           "vzalloc",
                           "vmalloc_user",
                           "vmalloc_node",
                           "vzalloc_node",
                           "vmalloc_exec",
                           "vmalloc_32",
                           "vmalloc_32_user",
                           "vfree_atomic",
                           "vunmap",
                           "vmap",
                           "vm_map_ram",
                           "vm_unmap_ram",
                           "vm_unmap_aliases",
                           "alloc_vm_area",
                           "unmap_kernel_range",
                           "pcpu_get_vm_areas",
                           "pcpu_free_vm_areas",
                           "vread",
                           "vwrite"}) {
    EXPECT_EQ(vm[call], 1u) << call;
  }
  EXPECT_EQ(vm["remap_vmalloc_range"], 2u);  // and its _partial form
  EXPECT_EQ(vm["map_kernel_range_noflush"], 2u);
  EXPECT_EQ(vm["vfree"], 8u);
  EXPECT_EQ(vm["deferred_frees"], 1u);
  EXPECT_EQ(vm["invariants"], "ok");
}

TEST(Spans, TimeAndFailuresAreReportedPerName) {
  const auto result = run_trace("spans.trace", header(2) + R"(0 begin t
0 compute 1000
0 end t
0 begin t
0 vmalloc $zero 0
0 end t
1 begin u
1 compute 7
1 end u
)",
                                2, {"run.quantum_cycles=0"});
  ASSERT_EQ(result.error, "");
  const auto& t = result.stats["spans"]["t"];
  EXPECT_EQ(t["count"], 2u);
  EXPECT_EQ(t["passed"], 1u);  // vmalloc(0) returned NULL inside the second
  EXPECT_EQ(t["failed"], 1u);
  EXPECT_EQ(t["max_cycles"], 1000u);
  // vmalloc(0) fails at once: one latency.vmalloc.call (40) entering __vmalloc_node_range.
  EXPECT_EQ(t["min_cycles"], 40u);
  EXPECT_EQ(t["cycles"], 1040u);
  EXPECT_EQ(result.stats["spans"]["u"]["cycles"], 7u);
  EXPECT_EQ(result.stats["per_cpu"][1]["spans"]["u"]["count"], 1u);
  EXPECT_FALSE(result.stats["per_cpu"][0]["spans"].contains("u"));
}

TEST(Spans, UnbalancedSpansAreTraceErrors) {
  const auto open = run_trace("span_open.trace", header(1) + "0 begin t\n0 compute 1\n", 1);
  EXPECT_TRUE(open.input_error);
  EXPECT_NE(open.error.find("span_open.trace:3: 'begin t' is never ended"), std::string::npos)
      << open.error;
  const auto stray = run_trace("span_stray.trace", header(1) + "0 end t\n", 1);
  EXPECT_TRUE(stray.input_error);
  EXPECT_NE(stray.error.find("span_stray.trace:3: 'end t' without 'begin t' on this CPU"),
            std::string::npos)
      << stray.error;
}

TEST(PageAttributes, SetMemoryRoDropsAliasesFlushesEverythingAndProtects) {
  // 4.19's change_page_attr_set_clr(): vm_unmap_aliases(), the PTE changes, then
  // __cpa_flush_range's global flush on every CPU (no vmstat event counted for it).
  const auto result = run_trace("cpa.trace", header(4) + R"(0 vmalloc_exec $text 8192
0 fetch $text
0 set_memory_ro $text 2
0 fetch $text+4096
0 store $text
0 set_memory_ro $text 2
)",
                                4);
  ASSERT_EQ(result.error, "");
  const auto& stats = result.stats;
  EXPECT_EQ(stats["vmalloc"]["vm_unmap_aliases"], 2u);
  const auto& shootdown = stats["total"]["shootdown"];
  // The second set_memory_ro changes nothing: no flush.
  EXPECT_EQ(shootdown["started"], 1u);
  EXPECT_EQ(shootdown["started_full"], 1u);
  EXPECT_EQ(shootdown["full_flushes_executed"], 4u);
  EXPECT_EQ(shootdown["nr_tlb_remote_flush_received"], 0u);
  EXPECT_EQ(shootdown["nr_tlb_remote_flush"], 0u);
  // Still executable; no longer writable: the store oopses.
  EXPECT_EQ(stats["total"]["translation"]["faults"]["write_protect"], 1u);
  EXPECT_EQ(stats["total"]["ops"]["kernel_faults"], 1u);
  EXPECT_EQ(stats["kernel"]["bugs"], 1u);
  EXPECT_EQ(stats["memory"]["page_tables"]["leaves_changed"], 2u);
}

TEST(PageAttributes, MisalignedAddressWarnsOnceAndAUnmappedPageStops) {
  const auto result = run_trace("cpa_warn.trace", header(1) + R"(0 vmalloc $a 4096
0 set_memory_nx $a+8 1
0 set_memory_x $a+8 1
0 set_memory_ro $a 2
)",
                                1);
  const auto& log = result.stats["kernel"]["log"];
  ASSERT_EQ(result.stats["kernel"]["warnings"], 2u) << log;
  EXPECT_NE(log[0].get<std::string>().find("at arch/x86/mm/pageattr.c change_page_attr_set_clr"),
            std::string::npos);
  // The guard page after the one page of $a is not mapped.
  EXPECT_NE(log[1].get<std::string>().find(
                "CPA: called for zero pte. vaddr = 0xffffc90000001000 cpa->vaddr = "
                "0xffffc90000000000"),
            std::string::npos)
      << log[1];
}

TEST(GuestConfig, NrCpusBelowThePlatformIsRejected) {
  try {
    (void)parse_config("{}", "test.json", "", {"platform.cpus=8", "vmalloc.nr_cpus=4"});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.errors().size(), 1u);
    EXPECT_NE(e.errors()[0].find("vmalloc.nr_cpus: 4 is below platform.cpus (8)"),
              std::string::npos)
        << e.errors()[0];
  }
}

TEST(GuestConfig, TestVmallocThreadsBeyondThePlatformAreRejected) {
  try {
    (void)parse_config(
        "{}", "test.json", "",
        {"platform.cpus=2", "workload.kind=test_vmalloc", "workload.test_vmalloc.nr_threads=3"});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.errors().size(), 1u);
    EXPECT_NE(e.errors()[0].find("workload.test_vmalloc.nr_threads: 3 is above platform.cpus (2)"),
              std::string::npos)
        << e.errors()[0];
  }
}

TEST(GuestDeterminism, TheSameTraceGivesTheSameStatistics) {
  const std::string trace = alloc_then_free(4, 40, 40) + "1 vm_map_ram $m 8\n1 vm_unmap_ram $m\n";
  const auto first = run_trace("det.trace", trace, 4).stats;
  const auto second = run_trace("det.trace", trace, 4).stats;
  EXPECT_EQ(first.dump(), second.dump());
}

}  // namespace
}  // namespace mmusim::sim
