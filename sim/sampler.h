// The time series of a run (output.sample_interval_cycles): every interval of simulated time,
// the machine-wide counters accumulated in that interval, written to stats.json as
// "timeseries". A SystemC thread of the platform reads the CPUs' live counters at each
// interval boundary. It never keeps the simulation alive once the CPUs are done, blocked or
// stopped: it also wakes whenever anything else is due, so that it never carries simulated time
// past the last event (a run with samples ends exactly as one without). The last, partial
// interval is added from the final counters when the statistics are collected, so that the
// samples of a counter add up to its total.
//
// A CPU counts an op's work when it runs the op, up to run.quantum_cycles (temporal
// decoupling) plus that op's length ahead of global time: a sample may hold work from that
// far past its end. With run.quantum_cycles = 0, at most the op that straddles the boundary.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>
#include <systemc>

namespace mmusim::sim {

class Platform;

// The counters of one sample, summed over every CPU (and the guest).
struct SampleCounters {
  std::uint64_t translations = 0;
  std::uint64_t tlb_misses = 0;
  std::uint64_t walk_cycles = 0;
  std::uint64_t shootdowns = 0;
  std::uint64_t full_flushes = 0;
  std::uint64_t ipis_sent = 0;
  std::uint64_t busy_cycles = 0;
  std::uint64_t vmalloc_calls = 0;  // written only when the run used the guest
  std::uint64_t purges = 0;         // written only when the run used the guest

  template <class V>
  void visit(V& v) {
    v.count("translations", translations, "address translations");
    v.count("tlb_misses", tlb_misses, "translations that missed every TLB level (page walks)");
    v.cycles("walk_cycles", walk_cycles, "cycles spent in page walks");
    v.count("shootdowns", shootdowns, "kernel TLB flushes started");
    v.count("full_flushes", full_flushes, "global flushes executed for kernel flushes");
    v.count("ipis_sent", ipis_sent, "IPIs sent");
    v.cycles("busy_cycles", busy_cycles, "cycles the CPUs were not idle");
  }
  template <class V>
  void visit_guest(V& v) {
    v.count("vmalloc_calls", vmalloc_calls, "guest API calls the ops made");
    v.count("purges", purges, "lazy purges of vmap areas");
  }

  // The counters accumulated between `earlier` and this.
  [[nodiscard]] SampleCounters since(const SampleCounters& earlier) const;
  void add(const SampleCounters& other);
};

class Sampler : public sc_core::sc_module {
 public:
  struct Sample {
    std::uint64_t cycle = 0;  // the end of the interval
    SampleCounters counters;
  };

  // Samples every `interval_cycles`, keeping at most `max_samples` (an even number): when
  // that many are reached, neighbours merge pairwise and the interval doubles.
  Sampler(sc_core::sc_module_name name, Platform& platform, std::uint64_t interval_cycles,
          std::uint64_t max_samples);

  // The current interval (doubled by each merge).
  [[nodiscard]] std::uint64_t interval_cycles() const { return interval_; }
  [[nodiscard]] const std::vector<Sample>& samples() const { return samples_; }
  // The machine-wide counters now.
  [[nodiscard]] SampleCounters read_counters() const;
  // Records the interval ending at `cycle`: what the counters gained since the last sample.
  void record(std::uint64_t cycle);
  // {"interval_cycles": N, "samples": [{"cycle": C, ...}, ...]}, with the interval from the
  // last sample to `end_cycle` (the end of the run) added from the final counters.
  [[nodiscard]] nlohmann::ordered_json to_json(std::uint64_t end_cycle) const;

 private:
  void run();

  Platform& platform_;
  std::uint64_t interval_;
  std::uint64_t max_samples_;
  std::uint64_t last_cycle_ = 0;
  SampleCounters last_;
  std::vector<Sample> samples_;
};

}  // namespace mmusim::sim
