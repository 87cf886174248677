// One simulated CPU: an SC_THREAD that executes its op stream in program order through its
// own TLBs and page walker, charging cycles from the latency table, and takes interrupts.
//
// Time: work on private state only advances the CPU's local time (temporal decoupling with a
// quantum keeper). Anything that touches shared state - a page-table edit, a lock, a
// cross-CPU flush - synchronises first, so shared state changes in global time order.
//
// Interrupts: an IPI is taken at the CPU's next op boundary at or after its arrival, when
// interrupts are enabled; a halted CPU (an idle op, or a CPU that has run out of ops) wakes at
// the arrival. Every wait a CPU makes with interrupts enabled also wakes for IPIs, which is
// what lets CPUs that shoot each other down both finish.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <systemc>

#include "sim/cpu_stats.h"
#include "sim/quantum.h"
#include "sim/smp.h"
#include "tlb/translation_unit.h"
#include "vmalloc/kernel.h"
#include "workloads/op.h"

namespace mmusim::sim {

class Platform;
class SimLock;
struct GuestHandle;

// Thrown inside a CPU's thread to unwind it when the run stops.
struct StopRun {};

class Cpu : public sc_core::sc_module {
 public:
  static constexpr std::uint64_t kNotIdle = ~std::uint64_t{0};

  Cpu(sc_core::sc_module_name name, int id, Platform& platform);

  void set_source(std::unique_ptr<workloads::OpSource> source) { source_ = std::move(source); }
  [[nodiscard]] int id() const { return id_; }
  [[nodiscard]] tlb::TranslationUnit& unit() { return unit_; }
  [[nodiscard]] const tlb::TranslationUnit& unit() const { return unit_; }
  // The cycle at which the CPU ran out of ops (or the run stopped).
  [[nodiscard]] std::uint64_t finish_cycle() const { return finish_cycle_; }
  [[nodiscard]] bool finished() const { return finished_; }
  // The thread has returned (normally, or unwound by a stop).
  [[nodiscard]] bool exited() const { return exited_; }
  // What the CPU is blocked on, and since when, for deadlock reports ("" when not blocked).
  [[nodiscard]] const std::string& blocked_on() const { return blocked_on_; }
  [[nodiscard]] std::uint64_t blocked_since() const { return blocked_since_; }
  // Everything the CPU counted, its TLBs' and walker's counters included.
  [[nodiscard]] CpuStats stats() const;
  // Live counters, cheap to read while the CPU runs (stats() copies every structure's).
  [[nodiscard]] const OpStats& op_stats() const { return ops_; }
  [[nodiscard]] const CycleStats& cycle_stats() const { return cycles_; }
  [[nodiscard]] const ShootdownStats& shootdown_stats() const { return shootdown_; }
  // The spans this CPU completed, by name.
  [[nodiscard]] const std::map<std::string, SpanTotals>& spans() const { return spans_; }

  // The CPU's current time: global time plus what it has run ahead.
  [[nodiscard]] std::uint64_t now() const { return quantum_.now(); }
  [[nodiscard]] bool in_interrupt() const { return in_interrupt_; }

  // Kernel services, run in this CPU's thread.
  void charge(std::uint64_t cycles) { advance(cycles, cycles_.kernel); }
  void charge_page_table(std::uint64_t cycles) { advance(cycles, cycles_.page_table); }
  // Brings global time up to this CPU's time: done before touching shared state.
  void sync();
  // Brings SystemC's clock up to global time (see QuantumKeeper::lag()), keeping the CPU's
  // local offset: done before a delta notification, which must reach its waiter at global time.
  void catch_up();
  // The thread's yields so far, as with every sync waiting: each wait and each sync done
  // without one counts.
  [[nodiscard]] std::uint64_t yields() const { return yields_; }
  // This CPU's thread notified an event: the time of SystemC's next activity may have changed.
  void note_activity() { horizon_ = kNoHorizon; }
  void flush_tlb_kernel_range(std::uint64_t start, std::uint64_t end);
  void flush_tlb_all();
  // The flush after a page-attribute change (4.19's cpa_flush_range).
  void cpa_flush_range();
  void lock(SimLock& lock);
  bool trylock(SimLock& lock);
  void unlock(SimLock& lock);
  vmalloc::AccessResult kernel_access(mmu::VirtAddr va, mmu::AccessType type);
  // Deferred work (a workqueue item): runs in process context at this CPU's next op boundary,
  // or as soon as it is idle.
  void queue_work(std::function<void()> work);

  // Called by other CPUs (in their threads).
  // Queues a call; true when the queue was empty, i.e. the caller must send an IPI.
  bool enqueue_call(const CallRequest& request);
  void post_ipi(std::uint64_t arrival, std::uint64_t flow_id);
  // A lock this CPU waits for was handed to it, usable from cycle `at`.
  void grant_lock(std::uint64_t at);
  // The platform's broadcasts, on this CPU's own events: SystemC finds a waiting process in
  // each event it waits on by a linear search, so events that every CPU waits on would make
  // each wake-up cost as much as the machine has CPUs.
  void wake_stop() { stop_event_.notify(sc_core::SC_ZERO_TIME); }
  void wake_all_finished() { all_finished_event_.notify(sc_core::SC_ZERO_TIME); }
  // TLB entries another CPU's INVLPGB removed here.
  void count_invlpgb_entries(std::uint64_t entries) {
    shootdown_.invlpgb_entries_invalidated += entries;
  }

 private:
  void run();
  void execute(const workloads::Op& op);
  // The guest's API ops (sim/cpu_guest.cpp).
  void execute_guest(const workloads::Op& op);
  // The address an op names: a number, or a handle (waited for until some CPU binds it).
  std::uint64_t guest_address(const workloads::Op& op);
  GuestHandle& wait_for_handle(std::string_view name);
  void bind(const workloads::Op& op, GuestHandle handle);
  // Pages a caller of vmap()/vm_map_ram() allocates for them; empty when one failed.
  std::vector<mmu::Pfn> caller_pages(std::uint64_t count, int node);
  void free_caller_pages(GuestHandle* handle, std::uint64_t addr);
  // set_memory_ro/rw/x/nx: 4.19's change_page_attr_set_clr() on kernel pages.
  void change_page_attr(const workloads::Op& op);
  void begin_span(const workloads::Op& op);
  void end_span(const workloads::Op& op);
  void enter_irq_block();
  void exit_irq_block();
  void access(mmu::VirtAddr va, mmu::AccessType type, mmu::Privilege privilege,
              const workloads::Op& op);
  // A touch op's accesses over [addr, addr + bytes), every `stride` bytes.
  void touch(std::uint64_t addr, std::uint64_t bytes, std::uint64_t stride, mmu::AccessType type,
             mmu::Privilege privilege, const workloads::Op& op);
  // Charges an access's cycles and reports what went wrong with it (a kernel oops, a stale
  // hit), or shows its walk on the timeline.
  void account_access(mmu::VirtAddr va, mmu::Privilege privilege, const workloads::Op& op,
                      const tlb::TranslateResult& result);
  // An access that only costs cycles: no fault, no stale hit, nothing for the timeline.
  [[nodiscard]] bool plain_access(const tlb::TranslateResult& result) const;
  void kernel_flush(const FlushWork& work, bool remote_flush_event);
  // Each returns the cycle at which every other CPU is known to have flushed.
  std::uint64_t on_each_cpu(const FlushWork& work);
  std::uint64_t invlpgb_flush(const FlushWork& work);
  // Runs `work` on this CPU's TLB; returns its cycles.
  std::uint64_t run_flush(const FlushWork& work);

  // Time: charges `cycles` to `category` (and to busy, unless it is idle).
  void advance(std::uint64_t cycles, std::uint64_t& category) {
    category += cycles;
    if (&category != &cycles_.idle) cycles_.busy += cycles;
    quantum_.inc(cycles);
  }
  // Waits (in global time) until `cycle`, taking interrupts on the way.
  void wait_until(std::uint64_t cycle);
  // Waits for `event` (and for IPIs, when interrupts are enabled).
  // `reason` followed by `detail` is what a deadlock report says the CPU waits for (kept as
  // two pieces so that a wait builds no string).
  void block(sc_core::sc_event& event, std::string_view reason, std::string_view detail = {});
  void after_wait();

  // Interrupts.
  [[nodiscard]] bool ipi_due() const;
  void take_interrupts();
  // `idle_since`: when the CPU halted, if it is halted (an IPI that arrived before then found
  // it busy: its CPU only saw it late, with a decoupling quantum above the delivery latency).
  void handle_ipi(std::uint64_t idle_since = kNotIdle);
  // Halts until `until` (0: until an interrupt) or an IPI.
  void halt(std::uint64_t until);
  void idle_until_everyone_finished();
  // sanitizer.check_invariants_after_purge: frees what the run left and checks that
  // nothing is left (sim/guest_sanitizer.cpp).
  void guest_teardown();
  void run_pending_work();

  int id_;
  Platform& platform_;
  tlb::TranslationUnit unit_;
  std::unique_ptr<workloads::OpSource> source_;
  QuantumKeeper quantum_;

  bool irq_enabled_ = true;
  bool in_interrupt_ = false;
  bool in_irq_block_ = false;  // between a trace's "irq {" and "}"
  bool irq_enabled_before_block_ = true;
  std::string irq_block_where_;  // the trace position of the open "irq {"
  struct OpenSpan {
    std::uint64_t start = 0;
    std::uint64_t failures_at_start = 0;
    std::string where;
  };
  std::map<std::string, OpenSpan> open_spans_;
  std::map<std::string, SpanTotals> spans_;
  std::deque<CallRequest> call_queue_;
  bool ipi_pending_ = false;
  std::uint64_t ipi_arrival_ = 0;
  std::uint64_t ipi_flow_ = 0;
  sc_core::sc_event irq_event_;           // an IPI arrives
  sc_core::sc_event wake_event_;          // an ack or a lock hand-over for this CPU
  sc_core::sc_event stop_event_;          // the run stops
  sc_core::sc_event all_finished_event_;  // every CPU has run out of ops
  // The combinations of those the CPU waits on, built once: `a | b` in a wait() call puts a
  // new list on the heap every time.
  sc_core::sc_event_or_list irq_or_stop_;
  sc_core::sc_event_or_list wake_or_irq_or_stop_;
  sc_core::sc_event_or_list wake_or_stop_;
  sc_core::sc_event_or_list idle_with_irq_;     // irq, wake, all finished, stop
  sc_core::sc_event_or_list idle_without_irq_;  // wake, all finished, stop
  std::uint64_t yields_ = 0;
  // When SystemC next has something to do (a cycle), as it said since the thread resumed.
  static constexpr std::uint64_t kNoHorizon = 0;
  std::uint64_t horizon_ = kNoHorizon;
  std::uint64_t lock_granted_at_ = 0;
  bool lock_granted_ = false;
  std::deque<std::function<void()>> work_;

  OpStats ops_;
  CycleStats cycles_;
  ShootdownStats shootdown_;
  std::uint64_t finish_cycle_ = 0;
  bool finished_ = false;
  bool exited_ = false;
  std::string blocked_on_;
  std::uint64_t blocked_since_ = 0;
};

}  // namespace mmusim::sim
