// The scenarios generator: each scenario's exact op sequence for small fixed parameters (worked
// out by hand from the Linux 4.19 paths described in workloads/scenarios.h), the weighted mix's
// proportions, handle reuse, determinism, and that every op is what the trace reader would
// read from its canonical text.
#include "workloads/scenarios.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mmu/random.h"
#include "tests/workloads/op_printer.h"
#include "workloads/config.h"
#include "workloads/op.h"
#include "workloads/trace.h"

namespace mmusim::workloads {
namespace {

constexpr std::uint64_t kSeed = 7;

void fix(ScenarioRange& range, std::uint32_t value) {
  range.min = value;
  range.max = value;
}

// One iteration of `only`, with touches one access per page.
ScenariosConfig only(Scenario scenario) {
  ScenariosConfig config;
  config.iterations_per_cpu = 1;
  config.access_stride = 4096;
  config.vmap_stack.weight = scenario == Scenario::kVmapStack ? 1 : 0;
  config.module_load.weight = scenario == Scenario::kModuleLoad ? 1 : 0;
  config.bpf_jit.weight = scenario == Scenario::kBpfJit ? 1 : 0;
  config.xfs_buf.weight = scenario == Scenario::kXfsBuf ? 1 : 0;
  config.ring_buffer.weight = scenario == Scenario::kRingBuffer ? 1 : 0;
  return config;
}

std::vector<Op> all_ops(const ScenariosConfig& config, int cpu, std::uint64_t seed = kSeed) {
  ScenariosWorkload workload(config, seed);
  auto source = workload.source(cpu);
  std::vector<Op> ops;
  Op op;
  while (source->next(op))
    ops.push_back(op);
  return ops;
}

std::vector<std::string> texts(const std::vector<Op>& ops) {
  std::vector<std::string> out;
  for (const Op& op : ops)
    out.push_back(format_op(op));
  return out;
}

std::string hex(std::uint64_t value) {
  char text[32];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

// ---------------------------------------------------------------------------------------------
// vmap_stack

TEST(VmapStack, ThreeThreadsTwiceFollowTheCacheOfTwoStacks) {
  ScenariosConfig config = only(Scenario::kVmapStack);
  config.iterations_per_cpu = 2;
  fix(config.vmap_stack.threads, 3);
  fix(config.vmap_stack.stack_touch_bytes, 4096);
  fix(config.vmap_stack.run_cycles, 100);
  // The first iteration finds the cache empty: three __vmalloc_node_range() calls (16 KiB,
  // 16 KiB aligned, zeroed). On exit stacks 0 and 1 fill cached_stacks[0] and [1], stack 2 is
  // freed with vfree_atomic(). The second iteration takes slots 0 and 1 (cleared: one store per
  // page) and allocates a third stack, reusing handle 2.
  const std::vector<std::string> run = {
      "touch $c0_stack0+0x3000 4096 store", "compute 100",
      "touch $c0_stack1+0x3000 4096 store", "compute 100",
      "touch $c0_stack2+0x3000 4096 store", "compute 100",
  };
  std::vector<std::string> expected = {
      "begin vmap_stack", "__vmalloc_node_range $c0_stack0 16384 align=16384 zero",
      "store $c0_stack0", "__vmalloc_node_range $c0_stack1 16384 align=16384 zero",
      "store $c0_stack1", "__vmalloc_node_range $c0_stack2 16384 align=16384 zero",
      "store $c0_stack2",
  };
  expected.insert(expected.end(), run.begin(), run.end());
  const std::vector<std::string> second = {
      "vfree_atomic $c0_stack2", "end vmap_stack",
      "begin vmap_stack",        "touch $c0_stack0 16384 store",
      "store $c0_stack0",        "touch $c0_stack1 16384 store",
      "store $c0_stack1",        "__vmalloc_node_range $c0_stack2 16384 align=16384 zero",
      "store $c0_stack2",
  };
  expected.insert(expected.end(), second.begin(), second.end());
  expected.insert(expected.end(), run.begin(), run.end());
  expected.push_back("vfree_atomic $c0_stack2");
  expected.push_back("end vmap_stack");
  EXPECT_EQ(texts(all_ops(config, 0)), expected);
}

TEST(VmapStack, OneThreadAtATimeAllocatesOnceAndNeverFrees) {
  ScenariosConfig config = only(Scenario::kVmapStack);
  config.iterations_per_cpu = 50;
  fix(config.vmap_stack.threads, 1);
  std::map<OpKind, int> kinds;
  for (const Op& op : all_ops(config, 0))
    ++kinds[op.kind];
  EXPECT_EQ(kinds[OpKind::kVmallocNodeRange], 1);
  EXPECT_EQ(kinds[OpKind::kVfreeAtomic], 0);
  EXPECT_EQ(kinds[OpKind::kSpanBegin], 50);
}

TEST(VmapStack, StacksTouchedFromTheTopDown) {
  ScenariosConfig config = only(Scenario::kVmapStack);
  config.iterations_per_cpu = 200;
  config.vmap_stack.stack_touch_bytes = {100, 16384, 0, 16384};
  int touches = 0;
  for (const Op& op : all_ops(config, 0)) {
    if (op.kind != OpKind::kTouch || op.size == 16384) continue;  // not a cache reuse's clear
    ++touches;
    EXPECT_EQ(op.addr + op.size, 16384u) << format_op(op);
    EXPECT_GE(op.size, 100u);
    EXPECT_EQ(op.value, 4096u);
  }
  EXPECT_GT(touches, 200);
}

// ---------------------------------------------------------------------------------------------
// module_load

ScenariosConfig one_page_module() {
  ScenariosConfig config = only(Scenario::kModuleLoad);
  ModuleLoadScenarioConfig& m = config.module_load;
  fix(m.text_pages, 1);
  fix(m.rodata_pages, 1);
  fix(m.ro_after_init_pages, 1);
  fix(m.data_pages, 1);
  fix(m.init_text_pages, 1);
  fix(m.init_data_pages, 1);
  fix(m.text_fetches, 2);
  return config;
}

TEST(ModuleLoad, OnePagePerSectionFollows419FrobCalls) {
  // Core: text | rodata | ro_after_init | data, a page each (16 KiB); init: text | data (8 KiB).
  // The set_memory_* calls are 4.19's frob_*() calls in the order complete_formation(),
  // do_init_module() and free_module() make them; after init the init layout is NULL, sizes 0.
  const std::vector<std::string> expected = {
      "begin module_load",
      "__vmalloc_node_range $c0_mod 16384 align=4096 modules exec",
      "touch $c0_mod 16384 store",
      "__vmalloc_node_range $c0_modinit 8192 align=4096 modules exec",
      "touch $c0_modinit 8192 store",
      // module_enable_ro(mod, false)
      "set_memory_ro $c0_mod 1",
      "set_memory_ro $c0_mod+0x1000 1",
      "set_memory_ro $c0_modinit 1",
      "set_memory_ro $c0_modinit+0x1000 0",
      // module_enable_nx(mod)
      "set_memory_nx $c0_mod+0x1000 1",
      "set_memory_nx $c0_mod+0x2000 1",
      "set_memory_nx $c0_mod+0x3000 1",
      "set_memory_nx $c0_modinit+0x1000 0",
      "set_memory_nx $c0_modinit+0x1000 1",
      // mod->init()
      "fetch $c0_modinit",
      // module_enable_ro(mod, true)
      "set_memory_ro $c0_mod 1",
      "set_memory_ro $c0_mod+0x1000 1",
      "set_memory_ro $c0_modinit 1",
      "set_memory_ro $c0_modinit+0x1000 0",
      "set_memory_ro $c0_mod+0x2000 1",
      // disable_ro_nx(&mod->init_layout)
      "set_memory_rw $c0_modinit 1",
      "set_memory_rw $c0_modinit+0x1000 0",
      "set_memory_rw $c0_modinit+0x1000 0",
      "set_memory_x $c0_modinit+0x1000 0",
      "set_memory_x $c0_modinit+0x1000 0",
      "set_memory_x $c0_modinit+0x1000 1",
      // the module in use: one text page, so every fetch is at its start
      "fetch $c0_mod",
      "fetch $c0_mod",
      // do_free_init() from RCU
      "irq {",
      "vfree $c0_modinit",
      "}",
      // free_module(): disable_ro_nx(&mod->init_layout), now empty
      "set_memory_rw 0x0 0",
      "set_memory_rw 0x0 0",
      "set_memory_rw 0x0 0",
      "set_memory_x 0x0 0",
      "set_memory_x 0x0 0",
      "set_memory_x 0x0 0",
      // disable_ro_nx(&mod->core_layout), module_memfree()
      "set_memory_rw $c0_mod 1",
      "set_memory_rw $c0_mod+0x1000 1",
      "set_memory_rw $c0_mod+0x2000 1",
      "set_memory_x $c0_mod+0x1000 1",
      "set_memory_x $c0_mod+0x2000 1",
      "set_memory_x $c0_mod+0x3000 1",
      "vfree $c0_mod",
      "end module_load",
  };
  EXPECT_EQ(texts(all_ops(one_page_module(), 0)), expected);
}

TEST(ModuleLoad, WithoutInitSectionsTheInitLayoutIsNull) {
  ScenariosConfig config = one_page_module();
  fix(config.module_load.init_text_pages, 0);
  fix(config.module_load.init_data_pages, 0);
  const std::vector<Op> ops = all_ops(config, 0);
  int null_calls = 0;
  for (const Op& op : ops) {
    EXPECT_NE(op.name_view(), "c0_modinit") << format_op(op);
    EXPECT_NE(op.kind, OpKind::kIrqEnter);
    if (op.kind >= OpKind::kSetMemoryRo && op.kind <= OpKind::kSetMemoryNx &&
        !op.has(op_flags::kHandleAddr)) {
      EXPECT_EQ(op.addr, 0u);
      EXPECT_EQ(op.value, 0u);
      ++null_calls;
    }
  }
  // 4 in module_enable_ro twice, 2 in module_enable_nx, 6 in each init disable_ro_nx.
  EXPECT_EQ(null_calls, 2 + 2 + 2 + 6 + 6);
  EXPECT_EQ(ops.size(), 45u - 2 - 1 - 3);  // no init alloc and write, init fetch, irq block
}

TEST(ModuleLoad, FetchesStayInTheCoreText) {
  ScenariosConfig config = one_page_module();
  config.iterations_per_cpu = 20;
  fix(config.module_load.text_pages, 8);
  config.module_load.text_fetches = {100, 100, 0, 65536};
  std::set<std::uint64_t> pages;
  for (const Op& op : all_ops(config, 0)) {
    if (op.kind != OpKind::kFetch || op.name_view() != "c0_mod") continue;
    EXPECT_EQ(op.addr % 4096, 0u);
    pages.insert(op.addr / 4096);
  }
  // 2000 uniform draws over 8 pages reach every one of them.
  EXPECT_EQ(pages, (std::set<std::uint64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
}

// ---------------------------------------------------------------------------------------------
// bpf_jit

TEST(BpfJit, OneSmallProgramRunTwice) {
  ScenariosConfig config = only(Scenario::kBpfJit);
  fix(config.bpf_jit.programs, 1);
  fix(config.bpf_jit.insns, 16);
  fix(config.bpf_jit.runs, 2);
  config.bpf_jit.jit_bytes_per_insn = 6;
  // bpf_prog: 56 + 16 x 8 = 184 bytes, one page. Image: 16 x 6 = 96 bytes of code; size
  // round_up(96 + 4 + 128, 4096) = 4096; hole = min(4096 - 100, 4092) = 3996. The code's offset
  // is 4 + the stream's third draw (after the programs and insns draws), below(3996).
  mmu::Rng rng(kSeed, "workload.scenarios.bpf_jit.cpu0");
  rng.between(1, 1);
  rng.between(16, 16);
  const std::string code = hex(4 + rng.below(3996));
  const std::vector<std::string> expected = {
      "begin bpf_jit",
      "__vmalloc_node $c0_bpf0_prog 4096 zero",
      "touch $c0_bpf0_prog 184 store",
      "touch $c0_bpf0_prog+0x38 128",
      "__vmalloc_node_range $c0_bpf0_img 4096 align=4096 modules exec",
      "touch $c0_bpf0_img 4096 store",
      "touch $c0_bpf0_img+" + code + " 96 store",
      "set_memory_ro $c0_bpf0_img 1",
      "set_memory_ro $c0_bpf0_prog 1",
      "fetch $c0_bpf0_img+" + code,
      "compute 16",
      "fetch $c0_bpf0_img+" + code,
      "compute 16",
      "set_memory_rw $c0_bpf0_img 1",
      "vfree $c0_bpf0_img",
      "set_memory_rw $c0_bpf0_prog 1",
      "vfree $c0_bpf0_prog",
      "end bpf_jit",
  };
  EXPECT_EQ(texts(all_ops(config, 0)), expected);
}

TEST(BpfJit, ALargeImageIsFetchedOnEveryPageItSpans) {
  ScenariosConfig config = only(Scenario::kBpfJit);
  config.iterations_per_cpu = 30;
  fix(config.bpf_jit.programs, 1);
  fix(config.bpf_jit.insns, 1024);
  fix(config.bpf_jit.runs, 1);
  // Code 6144 bytes; image round_up(6144 + 132, 4096) = 8192 (2 pages); hole = min(8192 - 6148,
  // 4092) = 2044, so the code starts in [4, 2048) and ends past 4096: one fetch on each page.
  // The bpf_prog is 56 + 8192 bytes: 3 pages.
  std::vector<Op> fetches;
  for (const Op& op : all_ops(config, 0)) {
    if (op.kind == OpKind::kFetch) fetches.push_back(op);
    if (op.kind == OpKind::kSetMemoryRo || op.kind == OpKind::kSetMemoryRw) {
      EXPECT_EQ(op.value, op.name_view() == "c0_bpf0_img" ? 2u : 3u) << format_op(op);
    }
  }
  ASSERT_EQ(fetches.size(), 60u);
  for (std::size_t i = 0; i < fetches.size(); i += 2) {
    EXPECT_GE(fetches[i].addr, 4u);
    EXPECT_LT(fetches[i].addr, 2048u);
    EXPECT_EQ(fetches[i + 1].addr, 4096u);
  }
}

// ---------------------------------------------------------------------------------------------
// xfs_buf

TEST(XfsBuf, TwoWrittenBuffersOfFourPages) {
  ScenariosConfig config = only(Scenario::kXfsBuf);
  fix(config.xfs_buf.buffers, 2);
  fix(config.xfs_buf.pages, 4);
  config.xfs_buf.store_percent = 100;
  const std::vector<std::string> expected = {
      "begin xfs_buf",
      "vm_map_ram $c0_xbuf0 4",
      "touch $c0_xbuf0 16384 store",
      "vm_map_ram $c0_xbuf1 4",
      "touch $c0_xbuf1 16384 store",
      "vm_unmap_ram $c0_xbuf0 4",
      "vm_unmap_ram $c0_xbuf1 4",
      "end xfs_buf",
  };
  EXPECT_EQ(texts(all_ops(config, 0)), expected);
}

TEST(XfsBuf, PageCountsArePowersOfTwoInTheRange) {
  ScenariosConfig config = only(Scenario::kXfsBuf);
  config.iterations_per_cpu = 300;
  config.xfs_buf.pages = {3, 20, 2, 64};
  config.xfs_buf.store_percent = 0;
  std::map<std::uint64_t, int> counts;
  for (const Op& op : all_ops(config, 0)) {
    if (op.kind == OpKind::kVmMapRam) ++counts[op.value];
    if (op.kind == OpKind::kTouch) {
      EXPECT_FALSE(op.has(op_flags::kStore));
    }
  }
  ASSERT_EQ(counts.size(), 3u);
  // 4, 8 and 16, each a third of about 1350 buffers (300 x uniform 1..8): far from zero.
  for (const std::uint64_t pages : {4u, 8u, 16u})
    EXPECT_GT(counts[pages], 300) << pages;
}

// ---------------------------------------------------------------------------------------------
// ring_buffer

TEST(RingBuffer, ThreePagesThreeRoundsOnCpu1) {
  ScenariosConfig config = only(Scenario::kRingBuffer);
  fix(config.ring_buffer.pages, 3);
  fix(config.ring_buffer.rounds, 3);
  // CPU 1's process is mm 2, with PCID 1. Data pages are 1 and 2 (page 0 holds head and tail),
  // filled in turn: 1, 2, 1.
  std::vector<std::string> expected = {
      "begin ring_buffer",
      "mov_cr3 mm=2 pcid=1",
      "vmalloc_user $c1_ring 12288",
      "remap_vmalloc_range $c1_ring mm=2 uaddr=0x7f0000000000",
  };
  for (const std::string page : {"1000", "2000", "1000"}) {
    const std::vector<std::string> round = {
        "irq {",
        "touch $c1_ring+0x" + page + " 4096 store",
        "store $c1_ring",
        "}",
        "load 0x7f0000000000 user",
        "touch 0x7f000000" + page + " 4096 user",
        "store 0x7f0000000008 user",
    };
    expected.insert(expected.end(), round.begin(), round.end());
  }
  const std::vector<std::string> teardown = {
      "unmap 0x7f0000000000 12288 mm=2",
      "invlpg 0x7f0000000000",
      "invlpg 0x7f0000001000",
      "invlpg 0x7f0000002000",
      "vfree $c1_ring",
      "mov_cr3 noflush",
      "end ring_buffer",
  };
  expected.insert(expected.end(), teardown.begin(), teardown.end());
  EXPECT_EQ(texts(all_ops(config, 1)), expected);
}

TEST(RingBuffer, AboveTheCeilingMunmapFlushesTheWholePcidAndWithoutPcidsNothingIsKept) {
  ScenariosConfig config = only(Scenario::kRingBuffer);
  fix(config.ring_buffer.pages, 34);
  fix(config.ring_buffer.rounds, 0);
  config.ring_buffer.pcid = 0;
  const std::vector<std::string> expected = {
      "begin ring_buffer",
      "mov_cr3 mm=1",
      "vmalloc_user $c0_ring 139264",
      "remap_vmalloc_range $c0_ring mm=1 uaddr=0x7f0000000000",
      "unmap 0x7f0000000000 139264 mm=1",
      "mov_cr3 mm=1",
      "vfree $c0_ring",
      "mov_cr3",
      "end ring_buffer",
  };
  EXPECT_EQ(texts(all_ops(config, 0)), expected);
}

// ---------------------------------------------------------------------------------------------
// The mix

TEST(ScenarioMix, ProportionsFollowTheWeights) {
  ScenariosConfig config = only(Scenario::kVmapStack);
  config.iterations_per_cpu = 10000;
  config.vmap_stack.weight = 1;
  config.module_load.weight = 2;
  config.bpf_jit.weight = 3;
  config.xfs_buf.weight = 4;
  config.ring_buffer.weight = 0;
  // Keep every iteration short: only the span counts matter here.
  fix(config.vmap_stack.threads, 1);
  fix(config.module_load.text_fetches, 0);
  fix(config.bpf_jit.programs, 1);
  fix(config.bpf_jit.runs, 0);
  fix(config.xfs_buf.buffers, 1);
  std::map<std::string, int> spans;
  for (const Op& op : all_ops(config, 0)) {
    if (op.kind == OpKind::kSpanBegin) ++spans[std::string(op.name_view())];
  }
  // Expected 1000, 2000, 3000, 4000 of 10000; a binomial's standard deviation is at most 49
  // here, so each count lies within 4 of them (196) unless the stream is broken.
  const std::map<std::string, double> share = {
      {"vmap_stack", 0.1}, {"module_load", 0.2}, {"bpf_jit", 0.3}, {"xfs_buf", 0.4}};
  ASSERT_EQ(spans.size(), 4u);  // ring_buffer, of weight 0, never runs
  for (const auto& [name, p] : share) {
    EXPECT_NEAR(spans[name], 10000 * p, 4 * std::sqrt(10000 * p * (1 - p))) << name;
  }
  // The counts this seed gives: each within 0.6 standard deviations of its expectation.
  EXPECT_EQ(spans,
            (std::map<std::string, int>{
                {"vmap_stack", 984}, {"module_load", 1995}, {"bpf_jit", 3028}, {"xfs_buf", 3993}}));
}

TEST(ScenarioMix, SameSeedSameStreamOtherCpuOrSeedAnother) {
  ScenariosConfig config;
  config.iterations_per_cpu = 40;
  const std::vector<Op> a = all_ops(config, 2, 11);
  EXPECT_EQ(a, all_ops(config, 2, 11));
  EXPECT_NE(a, all_ops(config, 2, 12));
  // Another CPU draws its own streams (not just other handle names).
  std::vector<Op> b = all_ops(config, 3, 11);
  std::vector<OpKind> kinds_a;
  std::vector<OpKind> kinds_b;
  for (const Op& op : a)
    kinds_a.push_back(op.kind);
  for (const Op& op : b)
    kinds_b.push_back(op.kind);
  EXPECT_NE(kinds_a, kinds_b);
}

TEST(ScenarioMix, EveryOpIsWhatTheTraceReaderReadsFromItsText) {
  ScenariosConfig config;
  config.iterations_per_cpu = 300;
  for (const Op& op : all_ops(config, 5)) {
    ASSERT_EQ(parse_op(format_op(op)), op) << format_op(op);
  }
}

TEST(ScenarioMix, HandlesArePerCpuShortAndReused) {
  ScenariosConfig config;  // the defaults: every scenario, weight 1
  config.iterations_per_cpu = 2000;
  std::set<std::string> handles;
  for (const Op& op : all_ops(config, 4095)) {
    const std::string name(op.name_view());
    if (name.empty() || op.kind == OpKind::kSpanBegin || op.kind == OpKind::kSpanEnd) continue;
    EXPECT_EQ(name.rfind("c4095_", 0), 0u) << name;
    EXPECT_LE(name.size(), kMaxOpName);
    handles.insert(name);
  }
  // 2000 iterations, yet at most: 4 live + 2 cached stacks, mod and modinit, 8 programs of two
  // handles, 8 buffers and the ring.
  EXPECT_LE(handles.size(), 6u + 2 + 16 + 8 + 1);
  EXPECT_GE(handles.size(), 6u);
}

TEST(ScenarioMix, WhereNamesCpuIterationAndScenario) {
  ScenariosConfig config = only(Scenario::kXfsBuf);
  config.iterations_per_cpu = 2;
  fix(config.xfs_buf.buffers, 1);
  ScenariosWorkload workload(config, kSeed);
  auto source = workload.source(3);
  Op op;
  for (int i = 0; i < 6; ++i)
    ASSERT_TRUE(source->next(op));
  // Five ops per iteration: begin, map, touch, unmap, end.
  EXPECT_EQ(source->where(), "scenarios cpu 3 iteration 2 (xfs_buf) op 1");
}

TEST(ScenarioCatalog, NamesAreTheConfigSectionsAndSpans) {
  EXPECT_STREQ(scenario_name(Scenario::kVmapStack), "vmap_stack");
  EXPECT_STREQ(scenario_name(Scenario::kModuleLoad), "module_load");
  EXPECT_STREQ(scenario_name(Scenario::kBpfJit), "bpf_jit");
  EXPECT_STREQ(scenario_name(Scenario::kXfsBuf), "xfs_buf");
  EXPECT_STREQ(scenario_name(Scenario::kRingBuffer), "ring_buffer");
  // `mmusim list` shows each scenario's paragraph in the workload's entry.
  std::string listed;
  for (const WorkloadInfo& info : workload_catalog()) {
    if (std::string(info.name) == "scenarios") listed = info.description;
  }
  ASSERT_FALSE(listed.empty());
  for (const WorkloadInfo& scenario : kScenarioCatalog) {
    const std::string line =
        std::string("\n      scenarios.") + scenario.name + ": " + scenario.description;
    EXPECT_NE(listed.find(line), std::string::npos) << scenario.name;
  }
}

}  // namespace
}  // namespace mmusim::workloads
