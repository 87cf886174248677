#include "sim/kernel_services.h"

#include "sim/platform.h"

namespace mmusim::sim {

int PlatformKernel::smp_processor_id() {
  return platform_.current().id();
}

int PlatformKernel::num_online_cpus() {
  return platform_.cpu_count();
}

bool PlatformKernel::in_interrupt() {
  return platform_.current().in_interrupt();
}

void PlatformKernel::charge(std::uint64_t cycles) {
  platform_.current().charge(cycles);
}

vmalloc::LockId PlatformKernel::lock_id(const std::string& name, vmalloc::LockKind kind) {
  return platform_.lock_id(name, kind);
}

void PlatformKernel::lock(vmalloc::LockId lock) {
  platform_.current().lock(platform_.lock(lock));
}

bool PlatformKernel::trylock(vmalloc::LockId lock) {
  return platform_.current().trylock(platform_.lock(lock));
}

void PlatformKernel::unlock(vmalloc::LockId lock) {
  platform_.current().unlock(platform_.lock(lock));
}

void PlatformKernel::flush_tlb_kernel_range(mmu::VirtAddr start, mmu::VirtAddr end) {
  platform_.current().flush_tlb_kernel_range(start.value(), end.value());
}

void PlatformKernel::flush_tlb_all() {
  platform_.current().flush_tlb_all();
}

void PlatformKernel::schedule_work(int cpu, std::function<void()> work) {
  platform_.cpu(cpu).queue_work(std::move(work));
}

vmalloc::AccessResult PlatformKernel::access(mmu::VirtAddr va, mmu::AccessType type) {
  return platform_.current().kernel_access(va, type);
}

mmu::PageTableEditor& PlatformKernel::page_tables() {
  return platform_.editor();
}

mmu::Pfn PlatformKernel::kernel_root() {
  return platform_.kernel_root();
}

mmu::PhysMem& PlatformKernel::physical_memory() {
  return platform_.memory();
}

}  // namespace mmusim::sim
