#include "mmu/phys_mem.h"

#include <algorithm>
#include <cstring>
#include <functional>

namespace mmusim::mmu {

PhysMem::PhysMem(const PhysMemConfig& config)
    : size_bytes_(config.size_bytes & ~(kPageBytes - 1)),
      numa_nodes_(std::max<std::uint32_t>(1, config.numa_nodes)) {}

std::uint32_t PhysMem::node_of_split(Pfn pfn) const {
  const std::uint64_t per_node = frame_count() / numa_nodes_;
  if (per_node == 0) return 0;
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>(pfn.value() / per_node, numa_nodes_ - 1));
}

Pfn PhysMem::node_first_frame(std::uint32_t node) const {
  return Pfn{frame_count() / numa_nodes_ * node};
}

std::uint64_t PhysMem::node_frame_count(std::uint32_t node) const {
  const std::uint64_t per_node = frame_count() / numa_nodes_;
  // The last node takes the remainder.
  return node + 1 == numa_nodes_ ? frame_count() - per_node * node : per_node;
}

PhysMem::Frame* PhysMem::materialise(std::uint64_t pfn) {
  if (pfn == last_pfn_) return last_frame_;
  Frame*& slot = frames_[pfn];
  if (slot == nullptr) {
    storage_.push_back(std::make_unique<Frame>());
    slot = storage_.back().get();
    slot->fill(0);
    ++stats_.frames_materialised;
  }
  last_pfn_ = pfn;
  last_frame_ = slot;
  return slot;
}

bool PhysMem::in_range(std::uint64_t addr, std::uint64_t bytes) const {
  // Written so that no sum can wrap around 2^64.
  return addr <= size_bytes_ && bytes <= size_bytes_ - addr;
}

std::uint64_t PhysMem::read_u64(PhysAddr addr) const {
  // Page-table entries are aligned: one frame, no range arithmetic beyond the check.
  const std::uint64_t at = addr.value();
  if ((at & 7) == 0 && at < size_bytes_) {
    const Frame* frame = find(at >> kPageShift);
    if (frame == nullptr) return 0;
    std::uint64_t value;
    std::memcpy(&value, frame->data() + (at & (kPageBytes - 1)), sizeof value);
    return value;
  }
  std::uint64_t value = 0;
  read(addr, &value, sizeof value);
  return value;
}

void PhysMem::write_u64(PhysAddr addr, std::uint64_t value) {
  const std::uint64_t at = addr.value();
  if ((at & 7) == 0 && at < size_bytes_) {
    std::memcpy(materialise(at >> kPageShift)->data() + (at & (kPageBytes - 1)), &value,
                sizeof value);
    return;
  }
  write(addr, &value, sizeof value);
}

void PhysMem::read(PhysAddr addr, void* dst, std::uint64_t bytes) const {
  auto* out = static_cast<std::uint8_t*>(dst);
  if (!in_range(addr.value(), bytes)) {
    // One count per access; the whole access reads as zero.
    ++stats_.out_of_range_accesses;
    std::memset(out, 0, bytes);
    return;
  }
  std::uint64_t at = addr.value();
  while (bytes > 0) {
    const std::uint64_t offset = at & (kPageBytes - 1);
    const std::uint64_t chunk = std::min(bytes, kPageBytes - offset);
    const Frame* frame = find(at >> kPageShift);
    if (frame == nullptr) {
      std::memset(out, 0, chunk);
    } else {
      std::memcpy(out, frame->data() + offset, chunk);
    }
    out += chunk;
    at += chunk;
    bytes -= chunk;
  }
}

void PhysMem::write(PhysAddr addr, const void* src, std::uint64_t bytes) {
  if (!in_range(addr.value(), bytes)) {
    // One count per access; nothing of it is written.
    ++stats_.out_of_range_accesses;
    return;
  }
  const auto* in = static_cast<const std::uint8_t*>(src);
  std::uint64_t at = addr.value();
  while (bytes > 0) {
    const std::uint64_t offset = at & (kPageBytes - 1);
    const std::uint64_t chunk = std::min(bytes, kPageBytes - offset);
    std::memcpy(materialise(at >> kPageShift)->data() + offset, in, chunk);
    in += chunk;
    at += chunk;
    bytes -= chunk;
  }
}

void PhysMem::zero_frame(Pfn pfn) {
  // A frame that was never written already reads as zero: nothing to materialise.
  if (Frame* const* frame = frames_.find(pfn.value())) (*frame)->fill(0);
}

SimpleFrameAllocator::SimpleFrameAllocator(const PhysMem& memory, std::uint64_t reserved_frames)
    : memory_(memory) {
  for (std::uint32_t n = 0; n < memory.numa_nodes(); ++n) {
    const std::uint64_t first = memory.node_first_frame(n).value();
    const std::uint64_t end = first + memory.node_frame_count(n);
    nodes_.push_back(Node{n == 0 ? std::min(first + reserved_frames, end) : first, end, {}});
  }
}

std::optional<Pfn> SimpleFrameAllocator::take(Node& node) {
  if (!node.free.empty()) {
    std::pop_heap(node.free.begin(), node.free.end(), std::greater<>());
    const std::uint64_t pfn = node.free.back();
    node.free.pop_back();
    ++allocated_;
    return Pfn{pfn};
  }
  if (node.next < node.end) {
    ++allocated_;
    return Pfn{node.next++};
  }
  return std::nullopt;
}

std::optional<Pfn> SimpleFrameAllocator::allocate_frame(std::uint32_t node) {
  if (node >= nodes_.size()) node = 0;
  if (auto pfn = take(nodes_[node])) return pfn;
  for (auto& other : nodes_) {
    if (auto pfn = take(other)) return pfn;
  }
  return std::nullopt;
}

void SimpleFrameAllocator::free_frame(Pfn pfn) {
  Node& node = nodes_[memory_.node_of(pfn)];
  node.free.push_back(pfn.value());
  std::push_heap(node.free.begin(), node.free.end(), std::greater<>());
  --allocated_;
}

}  // namespace mmusim::mmu
