// The x86-64 kernel virtual memory layout the guest works in (Linux 4.19,
// arch/x86/include/asm/pgtable_64_types.h and Documentation/x86/x86_64/mm.txt): the vmalloc
// area, the module area, and the direct map where the page allocator's pages live.
#pragma once

#include <cstdint>

namespace mmusim::vmalloc {

struct KernelLayout {
  std::uint64_t vmalloc_start = 0;
  std::uint64_t vmalloc_end = 0;  // the last byte, as the kernel's VMALLOC_END
  std::uint64_t modules_vaddr = 0;
  std::uint64_t modules_end = 0;
  std::uint64_t page_offset = 0;  // start of the direct map

  [[nodiscard]] bool is_vmalloc_addr(std::uint64_t addr) const {
    return addr >= vmalloc_start && addr < vmalloc_end;
  }
  [[nodiscard]] bool is_vmalloc_or_module_addr(std::uint64_t addr) const {
    return is_vmalloc_addr(addr) || (addr >= modules_vaddr && addr < modules_end);
  }
};

inline constexpr std::uint64_t kVmallocStartL4 = 0xffffc90000000000ull;
inline constexpr std::uint64_t kVmallocSizeL4 = std::uint64_t{32} << 40;  // 32 TB
inline constexpr std::uint64_t kVmallocStartL5 = 0xffa0000000000000ull;
inline constexpr std::uint64_t kVmallocSizeL5 = std::uint64_t{12800} << 40;  // 12800 TB
inline constexpr std::uint64_t kPageOffsetL4 = 0xffff888000000000ull;
inline constexpr std::uint64_t kPageOffsetL5 = 0xff11000000000000ull;
inline constexpr std::uint64_t kModulesVaddr = 0xffffffffa0000000ull;
inline constexpr std::uint64_t kModulesEnd = 0xffffffffff000000ull;

// The layout for 4- or 5-level paging. With `kaslr`, VMALLOC_START moves up by a seeded
// number of 1 GiB steps (at most 1 TiB), as KASLR's memory randomisation moves it.
KernelLayout make_layout(int paging_levels, bool kaslr, std::uint64_t seed);

}  // namespace mmusim::vmalloc
