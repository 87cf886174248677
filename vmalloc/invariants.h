// The guest's books, checked: an observer that reads the vmalloc model's state (as a friend)
// and the kernel page tables, and says what does not add up. It takes no simulated time and
// changes nothing, so a run with the checks on simulates exactly what it would without them.
//
// What must hold (each violation is one sentence naming the area, page or counter and the
// numbers that disagree):
// - The lazy books: vmap_lazy_nr equals the pages of the areas on vmap_purge_list (whole areas,
//   guard page included; whole blocks for retired vmap blocks), and the statistics' lazy_pages
//   minus pages_purged; every area on the list is in the tree, marked lazy, has no vm_struct and
//   is no live vmap block; every area marked lazy is on the list, once.
// - The area tree and vmap_area_list: a valid red-black tree; the list holds the tree's areas
//   in the same (address) order, each once, with consistent back links; areas are page
//   aligned, non-empty and do not overlap; the augmented fields (gap_before and the subtree
//   summaries) match the areas; free_vmap_cache is a busy area.
// - vm_structs: an area's vm_struct is one the model allocated (or an early one), covers the
//   area exactly; a vmalloc area's pages are allocated, its own (no other area has them), and
//   mapped in order at its addresses, its guard page unmapped; its pages array, when it has
//   one, is a busy vmalloc area.
// - Page tables over the vmalloc and module areas: every mapped page lies in a busy area that
//   is not lazily freed and not in a guard page, maps an allocated frame, and is no page-table
//   page; a page is mapped at two kernel addresses only when both are mappings of pages a
//   caller passed (vmap, vm_map_ram, map_kernel_range_noflush), never a vmalloc area's own.
// - vmap blocks: each is in the block tree under its index, its area is busy, one block large
//   and aligned; free + dirty never exceeds the block; the pages mapped in it are at most the
//   ones allocated and lie below the bump pointer; the per-CPU queues hold live blocks only,
//   each once, on the queue of the CPU they were made on (when nothing is in flight: exactly
//   the blocks with free space).
// - Deferred frees name busy vmalloc areas; the page allocator's counters match its bitmaps.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vmalloc/vmalloc.h"

namespace mmusim::vmalloc {

// When a check runs: after a purge, while other CPUs may be halfway through a guest call
// (waiting for a lock, a page-table edit or a flush), or with nothing in flight (the end of a
// run, unit tests), which adds the checks that only hold between calls.
enum class CheckMoment : std::uint8_t { kConcurrent, kQuiescent };

// What a busy area is, for the end-of-run teardown that frees whatever a run left allocated.
enum class AreaKind : std::uint8_t {
  kVmalloc,    // a vm_struct with VM_ALLOC whose pages the model allocated: vfree()
  kVmArea,     // any other vm_struct the model allocated (vmap, get_vm_area, percpu...)
  kEarly,      // a boot-time area (vm_area_add_early/register_early): left alone
  kVmapBlock,  // a per-CPU vmap block
  kVmMapRam,   // no vm_struct: vm_map_ram() of more than VMAP_MAX_ALLOC pages
  kLazy,       // freed, waiting for a purge
};

struct AreaInfo {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  AreaKind kind = AreaKind::kVmMapRam;
  VmStruct* vm = nullptr;
  std::uint64_t vm_flags = 0;
};

class InvariantChecker {
 public:
  // Every violation found (empty when the books balance).
  [[nodiscard]] static std::vector<std::string> check(const Vmalloc& guest, CheckMoment moment);

  // After a teardown freed everything a run allocated and purged: the vmalloc space holds
  // nothing but early areas (/proc/vmallocinfo included), nothing is lazy, deferred or in a
  // vmap block, nothing is mapped outside the early areas, and every page the guest or its
  // callers allocated is back in the page allocator (only page-table pages stay in use).
  // Includes check(kQuiescent).
  [[nodiscard]] static std::vector<std::string> check_empty(const Vmalloc& guest);

  // The busy areas in address order, and the one covering `addr`.
  [[nodiscard]] static std::vector<AreaInfo> areas(const Vmalloc& guest);
  [[nodiscard]] static std::optional<AreaInfo> area_at(const Vmalloc& guest, std::uint64_t addr);

  // purge_vmap_area_lazy(): retires every vmap block with nothing allocated in it, then
  // purges every lazily freed area (one TLB flush). Runs the guest's own code, charged.
  static void purge_all(Vmalloc& guest);

  // Test-only hooks that break the books on purpose.
  static void unbalance_lazy_count_for_test(Vmalloc& guest, std::int64_t pages);
  static void set_gap_before_for_test(Vmalloc& guest, std::uint64_t area_start, std::uint64_t gap);
  static void set_block_free_for_test(Vmalloc& guest, std::uint64_t block_start,
                                      std::uint64_t free);
};

}  // namespace mmusim::vmalloc
