#include "sim/sampler.h"

#include <algorithm>

#include "sim/platform.h"
#include "sim/time.h"

namespace mmusim::sim {
namespace {

// Writes each counter of a SampleCounters into a JSON object.
class CountersToJson {
 public:
  explicit CountersToJson(nlohmann::ordered_json& out) : out_(out) {}
  void count(const char* name, std::uint64_t& value, const char*) { out_[name] = value; }
  void cycles(const char* name, std::uint64_t& value, const char*) { out_[name] = value; }

 private:
  nlohmann::ordered_json& out_;
};

// Collects the address of each counter, in visit order.
struct CounterList {
  void count(const char*, std::uint64_t& value, const char*) { values.push_back(&value); }
  void cycles(const char*, std::uint64_t& value, const char*) { values.push_back(&value); }
  std::vector<std::uint64_t*> values;
};

CounterList all_counters(SampleCounters& counters) {
  CounterList list;
  counters.visit(list);
  counters.visit_guest(list);
  return list;
}

}  // namespace

SampleCounters SampleCounters::since(const SampleCounters& earlier) const {
  SampleCounters delta = *this;
  SampleCounters before = earlier;
  const CounterList to = all_counters(delta);
  const CounterList from = all_counters(before);
  for (std::size_t i = 0; i < to.values.size(); ++i)
    *to.values[i] -= *from.values[i];
  return delta;
}

void SampleCounters::add(const SampleCounters& other) {
  SampleCounters part = other;
  const CounterList to = all_counters(*this);
  const CounterList from = all_counters(part);
  for (std::size_t i = 0; i < to.values.size(); ++i)
    *to.values[i] += *from.values[i];
}

Sampler::Sampler(sc_core::sc_module_name name, Platform& platform, std::uint64_t interval_cycles,
                 std::uint64_t max_samples)
    : sc_module(name),
      platform_(platform),
      interval_(interval_cycles),
      max_samples_(std::max<std::uint64_t>(max_samples, 2)) {
  SC_HAS_PROCESS(Sampler);
  SC_THREAD(run);
}

SampleCounters Sampler::read_counters() const {
  // The CPUs' live counters, read directly: building each CPU's full statistics (every TLB
  // structure's counters) per sample would cost far more than the sample itself.
  SampleCounters now;
  for (int i = 0; i < platform_.cpu_count(); ++i) {
    const Cpu& cpu = platform_.cpu(i);
    const tlb::TranslationStats& translation = cpu.unit().stats();
    now.translations += translation.translations;
    now.tlb_misses += translation.misses;
    now.walk_cycles += translation.walk_cycles;
    const ShootdownStats& shootdown = cpu.shootdown_stats();
    now.shootdowns += shootdown.started;
    now.full_flushes += shootdown.full_flushes_executed;
    now.ipis_sent += shootdown.ipis_sent;
    now.busy_cycles += cpu.cycle_stats().busy;
    const OpStats& ops = cpu.op_stats();
    for (int kind = static_cast<int>(workloads::kFirstGuestOp);
         kind <= static_cast<int>(workloads::kLastGuestOp); ++kind)
      now.vmalloc_calls += ops.by_kind[kind];
  }
  now.purges = platform_.guest().stats().purges;
  return now;
}

void Sampler::record(std::uint64_t cycle) {
  const SampleCounters now = read_counters();
  samples_.push_back(Sample{cycle, now.since(last_)});
  last_ = now;
  last_cycle_ = cycle;
  if (samples_.size() < max_samples_) return;
  // Full: merge neighbours pairwise and sample half as often. The limit is even, so every
  // merged sample covers two whole intervals and the boundaries stay aligned.
  for (std::size_t i = 0; i < samples_.size() / 2; ++i) {
    Sample merged = samples_[2 * i + 1];
    merged.counters.add(samples_[2 * i].counters);
    samples_[i] = merged;
  }
  samples_.resize(samples_.size() / 2);
  interval_ *= 2;
}

void Sampler::run() {
  for (;;) {
    if (platform_.all_finished() || platform_.stopping()) return;
    // Nothing but this thread could ever run again (every CPU is blocked: a deadlock). Waiting
    // would keep simulated time going; ending lets the run see the deadlock.
    if (!sc_core::sc_pending_activity()) return;
    const std::uint64_t next = last_cycle_ + interval_;
    const std::uint64_t now = now_cycles();
    if (now < next) {
      // Wakes at the boundary, or earlier when something else is due: were that the last
      // thing to happen (a deadlock forming), waiting for the boundary would carry simulated
      // time, and the run's end, past it.
      const sc_core::sc_time until =
          std::min(cycles_to_time(next - now), sc_core::sc_time_to_pending_activity());
      wait(until, platform_.all_finished_event() | platform_.stop_event());
      continue;
    }
    record(next);
  }
}

nlohmann::ordered_json Sampler::to_json(std::uint64_t end_cycle) const {
  std::vector<Sample> samples = samples_;
  // The last, partial interval, from the final counters. The sample count stays within the
  // limit: record() leaves fewer than max_samples_.
  const SampleCounters tail = read_counters().since(last_);
  if (end_cycle > last_cycle_ || samples.empty()) {
    samples.push_back(Sample{std::max(end_cycle, last_cycle_), tail});
  } else {
    // Work counted after the last boundary by a CPU that finished exactly there.
    samples.back().counters.add(tail);
  }
  const bool guest = platform_.guest_used();
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (Sample& sample : samples) {
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["cycle"] = sample.cycle;
    CountersToJson writer(entry);
    sample.counters.visit(writer);
    if (guest) sample.counters.visit_guest(writer);
    list.push_back(std::move(entry));
  }
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  out["interval_cycles"] = interval_;
  out["samples"] = std::move(list);
  return out;
}

}  // namespace mmusim::sim
