#include "sim/kernel_services.h"

#include "sim/platform.h"

namespace mmusim::sim {

int PlatformKernel::smp_processor_id() {
  return platform_.current().id();
}

int PlatformKernel::num_online_cpus() {
  return platform_.cpu_count();
}

int PlatformKernel::numa_node_id() {
  const int node = platform_.topology().socket_of(platform_.current().id());
  return node % static_cast<int>(platform_.memory().numa_nodes());
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

mmu::EditResult PlatformKernel::charged(const mmu::EditResult& result) {
  const LatencyConfig& latency = platform_.config().latency;
  platform_.current().charge_page_table(result.entries_written * latency.pte_write +
                                        result.tables_allocated * latency.table_alloc);
  return result;
}

// Page tables are shared: each edit synchronises first, so edits happen in global time order.
mmu::EditResult PlatformKernel::map_kernel_pages(mmu::VirtAddr va,
                                                 const std::vector<mmu::Pfn>& pages,
                                                 const mmu::PteFlags& flags) {
  platform_.current().sync();
  return charged(platform_.editor().map_pages(platform_.kernel_root(), va, pages, flags));
}

mmu::EditResult PlatformKernel::unmap_kernel_range(mmu::VirtAddr va, std::uint64_t bytes) {
  platform_.current().sync();
  return charged(platform_.editor().unmap(platform_.kernel_root(), va, bytes));
}

mmu::EditResult PlatformKernel::populate_kernel_tables(mmu::VirtAddr va, std::uint64_t bytes,
                                                       std::vector<mmu::PhysAddr>* ptes) {
  platform_.current().sync();
  return charged(platform_.editor().populate(platform_.kernel_root(), va, bytes, ptes));
}

mmu::EditResult PlatformKernel::map_user_page(std::uint32_t mm, mmu::VirtAddr uaddr, mmu::Pfn page,
                                              const mmu::PteFlags& flags) {
  platform_.current().sync();
  const mmu::Pfn root = platform_.address_space(mm);
  return charged(
      platform_.editor().map(root, uaddr, mmu::kPageBytes, page, mmu::PageSize::k4K, flags));
}

void PlatformKernel::warn(const std::string& message) {
  platform_.kernel_warn(message);
}

void PlatformKernel::bug(const std::string& message) {
  platform_.kernel_bug(message);
}

void PlatformKernel::printk(const std::string& message) {
  platform_.kernel_printk(message);
}

void PlatformKernel::check_va_reuse(std::uint64_t start, std::uint64_t end) {
  platform_.check_va_reuse(start, end);
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
