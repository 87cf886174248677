// A CPU's local time under temporal decoupling: tlm_utils::tlm_quantumkeeper's algorithm, kept
// in integer cycles. Global time cannot move while a CPU's thread runs, so it is read once each
// time the thread resumes; charging cycles, reading the CPU's time and the per-op quantum check
// are then integer arithmetic, with no sc_time conversion or virtual call per memory access.
#pragma once

#include <cstdint>

#include <systemc>
#include <tlm>

#include "sim/time.h"

namespace mmusim::sim {

class QuantumKeeper {
 public:
  // At the start of the thread: the global quantum (tlm_global_quantum), fixed for the run.
  void start() {
    quantum_ = time_to_cycles(tlm::tlm_global_quantum::instance().get());
    reset();
  }
  // After every wait of the thread: takes global time, drops the local offset, and sets the
  // next sync point at the end of the current global quantum, as
  // tlm_global_quantum::compute_local_quantum() does (with a quantum of 0, every check syncs).
  void reset() {
    global_ = now_cycles();
    local_ = 0;
    next_sync_ = quantum_ == 0 ? global_ : global_ + (quantum_ - global_ % quantum_);
  }
  void inc(std::uint64_t cycles) { local_ += cycles; }
  // How far the CPU has run ahead of global time.
  [[nodiscard]] std::uint64_t local() const { return local_; }
  // The CPU's time: global time plus what it has run ahead.
  [[nodiscard]] std::uint64_t now() const { return global_ + local_; }
  [[nodiscard]] bool need_sync() const { return global_ + local_ >= next_sync_; }
  // Brings global time up to the CPU's time; the thread then resumes and calls reset().
  void wait_out_local() const { sc_core::wait(cycles_to_time(local_)); }

 private:
  std::uint64_t global_ = 0;  // global time when the thread last resumed
  std::uint64_t local_ = 0;
  std::uint64_t next_sync_ = 0;
  std::uint64_t quantum_ = 0;
};

}  // namespace mmusim::sim
