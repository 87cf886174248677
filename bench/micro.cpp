// Microbenchmarks of the hot paths, on the plain-C++ layers (no SystemC): a translation that
// hits the L1 TLB, the second level, or walks; one TLB structure's lookup; the page walker with
// and without paging-structure-cache hits; INVLPG; a full flush; and trace parsing.
#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>

#include <benchmark/benchmark.h>

#include "bench/machine.h"
#include "mmu/walker.h"
#include "tlb/tlb_array.h"
#include "workloads/trace.h"

namespace mmusim::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Translations of loads over `pages` consecutive pages, one page after the other, after one
// pass to warm the TLBs (and set every Accessed bit).
void translate_over(benchmark::State& state, std::uint64_t pages) {
  BenchMachine machine(pages);
  tlb::TranslationUnit& unit = *machine.unit;
  for (std::uint64_t i = 0; i < pages; ++i)
    unit.translate(machine.page(i), mmu::AccessType::kRead, mmu::Privilege::kSupervisor);
  std::uint64_t i = 0;
  for (auto _ : state) {
    const tlb::TranslateResult result =
        unit.translate(machine.page(i), mmu::AccessType::kRead, mmu::Privilege::kSupervisor);
    benchmark::DoNotOptimize(result);
    if (++i == pages) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

// 16 pages: every translation hits the L1 DTLB (64 entries).
void BM_TranslateL1Hit(benchmark::State& state) {
  translate_over(state, 16);
}
BENCHMARK(BM_TranslateL1Hit);

// 256 pages in order: each L1 DTLB set sees 16 pages cycle through its 4 ways, so every
// translation misses L1 and hits the STLB (1536 entries), then refills L1.
void BM_TranslateL2Hit(benchmark::State& state) {
  translate_over(state, 256);
}
BENCHMARK(BM_TranslateL2Hit);

// 64 Ki pages (256 MiB) in order: every translation misses both levels and walks, starting
// below a cached PDE.
void BM_TranslateMissWalk(benchmark::State& state) {
  translate_over(state, 65536);
}
BENCHMARK(BM_TranslateMissWalk);

// One TLB structure (the STLB, 128 sets x 12 ways) on its own: a lookup that hits, and one
// that misses.
void tlb_array_lookup(benchmark::State& state, bool hit) {
  tlb::TlbArray stlb("stlb", tlb::TlbConfig{}.stlb, /*seed=*/1);
  constexpr std::uint64_t kEntries = 1024;
  tlb::TlbEntry evicted;
  for (std::uint64_t vpn = 0; vpn < kEntries; ++vpn) {
    tlb::TlbEntry entry;
    entry.vpn = vpn;
    entry.frame = vpn;
    entry.global = true;
    stlb.insert(entry, evicted);
  }
  std::uint64_t vpn = 0;
  const std::uint64_t offset = hit ? 0 : kEntries;
  for (auto _ : state) {
    benchmark::DoNotOptimize(stlb.lookup(vpn + offset, mmu::PageSize::k4K, 0));
    if (++vpn == kEntries) vpn = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_TlbArrayLookupHit(benchmark::State& state) {
  tlb_array_lookup(state, true);
}
BENCHMARK(BM_TlbArrayLookupHit);
void BM_TlbArrayLookupMiss(benchmark::State& state) {
  tlb_array_lookup(state, false);
}
BENCHMARK(BM_TlbArrayLookupMiss);

// The page walker alone, 4-level paging, over 16 pages of one 2 MiB region: with the default
// paging-structure caches every walk starts below the cached PDE (one entry read); with them
// off every walk reads all four levels.
void walk(benchmark::State& state, bool with_psc) {
  mmu::MmuConfig config;
  if (!with_psc) {
    config.pml4e = config.pdpte = config.pde = mmu::PscConfig{0, 1};
  }
  BenchMachine machine(16, config);
  mmu::PageWalker walker(machine.memory, config);
  const mmu::WalkContext context{machine.root, mmu::Pcid{0}};
  std::uint64_t i = 0;
  for (auto _ : state) {
    const mmu::WalkResult result =
        walker.walk(context, machine.page(i), mmu::AccessType::kRead, mmu::Privilege::kSupervisor);
    benchmark::DoNotOptimize(result);
    i = (i + 1) & 15;
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_Walk4LevelPscHit(benchmark::State& state) {
  walk(state, true);
}
BENCHMARK(BM_Walk4LevelPscHit);
void BM_Walk4LevelNoPsc(benchmark::State& state) {
  walk(state, false);
}
BENCHMARK(BM_Walk4LevelNoPsc);

// INVLPG of a page the TLBs hold (L1 and STLB entries, and paging-structure-cache entries):
// each iteration refills 16 pages untimed, then times the 16 INVLPGs.
void BM_Invlpg(benchmark::State& state) {
  constexpr std::uint64_t kPages = 16;
  BenchMachine machine(kPages);
  tlb::TranslationUnit& unit = *machine.unit;
  std::uint64_t removed = 0;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < kPages; ++i)
      unit.translate(machine.page(i), mmu::AccessType::kRead, mmu::Privilege::kSupervisor);
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < kPages; ++i)
      removed += unit.invlpg(machine.page(i));
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
  }
  benchmark::DoNotOptimize(removed);
  state.SetItemsProcessed(state.iterations() * kPages);
}
BENCHMARK(BM_Invlpg)->UseManualTime();

// A full flush (INVPCID type 2: every TLB structure and paging-structure cache) of TLBs holding
// 256 pages, refilled untimed before each.
void BM_FullFlush(benchmark::State& state) {
  constexpr std::uint64_t kPages = 256;
  BenchMachine machine(kPages);
  tlb::TranslationUnit& unit = *machine.unit;
  std::uint64_t removed = 0;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < kPages; ++i)
      unit.translate(machine.page(i), mmu::AccessType::kRead, mmu::Privilege::kSupervisor);
    const auto start = Clock::now();
    removed += unit.flush_all_global();
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
  }
  benchmark::DoNotOptimize(removed);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FullFlush)->UseManualTime();

// A trace of four CPUs' interleaved ops, the kinds a recording holds most.
std::string trace_text(std::uint64_t lines) {
  static const char* const kOps[] = {
      "load 0xffffc90000001008",
      "store 0xffffc90000002010 user",
      "touch $buf 16KiB stride=64 store",
      "compute 120",
      "vmalloc $buf 12KiB",
      "vfree $buf",
      "flush_tlb_kernel_range 0xffffc90000000000 0xffffc90000004000",
      "invlpg 0xffffc90000003000",
      "spin_lock vmap_area_lock",
      "spin_unlock vmap_area_lock",
  };
  std::ostringstream out;
  out << "mmusim-trace 1\ncpus 4\nboot map 0xffffc90000000000 64KiB global\n";
  for (std::uint64_t i = 0; i < lines; ++i)
    out << (i % 4) << ' ' << kOps[(i / 4) % std::size(kOps)] << '\n';
  return out.str();
}

// Parsing: ops per second a replay can be fed with, every CPU reading its own ops in turn.
void BM_TraceParse(benchmark::State& state) {
  constexpr std::uint64_t kLines = 20000;
  const std::string text = trace_text(kLines);
  std::uint64_t ops = 0;
  for (auto _ : state) {
    std::istringstream in(text);
    workloads::TraceReader reader(in, "bench.trace");
    workloads::Op op;
    std::uint64_t line = 0;
    for (bool more = true; more;) {
      more = false;
      for (int cpu = 0; cpu < 4; ++cpu) {
        if (reader.next_for(cpu, op, line)) {
          more = true;
          ++ops;
        }
      }
    }
    benchmark::DoNotOptimize(op);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kLines));
  benchmark::DoNotOptimize(ops);
}
BENCHMARK(BM_TraceParse)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace mmusim::bench
