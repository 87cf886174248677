// The kernel's real users of vmalloc as generated workloads (workload.kind "scenarios"), each
// reproducing a Linux 4.19 path closely enough that its TLB shootdowns are the kernel's: every
// CPU runs a seeded weighted sequence of scenario iterations, each iteration wrapped in a span
// named after its scenario ("begin module_load" ... "end module_load"), so the statistics
// report each scenario's simulated time. Handles are per CPU ("c3_mod", "c3_stack1", ...)
// and reused from one iteration to the next, so a CPU's stream needs memory for one iteration
// only, however many it runs.
//
// vmap_stack (kernel/fork.c, CONFIG_VMAP_STACK): a thread is created with a 16 KiB stack
// (THREAD_SIZE, aligned to THREAD_ALIGN = THREAD_SIZE) from the per-CPU cache of
// NR_CACHED_STACKS = 2 stacks, slot 0 first (a reused stack is cleared: "touch ... store"),
// or else from __vmalloc_node_range(..., THREADINFO_GFP = zeroed); the stack's end gets its
// STACK_END_MAGIC store. Each of the iteration's threads then runs, writing the top of its
// stack, and exits: its stack fills the first empty cache slot, or is freed with
// vfree_atomic() when both are taken. A thread exits on the CPU that created it: migration
// is not modelled, since an exit on another CPU would make that CPU's cache (and so its op
// stream) depend on the other CPU's stream, which per-CPU lazy generators cannot share
// deterministically.
//
// module_load (kernel/module.c, arch/x86/kernel/module.c): module_alloc() of the core and of
// the init layout (__vmalloc_node_range in the module area, PAGE_KERNEL_EXEC, MODULE_ALIGN =
// PAGE_SIZE), the image written, then exactly 4.19's attribute calls, each a set_memory_* op
// (which runs vm_unmap_aliases() and, when an entry changed, a global flush on every CPU):
// complete_formation's module_enable_ro(mod, false) and module_enable_nx(mod); the init
// function fetched; do_init_module's module_enable_ro(mod, true) and disable_ro_nx() of the
// init layout; core text fetched while the module is used; the init layout freed by the RCU
// callback do_free_init() (softirq: an "irq { }" block, where vfree() defers); then
// free_module()'s disable_ro_nx() of the emptied init layout (six calls of 0 pages at NULL,
// each still running vm_unmap_aliases() in 4.19) and of the core, and module_memfree(). The
// layouts are 4.19's with CONFIG_STRICT_MODULE_RWX: text, rodata, ro_after_init and data each
// page-aligned; the init layout has no rodata here. Simplifications: one pass writes the image
// (memset and section copies), relocations and ftrace's NOP patching (done while the text is
// writable) are not separate ops, no KASLR load offset, and the grace period before
// do_free_init() is the module's use phase.
//
// bpf_jit (kernel/bpf/core.c, kernel/bpf/syscall.c, arch/x86/net/bpf_jit_comp.c): per program,
// bpf_prog_alloc()'s zeroed __vmalloc of round_up(56 + 8 x insns, PAGE_SIZE) (56: offsetof
// struct bpf_prog, insns, on x86-64), the instructions copied in and read once (verifier and
// JIT passes), bpf_jit_binary_alloc(): module_alloc(round_up(proglen + 4 + 128, PAGE_SIZE)),
// filled with int3, the image written at a random offset (start = random % hole, as 4.19
// draws it), bpf_jit_binary_lock_ro() and bpf_prog_lock_ro() (set_memory_ro); the programs
// run (one fetch per image page, and one cycle per instruction); then each is freed as
// bpf_jit_free() does: set_memory_rw and module_memfree() of the image, set_memory_rw and
// vfree() of the bpf_prog. Simplifications: bpf_prog_realloc() for verifier rewrites is not
// modelled, and proglen is insns x jit_bytes_per_insn.
//
// xfs_buf (fs/xfs/xfs_buf.c): buffers of 2^n pages mapped with vm_map_ram() by
// _xfs_buf_map_pages() (the caller's pages; per-CPU vmap blocks up to 64 pages), read or
// written, and unmapped with vm_unmap_ram() by xfs_buf_free(). 4.19 retries a failed
// vm_map_ram() after vm_unmap_aliases(); a generator cannot see results, so the retry is left
// out.
//
// ring_buffer: a driver's ring mapped into a user process. The process (mm = CPU + 1, its
// PCID from the config) is switched in; its open() makes the driver vmalloc_user() the ring,
// its mmap() remap_vmalloc_range()s it at 0x7f0000000000. Each round, a device interrupt
// ("irq { }", no address-space switch) fills the next data page and the head in the control
// page through the kernel mapping, and the process reads the head and the page and writes the
// tail through its user mapping. Then munmap(): the user range is unmapped and flushed as
// flush_tlb_mm_range() does locally (one INVLPG per page up to 4.19's ceiling of 33 pages,
// else a CR3 write without no-flush); close() makes the driver vfree() the ring; the process
// exits and the CPU switches back to the kernel's address space.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "workloads/config.h"
#include "workloads/workload.h"

namespace mmusim::workloads {

enum class Scenario : std::uint8_t { kVmapStack, kModuleLoad, kBpfJit, kXfsBuf, kRingBuffer };
inline constexpr int kNumScenarios = 5;

// Each scenario's name (its config section and its span) with its paragraph for `mmusim list`.
inline constexpr std::array<WorkloadInfo, kNumScenarios> kScenarioCatalog{{
    {"vmap_stack",
     "Thread stacks with CONFIG_VMAP_STACK (kernel/fork.c): each thread's 16 KiB stack comes "
     "from the CPU's cache of two (cleared on reuse) or __vmalloc_node_range(); on exit it "
     "refills the cache or is freed with vfree_atomic()."},
    {"module_load",
     "A module's life (kernel/module.c): module_alloc() of core and init, the image written, "
     "4.19's set_memory_ro/nx calls (each runs vm_unmap_aliases() and, if it changed a page, "
     "flushes every CPU's TLB), init run and freed from an RCU callback, the text fetched, then "
     "unload: set_memory_rw/x and module_memfree()."},
    {"bpf_jit",
     "BPF programs (kernel/bpf): bpf_prog_alloc()'s __vmalloc, bpf_jit_binary_alloc()'s "
     "module_alloc(), both locked read-only with set_memory_ro, the programs run (fetches), then "
     "bpf_jit_free(): set_memory_rw and free, for image and program."},
    {"xfs_buf",
     "XFS multi-page buffers (fs/xfs/xfs_buf.c): vm_map_ram() of 2^n pages through the per-CPU "
     "vmap blocks, contents read or written, vm_unmap_ram(), whose dirty blocks wait for "
     "vm_unmap_aliases() or a purge to be flushed."},
    {"ring_buffer",
     "A driver's ring buffer mapped to user space: vmalloc_user() and remap_vmalloc_range() into "
     "a process, an interrupt filling pages through the kernel mapping and the process reading "
     "them through its own, then munmap() with a local flush and vfree()."},
}};

// The workload's paragraph for `mmusim list`, then each scenario's on a line of its own
// ("scenarios.vmap_stack: ...").
[[nodiscard]] const char* scenarios_description();

[[nodiscard]] constexpr const char* scenario_name(Scenario scenario) {
  return kScenarioCatalog[static_cast<int>(scenario)].name;
}

// The user address a CPU's process maps its ring at, and the process's address space.
inline constexpr std::uint64_t kRingUserAddress = 0x7f0000000000ull;
[[nodiscard]] constexpr std::uint32_t ring_process_mm(int cpu) {
  return static_cast<std::uint32_t>(cpu) + 1;
}

// The random streams (mmu::Rng under run.seed): "workload.scenarios.mix.cpuN" picks each
// iteration's scenario (one below(total weight) per iteration, the scenarios' weights taken in
// the order above), and "workload.scenarios.NAME.cpuN" draws that scenario's values, each range
// with one between(min, max), in the order scenarios.cpp lists for the scenario.
class ScenariosWorkload final : public Workload {
 public:
  ScenariosWorkload(const ScenariosConfig& config, std::uint64_t seed)
      : config_(config), seed_(seed) {}
  std::unique_ptr<OpSource> source(int cpu) override;

 private:
  ScenariosConfig config_;
  std::uint64_t seed_;
};

}  // namespace mmusim::workloads
