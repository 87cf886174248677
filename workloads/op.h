// The Op vocabulary: one operation a simulated CPU executes, in program order. Ops come from
// an OpSource (a trace being replayed, or a generator); workloads/README.md specifies each
// op's text form and operands.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "mmu/types.h"

namespace mmusim::workloads {

enum class OpKind : std::uint8_t {
  // Memory accesses through the MMU.
  kLoad,
  kStore,
  kFetch,
  kTouch,  // loads or stores over [addr, addr + size) every `stride` bytes
  // x86 TLB maintenance instructions.
  kInvlpg,
  kMovCr3,
  kInvpcid,
  kTogglePge,
  // Page-table edits (no TLB flush).
  kMap,
  kUnmap,
  kProtect,
  // Time.
  kCompute,
  // Kernel TLB flushes across CPUs (Linux 4.19 arch/x86/mm/tlb.c).
  kFlushTlbKernelRange,  // [addr, value): value kTlbFlushAll means everything
  kFlushTlbAll,
  // Halting and interrupt masking.
  kIdle,  // halt for `value` cycles or until an interrupt; value 0: until an interrupt
  kIrqOff,
  kIrqOn,
  // Kernel locks, by name.
  kSpinLock,
  kSpinUnlock,
  kMutexLock,
  kMutexUnlock,
  // The guest's API (Linux 4.19 mm/vmalloc.c). A handle ($name) binds the address an op
  // returns; later ops refer to it.
  kVmalloc,
  kVzalloc,
  kVmallocUser,
  kVmallocNode,
  kVzallocNode,
  kVmallocExec,
  kVmalloc32,
  kVmalloc32User,
  kVmallocNodeAlign,  // __vmalloc_node
  kVmallocNodeRange,  // __vmalloc_node_range
  kVfree,
  kVfreeAtomic,
  kVmap,
  kVunmap,
  kVmMapRam,
  kVmUnmapRam,
  kVmUnmapAliases,
  kGetVmArea,
  kFindVmArea,
  kRemoveVmArea,
  kFreeVmArea,
  kAllocVmArea,
  kMapKernelRangeNoflush,
  kUnmapKernelRangeNoflush,
  kUnmapKernelRange,
  kVread,
  kVwrite,
  kRemapVmallocRange,
  kRemapVmallocRangePartial,
  kPcpuGetVmAreas,
  kPcpuFreeVmAreas,
  kVmAreaAddEarly,
  kVmAreaRegisterEarly,
  // x86 page attributes of kernel memory (arch/x86/mm/pageattr.c): vm_unmap_aliases(), the
  // PTE change, then a kernel TLB flush of the range.
  kSetMemoryRo,
  kSetMemoryRw,
  kSetMemoryX,
  kSetMemoryNx,
  kVmallocinfo,  // writes /proc/vmallocinfo as it is now to the output folder
  // Interrupt context: the ops between "irq {" and "}" run in an interrupt handler.
  kIrqEnter,
  kIrqExit,
  // Named spans of a CPU's ops ("begin fix_size_alloc_test" ... "end fix_size_alloc_test"):
  // their simulated time and the guest calls that failed inside are reported per name.
  kSpanBegin,
  kSpanEnd,
};
inline constexpr int kNumOpKinds = static_cast<int>(OpKind::kSpanEnd) + 1;

// The first and last kinds of the guest's API.
inline constexpr OpKind kFirstGuestOp = OpKind::kVmalloc;
inline constexpr OpKind kLastGuestOp = OpKind::kVmallocinfo;
[[nodiscard]] constexpr bool is_guest_op(OpKind kind) {
  return kind >= kFirstGuestOp && kind <= kLastGuestOp;
}
// What a trace's "boot" lines may hold: page-table edits and early vmalloc registrations,
// done before time starts (and before vmalloc_init()).
[[nodiscard]] constexpr bool is_boot_op(OpKind kind) {
  return kind == OpKind::kMap || kind == OpKind::kUnmap || kind == OpKind::kProtect ||
         kind == OpKind::kVmAreaAddEarly || kind == OpKind::kVmAreaRegisterEarly;
}

// Longest name an op can carry (a lock's or a handle's); names are [A-Za-z_][A-Za-z0-9_]*.
inline constexpr std::size_t kMaxOpName = 31;

// flush_tlb_kernel_range's end for "everything" (the kernel's TLB_FLUSH_ALL).
inline constexpr std::uint64_t kTlbFlushAll = ~std::uint64_t{0};

[[nodiscard]] const char* op_name(OpKind kind);
// The kind named `name` (as in a trace); false when unknown.
bool parse_op_name(const std::string& name, OpKind& out);

// Flag bits; which ones an op accepts is listed in workloads/README.md.
namespace op_flags {
inline constexpr std::uint32_t kUser = 1u << 0;      // access at CPL 3 / user-accessible page
inline constexpr std::uint32_t kReadOnly = 1u << 1;  // map/protect: R/W clear
inline constexpr std::uint32_t kNoExecute = 1u << 2;
inline constexpr std::uint32_t kGlobal = 1u << 3;
inline constexpr std::uint32_t kNoFlush = 1u << 4;  // mov_cr3: bit 63
inline constexpr std::uint32_t kStore = 1u << 5;    // touch: stores instead of loads
inline constexpr std::uint32_t kWriteThrough = 1u << 6;
inline constexpr std::uint32_t kCacheDisable = 1u << 7;
inline constexpr std::uint32_t kHasFrame = 1u << 8;  // map: `frame` names the first frame
// The address operand was "$handle[+offset]": `name` holds the handle, `addr` the offset.
inline constexpr std::uint32_t kHandleAddr = 1u << 9;
// Guest ops: gfp and vm_struct flags.
inline constexpr std::uint32_t kZero = 1u << 10;      // __GFP_ZERO
inline constexpr std::uint32_t kDma32 = 1u << 11;     // GFP_DMA32
inline constexpr std::uint32_t kExec = 1u << 12;      // PAGE_KERNEL_EXEC
inline constexpr std::uint32_t kNoGuard = 1u << 13;   // VM_NO_GUARD
inline constexpr std::uint32_t kIoremap = 1u << 14;   // VM_IOREMAP
inline constexpr std::uint32_t kVmAlloc = 1u << 15;   // VM_ALLOC
inline constexpr std::uint32_t kVmMap = 1u << 16;     // VM_MAP
inline constexpr std::uint32_t kUsermap = 1u << 17;   // VM_USERMAP
inline constexpr std::uint32_t kModules = 1u << 18;   // __vmalloc_node_range in the module area
inline constexpr std::uint32_t kHasCount = 1u << 19;  // vm_unmap_ram: an explicit count
}  // namespace op_flags

struct Op {
  OpKind kind = OpKind::kCompute;
  mmu::PageSize page = mmu::PageSize::k4K;  // map
  std::uint16_t pcid = 0;                   // mov_cr3, invpcid
  std::uint32_t flags = 0;
  std::uint32_t mm = 0;    // address space: 0 is the kernel's; others are user processes
  std::int32_t node = -1;  // guest ops: NUMA node (-1: NUMA_NO_NODE)
  std::uint64_t addr = 0;  // virtual address (an offset when kHandleAddr)
  std::uint64_t size = 0;  // bytes (map, unmap, protect, touch, guest ops)
  // compute, idle: cycles; invpcid: type; map: first frame; touch: stride;
  // flush_tlb_kernel_range: end; guest ops: a count of pages or areas, or a user address
  std::uint64_t value = 0;
  std::uint64_t align = 0;  // guest ops: alignment (0: the op's default)
  std::uint64_t extra = 0;  // guest ops: a second value (pcpu_get_vm_areas: stride; pgoff)
  std::array<char, kMaxOpName + 1> name{};  // a lock's or a handle's name, NUL-terminated

  [[nodiscard]] bool has(std::uint32_t flag) const { return (flags & flag) != 0; }
  [[nodiscard]] std::string_view name_view() const { return std::string_view(name.data()); }
  // Sets the name; false (and no change) when it is too long.
  bool set_name(std::string_view text) {
    if (text.size() > kMaxOpName) return false;
    name.fill('\0');
    text.copy(name.data(), text.size());
    return true;
  }
  friend bool operator==(const Op& a, const Op& b) {
    return a.kind == b.kind && a.page == b.page && a.flags == b.flags && a.pcid == b.pcid &&
           a.mm == b.mm && a.node == b.node && a.addr == b.addr && a.size == b.size &&
           a.value == b.value && a.align == b.align && a.extra == b.extra && a.name == b.name;
  }
  friend bool operator!=(const Op& a, const Op& b) { return !(a == b); }
};

// The canonical text of an op (without the CPU column), as the trace writer emits it.
[[nodiscard]] std::string format_op(const Op& op);

// A per-CPU stream of ops, produced lazily.
class OpSource {
 public:
  virtual ~OpSource() = default;
  // The next op, or false at the end of the stream. Throws TraceError on malformed input.
  virtual bool next(Op& op) = 0;
  // Where the op last returned came from ("trace.txt:57", or "hw_synthetic op 1200").
  [[nodiscard]] virtual std::string where() const = 0;
};

}  // namespace mmusim::workloads
