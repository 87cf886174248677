// The pieces of a cross-CPU call (Linux's smp_call_function_many) that travel between CPUs:
// what each CPU is asked to run, the call data queued on a target, and the initiator's record
// of which targets have acked.
#pragma once

#include <cstdint>
#include <vector>

#include <systemc>

namespace mmusim::sim {

// The flush every CPU runs for one kernel TLB flush.
struct FlushWork {
  enum class Kind : std::uint8_t {
    kPages,  // do_kernel_range_flush: one INVLPG per 4 KiB page of [start, end)
    kFull,   // do_flush_tlb_all: a global flush
    // 4.19's __cpa_flush_range (arch/x86/mm/pageattr.c): a global flush on every CPU after a
    // page-attribute change, whatever the range; Linux counts no vmstat event for it.
    kCpaFull,
  };
  Kind kind = Kind::kFull;
  std::uint64_t start = 0;
  std::uint64_t end = 0;

  [[nodiscard]] std::uint64_t pages() const {
    return kind == Kind::kPages ? (end - start + 4095) / 4096 : 0;
  }
};

// One initiator's view of a flush in flight: a slot per target, filled when the target has run
// the flush and released the call data.
struct Shootdown {
  static constexpr std::uint64_t kNotAcked = ~std::uint64_t{0};

  int initiator = 0;
  std::vector<int> targets;
  std::vector<std::uint64_t> ack_visible;  // cycle at which the initiator can see the ack
  sc_core::sc_event* wake = nullptr;       // the initiator's wake-up event

  void ack(std::size_t slot, std::uint64_t visible_at) {
    ack_visible[slot] = visible_at;
    wake->notify(sc_core::SC_ZERO_TIME);
  }
  [[nodiscard]] bool acked(std::size_t slot) const { return ack_visible[slot] != kNotAcked; }
};

// The call data (csd) an initiator queues on a target.
struct CallRequest {
  Shootdown* shootdown = nullptr;
  std::size_t slot = 0;
  FlushWork work;
};

}  // namespace mmusim::sim
