// Sparse simulated physical memory. A 4 KiB frame materialises (zero-filled) on its first
// write; reading a frame never written returns zeros. Memory is split evenly into NUMA nodes
// by frame number. The frame allocator hands out frames for page tables and for pages the
// traces map without naming a frame.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "mmu/flat_map.h"
#include "mmu/types.h"

namespace mmusim::mmu {

struct PhysMemConfig {
  std::uint64_t size_bytes = std::uint64_t{16} << 30;
  std::uint32_t numa_nodes = 1;

  static constexpr std::uint64_t kMinBytes = std::uint64_t{16} << 20;
  // The guest may use all of it, and what it uses costs host memory: a mapped page about
  // 1/240 of its size (its page-table entry and the vm_struct's page array), a page-table page
  // its whole 4 KiB. 4 TiB used through vmalloc() needs about 17 GiB of host memory.
  static constexpr std::uint64_t kMaxBytes = std::uint64_t{1} << 42;

  template <class V>
  void visit(V& v) {
    v.bytes("size", size_bytes, kMinBytes, kMaxBytes,
            "Physical memory size (bytes, or a string such as \"16GiB\"); frames are "
            "materialised only when written, so a large size costs nothing until the guest "
            "uses it (about 4 MiB of host memory per GiB it maps)");
    v.integer("numa_nodes", numa_nodes, 1u, 64u,
              "NUMA nodes; memory is split evenly between them by frame number");
  }
};

struct PhysMemStats {
  std::uint64_t frames_materialised = 0;
  std::uint64_t out_of_range_accesses = 0;

  template <class V>
  void visit(V& v) {
    v.count("frames_materialised", frames_materialised, "4 KiB frames written at least once");
    v.count("out_of_range_accesses", out_of_range_accesses,
            "reads or writes beyond the configured memory size (read as zero, writes dropped)");
  }
};

class PhysMem {
 public:
  explicit PhysMem(const PhysMemConfig& config);

  [[nodiscard]] std::uint64_t size_bytes() const { return size_bytes_; }
  [[nodiscard]] std::uint64_t frame_count() const { return size_bytes_ >> kPageShift; }
  [[nodiscard]] std::uint32_t numa_nodes() const { return numa_nodes_; }
  [[nodiscard]] std::uint32_t node_of(Pfn pfn) const {
    return numa_nodes_ == 1 ? 0 : node_of_split(pfn);
  }
  // First frame and frame count of a NUMA node.
  [[nodiscard]] Pfn node_first_frame(std::uint32_t node) const;
  [[nodiscard]] std::uint64_t node_frame_count(std::uint32_t node) const;

  // 8-byte accesses, used by the page walker and the page-table editor (entries are aligned,
  // but an unaligned access that crosses a frame boundary is handled too).
  [[nodiscard]] std::uint64_t read_u64(PhysAddr addr) const;
  void write_u64(PhysAddr addr, std::uint64_t value);

  // Byte-granular copies; may cross frame boundaries. An access that does not lie wholly
  // inside memory counts once as out of range: a read returns zeros, a write is dropped.
  void read(PhysAddr addr, void* dst, std::uint64_t bytes) const;
  void write(PhysAddr addr, const void* src, std::uint64_t bytes);
  void zero_frame(Pfn pfn);

  [[nodiscard]] bool is_materialised(Pfn pfn) const { return find(pfn.value()) != nullptr; }
  // A frame's bytes, for a run of accesses to one page (the page-table editor's): nullptr for
  // a frame never written (it reads as zero), or the frame, materialised on demand. The frame
  // must lie within the memory.
  [[nodiscard]] std::uint8_t* frame_if_materialised(Pfn pfn) {
    const Frame* frame = find(pfn.value());
    return frame == nullptr ? nullptr : const_cast<Frame*>(frame)->data();
  }
  [[nodiscard]] std::uint8_t* frame_for_write(Pfn pfn) { return materialise(pfn.value())->data(); }
  [[nodiscard]] const PhysMemStats& stats() const { return stats_; }

 private:
  using Frame = std::array<std::uint8_t, kPageBytes>;
  [[nodiscard]] bool in_range(std::uint64_t addr, std::uint64_t bytes) const;
  [[nodiscard]] std::uint32_t node_of_split(Pfn pfn) const;
  [[nodiscard]] const Frame* find(std::uint64_t pfn) const {
    if (pfn == last_pfn_) return last_frame_;
    Frame* const* frame = frames_.find(pfn);
    if (frame == nullptr) return nullptr;
    last_pfn_ = pfn;
    last_frame_ = *frame;
    return *frame;
  }
  Frame* materialise(std::uint64_t pfn);

  std::uint64_t size_bytes_;
  std::uint32_t numa_nodes_;
  // Every page walk step reads a frame: found through a flat map, owned by `storage_`.
  FlatU64Map<Frame*> frames_;
  // The frame found last (a walk or an edit reads and writes one table page after another):
  // frames are never dropped, so it stays valid.
  mutable std::uint64_t last_pfn_ = ~std::uint64_t{0};
  mutable Frame* last_frame_ = nullptr;
  std::vector<std::unique_ptr<Frame>> storage_;
  mutable PhysMemStats stats_;
};

// Where page-table pages (and anonymous mapped frames) come from.
class FrameAllocator {
 public:
  virtual ~FrameAllocator() = default;
  // A free frame on `node` (any node if that one is exhausted); nullopt when memory is full.
  virtual std::optional<Pfn> allocate_frame(std::uint32_t node) = 0;
  virtual void free_frame(Pfn pfn) = 0;
};

// A deterministic allocator: per node, freed frames first (lowest number first), then a bump
// pointer. The first `reserved_frames` frames of node 0 are never handed out (low memory).
class SimpleFrameAllocator final : public FrameAllocator {
 public:
  SimpleFrameAllocator(const PhysMem& memory, std::uint64_t reserved_frames);
  std::optional<Pfn> allocate_frame(std::uint32_t node) override;
  void free_frame(Pfn pfn) override;
  [[nodiscard]] std::uint64_t allocated() const { return allocated_; }

 private:
  struct Node {
    std::uint64_t next;
    std::uint64_t end;
    std::vector<std::uint64_t> free;  // kept as a min-heap
  };
  std::optional<Pfn> take(Node& node);

  const PhysMem& memory_;
  std::vector<Node> nodes_;
  std::uint64_t allocated_ = 0;
};

}  // namespace mmusim::mmu
