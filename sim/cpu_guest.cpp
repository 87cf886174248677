// A CPU executing the guest's API ops: each calls the vmalloc model in this CPU's thread, as a
// kernel thread on this CPU would call mm/vmalloc.c. What a caller would hold (the returned
// address, a vm_struct, the pages it passed to vmap()) is bound to the op's handle.
#include <algorithm>
#include <vector>

#include "sim/cpu.h"
#include "sim/platform.h"
#include "workloads/trace.h"

namespace mmusim::sim {

using workloads::Op;
using workloads::OpKind;
namespace op_flags = workloads::op_flags;
namespace gfp = vmalloc::gfp;
namespace vm_flags = vmalloc::vm_flags;

namespace {

vmalloc::PageProt prot_of(const Op& op) {
  return op.has(op_flags::kExec) ? vmalloc::PageProt::kKernelExec : vmalloc::PageProt::kKernel;
}

std::uint32_t gfp_of(const Op& op) {
  std::uint32_t mask = gfp::kKernel;
  if (op.has(op_flags::kZero)) mask |= gfp::kZero;
  if (op.has(op_flags::kDma32)) mask |= gfp::kDma32;
  return mask;
}

// vm_struct flags named by the op's words.
std::uint64_t vm_flags_of(const Op& op) {
  std::uint64_t flags = 0;
  if (op.has(op_flags::kIoremap)) flags |= vm_flags::kIoremap;
  if (op.has(op_flags::kVmAlloc)) flags |= vm_flags::kAlloc;
  if (op.has(op_flags::kVmMap)) flags |= vm_flags::kMap;
  if (op.has(op_flags::kUsermap)) flags |= vm_flags::kUsermap;
  if (op.has(op_flags::kNoGuard)) flags |= vm_flags::kNoGuard;
  return flags;
}

}  // namespace

GuestHandle& Cpu::wait_for_handle(std::string_view name) {
  for (;;) {
    if (GuestHandle* handle = platform_.find_handle(name)) return *handle;
    // Another CPU binds it later in simulated time (or never: then the run deadlocks and the
    // report names the handle).
    platform_.begin_handle_wait();
    try {
      block(platform_.handle_bound_event(), "handle $", std::string(name) + " to be bound");
    } catch (...) {
      platform_.end_handle_wait();
      throw;
    }
    platform_.end_handle_wait();
    if (ipi_due()) take_interrupts();
  }
}

std::uint64_t Cpu::guest_address(const Op& op) {
  if (!op.has(op_flags::kHandleAddr)) return op.addr;
  return wait_for_handle(op.name_view()).addr + op.addr;
}

void Cpu::bind(const Op& op, GuestHandle handle) {
  // Bound at a synchronised time, so that a CPU that finds it bound is not behind the binding.
  sync();
  if (handle.addr == 0 && handle.vms.empty()) ++ops_.guest_failures;
  platform_.bind_handle(op.name_view(), std::move(handle));
}

std::vector<mmu::Pfn> Cpu::caller_pages(std::uint64_t count, int node) {
  vmalloc::PageAllocator& allocator = platform_.page_allocator();
  const vmalloc::VmallocCosts& costs = platform_.config().latency.vmalloc;
  // More pages than the machine has: the caller could never have gathered them.
  if (count > allocator.totalram_pages()) return {};
  std::vector<mmu::Pfn> pages;
  pages.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    advance(costs.page_alloc, cycles_.kernel);
    const auto page = allocator.alloc_page(gfp::kKernel, node);
    if (!page) {
      for (const mmu::Pfn pfn : pages) {
        advance(costs.page_free, cycles_.kernel);
        allocator.free_page(pfn);
      }
      return {};
    }
    pages.push_back(*page);
  }
  return pages;
}

void Cpu::free_caller_pages(GuestHandle* handle, std::uint64_t addr) {
  // The caller frees its own pages once the mapping that used them is gone.
  if (handle == nullptr || handle->addr != addr || handle->pages.empty()) return;
  const vmalloc::VmallocCosts& costs = platform_.config().latency.vmalloc;
  for (const mmu::Pfn pfn : handle->pages) {
    advance(costs.page_free, cycles_.kernel);
    platform_.page_allocator().free_page(pfn);
  }
  handle->pages.clear();
}

void Cpu::change_page_attr(const Op& op) {
  vmalloc::Vmalloc& guest = platform_.guest();
  std::uint64_t addr = guest_address(op);
  if ((addr & (vmalloc::kPageSize - 1)) != 0) {
    addr &= ~(vmalloc::kPageSize - 1);
    if (platform_.first_time("change_page_attr_set_clr misaligned")) {  // WARN_ON_ONCE
      platform_.kernel_warn("WARNING: CPU: " + std::to_string(id_) +
                            " at arch/x86/mm/pageattr.c change_page_attr_set_clr");
    }
  }
  // No other kernel mapping of these pages may keep the old attributes: drop the lazy vmap
  // aliases first, as 4.19 does on every attribute change.
  guest.vm_unmap_aliases();
  sync();
  mmu::PageTableEditor& editor = platform_.editor();
  const mmu::Pfn root = platform_.kernel_root();
  bool changed = false;
  std::uint64_t entries = 0;
  for (std::uint64_t i = 0; i < op.value; ++i) {
    const mmu::VirtAddr va{addr + i * vmalloc::kPageSize};
    const auto mapping = editor.lookup(root, va);
    if (!mapping) {
      platform_.kernel_warn("WARNING: CPU: " + std::to_string(id_) +
                            " at arch/x86/mm/pageattr.c __cpa_process_fault: CPA: called for "
                            "zero pte. vaddr = " +
                            mmu::hex(va.value()) + " cpa->vaddr = " + mmu::hex(addr));
      break;  // -EFAULT: the pages before it keep their new attributes
    }
    mmu::PteFlags flags = mmu::PteFlags::from_leaf(mapping->pte);
    const mmu::PteFlags old = flags;
    switch (op.kind) {
      case OpKind::kSetMemoryRo:
        flags.writable = false;
        break;
      case OpKind::kSetMemoryRw:
        flags.writable = true;
        break;
      case OpKind::kSetMemoryX:
        flags.no_execute = false;
        break;
      default:
        flags.no_execute = true;
        break;
    }
    if (flags == old) continue;
    const mmu::EditResult result = editor.protect(
        root, va, mmu::page_bytes(mapping->size) - va.page_offset(mapping->size), flags);
    entries += result.entries_written;
    changed = true;
  }
  charge_page_table(entries * platform_.config().latency.pte_write);
  if (!changed) return;  // CPA_FLUSHTLB unset: nothing to flush
  if (!irq_enabled_) {
    platform_.kernel_bug(
        "kernel BUG at arch/x86/mm/pageattr.c cpa_flush_range: "
        "BUG_ON(irqs_disabled()) (CPU " +
        std::to_string(id_) + ")");
    return;
  }
  cpa_flush_range();
}

void Cpu::enter_irq_block() {
  if (in_irq_block_) {
    throw workloads::TraceError(source_->where() +
                                ": 'irq {' inside an irq block (handlers do not nest here)");
  }
  irq_block_where_ = source_->where();
  in_irq_block_ = true;
  irq_enabled_before_block_ = irq_enabled_;
  irq_enabled_ = false;
  in_interrupt_ = true;
  advance(platform_.config().latency.ipi.irq_entry, cycles_.kernel);
}

void Cpu::exit_irq_block() {
  if (!in_irq_block_) throw workloads::TraceError(source_->where() + ": '}' without 'irq {'");
  advance(platform_.config().latency.ipi.irq_exit, cycles_.kernel);
  in_irq_block_ = false;
  in_interrupt_ = false;
  irq_enabled_ = irq_enabled_before_block_;
  take_interrupts();
}

void Cpu::execute_guest(const Op& op) {
  sync();  // the guest's state is shared: act on it in global time order
  platform_.note_guest_used();
  vmalloc::Vmalloc& guest = platform_.guest();
  const std::uint64_t size = op.size;
  auto allocated = [&](std::uint64_t addr) {
    GuestHandle handle;
    handle.addr = addr;
    handle.size = size;
    bind(op, std::move(handle));
  };
  auto failed_if = [&](bool failed) {
    if (failed) ++ops_.guest_failures;
  };

  switch (op.kind) {
    case OpKind::kVmalloc:
      allocated(guest.vmalloc(size));
      break;
    case OpKind::kVzalloc:
      allocated(guest.vzalloc(size));
      break;
    case OpKind::kVmallocUser:
      allocated(guest.vmalloc_user(size));
      break;
    case OpKind::kVmallocNode:
      allocated(guest.vmalloc_node(size, op.node));
      break;
    case OpKind::kVzallocNode:
      allocated(guest.vzalloc_node(size, op.node));
      break;
    case OpKind::kVmallocExec:
      allocated(guest.vmalloc_exec(size));
      break;
    case OpKind::kVmalloc32:
      allocated(guest.vmalloc_32(size));
      break;
    case OpKind::kVmalloc32User:
      allocated(guest.vmalloc_32_user(size));
      break;
    case OpKind::kVmallocNodeAlign:
      allocated(guest.__vmalloc_node(size, op.align == 0 ? 1 : op.align, gfp_of(op), prot_of(op),
                                     op.node, "__vmalloc_node"));
      break;
    case OpKind::kVmallocNodeRange: {
      const vmalloc::KernelLayout& layout = guest.layout();
      const bool modules = op.has(op_flags::kModules);
      allocated(guest.__vmalloc_node_range(
          size, op.align == 0 ? 1 : op.align, modules ? layout.modules_vaddr : layout.vmalloc_start,
          modules ? layout.modules_end : layout.vmalloc_end, gfp_of(op), prot_of(op),
          op.has(op_flags::kNoGuard) ? vm_flags::kNoGuard : 0, op.node,
          modules ? "module_alloc" : "__vmalloc_node_range"));
      break;
    }
    case OpKind::kVfree:
      guest.vfree(guest_address(op));
      break;
    case OpKind::kVfreeAtomic:
      guest.vfree_atomic(guest_address(op));
      break;
    case OpKind::kVunmap: {
      const std::uint64_t addr = guest_address(op);
      guest.vunmap(addr);
      free_caller_pages(platform_.find_handle(op.name_view()), addr);
      break;
    }
    case OpKind::kVmap:
    case OpKind::kVmMapRam: {
      GuestHandle handle;
      handle.size = op.value * vmalloc::kPageSize;
      handle.pages = caller_pages(op.value, op.kind == OpKind::kVmMapRam ? op.node : -1);
      if (handle.pages.size() == op.value) {
        const auto count = static_cast<std::uint32_t>(op.value);
        if (op.kind == OpKind::kVmap) {
          const std::uint64_t flags = vm_flags_of(op);
          handle.addr =
              guest.vmap(handle.pages, count, flags == 0 ? vm_flags::kMap : flags, prot_of(op));
        } else {
          handle.addr = guest.vm_map_ram(handle.pages, count, op.node, prot_of(op));
        }
        if (handle.addr == 0) free_caller_pages(&handle, 0);
      }
      bind(op, std::move(handle));
      break;
    }
    case OpKind::kVmUnmapRam: {
      const std::uint64_t addr = guest_address(op);
      GuestHandle* handle =
          op.has(op_flags::kHandleAddr) ? platform_.find_handle(op.name_view()) : nullptr;
      std::uint64_t count = op.value;
      if (!op.has(op_flags::kHasCount)) {
        if (handle == nullptr || handle->addr != addr) {
          throw workloads::TraceError(source_->where() +
                                      ": vm_unmap_ram needs a page count unless its address is "
                                      "the handle vm_map_ram bound");
        }
        count = handle->size / vmalloc::kPageSize;
      }
      guest.vm_unmap_ram(addr, static_cast<std::uint32_t>(count));
      free_caller_pages(handle, addr);
      break;
    }
    case OpKind::kVmUnmapAliases:
      guest.vm_unmap_aliases();
      break;
    case OpKind::kGetVmArea: {
      GuestHandle handle;
      handle.vm = guest.get_vm_area(size, vm_flags_of(op));
      handle.addr = handle.vm != nullptr ? handle.vm->addr : 0;
      handle.size = size;
      bind(op, std::move(handle));
      break;
    }
    case OpKind::kAllocVmArea: {
      GuestHandle handle;
      std::vector<mmu::PhysAddr> ptes;
      handle.vm = guest.alloc_vm_area(size, &ptes);
      handle.addr = handle.vm != nullptr ? handle.vm->addr : 0;
      handle.size = size;
      bind(op, std::move(handle));
      break;
    }
    case OpKind::kFindVmArea:
      failed_if(guest.find_vm_area(guest_address(op)) == nullptr);
      break;
    case OpKind::kRemoveVmArea: {
      const std::uint64_t addr = guest_address(op);
      // The vm_struct is the caller's now; a trace has no kfree, so it stays with the model.
      failed_if(guest.remove_vm_area(addr) == nullptr);
      free_caller_pages(platform_.find_handle(op.name_view()), addr);
      break;
    }
    case OpKind::kFreeVmArea: {
      GuestHandle& handle = wait_for_handle(op.name_view());
      if (handle.vm == nullptr) {
        platform_.kernel_bug(
            "BUG: unable to handle kernel NULL pointer dereference in "
            "free_vm_area (CPU " +
            std::to_string(id_) + ")");
        break;
      }
      guest.free_vm_area(handle.vm);
      free_caller_pages(&handle, handle.addr);
      break;
    }
    case OpKind::kMapKernelRangeNoflush: {
      const std::uint64_t addr = guest_address(op);
      std::vector<mmu::Pfn> pages =
          caller_pages((size + vmalloc::kPageSize - 1) / vmalloc::kPageSize, -1);
      const int mapped = guest.map_kernel_range_noflush(addr, size, prot_of(op), pages);
      failed_if(mapped < 0);
      GuestHandle* handle =
          op.has(op_flags::kHandleAddr) ? platform_.find_handle(op.name_view()) : nullptr;
      // Pages mapped anywhere in the handle's area stay the caller's until it is unmapped
      // (percpu maps each CPU's unit at an offset): freed now, they would stay mapped.
      if (handle != nullptr && mapped >= 0) {
        handle->pages.insert(handle->pages.end(), pages.begin(), pages.end());
      } else {
        GuestHandle owner;
        owner.pages = std::move(pages);
        free_caller_pages(&owner, 0);  // not mapped, or no handle to keep them with
      }
      break;
    }
    case OpKind::kUnmapKernelRangeNoflush:
    case OpKind::kUnmapKernelRange: {
      const std::uint64_t addr = guest_address(op);
      if (op.kind == OpKind::kUnmapKernelRange) {
        guest.unmap_kernel_range(addr, size);
      } else {
        guest.unmap_kernel_range_noflush(addr, size);
      }
      free_caller_pages(platform_.find_handle(op.name_view()), addr);
      break;
    }
    case OpKind::kVread: {
      std::vector<std::uint8_t> buffer(size);
      failed_if(guest.vread(buffer.data(), guest_address(op), size) == 0);
      break;
    }
    case OpKind::kVwrite: {
      std::vector<std::uint8_t> buffer(size, static_cast<std::uint8_t>(op.extra));
      failed_if(guest.vwrite(buffer.data(), guest_address(op), size) == 0);
      break;
    }
    case OpKind::kRemapVmallocRange:
    case OpKind::kRemapVmallocRangePartial: {
      const std::uint64_t addr = guest_address(op);
      vmalloc::UserVma vma;
      vma.mm = op.mm;
      vma.vm_start = op.value;
      std::uint64_t vma_size = op.kind == OpKind::kRemapVmallocRange ? op.size : op.extra;
      if (vma_size == 0) {
        // Without vsize=, the mapping is as large as what is being mapped.
        const GuestHandle* handle =
            op.has(op_flags::kHandleAddr) ? platform_.find_handle(op.name_view()) : nullptr;
        vma_size = op.kind == OpKind::kRemapVmallocRangePartial ? size
                   : handle != nullptr                          ? handle->size
                                                                : 0;
        vma_size = (vma_size + vmalloc::kPageSize - 1) & ~(vmalloc::kPageSize - 1);
      }
      if (vma_size == 0) {
        throw workloads::TraceError(source_->where() +
                                    ": remap_vmalloc_range needs vsize= unless its address is "
                                    "a handle");
      }
      vma.vm_end = vma.vm_start + vma_size;
      const int rc = op.kind == OpKind::kRemapVmallocRange
                         ? guest.remap_vmalloc_range(vma, addr, op.extra)
                         : guest.remap_vmalloc_range_partial(vma, op.value, addr, size);
      failed_if(rc != 0);
      break;
    }
    case OpKind::kPcpuGetVmAreas: {
      const std::uint64_t align = op.align == 0 ? vmalloc::kPageSize : op.align;
      const std::uint64_t stride = op.extra != 0 ? op.extra : (size + align - 1) & ~(align - 1);
      std::vector<std::uint64_t> offsets;
      std::vector<std::uint64_t> sizes;
      for (std::uint64_t i = 0; i < op.value; ++i) {
        offsets.push_back(i * stride);
        sizes.push_back(size);
      }
      GuestHandle handle;
      handle.vms = guest.pcpu_get_vm_areas(offsets, sizes, align);
      handle.addr = handle.vms.empty() ? 0 : handle.vms.front()->addr;
      handle.size = size;
      bind(op, std::move(handle));
      break;
    }
    case OpKind::kPcpuFreeVmAreas:
      guest.pcpu_free_vm_areas(wait_for_handle(op.name_view()).vms);
      break;
    case OpKind::kVmAreaAddEarly:
    case OpKind::kVmAreaRegisterEarly: {
      // After boot: Linux BUGs (vmalloc_init() has run).
      vmalloc::VmStruct& vm = platform_.caller_vm_struct();
      vm.flags = vm_flags::kAlloc;
      vm.size = size;
      if (op.kind == OpKind::kVmAreaAddEarly) {
        vm.addr = guest_address(op);
        guest.vm_area_add_early(&vm);
      } else {
        guest.vm_area_register_early(&vm, op.align == 0 ? 1 : op.align);
      }
      break;
    }
    case OpKind::kSetMemoryRo:
    case OpKind::kSetMemoryRw:
    case OpKind::kSetMemoryX:
    case OpKind::kSetMemoryNx:
      change_page_attr(op);
      break;
    case OpKind::kVmallocinfo:
      // An observer's snapshot: free of simulated time.
      platform_.add_vmallocinfo_snapshot(guest.vmallocinfo());
      break;
    default:
      throw std::logic_error(std::string("execute_guest: not a guest op: ") + op_name(op.kind));
  }
}

}  // namespace mmusim::sim
