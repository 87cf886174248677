#include "vmalloc/vmalloc.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace mmusim::vmalloc {
namespace {

constexpr std::uint64_t kUlongMax = ~std::uint64_t{0};

// ALIGN(x, a): rounds up, wrapping past the top of the address space as the kernel's does.
std::uint64_t align_up(std::uint64_t x, std::uint64_t a) {
  return (x + a - 1) & ~(a - 1);
}
std::uint64_t page_align(std::uint64_t x) {
  return align_up(x, kPageSize);
}
bool page_aligned(std::uint64_t x) {
  return (x & (kPageSize - 1)) == 0;
}
bool is_power_of_2(std::uint64_t x) {
  return x != 0 && (x & (x - 1)) == 0;
}

// fls(): the 1-based index of the most significant set bit, 0 for 0.
unsigned fls(std::uint64_t x) {
  unsigned bit = 0;
  while (x != 0) {
    ++bit;
    x >>= 1;
  }
  return bit;
}

std::uint64_t roundup_pow_of_two(std::uint64_t x) {
  std::uint64_t power = 1;
  while (power < x)
    power <<= 1;
  return power;
}

// get_order(): the smallest order whose 2^order pages hold `size` bytes.
unsigned get_order(std::uint64_t size) {
  unsigned order = 0;
  while ((kPageSize << order) < size)
    ++order;
  return order;
}

// get_count_order_long(): ceil(log2(x)).
unsigned get_count_order(std::uint64_t x) {
  const unsigned order = fls(x) - 1;
  return (x & (x - 1)) != 0 ? order + 1 : order;
}

VmapArea* node_to_va(RbNode* node) {
  return static_cast<VmapArea*>(node);
}
const VmapArea* node_to_va(const RbNode* node) {
  return static_cast<const VmapArea*>(node);
}

// The area tree's augmentation: an area's subtree summary, from its own gap and end and its
// children's summaries.
struct AreaSummary {
  std::uint64_t areas = 1;
  std::uint64_t max_gap = 0;
  std::uint64_t max_end = 0;
};

AreaSummary summarise(const RbNode* node) {
  const VmapArea* va = node_to_va(node);
  AreaSummary summary{1, va->gap_before, va->va_end};
  for (const RbNode* child : {node->left, node->right}) {
    if (child == nullptr) continue;
    const VmapArea* sub = node_to_va(child);
    summary.areas += sub->subtree_areas;
    summary.max_gap = std::max(summary.max_gap, sub->subtree_max_gap);
    summary.max_end = std::max(summary.max_end, sub->subtree_max_end);
  }
  return summary;
}

// The tree's recompute function: summarise(), written out (it runs for every node on the path
// of each insert and erase).
bool update_area_summary(RbNode* node) {
  VmapArea* va = node_to_va(node);
  std::uint64_t areas = 1;
  std::uint64_t max_gap = va->gap_before;
  std::uint64_t max_end = va->va_end;
  if (node->left != nullptr) {
    const VmapArea* sub = node_to_va(node->left);
    areas += sub->subtree_areas;
    max_gap = std::max(max_gap, sub->subtree_max_gap);
    max_end = std::max(max_end, sub->subtree_max_end);
  }
  if (node->right != nullptr) {
    const VmapArea* sub = node_to_va(node->right);
    areas += sub->subtree_areas;
    max_gap = std::max(max_gap, sub->subtree_max_gap);
    max_end = std::max(max_end, sub->subtree_max_end);
  }
  const bool changed = areas != va->subtree_areas || max_gap != va->subtree_max_gap ||
                       max_end != va->subtree_max_end;
  va->subtree_areas = areas;
  va->subtree_max_gap = max_gap;
  va->subtree_max_end = max_end;
  return changed;
}

std::string hex16(std::uint64_t value) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(value));
  return buf;
}

// The host's shortcut through alloc_vmap_area()'s walk. Standing at an area `from` with the
// walk's addr (from's hole is below size: the walk goes on past it), it finds how far the walk
// would go on, area after area, without anything happening but counting, charging and noting
// the largest hole in cached_hole_size, and what cached_hole_size then is.
//
// The walk goes on past an area after `from` when the hole below it, from ALIGN(previous
// area's end, align) to its start, is below size: certainly when the area's gap_before is (the
// hole is never larger). Areas whose gap_before is size or more end the run, to be looked at
// by the walk itself. So does an area ending above end_limit = vend - size - (align - 1): past
// it the walk's next step may not fit below vend (or ALIGN() may wrap).
//
// Whole subtrees of the area tree are taken from their summaries when that is exact: with
// align 1 each hole is the gap itself, so the largest gap is what cached_hole_size becomes;
// with a larger align, when no gap in the subtree exceeds cached_hole_size (no hole can
// raise it). Otherwise the subtree is entered and its areas looked at one by one, each hole
// computed exactly. With align 1 that finds the run's end in the tree's height; with a larger
// align, runs of gaps that alignment shrinks below cached_hole_size cost one visit per area.
struct AreaRun {
  VmapArea* stop = nullptr;  // the first area not taken; nullptr: the run reached the list's end
  std::uint64_t areas = 0;   // how many were taken
  std::uint64_t cached_hole_size = 0;  // cached_hole_size after them
};

class AreaRunFinder {
 public:
  AreaRunFinder(std::uint64_t size, std::uint64_t align, std::uint64_t end_limit,
                std::uint64_t cached_hole_size)
      : size_(size), align_(align), end_limit_(end_limit) {
    run_.cached_hole_size = cached_hole_size;
  }

  AreaRun find(VmapArea* from, std::uint64_t addr) {
    if (from->va_end > end_limit_) {
      run_.stop = from;
      return run_;
    }
    note_hole(from->va_start, addr);
    ++run_.areas;
    // After `from` in address order: its right subtree, then each ancestor it lies to the
    // left of, with that ancestor's right subtree.
    RbNode* node = from;
    if (!take_or_enter(from->right)) return run_;
    for (;;) {
      while (node->parent != nullptr && node == node->parent->right)
        node = node->parent;
      node = node->parent;
      if (node == nullptr) {
        run_.stop = nullptr;
        return run_;
      }
      if (!take_area(node_to_va(node)) || !take_or_enter(node->right)) return run_;
    }
  }

 private:
  void note_hole(std::uint64_t start, std::uint64_t addr) {
    if (start > addr) run_.cached_hole_size = std::max(run_.cached_hole_size, start - addr);
  }

  // One area after `from`: false when the run ends at it.
  bool take_area(VmapArea* va) {
    if (va->gap_before >= size_ || va->va_end > end_limit_) {
      run_.stop = va;
      return false;
    }
    // The previous area is in the run: its end is at most end_limit, so ALIGN() cannot wrap.
    note_hole(va->va_start, align_up(va->list_prev->va_end, align_));
    ++run_.areas;
    return true;
  }

  // A subtree after `from`, whole or area by area: false when the run ends inside it.
  bool take_or_enter(RbNode* node) {
    if (node == nullptr) return true;
    const VmapArea* va = node_to_va(node);
    if (va->subtree_max_gap < size_ && va->subtree_max_end <= end_limit_ &&
        (align_ == 1 || va->subtree_max_gap <= run_.cached_hole_size)) {
      run_.areas += va->subtree_areas;
      run_.cached_hole_size = std::max(run_.cached_hole_size, va->subtree_max_gap);
      return true;
    }
    return take_or_enter(node->left) && take_area(node_to_va(node)) && take_or_enter(node->right);
  }

  std::uint64_t size_;
  std::uint64_t align_;
  std::uint64_t end_limit_;
  AreaRun run_;
};

}  // namespace

mmu::PteFlags pte_flags(PageProt prot) {
  // The kernel maps its pages global (no PTI) and, unless executable, NX.
  mmu::PteFlags flags;
  flags.global = true;
  flags.writable = prot != PageProt::kKernelRo;
  flags.no_execute = prot != PageProt::kKernelExec;
  return flags;
}

Vmalloc::Vmalloc(Kernel& kernel, PageAllocator& pages, const KernelLayout& layout,
                 const VmallocConfig& config, const VmallocCosts& costs)
    : kernel_(kernel),
      pages_(pages),
      layout_(layout),
      config_(config),
      costs_(costs),
      tree_(&update_area_summary) {
  vmap_area_lock_ = kernel_.lock_id("vmap_area_lock", LockKind::kSpinlock);
  vmap_purge_lock_ = kernel_.lock_id("vmap_purge_lock", LockKind::kMutex);
  vmap_block_tree_lock_ = kernel_.lock_id("vmap_block_tree_lock", LockKind::kSpinlock);
  // VMAP_BBMAP_BITS from VMALLOC_SPACE (a 128 GiB guess on 64-bit) and NR_CPUS.
  const std::uint64_t vmalloc_pages = (std::uint64_t{128} << 30) / kPageSize;
  const std::uint64_t bits = vmalloc_pages / roundup_pow_of_two(config.nr_cpus) / 16;
  vmap_bbmap_bits_ =
      std::min<std::uint64_t>(1024, std::max<std::uint64_t>(2 * kVmapMaxAlloc, bits));
  const int cpus = kernel_.num_online_cpus();
  block_queues_.resize(cpus);
  deferred_.resize(cpus);
  for (int cpu = 0; cpu < cpus; ++cpu) {
    vbq_locks_.push_back(
        kernel_.lock_id("vmap_block_queue[" + std::to_string(cpu) + "]", LockKind::kSpinlock));
  }
}

Vmalloc::~Vmalloc() {
  for (auto& [index, vb] : vmap_block_tree_)
    delete vb;
  // The list holds every area the tree does; the vm_structs the model allocated are freed
  // through live_vms_ (early ones belong to their callers).
  for (VmapArea* va = list_head_; va != nullptr;) {
    VmapArea* next = va->list_next;
    delete va;
    va = next;
  }
  for (VmStruct* vm : live_vms_)
    delete vm;
}

// ---------------------------------------------------------------------------------------------
// Diagnostics

void Vmalloc::warn(const std::string& function, const std::string& message) {
  kernel_.warn("WARNING: CPU: " + std::to_string(kernel_.smp_processor_id()) + " at mm/vmalloc.c " +
               function + ": " + message);
}

void Vmalloc::bug(const std::string& function, const std::string& condition) {
  oops("kernel BUG at mm/vmalloc.c " + function + ": " + condition + " (CPU " +
       std::to_string(kernel_.smp_processor_id()) + ")");
}

void Vmalloc::oops(const std::string& text) {
  ++oopses_;
  kernel_.bug(text);
}

void Vmalloc::warn_alloc(std::uint32_t gfp_mask, const std::string& message) {
  if (gfp_mask & gfp::kNoWarn) return;
  kernel_.printk(message);
}

VmapArea* Vmalloc::new_vmap_area() {
  charge(costs_.kmalloc);
  return new VmapArea();
}

void Vmalloc::delete_vmap_area(VmapArea* va) {
  charge(costs_.kfree);
  delete va;
}

VmStruct* Vmalloc::new_vm_struct() {
  charge(costs_.kmalloc);
  auto* vm = new VmStruct();
  live_vms_.insert(vm);
  return vm;
}

void Vmalloc::delete_vm_struct(VmStruct* vm) {
  charge(costs_.kfree);
  live_vms_.erase(vm);
  delete vm;
}

// ---------------------------------------------------------------------------------------------
// The global kva allocator

std::uint64_t Vmalloc::lazy_max_pages() {
  if (config_.lazy_max_pages_mode == LazyMaxPages::kFixed) return config_.lazy_max_pages;
  return fls(static_cast<std::uint64_t>(kernel_.num_online_cpus())) *
         ((std::uint64_t{32} << 20) / kPageSize);
}

VmapArea* Vmalloc::__find_vmap_area(std::uint64_t addr) {
  RbNode* node = tree_.root();
  while (node != nullptr) {
    charge(costs_.tree_node);
    VmapArea* va = node_to_va(node);
    if (addr < va->va_start) {
      node = node->left;
    } else if (addr >= va->va_end) {
      node = node->right;
    } else {
      return va;
    }
  }
  return nullptr;
}

void Vmalloc::list_insert_after(VmapArea* va, VmapArea* prev) {
  va->list_prev = prev;
  va->list_next = prev != nullptr ? prev->list_next : list_head_;
  if (va->list_next != nullptr) {
    va->list_next->list_prev = va;
  } else {
    list_tail_ = va;
  }
  if (prev != nullptr) {
    prev->list_next = va;
  } else {
    list_head_ = va;
  }
}

void Vmalloc::list_remove(VmapArea* va) {
  if (va->list_prev != nullptr) {
    va->list_prev->list_next = va->list_next;
  } else {
    list_head_ = va->list_next;
  }
  if (va->list_next != nullptr) {
    va->list_next->list_prev = va->list_prev;
  } else {
    list_tail_ = va->list_prev;
  }
  va->list_prev = va->list_next = nullptr;
}

void Vmalloc::__insert_vmap_area(VmapArea* va) {
  RbNode** link = tree_.root_link();
  RbNode* parent = nullptr;
  while (*link != nullptr) {
    charge(costs_.tree_node);
    parent = *link;
    VmapArea* tmp = node_to_va(parent);
    if (va->va_start < tmp->va_end) {
      link = &parent->left;
    } else if (va->va_end > tmp->va_start) {
      link = &parent->right;
    } else {
      bug("__insert_vmap_area", "BUG() on an empty area");
      return;
    }
  }
  // The area before it: the parent when it goes to the parent's right, otherwise the parent's
  // own predecessor. Its gap is set before linking, so that the insert's summary updates
  // already count it.
  RbNode* prev_node = parent == nullptr        ? nullptr
                      : link == &parent->right ? parent
                                               : RbTree::prev(parent);
  VmapArea* prev = prev_node != nullptr ? node_to_va(prev_node) : nullptr;
  va->gap_before = prev != nullptr && va->va_start > prev->va_end ? va->va_start - prev->va_end : 0;
  tree_.insert(va, parent, link);
  // Address-sort the list: right after the area before it in the tree.
  list_insert_after(va, prev);
  if (va->list_next != nullptr) update_gap_before(va->list_next);
}

void Vmalloc::update_gap_before(VmapArea* va) {
  const VmapArea* prev = va->list_prev;
  va->gap_before = prev != nullptr && va->va_start > prev->va_end ? va->va_start - prev->va_end : 0;
  tree_.propagate(va);
}

VmapArea* Vmalloc::alloc_vmap_area(std::uint64_t size, std::uint64_t align, std::uint64_t vstart,
                                   std::uint64_t vend, int node, std::uint32_t gfp_mask) {
  (void)node;
  if (size == 0) {
    bug("alloc_vmap_area", "BUG_ON(!size)");
    return nullptr;
  }
  if (!page_aligned(size)) {
    bug("alloc_vmap_area", "BUG_ON(offset_in_page(size))");
    return nullptr;
  }
  if (!is_power_of_2(align)) {
    bug("alloc_vmap_area", "BUG_ON(!is_power_of_2(align))");
    return nullptr;
  }
  VmapArea* va = new_vmap_area();
  bool purged = false;
  for (;;) {  // retry
    kernel_.lock(vmap_area_lock_);
    // Drop the cache for more permissive parameters: a hole below it might fit.
    if (free_vmap_cache_ == nullptr || size < cached_hole_size_ || vstart < cached_vstart_ ||
        align < cached_align_) {
      cached_hole_size_ = 0;
      free_vmap_cache_ = nullptr;
    }
    cached_vstart_ = vstart;
    cached_align_ = align;

    bool overflow = false;
    bool found = false;
    std::uint64_t addr = 0;
    VmapArea* first = nullptr;
    if (free_vmap_cache_ != nullptr) {
      first = free_vmap_cache_;
      addr = align_up(first->va_end, align);
      if (addr < vstart) {
        // "goto nocache": search from vstart after all.
        cached_hole_size_ = 0;
        free_vmap_cache_ = nullptr;
        first = nullptr;
      } else if (addr + size < addr) {
        overflow = true;
      }
    }
    if (!overflow && free_vmap_cache_ == nullptr) {
      addr = align_up(vstart, align);
      if (addr + size < addr) {
        overflow = true;
      } else {
        // The lowest area ending at or above addr, stopping early at one containing it.
        first = nullptr;
        RbNode* n = tree_.root();
        while (n != nullptr) {
          charge(costs_.tree_node);
          VmapArea* tmp = node_to_va(n);
          if (tmp->va_end >= addr) {
            first = tmp;
            if (tmp->va_start <= addr) break;
            n = n->left;
          } else {
            n = n->right;
          }
        }
        if (first == nullptr) found = true;
      }
    }
    // From there, walk the areas until a hole fits. The host takes runs of areas the walk
    // would pass anyway in one step (AreaRunFinder), charging and counting each of them as
    // the walk does; the walk itself looks at the area where a run ends.
    const bool skip_runs = !linear_area_search_ && vend >= size && vend - size >= align - 1;
    const std::uint64_t end_limit = skip_runs ? vend - size - (align - 1) : 0;
    while (!overflow && !found && addr + size > first->va_start && addr + size <= vend) {
      if (skip_runs) {
        const AreaRun run =
            AreaRunFinder(size, align, end_limit, cached_hole_size_).find(first, addr);
        if (run.areas != 0) {
          charge(costs_.list_entry * run.areas);
          stats_.area_search_list_entries += run.areas;
          cached_hole_size_ = run.cached_hole_size;
          const VmapArea* last = run.stop != nullptr ? run.stop->list_prev : list_tail_;
          addr = align_up(last->va_end, align);
          if (run.stop == nullptr) {
            found = true;
            break;
          }
          first = run.stop;
          continue;
        }
      }
      charge(costs_.list_entry);
      ++stats_.area_search_list_entries;
      if (addr + cached_hole_size_ < first->va_start) {
        cached_hole_size_ = first->va_start - addr;
      }
      addr = align_up(first->va_end, align);
      if (addr + size < addr) {
        overflow = true;
        break;
      }
      if (first->list_next == nullptr) {
        found = true;
        break;
      }
      first = first->list_next;
    }
    if (!overflow && addr + size > vend) overflow = true;

    if (!overflow) {
      va->va_start = addr;
      va->va_end = addr + size;
      va->flags = 0;
      __insert_vmap_area(va);
      free_vmap_cache_ = va;
      kernel_.unlock(vmap_area_lock_);
      // 4.19 checks the result only after inserting it (the "addr < vstart" test came in
      // 5.0): an alignment so large that it wrapped the address past zero oopses here, with
      // the area left in the tree.
      if ((va->va_start & (align - 1)) != 0) {
        bug("alloc_vmap_area", "BUG_ON(!IS_ALIGNED(va->va_start, align))");
        return nullptr;
      }
      if (va->va_start < vstart) {
        bug("alloc_vmap_area", "BUG_ON(va->va_start < vstart)");
        return nullptr;
      }
      if (va->va_end > vend) {
        bug("alloc_vmap_area", "BUG_ON(va->va_end > vend)");
        return nullptr;
      }
      ++stats_.areas_allocated;
      // Lazy freeing must never hand out a range a TLB may still translate.
      kernel_.check_va_reuse(va->va_start, va->va_end);
      return va;
    }

    kernel_.unlock(vmap_area_lock_);
    if (!purged) {
      ++stats_.purge_retries;
      purge_vmap_area_lazy();
      purged = true;
      continue;
    }
    // No purge notifiers are registered in the model: give up.
    if (!(gfp_mask & gfp::kNoWarn)) {
      kernel_.printk("vmap allocation for size " + std::to_string(size) +
                     " failed: use vmalloc=<size> to increase size");
    }
    ++stats_.vmap_allocation_failures;
    delete_vmap_area(va);
    return nullptr;
  }
}

void Vmalloc::__free_vmap_area(VmapArea* va) {
  if (free_vmap_cache_ != nullptr) {
    if (va->va_end < cached_vstart_) {
      free_vmap_cache_ = nullptr;
    } else if (va->va_start <= free_vmap_cache_->va_start) {
      // cached_hole_size and cached_align are deliberately left alone, as the kernel does.
      RbNode* prev = RbTree::prev(va);
      free_vmap_cache_ = prev != nullptr ? node_to_va(prev) : nullptr;
    }
  }
  VmapArea* next = va->list_next;
  tree_.erase(va);
  list_remove(va);
  if (next != nullptr) update_gap_before(next);
  // The highest possible place for percpu areas.
  if (va->va_end > layout_.vmalloc_start && va->va_end <= layout_.vmalloc_end) {
    vmap_area_pcpu_hole_ = std::max(vmap_area_pcpu_hole_, va->va_end);
  }
  delete_vmap_area(va);
}

void Vmalloc::free_vmap_area(VmapArea* va) {
  kernel_.lock(vmap_area_lock_);
  __free_vmap_area(va);
  kernel_.unlock(vmap_area_lock_);
}

void Vmalloc::vunmap_page_range(std::uint64_t start, std::uint64_t end) {
  if (start >= end) {
    bug("vunmap_page_range", "BUG_ON(addr >= end)");
    return;
  }
  kernel_.unmap_kernel_range(mmu::VirtAddr{start}, end - start);
}

void Vmalloc::unmap_vmap_area(VmapArea* va) {
  vunmap_page_range(va->va_start, va->va_end);
}

bool Vmalloc::__purge_vmap_area_lazy(std::uint64_t start, std::uint64_t end) {
  // llist_del_all(): the whole list at once, newest first.
  charge(costs_.atomic);
  VmapArea* valist = purge_list_;
  purge_list_ = nullptr;
  bool do_free = false;
  for (VmapArea* va = valist; va != nullptr; va = va->purge_next) {
    charge(costs_.list_entry);
    start = std::min(start, va->va_start);
    end = std::max(end, va->va_end);
    do_free = true;
  }
  if (!do_free) return false;

  if (!config_.skip_purge_flush) {
    kernel_.flush_tlb_kernel_range(mmu::VirtAddr{start}, mmu::VirtAddr{end});
    ++stats_.purge_flushes;
  }

  PurgeRecord record{0, 0, start, end};
  kernel_.lock(vmap_area_lock_);
  for (VmapArea* va = valist; va != nullptr;) {
    VmapArea* next = va->purge_next;
    const std::uint64_t nr = (va->va_end - va->va_start) >> kPageShift;
    __free_vmap_area(va);
    charge(costs_.atomic);
    vmap_lazy_nr_ -= nr;
    ++record.areas;
    record.pages += nr;
    va = next;
  }
  kernel_.unlock(vmap_area_lock_);
  ++stats_.purges;
  stats_.areas_purged += record.areas;
  stats_.pages_purged += record.pages;
  record_purge(record);
  if (purge_hook_) purge_hook_();
  return true;
}

void Vmalloc::record_purge(const PurgeRecord& record) {
  if (purges_.size() < kPurgeRecordsKept) purges_.push_back(record);
  ++purge_summary_.areas[record.areas];
  ++purge_summary_.pages[record.pages];
  ++purge_summary_.flush_range_pages[(record.flush_end - record.flush_start) >> kPageShift];
}

void Vmalloc::try_purge_vmap_area_lazy() {
  if (kernel_.trylock(vmap_purge_lock_)) {
    __purge_vmap_area_lazy(kUlongMax, 0);
    kernel_.unlock(vmap_purge_lock_);
  } else {
    ++stats_.purges_skipped_busy;
  }
}

void Vmalloc::purge_vmap_area_lazy() {
  kernel_.lock(vmap_purge_lock_);
  purge_fragmented_blocks_allcpus();
  __purge_vmap_area_lazy(kUlongMax, 0);
  kernel_.unlock(vmap_purge_lock_);
}

void Vmalloc::free_vmap_area_noflush(VmapArea* va) {
  const std::uint64_t pages = (va->va_end - va->va_start) >> kPageShift;
  charge(costs_.atomic);
  vmap_lazy_nr_ += pages;
  const std::uint64_t nr_lazy = vmap_lazy_nr_;
  // llist_add(): onto the front of the purge list.
  charge(costs_.atomic);
  va->purge_next = purge_list_;
  va->lazy = true;
  purge_list_ = va;
  ++stats_.lazy_frees;
  stats_.lazy_pages += pages;
  if (nr_lazy > lazy_max_pages()) try_purge_vmap_area_lazy();
}

void Vmalloc::free_unmap_vmap_area(VmapArea* va) {
  unmap_vmap_area(va);
  if (config_.debug_pagealloc) {
    kernel_.flush_tlb_kernel_range(mmu::VirtAddr{va->va_start}, mmu::VirtAddr{va->va_end});
  }
  free_vmap_area_noflush(va);
}

VmapArea* Vmalloc::find_vmap_area(std::uint64_t addr) {
  kernel_.lock(vmap_area_lock_);
  VmapArea* va = __find_vmap_area(addr);
  kernel_.unlock(vmap_area_lock_);
  return va;
}

std::size_t Vmalloc::purge_list_length() const {
  std::size_t length = 0;
  for (const VmapArea* va = purge_list_; va != nullptr; va = va->purge_next)
    ++length;
  return length;
}

// ---------------------------------------------------------------------------------------------
// Per-CPU vmap blocks

std::uint64_t Vmalloc::addr_to_vb_idx(std::uint64_t addr) const {
  addr -= layout_.vmalloc_start & ~(vmap_block_size() - 1);
  return addr / vmap_block_size();
}

void Vmalloc::remove_from_queue(VmapBlock* vb) {
  kernel_.lock(vbq_locks_[vb->cpu]);
  block_queues_[vb->cpu].erase(vb->free_list);
  vb->on_free_list = false;
  kernel_.unlock(vbq_locks_[vb->cpu]);
}

std::uint64_t Vmalloc::new_vmap_block(unsigned order, std::uint32_t gfp_mask) {
  const int node = kernel_.numa_node_id();
  charge(costs_.kmalloc);
  VmapArea* va = alloc_vmap_area(vmap_block_size(), vmap_block_size(), layout_.vmalloc_start,
                                 layout_.vmalloc_end, node, gfp_mask);
  if (va == nullptr) {
    charge(costs_.kfree);
    return 0;
  }
  if (vmap_bbmap_bits_ <= (std::uint64_t{1} << order)) {
    bug("new_vmap_block", "BUG_ON(VMAP_BBMAP_BITS <= (1UL << order))");
    free_vmap_area(va);
    return 0;
  }
  auto* vb = new VmapBlock();
  vb->va = va;
  vb->free = vmap_bbmap_bits_ - (std::uint64_t{1} << order);
  vb->dirty = 0;
  vb->dirty_min = vmap_bbmap_bits_;
  vb->dirty_max = 0;

  const std::uint64_t index = addr_to_vb_idx(va->va_start);
  kernel_.lock(vmap_block_tree_lock_);
  charge(costs_.tree_node);
  vmap_block_tree_[index] = vb;
  kernel_.unlock(vmap_block_tree_lock_);

  const int cpu = kernel_.smp_processor_id();
  vb->cpu = cpu;
  kernel_.lock(vbq_locks_[cpu]);
  block_queues_[cpu].push_back(vb);
  vb->free_list = std::prev(block_queues_[cpu].end());
  vb->on_free_list = true;
  kernel_.unlock(vbq_locks_[cpu]);
  ++stats_.vmap_blocks_created;
  return va->va_start;
}

void Vmalloc::free_vmap_block(VmapBlock* vb) {
  const std::uint64_t index = addr_to_vb_idx(vb->va->va_start);
  kernel_.lock(vmap_block_tree_lock_);
  charge(costs_.tree_node);
  auto it = vmap_block_tree_.find(index);
  const bool mine = it != vmap_block_tree_.end() && it->second == vb;
  if (mine) vmap_block_tree_.erase(it);
  kernel_.unlock(vmap_block_tree_lock_);
  if (!mine) {
    bug("free_vmap_block", "BUG_ON(tmp != vb)");
    return;
  }
  free_vmap_area_noflush(vb->va);
  charge(costs_.kfree);
  delete vb;
}

void Vmalloc::purge_fragmented_blocks(int cpu) {
  std::vector<VmapBlock*> purge;
  for (VmapBlock* vb : block_queues_[cpu]) {
    charge(costs_.block_entry);
    if (!(vb->free + vb->dirty == vmap_bbmap_bits_ && vb->dirty != vmap_bbmap_bits_)) continue;
    // Nothing allocated in it any more, but never-used space left: retire it whole.
    vb->free = 0;
    vb->dirty = vmap_bbmap_bits_;
    vb->dirty_min = 0;
    vb->dirty_max = vmap_bbmap_bits_;
    purge.push_back(vb);
  }
  for (VmapBlock* vb : purge) {
    remove_from_queue(vb);
    ++stats_.vmap_blocks_purged;
    free_vmap_block(vb);
  }
}

void Vmalloc::purge_fragmented_blocks_allcpus() {
  for (int cpu = 0; cpu < static_cast<int>(block_queues_.size()); ++cpu) {
    purge_fragmented_blocks(cpu);
  }
}

std::uint64_t Vmalloc::vb_alloc(std::uint64_t size, std::uint32_t gfp_mask) {
  if (!page_aligned(size)) {
    bug("vb_alloc", "BUG_ON(offset_in_page(size))");
    return 0;
  }
  if (size > kPageSize * kVmapMaxAlloc) {
    bug("vb_alloc", "BUG_ON(size > PAGE_SIZE*VMAP_MAX_ALLOC)");
    return 0;
  }
  if (size == 0) {
    warn("vb_alloc", "WARN_ON(size == 0)");
    return 0;
  }
  const unsigned order = get_order(size);
  const std::uint64_t want = std::uint64_t{1} << order;
  const int cpu = kernel_.smp_processor_id();
  std::uint64_t vaddr = 0;
  for (VmapBlock* vb : block_queues_[cpu]) {
    charge(costs_.block_entry);
    if (vb->free < want) continue;
    // A bump allocator: freed space is never reused until the whole block is retired.
    const std::uint64_t pages_off = vmap_bbmap_bits_ - vb->free;
    vaddr = vb->va->va_start + (pages_off << kPageShift);
    vb->free -= want;
    if (vb->free == 0) remove_from_queue(vb);
    break;
  }
  if (vaddr == 0) vaddr = new_vmap_block(order, gfp_mask);
  return vaddr;
}

void Vmalloc::vb_free(std::uint64_t addr, std::uint64_t size) {
  if (!page_aligned(size)) {
    bug("vb_free", "BUG_ON(offset_in_page(size))");
    return;
  }
  if (size > kPageSize * kVmapMaxAlloc) {
    bug("vb_free", "BUG_ON(size > PAGE_SIZE*VMAP_MAX_ALLOC)");
    return;
  }
  const unsigned order = get_order(size);
  const std::uint64_t pages = std::uint64_t{1} << order;
  const std::uint64_t offset = (addr & (vmap_block_size() - 1)) >> kPageShift;
  charge(costs_.tree_node);
  auto it = vmap_block_tree_.find(addr_to_vb_idx(addr));
  if (it == vmap_block_tree_.end()) {
    bug("vb_free", "BUG_ON(!vb)");
    return;
  }
  VmapBlock* vb = it->second;
  if (size == 0) {
    // vm_unmap_ram(addr, 0): the page-table code BUGs on the empty range.
    bug("vunmap_page_range", "BUG_ON(addr >= end)");
    return;
  }
  if (vb->dirty + pages > vmap_bbmap_bits_) {
    // Linux 4.19 would push dirty past the block's size and never free it (or free it while
    // parts are mapped): the count does not match the vm_map_ram() that mapped this address.
    bug("vb_free",
        "dirty space beyond the block (vm_unmap_ram() count does not match "
        "vm_map_ram())");
    return;
  }
  vunmap_page_range(addr, addr + size);
  if (config_.debug_pagealloc) {
    kernel_.flush_tlb_kernel_range(mmu::VirtAddr{addr}, mmu::VirtAddr{addr + size});
  }
  vb->dirty_min = std::min(vb->dirty_min, offset);
  vb->dirty_max = std::max(vb->dirty_max, offset + pages);
  vb->dirty += pages;
  if (vb->dirty == vmap_bbmap_bits_) {
    if (vb->free != 0) {
      bug("vb_free", "BUG_ON(vb->free)");
      return;
    }
    ++stats_.vmap_blocks_freed;
    free_vmap_block(vb);
  }
}

void Vmalloc::vm_unmap_aliases() {
  ++stats_.vm_unmap_aliases;
  charge(costs_.call);
  if (!vmap_initialized_) return;
  std::uint64_t start = kUlongMax;
  std::uint64_t end = 0;
  bool flush = false;

  if (config_.vm_unmap_aliases == UnmapAliases::kLinux419) {
    // Only the blocks still on a per-CPU free list: a block whose space is all handed out was
    // taken off its list, so its dirty range is never seen (a stale-alias hole of 4.19).
    for (const auto& queue : block_queues_) {
      for (VmapBlock* vb : queue) {
        charge(costs_.block_entry);
        if (vb->dirty == 0) continue;
        start = std::min(start, vb->va->va_start + (vb->dirty_min << kPageShift));
        end = std::max(end, vb->va->va_start + (vb->dirty_max << kPageShift));
        flush = true;
      }
    }
    kernel_.lock(vmap_purge_lock_);
    purge_fragmented_blocks_allcpus();
  } else {
    // Linux 6.5: every block, full ones included; a fragmented block with little space left
    // is retired; a flushed dirty range is forgotten so it is not flushed again.
    kernel_.lock(vmap_purge_lock_);
    std::vector<VmapBlock*> retire;
    for (int cpu = 0; cpu < static_cast<int>(block_queues_.size()); ++cpu) {
      for (auto& [index, vb] : vmap_block_tree_) {
        if (vb->cpu != cpu) continue;
        charge(costs_.block_entry);
        const bool fragmented = vb->free + vb->dirty == vmap_bbmap_bits_ &&
                                vb->dirty != vmap_bbmap_bits_ && vb->free < vmap_bbmap_bits_ / 4;
        if (fragmented) {
          vb->free = 0;
          vb->dirty = vmap_bbmap_bits_;
          vb->dirty_min = 0;
          vb->dirty_max = vmap_bbmap_bits_;
          retire.push_back(vb);
        } else if (vb->dirty_max != 0 && vb->dirty != vmap_bbmap_bits_) {
          start = std::min(start, vb->va->va_start + (vb->dirty_min << kPageShift));
          end = std::max(end, vb->va->va_start + (vb->dirty_max << kPageShift));
          vb->dirty_min = vmap_bbmap_bits_;
          vb->dirty_max = 0;
          flush = true;
        }
      }
    }
    for (VmapBlock* vb : retire) {
      if (vb->on_free_list) remove_from_queue(vb);
      ++stats_.vmap_blocks_purged;
      free_vmap_block(vb);
    }
  }
  if (!__purge_vmap_area_lazy(start, end) && flush) {
    kernel_.flush_tlb_kernel_range(mmu::VirtAddr{start}, mmu::VirtAddr{end});
    ++stats_.alias_flushes;
  }
  kernel_.unlock(vmap_purge_lock_);
}

void Vmalloc::vm_unmap_ram(std::uint64_t mem, std::uint32_t count) {
  ++stats_.vm_unmap_ram;
  charge(costs_.call);
  const std::uint64_t size = std::uint64_t{count} << kPageShift;
  if (mem == 0) return bug("vm_unmap_ram", "BUG_ON(!addr)");
  if (mem < layout_.vmalloc_start) return bug("vm_unmap_ram", "BUG_ON(addr < VMALLOC_START)");
  if (mem > layout_.vmalloc_end) return bug("vm_unmap_ram", "BUG_ON(addr > VMALLOC_END)");
  if (!page_aligned(mem)) return bug("vm_unmap_ram", "BUG_ON(!PAGE_ALIGNED(addr))");
  if (count <= kVmapMaxAlloc) return vb_free(mem, size);
  VmapArea* va = find_vmap_area(mem);
  if (va == nullptr) return bug("vm_unmap_ram", "BUG_ON(!va)");
  if (vmap_block_tree_.count(addr_to_vb_idx(va->va_start)) != 0 &&
      vmap_block_tree_.at(addr_to_vb_idx(va->va_start))->va == va) {
    // Linux 4.19 would free the whole per-CPU block under its users' feet.
    return bug("vm_unmap_ram",
               "the area is a vmap block (vm_unmap_ram() count does not match "
               "vm_map_ram())");
  }
  if (va->vm != nullptr) {
    // Likewise, tearing down a vmalloc area behind its vm_struct.
    return bug("vm_unmap_ram", "the area was not made by vm_map_ram()");
  }
  if (va->lazy) {
    // Linux 4.19 would put the area on the purge list a second time, making the list a
    // cycle that the next purge never leaves.
    return bug("vm_unmap_ram", "the area is already unmapped (vm_unmap_ram() called twice)");
  }
  free_unmap_vmap_area(va);
}

std::uint64_t Vmalloc::vm_map_ram(const std::vector<mmu::Pfn>& pages, std::uint32_t count, int node,
                                  PageProt prot) {
  ++stats_.vm_map_ram;
  charge(costs_.call);
  const std::uint64_t size = std::uint64_t{count} << kPageShift;
  std::uint64_t addr = 0;
  if (count <= kVmapMaxAlloc) {
    addr = vb_alloc(size, gfp::kKernel);
    if (count == 0) {
      // vb_alloc() WARNs and returns NULL, which is no error pointer: Linux goes on to map
      // the empty range at address 0 and BUGs there.
      bug("vmap_page_range_noflush", "BUG_ON(addr >= end)");
      return 0;
    }
    if (addr == 0) return 0;
  } else {
    VmapArea* va = alloc_vmap_area(size, kPageSize, layout_.vmalloc_start, layout_.vmalloc_end,
                                   node, gfp::kKernel);
    if (va == nullptr) return 0;
    addr = va->va_start;
  }
  if (vmap_page_range(addr, addr + size, prot, pages) < 0) {
    vm_unmap_ram(addr, count);
    return 0;
  }
  return addr;
}

// ---------------------------------------------------------------------------------------------
// Early boot

void Vmalloc::vm_area_add_early(VmStruct* vm) {
  if (vmap_initialized_) return bug("vm_area_add_early", "BUG_ON(vmap_initialized)");
  VmStruct** p = &vmlist_;
  for (VmStruct* tmp = *p; tmp != nullptr; tmp = *p) {
    if (tmp->addr >= vm->addr) {
      if (tmp->addr < vm->addr + vm->size) {
        return bug("vm_area_add_early", "BUG_ON(tmp->addr < vm->addr + vm->size)");
      }
      break;
    }
    if (tmp->addr + tmp->size > vm->addr) {
      return bug("vm_area_add_early", "BUG_ON(tmp->addr + tmp->size > vm->addr)");
    }
    p = &tmp->next;
  }
  vm->next = *p;
  *p = vm;
}

void Vmalloc::vm_area_register_early(VmStruct* vm, std::uint64_t align) {
  if (vmap_initialized_) return bug("vm_area_register_early", "BUG_ON(vmap_initialized)");
  const std::uint64_t addr = align_up(layout_.vmalloc_start + vm_init_off_, align);
  vm_init_off_ = page_align(addr + vm->size) - layout_.vmalloc_start;
  vm->addr = addr;
  vm_area_add_early(vm);
}

void Vmalloc::vmalloc_init() {
  if (vmap_initialized_) return;
  for (VmStruct* tmp = vmlist_; tmp != nullptr; tmp = tmp->next) {
    VmapArea* va = new VmapArea();
    va->flags = kVmVmArea;
    va->va_start = tmp->addr;
    va->va_end = tmp->addr + tmp->size;
    va->vm = tmp;
    __insert_vmap_area(va);
  }
  vmap_area_pcpu_hole_ = layout_.vmalloc_end;
  vmap_initialized_ = true;
}

// ---------------------------------------------------------------------------------------------
// Page tables

int Vmalloc::vmap_page_range(std::uint64_t start, std::uint64_t end, PageProt prot,
                             const std::vector<mmu::Pfn>& pages) {
  if (start >= end) {
    bug("vmap_page_range_noflush", "BUG_ON(addr >= end)");
    return -22;  // -EINVAL
  }
  const std::uint64_t count = (end - start) >> kPageShift;
  // Only the first `count` pages are mapped; a copy is needed only when there are more.
  std::vector<mmu::Pfn> first_pages;
  if (pages.size() > count) {
    first_pages.assign(pages.begin(), pages.begin() + static_cast<std::ptrdiff_t>(count));
  }
  const std::vector<mmu::Pfn>& frames = pages.size() > count ? first_pages : pages;
  const mmu::EditResult result =
      kernel_.map_kernel_pages(mmu::VirtAddr{start}, frames, pte_flags(prot));
  switch (result.status) {
    case mmu::EditStatus::kOk:
      break;
    case mmu::EditStatus::kAlreadyMapped:
      // The PTE level's -EBUSY reaches the caller as -ENOMEM: each upper level turns any
      // failure of the level below into -ENOMEM.
      warn("vmap_pte_range", "WARN_ON(!pte_none(*pte))");
      return -12;  // -ENOMEM
    default:
      return -12;  // -ENOMEM
  }
  if (frames.size() < count) {
    warn("vmap_pte_range", "WARN_ON(!page)");
    return -12;
  }
  return static_cast<int>(result.entries_written);
}

int Vmalloc::map_vm_area(VmStruct* area, PageProt prot, const std::vector<mmu::Pfn>& pages) {
  const std::uint64_t addr = area->addr;
  const int err = vmap_page_range(addr, addr + get_vm_area_size(*area), prot, pages);
  return err > 0 ? 0 : err;
}

int Vmalloc::map_kernel_range_noflush(std::uint64_t addr, std::uint64_t size, PageProt prot,
                                      const std::vector<mmu::Pfn>& pages) {
  ++stats_.map_kernel_range_noflush;
  charge(costs_.call);
  return vmap_page_range(addr, addr + size, prot, pages);
}

void Vmalloc::unmap_kernel_range_noflush(std::uint64_t addr, std::uint64_t size) {
  ++stats_.unmap_kernel_range_noflush;
  charge(costs_.call);
  vunmap_page_range(addr, addr + size);
}

void Vmalloc::unmap_kernel_range(std::uint64_t addr, std::uint64_t size) {
  ++stats_.unmap_kernel_range;
  charge(costs_.call);
  const std::uint64_t end = addr + size;
  vunmap_page_range(addr, end);
  kernel_.flush_tlb_kernel_range(mmu::VirtAddr{addr}, mmu::VirtAddr{end});
}

std::optional<mmu::Pfn> Vmalloc::vmalloc_to_page(std::uint64_t addr) {
  auto mapping = kernel_.page_tables().lookup(kernel_.kernel_root(), mmu::VirtAddr{addr});
  if (!mapping || mapping->size != mmu::PageSize::k4K) return std::nullopt;
  return mapping->frame;
}

// ---------------------------------------------------------------------------------------------
// Areas with a vm_struct

void Vmalloc::setup_vmalloc_vm(VmStruct* vm, VmapArea* va, std::uint64_t flags,
                               std::string_view caller) {
  kernel_.lock(vmap_area_lock_);
  vm->flags = flags;
  vm->addr = va->va_start;
  vm->size = va->va_end - va->va_start;
  vm->caller = caller;
  va->vm = vm;
  va->flags |= kVmVmArea;
  kernel_.unlock(vmap_area_lock_);
}

VmStruct* Vmalloc::__get_vm_area_node(std::uint64_t size, std::uint64_t align, std::uint64_t flags,
                                      std::uint64_t start, std::uint64_t end, int node,
                                      std::uint32_t gfp_mask, std::string_view caller) {
  if (kernel_.in_interrupt()) {
    bug("__get_vm_area_node", "BUG_ON(in_interrupt())");
    return nullptr;
  }
  size = page_align(size);
  if (size == 0) return nullptr;
  if (flags & vm_flags::kIoremap) {
    const unsigned order =
        std::clamp<unsigned>(get_count_order(size), kPageShift, kIoremapMaxOrder);
    align = std::uint64_t{1} << order;
  }
  VmStruct* area = new_vm_struct();
  if (!(flags & vm_flags::kNoGuard)) size += kPageSize;
  VmapArea* va = alloc_vmap_area(size, align, start, end, node, gfp_mask);
  if (va == nullptr) {
    delete_vm_struct(area);
    return nullptr;
  }
  setup_vmalloc_vm(area, va, flags, caller);
  return area;
}

VmStruct* Vmalloc::__get_vm_area(std::uint64_t size, std::uint64_t flags, std::uint64_t start,
                                 std::uint64_t end, std::string_view caller) {
  ++stats_.get_vm_area;
  charge(costs_.call);
  return __get_vm_area_node(size, 1, flags, start, end, kNumaNoNode, gfp::kKernel, caller);
}

VmStruct* Vmalloc::get_vm_area(std::uint64_t size, std::uint64_t flags, std::string_view caller) {
  ++stats_.get_vm_area;
  charge(costs_.call);
  return __get_vm_area_node(size, 1, flags, layout_.vmalloc_start, layout_.vmalloc_end, kNumaNoNode,
                            gfp::kKernel, caller);
}

VmStruct* Vmalloc::find_vm_area(std::uint64_t addr) {
  charge(costs_.call);
  VmapArea* va = find_vmap_area(addr);
  if (va != nullptr && (va->flags & kVmVmArea)) return va->vm;
  return nullptr;
}

VmStruct* Vmalloc::remove_vm_area(std::uint64_t addr) {
  ++stats_.remove_vm_area;
  charge(costs_.call);
  VmapArea* va = find_vmap_area(addr);
  if (va == nullptr || !(va->flags & kVmVmArea)) return nullptr;
  VmStruct* vm = va->vm;
  kernel_.lock(vmap_area_lock_);
  va->vm = nullptr;
  va->flags &= ~kVmVmArea;
  va->flags |= kVmLazyFree;
  kernel_.unlock(vmap_area_lock_);
  free_unmap_vmap_area(va);
  return vm;
}

void Vmalloc::free_vm_area(VmStruct* area) {
  if (live_vms_.count(area) == 0) {
    // A pointer Linux would dereference after its kfree().
    return bug("free_vm_area", "the vm_struct was already freed");
  }
  VmStruct* removed = remove_vm_area(area->addr);
  if (removed != area) return bug("free_vm_area", "BUG_ON(ret != area)");
  delete_vm_struct(area);
}

VmStruct* Vmalloc::alloc_vm_area(std::uint64_t size, std::vector<mmu::PhysAddr>* ptes,
                                 std::string_view caller) {
  ++stats_.alloc_vm_area;
  charge(costs_.call);
  VmStruct* area = __get_vm_area_node(size, 1, vm_flags::kIoremap, layout_.vmalloc_start,
                                      layout_.vmalloc_end, kNumaNoNode, gfp::kKernel, caller);
  if (area == nullptr) return nullptr;
  // apply_to_page_range(): builds the page tables for the range, maps nothing.
  const mmu::EditResult result =
      kernel_.populate_kernel_tables(mmu::VirtAddr{area->addr}, size, ptes);
  if (!result.ok()) {
    free_vm_area(area);
    return nullptr;
  }
  return area;
}

void Vmalloc::__vunmap(std::uint64_t addr, bool deallocate_pages) {
  if (addr == 0) return;
  if (!page_aligned(addr)) {
    return warn("__vunmap", "Trying to vfree() bad address (" + hex16(addr) + ")");
  }
  VmapArea* va = find_vmap_area(addr);
  if (va == nullptr) {
    // 4.19 reads find_vmap_area(addr)->vm without checking: a NULL dereference.
    return oops(
        "BUG: unable to handle kernel NULL pointer dereference in __vunmap "
        "(no vmap area covers " +
        hex16(addr) + ") (CPU " + std::to_string(kernel_.smp_processor_id()) + ")");
  }
  VmStruct* area = va->vm;
  if (area == nullptr) {
    return warn("__vunmap", "Trying to vfree() nonexistent vm area (" + hex16(addr) + ")");
  }
  remove_vm_area(addr);
  if (deallocate_pages) {
    for (std::uint32_t i = 0; i < area->nr_pages; ++i) {
      charge(costs_.page_free);
      pages_.free_page(area->pages[i]);
    }
    // kvfree() of the pages array: vfree() when it was vmalloc'ed.
    if (area->pages_array != 0) {
      vfree(area->pages_array);
    } else {
      charge(costs_.kfree);
    }
  }
  delete_vm_struct(area);
}

void Vmalloc::__vfree_deferred(std::uint64_t addr) {
  // The freed object's first word becomes the llist node: a store through the MMU.
  const AccessResult access = kernel_.access(mmu::VirtAddr{addr}, mmu::AccessType::kWrite);
  if (!access.ok) {
    return oops("BUG: unable to handle kernel paging request at " + hex16(addr) +
                " in __vfree_deferred (CPU " + std::to_string(kernel_.smp_processor_id()) + ")");
  }
  const int cpu = kernel_.smp_processor_id();
  charge(costs_.atomic);
  ++stats_.deferred_frees;
  deferred_[cpu].push_back(addr);
  if (deferred_[cpu].size() == 1) {
    kernel_.schedule_work(cpu, [this, cpu] { free_work(cpu); });
  }
}

void Vmalloc::free_work(int cpu) {
  // llist_del_all() hands the list over newest first.
  std::vector<std::uint64_t> list;
  list.swap(deferred_[cpu]);
  charge(costs_.atomic);
  for (auto it = list.rbegin(); it != list.rend(); ++it)
    __vunmap(*it, true);
}

void Vmalloc::vfree(std::uint64_t addr) {
  ++stats_.vfree;
  charge(costs_.call);
  if (addr == 0) return;
  if (kernel_.in_interrupt()) {
    __vfree_deferred(addr);
  } else {
    __vunmap(addr, true);
  }
}

void Vmalloc::vfree_atomic(std::uint64_t addr) {
  ++stats_.vfree_atomic;
  charge(costs_.call);
  if (addr == 0) return;
  __vfree_deferred(addr);
}

void Vmalloc::vunmap(std::uint64_t addr) {
  ++stats_.vunmap;
  charge(costs_.call);
  if (kernel_.in_interrupt()) return bug("vunmap", "BUG_ON(in_interrupt())");
  if (addr != 0) __vunmap(addr, false);
}

std::uint64_t Vmalloc::vmap(const std::vector<mmu::Pfn>& pages, std::uint32_t count,
                            std::uint64_t flags, PageProt prot, std::string_view caller) {
  ++stats_.vmap;
  charge(costs_.call);
  if (count > pages_.totalram_pages()) return 0;
  const std::uint64_t size = std::uint64_t{count} << kPageShift;
  VmStruct* area = __get_vm_area_node(size, 1, flags, layout_.vmalloc_start, layout_.vmalloc_end,
                                      kNumaNoNode, gfp::kKernel, caller);
  if (area == nullptr) return 0;
  if (map_vm_area(area, prot, pages) != 0) {
    vunmap(area->addr);
    return 0;
  }
  return area->addr;
}

std::uint64_t Vmalloc::__vmalloc_area_node(VmStruct* area, std::uint32_t gfp_mask, PageProt prot,
                                           int node) {
  // GFP_RECLAIM_MASK keeps the reclaim and warning bits (__GFP_NOWARN among them).
  const std::uint32_t nested_gfp = (gfp_mask & (gfp::kDirectReclaim | gfp::kNoWarn)) | gfp::kZero;
  const std::uint32_t alloc_mask = gfp_mask | gfp::kNoWarn;
  const std::uint32_t highmem_mask = (gfp_mask & gfp::kDma32) ? 0 : gfp::kHighmem;
  const std::uint32_t nr_pages = static_cast<std::uint32_t>(get_vm_area_size(*area) >> kPageShift);
  const std::uint64_t array_size = std::uint64_t{nr_pages} * 8;

  area->nr_pages = nr_pages;
  // The page-pointer array: vmalloc'ed itself above a page (the recursion is bounded: each
  // level is 512 times smaller).
  if (array_size > kPageSize) {
    area->pages_array = __vmalloc_node(array_size, 1, nested_gfp | highmem_mask, PageProt::kKernel,
                                       node, area->caller);
    if (area->pages_array == 0) {
      remove_vm_area(area->addr);
      delete_vm_struct(area);
      return 0;
    }
  } else {
    charge(costs_.kmalloc);
  }
  area->pages.reserve(nr_pages);
  // alloc_page() without a node follows the default memory policy: the local node.
  const int page_node = node == kNumaNoNode ? kernel_.numa_node_id() : node;
  bool failed = false;
  for (std::uint32_t i = 0; i < nr_pages; ++i) {
    charge(costs_.page_alloc);
    auto page = pages_.alloc_page(alloc_mask | highmem_mask, page_node);
    if (!page) {
      ++stats_.page_allocation_failures;
      area->nr_pages = i;
      failed = true;
      break;
    }
    if (gfp_mask & gfp::kZero) {
      kernel_.physical_memory().zero_frame(*page);
      charge(kPageSize / costs_.zero_bytes_per_cycle);
    }
    area->pages.push_back(*page);
  }
  if (!failed && map_vm_area(area, prot, area->pages) == 0) return area->addr;

  warn_alloc(gfp_mask, "vmalloc: allocation failure, allocated " +
                           std::to_string(std::uint64_t{area->nr_pages} * kPageSize) + " of " +
                           std::to_string(area->size) + " bytes");
  vfree(area->addr);
  return 0;
}

std::uint64_t Vmalloc::__vmalloc_node_range(std::uint64_t size, std::uint64_t align,
                                            std::uint64_t start, std::uint64_t end,
                                            std::uint32_t gfp_mask, PageProt prot,
                                            std::uint64_t extra_vm_flags, int node,
                                            std::string_view caller) {
  ++stats_.vmalloc_node_range;
  charge(costs_.call);
  const std::uint64_t real_size = size;
  size = page_align(size);
  const std::uint64_t oopses = oopses_;
  if (size != 0 && (size >> kPageShift) <= pages_.totalram_pages()) {
    VmStruct* area = __get_vm_area_node(
        size, align, vm_flags::kAlloc | vm_flags::kUninitialized | extra_vm_flags, start, end, node,
        gfp_mask, caller);
    if (area != nullptr) {
      const std::uint64_t addr = __vmalloc_area_node(area, gfp_mask, prot, node);
      if (addr == 0) return 0;
      area->flags &= ~vm_flags::kUninitialized;
      return addr;
    }
  }
  // After a BUG the calling task is gone: it reports no allocation failure.
  if (oopses_ != oopses) return 0;
  warn_alloc(gfp_mask, "vmalloc: allocation failure: " + std::to_string(real_size) + " bytes");
  return 0;
}

std::uint64_t Vmalloc::__vmalloc_node(std::uint64_t size, std::uint64_t align,
                                      std::uint32_t gfp_mask, PageProt prot, int node,
                                      std::string_view caller) {
  return __vmalloc_node_range(size, align, layout_.vmalloc_start, layout_.vmalloc_end, gfp_mask,
                              prot, 0, node, caller);
}

std::uint64_t Vmalloc::vmalloc(std::uint64_t size, std::string_view caller) {
  ++stats_.vmalloc;
  return __vmalloc_node(size, 1, gfp::kKernel, PageProt::kKernel, kNumaNoNode, caller);
}

std::uint64_t Vmalloc::vzalloc(std::uint64_t size, std::string_view caller) {
  ++stats_.vzalloc;
  return __vmalloc_node(size, 1, gfp::kKernel | gfp::kZero, PageProt::kKernel, kNumaNoNode, caller);
}

std::uint64_t Vmalloc::vmalloc_user(std::uint64_t size, std::string_view caller) {
  ++stats_.vmalloc_user;
  const std::uint64_t ret = __vmalloc_node(size, kShmlba, gfp::kKernel | gfp::kZero,
                                           PageProt::kKernel, kNumaNoNode, caller);
  if (ret != 0) {
    if (VmStruct* area = find_vm_area(ret)) area->flags |= vm_flags::kUsermap;
  }
  return ret;
}

std::uint64_t Vmalloc::vmalloc_node(std::uint64_t size, int node, std::string_view caller) {
  ++stats_.vmalloc_node;
  return __vmalloc_node(size, 1, gfp::kKernel, PageProt::kKernel, node, caller);
}

std::uint64_t Vmalloc::vzalloc_node(std::uint64_t size, int node, std::string_view caller) {
  ++stats_.vzalloc_node;
  return __vmalloc_node(size, 1, gfp::kKernel | gfp::kZero, PageProt::kKernel, node, caller);
}

std::uint64_t Vmalloc::vmalloc_exec(std::uint64_t size, std::string_view caller) {
  ++stats_.vmalloc_exec;
  return __vmalloc_node(size, 1, gfp::kKernel, PageProt::kKernelExec, kNumaNoNode, caller);
}

std::uint64_t Vmalloc::vmalloc_32(std::uint64_t size, std::string_view caller) {
  ++stats_.vmalloc_32;
  return __vmalloc_node(size, 1, gfp::kDma32 | gfp::kKernel, PageProt::kKernel, kNumaNoNode,
                        caller);
}

std::uint64_t Vmalloc::vmalloc_32_user(std::uint64_t size, std::string_view caller) {
  ++stats_.vmalloc_32_user;
  const std::uint64_t ret = __vmalloc_node(size, 1, gfp::kDma32 | gfp::kKernel | gfp::kZero,
                                           PageProt::kKernel, kNumaNoNode, caller);
  if (ret != 0) {
    if (VmStruct* area = find_vm_area(ret)) area->flags |= vm_flags::kUsermap;
  }
  return ret;
}

// ---------------------------------------------------------------------------------------------
// vread, vwrite, remap

void Vmalloc::aligned_vread(std::uint8_t* buf, std::uint64_t addr, std::uint64_t count) {
  while (count != 0) {
    const std::uint64_t offset = addr & (kPageSize - 1);
    const std::uint64_t length = std::min(kPageSize - offset, count);
    if (auto page = vmalloc_to_page(addr)) {
      kernel_.physical_memory().read(page->addr() + offset, buf, length);
    } else {
      std::memset(buf, 0, length);
    }
    charge(length / costs_.copy_bytes_per_cycle);
    addr += length;
    buf += length;
    count -= length;
  }
}

void Vmalloc::aligned_vwrite(const std::uint8_t* buf, std::uint64_t addr, std::uint64_t count) {
  while (count != 0) {
    const std::uint64_t offset = addr & (kPageSize - 1);
    const std::uint64_t length = std::min(kPageSize - offset, count);
    if (auto page = vmalloc_to_page(addr)) {
      kernel_.physical_memory().write(page->addr() + offset, buf, length);
      charge(length / costs_.copy_bytes_per_cycle);
    }
    addr += length;
    buf += length;
    count -= length;
  }
}

long Vmalloc::vread(std::uint8_t* buf, std::uint64_t addr, std::uint64_t count) {
  ++stats_.vread;
  charge(costs_.call);
  std::uint8_t* const buf_start = buf;
  const std::uint64_t buflen = count;
  if (addr + count < count) count = 0 - addr;  // do not wrap past the top

  kernel_.lock(vmap_area_lock_);
  for (VmapArea* va = list_head_; va != nullptr && count != 0; va = va->list_next) {
    charge(costs_.list_entry);
    if (!(va->flags & kVmVmArea)) continue;
    const VmStruct* vm = va->vm;
    const std::uint64_t vaddr = vm->addr;
    const std::uint64_t vend = vaddr + get_vm_area_size(*vm);
    if (addr >= vend) continue;
    // A hole before the area reads as zeros.
    if (addr < vaddr) {
      const std::uint64_t gap = std::min(vaddr - addr, count);
      std::memset(buf, 0, gap);
      buf += gap;
      addr += gap;
      count -= gap;
      // Linux stops only when the count runs out inside the hole; reaching the area's start
      // with nothing left still goes through the (empty) copy below.
      if (addr < vaddr) break;
    }
    std::uint64_t n = vend - addr;
    if (n > count) n = count;
    if (!(vm->flags & vm_flags::kIoremap)) {
      aligned_vread(buf, addr, n);
    } else {
      std::memset(buf, 0, n);  // ioremap areas read as a hole
    }
    buf += n;
    addr += n;
    count -= n;
  }
  kernel_.unlock(vmap_area_lock_);

  if (buf == buf_start) return 0;
  if (buf != buf_start + buflen) {
    std::memset(buf, 0, buflen - static_cast<std::uint64_t>(buf - buf_start));
  }
  return static_cast<long>(buflen);
}

long Vmalloc::vwrite(const std::uint8_t* buf, std::uint64_t addr, std::uint64_t count) {
  ++stats_.vwrite;
  charge(costs_.call);
  if (addr + count < count) count = 0 - addr;
  const std::uint64_t buflen = count;
  int copied = 0;

  kernel_.lock(vmap_area_lock_);
  for (VmapArea* va = list_head_; va != nullptr && count != 0; va = va->list_next) {
    charge(costs_.list_entry);
    if (!(va->flags & kVmVmArea)) continue;
    const VmStruct* vm = va->vm;
    const std::uint64_t vaddr = vm->addr;
    const std::uint64_t vend = vaddr + get_vm_area_size(*vm);
    if (addr >= vend) continue;
    // Holes are skipped: their bytes of the buffer are consumed, nothing is written.
    if (addr < vaddr) {
      const std::uint64_t gap = std::min(vaddr - addr, count);
      buf += gap;
      addr += gap;
      count -= gap;
      // As in vread(); here the empty write at the area's start still counts as a copy, so
      // a range ending exactly where an area starts returns its length, not 0.
      if (addr < vaddr) break;
    }
    std::uint64_t n = vend - addr;
    if (n > count) n = count;
    if (!(vm->flags & vm_flags::kIoremap)) {
      aligned_vwrite(buf, addr, n);
      ++copied;
    }
    buf += n;
    addr += n;
    count -= n;
  }
  kernel_.unlock(vmap_area_lock_);
  if (copied == 0) return 0;
  return static_cast<long>(buflen);
}

int Vmalloc::remap_vmalloc_range_partial(UserVma& vma, std::uint64_t uaddr, std::uint64_t kaddr,
                                         std::uint64_t size) {
  ++stats_.remap_vmalloc_range;
  charge(costs_.call);
  constexpr int kEinval = -22;
  constexpr int kEfault = -14;
  constexpr int kEbusy = -16;
  constexpr int kEnomem = -12;
  size = page_align(size);
  if (!page_aligned(uaddr) || !page_aligned(kaddr)) return kEinval;
  VmStruct* area = find_vm_area(kaddr);
  if (area == nullptr) return kEinval;
  if (!(area->flags & vm_flags::kUsermap)) return kEinval;
  if (kaddr + size > area->addr + area->size) return kEinval;
  do {
    const auto page = vmalloc_to_page(kaddr);
    // vm_insert_page().
    if (uaddr < vma.vm_start || uaddr >= vma.vm_end) return kEfault;
    if (!page) {
      // A size of 0 passes the checks above and then walks past the area in 4.19.
      oops(
          "BUG: unable to handle kernel NULL pointer dereference in vm_insert_page "
          "(remap_vmalloc_range_partial past the mapped pages at " +
          hex16(kaddr) + ")");
      return kEfault;
    }
    mmu::PteFlags flags;
    flags.user = true;
    flags.writable = true;
    flags.no_execute = true;
    const mmu::EditResult result =
        kernel_.map_user_page(vma.mm, mmu::VirtAddr{uaddr}, *page, flags);
    if (result.status == mmu::EditStatus::kAlreadyMapped) return kEbusy;
    if (!result.ok()) return kEnomem;
    uaddr += kPageSize;
    kaddr += kPageSize;
    size -= kPageSize;
  } while (size > 0);
  vma.dont_expand = true;
  return 0;
}

int Vmalloc::remap_vmalloc_range(UserVma& vma, std::uint64_t addr, std::uint64_t pgoff) {
  return remap_vmalloc_range_partial(vma, vma.vm_start, addr + (pgoff << kPageShift),
                                     vma.vm_end - vma.vm_start);
}

// ---------------------------------------------------------------------------------------------
// The percpu allocator's areas

bool Vmalloc::pvm_find_next_prev(std::uint64_t end, VmapArea** pnext, VmapArea** pprev) {
  RbNode* n = tree_.root();
  VmapArea* va = nullptr;
  while (n != nullptr) {
    charge(costs_.tree_node);
    va = node_to_va(n);
    if (end < va->va_end) {
      n = n->left;
    } else if (end > va->va_end) {
      n = n->right;
    } else {
      break;
    }
  }
  if (va == nullptr) return false;
  if (va->va_end > end) {
    *pnext = va;
    RbNode* prev = RbTree::prev(va);
    *pprev = prev != nullptr ? node_to_va(prev) : nullptr;
  } else {
    *pprev = va;
    RbNode* next = RbTree::next(va);
    *pnext = next != nullptr ? node_to_va(next) : nullptr;
  }
  return true;
}

std::uint64_t Vmalloc::pvm_determine_end(VmapArea** pnext, VmapArea** pprev, std::uint64_t align) {
  const std::uint64_t vmalloc_end = layout_.vmalloc_end & ~(align - 1);
  std::uint64_t addr;
  if (*pnext != nullptr) {
    addr = std::min((*pnext)->va_start & ~(align - 1), vmalloc_end);
  } else {
    addr = vmalloc_end;
  }
  while (*pprev != nullptr && (*pprev)->va_end > addr) {
    charge(costs_.tree_node);
    *pnext = *pprev;
    RbNode* prev = RbTree::prev(*pnext);
    *pprev = prev != nullptr ? node_to_va(prev) : nullptr;
  }
  return addr;
}

std::vector<VmStruct*> Vmalloc::pcpu_get_vm_areas(const std::vector<std::uint64_t>& offsets,
                                                  const std::vector<std::uint64_t>& sizes,
                                                  std::uint64_t align) {
  ++stats_.pcpu_get_vm_areas;
  charge(costs_.call);
  const int nr_vms = static_cast<int>(std::min(offsets.size(), sizes.size()));
  if (nr_vms == 0) return {};
  if (!page_aligned(align) || !is_power_of_2(align)) {
    bug("pcpu_get_vm_areas", "BUG_ON(offset_in_page(align) || !is_power_of_2(align))");
    return {};
  }
  const std::uint64_t vmalloc_start = align_up(layout_.vmalloc_start, align);
  const std::uint64_t vmalloc_end = layout_.vmalloc_end & ~(align - 1);

  int last_area = 0;
  for (int area = 0; area < nr_vms; ++area) {
    const std::uint64_t start = offsets[area];
    const std::uint64_t end = start + sizes[area];
    if (offsets[area] & (align - 1)) {
      bug("pcpu_get_vm_areas", "BUG_ON(!IS_ALIGNED(offsets[area], align))");
      return {};
    }
    if (sizes[area] & (align - 1)) {
      bug("pcpu_get_vm_areas", "BUG_ON(!IS_ALIGNED(sizes[area], align))");
      return {};
    }
    if (start > offsets[last_area]) last_area = area;
    for (int area2 = area + 1; area2 < nr_vms; ++area2) {
      const std::uint64_t start2 = offsets[area2];
      const std::uint64_t end2 = start2 + sizes[area2];
      if (start2 < end && start < end2) {
        bug("pcpu_get_vm_areas", "BUG_ON(start2 < end && start < end2)");
        return {};
      }
    }
  }
  const std::uint64_t last_end = offsets[last_area] + sizes[last_area];
  if (vmalloc_end - vmalloc_start < last_end) {
    warn("pcpu_get_vm_areas", "WARN_ON(true)");
    return {};
  }

  std::vector<VmapArea*> vas(nr_vms);
  std::vector<VmStruct*> vms(nr_vms);
  for (int area = 0; area < nr_vms; ++area) {
    vas[area] = new_vmap_area();
    vms[area] = new_vm_struct();
  }
  bool purged = false;
  for (;;) {  // retry
    kernel_.lock(vmap_area_lock_);
    int area = last_area;
    int term_area = last_area;
    std::uint64_t start = offsets[area];
    std::uint64_t end = start + sizes[area];
    VmapArea* next = nullptr;
    VmapArea* prev = nullptr;
    std::uint64_t base = 0;
    bool fits = false;
    if (!pvm_find_next_prev(vmap_area_pcpu_hole_, &next, &prev)) {
      base = vmalloc_end - last_end;
      fits = true;
    } else {
      base = pvm_determine_end(&next, &prev, align) - end;
    }
    bool exhausted = false;
    while (!fits) {
      // base might have underflowed: compare with last_end added.
      if (base + last_end < vmalloc_start + last_end) {
        exhausted = true;
        break;
      }
      // next overlaps: move base right below it and check again.
      if (next != nullptr && next->va_start < base + end) {
        base = pvm_determine_end(&next, &prev, align) - end;
        term_area = area;
        continue;
      }
      // prev overlaps: shift both down and move base below the new next.
      if (prev != nullptr && prev->va_end > base + start) {
        next = prev;
        RbNode* before = RbTree::prev(next);
        prev = before != nullptr ? node_to_va(before) : nullptr;
        base = pvm_determine_end(&next, &prev, align) - end;
        term_area = area;
        continue;
      }
      // This area fits; on to the one before it, until all have fitted with this base.
      area = (area + nr_vms - 1) % nr_vms;
      if (area == term_area) break;
      start = offsets[area];
      end = start + sizes[area];
      pvm_find_next_prev(base + end, &next, &prev);
    }
    if (exhausted) {
      kernel_.unlock(vmap_area_lock_);
      if (!purged) {
        purge_vmap_area_lazy();
        purged = true;
        continue;
      }
      for (int i = 0; i < nr_vms; ++i) {
        delete_vmap_area(vas[i]);
        delete_vm_struct(vms[i]);
      }
      return {};
    }
    for (int i = 0; i < nr_vms; ++i) {
      VmapArea* va = vas[i];
      va->va_start = base + offsets[i];
      va->va_end = va->va_start + sizes[i];
      __insert_vmap_area(va);
    }
    vmap_area_pcpu_hole_ = base + offsets[last_area];
    kernel_.unlock(vmap_area_lock_);
    for (int i = 0; i < nr_vms; ++i) {
      setup_vmalloc_vm(vms[i], vas[i], vm_flags::kAlloc, "pcpu_get_vm_areas");
      kernel_.check_va_reuse(vas[i]->va_start, vas[i]->va_end);
    }
    return vms;
  }
}

void Vmalloc::pcpu_free_vm_areas(std::vector<VmStruct*>& vms) {
  ++stats_.pcpu_free_vm_areas;
  charge(costs_.call);
  for (VmStruct* vm : vms)
    free_vm_area(vm);
  vms.clear();
}

// ---------------------------------------------------------------------------------------------
// /proc/vmallocinfo and the books

std::string Vmalloc::vmallocinfo() const {
  std::string out;
  char line[96];
  for (const VmapArea* va = list_head_; va != nullptr; va = va->list_next) {
    if (!(va->flags & kVmVmArea)) {
      std::snprintf(line, sizeof line, "0x%016llx-0x%016llx %7lld %s\n",
                    static_cast<unsigned long long>(va->va_start),
                    static_cast<unsigned long long>(va->va_end),
                    static_cast<long long>(va->va_end - va->va_start),
                    (va->flags & kVmLazyFree) ? "unpurged vm_area" : "vm_map_ram");
      out += line;
      continue;
    }
    const VmStruct* v = va->vm;
    std::snprintf(
        line, sizeof line, "0x%016llx-0x%016llx %7lld", static_cast<unsigned long long>(v->addr),
        static_cast<unsigned long long>(v->addr + v->size), static_cast<long long>(v->size));
    out += line;
    if (!v->caller.empty()) out += " " + v->caller;
    if (v->nr_pages != 0) out += " pages=" + std::to_string(v->nr_pages);
    if (v->phys_addr != 0) out += " phys=" + hex16(v->phys_addr);
    if (v->flags & vm_flags::kIoremap) out += " ioremap";
    if (v->flags & vm_flags::kAlloc) out += " vmalloc";
    if (v->flags & vm_flags::kMap) out += " vmap";
    if (v->flags & vm_flags::kUsermap) out += " user";
    if (v->pages_array != 0) out += " vpages";
    if (!(v->flags & vm_flags::kUninitialized)) {
      std::map<std::uint32_t, std::uint32_t> per_node;
      for (std::uint32_t i = 0; i < v->nr_pages && i < v->pages.size(); ++i) {
        ++per_node[pages_.node_of(v->pages[i])];
      }
      for (const auto& [node, count] : per_node) {
        out += " N" + std::to_string(node) + "=" + std::to_string(count);
      }
    }
    out += "\n";
  }
  return out;
}

std::string Vmalloc::check_invariants() const {
  std::uint64_t lazy = 0;
  for (const VmapArea* va = purge_list_; va != nullptr; va = va->purge_next) {
    lazy += (va->va_end - va->va_start) >> kPageShift;
  }
  if (lazy != vmap_lazy_nr_) {
    return "vmap_lazy_nr is " + std::to_string(vmap_lazy_nr_) + " but the purge list holds " +
           std::to_string(lazy) + " pages";
  }
  if (tree_.check() < 0) return "the vmap area tree is not a valid red-black tree";
  std::size_t listed = 0;
  const VmapArea* prev = nullptr;
  RbNode* node = tree_.first();
  for (const VmapArea* va = list_head_; va != nullptr; va = va->list_next) {
    if (node != va) return "the area list and the tree disagree at " + hex16(va->va_start);
    if (prev != nullptr && prev->va_end > va->va_start) {
      return "areas overlap at " + hex16(va->va_start);
    }
    prev = va;
    node = RbTree::next(node);
    ++listed;
  }
  if (listed != tree_.size()) return "the area list is shorter than the tree";
  return check_search_summary();
}

std::string Vmalloc::check_search_summary() const {
  for (const VmapArea* va = list_head_; va != nullptr; va = va->list_next) {
    const VmapArea* prev = va->list_prev;
    const std::uint64_t gap =
        prev != nullptr && va->va_start > prev->va_end ? va->va_start - prev->va_end : 0;
    const AreaSummary summary = summarise(va);
    if (va->gap_before != gap || va->subtree_areas != summary.areas ||
        va->subtree_max_gap != summary.max_gap || va->subtree_max_end != summary.max_end) {
      return "the area tree's search summary is out of date at " + hex16(va->va_start);
    }
  }
  return "";
}

}  // namespace mmusim::vmalloc
