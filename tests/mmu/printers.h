// GoogleTest printers for the mmu value types, so a failed expectation shows "pfn 0x5555"
// rather than a dump of the object's bytes. Found by argument-dependent lookup.
#pragma once

#include <ostream>

#include "mmu/page_table.h"
#include "mmu/pte.h"
#include "mmu/types.h"
#include "mmu/walker.h"

namespace mmusim::mmu {

inline void PrintTo(Pfn pfn, std::ostream* os) {
  *os << "pfn " << hex(pfn.value());
}
inline void PrintTo(PhysAddr addr, std::ostream* os) {
  *os << "pa " << hex(addr.value());
}
inline void PrintTo(VirtAddr addr, std::ostream* os) {
  *os << "va " << hex(addr.value());
}
inline void PrintTo(Cycles cycles, std::ostream* os) {
  *os << cycles.value() << " cycles";
}
inline void PrintTo(Pte pte, std::ostream* os) {
  *os << "pte " << hex(pte.raw());
}
inline void PrintTo(PageSize size, std::ostream* os) {
  *os << to_string(size);
}
inline void PrintTo(Level level, std::ostream* os) {
  *os << level_name(level);
}
inline void PrintTo(FaultKind kind, std::ostream* os) {
  *os << to_string(kind);
}
inline void PrintTo(EditStatus status, std::ostream* os) {
  *os << to_string(status);
}

}  // namespace mmusim::mmu
