// The flat hash map behind physical memory's frames and the stale-translation check: it must
// behave as a map through growth and erase (whose backward shift keeps every probe run whole).
#include "mmu/flat_map.h"

#include <cstdint>
#include <map>

#include <gtest/gtest.h>

#include "mmu/random.h"

namespace mmusim::mmu {
namespace {

TEST(FlatU64Map, FindsWhatWasStoredAndForgetsWhatWasErased) {
  FlatU64Map<int> map;
  EXPECT_EQ(map.find(7), nullptr);
  map[7] = 70;
  map[0] = 1;
  ASSERT_NE(map.find(7), nullptr);
  EXPECT_EQ(*map.find(7), 70);
  EXPECT_EQ(*map.find(0), 1);
  EXPECT_EQ(map.size(), 2u);
  EXPECT_TRUE(map.erase(7));
  EXPECT_FALSE(map.erase(7));
  EXPECT_EQ(map.find(7), nullptr);
  EXPECT_EQ(map[7], 0);  // value-initialised when absent
  EXPECT_EQ(map.size(), 2u);
}

// Random inserts and erases over a small key space (long probe runs, many erases inside them)
// and over page-table-like keys (8-byte aligned), checked against std::map after every step.
TEST(FlatU64Map, AgreesWithStdMapThroughGrowthAndErase) {
  for (const std::uint64_t stride : {std::uint64_t{1}, std::uint64_t{8}, std::uint64_t{4096}}) {
    FlatU64Map<std::uint64_t> map;
    std::map<std::uint64_t, std::uint64_t> expected;
    Rng rng(stride, "flat_map_test");
    for (int step = 0; step < 20000; ++step) {
      const std::uint64_t key = 0x1000 + rng.below(700) * stride;
      if (rng.chance(1, 3)) {
        EXPECT_EQ(map.erase(key), expected.erase(key) == 1) << "key " << key;
      } else {
        map[key] += step;
        expected[key] += step;
      }
      ASSERT_EQ(map.size(), expected.size());
    }
    for (std::uint64_t i = 0; i < 700; ++i) {
      const std::uint64_t key = 0x1000 + i * stride;
      const auto it = expected.find(key);
      const std::uint64_t* value = map.find(key);
      if (it == expected.end()) {
        EXPECT_EQ(value, nullptr) << "key " << key;
      } else {
        ASSERT_NE(value, nullptr) << "key " << key;
        EXPECT_EQ(*value, it->second) << "key " << key;
      }
    }
  }
}

}  // namespace
}  // namespace mmusim::mmu
