#include "vmalloc/layout.h"

#include "mmu/random.h"

namespace mmusim::vmalloc {

KernelLayout make_layout(int paging_levels, bool kaslr, std::uint64_t seed) {
  KernelLayout layout;
  const bool five = paging_levels == 5;
  std::uint64_t start = five ? kVmallocStartL5 : kVmallocStartL4;
  const std::uint64_t size = five ? kVmallocSizeL5 : kVmallocSizeL4;
  if (kaslr) {
    mmu::Rng rng(seed, "vmalloc.kaslr");
    start += rng.below(1024) << 30;
  }
  layout.vmalloc_start = start;
  layout.vmalloc_end = start + size - 1;
  layout.modules_vaddr = kModulesVaddr;
  layout.modules_end = kModulesEnd;
  layout.page_offset = five ? kPageOffsetL5 : kPageOffsetL4;
  return layout;
}

}  // namespace mmusim::vmalloc
