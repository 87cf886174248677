// Geometry, latency and replacement of every TLB structure of one CPU. Defaults follow an
// Intel Skylake core (Intel 64 and IA-32 Architectures Optimization Reference Manual,
// Table 2-15): L1 DTLB 64 x 4 KiB (4-way), 32 x 2 MiB (4-way), 4 x 1 GiB; L1 ITLB 128 x 4 KiB
// (8-way), 8 x 2 MiB; STLB 1536 entries (12-way) for 4 KiB and 2 MiB, 16 x 1 GiB (4-way).
// The STLB hit latency follows the measured 12-cycle load latency against 4 on an L1 hit
// (Haswell, RightMark RMMA).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>

#include "mmu/types.h"

namespace mmusim::tlb {

enum class Replacement : std::uint8_t { kLru, kPlru, kRandom };

inline constexpr std::array<std::pair<const char*, Replacement>, 3> kReplacementNames{{
    {"lru", Replacement::kLru},
    {"plru", Replacement::kPlru},
    {"random", Replacement::kRandom},
}};

// A bit per mmu::PageSize.
using PageSizeMask = std::uint8_t;
[[nodiscard]] constexpr PageSizeMask mask_of(mmu::PageSize size) {
  return static_cast<PageSizeMask>(1u << mmu::index_of(size));
}
inline constexpr PageSizeMask k4K = mask_of(mmu::PageSize::k4K);
inline constexpr PageSizeMask k2M = mask_of(mmu::PageSize::k2M);
inline constexpr PageSizeMask k1G = mask_of(mmu::PageSize::k1G);

struct TlbArrayConfig {
  // Entries one structure may have (sets x ways): far above any real TLB, and small enough that
  // a machine of many CPUs still fits in host memory (sim/ also bounds the machine's total).
  static constexpr std::uint32_t kMaxEntries = 65536;

  std::uint32_t sets = 0;  // 0: the structure does not exist
  std::uint32_t ways = 1;
  PageSizeMask page_sizes = k4K;
  std::uint32_t latency = 0;  // cycles a lookup that reaches this level costs
  Replacement replacement = Replacement::kLru;

  template <class V>
  void visit(V& v) {
    v.integer("sets", sets, 0u, 65536u, "number of sets (0 removes the structure)");
    v.integer("ways", ways, 1u, 64u, "associativity");
    v.page_sizes("page_sizes", page_sizes, "page sizes it holds: a list of \"4k\", \"2m\", \"1g\"");
    v.integer("latency", latency, 0u, 10000u,
              "cycles charged when a lookup reaches this level (the largest of a level's "
              "structures counts)");
    v.choice("replacement", replacement, kReplacementNames,
             "replacement policy: lru, plru (tree pseudo-LRU; ways a power of two) or random");
    v.check(replacement != Replacement::kPlru || (ways & (ways - 1)) == 0, "ways",
            "plru replacement needs a power-of-two number of ways");
    v.check(sets * ways <= kMaxEntries, "sets",
            "sets x ways is " + std::to_string(sets * ways) + " entries, above the " +
                std::to_string(kMaxEntries) + " one structure may have");
  }
  [[nodiscard]] std::uint32_t entries() const { return sets * ways; }
};

struct TlbConfig {
  TlbArrayConfig l1i_4k{16, 8, k4K, 0, Replacement::kLru};
  TlbArrayConfig l1i_2m{1, 8, k2M, 0, Replacement::kLru};
  TlbArrayConfig l1d_4k{16, 4, k4K, 0, Replacement::kLru};
  TlbArrayConfig l1d_2m{8, 4, k2M, 0, Replacement::kLru};
  TlbArrayConfig l1d_1g{1, 4, k1G, 0, Replacement::kLru};
  TlbArrayConfig stlb{128, 12, k4K | k2M, 8, Replacement::kLru};
  TlbArrayConfig stlb_1g{4, 4, k1G, 8, Replacement::kLru};

  template <class V>
  void visit(V& v) {
    v.section("l1i_4k", l1i_4k, "L1 instruction TLB for 4 KiB pages");
    v.section("l1i_2m", l1i_2m, "L1 instruction TLB for 2 MiB pages");
    v.section("l1d_4k", l1d_4k, "L1 data TLB for 4 KiB pages");
    v.section("l1d_2m", l1d_2m, "L1 data TLB for 2 MiB pages");
    v.section("l1d_1g", l1d_1g, "L1 data TLB for 1 GiB pages");
    v.section("stlb", stlb, "unified second-level TLB (instruction and data)");
    v.section("stlb_1g", stlb_1g, "second-level TLB for 1 GiB pages");
  }
};

}  // namespace mmusim::tlb
