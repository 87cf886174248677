// The guest: a model of Linux 4.19's mm/vmalloc.c. The same data structures (vmap areas in a
// red-black tree and an address-sorted list, the lazy purge list, per-CPU vmap blocks, the
// per-CPU deferred-free lists), the same algorithms and constants, and the same function
// names, so that a reader can hold it against the kernel: allocations land at the addresses
// Linux would choose and lazy purges fire exactly when Linux's would.
//
// It runs against vmalloc::Kernel: locks, TLB flushes, page-table edits and the cycles each
// step costs go through it. Kernel addresses are plain integers; 0 is NULL. The kernel's
// WARN() and BUG() become Kernel::warn() and Kernel::bug(), after which the function returns as
// the kernel would have after the report (a BUG ends the operation).
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "mmu/pte.h"
#include "mmu/types.h"
#include "vmalloc/config.h"
#include "vmalloc/kernel.h"
#include "vmalloc/layout.h"
#include "vmalloc/page_alloc.h"
#include "vmalloc/rbtree.h"

namespace mmusim::vmalloc {

inline constexpr std::uint64_t kPageSize = 4096;
inline constexpr unsigned kPageShift = 12;

// vm_struct.flags (include/linux/vmalloc.h, 4.19).
namespace vm_flags {
inline constexpr std::uint64_t kIoremap = 0x001;
inline constexpr std::uint64_t kAlloc = 0x002;
inline constexpr std::uint64_t kMap = 0x004;
inline constexpr std::uint64_t kUsermap = 0x008;
inline constexpr std::uint64_t kUninitialized = 0x020;
inline constexpr std::uint64_t kNoGuard = 0x040;
}  // namespace vm_flags

// vmap_area.flags, private to mm/vmalloc.c in 4.19.
inline constexpr std::uint32_t kVmLazyFree = 0x02;
inline constexpr std::uint32_t kVmVmArea = 0x04;

// IOREMAP_MAX_ORDER on x86-64 is PUD_SHIFT (arch/x86/include/asm/page_types.h overrides the
// generic 7 + PAGE_SHIFT so that huge ioremaps can be 1 GiB aligned).
inline constexpr unsigned kPudShift = 30;
inline constexpr unsigned kIoremapMaxOrder = kPudShift;
// VMAP_MAX_ALLOC: vm_map_ram() requests up to this many pages come from per-CPU blocks.
inline constexpr std::uint32_t kVmapMaxAlloc = 64;
// SHMLBA on x86 is PAGE_SIZE.
inline constexpr std::uint64_t kShmlba = kPageSize;

// pgprot_t values the model knows.
enum class PageProt : std::uint8_t { kKernel, kKernelExec, kKernelRo };
[[nodiscard]] mmu::PteFlags pte_flags(PageProt prot);

// struct vm_struct.
struct VmStruct {
  VmStruct* next = nullptr;  // the early vmlist only
  std::uint64_t addr = 0;
  std::uint64_t size = 0;  // includes the guard page
  std::uint64_t flags = 0;
  std::vector<mmu::Pfn> pages;
  std::uint32_t nr_pages = 0;
  std::uint64_t phys_addr = 0;
  std::string caller;
  std::uint64_t pages_array = 0;  // the vmalloc address of the pages array, when it needed one
};

// get_vm_area_size(): the usable size, without the guard page.
[[nodiscard]] inline std::uint64_t get_vm_area_size(const VmStruct& vm) {
  return (vm.flags & vm_flags::kNoGuard) ? vm.size : vm.size - kPageSize;
}

// struct vmap_area.
struct VmapArea : RbNode {
  std::uint64_t va_start = 0;
  std::uint64_t va_end = 0;  // exclusive
  std::uint32_t flags = 0;
  VmStruct* vm = nullptr;
  VmapArea* list_prev = nullptr;  // vmap_area_list, address-sorted
  VmapArea* list_next = nullptr;
  VmapArea* purge_next = nullptr;  // vmap_purge_list (an llist)
  bool lazy = false;               // on vmap_purge_list, waiting for a purge

  // Not the kernel's: what lets the host skip along alloc_vmap_area()'s list walk (the tree
  // is augmented with them; simulated time still pays for every area walked past).
  // va_start minus the previous area's va_end: the hole the walk sees below this area with
  // align 1 (0 for the first area, and for an area overlapping the previous one).
  std::uint64_t gap_before = 0;
  // Over this area's subtree: how many areas, the largest gap_before and the largest va_end.
  std::uint64_t subtree_areas = 1;
  std::uint64_t subtree_max_gap = 0;
  std::uint64_t subtree_max_end = 0;
};

// struct vmap_block.
struct VmapBlock {
  VmapArea* va = nullptr;
  std::uint64_t free = 0;
  std::uint64_t dirty = 0;
  std::uint64_t dirty_min = 0;
  std::uint64_t dirty_max = 0;
  int cpu = 0;                // the per-CPU queue it was created on
  bool on_free_list = false;  // still in that queue
  std::list<VmapBlock*>::iterator free_list;
};

// A user mapping remap_vmalloc_range() fills (the parts of vm_area_struct it uses).
struct UserVma {
  std::uint32_t mm = 1;
  std::uint64_t vm_start = 0;
  std::uint64_t vm_end = 0;
  bool dont_expand = false;  // VM_DONTEXPAND | VM_DONTDUMP, set on success
};

// One lazy purge: what it freed and the range it flushed.
struct PurgeRecord {
  std::uint64_t areas = 0;
  std::uint64_t pages = 0;
  std::uint64_t flush_start = 0;
  std::uint64_t flush_end = 0;
};

// How often each value occurred (value -> count): a distribution kept exactly in memory that
// grows with the number of distinct values, not with the run's length.
using ValueCounts = std::map<std::uint64_t, std::uint64_t>;

// Every purge, summarised: the distributions of areas and pages freed and of the flushed
// range's pages (flush_end - flush_start, in pages).
struct PurgeSummary {
  ValueCounts areas;
  ValueCounts pages;
  ValueCounts flush_range_pages;
};

struct VmallocStats {
  // Calls of the seed's API.
  std::uint64_t vmalloc = 0;
  std::uint64_t vzalloc = 0;
  std::uint64_t vmalloc_user = 0;
  std::uint64_t vmalloc_node = 0;
  std::uint64_t vzalloc_node = 0;
  std::uint64_t vmalloc_exec = 0;
  std::uint64_t vmalloc_32 = 0;
  std::uint64_t vmalloc_32_user = 0;
  std::uint64_t vmalloc_node_range = 0;  // __vmalloc_node_range, all callers
  std::uint64_t vfree = 0;
  std::uint64_t vfree_atomic = 0;
  std::uint64_t vunmap = 0;
  std::uint64_t vmap = 0;
  std::uint64_t vm_map_ram = 0;
  std::uint64_t vm_unmap_ram = 0;
  std::uint64_t vm_unmap_aliases = 0;
  std::uint64_t get_vm_area = 0;
  std::uint64_t remove_vm_area = 0;
  std::uint64_t alloc_vm_area = 0;
  std::uint64_t map_kernel_range_noflush = 0;
  std::uint64_t unmap_kernel_range_noflush = 0;
  std::uint64_t unmap_kernel_range = 0;
  std::uint64_t vread = 0;
  std::uint64_t vwrite = 0;
  std::uint64_t remap_vmalloc_range = 0;
  std::uint64_t pcpu_get_vm_areas = 0;
  std::uint64_t pcpu_free_vm_areas = 0;
  // What happened.
  std::uint64_t areas_allocated = 0;
  std::uint64_t area_search_list_entries = 0;
  std::uint64_t lazy_frees = 0;
  std::uint64_t lazy_pages = 0;
  std::uint64_t deferred_frees = 0;
  std::uint64_t purges = 0;
  std::uint64_t purges_skipped_busy = 0;
  std::uint64_t purge_flushes = 0;
  std::uint64_t areas_purged = 0;
  std::uint64_t pages_purged = 0;
  std::uint64_t vmap_blocks_created = 0;
  std::uint64_t vmap_blocks_purged = 0;
  std::uint64_t vmap_blocks_freed = 0;
  std::uint64_t vmap_allocation_failures = 0;
  std::uint64_t purge_retries = 0;
  std::uint64_t page_allocation_failures = 0;
  std::uint64_t alias_flushes = 0;

  template <class V>
  void visit(V& v) {
    v.count("vmalloc", vmalloc, "vmalloc() calls");
    v.count("vzalloc", vzalloc, "vzalloc() calls");
    v.count("vmalloc_user", vmalloc_user, "vmalloc_user() calls");
    v.count("vmalloc_node", vmalloc_node, "vmalloc_node() calls");
    v.count("vzalloc_node", vzalloc_node, "vzalloc_node() calls");
    v.count("vmalloc_exec", vmalloc_exec, "vmalloc_exec() calls");
    v.count("vmalloc_32", vmalloc_32, "vmalloc_32() calls");
    v.count("vmalloc_32_user", vmalloc_32_user, "vmalloc_32_user() calls");
    v.count("vmalloc_node_range", vmalloc_node_range,
            "__vmalloc_node_range() calls, from every wrapper and directly");
    v.count("vfree", vfree, "vfree() calls");
    v.count("vfree_atomic", vfree_atomic, "vfree_atomic() calls");
    v.count("vunmap", vunmap, "vunmap() calls");
    v.count("vmap", vmap, "vmap() calls");
    v.count("vm_map_ram", vm_map_ram, "vm_map_ram() calls");
    v.count("vm_unmap_ram", vm_unmap_ram, "vm_unmap_ram() calls");
    v.count("vm_unmap_aliases", vm_unmap_aliases, "vm_unmap_aliases() calls");
    v.count("get_vm_area", get_vm_area, "get_vm_area() and __get_vm_area*() calls");
    v.count("remove_vm_area", remove_vm_area, "remove_vm_area() calls");
    v.count("alloc_vm_area", alloc_vm_area, "alloc_vm_area() calls");
    v.count("map_kernel_range_noflush", map_kernel_range_noflush,
            "map_kernel_range_noflush() calls");
    v.count("unmap_kernel_range_noflush", unmap_kernel_range_noflush,
            "unmap_kernel_range_noflush() calls");
    v.count("unmap_kernel_range", unmap_kernel_range, "unmap_kernel_range() calls");
    v.count("vread", vread, "vread() calls");
    v.count("vwrite", vwrite, "vwrite() calls");
    v.count("remap_vmalloc_range", remap_vmalloc_range,
            "remap_vmalloc_range() and remap_vmalloc_range_partial() calls");
    v.count("pcpu_get_vm_areas", pcpu_get_vm_areas, "pcpu_get_vm_areas() calls");
    v.count("pcpu_free_vm_areas", pcpu_free_vm_areas, "pcpu_free_vm_areas() calls");
    v.count("areas_allocated", areas_allocated, "vmap areas alloc_vmap_area() handed out");
    v.count("area_search_list_entries", area_search_list_entries,
            "busy areas alloc_vmap_area() walked past looking for a hole");
    v.count("lazy_frees", lazy_frees, "areas freed lazily (their TLB flush deferred)");
    v.count("lazy_pages", lazy_pages, "pages those areas covered, guard pages included");
    v.count("deferred_frees", deferred_frees,
            "vfree()s deferred to a work item (in interrupt context, or vfree_atomic)");
    v.count("purges", purges, "lazy purges that freed areas (one TLB flush each)");
    v.count("purges_skipped_busy", purges_skipped_busy,
            "purges the free path skipped because another CPU was purging");
    v.count("purge_flushes", purge_flushes, "TLB flushes the purges issued");
    v.count("areas_purged", areas_purged, "lazily freed areas the purges released");
    v.count("pages_purged", pages_purged, "pages those areas covered");
    v.count("vmap_blocks_created", vmap_blocks_created, "per-CPU vmap blocks created");
    v.count("vmap_blocks_purged", vmap_blocks_purged,
            "fragmented vmap blocks retired by purge_fragmented_blocks()");
    v.count("vmap_blocks_freed", vmap_blocks_freed,
            "vmap blocks freed (to the lazy list) once all their space was freed");
    v.count("vmap_allocation_failures", vmap_allocation_failures,
            "alloc_vmap_area() failures (\"vmap allocation for size N failed\")");
    v.count("purge_retries", purge_retries, "alloc_vmap_area() retries after a purge");
    v.count("page_allocation_failures", page_allocation_failures,
            "vmalloc page allocations that failed");
    v.count("alias_flushes", alias_flushes,
            "TLB flushes vm_unmap_aliases() issued itself (no lazy area to purge)");
  }
};

class Vmalloc {
 public:
  Vmalloc(Kernel& kernel, PageAllocator& pages, const KernelLayout& layout,
          const VmallocConfig& config, const VmallocCosts& costs);
  ~Vmalloc();
  Vmalloc(const Vmalloc&) = delete;
  Vmalloc& operator=(const Vmalloc&) = delete;

  // Boot.
  void vm_area_add_early(VmStruct* vm);
  void vm_area_register_early(VmStruct* vm, std::uint64_t align);
  void vmalloc_init();
  [[nodiscard]] bool initialized() const { return vmap_initialized_; }

  // The vmalloc family.
  std::uint64_t __vmalloc_node_range(std::uint64_t size, std::uint64_t align, std::uint64_t start,
                                     std::uint64_t end, std::uint32_t gfp_mask, PageProt prot,
                                     std::uint64_t vm_flags, int node, std::string_view caller);
  std::uint64_t __vmalloc_node(std::uint64_t size, std::uint64_t align, std::uint32_t gfp_mask,
                               PageProt prot, int node, std::string_view caller);
  std::uint64_t vmalloc(std::uint64_t size, std::string_view caller = "vmalloc");
  std::uint64_t vzalloc(std::uint64_t size, std::string_view caller = "vzalloc");
  std::uint64_t vmalloc_user(std::uint64_t size, std::string_view caller = "vmalloc_user");
  std::uint64_t vmalloc_node(std::uint64_t size, int node,
                             std::string_view caller = "vmalloc_node");
  std::uint64_t vzalloc_node(std::uint64_t size, int node,
                             std::string_view caller = "vzalloc_node");
  std::uint64_t vmalloc_exec(std::uint64_t size, std::string_view caller = "vmalloc_exec");
  std::uint64_t vmalloc_32(std::uint64_t size, std::string_view caller = "vmalloc_32");
  std::uint64_t vmalloc_32_user(std::uint64_t size, std::string_view caller = "vmalloc_32_user");
  void vfree(std::uint64_t addr);
  void vfree_atomic(std::uint64_t addr);

  // Mapping pages the caller owns.
  std::uint64_t vmap(const std::vector<mmu::Pfn>& pages, std::uint32_t count, std::uint64_t flags,
                     PageProt prot, std::string_view caller = "vmap");
  void vunmap(std::uint64_t addr);
  std::uint64_t vm_map_ram(const std::vector<mmu::Pfn>& pages, std::uint32_t count, int node,
                           PageProt prot);
  void vm_unmap_ram(std::uint64_t mem, std::uint32_t count);
  void vm_unmap_aliases();

  // Kernel virtual areas.
  VmStruct* __get_vm_area(std::uint64_t size, std::uint64_t flags, std::uint64_t start,
                          std::uint64_t end, std::string_view caller = "__get_vm_area");
  VmStruct* get_vm_area(std::uint64_t size, std::uint64_t flags,
                        std::string_view caller = "get_vm_area");
  VmStruct* find_vm_area(std::uint64_t addr);
  VmStruct* remove_vm_area(std::uint64_t addr);
  void free_vm_area(VmStruct* area);
  VmStruct* alloc_vm_area(std::uint64_t size, std::vector<mmu::PhysAddr>* ptes,
                          std::string_view caller = "alloc_vm_area");
  int map_vm_area(VmStruct* area, PageProt prot, const std::vector<mmu::Pfn>& pages);
  int map_kernel_range_noflush(std::uint64_t addr, std::uint64_t size, PageProt prot,
                               const std::vector<mmu::Pfn>& pages);
  void unmap_kernel_range_noflush(std::uint64_t addr, std::uint64_t size);
  void unmap_kernel_range(std::uint64_t addr, std::uint64_t size);

  // Access from the outside.
  long vread(std::uint8_t* buf, std::uint64_t addr, std::uint64_t count);
  long vwrite(const std::uint8_t* buf, std::uint64_t addr, std::uint64_t count);
  int remap_vmalloc_range_partial(UserVma& vma, std::uint64_t uaddr, std::uint64_t kaddr,
                                  std::uint64_t size);
  int remap_vmalloc_range(UserVma& vma, std::uint64_t addr, std::uint64_t pgoff);
  // The page a vmalloc address maps, if any (vmalloc_to_page).
  [[nodiscard]] std::optional<mmu::Pfn> vmalloc_to_page(std::uint64_t addr);

  // The percpu allocator's congruent areas. Returns an empty vector on failure.
  std::vector<VmStruct*> pcpu_get_vm_areas(const std::vector<std::uint64_t>& offsets,
                                           const std::vector<std::uint64_t>& sizes,
                                           std::uint64_t align);
  void pcpu_free_vm_areas(std::vector<VmStruct*>& vms);
  bool pvm_find_next_prev(std::uint64_t end, VmapArea** pnext, VmapArea** pprev);
  std::uint64_t pvm_determine_end(VmapArea** pnext, VmapArea** pprev, std::uint64_t align);

  // Per-CPU vmap blocks (exposed for tests: the seed documents new_vmap_block()).
  std::uint64_t new_vmap_block(unsigned order, std::uint32_t gfp_mask);

  // /proc/vmallocinfo, in the kernel's line format.
  [[nodiscard]] std::string vmallocinfo() const;

  // Inspection, for statistics and tests.
  [[nodiscard]] std::uint64_t lazy_max_pages();
  [[nodiscard]] std::uint64_t vmap_lazy_nr() const { return vmap_lazy_nr_; }
  [[nodiscard]] std::uint64_t vmap_bbmap_bits() const { return vmap_bbmap_bits_; }
  [[nodiscard]] std::uint64_t vmap_block_size() const { return vmap_bbmap_bits_ * kPageSize; }
  [[nodiscard]] std::uint64_t vmap_area_pcpu_hole() const { return vmap_area_pcpu_hole_; }
  [[nodiscard]] std::uint64_t cached_hole_size() const { return cached_hole_size_; }
  [[nodiscard]] const VmapArea* free_vmap_cache() const { return free_vmap_cache_; }
  [[nodiscard]] std::size_t busy_areas() const { return tree_.size(); }
  [[nodiscard]] const VmapArea* first_area() const { return list_head_; }
  [[nodiscard]] std::size_t purge_list_length() const;
  [[nodiscard]] const std::list<VmapBlock*>& vmap_block_queue(int cpu) const {
    return block_queues_[cpu];
  }
  [[nodiscard]] const KernelLayout& layout() const { return layout_; }
  [[nodiscard]] const VmallocStats& stats() const { return stats_; }
  // The first kPurgeRecordsKept purges one by one (like the kernel log's first lines), and
  // every purge summarised.
  static constexpr std::size_t kPurgeRecordsKept = 64;
  [[nodiscard]] const std::vector<PurgeRecord>& purge_records() const { return purges_; }
  [[nodiscard]] const PurgeSummary& purge_summary() const { return purge_summary_; }
  // Deferred frees queued on `cpu` and not yet run.
  [[nodiscard]] std::size_t deferred_pending(int cpu) const { return deferred_[cpu].size(); }
  // Whether the books balance: vmap_lazy_nr equals the pages on the purge list, the list and
  // the tree hold the same areas in address order, and the tree's search summaries are right.
  // Returns "" or what is wrong.
  [[nodiscard]] std::string check_invariants() const;
  // Whether the area tree's search summaries (VmapArea::gap_before and the subtree fields)
  // match the areas, whatever else is wrong. Returns "" or the first area where they do not.
  [[nodiscard]] std::string check_search_summary() const;

  // alloc_vmap_area() walks the busy areas one by one, as 4.19 does (the reference), instead
  // of skipping along the augmented tree; both give the same results and charges. For tests.
  void use_linear_area_search(bool linear) { linear_area_search_ = linear; }

  // Called at the end of every purge that freed areas (vmalloc/invariants.h's checks run
  // there when the machine asks for them); nothing by default.
  void set_purge_hook(std::function<void()> hook) { purge_hook_ = std::move(hook); }

  // The internal allocator, exposed for tests.
  VmapArea* alloc_vmap_area(std::uint64_t size, std::uint64_t align, std::uint64_t vstart,
                            std::uint64_t vend, int node, std::uint32_t gfp_mask);
  VmapArea* find_vmap_area(std::uint64_t addr);

 private:
  friend class InvariantChecker;  // vmalloc/invariants.h reads the books
  friend class InvariantView;

  // The kva allocator.
  VmapArea* __find_vmap_area(std::uint64_t addr);
  void __insert_vmap_area(VmapArea* va);
  void __free_vmap_area(VmapArea* va);
  void free_vmap_area(VmapArea* va);
  void unmap_vmap_area(VmapArea* va);
  void free_vmap_area_noflush(VmapArea* va);
  void free_unmap_vmap_area(VmapArea* va);
  bool __purge_vmap_area_lazy(std::uint64_t start, std::uint64_t end);
  void try_purge_vmap_area_lazy();
  void purge_vmap_area_lazy();
  // Sets va->gap_before from the area before it and brings the tree's summaries up to date.
  void update_gap_before(VmapArea* va);
  void record_purge(const PurgeRecord& record);

  // vmap blocks.
  std::uint64_t addr_to_vb_idx(std::uint64_t addr) const;
  void free_vmap_block(VmapBlock* vb);
  void purge_fragmented_blocks(int cpu);
  void purge_fragmented_blocks_allcpus();
  std::uint64_t vb_alloc(std::uint64_t size, std::uint32_t gfp_mask);
  void vb_free(std::uint64_t addr, std::uint64_t size);
  void remove_from_queue(VmapBlock* vb);

  // Areas with a vm_struct.
  VmStruct* __get_vm_area_node(std::uint64_t size, std::uint64_t align, std::uint64_t flags,
                               std::uint64_t start, std::uint64_t end, int node,
                               std::uint32_t gfp_mask, std::string_view caller);
  void setup_vmalloc_vm(VmStruct* vm, VmapArea* va, std::uint64_t flags, std::string_view caller);
  std::uint64_t __vmalloc_area_node(VmStruct* area, std::uint32_t gfp_mask, PageProt prot,
                                    int node);
  void __vunmap(std::uint64_t addr, bool deallocate_pages);
  void __vfree_deferred(std::uint64_t addr);
  void free_work(int cpu);
  int vmap_page_range(std::uint64_t start, std::uint64_t end, PageProt prot,
                      const std::vector<mmu::Pfn>& pages);
  void vunmap_page_range(std::uint64_t start, std::uint64_t end);
  void aligned_vread(std::uint8_t* buf, std::uint64_t addr, std::uint64_t count);
  void aligned_vwrite(const std::uint8_t* buf, std::uint64_t addr, std::uint64_t count);

  // Helpers.
  void charge(std::uint64_t cycles) { kernel_.charge(cycles); }
  void warn(const std::string& function, const std::string& message);
  void bug(const std::string& function, const std::string& condition);
  // A BUG or oops: the kernel's report. The operation that hit it ends there.
  void oops(const std::string& text);
  void warn_alloc(std::uint32_t gfp_mask, const std::string& message);
  VmapArea* new_vmap_area();
  void delete_vmap_area(VmapArea* va);
  VmStruct* new_vm_struct();
  void delete_vm_struct(VmStruct* vm);
  void list_insert_after(VmapArea* va, VmapArea* prev);
  void list_remove(VmapArea* va);

  Kernel& kernel_;
  PageAllocator& pages_;
  KernelLayout layout_;
  VmallocConfig config_;
  VmallocCosts costs_;

  // Locks, by the kernel's names.
  LockId vmap_area_lock_;
  LockId vmap_purge_lock_;
  LockId vmap_block_tree_lock_;
  std::vector<LockId> vbq_locks_;

  // Global kva state.
  RbTree tree_;                    // vmap_area_root
  VmapArea* list_head_ = nullptr;  // vmap_area_list
  VmapArea* list_tail_ = nullptr;
  VmapArea* purge_list_ = nullptr;  // vmap_purge_list
  VmapArea* free_vmap_cache_ = nullptr;
  std::uint64_t cached_hole_size_ = 0;
  std::uint64_t cached_vstart_ = 0;
  std::uint64_t cached_align_ = 0;
  std::uint64_t vmap_area_pcpu_hole_ = 0;
  std::uint64_t vmap_lazy_nr_ = 0;
  bool vmap_initialized_ = false;
  VmStruct* vmlist_ = nullptr;
  std::uint64_t vm_init_off_ = 0;

  // Per-CPU vmap blocks.
  std::uint64_t vmap_bbmap_bits_;
  std::vector<std::list<VmapBlock*>> block_queues_;
  std::map<std::uint64_t, VmapBlock*> vmap_block_tree_;

  // Per-CPU deferred frees (vfree_deferred): addresses waiting for free_work().
  std::vector<std::vector<std::uint64_t>> deferred_;

  // Every vm_struct the model allocated and has not freed: only for membership tests (a
  // pointer the caller already freed is reported, not dereferenced).
  std::unordered_set<VmStruct*> live_vms_;

  bool linear_area_search_ = false;
  std::function<void()> purge_hook_;

  std::uint64_t oopses_ = 0;  // BUGs and oopses reported so far
  VmallocStats stats_;
  std::vector<PurgeRecord> purges_;
  PurgeSummary purge_summary_;
};

}  // namespace mmusim::vmalloc
