#include "sim/cpu.h"

#include <algorithm>

#include "sim/lock.h"
#include "sim/platform.h"
#include "sim/time.h"
#include "sim/timeline.h"
#include "workloads/trace.h"

namespace mmusim::sim {

using workloads::Op;
using workloads::OpKind;
namespace op_flags = workloads::op_flags;

tlb::TlbArrayStats* TlbStats::find(const std::string& name) {
  if (name == "l1i_4k") return &l1i_4k;
  if (name == "l1i_2m") return &l1i_2m;
  if (name == "l1d_4k") return &l1d_4k;
  if (name == "l1d_2m") return &l1d_2m;
  if (name == "l1d_1g") return &l1d_1g;
  if (name == "stlb") return &stlb;
  if (name == "stlb_1g") return &stlb_1g;
  return nullptr;
}

namespace {

std::uint32_t by_distance(Distance distance, std::uint32_t smt, std::uint32_t socket,
                          std::uint32_t remote) {
  switch (distance) {
    case Distance::kSelf:
      return 0;
    case Distance::kSmt:
      return smt;
    case Distance::kSocket:
      return socket;
    case Distance::kRemote:
      return remote;
  }
  return remote;
}

}  // namespace

Cpu::Cpu(sc_core::sc_module_name name, int id, Platform& platform)
    : sc_module(name),
      id_(id),
      platform_(platform),
      unit_(id, platform.config().tlb, platform.config().mmu, platform.memory(),
            platform.config().run.seed, platform.tracker()) {
  SC_HAS_PROCESS(Cpu);
  SC_THREAD(run);
  irq_or_stop_ |= irq_event_;
  irq_or_stop_ |= stop_event_;
  wake_or_irq_or_stop_ |= wake_event_;
  wake_or_irq_or_stop_ |= irq_event_;
  wake_or_irq_or_stop_ |= stop_event_;
  wake_or_stop_ |= wake_event_;
  wake_or_stop_ |= stop_event_;
  idle_with_irq_ |= irq_event_;
  idle_with_irq_ |= wake_event_;
  idle_with_irq_ |= all_finished_event_;
  idle_with_irq_ |= stop_event_;
  idle_without_irq_ |= wake_event_;
  idle_without_irq_ |= all_finished_event_;
  idle_without_irq_ |= stop_event_;
}

// ---------------------------------------------------------------------------------------------
// Time

void Cpu::after_wait() {
  quantum_.reset();
  horizon_ = kNoHorizon;
  ++yields_;
  platform_.set_current(this);
  // A stopped run ends every thread by unwinding it, so that nothing stays suspended.
  if (platform_.stopping()) throw StopRun{};
}

void Cpu::sync() {
  if (quantum_.local() == 0) return;
  // Waiting out the local offset resumes this thread at its time, with nothing run in between,
  // when no other process has anything to do until after then: neither now (a runnable process,
  // a delta notification, an update) nor at any time up to and including the CPU's (a timed
  // notification). Global time then moves without the two context switches of a wait; what the
  // CPU does next is what it would have done after waiting, and SystemC's clock catches up at
  // its next wait (or catch_up()). Only with one CPU and no sampler, though: SystemC keeps
  // timed notifications in a binary heap, a wait puts one in and takes it out, and that can
  // reorder notifications due at one same time, which decides which of several CPUs resuming
  // together runs first. With one process, that order cannot matter.
  if (platform_.sync_without_wait()) {
    // SystemC is asked once per resumption; while the thread runs, only its own notifications
    // can add activity, and each of them forgets the answer (note_activity()).
    if (horizon_ == kNoHorizon) {
      horizon_ = now_cycles() + time_to_cycles(sc_core::sc_time_to_pending_activity());
    }
    if (horizon_ > quantum_.now()) {
      quantum_.sync_without_wait();
      ++yields_;
      if (platform_.stopping()) throw StopRun{};
      return;
    }
  }
  quantum_.wait_out_local();
  after_wait();
}

void Cpu::catch_up() {
  horizon_ = kNoHorizon;
  quantum_.catch_up();
}

void Cpu::wait_until(std::uint64_t cycle) {
  for (;;) {
    sync();
    if (ipi_due()) {
      take_interrupts();
      continue;
    }
    const std::uint64_t t = now();
    if (t >= cycle) return;
    if (irq_enabled_) {
      sc_core::wait(quantum_.delay_to(cycle), irq_or_stop_);
    } else {
      sc_core::wait(quantum_.delay_to(cycle), stop_event_);
    }
    after_wait();
  }
}

void Cpu::block(sc_core::sc_event& event, std::string_view reason, std::string_view detail) {
  blocked_on_.assign(reason);
  blocked_on_.append(detail);
  blocked_since_ = now();
  if (&event == &wake_event_) {
    sc_core::wait(irq_enabled_ ? wake_or_irq_or_stop_ : wake_or_stop_);
  } else if (irq_enabled_) {
    sc_core::wait(event | irq_event_ | stop_event_);
  } else {
    sc_core::wait(event | stop_event_);
  }
  blocked_on_.clear();
  after_wait();
}

// ---------------------------------------------------------------------------------------------
// Interrupts

bool Cpu::ipi_due() const {
  return irq_enabled_ && ipi_pending_ && ipi_arrival_ <= now();
}

void Cpu::take_interrupts() {
  // A stopping run takes no more interrupts: the calls queued may belong to initiators that
  // have already unwound.
  while (ipi_due() && !platform_.stopping())
    handle_ipi();
}

bool Cpu::enqueue_call(const CallRequest& request) {
  call_queue_.push_back(request);
  return call_queue_.size() == 1;
}

void Cpu::post_ipi(std::uint64_t arrival, std::uint64_t flow_id) {
  ipi_pending_ = true;
  ipi_arrival_ = arrival;
  ipi_flow_ = flow_id;
  // The poster has synchronised, so global time is its time and the arrival is not before it
  // (the delay counts from SystemC's clock, which may lag behind global time).
  platform_.current().note_activity();
  irq_event_.notify(cycles_to_time(arrival - now_cycles()));
}

void Cpu::handle_ipi(std::uint64_t idle_since) {
  const LatencyConfig& latency = platform_.config().latency;
  const Topology& topology = platform_.topology();
  Timeline& timeline = platform_.timeline();
  ipi_pending_ = false;
  irq_event_.cancel();
  ++shootdown_.ipis_received;
  if (idle_since != kNotIdle && ipi_arrival_ >= idle_since) {
    advance(latency.ipi.idle_wakeup, cycles_.idle_wakeup);
  }
  const std::uint64_t start = now();
  timeline.flow_end(id_, ipi_flow_, start);

  // Runs every call queued so far; each is acked (its call data released) right after its
  // flush, as smp_call_function_many's synchronous calls are.
  std::uint64_t cost = latency.ipi.irq_entry;
  in_interrupt_ = true;
  std::deque<CallRequest> calls;
  calls.swap(call_queue_);
  for (const CallRequest& call : calls) {
    cost += run_flush(call.work) + latency.ipi.call_handler;
    const Distance distance = topology.distance(id_, call.shootdown->initiator);
    const std::uint64_t visible =
        start + cost +
        by_distance(distance, latency.ipi.ack_smt, latency.ipi.ack_socket, latency.ipi.ack_remote);
    platform_.before_notify();
    call.shootdown->ack(call.slot, visible);
    ++shootdown_.calls_handled;
  }
  cost += latency.ipi.irq_exit;
  in_interrupt_ = false;
  advance(cost, cycles_.ipi_handling);
  if (timeline.enabled()) {
    timeline.slice(id_, "IPI handler", "shootdown", start, cost,
                   "{\"calls\":" + std::to_string(calls.size()) + "}");
  }
}

void Cpu::halt(std::uint64_t until) {
  sync();
  const std::uint64_t start = now();
  for (;;) {
    if (irq_enabled_ && ipi_pending_ && ipi_arrival_ <= now()) {
      const std::uint64_t idle = now() - start;
      cycles_.idle += idle;
      platform_.timeline().slice(id_, "idle", "idle", start, idle);
      handle_ipi(start);
      return;
    }
    if (until != 0 && now() >= until) break;
    blocked_on_ =
        irq_enabled_ ? "an interrupt (halted)" : "an interrupt, halted with interrupts disabled";
    blocked_since_ = now();
    if (until != 0 && irq_enabled_) {
      sc_core::wait(quantum_.delay_to(until), irq_or_stop_);
    } else if (until != 0) {
      sc_core::wait(quantum_.delay_to(until), stop_event_);
    } else if (irq_enabled_) {
      sc_core::wait(irq_or_stop_);
    } else {
      sc_core::wait(stop_event_);  // a halt nothing but the end of the run can end: a deadlock
    }
    blocked_on_.clear();
    after_wait();
  }
  const std::uint64_t idle = now() - start;
  cycles_.idle += idle;
  platform_.timeline().slice(id_, "idle", "idle", start, idle);
}

void Cpu::idle_until_everyone_finished() {
  // The last CPU to run out of ops tears the guest down while the others still take IPIs.
  if (platform_.guest_sanitizer() != nullptr && platform_.last_to_finish() &&
      !platform_.stopping()) {
    guest_teardown();
  }
  finished_ = true;
  finish_cycle_ = now();
  platform_.cpu_finished();
  for (;;) {
    sync();
    // Checked after the sync: the last CPU may have finished while this one caught up with
    // global time, and then nothing would wake it again.
    if (platform_.all_finished() || platform_.stopping()) break;
    if (irq_enabled_ && ipi_pending_ && ipi_arrival_ <= now()) {
      handle_ipi(finish_cycle_);
      continue;
    }
    if (!work_.empty()) {
      run_pending_work();
      continue;
    }
    blocked_on_ = "nothing (idle after its last op)";
    sc_core::wait(irq_enabled_ ? idle_with_irq_ : idle_without_irq_);
    blocked_on_.clear();
    after_wait();
  }
}

// ---------------------------------------------------------------------------------------------
// Kernel TLB flushes

std::uint64_t Cpu::run_flush(const FlushWork& work) {
  const ExperimentConfig& config = platform_.config();
  const LatencyConfig& latency = config.latency;
  std::uint64_t cycles = 0;
  std::uint64_t removed = 0;
  if (work.kind == FlushWork::Kind::kPages) {
    for (std::uint64_t va = work.start; va < work.end; va += mmu::kPageBytes) {
      removed += unit_.invlpg(mmu::VirtAddr{va});
      cycles += latency.invlpg;
      ++shootdown_.invlpg_executed;
      ++shootdown_.nr_tlb_local_flush_one;
      if (va + mmu::kPageBytes < va) break;  // the range ends at the top of the address space
    }
  } else {
    if (work.kind == FlushWork::Kind::kFull) ++shootdown_.nr_tlb_remote_flush_received;
    ++shootdown_.full_flushes_executed;
    if (!config.mmu.pge) {
      // Without PGE there are no global entries (and Linux then runs without PCIDs): a CR3
      // reload flushes everything.
      removed = unit_.mov_cr3(unit_.cr3_root(), unit_.current_pcid(), /*no_flush=*/false);
      cycles = latency.mov_cr3;
    } else {
      removed = unit_.flush_all_global();
      cycles = unit_.invpcid_supported() ? latency.invpcid_all_global : latency.toggle_pge;
    }
  }
  shootdown_.entries_invalidated += removed;
  return cycles;
}

void Cpu::flush_tlb_kernel_range(std::uint64_t start, std::uint64_t end) {
  FlushWork work;
  const std::uint64_t ceiling = platform_.config().flush.single_page_flush_ceiling;
  // The kernel compares the byte length, computed modulo 2^64, with the ceiling in bytes.
  if (end == workloads::kTlbFlushAll || end - start > (ceiling << mmu::kPageShift)) {
    work.kind = FlushWork::Kind::kFull;
  } else {
    work.kind = FlushWork::Kind::kPages;
    work.start = start;
    work.end = end;
  }
  kernel_flush(work, /*remote_flush_event=*/false);
}

void Cpu::flush_tlb_all() {
  FlushWork work;
  work.kind = FlushWork::Kind::kFull;
  kernel_flush(work, /*remote_flush_event=*/true);
}

void Cpu::cpa_flush_range() {
  FlushWork work;
  work.kind = FlushWork::Kind::kCpaFull;
  kernel_flush(work, /*remote_flush_event=*/false);
}

void Cpu::kernel_flush(const FlushWork& work, bool remote_flush_event) {
  sync();
  const std::uint64_t start = now();
  ++shootdown_.started;
  ++(work.kind == FlushWork::Kind::kPages ? shootdown_.started_ranges : shootdown_.started_full);
  if (remote_flush_event) ++shootdown_.nr_tlb_remote_flush;
  if (!irq_enabled_ || in_interrupt_) {
    ++shootdown_.flushes_with_irqs_off;
    platform_.warn("CPU " + std::to_string(id_) +
                   ": WARNING: cross-CPU TLB flush with interrupts disabled "
                   "(smp_call_function_many); it deadlocks if another CPU waits for this one");
  }
  advance(platform_.config().latency.flush.flush_call, cycles_.flush_send);
  const bool invlpgb = platform_.config().flush.mechanism == FlushMechanism::kInvlpgb;
  const std::uint64_t everyone_flushed = invlpgb ? invlpgb_flush(work) : on_each_cpu(work);
  platform_.record_shootdown(everyone_flushed - start,
                             invlpgb ? 0 : static_cast<std::uint64_t>(platform_.cpu_count() - 1));
  platform_.record_flush_duration(now() - start);
  if (platform_.timeline().enabled()) {
    platform_.timeline().slice(
        id_, work.kind == FlushWork::Kind::kPages ? "flush (pages)" : "flush (full)", "shootdown",
        start, now() - start,
        work.kind != FlushWork::Kind::kPages ? ""
                                             : "{\"pages\":" + std::to_string(work.pages()) + "}");
  }
}

std::uint64_t Cpu::on_each_cpu(const FlushWork& work) {
  const ExperimentConfig& config = platform_.config();
  const IpiLatencyConfig& ipi = config.latency.ipi;
  const Topology& topology = platform_.topology();

  // smp_call_function_many(): queue a call on every other online CPU, idle ones included.
  Shootdown shootdown;
  shootdown.initiator = id_;
  shootdown.wake = &wake_event_;
  for (int cpu = 0; cpu < platform_.cpu_count(); ++cpu) {
    if (cpu != id_) shootdown.targets.push_back(cpu);
  }
  const std::size_t targets = shootdown.targets.size();
  shootdown.ack_visible.assign(targets, Shootdown::kNotAcked);
  shootdown_.targets += targets;
  if (targets > 0) {
    advance(ipi.call_setup, cycles_.flush_send);
    std::vector<bool> needs_ipi(targets, false);
    for (std::size_t slot = 0; slot < targets; ++slot) {
      advance(ipi.csd_enqueue, cycles_.flush_send);
      ++shootdown_.calls_queued;
      needs_ipi[slot] =
          platform_.cpu(shootdown.targets[slot]).enqueue_call({&shootdown, slot, work});
      if (!needs_ipi[slot]) ++shootdown_.calls_coalesced;
    }

    // One ICR write per batch of targets, then each IPI travels to its target.
    const bool everyone = std::all_of(needs_ipi.begin(), needs_ipi.end(), [](bool b) { return b; });
    const int cluster_size = static_cast<int>(config.flush.x2apic_cluster_size);
    std::size_t slot = 0;
    while (slot < targets) {
      if (!needs_ipi[slot]) {
        ++slot;
        continue;
      }
      std::size_t batch_end = slot + 1;
      if (config.flush.ipi_mode == IpiMode::kShorthand && everyone) {
        batch_end = targets;
      } else if (config.flush.ipi_mode == IpiMode::kCluster) {
        const int cluster = topology.cluster_of(shootdown.targets[slot], cluster_size);
        while (batch_end < targets &&
               topology.cluster_of(shootdown.targets[batch_end], cluster_size) == cluster) {
          ++batch_end;
        }
      }
      advance(ipi.icr_write, cycles_.flush_send);
      ++shootdown_.icr_writes;
      sync();  // IPIs leave at global time
      for (std::size_t i = slot; i < batch_end; ++i) {
        if (!needs_ipi[i]) continue;
        const int target = shootdown.targets[i];
        const Distance distance = topology.distance(id_, target);
        const std::uint64_t flow = platform_.next_flow_id();
        platform_.timeline().flow_begin(id_, flow, now());
        platform_.cpu(target).post_ipi(
            now() + by_distance(distance, ipi.deliver_smt, ipi.deliver_socket, ipi.deliver_remote),
            flow);
        ++shootdown_.ipis_sent;
      }
      slot = batch_end;
    }

    // Wait for each target's ack in turn (csd_lock_wait), taking IPIs meanwhile.
    const std::uint64_t spin_start = now();
    const std::uint64_t handling_before = cycles_.ipi_handling + cycles_.idle_wakeup;
    std::uint64_t polls = 0;
    for (std::size_t i = 0; i < targets; ++i) {
      for (;;) {
        sync();
        if (ipi_due()) {
          take_interrupts();
          continue;
        }
        if (shootdown.acked(i)) break;
        block(wake_event_, "the acks of its TLB shootdown");
      }
      wait_until(shootdown.ack_visible[i]);
      const Distance distance = topology.distance(id_, shootdown.targets[i]);
      const std::uint32_t poll =
          by_distance(distance, ipi.ack_poll_smt, ipi.ack_poll_socket, ipi.ack_poll_remote);
      advance(poll, cycles_.flush_spin);
      polls += poll;
    }
    sync();
    const std::uint64_t spin = now() - spin_start;
    const std::uint64_t handled = cycles_.ipi_handling + cycles_.idle_wakeup - handling_before;
    const std::uint64_t waited = spin - handled - polls;
    cycles_.flush_spin += waited;
    cycles_.busy += waited;
    platform_.timeline().slice(id_, "shootdown spin", "shootdown", spin_start, spin);
  }
  const std::uint64_t acked = now();

  // on_each_cpu() runs the flush locally last, with interrupts off.
  advance(run_flush(work), cycles_.flush_local);
  return acked;
}

std::uint64_t Cpu::invlpgb_flush(const FlushWork& work) {
  const ExperimentConfig& config = platform_.config();
  const FlushLatencyConfig& latency = config.latency.flush;
  // The broadcast reaches every CPU, this one included, without interrupting anybody.
  auto broadcast = [this](auto&& invalidate) {
    for (int cpu = 0; cpu < platform_.cpu_count(); ++cpu) {
      Cpu& target = platform_.cpu(cpu);
      target.count_invlpgb_entries(invalidate(target.unit()));
    }
  };
  sync();
  if (work.kind != FlushWork::Kind::kPages) {
    advance(latency.invlpgb, cycles_.flush_send);
    ++shootdown_.invlpgb_instructions;
    broadcast([](tlb::TranslationUnit& unit) { return unit.invlpgb_all(); });
  } else {
    const std::uint64_t count_max = config.flush.invlpgb_count_max;
    std::uint64_t va = work.start;
    while (va < work.end) {
      const std::uint64_t remaining = (work.end - va + mmu::kPageBytes - 1) >> mmu::kPageShift;
      const std::uint64_t pages = std::clamp<std::uint64_t>(remaining, 1, count_max);
      advance(latency.invlpgb + latency.invlpgb_per_page * (pages - 1), cycles_.flush_send);
      ++shootdown_.invlpgb_instructions;
      broadcast([va, pages](tlb::TranslationUnit& unit) {
        return unit.invlpgb_range(mmu::VirtAddr{va}, pages);
      });
      if (va + pages * mmu::kPageBytes < va) break;
      va += pages * mmu::kPageBytes;
    }
  }
  // TLBSYNC waits until every CPU has completed the broadcasts.
  bool remote = false;
  for (int cpu = 0; cpu < platform_.cpu_count(); ++cpu) {
    remote = remote || platform_.topology().distance(id_, cpu) == Distance::kRemote;
  }
  advance(remote ? latency.tlbsync_remote : latency.tlbsync_socket, cycles_.flush_send);
  ++shootdown_.tlbsyncs;
  return now();
}

// ---------------------------------------------------------------------------------------------
// Locks

void Cpu::lock(SimLock& lock) {
  const LockLatencyConfig& latency = platform_.config().latency.lock;
  sync();
  ++lock.stats.acquisitions;
  if (!lock.free()) {
    ++lock.stats.contended;
    const std::uint64_t wait_start = now();
    const std::uint64_t handling_before = cycles_.ipi_handling + cycles_.idle_wakeup;
    lock_granted_ = false;
    lock.waiters_.push_back(id_);
    for (;;) {
      sync();
      if (ipi_due()) {
        take_interrupts();
        continue;
      }
      if (lock_granted_) break;
      block(wake_event_, "lock ", lock.name());
    }
    wait_until(lock_granted_at_);
    const std::uint64_t waited =
        now() - wait_start - (cycles_.ipi_handling + cycles_.idle_wakeup - handling_before);
    cycles_.lock_wait += waited;
    cycles_.busy += waited;
    lock.stats.wait_cycles += waited;
    if (platform_.timeline().enabled()) {
      platform_.timeline().slice(id_, ("wait " + lock.name()).c_str(), "lock", wait_start,
                                 now() - wait_start);
    }
  }
  lock.owner_ = id_;
  advance(latency.acquire, cycles_.work);
  lock.acquired_at_ = now();
}

bool Cpu::trylock(SimLock& lock) {
  sync();
  if (!lock.free()) {
    ++lock.stats.trylock_failures;
    return false;
  }
  ++lock.stats.acquisitions;
  lock.owner_ = id_;
  advance(platform_.config().latency.lock.acquire, cycles_.work);
  lock.acquired_at_ = now();
  return true;
}

void Cpu::unlock(SimLock& lock) {
  const LockLatencyConfig& latency = platform_.config().latency.lock;
  if (lock.owner_ != id_) {
    platform_.warn("CPU " + std::to_string(id_) + ": unlock of " + lock.name() +
                   (lock.owner_ < 0 ? ", which is not locked"
                                    : ", which CPU " + std::to_string(lock.owner_) + " holds") +
                   "; ignored");
    return;
  }
  advance(latency.release, cycles_.work);
  sync();
  lock.stats.hold_cycles += now() - lock.acquired_at_;
  if (lock.waiters_.empty()) {
    lock.owner_ = -1;
    return;
  }
  const int next = lock.waiters_.front();
  lock.waiters_.pop_front();
  lock.owner_ = next;
  const bool remote = platform_.topology().distance(id_, next) == Distance::kRemote;
  std::uint64_t at = now() + (remote ? latency.handover_remote : latency.handover_socket);
  if (lock.kind() == vmalloc::LockKind::kMutex) at += latency.mutex_wakeup;
  platform_.cpu(next).grant_lock(at);
}

void Cpu::grant_lock(std::uint64_t at) {
  // Called in the releasing CPU's thread.
  platform_.before_notify();
  lock_granted_ = true;
  lock_granted_at_ = at;
  wake_event_.notify(sc_core::SC_ZERO_TIME);
}

// ---------------------------------------------------------------------------------------------
// Deferred work and kernel memory

void Cpu::queue_work(std::function<void()> work) {
  work_.push_back(std::move(work));
  // Called in the queueing CPU's thread.
  platform_.before_notify();
  wake_event_.notify(sc_core::SC_ZERO_TIME);  // an idle CPU wakes up for it
}

void Cpu::run_pending_work() {
  while (!work_.empty() && !in_interrupt_) {
    std::function<void()> work = std::move(work_.front());
    work_.pop_front();
    work();
  }
}

vmalloc::AccessResult Cpu::kernel_access(mmu::VirtAddr va, mmu::AccessType type) {
  const std::uint64_t before = cycles_.busy;
  const tlb::TranslateResult result = unit_.translate(va, type, mmu::Privilege::kSupervisor);
  advance(result.tlb_cycles.value(), cycles_.tlb);
  advance(result.walk_cycles.value(), cycles_.walk);
  if (result.ok()) advance(platform_.config().latency.memory_access, cycles_.work);
  vmalloc::AccessResult out;
  out.ok = result.ok();
  out.stale = result.stale_hit;
  out.paddr = result.paddr;
  out.cycles = cycles_.busy - before;
  return out;
}

// ---------------------------------------------------------------------------------------------
// The op stream

void Cpu::run() {
  quantum_.start();
  platform_.set_current(this);
  try {
    if (source_) {
      Op op;
      const std::uint64_t max_cycles = platform_.config().run.max_cycles;
      while (!platform_.stopping() && source_->next(op)) {
        take_interrupts();
        run_pending_work();
        platform_.op_executed(id_, op);
        execute(op);
        if (max_cycles != 0 && now() >= max_cycles) {
          platform_.request_stop(StopReason::kMaxCycles);
        }
        if (quantum_.need_sync()) sync();
      }
    }
    if (in_irq_block_ && !platform_.stopping()) {
      throw workloads::TraceError(irq_block_where_ + ": 'irq {' is never closed with '}'");
    }
    if (!open_spans_.empty() && !platform_.stopping()) {
      const auto& [name, span] = *open_spans_.begin();
      throw workloads::TraceError(span.where + ": 'begin " + name + "' is never ended");
    }
    if (!platform_.stopping()) {
      take_interrupts();
      run_pending_work();
    }
    idle_until_everyone_finished();
    sync();
  } catch (const StopRun&) {
    // The run was stopped while this CPU waited: its stack has unwound.
  } catch (const workloads::TraceError& e) {
    platform_.fail(e.what(), /*input=*/true);
  } catch (const std::invalid_argument& e) {
    platform_.fail(e.what(), /*input=*/true);
  } catch (const std::exception& e) {
    platform_.fail(std::string("CPU ") + std::to_string(id_) + ": " + e.what(), /*input=*/false);
  }
  if (!finished_) {
    finished_ = true;
    finish_cycle_ = now();
  }
  // SystemC's clock ends where the thread's last sync would have left it.
  catch_up();
  exited_ = true;
}

void Cpu::access(mmu::VirtAddr va, mmu::AccessType type, mmu::Privilege privilege, const Op& op) {
  account_access(va, privilege, op, unit_.translate(va, type, privilege));
}

bool Cpu::plain_access(const tlb::TranslateResult& result) const {
  return result.ok() && !result.stale_hit &&
         !(result.level == tlb::HitLevel::kWalk && platform_.timeline().enabled() &&
           result.walk_cycles.value() >= platform_.config().output.timeline_walk_threshold);
}

void Cpu::touch(std::uint64_t addr, std::uint64_t bytes, std::uint64_t stride, mmu::AccessType type,
                mmu::Privilege privilege, const Op& op) {
  // The cycles of plain accesses are added up and charged once; an access that needs more
  // (a fault, a stale hit, a timeline slice) first brings the charges up to date, so that it
  // sees the CPU's time exactly as if each access had been charged on its own.
  const std::uint64_t memory_access = platform_.config().latency.memory_access;
  std::uint64_t accesses = 0;
  std::uint64_t tlb_cycles = 0;
  std::uint64_t walk_cycles = 0;
  std::uint64_t work_cycles = 0;
  auto charge = [&] {
    ops_.touch_accesses += accesses;
    advance(tlb_cycles, cycles_.tlb);
    advance(walk_cycles, cycles_.walk);
    advance(work_cycles, cycles_.work);
    accesses = tlb_cycles = walk_cycles = work_cycles = 0;
  };
  for (std::uint64_t offset = 0; offset < bytes && !platform_.stopping(); offset += stride) {
    const mmu::VirtAddr va{addr + offset};
    const tlb::TranslateResult result = unit_.translate(va, type, privilege);
    if (plain_access(result)) {
      ++accesses;
      tlb_cycles += result.tlb_cycles.value();
      walk_cycles += result.walk_cycles.value();
      work_cycles += memory_access;
    } else {
      charge();
      ++ops_.touch_accesses;
      account_access(va, privilege, op, result);
    }
    if (offset + stride < offset) break;  // the range reaches the end of the address space
  }
  charge();
}

void Cpu::account_access(mmu::VirtAddr va, mmu::Privilege privilege, const Op& op,
                         const tlb::TranslateResult& result) {
  const std::uint64_t start = now();
  advance(result.tlb_cycles.value(), cycles_.tlb);
  advance(result.walk_cycles.value(), cycles_.walk);
  if (result.ok()) advance(platform_.config().latency.memory_access, cycles_.work);
  if (result.level == tlb::HitLevel::kWalk &&
      result.walk_cycles.value() >= platform_.config().output.timeline_walk_threshold &&
      platform_.timeline().enabled()) {
    platform_.timeline().slice(id_, "page walk", "walk", start + result.tlb_cycles.value(),
                               result.walk_cycles.value(),
                               "{\"va\":\"" + mmu::hex(va.value()) + "\"}");
  }
  // The kernel touching a vmalloc address nothing maps (a freed area, a guard page) oopses.
  if (!result.ok() && privilege == mmu::Privilege::kSupervisor && platform_.guest_used() &&
      platform_.guest().layout().is_vmalloc_or_module_addr(va.value())) {
    ++ops_.kernel_faults;
    platform_.kernel_bug("BUG: unable to handle kernel paging request at " + mmu::hex(va.value()) +
                         " (CPU " + std::to_string(id_) + ", '" + workloads::format_op(op) +
                         "' at " + source_->where() + ")");
  }
  if (result.stale_hit && platform_.config().run.stop_on_stale) {
    platform_.request_stop(StopReason::kStaleTlbHit,
                           "CPU " + std::to_string(id_) + " used a stale TLB entry for " +
                               mmu::hex(va.value()) + " at cycle " + std::to_string(now()) +
                               " in op '" + workloads::format_op(op) + "' (" + source_->where() +
                               ")");
  }
}

void Cpu::execute(const Op& op) {
  ++ops_.total;
  ++ops_.by_kind[static_cast<int>(op.kind)];
  const LatencyConfig& latency = platform_.config().latency;
  const mmu::Privilege privilege =
      op.has(op_flags::kUser) ? mmu::Privilege::kUser : mmu::Privilege::kSupervisor;
  // An address may name a handle a guest op bound ("load $buf+64"); "touch $buf" covers what
  // the handle's op allocated.
  std::uint64_t addr = op.addr;
  std::uint64_t touch_bytes = op.size;
  if (op.has(op_flags::kHandleAddr) && !workloads::is_guest_op(op.kind)) {
    const GuestHandle& handle = wait_for_handle(op.name_view());
    addr = handle.addr + op.addr;
    if (op.kind == OpKind::kTouch && op.size == 0) {
      touch_bytes = handle.size > op.addr ? handle.size - op.addr : 0;
    }
  }
  switch (op.kind) {
    case OpKind::kLoad:
      access(mmu::VirtAddr{addr}, mmu::AccessType::kRead, privilege, op);
      break;
    case OpKind::kStore:
      access(mmu::VirtAddr{addr}, mmu::AccessType::kWrite, privilege, op);
      break;
    case OpKind::kFetch:
      access(mmu::VirtAddr{addr}, mmu::AccessType::kExecute, privilege, op);
      break;
    case OpKind::kTouch: {
      const mmu::AccessType type =
          op.has(op_flags::kStore) ? mmu::AccessType::kWrite : mmu::AccessType::kRead;
      touch(addr, touch_bytes, std::max<std::uint64_t>(op.value, 1), type, privilege, op);
      break;
    }
    case OpKind::kInvlpg:
      unit_.invlpg(mmu::VirtAddr{addr});
      advance(latency.invlpg, cycles_.invalidation);
      break;
    case OpKind::kMovCr3: {
      sync();  // may create an address space
      const mmu::Pfn root = platform_.address_space(op.mm);
      unit_.mov_cr3(root, mmu::Pcid{op.pcid}, op.has(op_flags::kNoFlush));
      advance(op.has(op_flags::kNoFlush) ? latency.mov_cr3_noflush : latency.mov_cr3,
              cycles_.invalidation);
      break;
    }
    case OpKind::kInvpcid:
      unit_.invpcid(static_cast<unsigned>(op.value), mmu::Pcid{op.pcid}, mmu::VirtAddr{op.addr});
      advance(latency.invpcid(static_cast<unsigned>(op.value)), cycles_.invalidation);
      break;
    case OpKind::kTogglePge:
      unit_.toggle_pge();
      advance(latency.toggle_pge, cycles_.invalidation);
      break;
    case OpKind::kMap:
    case OpKind::kUnmap:
    case OpKind::kProtect: {
      sync();  // page tables are shared: edit them in global time order
      const mmu::EditResult result = platform_.edit(op);
      if (!result.ok()) {
        ++ops_.failed_edits;
        platform_.warn(source_->where() + ": " + workloads::format_op(op) + ": " +
                       mmu::to_string(result.status) + " at " + mmu::hex(result.failed_at.value()));
      }
      advance(result.entries_written * latency.pte_write +
                  result.tables_allocated * latency.table_alloc,
              cycles_.page_table);
      break;
    }
    case OpKind::kCompute:
      advance(op.value, cycles_.work);
      break;
    case OpKind::kFlushTlbKernelRange:
      flush_tlb_kernel_range(op.addr, op.value);
      break;
    case OpKind::kFlushTlbAll:
      flush_tlb_all();
      break;
    case OpKind::kIdle:
      halt(op.value == 0 ? 0 : now() + op.value);
      break;
    case OpKind::kIrqOff:
      irq_enabled_ = false;
      break;
    case OpKind::kIrqOn:
      irq_enabled_ = true;
      take_interrupts();
      break;
    case OpKind::kSpinLock:
    case OpKind::kSpinUnlock:
    case OpKind::kMutexLock:
    case OpKind::kMutexUnlock: {
      const bool mutex = op.kind == OpKind::kMutexLock || op.kind == OpKind::kMutexUnlock;
      const std::string name(op.name_view());
      SimLock& lock = platform_.lock(platform_.lock_id(
          name, mutex ? vmalloc::LockKind::kMutex : vmalloc::LockKind::kSpinlock));
      if ((lock.kind() == vmalloc::LockKind::kMutex) != mutex) {
        platform_.warn(source_->where() + ": " + workloads::format_op(op) + ": " + name + " is a " +
                       (mutex ? "spinlock" : "mutex"));
      }
      if (op.kind == OpKind::kSpinLock || op.kind == OpKind::kMutexLock) {
        this->lock(lock);
      } else {
        unlock(lock);
      }
      break;
    }
    case OpKind::kSpanBegin:
      begin_span(op);
      break;
    case OpKind::kSpanEnd:
      end_span(op);
      break;
    case OpKind::kIrqEnter:
      enter_irq_block();
      break;
    case OpKind::kIrqExit:
      exit_irq_block();
      break;
    default:
      execute_guest(op);
      break;
  }
}

void Cpu::begin_span(const Op& op) {
  const std::string name(op.name_view());
  if (open_spans_.count(name) != 0) {
    throw workloads::TraceError(source_->where() + ": span '" + name +
                                "' is already open on this CPU (since " + open_spans_[name].where +
                                ")");
  }
  open_spans_[name] = OpenSpan{now(), ops_.guest_failures, source_->where()};
}

void Cpu::end_span(const Op& op) {
  const std::string name(op.name_view());
  auto it = open_spans_.find(name);
  if (it == open_spans_.end()) {
    throw workloads::TraceError(source_->where() + ": 'end " + name + "' without 'begin " + name +
                                "' on this CPU");
  }
  SpanTotals one;
  one.count = 1;
  one.cycles = now() - it->second.start;
  one.min_cycles = one.max_cycles = one.cycles;
  (ops_.guest_failures > it->second.failures_at_start ? one.failed : one.passed) = 1;
  spans_[name].add(one);
  open_spans_.erase(it);
}

CpuStats Cpu::stats() const {
  CpuStats stats;
  stats.ops = ops_;
  stats.cycles = cycles_;
  stats.shootdown = shootdown_;
  stats.translation = unit_.stats();
  stats.invalidation = unit_.invalidation_stats();
  stats.walker = unit_.walker().stats();
  for (const tlb::TlbArray& array : unit_.arrays()) {
    if (tlb::TlbArrayStats* target = stats.tlb.find(array.name())) *target = array.stats();
  }
  return stats;
}

}  // namespace mmusim::sim
