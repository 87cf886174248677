// TlbArray on its own: tag matching (page, size, PCID, global), the three replacement policies
// on small sets, refresh in place, removal and the per-structure statistics.
#include "tlb/tlb_array.h"

#include <array>
#include <cstdint>
#include <map>
#include <vector>

#include <gtest/gtest.h>

namespace mmusim::tlb {
namespace {

using mmu::PageSize;

TlbArrayConfig one_set(std::uint32_t ways, Replacement replacement) {
  return TlbArrayConfig{1, ways, k4K, 0, replacement};
}

TlbEntry entry(std::uint64_t vpn, std::uint16_t pcid = 1, bool global = false,
               std::uint64_t frame = 0, PageSize size = PageSize::k4K) {
  TlbEntry e;
  e.vpn = vpn;
  e.frame = frame == 0 ? 0x1000 + vpn : frame;
  e.pte_addr = 0x8000 + vpn * 8;
  e.pcid = pcid;
  e.size = size;
  e.global = global;
  return e;
}

// Inserts `e` and returns the VPN it evicted, or -1 when nothing valid was replaced.
std::int64_t insert(TlbArray& array, const TlbEntry& e) {
  TlbEntry evicted;
  array.insert(e, evicted);
  return evicted.valid ? static_cast<std::int64_t>(evicted.vpn) : -1;
}

TEST(TlbArray, MissingStructureHoldsNothing) {
  const TlbArray array("absent", TlbArrayConfig{0, 4, k4K | k2M, 3, Replacement::kLru}, 1);
  EXPECT_FALSE(array.exists());
  EXPECT_FALSE(array.holds(PageSize::k4K));
  EXPECT_EQ(array.page_sizes(), 0);
  EXPECT_EQ(array.valid_entries(), 0u);
}

TEST(TlbArray, GeometryAndPageSizes) {
  const TlbArray array("stlb", TlbArrayConfig{128, 12, k4K | k2M, 9, Replacement::kLru}, 1);
  EXPECT_TRUE(array.exists());
  EXPECT_EQ(array.sets(), 128u);
  EXPECT_EQ(array.ways(), 12u);
  EXPECT_EQ(array.latency(), 9u);
  EXPECT_TRUE(array.holds(PageSize::k4K));
  EXPECT_TRUE(array.holds(PageSize::k2M));
  EXPECT_FALSE(array.holds(PageSize::k1G));
  EXPECT_EQ(array.page_sizes(), 0b011);
}

TEST(TlbArray, LookupMatchesPageSizeAndPcidOrGlobal) {
  TlbArray array("l1d", TlbArrayConfig{4, 2, k4K | k2M, 0, Replacement::kLru}, 1);
  EXPECT_EQ(insert(array, entry(7, /*pcid=*/1)), -1);
  EXPECT_EQ(insert(array, entry(9, /*pcid=*/1, /*global=*/true)), -1);

  ASSERT_NE(array.lookup(7, PageSize::k4K, 1), nullptr);
  EXPECT_EQ(array.lookup(7, PageSize::k4K, 1)->frame, 0x1007u);
  EXPECT_EQ(array.lookup(7, PageSize::k4K, 2), nullptr);  // another address space
  EXPECT_EQ(array.lookup(7, PageSize::k2M, 1), nullptr);  // same number, other page size
  EXPECT_NE(array.lookup(9, PageSize::k4K, 2), nullptr);  // global: any PCID
  EXPECT_NE(array.lookup(9, PageSize::k4K, 0), nullptr);
  EXPECT_EQ(array.lookup(11, PageSize::k4K, 1), nullptr);

  EXPECT_EQ(array.stats().hits, 4u);
  EXPECT_EQ(array.stats().misses, 3u);
  EXPECT_EQ(array.stats().fills, 2u);
  EXPECT_EQ(array.stats().evictions, 0u);
}

TEST(TlbArray, EntryBaseAddressFollowsPageSize) {
  EXPECT_EQ(entry(0x3, 1, false, 0, PageSize::k2M).base(), mmu::VirtAddr{0x600000});
  EXPECT_EQ(entry(0x2, 1, false, 0, PageSize::k1G).base(), mmu::VirtAddr{0x80000000});
  EXPECT_EQ(entry(0x401, 1, false, 0, PageSize::k4K).base(), mmu::VirtAddr{0x401000});
}

TEST(TlbArray, LruEvictsLeastRecentlyUsed) {
  TlbArray array("lru", one_set(4, Replacement::kLru), 1);
  for (std::uint64_t vpn = 0; vpn < 4; ++vpn)
    EXPECT_EQ(insert(array, entry(vpn)), -1);
  EXPECT_EQ(array.valid_entries(), 4u);

  // Use order is now 0 1 2 3; a hit on 0 makes it 1 2 3 0.
  ASSERT_NE(array.lookup(0, PageSize::k4K, 1), nullptr);
  EXPECT_EQ(insert(array, entry(4)), 1);                  // 2 3 0 4
  EXPECT_EQ(insert(array, entry(5)), 2);                  // 3 0 4 5
  ASSERT_NE(array.lookup(3, PageSize::k4K, 1), nullptr);  // 0 4 5 3
  EXPECT_EQ(insert(array, entry(6)), 0);                  // 4 5 3 6
  EXPECT_EQ(insert(array, entry(7)), 4);                  // 5 3 6 7
  EXPECT_EQ(insert(array, entry(8)), 5);
  EXPECT_EQ(insert(array, entry(9)), 3);

  EXPECT_EQ(array.valid_entries(), 4u);
  EXPECT_EQ(array.stats().fills, 10u);
  EXPECT_EQ(array.stats().evictions, 6u);
  EXPECT_EQ(array.stats().hits, 2u);
}

TEST(TlbArray, LruFillsInvalidWayBeforeEvicting) {
  TlbArray array("lru", one_set(4, Replacement::kLru), 1);
  for (std::uint64_t vpn = 0; vpn < 4; ++vpn)
    insert(array, entry(vpn));
  // Free the most recently used way: the next fill takes it and evicts nothing.
  EXPECT_EQ(array.remove_if([](const TlbEntry& e) { return e.vpn == 3; }, [](const TlbEntry&) {}),
            1u);
  EXPECT_EQ(insert(array, entry(10)), -1);
  EXPECT_EQ(insert(array, entry(11)), 0);
  EXPECT_EQ(array.stats().evictions, 1u);
  EXPECT_EQ(array.stats().invalidated, 1u);
}

// Tree PLRU with 4 ways: bit 0 chooses between ways {0,1} and {2,3}, bit 1 between 0 and 1,
// bit 2 between 2 and 3; a set bit sends the victim search right. Touching a way points every
// bit on its path away from it. Filling ways 0..3 in order leaves all bits clear.
TEST(TlbArray, PlruVictimSequenceAfterSequentialFill) {
  TlbArray array("plru", one_set(4, Replacement::kPlru), 1);
  for (std::uint64_t vpn = 0; vpn < 4; ++vpn)
    EXPECT_EQ(insert(array, entry(vpn)), -1);
  // bits 000 -> way 0; touching 0 sets b0 b1 -> way 2 (b0 right, b2 left); touching 2 clears b0,
  // sets b2 -> way 1; touching 1 sets b0, clears b1 -> way 3; touching 3 clears b0 b2 -> way 0.
  EXPECT_EQ(insert(array, entry(4)), 0);  // way 0
  EXPECT_EQ(insert(array, entry(5)), 2);  // way 2
  EXPECT_EQ(insert(array, entry(6)), 1);  // way 1
  EXPECT_EQ(insert(array, entry(7)), 3);  // way 3
  EXPECT_EQ(insert(array, entry(8)), 4);  // way 0 again, now holding vpn 4
  EXPECT_EQ(array.stats().evictions, 5u);
}

TEST(TlbArray, PlruHitSteersVictimAwayFromTouchedHalf) {
  TlbArray array("plru", one_set(4, Replacement::kPlru), 1);
  for (std::uint64_t vpn = 0; vpn < 4; ++vpn)
    insert(array, entry(vpn));
  // A hit on way 0 sets b0 b1: the victim is way 2, where true LRU would pick way 1.
  ASSERT_NE(array.lookup(0, PageSize::k4K, 1), nullptr);
  EXPECT_EQ(insert(array, entry(4)), 2);                  // touching 2: b0 clear, b2 set
  ASSERT_NE(array.lookup(1, PageSize::k4K, 1), nullptr);  // b0 set, b1 clear
  EXPECT_EQ(insert(array, entry(5)), 3);                  // right, then right: way 3; b0 b2 clear
  EXPECT_EQ(insert(array, entry(6)), 0);                  // left, left: way 0
}

// With 8 ways the three-level tree, filled in order, gives the bit-reversal order of ways:
// 0 4 2 6 1 5 3 7 (worked out node by node like the 4-way case).
TEST(TlbArray, PlruEightWaysEvictsInBitReversalOrder) {
  TlbArray array("plru8", one_set(8, Replacement::kPlru), 1);
  for (std::uint64_t vpn = 0; vpn < 8; ++vpn)
    EXPECT_EQ(insert(array, entry(vpn)), -1);
  const std::vector<std::int64_t> expected{0, 4, 2, 6, 1, 5, 3, 7};
  std::vector<std::int64_t> evicted;
  for (std::uint64_t vpn = 8; vpn < 16; ++vpn)
    evicted.push_back(insert(array, entry(vpn)));
  EXPECT_EQ(evicted, expected);
}

// Evicted VPNs of 64 fills into set 0 of a full 2-set x 4-way array.
std::vector<std::int64_t> random_evictions(std::uint64_t seed) {
  TlbArray array("rand", TlbArrayConfig{2, 4, k4K, 0, Replacement::kRandom}, seed);
  for (std::uint64_t vpn = 0; vpn < 8; ++vpn)
    insert(array, entry(vpn));
  std::vector<std::int64_t> evicted;
  for (std::uint64_t vpn = 100; vpn < 228; vpn += 2)
    evicted.push_back(insert(array, entry(vpn)));
  return evicted;
}

TEST(TlbArray, RandomIsDeterministicForASeed) {
  const std::vector<std::int64_t> first = random_evictions(42);
  ASSERT_EQ(first.size(), 64u);
  EXPECT_EQ(random_evictions(42), first);
  // Another seed gives another stream (64 draws from 4 ways agree by chance with odds 4^-64).
  EXPECT_NE(random_evictions(43), first);
}

TEST(TlbArray, RandomVictimStaysWithinTheSet) {
  TlbArray array("rand", TlbArrayConfig{2, 4, k4K, 0, Replacement::kRandom}, 7);
  // Odd VPNs go to set 1, even ones to set 0.
  for (std::uint64_t vpn : {1, 3, 5, 7})
    insert(array, entry(vpn));
  // A model of set 0: which way each resident VPN sits in. Free ways fill in order 0..3; after
  // that the new VPN takes the way of the one it evicted.
  std::map<std::int64_t, int> way_of;
  std::array<int, 4> times_chosen{};
  for (std::uint64_t vpn = 0; vpn < 200; vpn += 2) {
    const std::int64_t evicted = insert(array, entry(vpn));
    int way = static_cast<int>(way_of.size());
    if (way_of.size() < 4) {
      EXPECT_EQ(evicted, -1) << "set 0 still had a free way at vpn " << vpn;
    } else {
      ASSERT_EQ(way_of.count(evicted), 1u) << "evicted " << evicted << " was not in set 0";
      way = way_of[evicted];
      way_of.erase(evicted);
      ++times_chosen[static_cast<std::size_t>(way)];
    }
    way_of[static_cast<std::int64_t>(vpn)] = way;
  }
  for (std::uint64_t vpn : {1, 3, 5, 7})
    EXPECT_NE(array.lookup(vpn, PageSize::k4K, 1), nullptr);
  for (const auto& resident : way_of) {
    EXPECT_NE(array.lookup(static_cast<std::uint64_t>(resident.first), PageSize::k4K, 1), nullptr);
  }
  EXPECT_EQ(array.valid_entries(), 8u);
  EXPECT_EQ(array.stats().fills, 104u);
  EXPECT_EQ(array.stats().evictions, 96u);  // 100 fills into set 0, the first 4 into free ways
  // 96 uniform draws over 4 ways average 24 each (standard deviation about 4).
  for (int chosen : times_chosen)
    EXPECT_GE(chosen, 12);
}

TEST(TlbArray, SameTagFillRefreshesInPlace) {
  TlbArray array("lru", one_set(4, Replacement::kLru), 1);
  insert(array, entry(1, 1, false, 0xa0));
  insert(array, entry(2));

  TlbEntry evicted;
  array.insert(entry(1, 1, false, 0xb0), evicted);
  // The replaced entry is reported, but it is a refresh, not an eviction.
  EXPECT_TRUE(evicted.valid);
  EXPECT_EQ(evicted.vpn, 1u);
  EXPECT_EQ(evicted.frame, 0xa0u);
  EXPECT_EQ(array.valid_entries(), 2u);
  EXPECT_EQ(array.stats().fills, 3u);
  EXPECT_EQ(array.stats().evictions, 0u);
  ASSERT_NE(array.lookup(1, PageSize::k4K, 1), nullptr);
  EXPECT_EQ(array.lookup(1, PageSize::k4K, 1)->frame, 0xb0u);

  // The refresh (and the two lookups) made vpn 1 the most recent: use order 2 1, then 3 4.
  insert(array, entry(3));
  insert(array, entry(4));
  EXPECT_EQ(insert(array, entry(5)), 2);
  EXPECT_EQ(array.stats().evictions, 1u);
}

TEST(TlbArray, SameVpnOtherPcidIsAnotherEntryButGlobalsShareOne) {
  TlbArray array("lru", one_set(4, Replacement::kLru), 1);
  EXPECT_EQ(insert(array, entry(1, /*pcid=*/1)), -1);
  EXPECT_EQ(insert(array, entry(1, /*pcid=*/2)), -1);
  EXPECT_EQ(array.valid_entries(), 2u);

  EXPECT_EQ(insert(array, entry(2, /*pcid=*/1, /*global=*/true, 0xa0)), -1);
  EXPECT_EQ(insert(array, entry(2, /*pcid=*/3, /*global=*/true, 0xb0)), 2);  // refresh
  EXPECT_EQ(array.valid_entries(), 3u);
  EXPECT_EQ(array.stats().evictions, 0u);
  EXPECT_EQ(array.lookup(2, PageSize::k4K, 9)->frame, 0xb0u);
}

TEST(TlbArray, RemoveInSetOnlyLooksAtThatSet) {
  TlbArray array("two-sets", TlbArrayConfig{2, 2, k4K, 0, Replacement::kLru}, 1);
  for (std::uint64_t vpn = 0; vpn < 4; ++vpn)
    insert(array, entry(vpn));
  std::vector<std::uint64_t> seen;
  // Set 0 holds VPNs 0 and 2; the predicate accepts everything, yet set 1 is untouched.
  const std::uint64_t removed = array.remove_in_set(
      2, [](const TlbEntry&) { return true; },
      [&seen](const TlbEntry& e) { seen.push_back(e.vpn); });
  EXPECT_EQ(removed, 2u);
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{0, 2}));
  EXPECT_EQ(array.valid_entries(), 2u);
  EXPECT_NE(array.lookup(1, PageSize::k4K, 1), nullptr);
  EXPECT_NE(array.lookup(3, PageSize::k4K, 1), nullptr);
  EXPECT_EQ(array.stats().invalidated, 2u);
}

}  // namespace
}  // namespace mmusim::tlb
