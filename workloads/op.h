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
};
inline constexpr int kNumOpKinds = static_cast<int>(OpKind::kMutexUnlock) + 1;

// Longest name an op can carry (a lock's name); names are [A-Za-z_][A-Za-z0-9_]*.
inline constexpr std::size_t kMaxOpName = 31;

// flush_tlb_kernel_range's end for "everything" (the kernel's TLB_FLUSH_ALL).
inline constexpr std::uint64_t kTlbFlushAll = ~std::uint64_t{0};

[[nodiscard]] const char* op_name(OpKind kind);
// The kind named `name` (as in a trace); false when unknown.
bool parse_op_name(const std::string& name, OpKind& out);

// Flag bits; which ones an op accepts is listed in workloads/README.md.
namespace op_flags {
inline constexpr std::uint16_t kUser = 1u << 0;      // access at CPL 3 / user-accessible page
inline constexpr std::uint16_t kReadOnly = 1u << 1;  // map/protect: R/W clear
inline constexpr std::uint16_t kNoExecute = 1u << 2;
inline constexpr std::uint16_t kGlobal = 1u << 3;
inline constexpr std::uint16_t kNoFlush = 1u << 4;  // mov_cr3: bit 63
inline constexpr std::uint16_t kStore = 1u << 5;    // touch: stores instead of loads
inline constexpr std::uint16_t kWriteThrough = 1u << 6;
inline constexpr std::uint16_t kCacheDisable = 1u << 7;
inline constexpr std::uint16_t kHasFrame = 1u << 8;  // map: `frame` names the first frame
}  // namespace op_flags

struct Op {
  OpKind kind = OpKind::kCompute;
  mmu::PageSize page = mmu::PageSize::k4K;  // map
  std::uint16_t flags = 0;
  std::uint16_t pcid = 0;  // mov_cr3, invpcid
  std::uint32_t mm = 0;    // address space: 0 is the kernel's; others are user processes
  std::uint64_t addr = 0;  // virtual address
  std::uint64_t size = 0;  // bytes (map, unmap, protect, touch)
  // compute, idle: cycles; invpcid: type; map: first frame; touch: stride;
  // flush_tlb_kernel_range: end
  std::uint64_t value = 0;
  std::array<char, kMaxOpName + 1> name{};  // lock ops: the lock's name, NUL-terminated

  [[nodiscard]] bool has(std::uint16_t flag) const { return (flags & flag) != 0; }
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
           a.mm == b.mm && a.addr == b.addr && a.size == b.size && a.value == b.value &&
           a.name == b.name;
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
