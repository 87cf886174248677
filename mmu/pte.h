// The x86-64 paging-structure entry format (Intel SDM Vol. 3A, 4.5) for 4-level (48-bit) and
// 5-level (LA57, 57-bit) paging. Every level uses the same 64-bit layout; PS is meaningful in
// PDPTEs (1 GiB pages) and PDEs (2 MiB pages) and reserved in PML4Es and PML5Es.
#pragma once

#include <cstdint>

#include "mmu/types.h"

namespace mmusim::mmu {

namespace pte_bits {
inline constexpr std::uint64_t kPresent = 1ull << 0;
inline constexpr std::uint64_t kWritable = 1ull << 1;
inline constexpr std::uint64_t kUser = 1ull << 2;
inline constexpr std::uint64_t kPwt = 1ull << 3;
inline constexpr std::uint64_t kPcd = 1ull << 4;
inline constexpr std::uint64_t kAccessed = 1ull << 5;
inline constexpr std::uint64_t kDirty = 1ull << 6;
inline constexpr std::uint64_t kPageSize = 1ull << 7;  // PS in PDPTE/PDE; PAT in a PTE
inline constexpr std::uint64_t kGlobal = 1ull << 8;
inline constexpr std::uint64_t kNoExecute = 1ull << 63;
// Bits 51:12 hold the frame (or next table) address; bits above MAXPHYADDR must be zero.
inline constexpr std::uint64_t kAddrMask = 0x000f'ffff'ffff'f000ull;
// In a PDPTE/PDE with PS, bit 12 is PAT and the frame starts at bit 30/21.
inline constexpr std::uint64_t kLargePat = 1ull << 12;
}  // namespace pte_bits

// x86 page-fault error code bits (SDM 4.7).
namespace fault_bits {
inline constexpr std::uint32_t kPresent = 1u << 0;  // 1: protection violation; 0: not present
inline constexpr std::uint32_t kWrite = 1u << 1;
inline constexpr std::uint32_t kUser = 1u << 2;
inline constexpr std::uint32_t kReserved = 1u << 3;
inline constexpr std::uint32_t kFetch = 1u << 4;
}  // namespace fault_bits

// Paging-structure levels, numbered as the SDM does (PT = 1 ... PML5 = 5).
enum class Level : std::uint8_t { kPt = 1, kPd = 2, kPdpt = 3, kPml4 = 4, kPml5 = 5 };

[[nodiscard]] constexpr int level_number(Level level) {
  return static_cast<int>(level);
}
[[nodiscard]] constexpr Level level_below(Level level) {
  return static_cast<Level>(static_cast<int>(level) - 1);
}
// Bit position of the lowest address bit the level's index covers (12, 21, 30, 39, 48).
[[nodiscard]] constexpr unsigned level_shift(Level level) {
  return 12u + 9u * (static_cast<unsigned>(level) - 1u);
}
// Index (0..511) of the entry that translates `va` at `level`.
[[nodiscard]] constexpr unsigned level_index(VirtAddr va, Level level) {
  return static_cast<unsigned>((va.value() >> level_shift(level)) & 0x1ff);
}
// The page size a leaf at this level maps; only PT, PD and PDPT can hold leaves.
[[nodiscard]] constexpr PageSize leaf_size(Level level) {
  return static_cast<PageSize>(static_cast<int>(level) - 1);
}
[[nodiscard]] constexpr Level leaf_level(PageSize size) {
  return static_cast<Level>(static_cast<int>(size) + 1);
}
[[nodiscard]] const char* level_name(Level level);  // "pt", "pd", "pdpt", "pml4", "pml5"

// The paging mode: 4 levels (48-bit linear addresses) or 5 levels (57-bit, CR4.LA57).
struct PagingMode {
  int levels = 4;

  [[nodiscard]] constexpr Level top() const { return static_cast<Level>(levels); }
  [[nodiscard]] constexpr unsigned va_bits() const { return levels == 5 ? 57u : 48u; }
  // A linear address is canonical when bits 63..va_bits-1 are all equal.
  [[nodiscard]] constexpr bool is_canonical(VirtAddr va) const {
    const std::uint64_t upper = va.value() >> (va_bits() - 1);
    const std::uint64_t all_ones = (~std::uint64_t{0}) >> (va_bits() - 1);
    return upper == 0 || upper == all_ones;
  }
};

// One paging-structure entry. A thin value wrapper; it knows nothing about its level except
// where the caller passes it.
class Pte {
 public:
  constexpr Pte() = default;
  constexpr explicit Pte(std::uint64_t raw) : raw_(raw) {}

  [[nodiscard]] constexpr std::uint64_t raw() const { return raw_; }
  [[nodiscard]] constexpr bool present() const { return raw_ & pte_bits::kPresent; }
  [[nodiscard]] constexpr bool writable() const { return raw_ & pte_bits::kWritable; }
  [[nodiscard]] constexpr bool user() const { return raw_ & pte_bits::kUser; }
  [[nodiscard]] constexpr bool accessed() const { return raw_ & pte_bits::kAccessed; }
  [[nodiscard]] constexpr bool dirty() const { return raw_ & pte_bits::kDirty; }
  [[nodiscard]] constexpr bool global() const { return raw_ & pte_bits::kGlobal; }
  [[nodiscard]] constexpr bool no_execute() const { return raw_ & pte_bits::kNoExecute; }
  [[nodiscard]] constexpr bool page_size_bit() const { return raw_ & pte_bits::kPageSize; }
  // True when this entry maps a page at `level` rather than pointing to a table.
  [[nodiscard]] constexpr bool is_leaf(Level level) const {
    return level == Level::kPt ||
           ((level == Level::kPd || level == Level::kPdpt) && page_size_bit());
  }
  // Frame of the next table (non-leaf) or of a 4 KiB page (PTE).
  [[nodiscard]] constexpr Pfn table_pfn() const {
    return Pfn{(raw_ & pte_bits::kAddrMask) >> kPageShift};
  }
  // First frame of the page a leaf at `level` maps.
  [[nodiscard]] constexpr Pfn leaf_pfn(Level level) const {
    const std::uint64_t mask = pte_bits::kAddrMask & ~(page_bytes(leaf_size(level)) - 1);
    return Pfn{(raw_ & mask) >> kPageShift};
  }

  // Reserved bits set in this (present) entry at `level`, for a machine with `max_phys_bits`
  // physical address bits. Non-zero means a reserved-bit page fault (SDM 4.7, RSVD).
  [[nodiscard]] std::uint64_t reserved_bits(Level level, unsigned max_phys_bits) const;

  [[nodiscard]] static constexpr Pte table(Pfn next, bool writable, bool user) {
    return Pte{(next.addr().value() & pte_bits::kAddrMask) | pte_bits::kPresent |
               (writable ? pte_bits::kWritable : 0) | (user ? pte_bits::kUser : 0)};
  }

 private:
  std::uint64_t raw_ = 0;
};

// Permission and attribute bits for a mapping, independent of its level.
struct PteFlags {
  bool writable = true;
  bool user = false;
  bool no_execute = false;
  bool global = false;
  bool write_through = false;
  bool cache_disable = false;

  // The raw bits of a leaf entry at `level` (PS added for large leaves), Present set.
  [[nodiscard]] std::uint64_t leaf_bits(Level level) const;
  [[nodiscard]] static PteFlags from_leaf(Pte pte);
  friend bool operator==(const PteFlags& a, const PteFlags& b) {
    return a.writable == b.writable && a.user == b.user && a.no_execute == b.no_execute &&
           a.global == b.global && a.write_through == b.write_through &&
           a.cache_disable == b.cache_disable;
  }
};

// Builds the leaf entry mapping `frame` (aligned to the page size) with `flags` at `level`.
[[nodiscard]] Pte make_leaf(Level level, Pfn frame, const PteFlags& flags);

}  // namespace mmusim::mmu
