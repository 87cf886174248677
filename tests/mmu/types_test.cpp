// Strong address types, page-size helpers and the deterministic random streams.
#include "mmu/types.h"

#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "mmu/random.h"
#include "tests/mmu/printers.h"

namespace mmusim::mmu {
namespace {

TEST(MmuTypes, PageSizes) {
  EXPECT_EQ(page_shift(PageSize::k4K), 12u);
  EXPECT_EQ(page_shift(PageSize::k2M), 21u);
  EXPECT_EQ(page_shift(PageSize::k1G), 30u);
  EXPECT_EQ(page_bytes(PageSize::k4K), 0x1000u);
  EXPECT_EQ(page_bytes(PageSize::k2M), 0x20'0000u);
  EXPECT_EQ(page_bytes(PageSize::k1G), 0x4000'0000u);
  EXPECT_EQ(index_of(PageSize::k1G), 2);
}

TEST(MmuTypes, VirtAddrArithmetic) {
  const VirtAddr va{0x80'8060'4567};
  EXPECT_EQ(va.vpn(PageSize::k4K), 0x808'0604u);
  EXPECT_EQ(va.vpn(PageSize::k2M), 0x4'0403u);
  EXPECT_EQ(va.vpn(PageSize::k1G), 0x202u);
  EXPECT_EQ(va.align_down(PageSize::k4K), VirtAddr{0x80'8060'4000});
  EXPECT_EQ(va.align_down(PageSize::k2M), VirtAddr{0x80'8060'0000});
  EXPECT_EQ(va.align_down(PageSize::k1G), VirtAddr{0x80'8000'0000});
  EXPECT_EQ(va.page_offset(PageSize::k4K), 0x567u);
  EXPECT_EQ(va.page_offset(PageSize::k2M), 0x4567u);
  EXPECT_EQ(va.page_offset(PageSize::k1G), 0x60'4567u);
  EXPECT_FALSE(va.is_aligned(PageSize::k4K));
  EXPECT_TRUE(VirtAddr{0x80'8060'0000}.is_aligned(PageSize::k2M));
  EXPECT_FALSE(VirtAddr{0x80'8060'0000}.is_aligned(PageSize::k1G));
  EXPECT_EQ(VirtAddr{0x5000} - VirtAddr{0x3000}, 0x2000u);
  VirtAddr moving{0x1000};
  moving += 0x1000;
  EXPECT_EQ(moving, VirtAddr{0x2000});
}

TEST(MmuTypes, FramesAndCycles) {
  EXPECT_EQ(Pfn{0x5555}.addr(), PhysAddr{0x555'5000});
  EXPECT_EQ(Pfn::of(PhysAddr{0x555'5fff}), Pfn{0x5555});
  EXPECT_EQ(Pfn{0x10} + 2, Pfn{0x12});
  EXPECT_EQ(Cycles{30} + Cycles{12}, Cycles{42});
  EXPECT_EQ(Cycles{30} - Cycles{12}, Cycles{18});
  EXPECT_EQ(Cycles{7} * 3, Cycles{21});
  Cycles total{5};
  total += Cycles{6};
  EXPECT_EQ(total.value(), 11u);
  EXPECT_LT(Pfn{1}, Pfn{2});
}

TEST(MmuTypes, PageSizeNames) {
  EXPECT_STREQ(to_string(PageSize::k4K), "4k");
  EXPECT_STREQ(to_string(PageSize::k2M), "2m");
  EXPECT_STREQ(to_string(PageSize::k1G), "1g");
  PageSize size = PageSize::k4K;
  EXPECT_TRUE(parse_page_size("2MiB", size));
  EXPECT_EQ(size, PageSize::k2M);
  EXPECT_TRUE(parse_page_size("1G", size));
  EXPECT_EQ(size, PageSize::k1G);
  EXPECT_TRUE(parse_page_size("4kib", size));
  EXPECT_EQ(size, PageSize::k4K);
  EXPECT_FALSE(parse_page_size("8k", size));
  EXPECT_EQ(size, PageSize::k4K);  // unchanged on failure
  EXPECT_FALSE(parse_page_size("", size));
}

TEST(MmuTypes, Hex) {
  EXPECT_EQ(hex(0), "0x0");
  EXPECT_EQ(hex(0xffff'c900'0000'0000), "0xffffc90000000000");
}

TEST(MmuRandom, StableHashIsFnv1a) {
  // Published FNV-1a 64-bit test vectors.
  EXPECT_EQ(stable_hash(""), 0xcbf2'9ce4'8422'2325u);
  EXPECT_EQ(stable_hash("a"), 0xaf63'dc4c'8601'ec8cu);
  EXPECT_EQ(stable_hash("foobar"), 0x8594'4171'f739'67e8u);
}

TEST(MmuRandom, SplitMix64FromZero) {
  // The first outputs of SplitMix64 seeded with 0, from its reference implementation.
  std::uint64_t state = 0;
  EXPECT_EQ(splitmix64(state), 0xe220'a839'7b1d'cdafu);
  EXPECT_EQ(splitmix64(state), 0x6e78'9e6a'a1b9'65f4u);
  EXPECT_EQ(splitmix64(state), 0x06c4'5d18'8009'454fu);
}

TEST(MmuRandom, Xoshiro256StarStarSeededBySplitMix) {
  // xoshiro256** (Blackman and Vigna) with its state taken from SplitMix64(0), as the
  // authors recommend; values from the reference algorithm.
  Rng rng(0);
  EXPECT_EQ(rng.next(), 0x99ec'5f36'cb75'f2b4u);
  EXPECT_EQ(rng.next(), 0xbf6e'1f78'4956'452au);
  EXPECT_EQ(rng.next(), 0x1a5f'849d'4933'e6e0u);
}

TEST(MmuRandom, NamedStreamsAreDeterministicAndDistinct) {
  Rng a1(42, "cpu0");
  Rng a2(42, "cpu0");
  Rng b(42, "cpu1");
  bool any_difference = false;
  for (int i = 0; i < 16; ++i) {
    const std::uint64_t x = a1.next();
    EXPECT_EQ(x, a2.next());
    any_difference = any_difference || x != b.next();
  }
  EXPECT_TRUE(any_difference);
  // The named stream is the plain stream of seed ^ hash(name).
  Rng named(42, "cpu0");
  Rng plain(42 ^ stable_hash("cpu0"));
  EXPECT_EQ(named.next(), plain.next());
}

TEST(MmuRandom, BoundedDraws) {
  Rng rng(7);
  EXPECT_EQ(rng.below(0), 0u);
  EXPECT_EQ(rng.below(1), 0u);
  EXPECT_EQ(rng.between(5, 5), 5u);
  bool seen[3] = {false, false, false};
  for (int i = 0; i < 300; ++i) {
    const std::uint64_t x = rng.between(10, 12);
    ASSERT_GE(x, 10u);
    ASSERT_LE(x, 12u);
    seen[x - 10] = true;
  }
  EXPECT_TRUE(seen[0] && seen[1] && seen[2]);
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(rng.chance(0, 5));
    EXPECT_TRUE(rng.chance(5, 5));
    EXPECT_FALSE(rng.chance(0.0));
    EXPECT_TRUE(rng.chance(1.0));
  }
}

}  // namespace
}  // namespace mmusim::mmu
