// A tiny vmalloc::Kernel for guest unit tests: no SystemC, no timing beyond a cycle counter.
// It keeps real page tables in a small physical memory, records every TLB flush and lock
// operation the guest makes, runs deferred work when the test asks, and lets the test choose
// the current CPU and whether it is in interrupt context.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "mmu/page_table.h"
#include "mmu/phys_mem.h"
#include "vmalloc/kernel.h"
#include "vmalloc/page_alloc.h"

namespace mmusim::vmalloc::testing {

class FakeKernel final : public Kernel {
 public:
  struct Flush {
    std::uint64_t start = 0;
    std::uint64_t end = 0;  // ~0: flush_tlb_all
    int cpu = 0;
    friend bool operator==(const Flush& a, const Flush& b) {
      return a.start == b.start && a.end == b.end && a.cpu == b.cpu;
    }
  };
  struct LockEvent {
    std::string lock;
    std::string action;  // "lock", "trylock", "trylock-failed", "unlock"
    int cpu = 0;
  };

  explicit FakeKernel(int cpus = 1, std::uint64_t memory_bytes = std::uint64_t{256} << 20,
                      const PageAllocConfig& page_alloc = {}, std::uint32_t numa_nodes = 1)
      : cpus_(cpus),
        memory_(mmu::PhysMemConfig{memory_bytes, numa_nodes}),
        frames_(memory_, 256, page_alloc, 1),
        editor_(memory_, frames_, mmu::PagingMode{4}) {
    root_ = *editor_.create_root();
    editor_.populate_kernel_half(root_);
  }

  // Test controls.
  void set_cpu(int cpu) { cpu_ = cpu; }
  void set_interrupt(bool in_irq) { in_irq_ = in_irq; }
  // The node numa_node_id() reports (the node of the current CPU).
  void set_numa_node(int node) { node_ = node; }
  // Runs the work queued on `cpu`, in order; returns how many items ran.
  std::size_t run_work(int cpu) {
    std::size_t ran = 0;
    const int saved = cpu_;
    cpu_ = cpu;
    while (!work_[cpu].empty()) {
      auto item = std::move(work_[cpu].front());
      work_[cpu].pop_front();
      item();
      ++ran;
    }
    cpu_ = saved;
    return ran;
  }
  [[nodiscard]] std::size_t pending_work(int cpu) const {
    auto it = work_.find(cpu);
    return it == work_.end() ? 0 : it->second.size();
  }
  [[nodiscard]] const std::vector<Flush>& flushes() const { return flushes_; }
  [[nodiscard]] const std::vector<LockEvent>& lock_events() const { return lock_events_; }
  [[nodiscard]] std::uint64_t cycles() const { return cycles_; }
  [[nodiscard]] PageAllocator& pages() { return frames_; }
  [[nodiscard]] const std::vector<std::string>& warnings() const { return warnings_; }
  [[nodiscard]] const std::vector<std::string>& bugs() const { return bugs_; }
  [[nodiscard]] const std::vector<std::string>& messages() const { return messages_; }
  [[nodiscard]] const std::vector<std::pair<std::uint64_t, std::uint64_t>>& handed_out() const {
    return handed_out_;
  }

  // Kernel.
  int smp_processor_id() override { return cpu_; }
  int num_online_cpus() override { return cpus_; }
  int numa_node_id() override { return node_; }
  bool in_interrupt() override { return in_irq_; }
  void charge(std::uint64_t cycles) override { cycles_ += cycles; }
  LockId lock_id(const std::string& name, LockKind) override {
    auto [it, added] = lock_ids_.emplace(name, static_cast<LockId>(lock_names_.size()));
    if (added) {
      lock_names_.push_back(name);
      holders_.push_back(-1);
    }
    return it->second;
  }
  void lock(LockId lock) override {
    holders_[lock] = cpu_;
    lock_events_.push_back({lock_names_[lock], "lock", cpu_});
  }
  bool trylock(LockId lock) override {
    if (holders_[lock] >= 0) {
      lock_events_.push_back({lock_names_[lock], "trylock-failed", cpu_});
      return false;
    }
    holders_[lock] = cpu_;
    lock_events_.push_back({lock_names_[lock], "trylock", cpu_});
    return true;
  }
  void unlock(LockId lock) override {
    holders_[lock] = -1;
    lock_events_.push_back({lock_names_[lock], "unlock", cpu_});
  }
  void flush_tlb_kernel_range(mmu::VirtAddr start, mmu::VirtAddr end) override {
    flushes_.push_back({start.value(), end.value(), cpu_});
  }
  void flush_tlb_all() override { flushes_.push_back({0, ~std::uint64_t{0}, cpu_}); }
  void schedule_work(int cpu, std::function<void()> work) override {
    work_[cpu].push_back(std::move(work));
  }
  AccessResult access(mmu::VirtAddr va, mmu::AccessType) override {
    AccessResult result;
    if (auto mapping = editor_.lookup(root_, va)) {
      result.ok = true;
      result.paddr = mapping->translate(va);
    }
    return result;
  }
  mmu::EditResult map_kernel_pages(mmu::VirtAddr va, const std::vector<mmu::Pfn>& pages,
                                   const mmu::PteFlags& flags) override {
    return editor_.map_pages(root_, va, pages, flags);
  }
  mmu::EditResult unmap_kernel_range(mmu::VirtAddr va, std::uint64_t bytes) override {
    return editor_.unmap(root_, va, bytes);
  }
  mmu::EditResult populate_kernel_tables(mmu::VirtAddr va, std::uint64_t bytes,
                                         std::vector<mmu::PhysAddr>* ptes) override {
    return editor_.populate(root_, va, bytes, ptes);
  }
  mmu::EditResult map_user_page(std::uint32_t mm, mmu::VirtAddr uaddr, mmu::Pfn page,
                                const mmu::PteFlags& flags) override {
    auto [it, added] = user_roots_.emplace(mm, mmu::Pfn{0});
    if (added) {
      it->second = *editor_.create_root();
      editor_.share_kernel_half(it->second, root_);
    }
    return editor_.map(it->second, uaddr, 4096, page, mmu::PageSize::k4K, flags);
  }
  [[nodiscard]] mmu::Pfn user_root(std::uint32_t mm) const { return user_roots_.at(mm); }
  mmu::PageTableEditor& page_tables() override { return editor_; }
  mmu::Pfn kernel_root() override { return root_; }
  mmu::PhysMem& physical_memory() override { return memory_; }
  void warn(const std::string& message) override { warnings_.push_back(message); }
  void bug(const std::string& message) override { bugs_.push_back(message); }
  void printk(const std::string& message) override { messages_.push_back(message); }
  void check_va_reuse(std::uint64_t start, std::uint64_t end) override {
    handed_out_.emplace_back(start, end);
  }

 private:
  int cpus_;
  int cpu_ = 0;
  int node_ = 0;
  bool in_irq_ = false;
  std::uint64_t cycles_ = 0;
  mmu::PhysMem memory_;
  PageAllocator frames_;
  mmu::PageTableEditor editor_;
  mmu::Pfn root_{0};
  std::map<std::string, LockId> lock_ids_;
  std::vector<std::string> lock_names_;
  std::vector<int> holders_;
  std::vector<Flush> flushes_;
  std::vector<LockEvent> lock_events_;
  std::map<int, std::deque<std::function<void()>>> work_;
  std::map<std::uint32_t, mmu::Pfn> user_roots_;
  std::vector<std::string> warnings_;
  std::vector<std::string> bugs_;
  std::vector<std::string> messages_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> handed_out_;
};

}  // namespace mmusim::vmalloc::testing
