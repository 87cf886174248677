// A CPU's local time under temporal decoupling: tlm_utils::tlm_quantumkeeper's algorithm, kept
// in integer cycles. SystemC's clock cannot move while a CPU's thread runs, so it is read once
// each time the thread resumes; charging cycles, reading the CPU's time and the per-op quantum
// check are then integer arithmetic, with no sc_time conversion or virtual call per memory
// access. A sync that would resume the thread at once, with nothing else run in between
// (Cpu::sync), moves global time as the CPU sees it without a wait: SystemC's clock then lags
// behind until the thread next waits, and every delay given to SystemC counts from its clock.
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
    kernel_ = now_cycles();
    global_ = kernel_;
    local_ = 0;
    set_next_sync();
  }
  // A sync that needs no wait, because no other process has anything to do before the CPU's
  // time (Cpu::sync): global time, as the CPU sees it, moves to the CPU's time exactly as
  // after waiting out the local offset, while SystemC's clock stays where it was (lag()).
  void sync_without_wait() {
    global_ += local_;
    local_ = 0;
    set_next_sync();
  }
  void inc(std::uint64_t cycles) { local_ += cycles; }
  // How far the CPU has run ahead of global time.
  [[nodiscard]] std::uint64_t local() const { return local_; }
  // The CPU's time: global time plus what it has run ahead.
  [[nodiscard]] std::uint64_t now() const { return global_ + local_; }
  [[nodiscard]] bool need_sync() const { return global_ + local_ >= next_sync_; }
  // Brings global time up to the CPU's time; the thread then resumes and calls reset().
  void wait_out_local() const { sc_core::wait(cycles_to_time(lag() + local_)); }
  // How far global time, as the CPU sees it, is ahead of SystemC's clock: the syncs made
  // without a wait since the thread last resumed (0 whenever another process may run).
  [[nodiscard]] std::uint64_t lag() const { return global_ - kernel_; }
  // SystemC's delay from its clock to `cycle` (not before global time).
  [[nodiscard]] sc_core::sc_time delay_to(std::uint64_t cycle) const {
    return cycles_to_time(cycle - kernel_);
  }
  // Brings SystemC's clock up to global time, keeping the local offset: the thread waits out
  // the lag (nothing else runs meanwhile), as if its last sync had waited.
  void catch_up() {
    if (kernel_ == global_) return;
    sc_core::wait(cycles_to_time(global_ - kernel_));
    kernel_ = now_cycles();
  }

 private:
  void set_next_sync() {
    next_sync_ = quantum_ == 0 ? global_ : global_ + (quantum_ - global_ % quantum_);
  }

  std::uint64_t kernel_ = 0;  // SystemC's clock when the thread last resumed
  std::uint64_t global_ = 0;  // global time: the kernel's clock plus the lag
  std::uint64_t local_ = 0;
  std::uint64_t next_sync_ = 0;
  std::uint64_t quantum_ = 0;
};

}  // namespace mmusim::sim
