#include "vmalloc/invariants.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "mmu/pte.h"

namespace mmusim::vmalloc {
namespace {

// Violations kept per check: a broken structure tends to break everything after it.
constexpr std::size_t kMaxViolations = 32;

std::string hex(std::uint64_t value) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(value));
  return buf;
}

std::string pages_text(std::uint64_t pages) {
  return std::to_string(pages) + (pages == 1 ? " page" : " pages");
}

class Report {
 public:
  explicit Report(std::vector<std::string>& out) : out_(out) {}
  void add(std::string message) {
    if (out_.size() < kMaxViolations) {
      out_.push_back(std::move(message));
    } else {
      ++dropped_;
    }
  }
  void finish() {
    if (dropped_ != 0) out_.push_back("... and " + std::to_string(dropped_) + " more violations");
  }

 private:
  std::vector<std::string>& out_;
  std::uint64_t dropped_ = 0;
};

// A leaf of the kernel page tables: where it maps, what, and at which level.
struct Leaf {
  std::uint64_t va = 0;
  std::uint64_t pfn = 0;
  mmu::Level level = mmu::Level::kPt;
};

// Reads every present entry of the tables under `table` (at `level`) that maps or leads to
// an address in [first, last] (inclusive, within this table's span): leaves go to `leaves`,
// the frames of the tables below to `tables`. Reads only; nothing is charged.
void walk_tables(const mmu::PhysMem& memory, mmu::Pfn table, mmu::Level level, std::uint64_t first,
                 std::uint64_t last, std::vector<Leaf>& leaves,
                 std::vector<std::uint64_t>& tables) {
  const unsigned shift = mmu::level_shift(level);
  const std::uint64_t span = std::uint64_t{1} << shift;
  std::array<std::uint64_t, 512> entries;  // the whole table in one read
  memory.read(table.addr(), entries.data(), sizeof entries);
  std::uint64_t va = first;
  for (;;) {
    const unsigned index = static_cast<unsigned>((va >> shift) & 0x1ff);
    const std::uint64_t entry_start = va & ~(span - 1);
    const std::uint64_t sub_last = std::min(entry_start + (span - 1), last);
    const mmu::Pte pte{entries[index]};
    if (pte.present()) {
      if (pte.is_leaf(level)) {
        leaves.push_back({entry_start, pte.leaf_pfn(level).value(), level});
      } else if (level != mmu::Level::kPt) {
        tables.push_back(pte.table_pfn().value());
        walk_tables(memory, pte.table_pfn(), mmu::level_below(level), va, sub_last, leaves, tables);
      }
    }
    if (sub_last >= last) break;
    va = sub_last + 1;
  }
}

}  // namespace

// The checker's view of the guest, with the friend access the checks need.
class InvariantView {
 public:
  explicit InvariantView(const Vmalloc& guest) : g_(guest) {}

  // Whether `vm` is a vm_struct that exists: one the model allocated, or an early one.
  [[nodiscard]] bool vm_valid(const VmStruct* vm) const {
    if (vm == nullptr) return false;
    if (g_.live_vms_.count(const_cast<VmStruct*>(vm)) != 0) return true;
    return is_early_vm(vm);
  }
  [[nodiscard]] bool is_early_vm(const VmStruct* vm) const {
    std::size_t steps = 0;
    for (const VmStruct* tmp = g_.vmlist_; tmp != nullptr && steps < 1'000'000;
         tmp = tmp->next, ++steps) {
      if (tmp == vm) return true;
    }
    return false;
  }
  [[nodiscard]] bool model_vm(const VmStruct* vm) const {
    return vm != nullptr && g_.live_vms_.count(const_cast<VmStruct*>(vm)) != 0;
  }
  // Whether the area's last page is a guard page: __get_vm_area_node() adds one unless
  // VM_NO_GUARD; percpu's areas (VM_ALLOC without pages of their own) are exactly their size.
  [[nodiscard]] bool has_guard_page(const VmapArea* va) const {
    const VmStruct* vm = va->vm;
    if (!model_vm(vm) || (vm->flags & vm_flags::kNoGuard) != 0) return false;
    return (vm->flags & vm_flags::kAlloc) == 0 || owns_pages(vm);
  }
  // A vmalloc area's vm_struct, whose pages __vmalloc_area_node() allocates (percpu's areas
  // have VM_ALLOC too, but the percpu allocator maps its own pages into them).
  [[nodiscard]] bool owns_pages(const VmStruct* vm) const {
    return model_vm(vm) && (vm->flags & vm_flags::kAlloc) != 0 &&
           (vm->nr_pages != 0 || !vm->pages.empty() || (vm->flags & vm_flags::kUninitialized) != 0);
  }
  // The live vmap block whose area is `va`, if any.
  [[nodiscard]] const VmapBlock* block_of(const VmapArea* va) const {
    auto it = g_.vmap_block_tree_.find(g_.addr_to_vb_idx(va->va_start));
    if (it == g_.vmap_block_tree_.end() || it->second == nullptr) return nullptr;
    return it->second->va == va ? it->second : nullptr;
  }

  [[nodiscard]] AreaInfo info(const VmapArea* va) const {
    AreaInfo area;
    area.start = va->va_start;
    area.end = va->va_end;
    if (va->lazy) {
      area.kind = AreaKind::kLazy;
    } else if (va->vm != nullptr && vm_valid(va->vm)) {
      area.vm = va->vm;
      area.vm_flags = va->vm->flags;
      if (!model_vm(va->vm)) {
        area.kind = AreaKind::kEarly;
      } else if (owns_pages(va->vm)) {
        area.kind = AreaKind::kVmalloc;
      } else {
        area.kind = AreaKind::kVmArea;
      }
    } else if (block_of(va) != nullptr) {
      area.kind = AreaKind::kVmapBlock;
    } else {
      area.kind = AreaKind::kVmMapRam;
    }
    return area;
  }

  [[nodiscard]] std::string describe(const VmapArea* va) const {
    std::string text = "area " + hex(va->va_start) + "-" + hex(va->va_end) + " (" +
                       pages_text((va->va_end - va->va_start) / kPageSize);
    if (va->lazy) {
      text += ", lazily freed";
    } else if (va->vm != nullptr && vm_valid(va->vm)) {
      const VmStruct* vm = va->vm;
      if (!model_vm(vm)) text += ", early";
      if (vm->flags & vm_flags::kAlloc) text += ", vmalloc";
      if (vm->flags & vm_flags::kMap) text += ", vmap";
      if (vm->flags & vm_flags::kIoremap) text += ", ioremap";
      if (!vm->caller.empty()) text += ", caller " + vm->caller;
    } else if (block_of(va) != nullptr) {
      text += ", vmap block";
    } else if (va->vm == nullptr) {
      text += ", no vm_struct";
    }
    return text + ")";
  }

  void check(CheckMoment moment, Report& report) const;
  void check_empty(Report& report) const;

  // The tree's areas in order; false (reported) when the tree cannot be walked safely.
  bool tree_areas(std::vector<const VmapArea*>& out, Report& report) const;

 private:
  void check_pages_and_mappings(const std::vector<const VmapArea*>& areas,
                                const std::unordered_set<const VmapArea*>& busy, CheckMoment moment,
                                Report& report) const;
  void check_page_allocator(Report& report) const;

  const Vmalloc& g_;
};

bool InvariantView::tree_areas(std::vector<const VmapArea*>& out, Report& report) const {
  if (g_.tree_.check() < 0) {
    report.add("the vmap area tree is not a valid red-black tree (colours or parent links)");
    return false;
  }
  const std::size_t size = g_.tree_.size();
  std::size_t steps = 0;
  for (const RbNode* node = g_.tree_.first(); node != nullptr; node = RbTree::next(node)) {
    if (++steps > size) {
      report.add("the vmap area tree holds more areas than its count of " + std::to_string(size));
      return false;
    }
    out.push_back(static_cast<const VmapArea*>(node));
  }
  if (out.size() != size) {
    report.add("the vmap area tree's count is " + std::to_string(size) + " but it holds " +
               std::to_string(out.size()) + " areas");
  }
  return true;
}

void InvariantView::check(CheckMoment moment, Report& report) const {
  std::vector<const VmapArea*> areas;
  if (!tree_areas(areas, report)) return;
  const std::unordered_set<const VmapArea*> busy(areas.begin(), areas.end());
  const KernelLayout& layout = g_.layout_;

  // vmap_area_list: the tree's areas, in the same order, each once.
  {
    std::size_t i = 0;
    const VmapArea* prev = nullptr;
    bool broken = false;
    for (const VmapArea* va = g_.list_head_; va != nullptr; va = va->list_next) {
      if (i >= areas.size()) {
        report.add("vmap_area_list is longer than the tree (" + std::to_string(areas.size()) +
                   " areas), or does not end");
        broken = true;
        break;
      }
      if (va != areas[i]) {
        report.add("vmap_area_list and the tree disagree at entry " + std::to_string(i) +
                   ": the list has " +
                   (busy.count(va) ? describe(va) : "an area that is not in the tree") +
                   ", the tree " + describe(areas[i]));
        broken = true;
        break;
      }
      if (va->list_prev != prev) {
        report.add(describe(va) + ": its list_prev does not point to the area before it");
      }
      prev = va;
      ++i;
    }
    if (!broken && i != areas.size()) {
      report.add("vmap_area_list holds " + std::to_string(i) + " areas, the tree " +
                 std::to_string(areas.size()));
    }
    if (!broken && g_.list_tail_ != (areas.empty() ? nullptr : areas.back())) {
      report.add("vmap_area_list's tail is not its last area");
    }
  }

  // Each area: page aligned, not empty, in order and apart from the one before it.
  const VmapArea* prev = nullptr;
  for (const VmapArea* va : areas) {
    if (va->va_start >= va->va_end || (va->va_start | va->va_end) % kPageSize != 0) {
      report.add(describe(va) + " is empty or not page aligned");
    }
    if (prev != nullptr && prev->va_end > va->va_start) {
      report.add(describe(prev) + " overlaps " + describe(va));
    }
    const bool early = va->vm != nullptr && vm_valid(va->vm) && !model_vm(va->vm);
    if (!early && !layout.is_vmalloc_or_module_addr(va->va_start)) {
      report.add(describe(va) + " lies outside the vmalloc and module areas");
    }
    prev = va;
  }

  // The augmented tree's fields.
  const std::string summary = g_.check_search_summary();
  if (!summary.empty()) report.add(summary);
  if (g_.free_vmap_cache_ != nullptr && busy.count(g_.free_vmap_cache_) == 0) {
    report.add("free_vmap_cache points to an area that is not in the tree (" +
               hex(reinterpret_cast<std::uintptr_t>(g_.free_vmap_cache_)) + ")");
  }

  // The lazy books.
  std::uint64_t lazy_pages = 0;
  std::size_t listed = 0;
  std::unordered_set<const VmapArea*> on_purge_list;
  for (const VmapArea* va = g_.purge_list_; va != nullptr; va = va->purge_next) {
    if (busy.count(va) == 0) {
      report.add("vmap_purge_list entry " + std::to_string(listed) +
                 " is not an area in the tree (freed, or never inserted)");
      break;
    }
    if (!on_purge_list.insert(va).second) {
      report.add(describe(va) + " is on vmap_purge_list twice (the list is a cycle)");
      break;
    }
    ++listed;
    lazy_pages += (va->va_end - va->va_start) / kPageSize;
    if (!va->lazy) report.add(describe(va) + " is on vmap_purge_list but not marked lazy");
    if (va->vm != nullptr) report.add(describe(va) + " is on vmap_purge_list with a vm_struct");
    if (block_of(va) != nullptr) {
      report.add(describe(va) + " is on vmap_purge_list but still a live vmap block");
    }
  }
  if (lazy_pages != g_.vmap_lazy_nr_) {
    report.add("vmap_lazy_nr is " + std::to_string(g_.vmap_lazy_nr_) +
               " but the lazily freed areas on vmap_purge_list add up to " +
               pages_text(lazy_pages) + " (" + std::to_string(listed) + " areas)");
  }
  const VmallocStats& stats = g_.stats_;
  if (stats.lazy_pages - stats.pages_purged != g_.vmap_lazy_nr_) {
    report.add("vmap_lazy_nr is " + std::to_string(g_.vmap_lazy_nr_) +
               " but the pages freed lazily (" + std::to_string(stats.lazy_pages) +
               ") minus the pages purged (" + std::to_string(stats.pages_purged) + ") are " +
               std::to_string(stats.lazy_pages - stats.pages_purged));
  }
  for (const VmapArea* va : areas) {
    if (va->lazy && on_purge_list.count(va) == 0) {
      report.add(describe(va) + " is marked lazy but is not on vmap_purge_list");
    }
  }

  // vm_structs.
  for (const VmapArea* va : areas) {
    if (va->vm == nullptr) {
      if (va->flags & kVmVmArea) report.add(describe(va) + " has VM_VM_AREA but no vm_struct");
      continue;
    }
    if (!vm_valid(va->vm)) {
      report.add(describe(va) + " points to a vm_struct that was freed");
      continue;
    }
    const VmStruct* vm = va->vm;
    if (vm->addr != va->va_start || vm->size != va->va_end - va->va_start) {
      report.add(describe(va) + ": its vm_struct covers " + hex(vm->addr) + "-" +
                 hex(vm->addr + vm->size));
    }
    if (!(va->flags & kVmVmArea)) {
      report.add(describe(va) + " has a vm_struct but no VM_VM_AREA flag");
    }
  }

  // vmap blocks and the per-CPU queues.
  const std::uint64_t bits = g_.vmap_bbmap_bits_;
  std::unordered_set<const VmapBlock*> blocks;
  for (const auto& [index, vb] : g_.vmap_block_tree_) {
    if (vb == nullptr) {
      report.add("vmap_block_tree holds an empty slot at index " + std::to_string(index));
      continue;
    }
    blocks.insert(vb);
    const VmapArea* va = vb->va;
    if (va == nullptr || busy.count(va) == 0) {
      report.add("the vmap block at index " + std::to_string(index) +
                 " has an area that is not in the tree");
      continue;
    }
    const std::string name = "vmap block " + hex(va->va_start);
    if (g_.addr_to_vb_idx(va->va_start) != index) {
      report.add(name + " is filed under index " + std::to_string(index) + ", not " +
                 std::to_string(g_.addr_to_vb_idx(va->va_start)));
    }
    if (va->va_end - va->va_start != g_.vmap_block_size() ||
        va->va_start % g_.vmap_block_size() != 0) {
      report.add(describe(va) + " is a vmap block but not one aligned block of " +
                 pages_text(bits));
    }
    if (va->lazy || va->vm != nullptr) {
      report.add(name + " is a live block but its area is lazy or has a vm_struct");
    }
    if (vb->free + vb->dirty > bits) {
      report.add(name + ": free " + std::to_string(vb->free) + " + dirty " +
                 std::to_string(vb->dirty) + " exceed the block's " + pages_text(bits));
    }
    if (vb->dirty_max > bits || vb->dirty_min > bits) {
      report.add(name + ": dirty range " + std::to_string(vb->dirty_min) + ".." +
                 std::to_string(vb->dirty_max) + " beyond the block's " + pages_text(bits));
    }
    if (vb->cpu < 0 || static_cast<std::size_t>(vb->cpu) >= g_.block_queues_.size()) {
      report.add(name + " belongs to CPU " + std::to_string(vb->cpu) + ", which does not exist");
    }
  }
  std::map<const VmapBlock*, int> queued;  // block -> how many times queued (any CPU)
  for (std::size_t cpu = 0; cpu < g_.block_queues_.size(); ++cpu) {
    for (const VmapBlock* vb : g_.block_queues_[cpu]) {
      if (blocks.count(vb) == 0) {
        report.add("CPU " + std::to_string(cpu) +
                   "'s vmap block queue holds a block that is not in vmap_block_tree");
        continue;
      }
      ++queued[vb];
      if (vb->cpu != static_cast<int>(cpu)) {
        report.add("vmap block " + hex(vb->va->va_start) + " of CPU " + std::to_string(vb->cpu) +
                   " is on CPU " + std::to_string(cpu) + "'s queue");
      }
    }
  }
  for (const auto& [index, vb] : g_.vmap_block_tree_) {
    if (vb == nullptr || vb->va == nullptr || busy.count(vb->va) == 0) continue;
    const std::string name = "vmap block " + hex(vb->va->va_start);
    auto it = queued.find(vb);
    const int times = it == queued.end() ? 0 : it->second;
    if (times > 1) report.add(name + " is queued " + std::to_string(times) + " times");
    if (vb->on_free_list != (times == 1)) {
      report.add(name + (vb->on_free_list ? " says it is queued but is not"
                                          : " is queued but says it is not"));
    }
    if (moment == CheckMoment::kQuiescent && (vb->free != 0) != vb->on_free_list) {
      report.add(name + " has " + pages_text(vb->free) + " free but is " +
                 (vb->on_free_list ? "" : "not ") + "on its CPU's queue");
    }
  }

  // Deferred frees: each names a busy area with a vm_struct.
  for (std::size_t cpu = 0; cpu < g_.deferred_.size(); ++cpu) {
    for (const std::uint64_t addr : g_.deferred_[cpu]) {
      auto it =
          std::upper_bound(areas.begin(), areas.end(), addr,
                           [](std::uint64_t a, const VmapArea* va) { return a < va->va_start; });
      const VmapArea* va = it == areas.begin() ? nullptr : *(it - 1);
      if (va == nullptr || addr >= va->va_end || va->lazy || va->vm == nullptr) {
        report.add("CPU " + std::to_string(cpu) + " has a deferred vfree of " + hex(addr) +
                   ", which is not a busy vmalloc area");
      }
    }
  }

  check_pages_and_mappings(areas, busy, moment, report);
  check_page_allocator(report);
}

void InvariantView::check_pages_and_mappings(const std::vector<const VmapArea*>& areas,
                                             const std::unordered_set<const VmapArea*>& busy,
                                             CheckMoment moment, Report& report) const {
  (void)moment;
  Kernel& kernel = g_.kernel_;
  const PageAllocator& allocator = g_.pages_;
  const KernelLayout& layout = g_.layout_;

  // Every leaf over the vmalloc and module areas.
  std::vector<Leaf> leaves;
  std::vector<std::uint64_t> tables;
  const mmu::PhysMem& memory = kernel.physical_memory();
  const mmu::Level top = kernel.page_tables().mode().top();
  walk_tables(memory, kernel.kernel_root(), top, layout.vmalloc_start, layout.vmalloc_end, leaves,
              tables);
  if (layout.modules_end > layout.modules_vaddr) {
    walk_tables(memory, kernel.kernel_root(), top, layout.modules_vaddr, layout.modules_end - 1,
                leaves, tables);
  }
  const std::unordered_set<std::uint64_t> table_frames(tables.begin(), tables.end());

  // Pages a vmalloc area owns: pfn -> the area.
  std::unordered_map<std::uint64_t, const VmapArea*> owned;
  for (const VmapArea* va : areas) {
    if (va->lazy || !owns_pages(va->vm)) continue;
    const VmStruct* vm = va->vm;
    const std::uint64_t expected = get_vm_area_size(*vm) / kPageSize;
    const bool building = (vm->flags & vm_flags::kUninitialized) != 0;
    if (!building && (vm->pages.size() != expected || vm->nr_pages != expected)) {
      report.add(describe(va) + " holds " + pages_text(vm->pages.size()) + " (nr_pages " +
                 std::to_string(vm->nr_pages) + ") for its " + pages_text(expected));
    }
    for (const mmu::Pfn pfn : vm->pages) {
      if (!allocator.is_allocated(pfn)) {
        report.add(describe(va) + " holds frame " + hex(pfn.value()) +
                   ", which the page allocator has free");
      }
      auto [it, added] = owned.emplace(pfn.value(), va);
      if (!added) {
        report.add("frame " + hex(pfn.value()) + " belongs to two vmalloc areas: " +
                   describe(it->second) + " and " + describe(va));
      }
      if (table_frames.count(pfn.value()) != 0) {
        report.add("frame " + hex(pfn.value()) + " of " + describe(va) +
                   " is also a page-table page");
      }
    }
    if (vm->pages_array != 0) {
      auto it =
          std::upper_bound(areas.begin(), areas.end(), vm->pages_array,
                           [](std::uint64_t a, const VmapArea* v) { return a < v->va_start; });
      const VmapArea* array = it == areas.begin() ? nullptr : *(it - 1);
      if (array == nullptr || array->va_start != vm->pages_array || array->lazy ||
          !owns_pages(array->vm)) {
        report.add(describe(va) + ": its pages array at " + hex(vm->pages_array) +
                   " is not a busy vmalloc area");
      }
    }
  }

  // Each leaf: in a busy, not lazily freed area, not in its guard page, mapping an allocated
  // frame that is no page table; aliases only between pages callers passed in.
  struct FirstMapping {
    std::uint64_t va;
    const VmapArea* area;
  };
  std::unordered_map<std::uint64_t, FirstMapping> mapped;  // pfn -> first mapping seen
  std::unordered_map<const VmapArea*, std::vector<std::uint64_t>> block_offsets;
  std::unordered_map<std::uint64_t, std::uint64_t> leaf_at;  // va -> pfn, 4 KiB leaves
  for (const Leaf& leaf : leaves) {
    if (leaf.level != mmu::Level::kPt) {
      report.add("a " + std::string(mmu::level_name(leaf.level)) + "-level large page maps " +
                 hex(leaf.va) + " in the vmalloc or module area");
      continue;
    }
    leaf_at.emplace(leaf.va, leaf.pfn);
    auto it = std::upper_bound(areas.begin(), areas.end(), leaf.va,
                               [](std::uint64_t a, const VmapArea* v) { return a < v->va_start; });
    const VmapArea* va = it == areas.begin() ? nullptr : *(it - 1);
    const std::string where = hex(leaf.va) + " (frame " + hex(leaf.pfn) + ")";
    if (va == nullptr || leaf.va >= va->va_end) {
      report.add(where + " is mapped outside every busy area");
      va = nullptr;
    } else if (va->lazy) {
      report.add(where + " is still mapped in " + describe(va));
    } else if (has_guard_page(va) && leaf.va + kPageSize == va->va_end) {
      report.add(where + " is mapped in the guard page of " + describe(va));
    } else if (const VmapBlock* vb = block_of(va)) {
      (void)vb;
      block_offsets[va].push_back((leaf.va - va->va_start) / kPageSize);
    }
    if (!allocator.is_allocated(mmu::Pfn{leaf.pfn})) {
      report.add(where + " maps a frame the page allocator has free");
    }
    if (table_frames.count(leaf.pfn) != 0) {
      report.add(where + " maps a page-table page");
    }
    const bool vmalloc_page = va != nullptr && owns_pages(va->vm);
    auto [first, added] = mapped.emplace(leaf.pfn, FirstMapping{leaf.va, va});
    if (!added) {
      const VmapArea* other = first->second.area;
      const bool other_vmalloc = other != nullptr && owns_pages(other->vm);
      if (vmalloc_page || other_vmalloc || va == nullptr || other == nullptr) {
        report.add("frame " + hex(leaf.pfn) + " is mapped at " + hex(first->second.va) +
                   " and at " + hex(leaf.va) + ", not both by a caller's vmap or vm_map_ram (" +
                   (other != nullptr ? describe(other) : "no area") + "; " +
                   (va != nullptr ? describe(va) : "no area") + ")");
      }
    }
    if (vmalloc_page) {
      const VmStruct* vm = va->vm;
      const std::uint64_t index = (leaf.va - va->va_start) / kPageSize;
      if (index < vm->pages.size() && vm->pages[index].value() != leaf.pfn) {
        report.add(where + " is page " + std::to_string(index) + " of " + describe(va) +
                   ", which holds frame " + hex(vm->pages[index].value()) + " there");
      }
    }
    if (owned.count(leaf.pfn) != 0 && !vmalloc_page) {
      report.add(where + " maps a page of " + describe(owned.at(leaf.pfn)) + " outside that area");
    }
  }
  // A finished vmalloc area maps each of its pages where it belongs.
  for (const VmapArea* va : areas) {
    if (va->lazy || !owns_pages(va->vm)) continue;
    const VmStruct* vm = va->vm;
    if (vm->flags & vm_flags::kUninitialized) continue;  // still being built
    for (std::size_t i = 0; i < vm->pages.size(); ++i) {
      const std::uint64_t addr = va->va_start + i * kPageSize;
      if (leaf_at.count(addr) == 0) {
        report.add(describe(va) + ": its page " + std::to_string(i) + " (frame " +
                   hex(vm->pages[i].value()) + ") is not mapped at " + hex(addr));
      }
    }
  }

  // vmap blocks: what is mapped is allocated (below the bump pointer, at most the pages
  // handed out and not freed).
  for (const auto& [index, vb] : g_.vmap_block_tree_) {
    if (vb == nullptr || vb->va == nullptr || busy.count(vb->va) == 0) continue;
    if (vb->free + vb->dirty > g_.vmap_bbmap_bits_) continue;  // reported above
    auto it = block_offsets.find(vb->va);
    if (it == block_offsets.end()) continue;
    const std::uint64_t used = g_.vmap_bbmap_bits_ - vb->free;
    const std::uint64_t allocated = used - vb->dirty;
    if (it->second.size() > allocated) {
      report.add("vmap block " + hex(vb->va->va_start) + " has " + pages_text(it->second.size()) +
                 " mapped but only " + std::to_string(allocated) + " allocated (" +
                 std::to_string(used) + " used, " + std::to_string(vb->dirty) + " freed)");
    }
    for (const std::uint64_t offset : it->second) {
      if (offset >= used) {
        report.add("vmap block " + hex(vb->va->va_start) + " has page " + std::to_string(offset) +
                   " mapped above its " + std::to_string(used) + " used pages");
        break;
      }
    }
  }
}

void InvariantView::check_page_allocator(Report& report) const {
  const PageAllocStats& stats = g_.pages_.stats();
  if (stats.pages_allocated + stats.table_pages_allocated - stats.pages_freed != stats.in_use) {
    report.add("page allocator: " + std::to_string(stats.pages_allocated) + " pages and " +
               std::to_string(stats.table_pages_allocated) + " page-table pages allocated, " +
               std::to_string(stats.pages_freed) + " freed, but in_use is " +
               std::to_string(stats.in_use));
  }
  if (stats.in_use > g_.pages_.totalram_pages()) {
    report.add("page allocator: " + std::to_string(stats.in_use) + " frames in use of " +
               std::to_string(g_.pages_.totalram_pages()));
  }
}

void InvariantView::check_empty(Report& report) const {
  std::vector<const VmapArea*> areas;
  if (!tree_areas(areas, report)) return;
  std::unordered_set<std::uint64_t> early_starts;
  for (const VmapArea* va : areas) {
    const AreaInfo area = info(va);
    if (area.kind == AreaKind::kEarly) {
      early_starts.insert(va->va_start);
    } else {
      report.add(describe(va) + " is still busy after everything was freed and purged");
    }
  }
  // /proc/vmallocinfo: only early areas.
  const std::string info_text = g_.vmallocinfo();
  std::size_t pos = 0;
  while (pos < info_text.size()) {
    const std::size_t eol = info_text.find('\n', pos);
    const std::string line =
        info_text.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    pos = eol == std::string::npos ? info_text.size() : eol + 1;
    if (line.empty()) continue;
    const std::uint64_t start = std::strtoull(line.c_str(), nullptr, 16);
    if (early_starts.count(start) == 0) {
      report.add("/proc/vmallocinfo still lists \"" + line + "\"");
    }
  }
  if (g_.vmap_lazy_nr_ != 0 || g_.purge_list_ != nullptr) {
    report.add("after the final purge vmap_lazy_nr is " + std::to_string(g_.vmap_lazy_nr_) +
               " and vmap_purge_list is " + (g_.purge_list_ != nullptr ? "not " : "") + "empty");
  }
  if (!g_.vmap_block_tree_.empty()) {
    report.add(std::to_string(g_.vmap_block_tree_.size()) +
               " vmap blocks are left after the final purge (space still allocated in them)");
  }
  for (std::size_t cpu = 0; cpu < g_.block_queues_.size(); ++cpu) {
    if (!g_.block_queues_[cpu].empty()) {
      report.add("CPU " + std::to_string(cpu) + "'s vmap block queue still holds " +
                 std::to_string(g_.block_queues_[cpu].size()) + " blocks");
    }
    if (!g_.deferred_[cpu].empty()) {
      report.add("CPU " + std::to_string(cpu) + " still has " +
                 std::to_string(g_.deferred_[cpu].size()) + " deferred vfrees");
    }
  }
  const PageAllocStats& stats = g_.pages_.stats();
  if (stats.pages_allocated != stats.pages_freed) {
    report.add("page allocator: " + std::to_string(stats.pages_allocated) +
               " pages were allocated and " + std::to_string(stats.pages_freed) + " freed: " +
               std::to_string(stats.pages_allocated - stats.pages_freed) + " are not back");
  }
  if (stats.in_use != stats.table_pages_allocated) {
    report.add("page allocator: " + std::to_string(stats.in_use) + " frames in use, but only " +
               std::to_string(stats.table_pages_allocated) + " are page-table pages");
  }
}

std::vector<std::string> InvariantChecker::check(const Vmalloc& guest, CheckMoment moment) {
  std::vector<std::string> violations;
  Report report(violations);
  InvariantView(guest).check(moment, report);
  report.finish();
  return violations;
}

std::vector<std::string> InvariantChecker::check_empty(const Vmalloc& guest) {
  std::vector<std::string> violations;
  Report report(violations);
  const InvariantView view(guest);
  view.check(CheckMoment::kQuiescent, report);
  view.check_empty(report);
  report.finish();
  return violations;
}

std::vector<AreaInfo> InvariantChecker::areas(const Vmalloc& guest) {
  std::vector<AreaInfo> out;
  const InvariantView view(guest);
  std::vector<std::string> ignored;
  Report report(ignored);
  std::vector<const VmapArea*> areas;
  view.tree_areas(areas, report);
  for (const VmapArea* va : areas)
    out.push_back(view.info(va));
  return out;
}

std::optional<AreaInfo> InvariantChecker::area_at(const Vmalloc& guest, std::uint64_t addr) {
  const RbNode* node = guest.tree_.root();
  while (node != nullptr) {
    const auto* va = static_cast<const VmapArea*>(node);
    if (addr < va->va_start) {
      node = node->left;
    } else if (addr >= va->va_end) {
      node = node->right;
    } else {
      return InvariantView(guest).info(va);
    }
  }
  return std::nullopt;
}

void InvariantChecker::purge_all(Vmalloc& guest) {
  guest.purge_vmap_area_lazy();
}

void InvariantChecker::unbalance_lazy_count_for_test(Vmalloc& guest, std::int64_t pages) {
  guest.vmap_lazy_nr_ += static_cast<std::uint64_t>(pages);
}

void InvariantChecker::set_gap_before_for_test(Vmalloc& guest, std::uint64_t area_start,
                                               std::uint64_t gap) {
  for (VmapArea* va = guest.list_head_; va != nullptr; va = va->list_next) {
    if (va->va_start == area_start) va->gap_before = gap;
  }
}

void InvariantChecker::set_block_free_for_test(Vmalloc& guest, std::uint64_t block_start,
                                               std::uint64_t free) {
  auto it = guest.vmap_block_tree_.find(guest.addr_to_vb_idx(block_start));
  if (it != guest.vmap_block_tree_.end()) it->second->free = free;
}

}  // namespace mmusim::vmalloc
