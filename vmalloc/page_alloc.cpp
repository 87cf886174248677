#include "vmalloc/page_alloc.h"

#include <algorithm>
#include <stdexcept>

namespace mmusim::vmalloc {
namespace {

constexpr std::uint64_t kDma32LimitFrames = (std::uint64_t{4} << 30) >> mmu::kPageShift;

}  // namespace

PageAllocator::PageAllocator(const mmu::PhysMem& memory, std::uint64_t reserved_frames,
                             const PageAllocConfig& config, std::uint64_t seed)
    : memory_(memory), config_(config), rng_(seed, "vmalloc.page_alloc") {
  zones_.resize(memory.numa_nodes());
  for (std::uint32_t node = 0; node < memory.numa_nodes(); ++node) {
    std::uint64_t first = memory.node_first_frame(node).value();
    const std::uint64_t end = first + memory.node_frame_count(node);
    first = std::max(first, std::min(reserved_frames, end));
    const std::uint64_t split = std::clamp(kDma32LimitFrames, first, end);
    zones_[node][kZoneDma32] = Zone{first, first, split, {}, 0, 0};
    zones_[node][kZoneNormal] = Zone{split, split, end, {}, 0, 0};
    total_pages_ += end - first;
  }
}

std::optional<mmu::Pfn> PageAllocator::take(std::uint32_t node, ZoneIndex index) {
  Zone& zone = zones_[node][index];
  std::uint64_t pfn = 0;
  if (zone.freed != 0) {
    // The lowest freed frame (a freed frame lies below every bit the bump pointer has not
    // reached, so the first clear bit is one).
    std::size_t word = zone.first_clear;
    while (zone.allocated[word] == ~std::uint64_t{0})
      ++word;
    zone.first_clear = word;
    pfn =
        zone.begin + word * 64 + static_cast<std::uint64_t>(__builtin_ctzll(~zone.allocated[word]));
    --zone.freed;
  } else if (zone.next < zone.end) {
    pfn = zone.next++;
    if ((zone.next - zone.begin + 63) / 64 > zone.allocated.size()) zone.allocated.push_back(0);
  } else {
    return std::nullopt;
  }
  zone.allocated[(pfn - zone.begin) / 64] |= std::uint64_t{1} << ((pfn - zone.begin) % 64);
  return mmu::Pfn{pfn};
}

const PageAllocator::Zone& PageAllocator::zone_of(mmu::Pfn pfn) const {
  return zones_[memory_.node_of(pfn)][pfn.value() < kDma32LimitFrames ? kZoneDma32 : kZoneNormal];
}

bool PageAllocator::is_allocated(mmu::Pfn pfn) const {
  const Zone& zone = zone_of(pfn);
  if (pfn.value() < zone.begin || pfn.value() >= zone.next) return false;
  const std::uint64_t bit = pfn.value() - zone.begin;
  return (zone.allocated[bit / 64] >> (bit % 64) & 1) != 0;
}

std::optional<mmu::Pfn> PageAllocator::allocate(bool dma32, int node) {
  const auto nodes = static_cast<std::uint32_t>(zones_.size());
  const std::uint32_t preferred =
      node >= 0 && static_cast<std::uint32_t>(node) < nodes ? static_cast<std::uint32_t>(node) : 0;
  for (std::uint32_t i = 0; i < nodes; ++i) {
    const std::uint32_t n = (preferred + i) % nodes;
    std::optional<mmu::Pfn> pfn;
    if (!dma32) pfn = take(n, kZoneNormal);
    if (!pfn) pfn = take(n, kZoneDma32);
    if (pfn) {
      ++stats_.in_use;
      stats_.peak_in_use = std::max(stats_.peak_in_use, stats_.in_use);
      return pfn;
    }
  }
  return std::nullopt;
}

bool PageAllocator::inject_failure() {
  ++guest_allocations_;
  if (config_.fail_nth != 0 && guest_allocations_ == config_.fail_nth) return true;
  return config_.fail_ppm != 0 && rng_.below(1'000'000) < config_.fail_ppm;
}

std::optional<mmu::Pfn> PageAllocator::alloc_page(std::uint32_t gfp_mask, int node) {
  if (inject_failure()) {
    ++stats_.injected_failures;
    return std::nullopt;
  }
  const bool dma32 = (gfp_mask & gfp::kDma32) != 0;
  auto pfn = allocate(dma32, node);
  if (!pfn) {
    ++stats_.exhausted_failures;
    return std::nullopt;
  }
  ++stats_.pages_allocated;
  if (dma32) ++stats_.dma32_pages_allocated;
  return pfn;
}

std::optional<mmu::Pfn> PageAllocator::allocate_frame(std::uint32_t node) {
  if (config_.fail_page_tables && inject_failure()) {
    ++stats_.injected_failures;
    return std::nullopt;
  }
  auto pfn = allocate(/*dma32=*/false, static_cast<int>(node));
  if (pfn) {
    ++stats_.table_pages_allocated;
  } else {
    ++stats_.exhausted_failures;
  }
  return pfn;
}

void PageAllocator::free_page(mmu::Pfn pfn) {
  if (!is_allocated(pfn)) {
    throw std::logic_error("page allocator: freeing frame " + mmu::hex(pfn.value()) +
                           ", which is not allocated");
  }
  --stats_.in_use;
  ++stats_.pages_freed;
  const std::uint32_t node = memory_.node_of(pfn);
  Zone& zone = zones_[node][pfn.value() < kDma32LimitFrames ? kZoneDma32 : kZoneNormal];
  const std::uint64_t bit = pfn.value() - zone.begin;
  zone.allocated[bit / 64] &= ~(std::uint64_t{1} << (bit % 64));
  ++zone.freed;
  zone.first_clear = std::min<std::size_t>(zone.first_clear, bit / 64);
}

}  // namespace mmusim::vmalloc
