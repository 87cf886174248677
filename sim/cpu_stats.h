// What one simulated CPU counts. Summed over CPUs into the run's totals.
#pragma once

#include <array>
#include <cstdint>

#include "mmu/walker.h"
#include "tlb/tlb_array.h"
#include "tlb/translation_unit.h"
#include "workloads/op.h"

namespace mmusim::sim {

struct OpStats {
  std::array<std::uint64_t, workloads::kNumOpKinds> by_kind{};
  std::uint64_t touch_accesses = 0;
  std::uint64_t failed_edits = 0;
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
  }
};

struct CycleStats {
  std::uint64_t busy = 0;
  std::uint64_t work = 0;
  std::uint64_t tlb = 0;
  std::uint64_t walk = 0;
  std::uint64_t invalidation = 0;
  std::uint64_t page_table = 0;

  template <class V>
  void visit(V& v) {
    v.cycles("busy", busy, "cycles the CPU spent executing ops (the sum of the categories below)");
    v.cycles("work", work, "computation and memory accesses beyond translation");
    v.cycles("tlb", tlb, "TLB lookups");
    v.cycles("walk", walk, "page walks");
    v.cycles("invalidation", invalidation, "TLB invalidation instructions");
    v.cycles("page_table", page_table, "page-table edits (entries written, tables allocated)");
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
  tlb::TranslationStats translation;
  TlbStats tlb;
  tlb::InvalidationStats invalidation;
  mmu::WalkerStats walker;

  template <class V>
  void visit(V& v) {
    v.section("ops", ops, "ops executed, by kind");
    v.section("cycles", cycles, "where the CPU's cycles went");
    v.section("translation", translation, "address translations");
    v.section("tlb", tlb, "each TLB structure");
    v.section("invalidation", invalidation, "TLB and paging-structure-cache invalidations");
    v.section("walker", walker, "the page walker and its paging-structure caches");
  }
};

}  // namespace mmusim::sim
