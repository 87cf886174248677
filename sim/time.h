// Simulated time is counted in core cycles. SystemC time is only the vehicle: one cycle is one
// nanosecond of sc_time, and every figure reported in seconds divides cycles by the
// configured frequency.
#pragma once

#include <cstdint>

#include <systemc>

namespace mmusim::sim {

inline constexpr std::uint64_t kPicosecondsPerCycle = 1000;

[[nodiscard]] inline sc_core::sc_time cycles_to_time(std::uint64_t cycles) {
  return sc_core::sc_time::from_value(cycles * kPicosecondsPerCycle);
}
[[nodiscard]] inline std::uint64_t time_to_cycles(const sc_core::sc_time& time) {
  return time.value() / kPicosecondsPerCycle;
}
[[nodiscard]] inline std::uint64_t now_cycles() {
  return time_to_cycles(sc_core::sc_time_stamp());
}

}  // namespace mmusim::sim
