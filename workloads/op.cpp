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
    "vmalloc", "vzalloc", "vmalloc_user", "vmalloc_node", "vzalloc_node", "vmalloc_exec",
    "vmalloc_32", "vmalloc_32_user", "__vmalloc_node", "__vmalloc_node_range",
    "vfree", "vfree_atomic", "vmap", "vunmap", "vm_map_ram", "vm_unmap_ram", "vm_unmap_aliases",
    "get_vm_area", "find_vm_area", "remove_vm_area", "free_vm_area", "alloc_vm_area",
    "map_kernel_range_noflush", "unmap_kernel_range_noflush", "unmap_kernel_range",
    "vread", "vwrite", "remap_vmalloc_range", "remap_vmalloc_range_partial",
    "pcpu_get_vm_areas", "pcpu_free_vm_areas", "vm_area_add_early", "vm_area_register_early",
    "set_memory_ro", "set_memory_rw", "set_memory_x", "set_memory_nx",
    "vmallocinfo", "irq", "}", "begin", "end",
};
// clang-format on

std::string hex(std::uint64_t value) {
  return mmu::hex(value);
}

void append_flag(std::string& out, const Op& op, std::uint32_t flag, const char* word) {
  if (op.has(flag)) {
    out += ' ';
    out += word;
  }
}

// An address operand: "$handle", "$handle+0x10", or the number.
std::string address(const Op& op) {
  if (!op.has(op_flags::kHandleAddr)) return hex(op.addr);
  std::string out = "$" + std::string(op.name_view());
  if (op.addr != 0) out += "+" + hex(op.addr);
  return out;
}

std::string handle(const Op& op) {
  return "$" + std::string(op.name_view());
}

void append_vm_flags(std::string& out, const Op& op) {
  append_flag(out, op, op_flags::kIoremap, "ioremap");
  append_flag(out, op, op_flags::kVmAlloc, "alloc");
  append_flag(out, op, op_flags::kVmMap, "map");
  append_flag(out, op, op_flags::kUsermap, "usermap");
  append_flag(out, op, op_flags::kNoGuard, "noguard");
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
      out += ' ' + address(op);
      append_flag(out, op, op_flags::kUser, "user");
      break;
    case OpKind::kTouch:
      out += ' ' + address(op);
      // After a handle, no size means the rest of what the handle's op allocated.
      if (op.size != 0 || !op.has(op_flags::kHandleAddr)) out += ' ' + std::to_string(op.size);
      if (op.value != mmu::kPageBytes) out += " stride=" + std::to_string(op.value);
      append_flag(out, op, op_flags::kStore, "store");
      append_flag(out, op, op_flags::kUser, "user");
      break;
    case OpKind::kInvlpg:
      out += ' ' + address(op);
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
    case OpKind::kVmalloc:
    case OpKind::kVzalloc:
    case OpKind::kVmallocUser:
    case OpKind::kVmallocExec:
    case OpKind::kVmalloc32:
    case OpKind::kVmalloc32User:
    case OpKind::kAllocVmArea:
      out += ' ' + handle(op) + ' ' + std::to_string(op.size);
      break;
    case OpKind::kVmallocNode:
    case OpKind::kVzallocNode:
      out += ' ' + handle(op) + ' ' + std::to_string(op.size);
      if (op.node >= 0) out += " node=" + std::to_string(op.node);
      break;
    case OpKind::kVmallocNodeAlign:
    case OpKind::kVmallocNodeRange:
      out += ' ' + handle(op) + ' ' + std::to_string(op.size);
      if (op.align != 0) out += " align=" + std::to_string(op.align);
      if (op.node >= 0) out += " node=" + std::to_string(op.node);
      append_flag(out, op, op_flags::kModules, "modules");
      append_flag(out, op, op_flags::kNoGuard, "noguard");
      append_flag(out, op, op_flags::kZero, "zero");
      append_flag(out, op, op_flags::kDma32, "dma32");
      append_flag(out, op, op_flags::kExec, "exec");
      break;
    case OpKind::kVfree:
    case OpKind::kVfreeAtomic:
    case OpKind::kVunmap:
    case OpKind::kFindVmArea:
    case OpKind::kRemoveVmArea:
      out += ' ' + address(op);
      break;
    case OpKind::kVmap:
      out += ' ' + handle(op) + ' ' + std::to_string(op.value);
      append_vm_flags(out, op);
      break;
    case OpKind::kVmMapRam:
      out += ' ' + handle(op) + ' ' + std::to_string(op.value);
      if (op.node >= 0) out += " node=" + std::to_string(op.node);
      break;
    case OpKind::kVmUnmapRam:
      out += ' ' + address(op);
      if (op.has(op_flags::kHasCount)) out += ' ' + std::to_string(op.value);
      break;
    case OpKind::kVmUnmapAliases:
    case OpKind::kVmallocinfo:
      break;
    case OpKind::kGetVmArea:
      out += ' ' + handle(op) + ' ' + std::to_string(op.size);
      append_vm_flags(out, op);
      break;
    case OpKind::kFreeVmArea:
    case OpKind::kPcpuFreeVmAreas:
      out += ' ' + handle(op);
      break;
    case OpKind::kMapKernelRangeNoflush:
      out += ' ' + address(op) + ' ' + std::to_string(op.size);
      append_flag(out, op, op_flags::kExec, "exec");
      break;
    case OpKind::kUnmapKernelRangeNoflush:
    case OpKind::kUnmapKernelRange:
    case OpKind::kVread:
    case OpKind::kVmAreaAddEarly:
      out += ' ' + address(op) + ' ' + std::to_string(op.size);
      break;
    case OpKind::kVwrite:
      out += ' ' + address(op) + ' ' + std::to_string(op.size);
      if (op.extra != 0) out += " byte=" + std::to_string(op.extra);
      break;
    case OpKind::kRemapVmallocRange:
      out += ' ' + address(op) + " mm=" + std::to_string(op.mm) + " uaddr=" + hex(op.value);
      if (op.extra != 0) out += " pgoff=" + std::to_string(op.extra);
      if (op.size != 0) out += " vsize=" + std::to_string(op.size);
      break;
    case OpKind::kRemapVmallocRangePartial:
      out += ' ' + address(op) + ' ' + std::to_string(op.size) + " mm=" + std::to_string(op.mm) +
             " uaddr=" + hex(op.value);
      if (op.extra != 0) out += " vsize=" + std::to_string(op.extra);
      break;
    case OpKind::kPcpuGetVmAreas:
      out += ' ' + handle(op) + ' ' + std::to_string(op.value) + ' ' + std::to_string(op.size);
      if (op.extra != 0) out += " stride=" + std::to_string(op.extra);
      if (op.align != 0) out += " align=" + std::to_string(op.align);
      break;
    case OpKind::kVmAreaRegisterEarly:
      out += ' ' + handle(op) + ' ' + std::to_string(op.size);
      if (op.align != 0) out += " align=" + std::to_string(op.align);
      break;
    case OpKind::kIrqEnter:
      out += " {";
      break;
    case OpKind::kIrqExit:
      break;
    case OpKind::kSetMemoryRo:
    case OpKind::kSetMemoryRw:
    case OpKind::kSetMemoryX:
    case OpKind::kSetMemoryNx:
      out += ' ' + address(op) + ' ' + std::to_string(op.value);
      break;
    case OpKind::kSpanBegin:
    case OpKind::kSpanEnd:
      out += ' ';
      out += op.name_view();
      break;
  }
  return out;
}

}  // namespace mmusim::workloads
