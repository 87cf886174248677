#include "sim/cpu.h"

#include "sim/platform.h"
#include "sim/time.h"

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

Cpu::Cpu(sc_core::sc_module_name name, int id, Platform& platform)
    : sc_module(name),
      id_(id),
      platform_(platform),
      unit_(id, platform.config().tlb, platform.config().mmu, platform.memory(),
            platform.config().run.seed, platform.tracker()) {
  SC_HAS_PROCESS(Cpu);
  SC_THREAD(run);
}

std::uint64_t Cpu::local_now() const { return time_to_cycles(quantum_.get_current_time()); }

void Cpu::charge(std::uint64_t cycles, std::uint64_t& category) {
  category += cycles;
  cycles_.busy += cycles;
  quantum_.inc(cycles_to_time(cycles));
}

void Cpu::run() {
  quantum_.reset();
  try {
    if (source_) {
      Op op;
      const std::uint64_t max_cycles = platform_.config().run.max_cycles;
      while (!platform_.stopping() && source_->next(op)) {
        platform_.op_executed(id_, op);
        execute(op);
        if (max_cycles != 0 && local_now() >= max_cycles) {
          platform_.request_stop(StopReason::kMaxCycles);
        }
        if (quantum_.need_sync()) quantum_.sync();
      }
    }
  } catch (...) {
    platform_.fail(std::current_exception());
  }
  finish_cycle_ = local_now();
  quantum_.sync();
}

void Cpu::access(mmu::VirtAddr va, mmu::AccessType type, mmu::Privilege privilege,
                 const Op& op) {
  const tlb::TranslateResult result = unit_.translate(va, type, privilege);
  cycles_.tlb += result.tlb_cycles.value();
  cycles_.walk += result.walk_cycles.value();
  std::uint64_t cycles = result.cycles().value();
  if (result.ok()) {
    cycles_.work += platform_.config().latency.memory_access;
    cycles += platform_.config().latency.memory_access;
  }
  cycles_.busy += cycles;
  quantum_.inc(cycles_to_time(cycles));
  if (result.stale_hit && platform_.config().run.stop_on_stale) {
    platform_.request_stop(StopReason::kStaleTlbHit,
                           "CPU " + std::to_string(id_) + " used a stale TLB entry for " +
                               mmu::hex(va.value()) + " at cycle " +
                               std::to_string(local_now()) + " in op '" +
                               workloads::format_op(op) + "' (" + source_->where() + ")");
  }
}

void Cpu::execute(const Op& op) {
  ++ops_.total;
  ++ops_.by_kind[static_cast<int>(op.kind)];
  const LatencyConfig& latency = platform_.config().latency;
  const mmu::Privilege privilege =
      op.has(op_flags::kUser) ? mmu::Privilege::kUser : mmu::Privilege::kSupervisor;
  switch (op.kind) {
    case OpKind::kLoad:
      access(mmu::VirtAddr{op.addr}, mmu::AccessType::kRead, privilege, op);
      break;
    case OpKind::kStore:
      access(mmu::VirtAddr{op.addr}, mmu::AccessType::kWrite, privilege, op);
      break;
    case OpKind::kFetch:
      access(mmu::VirtAddr{op.addr}, mmu::AccessType::kExecute, privilege, op);
      break;
    case OpKind::kTouch: {
      const mmu::AccessType type =
          op.has(op_flags::kStore) ? mmu::AccessType::kWrite : mmu::AccessType::kRead;
      for (std::uint64_t offset = 0; offset < op.size && !platform_.stopping();
           offset += op.value) {
        ++ops_.touch_accesses;
        access(mmu::VirtAddr{op.addr + offset}, type, privilege, op);
        if (op.addr + offset + op.value < op.addr) break;  // wrapped around the top
      }
      break;
    }
    case OpKind::kInvlpg:
      unit_.invlpg(mmu::VirtAddr{op.addr});
      charge(latency.invlpg, cycles_.invalidation);
      break;
    case OpKind::kMovCr3: {
      quantum_.sync();  // may create an address space
      const mmu::Pfn root = platform_.address_space(op.mm);
      unit_.mov_cr3(root, mmu::Pcid{op.pcid}, op.has(op_flags::kNoFlush));
      charge(op.has(op_flags::kNoFlush) ? latency.mov_cr3_noflush : latency.mov_cr3,
             cycles_.invalidation);
      break;
    }
    case OpKind::kInvpcid:
      unit_.invpcid(static_cast<unsigned>(op.value), mmu::Pcid{op.pcid}, mmu::VirtAddr{op.addr});
      charge(latency.invpcid(static_cast<unsigned>(op.value)), cycles_.invalidation);
      break;
    case OpKind::kTogglePge:
      unit_.toggle_pge();
      charge(latency.toggle_pge, cycles_.invalidation);
      break;
    case OpKind::kMap:
    case OpKind::kUnmap:
    case OpKind::kProtect: {
      quantum_.sync();  // page tables are shared: edit them in global time order
      const mmu::EditResult result = platform_.edit(op);
      if (!result.ok()) {
        ++ops_.failed_edits;
        platform_.warn(source_->where() + ": " + workloads::format_op(op) + ": " +
                       mmu::to_string(result.status) + " at " +
                       mmu::hex(result.failed_at.value()));
      }
      charge(result.entries_written * latency.pte_write + result.tables_allocated * latency.table_alloc,
             cycles_.page_table);
      break;
    }
    case OpKind::kCompute:
      charge(op.value, cycles_.work);
      break;
  }
}

CpuStats Cpu::stats() const {
  CpuStats stats;
  stats.ops = ops_;
  stats.cycles = cycles_;
  stats.translation = unit_.stats();
  stats.invalidation = unit_.invalidation_stats();
  stats.walker = unit_.walker().stats();
  for (const tlb::TlbArray& array : unit_.arrays()) {
    if (tlb::TlbArrayStats* target = stats.tlb.find(array.name())) *target = array.stats();
  }
  return stats;
}

}  // namespace mmusim::sim
