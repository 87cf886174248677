// The x86 kernel TLB flush protocol on the simulated platform, with latencies chosen so every
// step is visible, and every expected cycle worked out by hand below:
//   flush_call 3; call_setup 100; csd_enqueue 10 per target; icr_write 50;
//   IPI delivery: same socket 200, other socket 500; irq_entry 30, irq_exit 20;
//   idle_wakeup 1000; call_handler 5; ack visible after 40 (same socket) / 80 (other);
//   ack poll 7 (same socket) / 9 (other); INVLPG 11; INVPCID type 2 (global flush) 300.
// Runs use quantum 0 (every op synchronises) unless a test says otherwise.
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mmu/types.h"
#include "sim/config_io.h"
#include "sim/experiment.h"

namespace mmusim::sim {
namespace {

const std::vector<std::string> kLatencies = {
    "latency.flush.flush_call=3",     "latency.ipi.call_setup=100",
    "latency.ipi.csd_enqueue=10",     "latency.ipi.icr_write=50",
    "latency.ipi.deliver_smt=200",    "latency.ipi.deliver_socket=200",
    "latency.ipi.deliver_remote=500", "latency.ipi.irq_entry=30",
    "latency.ipi.irq_exit=20",        "latency.ipi.idle_wakeup=1000",
    "latency.ipi.call_handler=5",     "latency.ipi.ack_smt=40",
    "latency.ipi.ack_socket=40",      "latency.ipi.ack_remote=80",
    "latency.ipi.ack_poll_smt=7",     "latency.ipi.ack_poll_socket=7",
    "latency.ipi.ack_poll_remote=9",  "latency.invlpg=11",
    "latency.invpcid_all_global=300", "latency.memory_access=4",
    "run.quantum_cycles=0",
};

std::string write_trace(const std::string& name, const std::string& text) {
  const std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

nlohmann::ordered_json run_trace(const std::string& name, const std::string& text,
                                 std::vector<std::string> overrides = {},
                                 const std::string& timeline = "") {
  std::vector<std::string> all = kLatencies;
  all.insert(all.end(), overrides.begin(), overrides.end());
  all.push_back("workload.kind=trace");
  all.push_back("workload.trace.path=" + write_trace(name, text));
  const ExperimentConfig config = parse_config("{}", "test", "", all);
  RunOptions options;
  options.write_outputs = false;
  options.timeline_path = timeline;
  nlohmann::ordered_json stats = run_experiment(config, options).stats;
  stats.erase("host");
  return stats;
}

// CPU 1 keeps busy with 50-cycle ops, so it takes an IPI at the first op boundary at or after
// the arrival.
std::string busy_cpu1(int ops = 100) {
  std::string text;
  for (int i = 0; i < ops; ++i)
    text += "1 compute 50\n";
  return text;
}

const std::string kHeader2 = "mmusim-trace 1\ncpus 2\nboot map 0xffffc90000000000 256KiB global\n";

TEST(Shootdown, OnePageToABusyTarget) {
  const auto stats = run_trace(
      "one_page.trace",
      kHeader2 + "0 flush_tlb_kernel_range 0xffffc90000000000 0xffffc90000001000\n" + busy_cpu1(),
      {"platform.cpus=2"});
  // CPU 0: flush_call 3, call_setup 100, one csd 10, one ICR write 50: the IPI leaves at 163
  // and arrives at 363. CPU 1 is inside the op 350-400 and takes it at 400: entry 30, INVLPG 11,
  // handler 5: acked at 446, visible to CPU 0 at 486, exit 20. CPU 0 polls (7): 493 is the
  // latency; then its own INVLPG: the call ends at 504.
  const auto& cpu0 = stats["per_cpu"][0];
  const auto& cpu1 = stats["per_cpu"][1];
  EXPECT_EQ(stats["shootdowns"]["latency_cycles"]["max"], 493u);
  EXPECT_EQ(stats["shootdowns"]["flush_call_cycles"]["max"], 504u);
  EXPECT_EQ(cpu0["finish_cycle"], 504u);
  EXPECT_EQ(cpu0["cycles"]["flush_send"], 163u);
  EXPECT_EQ(cpu0["cycles"]["flush_spin"], 330u);
  EXPECT_EQ(cpu0["cycles"]["flush_local"], 11u);
  EXPECT_EQ(cpu0["cycles"]["busy"], 504u);
  EXPECT_EQ(cpu1["cycles"]["ipi_handling"], 66u);
  EXPECT_EQ(cpu1["cycles"]["idle_wakeup"], 0u);
  EXPECT_EQ(cpu1["finish_cycle"], 5066u);
  EXPECT_EQ(stats["sim"]["cycles"], 5066u);
  EXPECT_EQ(cpu0["shootdown"]["started"], 1u);
  EXPECT_EQ(cpu0["shootdown"]["started_ranges"], 1u);
  EXPECT_EQ(cpu0["shootdown"]["ipis_sent"], 1u);
  EXPECT_EQ(cpu0["shootdown"]["icr_writes"], 1u);
  EXPECT_EQ(cpu1["shootdown"]["ipis_received"], 1u);
  EXPECT_EQ(cpu1["shootdown"]["calls_handled"], 1u);
  // Linux's vmstat counters: one __flush_tlb_one_kernel on each CPU.
  EXPECT_EQ(cpu0["shootdown"]["nr_tlb_local_flush_one"], 1u);
  EXPECT_EQ(cpu1["shootdown"]["nr_tlb_local_flush_one"], 1u);
  EXPECT_EQ(stats["total"]["shootdown"]["nr_tlb_remote_flush_received"], 0u);
  EXPECT_EQ(stats["total"]["shootdown"]["invlpg_executed"], 2u);
}

TEST(Shootdown, ThirtyThreePagesAreFlushedPageByPage) {
  const auto stats = run_trace(
      "pages33.trace",
      kHeader2 + "0 flush_tlb_kernel_range 0xffffc90000000000 0xffffc90000021000\n" + busy_cpu1(),
      {"platform.cpus=2"});
  // As above with 33 INVLPGs (363) in the handler: acked at 400 + 30 + 363 + 5 = 798, visible
  // at 838, polled at 845; CPU 0's own 33 INVLPGs end the call at 1208.
  EXPECT_EQ(stats["shootdowns"]["latency_cycles"]["max"], 845u);
  EXPECT_EQ(stats["shootdowns"]["flush_call_cycles"]["max"], 1208u);
  EXPECT_EQ(stats["per_cpu"][1]["cycles"]["ipi_handling"], 418u);
  EXPECT_EQ(stats["total"]["shootdown"]["invlpg_executed"], 66u);
  EXPECT_EQ(stats["total"]["shootdown"]["nr_tlb_local_flush_one"], 66u);
  EXPECT_EQ(stats["total"]["shootdown"]["full_flushes_executed"], 0u);
  EXPECT_EQ(stats["per_cpu"][0]["shootdown"]["started_ranges"], 1u);
}

TEST(Shootdown, ThirtyFourPagesAreAFullFlush) {
  const auto stats = run_trace(
      "pages34.trace",
      kHeader2 + "0 flush_tlb_kernel_range 0xffffc90000000000 0xffffc90000022000\n" + busy_cpu1(),
      {"platform.cpus=2"});
  // A global flush (INVPCID type 2, 300) instead: acked at 400 + 30 + 300 + 5 = 735, visible at
  // 775, polled at 782; CPU 0's global flush ends the call at 1082.
  EXPECT_EQ(stats["shootdowns"]["latency_cycles"]["max"], 782u);
  EXPECT_EQ(stats["shootdowns"]["flush_call_cycles"]["max"], 1082u);
  EXPECT_EQ(stats["per_cpu"][1]["cycles"]["ipi_handling"], 355u);
  EXPECT_EQ(stats["total"]["shootdown"]["invlpg_executed"], 0u);
  EXPECT_EQ(stats["total"]["shootdown"]["full_flushes_executed"], 2u);
  // do_flush_tlb_all counts a received remote flush on every CPU, the initiator too.
  EXPECT_EQ(stats["per_cpu"][0]["shootdown"]["nr_tlb_remote_flush_received"], 1u);
  EXPECT_EQ(stats["per_cpu"][1]["shootdown"]["nr_tlb_remote_flush_received"], 1u);
  EXPECT_EQ(stats["total"]["shootdown"]["nr_tlb_remote_flush"], 0u);
  EXPECT_EQ(stats["total"]["invalidation"]["invpcid_all_global"], 2u);
}

TEST(Shootdown, FlushTlbAllCountsARemoteFlush) {
  const auto stats =
      run_trace("all.trace", kHeader2 + "0 flush_tlb_all\n" + busy_cpu1(), {"platform.cpus=2"});
  EXPECT_EQ(stats["shootdowns"]["latency_cycles"]["max"], 782u);
  EXPECT_EQ(stats["per_cpu"][0]["shootdown"]["nr_tlb_remote_flush"], 1u);
  EXPECT_EQ(stats["per_cpu"][1]["shootdown"]["nr_tlb_remote_flush"], 0u);
  EXPECT_EQ(stats["total"]["shootdown"]["nr_tlb_remote_flush_received"], 2u);
}

TEST(Shootdown, AnIdleTargetWakesUpFirst) {
  const auto stats = run_trace(
      "idle.trace",
      kHeader2 + "0 flush_tlb_kernel_range 0xffffc90000000000 0xffffc90000001000\n1 idle\n",
      {"platform.cpus=2"});
  // CPU 1 halts at 0 and wakes at the arrival, 363: wake-up 1000, then the handler from 1363:
  // acked at 1409, visible at 1449, CPU 0 polls at 1456 and ends at 1467.
  const auto& cpu1 = stats["per_cpu"][1];
  EXPECT_EQ(stats["shootdowns"]["latency_cycles"]["max"], 1456u);
  EXPECT_EQ(stats["per_cpu"][0]["finish_cycle"], 1467u);
  EXPECT_EQ(cpu1["cycles"]["idle"], 363u);
  EXPECT_EQ(cpu1["cycles"]["idle_wakeup"], 1000u);
  EXPECT_EQ(cpu1["cycles"]["ipi_handling"], 66u);
  EXPECT_EQ(cpu1["finish_cycle"], 1429u);
}

TEST(Shootdown, ATargetWithInterruptsOffTakesItAtIrqOn) {
  const auto stats =
      run_trace("irq_off.trace",
                kHeader2 +
                    "0 flush_tlb_kernel_range 0xffffc90000000000 0xffffc90000001000\n"
                    "1 irq_off\n1 compute 1000\n1 irq_on\n1 compute 10\n",
                {"platform.cpus=2"});
  // The IPI arrives at 363 but waits for irq_on at 1000: acked at 1046, visible at 1086,
  // polled at 1093; CPU 0 ends at 1104. CPU 1 ends at 1000 + 66 + 10.
  EXPECT_EQ(stats["shootdowns"]["latency_cycles"]["max"], 1093u);
  EXPECT_EQ(stats["per_cpu"][0]["finish_cycle"], 1104u);
  EXPECT_EQ(stats["per_cpu"][1]["finish_cycle"], 1076u);
  EXPECT_EQ(stats["per_cpu"][1]["cycles"]["idle_wakeup"], 0u);
}

TEST(Shootdown, TwoInitiatorsShootEachOtherDown) {
  const auto stats =
      run_trace("two.trace",
                kHeader2 +
                    "0 flush_tlb_kernel_range 0xffffc90000000000 0xffffc90000001000\n"
                    "1 flush_tlb_kernel_range 0xffffc90000000000 0xffffc90000001000\n",
                {"platform.cpus=2"});
  // Both send at 163 and spin; each takes the other's IPI at 363 (66 cycles: 30 + 11 + 5 + 20)
  // and acks it at 409, visible at 449; each polls its own ack at 456 and ends at 467. Spin:
  // 456 - 163 = 293 of which 66 were the handler.
  for (int cpu = 0; cpu < 2; ++cpu) {
    const auto& c = stats["per_cpu"][cpu];
    EXPECT_EQ(c["finish_cycle"], 467u) << cpu;
    EXPECT_EQ(c["cycles"]["ipi_handling"], 66u) << cpu;
    EXPECT_EQ(c["cycles"]["flush_spin"], 227u) << cpu;
    EXPECT_EQ(c["shootdown"]["ipis_sent"], 1u) << cpu;
    EXPECT_EQ(c["shootdown"]["ipis_received"], 1u) << cpu;
  }
  EXPECT_EQ(stats["shootdowns"]["latency_cycles"]["count"], 2u);
  EXPECT_EQ(stats["shootdowns"]["latency_cycles"]["min"], 456u);
  EXPECT_EQ(stats["shootdowns"]["latency_cycles"]["max"], 456u);
  EXPECT_EQ(stats["sim"]["stop_reason"], "completed");
}

TEST(Shootdown, OtherSocketTargetsAndClusterWrites) {
  // Four CPUs on two sockets (CPUs 0-1 and 2-3), x2APIC clusters of 2: one ICR write for
  // CPU 1's cluster and one for CPUs 2-3.
  std::string trace =
      "mmusim-trace 1\ncpus 4\n0 flush_tlb_kernel_range 0xffffc90000000000 "
      "0xffffc90000001000\n1 idle\n2 idle\n3 idle\n";
  const auto stats =
      run_trace("sockets.trace", trace,
                {"platform.cpus=4", "platform.topology.sockets=2", "flush.x2apic_cluster_size=2"});
  // Setup: 3 + 100 + 3 x 10 = 133. Write 1 (CPU 1) at 183: arrives 383. Write 2 (CPUs 2, 3)
  // at 233: arrive 733. Each wakes (1000) and handles: CPU 1 acks at 383 + 1000 + 46 = 1429,
  // visible 1469; CPUs 2 and 3 at 733 + 1046 = 1779, visible 1859. CPU 0 polls in order:
  // 1469 + 7 = 1476, then 1859 + 9 = 1868, then + 9 = 1877; its INVLPG ends at 1888.
  const auto& cpu0 = stats["per_cpu"][0];
  EXPECT_EQ(cpu0["shootdown"]["icr_writes"], 2u);
  EXPECT_EQ(cpu0["shootdown"]["ipis_sent"], 3u);
  EXPECT_EQ(stats["shootdowns"]["latency_cycles"]["max"], 1877u);
  EXPECT_EQ(cpu0["finish_cycle"], 1888u);
  EXPECT_EQ(cpu0["cycles"]["flush_send"], 233u);
}

TEST(Shootdown, PhysicalModeWritesOncePerTarget) {
  const auto stats = run_trace(
      "physical.trace",
      "mmusim-trace 1\ncpus 4\n0 flush_tlb_kernel_range 0xffffc90000000000 0xffffc90000001000\n",
      {"platform.cpus=4", "flush.ipi_mode=physical"});
  EXPECT_EQ(stats["per_cpu"][0]["shootdown"]["icr_writes"], 3u);
  // Setup 133, writes at 183, 233, 283: the last IPI arrives at 483; the idle CPUs wake 1000
  // later and ack at 483 + 1046 = 1529, visible 1569: polls end at 1576.
  EXPECT_EQ(stats["shootdowns"]["latency_cycles"]["max"], 1576u);
}

TEST(Shootdown, InvlpgbNeedsNoIpis) {
  const auto stats =
      run_trace("invlpgb.trace",
                "mmusim-trace 1\ncpus 4\nboot map 0xffffc90000000000 64KiB global\n"
                "0 touch 0xffffc90000000000 40KiB\n1 touch 0xffffc90000000000 40KiB\n"
                "2 touch 0xffffc90000000000 40KiB\n3 touch 0xffffc90000000000 40KiB\n"
                "0 compute 5000\n0 flush_tlb_kernel_range 0xffffc90000000000 0xffffc9000000a000\n",
                {"platform.cpus=4", "platform.topology.sockets=2", "flush.mechanism=invlpgb",
                 "flush.invlpgb_count_max=8", "latency.flush.invlpgb=300",
                 "latency.flush.invlpgb_per_page=20", "latency.flush.tlbsync_remote=3000"});
  // 10 pages: INVLPGB of 8 pages (300 + 7 x 20) and of 2 (300 + 20), then TLBSYNC across
  // sockets (3000): 3 + 440 + 320 + 3000 = 3763 from the call's start.
  const auto& total = stats["total"];
  EXPECT_EQ(stats["shootdowns"]["latency_cycles"]["max"], 3763u);
  EXPECT_EQ(stats["per_cpu"][0]["shootdown"]["invlpgb_instructions"], 2u);
  EXPECT_EQ(stats["per_cpu"][0]["shootdown"]["tlbsyncs"], 1u);
  EXPECT_EQ(total["shootdown"]["ipis_sent"], 0u);
  EXPECT_EQ(total["shootdown"]["ipis_received"], 0u);
  EXPECT_EQ(total["cycles"]["ipi_handling"], 0u);
  // Every CPU received both broadcasts, which removed its 10 pages from L1 DTLB and STLB.
  for (int cpu = 0; cpu < 4; ++cpu) {
    EXPECT_EQ(stats["per_cpu"][cpu]["invalidation"]["invlpgb_received"], 2u) << cpu;
    EXPECT_EQ(stats["per_cpu"][cpu]["shootdown"]["invlpgb_entries_invalidated"], 20u) << cpu;
  }
}

// Every CPU caches a page; CPU 0 unmaps it. Without a flush, every CPU's later load uses its
// stale entry; with flush_tlb_kernel_range none does, and every load faults instead.
std::string unmap_trace(bool flush) {
  std::string text = "mmusim-trace 1\ncpus 4\nboot map 0xffffc90000000000 4096 global\n";
  for (int cpu = 0; cpu < 4; ++cpu)
    text += std::to_string(cpu) + " load 0xffffc90000000000\n";
  text += "0 compute 1000\n0 unmap 0xffffc90000000000 4096\n";
  if (flush) text += "0 flush_tlb_kernel_range 0xffffc90000000000 0xffffc90000001000\n";
  for (int cpu = 0; cpu < 4; ++cpu) {
    text += std::to_string(cpu) + " compute 20000\n" + std::to_string(cpu) +
            " load 0xffffc90000000000\n";
  }
  return text;
}

TEST(Shootdown, UnmapWithoutFlushLeavesStaleEntriesEverywhere) {
  const auto stats = run_trace("no_flush.trace", unmap_trace(false), {"platform.cpus=4"});
  EXPECT_EQ(stats["sanitizer"]["stale_tlb_hits"], 4u);
  EXPECT_EQ(stats["sanitizer"]["entries_marked_stale"], 8u);  // L1 DTLB and STLB of 4 CPUs
  EXPECT_EQ(stats["total"]["translation"]["faults"]["not_present"], 0u);
}

TEST(Shootdown, UnmapWithFlushLeavesNoStaleEntry) {
  const auto stats = run_trace("flush.trace", unmap_trace(true), {"platform.cpus=4"});
  EXPECT_EQ(stats["sanitizer"]["stale_tlb_hits"], 0u);
  EXPECT_EQ(stats["total"]["translation"]["faults"]["not_present"], 4u);
  EXPECT_EQ(stats["total"]["shootdown"]["entries_invalidated"], 8u);
}

std::string everyone_flushes(int cpus) {
  std::string text = "mmusim-trace 1\ncpus " + std::to_string(cpus) + "\n";
  for (int cpu = 0; cpu < cpus; ++cpu) {
    text += std::to_string(cpu) + " flush_tlb_kernel_range 0xffffc90000000000 0xffffc90000001000\n";
  }
  return text;
}

TEST(Shootdown, SixtyFourCpusAllInitiatingAtOnceAllFinish) {
  const auto stats = run_trace("all64.trace", everyone_flushes(64), {"platform.cpus=64"});
  EXPECT_EQ(stats["sim"]["stop_reason"], "completed");
  const auto& total = stats["total"]["shootdown"];
  EXPECT_EQ(total["started"], 64u);
  EXPECT_EQ(total["calls_queued"], 64u * 63u);
  EXPECT_EQ(total["calls_handled"], 64u * 63u);
  // A call queued behind a pending one needs no IPI of its own.
  EXPECT_EQ(total["ipis_sent"].get<std::uint64_t>() + total["calls_coalesced"].get<std::uint64_t>(),
            64u * 63u);
  EXPECT_EQ(total["ipis_sent"], total["ipis_received"]);
  EXPECT_EQ(total["nr_tlb_local_flush_one"], 64u * 64u);
  EXPECT_EQ(stats["shootdowns"]["latency_cycles"]["count"], 64u);
  for (int cpu = 0; cpu < 64; ++cpu)
    EXPECT_GT(stats["per_cpu"][cpu]["finish_cycle"], 0u);
}

TEST(Shootdown, SixtyFourCpusAreDeterministic) {
  const auto first = run_trace("det64a.trace", everyone_flushes(64), {"platform.cpus=64"});
  const auto second = run_trace("det64b.trace", everyone_flushes(64), {"platform.cpus=64"});
  EXPECT_EQ(first.dump(), second.dump());
}

// 64 CPUs that share state only through flushes: each fills its TLB with its own pages, then
// eight of them flush ranges while everyone computes. Whether the CPUs synchronise on every
// op or every 150 cycles (below the IPI delivery latency) or every 500, the counts agree.
std::string private_pages_and_flushes() {
  std::string text = "mmusim-trace 1\ncpus 64\nboot map 0xffffc90000000000 4MiB global\n";
  for (int cpu = 0; cpu < 64; ++cpu) {
    const std::string c = std::to_string(cpu) + " ";
    text += c + "touch " + mmu::hex(0xffffc90000000000ull + cpu * 0x10000ull) + " 64KiB\n";
    text += c + "compute 100000\n";
    if (cpu < 8) {
      text += c + "flush_tlb_kernel_range " + mmu::hex(0xffffc90000000000ull + cpu * 0x10000ull) +
              " " + mmu::hex(0xffffc90000008000ull + cpu * 0x10000ull) + "\n";
    }
    text += c + "compute 100000\n";
  }
  return text;
}

TEST(Shootdown, QuantumZeroAndDecoupledAgreeOnEveryCount) {
  const auto exact = run_trace("q0.trace", private_pages_and_flushes(), {"platform.cpus=64"});
  for (const char* quantum : {"150", "500"}) {
    const auto decoupled =
        run_trace(std::string("q") + quantum + ".trace", private_pages_and_flushes(),
                  {"platform.cpus=64", std::string("run.quantum_cycles=") + quantum});
    EXPECT_EQ(decoupled["total"]["shootdown"].dump(), exact["total"]["shootdown"].dump())
        << quantum;
    EXPECT_EQ(decoupled["total"]["invalidation"].dump(), exact["total"]["invalidation"].dump())
        << quantum;
    EXPECT_EQ(decoupled["total"]["ops"].dump(), exact["total"]["ops"].dump()) << quantum;
    EXPECT_EQ(decoupled["total"]["translation"]["translations"],
              exact["total"]["translation"]["translations"]);
  }
  EXPECT_EQ(exact["total"]["shootdown"]["started"], 8u);
  // Each flush covers 8 pages only its initiator touched: 8 entries in its L1 DTLB and 8 in
  // its STLB; the other CPUs hold none of them.
  EXPECT_EQ(exact["total"]["shootdown"]["entries_invalidated"], 8u * 16u);
}

TEST(Shootdown, DeadlockIsReportedNotHung) {
  // Two CPUs with interrupts off shoot each other down: neither can ever take the other's IPI.
  const auto stats =
      run_trace("deadlock.trace",
                kHeader2 +
                    "0 irq_off\n1 irq_off\n"
                    "0 flush_tlb_kernel_range 0xffffc90000000000 0xffffc90000001000\n"
                    "1 flush_tlb_kernel_range 0xffffc90000000000 0xffffc90000001000\n",
                {"platform.cpus=2"});
  EXPECT_EQ(stats["sim"]["stop_reason"], "deadlock");
  EXPECT_EQ(stats["sim"]["stop_detail"],
            "no CPU can make progress: CPU 0 waits for the acks of its TLB shootdown since "
            "cycle 163; CPU 1 waits for the acks of its TLB shootdown since cycle 163");
  EXPECT_EQ(stats["total"]["shootdown"]["flushes_with_irqs_off"], 2u);
}

TEST(Shootdown, TimelineHasTheRequiredFieldsForEveryEvent) {
  const std::string path = testing::TempDir() + "/timeline.json";
  run_trace("timeline.trace",
            kHeader2 + "0 flush_tlb_kernel_range 0xffffc90000000000 0xffffc90000001000\n1 idle\n",
            {"platform.cpus=2"}, path);
  std::ifstream in(path);
  const auto timeline = nlohmann::json::parse(in);
  ASSERT_TRUE(timeline["traceEvents"].is_array());
  int slices = 0;
  int flows = 0;
  for (const auto& event : timeline["traceEvents"]) {
    ASSERT_TRUE(event.contains("name") && event.contains("ph") && event.contains("pid") &&
                event.contains("tid"))
        << event.dump();
    const std::string ph = event["ph"];
    if (ph == "M") continue;
    ASSERT_TRUE(event.contains("ts")) << event.dump();
    if (ph == "X") {
      ASSERT_TRUE(event.contains("dur")) << event.dump();
      ++slices;
    } else {
      ASSERT_TRUE(ph == "s" || ph == "f") << event.dump();
      ASSERT_TRUE(event.contains("id")) << event.dump();
      ++flows;
    }
  }
  // CPU 0: the flush and its spin; CPU 1: the idle period and the IPI handler.
  EXPECT_EQ(slices, 4);
  EXPECT_EQ(flows, 2);  // one arrow: send and handler
  EXPECT_EQ(timeline["otherData"]["events_dropped"], 0);
}

TEST(Shootdown, TimelineIsCutAtItsLimit) {
  const std::string path = testing::TempDir() + "/cut.json";
  run_trace("cut.trace", everyone_flushes(8), {"platform.cpus=8", "output.timeline_max_events=5"},
            path);
  std::ifstream in(path);
  const auto timeline = nlohmann::json::parse(in);
  EXPECT_EQ(timeline["otherData"]["events_written"], 5);
  EXPECT_GT(timeline["otherData"]["events_dropped"].get<int>(), 0);
  EXPECT_TRUE(timeline["otherData"].contains("note"));
}

}  // namespace
}  // namespace mmusim::sim

namespace mmusim::sim {
namespace {

const std::vector<std::string> kLockLatencies = {
    "platform.cpus=2",
    "latency.lock.acquire=20",
    "latency.lock.release=10",
    "latency.lock.handover_socket=150",
    "latency.lock.mutex_wakeup=2000",
};

const std::string kContendedLock = R"(mmusim-trace 1
cpus 2
0 LOCK l
0 compute 1000
0 UNLOCK l
1 compute 100
1 LOCK l
1 compute 50
1 UNLOCK l
)";

std::string with_kind(std::string text, const std::string& kind) {
  for (const std::string& op : {std::string("UNLOCK"), std::string("LOCK")}) {
    const std::string word = kind + "_" + (op == "LOCK" ? "lock" : "unlock");
    for (auto at = text.find(op); at != std::string::npos; at = text.find(op)) {
      text.replace(at, op.size(), word);
    }
  }
  return text;
}

TEST(Locks, ContendedSpinlockIsHandedOverInOrder) {
  const auto stats = run_trace("spin.trace", with_kind(kContendedLock, "spin"), kLockLatencies);
  // CPU 0 takes the free lock at 0 (20 cycles), holds it until its release at 1030. CPU 1 asks
  // at 100 and gets it at 1030 + 150 (hand-over) = 1180: 1080 cycles waited, then takes it (20),
  // holds it 50 + 10 and ends at 1260.
  const auto& lock = stats["locks"]["l"];
  EXPECT_EQ(lock["acquisitions"], 2u);
  EXPECT_EQ(lock["contended"], 1u);
  EXPECT_EQ(lock["wait_cycles"], 1080u);
  EXPECT_EQ(lock["hold_cycles"], 1010u + 60u);
  EXPECT_EQ(stats["per_cpu"][0]["finish_cycle"], 1030u);
  EXPECT_EQ(stats["per_cpu"][1]["finish_cycle"], 1260u);
  EXPECT_EQ(stats["per_cpu"][1]["cycles"]["lock_wait"], 1080u);
}

TEST(Locks, MutexWaiterPaysTheWakeUp) {
  const auto stats = run_trace("mutex.trace", with_kind(kContendedLock, "mutex"), kLockLatencies);
  // As above, with the sleeping waiter woken 2000 cycles later: granted at 3180.
  EXPECT_EQ(stats["locks"]["l"]["wait_cycles"], 3080u);
  EXPECT_EQ(stats["per_cpu"][1]["finish_cycle"], 3260u);
}

TEST(Locks, WaiterStillTakesIpis) {
  // CPU 1 waits for the lock from 100 to 1180; CPU 0, holding it, flushes a page at 500. CPU 1
  // takes the IPI while it waits, so the flush completes and CPU 0 can release the lock.
  std::vector<std::string> overrides = kLatencies;
  overrides.insert(overrides.end(), kLockLatencies.begin(), kLockLatencies.end());
  const auto stats =
      run_trace("lock_ipi.trace",
                "mmusim-trace 1\ncpus 2\n0 spin_lock l\n0 compute 480\n"
                "0 flush_tlb_kernel_range 0xffffc90000000000 0xffffc90000001000\n0 compute 500\n"
                "0 spin_unlock l\n1 compute 100\n1 spin_lock l\n1 spin_unlock l\n",
                overrides);
  EXPECT_EQ(stats["sim"]["stop_reason"], "completed");
  EXPECT_EQ(stats["per_cpu"][1]["shootdown"]["calls_handled"], 1u);
  // The 66 cycles of the handler do not count as waiting.
  EXPECT_EQ(stats["per_cpu"][1]["cycles"]["ipi_handling"], 66u);
  const std::uint64_t finish0 = stats["per_cpu"][0]["finish_cycle"];
  EXPECT_EQ(stats["locks"]["l"]["wait_cycles"], finish0 + 150 - 100 - 66);
}

TEST(Locks, UnlockingALockNotHeldIsAWarning) {
  std::vector<std::string> overrides = kLatencies;
  overrides.push_back("platform.cpus=1");
  overrides.push_back("workload.kind=trace");
  overrides.push_back("workload.trace.path=" +
                      write_trace("bad_unlock.trace", "mmusim-trace 1\n0 spin_unlock l\n"));
  RunOptions options;
  options.write_outputs = false;
  const RunResult result = run_experiment(parse_config("{}", "test", "", overrides), options);
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0], "CPU 0: unlock of l, which is not locked; ignored");
  EXPECT_EQ(result.stats["sim"]["stop_reason"], "completed");
}

}  // namespace
}  // namespace mmusim::sim
