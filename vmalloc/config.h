// Configuration of the guest: the kernel's compile-time and boot-time choices that change
// vmalloc's behaviour, the page allocator under it, and what each of its steps costs.
#pragma once

#include <array>
#include <cstdint>
#include <utility>

namespace mmusim::vmalloc {

// How many pages may be lazily freed before a purge.
enum class LazyMaxPages : std::uint8_t {
  kLinux,  // fls(online CPUs) x 32 MiB of pages, as Linux computes it
  kFixed,  // vmalloc.lazy_max_pages (0: purge on every lazy free)
};
inline constexpr std::array<std::pair<const char*, LazyMaxPages>, 2> kLazyMaxPagesNames{{
    {"linux", LazyMaxPages::kLinux},
    {"fixed", LazyMaxPages::kFixed},
}};

// Which vm_unmap_aliases(): Linux 4.19's (dirty ranges never reset, fully used blocks never
// visited), or the one Thomas Gleixner's 6.5 series made (all blocks, ranges reset).
enum class UnmapAliases : std::uint8_t { kLinux419, kLinux65 };
inline constexpr std::array<std::pair<const char*, UnmapAliases>, 2> kUnmapAliasesNames{{
    {"4.19", UnmapAliases::kLinux419},
    {"6.5", UnmapAliases::kLinux65},
}};

struct PageAllocConfig {
  std::uint64_t fail_nth = 0;
  std::uint32_t fail_ppm = 0;
  bool fail_page_tables = false;

  template <class V>
  void visit(V& v) {
    v.integer("fail_nth", fail_nth, std::uint64_t{0}, ~std::uint64_t{0},
              "fault injection: the Nth page allocation the guest makes fails (0: off)");
    v.integer("fail_ppm", fail_ppm, 0u, 1'000'000u,
              "fault injection: each guest page allocation fails with this probability, in "
              "parts per million (seeded)");
    v.boolean("fail_page_tables", fail_page_tables,
              "fault injection applies to page-table pages too");
  }
};

// Cycles of the guest's own work (page-table writes are charged from latency.pte_write and
// latency.table_alloc, locks from latency.lock).
struct VmallocCosts {
  std::uint32_t call = 40;
  std::uint32_t kmalloc = 60;
  std::uint32_t kfree = 40;
  std::uint32_t tree_node = 8;
  std::uint32_t list_entry = 10;
  std::uint32_t page_alloc = 250;
  std::uint32_t page_free = 120;
  std::uint32_t zero_bytes_per_cycle = 16;
  std::uint32_t atomic = 20;
  std::uint32_t block_entry = 15;
  std::uint32_t copy_bytes_per_cycle = 8;

  template <class V>
  void visit(V& v) {
    constexpr std::uint32_t kMax = 10'000'000;
    v.integer("call", call, 0u, kMax, "entering any vmalloc API function");
    v.integer("kmalloc", kmalloc, 0u, kMax, "allocating a small object (vmap_area, vm_struct...)");
    v.integer("kfree", kfree, 0u, kMax, "freeing a small object");
    v.integer("tree_node", tree_node, 0u, kMax, "each rbtree node a search visits");
    v.integer("list_entry", list_entry, 0u, kMax, "each list entry a walk visits");
    v.integer("page_alloc", page_alloc, 0u, kMax, "allocating one page");
    v.integer("page_free", page_free, 0u, kMax, "freeing one page");
    v.integer("zero_bytes_per_cycle", zero_bytes_per_cycle, 1u, 4096u,
              "bytes zeroed per cycle (__GFP_ZERO)");
    v.integer("atomic", atomic, 0u, kMax,
              "an atomic update of a shared counter or list (vmap_lazy_nr, llist_add)");
    v.integer("block_entry", block_entry, 0u, kMax, "each vmap block a per-CPU queue walk visits");
    v.integer("copy_bytes_per_cycle", copy_bytes_per_cycle, 1u, 4096u,
              "bytes copied per cycle (vread, vwrite)");
  }
};

struct VmallocConfig {
  std::uint32_t nr_cpus = 1024;
  LazyMaxPages lazy_max_pages_mode = LazyMaxPages::kLinux;
  std::uint64_t lazy_max_pages = 0;
  UnmapAliases vm_unmap_aliases = UnmapAliases::kLinux419;
  bool debug_pagealloc = false;
  bool kaslr = false;
  bool skip_purge_flush = false;
  PageAllocConfig page_alloc;

  template <class V>
  void visit(V& v) {
    v.integer("nr_cpus", nr_cpus, 1u, 8192u,
              "NR_CPUS, the kernel's compile-time CPU limit (at least platform.cpus): it sizes "
              "the per-CPU vmap blocks, VMAP_BBMAP_BITS = 2^25 / roundup_pow_of_two(NR_CPUS) / 16 "
              "clamped to 128..1024 pages: 1024 up to NR_CPUS 2048, 256 at 8192 (MAXSMP)");
    v.choice("lazy_max_pages_mode", lazy_max_pages_mode, kLazyMaxPagesNames,
             "linux: fls(online CPUs) x 32 MiB of pages may wait for a purge; fixed: "
             "vmalloc.lazy_max_pages");
    v.integer("lazy_max_pages", lazy_max_pages, std::uint64_t{0}, std::uint64_t{1} << 40,
              "with lazy_max_pages_mode fixed: the threshold (0: every lazy free purges)");
    v.choice("vm_unmap_aliases", vm_unmap_aliases, kUnmapAliasesNames,
             "4.19: as Linux 4.19 (with its known gaps); 6.5: with Thomas Gleixner's fixes");
    v.boolean("debug_pagealloc", debug_pagealloc,
              "CONFIG_DEBUG_PAGEALLOC enabled: every unmap flushes the TLB at once");
    v.boolean("kaslr", kaslr,
              "randomise VMALLOC_START (seeded, in 1 GiB steps) as KASLR's memory "
              "randomisation does");
    v.boolean("skip_purge_flush", skip_purge_flush,
              "a deliberately broken kernel: purges free lazy areas without flushing the TLB "
              "(to see sanitizer.va_reuse_with_stale_tlb catch it)");
    v.section("page_alloc", page_alloc, "the page allocator's fault injection");
  }
};

}  // namespace mmusim::vmalloc
