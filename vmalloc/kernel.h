// Everything the guest (the model of Linux's mm/vmalloc.c) needs from a machine. sim/
// implements it on the simulated platform; guest unit tests use a small fake. The guest is
// plain sequential code: when an implementation must wait (a contended lock, the acks of a
// TLB shootdown), it waits inside the calling CPU's simulated thread and returns later in
// simulated time; the guest never sees it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mmu/page_table.h"
#include "mmu/phys_mem.h"
#include "mmu/types.h"

namespace mmusim::vmalloc {

// Linux's two kinds of sleeping and non-sleeping locks, as far as timing goes: a spinlock's
// waiter spins, a mutex's waiter sleeps (and pays a wake-up when the lock is handed over).
enum class LockKind : std::uint8_t { kSpinlock, kMutex };

using LockId = std::uint32_t;

// A memory access made on behalf of the guest through the current CPU's MMU.
struct AccessResult {
  bool ok = false;      // translated without a fault
  bool stale = false;   // used a TLB entry whose PTE had changed (a missing flush)
  mmu::PhysAddr paddr;  // where it went, when ok
  std::uint64_t cycles = 0;
};

class Kernel {
 public:
  virtual ~Kernel() = default;

  // Where the caller runs.
  virtual int smp_processor_id() = 0;
  virtual int num_online_cpus() = 0;
  virtual int numa_node_id() = 0;
  // True in interrupt context (an `irq { ... }` block of a trace, an IPI handler).
  virtual bool in_interrupt() = 0;

  // Simulated time spent by the current CPU.
  virtual void charge(std::uint64_t cycles) = 0;

  // Locks, created on first use of a name. lock() returns when the caller holds it.
  virtual LockId lock_id(const std::string& name, LockKind kind) = 0;
  virtual void lock(LockId lock) = 0;
  virtual bool trylock(LockId lock) = 0;
  virtual void unlock(LockId lock) = 0;

  // x86 TLB maintenance with Linux 4.19's semantics (arch/x86/mm/tlb.c): every online CPU
  // flushes, the caller waits until all have.
  virtual void flush_tlb_kernel_range(mmu::VirtAddr start, mmu::VirtAddr end) = 0;
  virtual void flush_tlb_all() = 0;

  // Queues `work` on `cpu`'s workqueue: it runs later in process context on that CPU.
  virtual void schedule_work(int cpu, std::function<void()> work) = 0;

  // A load or store of kernel memory through the current CPU's TLB and page walker.
  virtual AccessResult access(mmu::VirtAddr va, mmu::AccessType type) = 0;

  // Edits of the kernel's page tables (init_mm), charged as the kernel's page-table code
  // costs: map 4 KiB pages, clear a range, or only build the tables for a range.
  virtual mmu::EditResult map_kernel_pages(mmu::VirtAddr va, const std::vector<mmu::Pfn>& pages,
                                           const mmu::PteFlags& flags) = 0;
  virtual mmu::EditResult unmap_kernel_range(mmu::VirtAddr va, std::uint64_t bytes) = 0;
  virtual mmu::EditResult populate_kernel_tables(mmu::VirtAddr va, std::uint64_t bytes,
                                                 std::vector<mmu::PhysAddr>* ptes) = 0;
  // Maps one page into user address space `mm` (vm_insert_page).
  virtual mmu::EditResult map_user_page(std::uint32_t mm, mmu::VirtAddr uaddr, mmu::Pfn page,
                                        const mmu::PteFlags& flags) = 0;

  // The kernel's page tables (init_mm) for lookups, and the physical memory behind them.
  virtual mmu::PageTableEditor& page_tables() = 0;
  virtual mmu::Pfn kernel_root() = 0;
  virtual mmu::PhysMem& physical_memory() = 0;

  // Diagnostics: WARN() and BUG()/oops text, counted by the machine (a BUG may stop the run),
  // and kernel log messages (pr_warn, warn_alloc).
  virtual void warn(const std::string& message) = 0;
  virtual void bug(const std::string& message) = 0;
  virtual void printk(const std::string& message) = 0;

  // The coherence check of lazy freeing, called whenever a virtual range is handed out: the
  // machine counts TLB entries on any CPU that still translate an address in [start, end)
  // from a page-table entry that has since changed.
  virtual void check_va_reuse(std::uint64_t start, std::uint64_t end) = 0;
};

}  // namespace mmusim::vmalloc
