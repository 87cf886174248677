// The simulated machine: physical memory and its page allocator, the page tables of the
// kernel and of any user address spaces, the stale-translation tracker, the topology, the
// kernel's locks, the guest (the vmalloc model) with the handles traces bind its results to,
// and one Cpu module per logical processor. It also holds what the CPUs share about the run
// itself: the op budget, the stop request, the trace being recorded, the timeline, the
// shootdown distributions, the kernel log and the first error.
#pragma once

#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <systemc>

#include "mmu/page_table.h"
#include "mmu/phys_mem.h"
#include "sim/config.h"
#include "sim/cpu.h"
#include "sim/distribution.h"
#include "sim/lock.h"
#include "sim/timeline.h"
#include "sim/topology.h"
#include "tlb/stale_tracker.h"
#include "vmalloc/kernel.h"
#include "vmalloc/page_alloc.h"
#include "vmalloc/vmalloc.h"
#include "workloads/op.h"
#include "workloads/trace.h"

namespace mmusim::sim {

class GuestSanitizer;
class Sampler;

// Why a run ended.
enum class StopReason : std::uint8_t {
  kCompleted,
  kMaxOps,
  kMaxCycles,
  kStaleTlbHit,
  kKernelBug,
  kDeadlock,
  kError,
  kInterrupted,  // SIGINT or SIGTERM (sim/interrupt.h): nothing is written
};
[[nodiscard]] const char* to_string(StopReason reason);

// What a trace's handle ($name) is bound to: the address an op returned, and what the caller
// holds with it (the vm_struct of get_vm_area, the pages it passed to vmap).
struct GuestHandle {
  std::uint64_t addr = 0;
  std::uint64_t size = 0;
  vmalloc::VmStruct* vm = nullptr;
  std::vector<vmalloc::VmStruct*> vms;  // pcpu_get_vm_areas
  std::vector<mmu::Pfn> pages;          // vmap, vm_map_ram: the caller's pages
};

// The guest kernel's log: WARN()s, BUG()s and messages, counted, with the first few kept.
struct KernelLog {
  static constexpr std::size_t kKept = 50;
  std::uint64_t warnings = 0;
  std::uint64_t bugs = 0;
  std::uint64_t messages = 0;
  std::vector<std::string> lines;  // "[cycle] CPU n: text"
  std::uint64_t lines_dropped = 0;
};

class Platform : public sc_core::sc_module {
 public:
  Platform(sc_core::sc_module_name name, const ExperimentConfig& config);
  ~Platform() override;

  [[nodiscard]] const ExperimentConfig& config() const { return config_; }
  [[nodiscard]] const Topology& topology() const { return topology_; }
  [[nodiscard]] int cpu_count() const { return static_cast<int>(cpus_.size()); }
  [[nodiscard]] Cpu& cpu(int index) { return *cpus_[index]; }
  [[nodiscard]] const Cpu& cpu(int index) const { return *cpus_[index]; }
  [[nodiscard]] mmu::PhysMem& memory() { return memory_; }
  [[nodiscard]] const mmu::PhysMem& memory() const { return memory_; }
  [[nodiscard]] mmu::PageTableEditor& editor() { return editor_; }
  [[nodiscard]] const mmu::PageTableEditor& editor() const { return editor_; }
  [[nodiscard]] vmalloc::PageAllocator& page_allocator() { return pages_; }
  [[nodiscard]] const vmalloc::PageAllocator& page_allocator() const { return pages_; }
  [[nodiscard]] vmalloc::Vmalloc& guest() { return *guest_; }
  [[nodiscard]] const vmalloc::Vmalloc& guest() const { return *guest_; }
  [[nodiscard]] tlb::StaleTracker* tracker() { return tracker_.get(); }
  [[nodiscard]] const tlb::StaleTracker* tracker() const { return tracker_.get(); }
  [[nodiscard]] mmu::Pfn kernel_root() const { return kernel_root_; }
  // The kernel services the guest runs against, acting for whichever CPU is running.
  [[nodiscard]] vmalloc::Kernel& kernel() { return *kernel_; }

  // The page-table root of address space `mm` (0 is the kernel's); a user address space is
  // created on first use, sharing the kernel half.
  mmu::Pfn address_space(std::uint32_t mm);
  // Applies a map, unmap or protect op to the page tables.
  mmu::EditResult edit(const workloads::Op& op);
  // Runs a workload's boot ops (page-table edits, early vmalloc registrations) before time
  // starts, then vmalloc_init(). Throws std::invalid_argument when an edit fails; a kernel BUG
  // in an early registration is counted (and stops the run with run.stop_on_bug).
  void boot(const std::vector<workloads::Op>& ops);

  // Trace handles. find_handle() returns nullptr for a handle not bound yet; bind_handle()
  // wakes the CPUs waiting for it.
  [[nodiscard]] GuestHandle* find_handle(std::string_view name);
  GuestHandle& bind_handle(std::string_view name, GuestHandle handle);
  // Every bound handle, by name (the end-of-run teardown frees what they hold).
  [[nodiscard]] std::map<std::string, GuestHandle, std::less<>>& handles() { return handles_; }
  // A CPU waiting for a handle to be bound: before and after it waits on handle_bound_event().
  void begin_handle_wait();
  void end_handle_wait() { --handle_waiters_; }
  [[nodiscard]] sc_core::sc_event& handle_bound_event() { return handle_bound_event_; }
  // A vm_struct a caller owns (the static ones early registrations pass); lives as long as
  // the platform.
  vmalloc::VmStruct& caller_vm_struct() { return early_vms_.emplace_back(); }

  // The guest kernel's diagnostics, from the CPU running now. A BUG stops the run when
  // run.stop_on_bug is set.
  void kernel_warn(const std::string& text);
  void kernel_bug(const std::string& text);
  void kernel_printk(const std::string& text);
  // True the first time it is asked about `site` (the kernel's WARN_ON_ONCE).
  bool first_time(const std::string& site) { return once_sites_.insert(site).second; }
  [[nodiscard]] const KernelLog& kernel_log() const { return kernel_log_; }
  // A virtual range handed out while TLB entries that still translate into it are stale.
  void check_va_reuse(std::uint64_t start, std::uint64_t end);
  [[nodiscard]] std::uint64_t va_reuse_with_stale_tlb() const { return va_reuse_; }
  [[nodiscard]] std::uint64_t va_reuse_stale_entries() const { return va_reuse_entries_; }
  // /proc/vmallocinfo snapshots the trace asked for, in order.
  void add_vmallocinfo_snapshot(std::string text) { snapshots_.push_back(std::move(text)); }
  [[nodiscard]] const std::vector<std::string>& vmallocinfo_snapshots() const { return snapshots_; }
  // Whether any guest op ran (or was booted): the vmalloc statistics are then written.
  void note_guest_used() { guest_used_ = true; }
  [[nodiscard]] bool guest_used() const { return guest_used_; }

  // The CPU whose thread runs now (each CPU sets itself whenever its thread resumes).
  void set_current(Cpu* cpu) { current_ = cpu; }
  [[nodiscard]] Cpu& current() { return *current_; }
  // Before the running CPU notifies an event (a delta notification): SystemC's clock catches
  // up with the CPU's global time, and an owed handle notification goes first.
  void before_notify();
  // Whether a CPU may sync without waiting when nothing else is due before its time
  // (Cpu::sync): with a single process only.
  [[nodiscard]] bool sync_without_wait() const { return sync_without_wait_; }

  // Locks by name, created on first use.
  vmalloc::LockId lock_id(const std::string& name, vmalloc::LockKind kind);
  [[nodiscard]] SimLock& lock(vmalloc::LockId id) { return *locks_[id]; }
  [[nodiscard]] const std::vector<std::unique_ptr<SimLock>>& locks() const { return locks_; }

  // Run bookkeeping.
  void record_to(workloads::TraceWriter* writer) { recorder_ = writer; }
  void set_timeline(Timeline* timeline) { timeline_ = timeline ? timeline : &no_timeline_; }
  [[nodiscard]] Timeline& timeline() { return *timeline_; }
  [[nodiscard]] std::uint64_t next_flow_id() { return ++flow_ids_; }
  // Called by a CPU for every op it executes: records it and enforces run.max_ops.
  void op_executed(int cpu, const workloads::Op& op);
  // A progress display's hook: called with the ops so far and the executing CPU's cycle every
  // kProgressInterval ops (a counter check per op; the hook reads the wall clock itself).
  // SIGINT and SIGTERM are polled at the same points.
  static constexpr std::uint64_t kProgressInterval = 65536;
  using ProgressHook = std::function<void(std::uint64_t ops, std::uint64_t cycles)>;
  void set_progress_hook(ProgressHook hook) { progress_hook_ = std::move(hook); }
  void cpu_finished();
  [[nodiscard]] bool all_finished() const { return finished_ == cpus_.size(); }
  // Whether every CPU but the one asking has finished.
  [[nodiscard]] bool last_to_finish() const { return finished_ + 1 == cpus_.size(); }
  // The guest's invariant checks (sanitizer.check_invariants_after_purge), or nullptr.
  [[nodiscard]] GuestSanitizer* guest_sanitizer() { return sanitizer_.get(); }
  [[nodiscard]] const GuestSanitizer* guest_sanitizer() const { return sanitizer_.get(); }
  // Notified when every CPU has finished, and when the run stops (every waiting CPU then wakes
  // up and unwinds). Each CPU waits on its own copies of these (Cpu::wake_stop()).
  [[nodiscard]] sc_core::sc_event& all_finished_event() { return all_finished_event_; }
  [[nodiscard]] sc_core::sc_event& stop_event() { return stop_event_; }
  // After the simulation: if CPUs are still blocked, the run deadlocked. Returns whether so.
  bool detect_deadlock();
  // Whether every CPU thread has returned.
  [[nodiscard]] bool all_exited() const;

  void record_shootdown(std::uint64_t latency, std::uint64_t targets);
  void record_flush_duration(std::uint64_t cycles) { flush_duration_.record(cycles); }
  [[nodiscard]] const Distribution& shootdown_latency() const { return shootdown_latency_; }
  [[nodiscard]] const Distribution& shootdown_targets() const { return shootdown_targets_; }
  [[nodiscard]] const Distribution& flush_duration() const { return flush_duration_; }

  // Ends the run early (the first reason wins).
  void request_stop(StopReason reason, std::string detail = "");
  [[nodiscard]] bool stopping() const { return stop_reason_ != StopReason::kCompleted; }
  [[nodiscard]] StopReason stop_reason() const { return stop_reason_; }
  [[nodiscard]] const std::string& stop_detail() const { return stop_detail_; }
  // A CPU hit an error it cannot handle: stop and keep the first. `input` tells the user's
  // mistake (a malformed trace line) from a simulator failure.
  void fail(const std::string& message, bool input);
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] bool input_error() const { return input_error_; }
  // Warnings for the log (bounded).
  void warn(const std::string& message);
  [[nodiscard]] const std::vector<std::string>& warnings() const { return warnings_; }
  [[nodiscard]] std::uint64_t warnings_dropped() const { return warnings_dropped_; }

  [[nodiscard]] std::uint64_t ops_executed() const { return ops_executed_; }
  // The time series (output.sample_interval_cycles), or nullptr when off.
  [[nodiscard]] const Sampler* sampler() const { return sampler_.get(); }

 private:
  std::optional<mmu::Pfn> allocate_block(mmu::PageSize size);
  void kernel_log_line(const std::string& text);

  ExperimentConfig config_;
  Topology topology_;
  mmu::PhysMem memory_;
  vmalloc::PageAllocator pages_;
  std::unique_ptr<tlb::StaleTracker> tracker_;
  mmu::PageTableEditor editor_;
  mmu::Pfn kernel_root_;
  std::map<std::uint32_t, mmu::Pfn> user_spaces_;
  std::uint64_t huge_cursor_;  // large pages are carved downward from the top of memory
  std::vector<std::unique_ptr<Cpu>> cpus_;
  std::unique_ptr<Sampler> sampler_;
  Cpu* current_ = nullptr;
  bool sync_without_wait_ = false;
  std::unique_ptr<vmalloc::Kernel> kernel_;
  std::unique_ptr<vmalloc::Vmalloc> guest_;
  std::unique_ptr<GuestSanitizer> sanitizer_;
  std::deque<vmalloc::VmStruct> early_vms_;  // the callers' own vm_structs of boot registrations
  std::map<std::string, GuestHandle, std::less<>> handles_;
  sc_core::sc_event handle_bound_event_;
  // Binding a handle notifies handle_bound_event_. When no CPU waits for a handle and no other
  // process can run before the binding CPU yields, only that CPU could see the notification,
  // by waiting for a handle itself before it yields: the notification is then owed (by that
  // CPU, until its yield count moves on) and made only if so (see before_notify()).
  int handle_waiters_ = 0;
  const Cpu* handle_notice_owed_by_ = nullptr;
  std::uint64_t handle_notice_yields_ = 0;
  KernelLog kernel_log_;
  std::set<std::string> once_sites_;
  std::uint64_t va_reuse_ = 0;
  std::uint64_t va_reuse_entries_ = 0;
  std::vector<std::string> snapshots_;
  bool guest_used_ = false;
  std::map<std::string, vmalloc::LockId> lock_ids_;
  std::vector<std::unique_ptr<SimLock>> locks_;
  workloads::TraceWriter* recorder_ = nullptr;
  Timeline no_timeline_;
  Timeline* timeline_ = &no_timeline_;
  std::uint64_t flow_ids_ = 0;
  std::size_t finished_ = 0;
  sc_core::sc_event all_finished_event_;
  sc_core::sc_event stop_event_;
  Distribution shootdown_latency_;
  Distribution shootdown_targets_;
  Distribution flush_duration_;
  std::uint64_t ops_executed_ = 0;
  ProgressHook progress_hook_;
  StopReason stop_reason_ = StopReason::kCompleted;
  std::string stop_detail_;
  std::string error_;
  bool input_error_ = false;
  std::vector<std::string> warnings_;
  std::uint64_t warnings_dropped_ = 0;
};

}  // namespace mmusim::sim
