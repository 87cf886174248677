// A simulated kernel lock. Waiters queue in arrival order (Linux's queued spinlocks and mutex
// hand-off are FIFO); a released lock reaches the next waiter after a cache-line hand-over,
// plus a wake-up when the waiter slept on a mutex. The waiting itself happens in the waiting
// CPU (Cpu::lock), which keeps taking IPIs meanwhile.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "vmalloc/kernel.h"

namespace mmusim::sim {

struct LockStats {
  std::uint64_t acquisitions = 0;
  std::uint64_t contended = 0;
  std::uint64_t trylock_failures = 0;
  std::uint64_t wait_cycles = 0;
  std::uint64_t hold_cycles = 0;

  template <class V>
  void visit(V& v) {
    v.count("acquisitions", acquisitions, "times the lock was taken");
    v.count("contended", contended, "acquisitions that had to wait for another CPU");
    v.count("trylock_failures", trylock_failures, "trylock calls that found it taken");
    v.cycles("wait_cycles", wait_cycles, "cycles CPUs spent waiting for it");
    v.cycles("hold_cycles", hold_cycles, "cycles it was held");
  }
};

class SimLock {
 public:
  SimLock(std::string name, vmalloc::LockKind kind) : name_(std::move(name)), kind_(kind) {}

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] vmalloc::LockKind kind() const { return kind_; }
  [[nodiscard]] bool free() const { return owner_ < 0 && waiters_.empty(); }
  [[nodiscard]] int owner() const { return owner_; }

  LockStats stats;

 private:
  friend class Cpu;
  std::string name_;
  vmalloc::LockKind kind_;
  int owner_ = -1;
  std::deque<int> waiters_;
  std::uint64_t acquired_at_ = 0;
};

}  // namespace mmusim::sim
