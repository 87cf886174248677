// Linux's vmalloc test module, lib/test_vmalloc.c (Uladzislau Rezki, merged in 5.1), as a
// generator: each CPU that runs it executes the module's selected tests, each run of a test
// wrapped in a span named after it, so that the statistics report what the module prints
// (passed, failed, time) in simulated time. The module came after 4.19, but every call it
// makes exists in 4.19's API, which is what the guest models.
//
// The tests, by run_test_mask bit (as in the current kernel; handles are per CPU, "cN_..."):
//   1 fix_size_alloc_test: loop: vmalloc 3 pages, write a byte, vfree (the 5.1 version).
//   2 full_fit_alloc_test: J = fls(online CPUs) x 8192 pairs of 1-page areas, the second of
//     each freed (J one-page holes); loop: vmalloc 1 page, write, vfree; then free the rest.
//   4 long_busy_list_alloc_test: 15000 live 1-page areas; loop: vmalloc 100 pages and 1 page,
//     write both, vfree both; then free the 15000.
//   8 random_size_alloc_test: loop: vmalloc 1..100 pages (seeded), write, vfree.
//  16 fix_align_alloc_test: loop: __vmalloc_node 5 pages aligned to THREAD_ALIGN << 1 (32 KiB
//     on x86-64), zeroed, vfree.
//  32 random_size_align_alloc_test: loop: r random; __vmalloc_node (r % 10 + 1) pages aligned
//     to 1 << (r % 23), zeroed, vfree.
//  64 align_shift_alloc_test: 1 page aligned to 2^i for i = 0, 1, ...: it returns at the first
//     failure, which is certain where 2^i alignment leaves no room in the vmalloc area (computed
//     from the layout, align_shift_first_failure); so it is expected to fail, as in Linux.
//     (When CPUs run it at the same time, one's live area can take the only place a large
//     alignment has, and the other fails earlier; its ops still go on to that alignment.)
// 128 pcpu_alloc_test: 35000 __alloc_percpu of 1..1024 bytes aligned to 2^((i % 11) + 1),
//     then 35000 free_percpu; only what it does to vmalloc is modelled (see PcpuChunkGeometry).
// 1024 vm_map_ram_test: loop: vm_map_ram 1 page, write, vm_unmap_ram (the op allocates and
//     frees its page on every call; the module allocates it once).
// The arrays of pointers the tests keep are vmalloc'ed too, and storing to and loading from
// them are accesses through the vmalloc area, as in the kernel.
//
// A generator cannot see results. The kernel's tests return at the first NULL; the generator
// emits the whole loop, except where the failure is certain (align_shift_alloc_test). A test
// whose call fails for a reason no one can foresee (memory exhausted) still reports failed,
// since its span then holds a guest call that failed; its later ops run on a NULL handle.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "workloads/config.h"
#include "workloads/workload.h"

namespace mmusim::workloads {

struct TestVmallocCase {
  std::uint32_t id;  // run_test_mask bit
  const char* name;  // the span's name and the module's test name
  bool modelled;
};

// The module's test table, in its order (the current kernel's: the shuffle permutes all of it).
inline constexpr std::array<TestVmallocCase, 11> kTestVmallocCases{{
    {1, "fix_size_alloc_test", true},
    {2, "full_fit_alloc_test", true},
    {4, "long_busy_list_alloc_test", true},
    {8, "random_size_alloc_test", true},
    {16, "fix_align_alloc_test", true},
    {32, "random_size_align_alloc_test", true},
    {64, "align_shift_alloc_test", true},
    {128, "pcpu_alloc_test", true},
    {256, "kvfree_rcu_1_arg_vmalloc_test", false},
    {512, "kvfree_rcu_2_arg_vmalloc_test", false},
    {1024, "vm_map_ram_test", true},
}};

// The span around one CPU's whole run, from its first test to its last (the worker kthread
// "vmalloc_test/N" timing itself with get_cycles()).
inline constexpr const char* kTestVmallocWorkerSpan = "vmalloc_test";

// The first i for which __vmalloc_node(PAGE_SIZE, 1 << i) must fail in `vmalloc`: its 1-page
// area plus guard page aligned to 2^i either lies past VMALLOC_END or wraps past 2^64 (the
// kernels from 5.0 on, and stable ones, reject that with "addr < vstart", commit afd07389d3f4;
// 4.19.0 hit BUG_ON(va->va_start < vstart)). 64 when every shift fits. 46 with 4-level paging,
// 55 with 5-level.
[[nodiscard]] int align_shift_first_failure(const VmallocSpan& vmalloc);

// pcpu_alloc_test on x86-64: the percpu allocator embeds its first chunk in the direct map
// (pcpu_embed_first_chunk, atom size PMD_SIZE); every further chunk is one vm area per group
// from pcpu_get_vm_areas(), populated page by page with map_kernel_range_noflush() for every
// possible CPU, and released by unmapping every CPU's pages (unmap_kernel_range_noflush), one
// flush_tlb_kernel_range() from the lowest CPU's first page to the highest CPU's last, and
// pcpu_free_vm_areas(). The chunk geometry follows pcpu_build_alloc_info() for one group
// (no NUMA distance) and a 4.19 x86-64 first chunk of 144 KiB static, 8 KiB reserved and
// 28 KiB dynamic percpu data ("Embedded 45 pages/cpu s147456 r8192 d28672").
//
// Simplifications (deterministic, per CPU): the test's allocations fill chunks in order (a
// bump pointer; the allocator's best fit in earlier chunks' tails is not modelled) and never
// the first chunk (taken by the kernel's own data); each CPU keeps its own chunks (Linux
// shares them between CPUs); a chunk whose last allocation is freed becomes the one spare
// free chunk, and the chunk that was spare before is depopulated and destroyed at once
// (Linux's balance work does it soon after, keeping the chunk freed last); the balance work's
// pre-population for atomic allocations, the allocator's own CPU work and the clearing of
// each allocation are not modelled. The trace's flush op takes numbers only and the chunk's
// address is known only when it runs, so the highest CPU's unmap is an unmap_kernel_range() over
// the whole range, which flushes exactly what pcpu_post_unmap_tlb_flush() flushes (the pages it
// walks again are already clear).
struct PcpuChunkGeometry {
  static constexpr std::uint64_t kAtomSize = std::uint64_t{2} << 20;  // PMD_SIZE
  std::uint64_t unit_size = 0;                                        // bytes of one CPU's unit
  std::uint32_t units_per_alloc = 0;
  std::uint32_t nr_units = 0;   // units in the group: possible CPUs, rounded up
  std::uint64_t area_size = 0;  // nr_units x unit_size: the vm area of a chunk
};
[[nodiscard]] PcpuChunkGeometry pcpu_chunk_geometry(int possible_cpus);

class TestVmallocWorkload final : public Workload {
 public:
  // Throws std::invalid_argument when nr_threads exceeds `cpus`.
  TestVmallocWorkload(const TestVmallocConfig& config, int cpus, std::uint64_t seed,
                      const VmallocSpan& vmalloc);
  std::unique_ptr<OpSource> source(int cpu) override;

 private:
  TestVmallocConfig config_;
  int cpus_;
  std::uint64_t seed_;
  int align_shift_failure_;
};

}  // namespace mmusim::workloads
