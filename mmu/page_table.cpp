#include "mmu/page_table.h"

#include <algorithm>
#include <cstring>

namespace mmusim::mmu {

const char* to_string(EditStatus status) {
  switch (status) {
    case EditStatus::kOk:
      return "ok";
    case EditStatus::kMisaligned:
      return "misaligned";
    case EditStatus::kNonCanonical:
      return "non-canonical range";
    case EditStatus::kAlreadyMapped:
      return "already mapped";
    case EditStatus::kWouldSplit:
      return "range covers part of a large page";
    case EditStatus::kOutOfMemory:
      return "out of memory for page tables";
  }
  return "?";
}

PageTableEditor::PageTableEditor(PhysMem& memory, FrameAllocator& frames, PagingMode mode,
                                 PteObserver* observer)
    : memory_(memory), frames_(frames), mode_(mode), observer_(observer) {}

std::optional<Pfn> PageTableEditor::create_root(std::uint32_t node) {
  auto pfn = frames_.allocate_frame(node);
  if (pfn) {
    memory_.zero_frame(*pfn);
    ++stats_.tables_allocated;
  }
  return pfn;
}

EditResult PageTableEditor::populate_kernel_half(Pfn root) {
  EditResult result;
  for (unsigned index = 256; index < 512; ++index) {
    const PhysAddr slot = root.addr() + std::uint64_t{index} * 8;
    if (Pte{memory_.read_u64(slot)}.present()) continue;
    auto table = frames_.allocate_frame(0);
    if (!table) {
      result.status = EditStatus::kOutOfMemory;
      return result;
    }
    memory_.zero_frame(*table);
    memory_.write_u64(slot, Pte::table(*table, /*writable=*/true, /*user=*/false).raw());
    ++result.tables_allocated;
    ++stats_.tables_allocated;
  }
  return result;
}

void PageTableEditor::share_kernel_half(Pfn to, Pfn from) {
  for (unsigned index = 256; index < 512; ++index) {
    const std::uint64_t offset = std::uint64_t{index} * 8;
    memory_.write_u64(to.addr() + offset, memory_.read_u64(from.addr() + offset));
  }
}

EditResult PageTableEditor::map(Pfn root, VirtAddr va, std::uint64_t length, Pfn frame,
                                PageSize size, const PteFlags& flags) {
  Edit edit(Op::kMap, size, frame);
  edit.flags = flags;
  if (!va.is_aligned(size) || (length & (page_bytes(size) - 1)) != 0 ||
      (frame.value() & ((page_bytes(size) >> kPageShift) - 1)) != 0) {
    return EditResult{EditStatus::kMisaligned, 0, 0, va};
  }
  return apply(root, va, length, edit);
}

EditResult PageTableEditor::map_pages(Pfn root, VirtAddr va, const std::vector<Pfn>& frames,
                                      const PteFlags& flags) {
  Edit edit(Op::kMap, PageSize::k4K, Pfn{0});
  edit.frames = &frames;
  edit.flags = flags;
  if (!va.is_aligned(PageSize::k4K)) return EditResult{EditStatus::kMisaligned, 0, 0, va};
  return apply(root, va, frames.size() * kPageBytes, edit);
}

EditResult PageTableEditor::unmap(Pfn root, VirtAddr va, std::uint64_t length) {
  Edit edit(Op::kUnmap, PageSize::k4K, Pfn{0});
  if (!va.is_aligned(PageSize::k4K) || (length & (kPageBytes - 1)) != 0) {
    return EditResult{EditStatus::kMisaligned, 0, 0, va};
  }
  return apply(root, va, length, edit);
}

EditResult PageTableEditor::protect(Pfn root, VirtAddr va, std::uint64_t length,
                                    const PteFlags& flags) {
  Edit edit(Op::kProtect, PageSize::k4K, Pfn{0});
  edit.flags = flags;
  if (!va.is_aligned(PageSize::k4K) || (length & (kPageBytes - 1)) != 0) {
    return EditResult{EditStatus::kMisaligned, 0, 0, va};
  }
  return apply(root, va, length, edit);
}

EditResult PageTableEditor::populate(Pfn root, VirtAddr va, std::uint64_t length,
                                     std::vector<PhysAddr>* slots) {
  Edit edit(Op::kPopulate, PageSize::k4K, Pfn{0});
  edit.slots = slots;
  // Every page the byte range touches.
  const std::uint64_t first = va.value() & ~(kPageBytes - 1);
  const std::uint64_t last = va.value() + (length == 0 ? 0 : length - 1);
  if (length == 0) return edit.result;
  return apply(root, VirtAddr{first}, (last | (kPageBytes - 1)) - first + 1, edit);
}

EditResult PageTableEditor::apply(Pfn root, VirtAddr va, std::uint64_t length, Edit& edit) {
  if (length == 0) return edit.result;
  const std::uint64_t first = va.value();
  const std::uint64_t last = first + (length - 1);
  const bool same_half = (first >> 63) == (last >> 63);
  if (last < first || !same_half || !mode_.is_canonical(va) ||
      !mode_.is_canonical(VirtAddr{last})) {
    edit.result.status = EditStatus::kNonCanonical;
    edit.result.failed_at = va;
    return edit.result;
  }
  walk(root, mode_.top(), first, last, edit);
  return edit.result;
}

std::optional<Pfn> PageTableEditor::new_table(Edit& edit) {
  auto pfn = frames_.allocate_frame(0);
  if (!pfn) return std::nullopt;
  memory_.zero_frame(*pfn);
  ++edit.result.tables_allocated;
  ++stats_.tables_allocated;
  return pfn;
}

bool PageTableEditor::walk(Pfn table, Level level, std::uint64_t first, std::uint64_t last,
                           Edit& edit) {
  if (level == Level::kPt && (first & (kPageBytes - 1)) == 0 &&
      (last & (kPageBytes - 1)) == kPageBytes - 1 &&
      table.addr().value() + kPageBytes <= memory_.size_bytes() &&
      (edit.op == Op::kUnmap || (edit.op == Op::kMap && edit.size == PageSize::k4K))) {
    return edit_pt_run(table, first, last, edit);
  }
  const std::uint64_t span = std::uint64_t{1} << level_shift(level);
  std::uint64_t va = first;
  for (;;) {
    const std::uint64_t entry_base = va & ~(span - 1);
    const std::uint64_t entry_last = entry_base + (span - 1);
    const std::uint64_t sub_last = std::min(last, entry_last);
    const PhysAddr slot = slot_addr(table, level, va);
    const Pte pte{memory_.read_u64(slot)};

    if (edit.op == Op::kMap || edit.op == Op::kPopulate) {
      if (level == leaf_level(edit.size)) {
        if (edit.op == Op::kPopulate) {
          if (edit.slots != nullptr) edit.slots->push_back(slot);
        } else if (!edit_leaf(slot, pte, level, va, edit)) {
          return false;
        }
      } else if (pte.present() && pte.is_leaf(level)) {
        edit.result.status = EditStatus::kAlreadyMapped;
        edit.result.failed_at = VirtAddr{va};
        return false;
      } else {
        Pfn next = pte.table_pfn();
        if (!pte.present()) {
          auto created = new_table(edit);
          if (!created) {
            edit.result.status = EditStatus::kOutOfMemory;
            edit.result.failed_at = VirtAddr{va};
            return false;
          }
          next = *created;
          const bool user_half = (va >> 63) == 0;
          memory_.write_u64(slot, Pte::table(next, /*writable=*/true, user_half).raw());
        }
        if (!walk(next, level_below(level), va, sub_last, edit)) return false;
      }
    } else if (pte.present()) {
      if (pte.is_leaf(level)) {
        if (va != entry_base || sub_last != entry_last) {
          edit.result.status = EditStatus::kWouldSplit;
          edit.result.failed_at = VirtAddr{va};
          return false;
        }
        if (!edit_leaf(slot, pte, level, va, edit)) return false;
      } else if (!walk(pte.table_pfn(), level_below(level), va, sub_last, edit)) {
        return false;
      }
    }
    if (sub_last == last) return true;
    va = sub_last + 1;
  }
}

bool PageTableEditor::edit_pt_run(Pfn table, std::uint64_t first, std::uint64_t last, Edit& edit) {
  // What walk() and edit_leaf() do entry by entry, without an address lookup per access: a
  // table page never written reads as zero (an unmap then finds nothing), and one is
  // materialised by its first write, as write_u64() would.
  std::uint8_t* bytes = memory_.frame_if_materialised(table);
  if (edit.op == Op::kUnmap && bytes == nullptr) return true;
  const std::uint64_t base = table.addr().value();
  const std::uint64_t leaf_bits = edit.flags.leaf_bits(Level::kPt);  // make_leaf()'s flag bits
  for (std::uint64_t va = first;; va += kPageBytes) {
    const std::uint64_t offset = std::uint64_t{level_index(VirtAddr{va}, Level::kPt)} * 8;
    std::uint64_t raw = 0;
    if (bytes != nullptr) std::memcpy(&raw, bytes + offset, sizeof raw);
    const Pte old{raw};
    if (edit.op == Op::kUnmap) {
      if (old.present()) {  // a present PT entry is a 4 KiB leaf
        const std::uint64_t zero = 0;
        std::memcpy(bytes + offset, &zero, sizeof zero);
        ++stats_.leaves_cleared;
        if (observer_ != nullptr) {
          observer_->leaf_changed(PhysAddr{base + offset}, VirtAddr{va}, PageSize::k4K);
        }
        ++edit.result.entries_written;
      }
    } else {
      if (edit.refuse_mapped(old, va)) return false;
      const Pfn frame = edit.take_frame(1);
      if (bytes == nullptr) bytes = memory_.frame_for_write(table);
      const std::uint64_t leaf = (frame.addr().value() & pte_bits::kAddrMask) | leaf_bits;
      std::memcpy(bytes + offset, &leaf, sizeof leaf);
      ++stats_.leaves_set;
      ++edit.result.entries_written;
    }
    if (va + (kPageBytes - 1) == last) return true;
  }
}

bool PageTableEditor::edit_leaf(PhysAddr slot, Pte old, Level level, std::uint64_t va, Edit& edit) {
  switch (edit.op) {
    case Op::kMap: {
      if (edit.refuse_mapped(old, va)) return false;
      const Pfn frame = edit.take_frame(page_bytes(edit.size) >> kPageShift);
      memory_.write_u64(slot, make_leaf(level, frame, edit.flags).raw());
      ++stats_.leaves_set;
      break;
    }
    case Op::kUnmap:
      memory_.write_u64(slot, 0);
      ++stats_.leaves_cleared;
      if (observer_ != nullptr) observer_->leaf_changed(slot, VirtAddr{va}, leaf_size(level));
      break;
    case Op::kPopulate:
      return true;
    case Op::kProtect: {
      // Replace only the bits PteFlags describes; the frame, A/D, PAT (bit 7 of a PTE, bit 12
      // of a large leaf) and the bits the SDM leaves to software (11:9, 62:52) stay.
      const std::uint64_t owned = pte_bits::kPresent | pte_bits::kWritable | pte_bits::kUser |
                                  pte_bits::kPwt | pte_bits::kPcd | pte_bits::kGlobal |
                                  pte_bits::kNoExecute;
      const std::uint64_t updated = (old.raw() & ~owned) | edit.flags.leaf_bits(level);
      if (updated == old.raw()) return true;
      memory_.write_u64(slot, updated);
      ++stats_.leaves_changed;
      if (observer_ != nullptr) observer_->leaf_changed(slot, VirtAddr{va}, leaf_size(level));
      break;
    }
  }
  ++edit.result.entries_written;
  return true;
}

std::optional<Mapping> PageTableEditor::lookup(Pfn root, VirtAddr va) const {
  if (!mode_.is_canonical(va)) return std::nullopt;
  Pfn table = root;
  for (Level level = mode_.top();; level = level_below(level)) {
    const PhysAddr slot = slot_addr(table, level, va.value());
    const Pte pte{memory_.read_u64(slot)};
    if (!pte.present()) return std::nullopt;
    if (pte.is_leaf(level)) {
      return Mapping{pte.leaf_pfn(level), leaf_size(level), pte, slot};
    }
    if (level == Level::kPt) return std::nullopt;
    table = pte.table_pfn();
  }
}

}  // namespace mmusim::mmu
