#include "mmu/pte.h"

namespace mmusim::mmu {

const char* level_name(Level level) {
  switch (level) {
    case Level::kPt:
      return "pt";
    case Level::kPd:
      return "pd";
    case Level::kPdpt:
      return "pdpt";
    case Level::kPml4:
      return "pml4";
    case Level::kPml5:
      return "pml5";
  }
  return "?";
}

std::uint64_t Pte::reserved_bits(Level level, unsigned max_phys_bits) const {
  // Bits MAXPHYADDR..51 of the address field are reserved at every level.
  std::uint64_t reserved = 0;
  if (max_phys_bits < 52) {
    reserved |= ((std::uint64_t{1} << 52) - 1) & ~((std::uint64_t{1} << max_phys_bits) - 1);
  }
  switch (level) {
    case Level::kPml5:
    case Level::kPml4:
      reserved |= pte_bits::kPageSize;  // PS must be 0 above the PDPT
      break;
    case Level::kPdpt:
      if (page_size_bit()) reserved |= 0x3fff'e000ull;  // bits 29:13 of a 1 GiB leaf
      break;
    case Level::kPd:
      if (page_size_bit()) reserved |= 0x001f'e000ull;  // bits 20:13 of a 2 MiB leaf
      break;
    case Level::kPt:
      break;
  }
  return raw_ & reserved;
}

std::uint64_t PteFlags::leaf_bits(Level level) const {
  std::uint64_t bits = pte_bits::kPresent;
  if (writable) bits |= pte_bits::kWritable;
  if (user) bits |= pte_bits::kUser;
  if (write_through) bits |= pte_bits::kPwt;
  if (cache_disable) bits |= pte_bits::kPcd;
  if (global) bits |= pte_bits::kGlobal;
  if (no_execute) bits |= pte_bits::kNoExecute;
  if (level != Level::kPt) bits |= pte_bits::kPageSize;
  return bits;
}

PteFlags PteFlags::from_leaf(Pte pte) {
  PteFlags flags;
  flags.writable = pte.writable();
  flags.user = pte.user();
  flags.no_execute = pte.no_execute();
  flags.global = pte.global();
  flags.write_through = pte.raw() & pte_bits::kPwt;
  flags.cache_disable = pte.raw() & pte_bits::kPcd;
  return flags;
}

Pte make_leaf(Level level, Pfn frame, const PteFlags& flags) {
  return Pte{(frame.addr().value() & pte_bits::kAddrMask) | flags.leaf_bits(level)};
}

}  // namespace mmusim::mmu
