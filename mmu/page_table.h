// The page-table editor: builds, changes and tears down x86-64 mappings by writing entries
// into simulated physical memory. It is what a kernel's page-table code does, and nothing
// more: it never flushes a TLB. Whoever changes a present leaf is told through PteObserver,
// so the stale-translation check can mark TLB entries derived from it.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "mmu/phys_mem.h"
#include "mmu/pte.h"
#include "mmu/types.h"

namespace mmusim::mmu {

// Notified when a present leaf entry is cleared or changed (a not-present entry becoming present
// is not reported: TLBs never cache not-present translations).
class PteObserver {
 public:
  virtual ~PteObserver() = default;
  // `va` is the first address the leaf mapped, `size` its page size, `pte_addr` where it lives.
  virtual void leaf_changed(PhysAddr pte_addr, VirtAddr va, PageSize size) = 0;
};

enum class EditStatus {
  kOk,
  kMisaligned,     // address or length not aligned to the page size
  kNonCanonical,   // range leaves the canonical half it starts in
  kAlreadyMapped,  // map: a present entry is in the way (the kernel's -EBUSY)
  kWouldSplit,     // unmap/protect covers part of a large page
  kOutOfMemory,    // no frame for a page table
};
[[nodiscard]] const char* to_string(EditStatus status);

struct EditResult {
  EditStatus status = EditStatus::kOk;
  std::uint64_t entries_written = 0;  // leaf entries set, cleared or changed
  std::uint64_t tables_allocated = 0;
  VirtAddr failed_at{0};  // where a failing edit stopped

  [[nodiscard]] bool ok() const { return status == EditStatus::kOk; }
};

// A leaf mapping as software sees it (functional lookup: no A/D updates, no statistics).
struct Mapping {
  Pfn frame;  // first frame of the page
  PageSize size = PageSize::k4K;
  Pte pte;
  PhysAddr pte_addr;
  [[nodiscard]] PhysAddr translate(VirtAddr va) const {
    return frame.addr() + va.page_offset(size);
  }
};

struct PageTableStats {
  std::uint64_t tables_allocated = 0;
  std::uint64_t leaves_set = 0;
  std::uint64_t leaves_cleared = 0;
  std::uint64_t leaves_changed = 0;

  template <class V>
  void visit(V& v) {
    v.count("tables_allocated", tables_allocated, "page-table pages allocated by edits");
    v.count("leaves_set", leaves_set, "leaf entries made present");
    v.count("leaves_cleared", leaves_cleared, "present leaf entries cleared");
    v.count("leaves_changed", leaves_changed, "present leaf entries whose permissions changed");
  }
};

class PageTableEditor {
 public:
  PageTableEditor(PhysMem& memory, FrameAllocator& frames, PagingMode mode,
                  PteObserver* observer = nullptr);

  [[nodiscard]] PagingMode mode() const { return mode_; }
  void set_observer(PteObserver* observer) { observer_ = observer; }

  // A new, empty top-level table; nullopt when out of memory.
  std::optional<Pfn> create_root(std::uint32_t node = 0);
  // Makes sure a next-level table exists under every upper-half (kernel) top-level entry of
  // `root`, so that address spaces sharing those entries see every later kernel mapping.
  EditResult populate_kernel_half(Pfn root);
  // Copies the upper-half (kernel) top-level entries of `from` into `to`.
  void share_kernel_half(Pfn to, Pfn from);

  // Maps [va, va + length) to consecutive frames starting at `frame`, with pages of `size`.
  EditResult map(Pfn root, VirtAddr va, std::uint64_t length, Pfn frame, PageSize size,
                 const PteFlags& flags);
  // Maps 4 KiB pages at va, va + 4 KiB, ... to the given frames, in order.
  EditResult map_pages(Pfn root, VirtAddr va, const std::vector<Pfn>& frames,
                       const PteFlags& flags);
  // Clears every present leaf in [va, va + length). Holes are skipped; tables are kept.
  EditResult unmap(Pfn root, VirtAddr va, std::uint64_t length);
  // Sets the permission bits of every present leaf in the range (frames and A/D kept).
  EditResult protect(Pfn root, VirtAddr va, std::uint64_t length, const PteFlags& flags);
  // Builds the page tables down to the PTE level for every 4 KiB page touching
  // [va, va + length) without mapping anything, and, when `slots` is given, appends the
  // address of each page's PTE (the kernel's apply_to_page_range()). A large leaf in the way
  // is kAlreadyMapped.
  EditResult populate(Pfn root, VirtAddr va, std::uint64_t length,
                      std::vector<PhysAddr>* slots = nullptr);

  // The leaf mapping `va`, if any (a functional walk).
  [[nodiscard]] std::optional<Mapping> lookup(Pfn root, VirtAddr va) const;

  [[nodiscard]] const PageTableStats& stats() const { return stats_; }

 private:
  enum class Op { kMap, kUnmap, kProtect, kPopulate };
  struct Edit {
    Edit(Op kind, PageSize page, Pfn first) : op(kind), size(page), next_frame(first) {}
    Op op;
    PageSize size;                             // map: page size to create
    Pfn next_frame;                            // map: next frame to use (consecutive mode)
    const std::vector<Pfn>* frames = nullptr;  // map_pages: explicit frames
    std::size_t frame_index = 0;
    PteFlags flags;
    std::vector<PhysAddr>* slots = nullptr;  // populate
    EditResult result;

    // map: the frame for the next page of `frames_per_page` frames.
    Pfn take_frame(std::uint64_t frames_per_page) {
      if (frames != nullptr) return (*frames)[frame_index++];
      const Pfn frame = next_frame;
      next_frame = next_frame + frames_per_page;
      return frame;
    }
    // map: an entry already present stops the edit there.
    bool refuse_mapped(Pte old, std::uint64_t va) {
      if (!old.present()) return false;
      result.status = EditStatus::kAlreadyMapped;
      result.failed_at = VirtAddr{va};
      return true;
    }
  };

  EditResult apply(Pfn root, VirtAddr va, std::uint64_t length, Edit& edit);
  // Applies the edit to [first, last] (inclusive) within the table at `level`.
  bool walk(Pfn table, Level level, std::uint64_t first, std::uint64_t last, Edit& edit);
  bool edit_leaf(PhysAddr slot, Pte old, Level level, std::uint64_t va, Edit& edit);
  // walk() at the PT level for a 4 KiB map or an unmap of whole pages: the same edits, entry
  // by entry and in the same order, on the table page's bytes directly.
  bool edit_pt_run(Pfn table, std::uint64_t first, std::uint64_t last, Edit& edit);
  std::optional<Pfn> new_table(Edit& edit);
  [[nodiscard]] PhysAddr slot_addr(Pfn table, Level level, std::uint64_t va) const {
    return table.addr() + std::uint64_t{level_index(VirtAddr{va}, level)} * 8;
  }

  PhysMem& memory_;
  FrameAllocator& frames_;
  PagingMode mode_;
  PteObserver* observer_;
  PageTableStats stats_;
};

}  // namespace mmusim::mmu
