// What one simulated CPU counts. Summed over CPUs into the run's totals.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "mmu/walker.h"
#include "tlb/tlb_array.h"
#include "tlb/translation_unit.h"
#include "workloads/op.h"

namespace mmusim::sim {

struct OpStats {
  std::array<std::uint64_t, workloads::kNumOpKinds> by_kind{};
  std::uint64_t touch_accesses = 0;
  std::uint64_t failed_edits = 0;
  std::uint64_t guest_failures = 0;
  std::uint64_t kernel_faults = 0;
  std::uint64_t total = 0;

  template <class V>
  void visit(V& v) {
    v.count("total", total, "ops executed");
    for (int k = 0; k < workloads::kNumOpKinds; ++k) {
      v.count(workloads::op_name(static_cast<workloads::OpKind>(k)), by_kind[k],
              "ops of this kind executed");
    }
    v.count("touch_accesses", touch_accesses, "memory accesses made by touch ops");
    v.count("failed_edits", failed_edits,
            "map/unmap/protect ops the page-table editor refused (see the log)");
    v.count("guest_failures", guest_failures,
            "guest ops whose call failed: an allocation or mapping that returned NULL, a "
            "remap that returned an error, vread/vwrite that reached no page");
    v.count("kernel_faults", kernel_faults,
            "kernel accesses to the vmalloc or module area that faulted (each a kernel BUG: "
            "an access to a freed area or a guard page)");
  }
};

// The completed spans ("begin NAME" ... "end NAME") of one name.
struct SpanTotals {
  std::uint64_t count = 0;
  std::uint64_t passed = 0;  // no guest call failed inside
  std::uint64_t failed = 0;
  std::uint64_t cycles = 0;
  std::uint64_t min_cycles = ~std::uint64_t{0};
  std::uint64_t max_cycles = 0;

  void add(const SpanTotals& other) {
    count += other.count;
    passed += other.passed;
    failed += other.failed;
    cycles += other.cycles;
    if (other.min_cycles < min_cycles) min_cycles = other.min_cycles;
    if (other.max_cycles > max_cycles) max_cycles = other.max_cycles;
  }
};

struct CycleStats {
  std::uint64_t busy = 0;
  std::uint64_t work = 0;
  std::uint64_t tlb = 0;
  std::uint64_t walk = 0;
  std::uint64_t invalidation = 0;
  std::uint64_t page_table = 0;
  std::uint64_t kernel = 0;
  std::uint64_t flush_send = 0;
  std::uint64_t flush_spin = 0;
  std::uint64_t flush_local = 0;
  std::uint64_t ipi_handling = 0;
  std::uint64_t idle_wakeup = 0;
  std::uint64_t lock_wait = 0;
  std::uint64_t idle = 0;

  template <class V>
  void visit(V& v) {
    v.cycles("busy", busy,
             "cycles the CPU spent on anything but being idle (the sum of the categories "
             "below except idle)");
    v.cycles("work", work, "computation and memory accesses beyond translation");
    v.cycles("tlb", tlb, "TLB lookups");
    v.cycles("walk", walk, "page walks");
    v.cycles("invalidation", invalidation, "TLB invalidation instructions the ops executed");
    v.cycles("page_table", page_table, "page-table edits (entries written, tables allocated)");
    v.cycles("kernel", kernel,
             "the guest's own work: vmalloc's searches, list walks, allocations, zeroing, "
             "copying and interrupt entry/exit of irq blocks (latency.vmalloc)");
    v.cycles("flush_send", flush_send,
             "initiator of a kernel flush: entering it, queueing calls, sending IPIs or "
             "INVLPGBs, TLBSYNC");
    v.cycles("flush_spin", flush_spin,
             "initiator: waiting for the other CPUs' acks (IPI handling meanwhile excluded)");
    v.cycles("flush_local", flush_local, "initiator: flushing its own TLB");
    v.cycles("ipi_handling", ipi_handling,
             "target: interrupt entry and exit, running queued flushes, acking");
    v.cycles("idle_wakeup", idle_wakeup, "target: leaving the idle state for an IPI");
    v.cycles("lock_wait", lock_wait, "waiting for contended locks");
    v.cycles("idle", idle, "halted (idle ops, and after the CPU ran out of ops)");
  }
};

// Kernel TLB flushes. The nr_tlb_* counters are Linux's vmstat events, counted exactly where
// Linux 4.19 counts them: a kernel range flush counts nr_tlb_local_flush_one per page on every
// CPU, a full flush nr_tlb_remote_flush_received on every CPU (the initiator included), and
// flush_tlb_all() also nr_tlb_remote_flush on its initiator. nr_tlb_local_flush_all belongs to
// user-address-space flushes, which kernel flushes never count.
struct ShootdownStats {
  std::uint64_t nr_tlb_remote_flush = 0;
  std::uint64_t nr_tlb_remote_flush_received = 0;
  std::uint64_t nr_tlb_local_flush_all = 0;
  std::uint64_t nr_tlb_local_flush_one = 0;
  std::uint64_t started = 0;
  std::uint64_t started_ranges = 0;
  std::uint64_t started_full = 0;
  std::uint64_t targets = 0;
  std::uint64_t calls_queued = 0;
  std::uint64_t calls_coalesced = 0;
  std::uint64_t ipis_sent = 0;
  std::uint64_t icr_writes = 0;
  std::uint64_t ipis_received = 0;
  std::uint64_t calls_handled = 0;
  std::uint64_t invlpg_executed = 0;
  std::uint64_t full_flushes_executed = 0;
  std::uint64_t entries_invalidated = 0;
  std::uint64_t invlpgb_instructions = 0;
  std::uint64_t tlbsyncs = 0;
  std::uint64_t invlpgb_entries_invalidated = 0;
  std::uint64_t flushes_with_irqs_off = 0;

  template <class V>
  void visit(V& v) {
    v.count("nr_tlb_remote_flush", nr_tlb_remote_flush,
            "vmstat: flush_tlb_all() calls this CPU made");
    v.count("nr_tlb_remote_flush_received", nr_tlb_remote_flush_received,
            "vmstat: full kernel flushes this CPU ran (do_flush_tlb_all)");
    v.count("nr_tlb_local_flush_all", nr_tlb_local_flush_all,
            "vmstat: full local flushes of a user address space (not counted by kernel "
            "flushes)");
    v.count("nr_tlb_local_flush_one", nr_tlb_local_flush_one,
            "vmstat: single kernel pages this CPU flushed (__flush_tlb_one_kernel)");
    v.count("started", started, "kernel flushes this CPU initiated");
    v.count("started_ranges", started_ranges, "of those, flushed page by page (INVLPG)");
    v.count("started_full", started_full, "of those, full flushes on every CPU");
    v.count("targets", targets, "other CPUs those flushes had to reach (summed)");
    v.count("calls_queued", calls_queued, "cross-CPU calls this CPU queued on others");
    v.count("calls_coalesced", calls_coalesced,
            "of those, queued behind a pending call so that no IPI was needed");
    v.count("ipis_sent", ipis_sent, "IPIs sent");
    v.count("icr_writes", icr_writes, "ICR writes made to send them");
    v.count("ipis_received", ipis_received, "IPIs taken");
    v.count("calls_handled", calls_handled, "cross-CPU calls run by IPI handlers here");
    v.count("invlpg_executed", invlpg_executed, "INVLPGs executed for kernel flushes");
    v.count("full_flushes_executed", full_flushes_executed,
            "global flushes executed for kernel flushes");
    v.count("entries_invalidated", entries_invalidated,
            "TLB entries those INVLPGs and global flushes removed here");
    v.count("invlpgb_instructions", invlpgb_instructions, "INVLPGB instructions issued");
    v.count("tlbsyncs", tlbsyncs, "TLBSYNC instructions issued");
    v.count("invlpgb_entries_invalidated", invlpgb_entries_invalidated,
            "TLB entries other CPUs' INVLPGBs removed here");
    v.count("flushes_with_irqs_off", flushes_with_irqs_off,
            "flushes started with interrupts disabled (Linux warns: this can deadlock)");
  }
};

struct TlbStats {
  tlb::TlbArrayStats l1i_4k;
  tlb::TlbArrayStats l1i_2m;
  tlb::TlbArrayStats l1d_4k;
  tlb::TlbArrayStats l1d_2m;
  tlb::TlbArrayStats l1d_1g;
  tlb::TlbArrayStats stlb;
  tlb::TlbArrayStats stlb_1g;

  template <class V>
  void visit(V& v) {
    v.section("l1i_4k", l1i_4k, "L1 ITLB, 4 KiB");
    v.section("l1i_2m", l1i_2m, "L1 ITLB, 2 MiB");
    v.section("l1d_4k", l1d_4k, "L1 DTLB, 4 KiB");
    v.section("l1d_2m", l1d_2m, "L1 DTLB, 2 MiB");
    v.section("l1d_1g", l1d_1g, "L1 DTLB, 1 GiB");
    v.section("stlb", stlb, "second-level TLB");
    v.section("stlb_1g", stlb_1g, "second-level TLB, 1 GiB");
  }
  // The counters of the structure called `name` (as in TlbConfig), or nullptr.
  tlb::TlbArrayStats* find(const std::string& name);
};

struct CpuStats {
  OpStats ops;
  CycleStats cycles;
  ShootdownStats shootdown;
  tlb::TranslationStats translation;
  TlbStats tlb;
  tlb::InvalidationStats invalidation;
  mmu::WalkerStats walker;

  template <class V>
  void visit(V& v) {
    v.section("ops", ops, "ops executed, by kind");
    v.section("cycles", cycles, "where the CPU's cycles went");
    v.section("shootdown", shootdown, "kernel TLB flushes, sent and received");
    v.section("translation", translation, "address translations");
    v.section("tlb", tlb, "each TLB structure");
    v.section("invalidation", invalidation, "TLB and paging-structure-cache invalidations");
    v.section("walker", walker, "the page walker and its paging-structure caches");
  }
};

}  // namespace mmusim::sim
