// The platform's implementation of vmalloc::Kernel: every call acts for the CPU whose thread
// is running, in that CPU's simulated time.
#pragma once

#include "vmalloc/kernel.h"

namespace mmusim::sim {

class Platform;

class PlatformKernel final : public vmalloc::Kernel {
 public:
  explicit PlatformKernel(Platform& platform) : platform_(platform) {}

  int smp_processor_id() override;
  int num_online_cpus() override;
  bool in_interrupt() override;
  void charge(std::uint64_t cycles) override;
  vmalloc::LockId lock_id(const std::string& name, vmalloc::LockKind kind) override;
  void lock(vmalloc::LockId lock) override;
  bool trylock(vmalloc::LockId lock) override;
  void unlock(vmalloc::LockId lock) override;
  void flush_tlb_kernel_range(mmu::VirtAddr start, mmu::VirtAddr end) override;
  void flush_tlb_all() override;
  void schedule_work(int cpu, std::function<void()> work) override;
  vmalloc::AccessResult access(mmu::VirtAddr va, mmu::AccessType type) override;
  mmu::PageTableEditor& page_tables() override;
  mmu::Pfn kernel_root() override;
  mmu::PhysMem& physical_memory() override;

 private:
  Platform& platform_;
};

}  // namespace mmusim::sim
