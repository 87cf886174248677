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
  int numa_node_id() override;
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
  mmu::EditResult map_kernel_pages(mmu::VirtAddr va, const std::vector<mmu::Pfn>& pages,
                                   const mmu::PteFlags& flags) override;
  mmu::EditResult unmap_kernel_range(mmu::VirtAddr va, std::uint64_t bytes) override;
  mmu::EditResult populate_kernel_tables(mmu::VirtAddr va, std::uint64_t bytes,
                                         std::vector<mmu::PhysAddr>* ptes) override;
  mmu::EditResult map_user_page(std::uint32_t mm, mmu::VirtAddr uaddr, mmu::Pfn page,
                                const mmu::PteFlags& flags) override;
  mmu::PageTableEditor& page_tables() override;
  mmu::Pfn kernel_root() override;
  mmu::PhysMem& physical_memory() override;
  void warn(const std::string& message) override;
  void bug(const std::string& message) override;
  void printk(const std::string& message) override;
  void check_va_reuse(std::uint64_t start, std::uint64_t end) override;

 private:
  // Charges a page-table edit to the running CPU as the kernel's page-table code costs.
  mmu::EditResult charged(const mmu::EditResult& result);

  Platform& platform_;
};

}  // namespace mmusim::sim
