// Sparse physical memory (zero reads, materialisation, bounds, NUMA split) and the
// deterministic frame allocator.
#include "mmu/phys_mem.h"

#include <array>
#include <cstdint>
#include <optional>

#include <gtest/gtest.h>

#include "tests/mmu/printers.h"

namespace mmusim::mmu {
namespace {

constexpr std::uint64_t k64MiB = std::uint64_t{64} << 20;  // 0x4000000 bytes, 16384 frames

PhysMemConfig config(std::uint64_t bytes, std::uint32_t nodes = 1) {
  PhysMemConfig config;
  config.size_bytes = bytes;
  config.numa_nodes = nodes;
  return config;
}

TEST(PhysMem, UntouchedFramesReadZero) {
  const PhysMem memory(config(k64MiB));
  EXPECT_EQ(memory.read_u64(PhysAddr{0x123'4568}), 0u);
  std::array<std::uint8_t, 32> buffer;
  buffer.fill(0xaa);
  memory.read(PhysAddr{0x3000}, buffer.data(), buffer.size());
  for (std::uint8_t byte : buffer)
    EXPECT_EQ(byte, 0u);
  EXPECT_FALSE(memory.is_materialised(Pfn{0x1234}));
  EXPECT_EQ(memory.stats().frames_materialised, 0u);
  EXPECT_EQ(memory.stats().out_of_range_accesses, 0u);
}

TEST(PhysMem, FirstWriteMaterialisesAFrameOnce) {
  PhysMem memory(config(k64MiB));
  memory.write_u64(PhysAddr{0x2008}, 0x1122'3344'5566'7788);
  EXPECT_TRUE(memory.is_materialised(Pfn{2}));
  EXPECT_EQ(memory.stats().frames_materialised, 1u);
  EXPECT_EQ(memory.read_u64(PhysAddr{0x2008}), 0x1122'3344'5566'7788u);
  EXPECT_EQ(memory.read_u64(PhysAddr{0x2000}), 0u);  // rest of the frame is zero-filled
  memory.write_u64(PhysAddr{0x2ff8}, 1);
  EXPECT_EQ(memory.stats().frames_materialised, 1u);
  memory.write_u64(PhysAddr{0x5000}, 2);
  EXPECT_EQ(memory.stats().frames_materialised, 2u);
  EXPECT_FALSE(memory.is_materialised(Pfn{3}));
}

TEST(PhysMem, ReadsAndWritesCrossFrames) {
  PhysMem memory(config(k64MiB));
  std::array<std::uint8_t, 16> bytes;
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<std::uint8_t>(i);
  memory.write(PhysAddr{0x1ff8}, bytes.data(), bytes.size());  // 8 bytes in frame 1, 8 in 2
  EXPECT_EQ(memory.stats().frames_materialised, 2u);
  std::array<std::uint8_t, 16> back{};
  memory.read(PhysAddr{0x1ff8}, back.data(), back.size());
  EXPECT_EQ(back, bytes);
  // Little-endian: the byte at the lowest address is the least significant.
  EXPECT_EQ(memory.read_u64(PhysAddr{0x2000}), 0x0f0e'0d0c'0b0a'0908u);
  // An unaligned 8-byte read across the frame boundary: bytes 4..11.
  EXPECT_EQ(memory.read_u64(PhysAddr{0x1ffc}), 0x0b0a'0908'0706'0504u);
  memory.write_u64(PhysAddr{0x7ffc}, 0x8877'6655'4433'2211);  // frames 7 and 8
  EXPECT_EQ(memory.read_u64(PhysAddr{0x7ffc}), 0x8877'6655'4433'2211u);
  EXPECT_EQ(memory.read_u64(PhysAddr{0x8000}), 0x8877'6655u);
  EXPECT_EQ(memory.stats().frames_materialised, 4u);
}

TEST(PhysMem, OutOfRangeAccessesAreCountedOnce) {
  PhysMem memory(config(k64MiB));
  EXPECT_EQ(memory.read_u64(PhysAddr{k64MiB}), 0u);
  EXPECT_EQ(memory.stats().out_of_range_accesses, 1u);
  memory.write_u64(PhysAddr{k64MiB - 4}, ~std::uint64_t{0});  // straddles the end
  EXPECT_EQ(memory.stats().out_of_range_accesses, 2u);
  EXPECT_FALSE(memory.is_materialised(Pfn{0x3fff}));
  memory.write_u64(PhysAddr{k64MiB - 8}, 5);  // the last 8 bytes are in range
  EXPECT_EQ(memory.read_u64(PhysAddr{k64MiB - 8}), 5u);
  EXPECT_EQ(memory.stats().out_of_range_accesses, 2u);
  // A three-frame read that runs past the end is one access.
  std::array<std::uint8_t, 0x3000> buffer;
  buffer.fill(0xaa);
  memory.read(PhysAddr{k64MiB - 0x1000}, buffer.data(), buffer.size());
  EXPECT_EQ(memory.stats().out_of_range_accesses, 3u);
  EXPECT_EQ(buffer[0], 0u);
  EXPECT_EQ(buffer[0x2fff], 0u);
  EXPECT_EQ(memory.stats().frames_materialised, 1u);
}

TEST(PhysMem, AddressesNearTwoToThe64DoNotWrap) {
  PhysMem memory(config(k64MiB));
  memory.write_u64(PhysAddr{0xffff'ffff'ffff'fffc}, 1);
  EXPECT_EQ(memory.read_u64(PhysAddr{0xffff'ffff'ffff'fff8}), 0u);
  std::array<std::uint8_t, 0x20> buffer{};
  memory.write(PhysAddr{0xffff'ffff'ffff'fff0}, buffer.data(), buffer.size());
  EXPECT_EQ(memory.stats().out_of_range_accesses, 3u);
  EXPECT_EQ(memory.stats().frames_materialised, 0u);
  EXPECT_FALSE(memory.is_materialised(Pfn{0}));
}

TEST(PhysMem, ZeroFrame) {
  PhysMem memory(config(k64MiB));
  memory.write_u64(PhysAddr{0x4010}, 0xdead);
  memory.zero_frame(Pfn{4});
  EXPECT_EQ(memory.read_u64(PhysAddr{0x4010}), 0u);
  memory.zero_frame(Pfn{9});  // never written: stays unmaterialised
  EXPECT_FALSE(memory.is_materialised(Pfn{9}));
  EXPECT_EQ(memory.stats().frames_materialised, 1u);
}

TEST(PhysMem, SizeIsRoundedDownToFrames) {
  const PhysMem memory(config((std::uint64_t{16} << 20) + 0xfff));
  EXPECT_EQ(memory.size_bytes(), std::uint64_t{16} << 20);
  EXPECT_EQ(memory.frame_count(), 4096u);
}

TEST(PhysMem, NumaNodesSplitFramesEvenly) {
  const PhysMem memory(config(k64MiB, 4));  // 16384 frames, 4096 per node
  EXPECT_EQ(memory.numa_nodes(), 4u);
  EXPECT_EQ(memory.node_of(Pfn{0}), 0u);
  EXPECT_EQ(memory.node_of(Pfn{4095}), 0u);
  EXPECT_EQ(memory.node_of(Pfn{4096}), 1u);
  EXPECT_EQ(memory.node_of(Pfn{16383}), 3u);
  EXPECT_EQ(memory.node_first_frame(2), Pfn{8192});
  EXPECT_EQ(memory.node_frame_count(3), 4096u);
}

TEST(PhysMem, LastNumaNodeTakesTheRemainder) {
  // 4099 frames over 2 nodes: 2049 each, and the last node one more.
  const PhysMem memory(config((std::uint64_t{16} << 20) + 0x3000, 2));
  EXPECT_EQ(memory.frame_count(), 4099u);
  EXPECT_EQ(memory.node_frame_count(0), 2049u);
  EXPECT_EQ(memory.node_frame_count(1), 2050u);
  EXPECT_EQ(memory.node_first_frame(1), Pfn{2049});
  EXPECT_EQ(memory.node_of(Pfn{2048}), 0u);
  EXPECT_EQ(memory.node_of(Pfn{2049}), 1u);
  EXPECT_EQ(memory.node_of(Pfn{4098}), 1u);
}

TEST(FrameAllocator, SkipsReservedFramesThenBumps) {
  const PhysMem memory(config(k64MiB));
  SimpleFrameAllocator frames(memory, 16);
  EXPECT_EQ(frames.allocate_frame(0), Pfn{16});
  EXPECT_EQ(frames.allocate_frame(0), Pfn{17});
  EXPECT_EQ(frames.allocate_frame(0), Pfn{18});
  EXPECT_EQ(frames.allocated(), 3u);
}

TEST(FrameAllocator, LowestFreedFrameFirstThenBump) {
  const PhysMem memory(config(k64MiB));
  SimpleFrameAllocator frames(memory, 16);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(frames.allocate_frame(0).has_value());  // 16..20
  frames.free_frame(Pfn{19});
  frames.free_frame(Pfn{17});
  frames.free_frame(Pfn{18});
  EXPECT_EQ(frames.allocated(), 2u);
  EXPECT_EQ(frames.allocate_frame(0), Pfn{17});
  EXPECT_EQ(frames.allocate_frame(0), Pfn{18});
  EXPECT_EQ(frames.allocate_frame(0), Pfn{19});
  EXPECT_EQ(frames.allocate_frame(0), Pfn{21});
  EXPECT_EQ(frames.allocated(), 6u);
}

TEST(FrameAllocator, EachNodeHasItsOwnFrames) {
  const PhysMem memory(config(k64MiB, 2));  // node 1 starts at frame 8192
  SimpleFrameAllocator frames(memory, 16);  // reserves low memory of node 0 only
  EXPECT_EQ(frames.allocate_frame(1), Pfn{8192});
  EXPECT_EQ(frames.allocate_frame(0), Pfn{16});
  frames.free_frame(Pfn{8192});
  EXPECT_EQ(frames.allocate_frame(0), Pfn{17});    // node 1's free frame is not used
  EXPECT_EQ(frames.allocate_frame(1), Pfn{8192});  // but node 1 gets it back
  EXPECT_EQ(frames.allocate_frame(7), Pfn{18});    // an unknown node means node 0
}

TEST(FrameAllocator, FallsBackToOtherNodesThenRunsOut) {
  const PhysMem memory(config(0x8000, 2));  // 8 frames: node 0 = 0..3, node 1 = 4..7
  SimpleFrameAllocator frames(memory, 1);
  for (std::uint64_t pfn = 4; pfn < 8; ++pfn)
    EXPECT_EQ(frames.allocate_frame(1), Pfn{pfn});
  EXPECT_EQ(frames.allocate_frame(1), Pfn{1});  // node 1 is full: node 0's first free frame
  EXPECT_EQ(frames.allocate_frame(0), Pfn{2});
  frames.free_frame(Pfn{5});
  EXPECT_EQ(frames.allocate_frame(0), Pfn{3});
  EXPECT_EQ(frames.allocate_frame(0), Pfn{5});  // node 0 is full: node 1's freed frame
  EXPECT_EQ(frames.allocate_frame(0), std::nullopt);
  EXPECT_EQ(frames.allocate_frame(1), std::nullopt);
  EXPECT_EQ(frames.allocated(), 7u);
}

}  // namespace
}  // namespace mmusim::mmu
