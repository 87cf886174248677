// Benchmarks that simulate: op dispatch through a Cpu, the whole runs of bench/configs/ (through
// run_experiment(), the code path of the mmusim binary without its command line), and the bare
// loop over the same tlb/ classes that the L1-resident run is compared with in the same
// process. The runs report rates (simulated events per host second of simulation; the boot is
// not timed), so that scripts/bench can compare them across noisy machines.
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <systemc>
#include <tlm_utils/tlm_quantumkeeper.h>

#include "bench/machine.h"
#include "sim/config_io.h"
#include "sim/experiment.h"
#include "sim/platform.h"
#include "sim/time.h"
#include "workloads/op.h"

namespace mmusim::bench {
namespace {

// A fresh SystemC kernel for one simulation, made current while it lives. The kernel the
// program started with is left untouched for run_experiment(), which uses it for its first run
// and makes fresh ones after (sim/experiment.cpp, SimcontextScope); finished kernels are never
// deleted, since SystemC's static objects may refer to them at exit.
class FreshKernel {
 public:
  FreshKernel() : original_(sc_core::sc_curr_simcontext) {
    sc_core::sc_curr_simcontext = new sc_core::sc_simcontext();
    sc_core::sc_default_global_context = sc_core::sc_curr_simcontext;
    sc_core::sc_report_handler::set_actions("/OSCI/SystemC", sc_core::SC_INFO,
                                            sc_core::SC_DO_NOTHING);
  }
  ~FreshKernel() {
    sc_core::sc_curr_simcontext = original_;
    sc_core::sc_default_global_context = original_;
  }
  FreshKernel(const FreshKernel&) = delete;
  FreshKernel& operator=(const FreshKernel&) = delete;

 private:
  sc_core::sc_simcontext* original_;
};

// The same op, `count` times.
class RepeatSource final : public workloads::OpSource {
 public:
  RepeatSource(const workloads::Op& op, std::uint64_t count) : op_(op), left_(count) {}
  bool next(workloads::Op& op) override {
    if (left_ == 0) return false;
    --left_;
    op = op_;
    return true;
  }
  [[nodiscard]] std::string where() const override { return "bench"; }

 private:
  workloads::Op op_;
  std::uint64_t left_;
};

// One CPU executing 2 Mi ops through the whole per-op path (the op source, interrupts, deferred
// work, the op budget, dispatch, the quantum check): "compute 1", or a load from a page the L1
// TLB holds.
void op_dispatch(benchmark::State& state, bool load) {
  constexpr std::uint64_t kOps = std::uint64_t{2} << 20;
  const sim::ExperimentConfig config = sim::parse_config("{}", "bench", "", {"platform.cpus=1"});
  workloads::Op map;
  map.kind = workloads::OpKind::kMap;
  map.addr = kBase;
  map.size = 16 * mmu::kPageBytes;
  map.flags = workloads::op_flags::kGlobal;
  workloads::Op op;
  if (load) {
    op.kind = workloads::OpKind::kLoad;
    op.addr = kBase + 0x1008;
  } else {
    op.kind = workloads::OpKind::kCompute;
    op.value = 1;
  }
  for (auto _ : state) {
    const FreshKernel kernel;
    tlm_utils::tlm_quantumkeeper::set_global_quantum(
        sim::cycles_to_time(config.run.quantum_cycles));
    auto platform = std::make_unique<sim::Platform>("platform", config);
    platform->boot({map});
    platform->cpu(0).set_source(std::make_unique<RepeatSource>(op, kOps));
    const std::clock_t start = std::clock();  // CPU time, as the whole runs below
    sc_core::sc_start();
    state.SetIterationTime(static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kOps));
}
void BM_OpDispatchCompute(benchmark::State& state) {
  op_dispatch(state, false);
}
BENCHMARK(BM_OpDispatchCompute)->Iterations(3)->UseManualTime()->Unit(benchmark::kMillisecond);
void BM_OpDispatchLoad(benchmark::State& state) {
  op_dispatch(state, true);
}
BENCHMARK(BM_OpDispatchLoad)->Iterations(3)->UseManualTime()->Unit(benchmark::kMillisecond);

// What bench/configs/touch_16_pages.json's ops do, as a bare loop over the tlb/ classes: each
// "touch 0xffffc90000000000 64KiB stride=8" is 8192 loads over 16 pages the L1 TLB holds.
void BM_BareTouch16Pages(benchmark::State& state) {
  constexpr std::uint64_t kBytes = 16 * mmu::kPageBytes;
  constexpr std::uint64_t kStride = 8;
  BenchMachine machine(16);
  tlb::TranslationUnit& unit = *machine.unit;
  std::uint64_t cycles = 0;
  for (auto _ : state) {
    for (std::uint64_t offset = 0; offset < kBytes; offset += kStride) {
      const tlb::TranslateResult result = unit.translate(
          mmu::VirtAddr{kBase + offset}, mmu::AccessType::kRead, mmu::Privilege::kSupervisor);
      cycles += result.cycles().value() + result.paddr.value();
    }
  }
  benchmark::DoNotOptimize(cycles);
  const double translations = static_cast<double>(state.iterations() * (kBytes / kStride));
  state.counters["translations_per_s"] =
      benchmark::Counter(translations, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_BareTouch16Pages)->Unit(benchmark::kMillisecond);

std::uint64_t count_of(const nlohmann::ordered_json& node, const char* key) {
  return node.contains(key) ? node[key].get<std::uint64_t>() : 0;
}

// One run of bench/configs/NAME.json with `overrides`. The time is the simulation's CPU time
// (the stats' host.cpu_seconds: sc_start(), without building the platform or the output),
// which other programs on a shared machine do not inflate as they do its wall time.
void BM_Run(benchmark::State& state, const char* name, std::vector<std::string> overrides) {
  const sim::ExperimentConfig config = sim::load_config_file(
      std::string(MMUSIM_SOURCE_DIR) + "/bench/configs/" + name + ".json", overrides);
  for (auto _ : state) {
    sim::RunOptions options;
    options.write_outputs = false;
    options.config_name = name;
    const sim::RunResult result = sim::run_experiment(config, options);
    if (!result.error.empty()) {
      state.SkipWithError(result.error.c_str());
      break;
    }
    const nlohmann::ordered_json& stats = result.stats;
    const nlohmann::ordered_json& host = stats["host"];
    const double wall = host["wall_seconds"].get<double>();
    const double seconds = host.contains("cpu_seconds") ? host["cpu_seconds"].get<double>() : wall;
    state.SetIterationTime(seconds);
    state.counters["wall_seconds"] = wall;
    const std::uint64_t ops = stats["sim"]["ops"].get<std::uint64_t>();
    const std::uint64_t ipis = stats["total"]["shootdown"]["ipis_received"].get<std::uint64_t>();
    const std::uint64_t translations =
        stats["total"]["translation"]["translations"].get<std::uint64_t>();
    state.counters["ops"] = static_cast<double>(ops);
    state.counters["ipis"] = static_cast<double>(ipis);
    state.counters["translations_per_s"] = translations / seconds;
    state.counters["ops_per_s"] = ops / seconds;
    state.counters["ns_per_event"] = seconds * 1e9 / static_cast<double>(ops + ipis);
    if (stats.contains("vmalloc")) {
      const std::uint64_t pairs =
          std::min(count_of(stats["vmalloc"], "vmalloc"), count_of(stats["vmalloc"], "vfree"));
      state.counters["pairs_per_s"] = pairs / seconds;
    }
  }
}
#define MMUSIM_BENCH_RUN(name)                                       \
  BENCHMARK_CAPTURE(BM_Run, name, #name, std::vector<std::string>{}) \
      ->Iterations(1)                                                \
      ->UseManualTime()                                              \
      ->Unit(benchmark::kMillisecond)

MMUSIM_BENCH_RUN(touch_16_pages);
MMUSIM_BENCH_RUN(touch_64k_pages);
MMUSIM_BENCH_RUN(fix_size_alloc_1cpu);
MMUSIM_BENCH_RUN(random_size_alloc_64cpu);

// The same work on every CPU, from 1 to 256 CPUs: host time per simulated event.
void BM_Scale(benchmark::State& state) {
  BM_Run(state, "scale", {"platform.cpus=" + std::to_string(state.range(0))});
}
BENCHMARK(BM_Scale)
    ->Arg(1)
    ->Arg(4)
    ->Arg(16)
    ->Arg(64)
    ->Arg(256)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace mmusim::bench
