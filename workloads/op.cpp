#include "workloads/op.h"

#include <array>
#include <cstdio>

namespace mmusim::workloads {
namespace {

// clang-format off
constexpr std::array<const char*, kNumOpKinds> kNames = {
    "load", "store", "fetch", "touch", "invlpg", "mov_cr3", "invpcid", "toggle_pge",
    "map", "unmap", "protect", "compute",
    "flush_tlb_kernel_range", "flush_tlb_all", "idle", "irq_off", "irq_on",
    "spin_lock", "spin_unlock", "mutex_lock", "mutex_unlock",
};
// clang-format on

std::string hex(std::uint64_t value) {
  return mmu::hex(value);
}

void append_flag(std::string& out, const Op& op, std::uint16_t flag, const char* word) {
  if (op.has(flag)) {
    out += ' ';
    out += word;
  }
}

void append_mm(std::string& out, const Op& op) {
  if (op.mm != 0) out += " mm=" + std::to_string(op.mm);
}

void append_page_flags(std::string& out, const Op& op) {
  append_flag(out, op, op_flags::kReadOnly, "ro");
  append_flag(out, op, op_flags::kUser, "user");
  append_flag(out, op, op_flags::kNoExecute, "nx");
  append_flag(out, op, op_flags::kGlobal, "global");
  append_flag(out, op, op_flags::kWriteThrough, "pwt");
  append_flag(out, op, op_flags::kCacheDisable, "pcd");
}

}  // namespace

const char* op_name(OpKind kind) {
  return kNames[static_cast<std::size_t>(kind)];
}

bool parse_op_name(const std::string& name, OpKind& out) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (name == kNames[i]) {
      out = static_cast<OpKind>(i);
      return true;
    }
  }
  return false;
}

std::string format_op(const Op& op) {
  std::string out = op_name(op.kind);
  switch (op.kind) {
    case OpKind::kLoad:
    case OpKind::kStore:
    case OpKind::kFetch:
      out += ' ' + hex(op.addr);
      append_flag(out, op, op_flags::kUser, "user");
      break;
    case OpKind::kTouch:
      out += ' ' + hex(op.addr) + ' ' + std::to_string(op.size);
      if (op.value != mmu::kPageBytes) out += " stride=" + std::to_string(op.value);
      append_flag(out, op, op_flags::kStore, "store");
      append_flag(out, op, op_flags::kUser, "user");
      break;
    case OpKind::kInvlpg:
      out += ' ' + hex(op.addr);
      break;
    case OpKind::kMovCr3:
      append_mm(out, op);
      if (op.pcid != 0) out += " pcid=" + std::to_string(op.pcid);
      append_flag(out, op, op_flags::kNoFlush, "noflush");
      break;
    case OpKind::kInvpcid:
      out += ' ' + std::to_string(op.value);
      if (op.pcid != 0) out += " pcid=" + std::to_string(op.pcid);
      if (op.addr != 0) out += " addr=" + hex(op.addr);
      break;
    case OpKind::kTogglePge:
      break;
    case OpKind::kMap:
      out += ' ' + hex(op.addr) + ' ' + std::to_string(op.size);
      append_mm(out, op);
      if (op.page != mmu::PageSize::k4K) out += std::string(" page=") + mmu::to_string(op.page);
      if (op.has(op_flags::kHasFrame)) out += " frame=" + hex(op.value);
      append_page_flags(out, op);
      break;
    case OpKind::kUnmap:
      out += ' ' + hex(op.addr) + ' ' + std::to_string(op.size);
      append_mm(out, op);
      break;
    case OpKind::kProtect:
      out += ' ' + hex(op.addr) + ' ' + std::to_string(op.size);
      append_mm(out, op);
      append_page_flags(out, op);
      break;
    case OpKind::kCompute:
      out += ' ' + std::to_string(op.value);
      break;
    case OpKind::kFlushTlbKernelRange:
      out += ' ' + hex(op.addr) + ' ' + (op.value == kTlbFlushAll ? "all" : hex(op.value));
      break;
    case OpKind::kIdle:
      if (op.value != 0) out += ' ' + std::to_string(op.value);
      break;
    case OpKind::kFlushTlbAll:
    case OpKind::kIrqOff:
    case OpKind::kIrqOn:
      break;
    case OpKind::kSpinLock:
    case OpKind::kSpinUnlock:
    case OpKind::kMutexLock:
    case OpKind::kMutexUnlock:
      out += ' ';
      out += op.name_view();
      break;
  }
  return out;
}

}  // namespace mmusim::workloads
