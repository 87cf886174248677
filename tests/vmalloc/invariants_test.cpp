// A long random mix of every kind of allocation and free, on two CPUs, with frequent purges:
// the guest's books (check_invariants()) must balance after every single step, and once
// everything is freed and purged nothing may be left.
#include <gtest/gtest.h>

#include "machine.h"
#include "mmu/random.h"

namespace mmusim::vmalloc::testing {
namespace {

struct Live {
  enum Kind { kVmalloc, kVmMapRam, kVmArea } kind;
  std::uint64_t addr = 0;
  std::uint32_t count = 0;
  VmStruct* vm = nullptr;
};

void run_mix(UnmapAliases mode, std::uint64_t seed) {
  VmallocConfig config;
  config.nr_cpus = 8192;  // 256-page blocks fill and retire often
  config.lazy_max_pages_mode = LazyMaxPages::kFixed;
  config.lazy_max_pages = 300;
  config.vm_unmap_aliases = mode;
  Machine m(with_config(config, 2));
  auto& [kernel, guest] = m;
  const std::uint64_t pages_in_use = kernel.pages().stats().in_use;
  const std::uint64_t tables_before = kernel.pages().stats().table_pages_allocated;
  const auto frames = take_frames(kernel, 80);
  mmu::Rng rng(seed, "vmalloc-mix");
  std::vector<Live> live;

  const auto free_one = [&](std::size_t index) {
    const Live item = live[index];
    live.erase(live.begin() + static_cast<long>(index));
    switch (item.kind) {
      case Live::kVmalloc:
        if (rng.below(4) == 0) {
          kernel.set_interrupt(true);  // deferred to this CPU's work
          guest.vfree(item.addr);
          kernel.set_interrupt(false);
        } else {
          guest.vfree(item.addr);
        }
        break;
      case Live::kVmMapRam:
        guest.vm_unmap_ram(item.addr, item.count);
        break;
      case Live::kVmArea:
        guest.free_vm_area(item.vm);
        break;
    }
  };

  for (int step = 0; step < 3000; ++step) {
    kernel.set_cpu(static_cast<int>(rng.below(2)));
    const std::uint64_t op = rng.below(100);
    if (op < 25) {
      const std::uint64_t pages = 1 + rng.below(20);
      const std::uint64_t addr = guest.vmalloc(pages * kPage);
      ASSERT_NE(addr, 0u);
      live.push_back({Live::kVmalloc, addr, 0, nullptr});
    } else if (op < 45) {
      const auto count = static_cast<std::uint32_t>(1 + rng.below(80));
      const std::uint64_t addr = guest.vm_map_ram(frames, count, kNumaNoNode, PageProt::kKernel);
      ASSERT_NE(addr, 0u);
      live.push_back({Live::kVmMapRam, addr, count, nullptr});
    } else if (op < 55) {
      const std::uint64_t flags = rng.below(2) == 0 ? vm_flags::kIoremap : 0;
      VmStruct* vm = guest.get_vm_area((1 + rng.below(40)) * kPage, flags);
      ASSERT_NE(vm, nullptr);
      live.push_back({Live::kVmArea, vm->addr, 0, vm});
    } else if (op < 95) {
      if (!live.empty()) free_one(rng.below(live.size()));
    } else if (op < 97) {
      guest.vm_unmap_aliases();
    } else {
      kernel.run_work(static_cast<int>(rng.below(2)));
    }
    ASSERT_EQ(guest.check_invariants(), "") << "step " << step;
  }

  while (!live.empty())
    free_one(live.size() - 1);
  kernel.run_work(0);
  kernel.run_work(1);
  guest.vm_unmap_aliases();
  EXPECT_EQ(guest.check_invariants(), "");
  EXPECT_EQ(guest.vmap_lazy_nr(), 0u);
  // Blocks with nothing allocated in them: 4.19's vm_unmap_aliases() retires them all; 6.5's
  // keeps those with a quarter or more of their space unused.
  for (int cpu = 0; cpu < 2; ++cpu) {
    for (const VmapBlock* block : guest.vmap_block_queue(cpu)) {
      EXPECT_EQ(mode, UnmapAliases::kLinux65);
      EXPECT_EQ(block->free + block->dirty, guest.vmap_bbmap_bits());
      EXPECT_GE(block->free, guest.vmap_bbmap_bits() / 4);
    }
  }
  // An allocation that cannot succeed (one page and its guard in a one-page window) makes
  // purge_vmap_area_lazy() retire every fragmented block.
  const std::uint64_t window = kStart + 0x100000000;
  EXPECT_EQ(guest.__get_vm_area(kPage, 0, window, window + kPage), nullptr);
  EXPECT_EQ(kernel.messages(),
            (std::vector<std::string>{
                "vmap allocation for size 8192 failed: use vmalloc=<size> to increase size"}));
  EXPECT_EQ(guest.busy_areas(), 0u);
  EXPECT_EQ(guest.vmap_lazy_nr(), 0u);
  EXPECT_TRUE(guest.vmap_block_queue(0).empty());
  EXPECT_TRUE(guest.vmap_block_queue(1).empty());
  EXPECT_TRUE(kernel.warnings().empty());
  EXPECT_TRUE(kernel.bugs().empty());
  // Every page is back but the test's own frames and the page tables built meanwhile.
  EXPECT_EQ(kernel.pages().stats().in_use,
            pages_in_use + frames.size() +
                (kernel.pages().stats().table_pages_allocated - tables_before));
  EXPECT_GT(kernel.handed_out().size(), 500u);
  for (const auto& [start, end] : kernel.handed_out()) {
    EXPECT_TRUE(start >= kStart && start < end && end <= kEnd) << std::hex << start;
  }
}

TEST(Invariants, RandomMixLinux419) {
  run_mix(UnmapAliases::kLinux419, 1);
}
TEST(Invariants, RandomMixLinux65) {
  run_mix(UnmapAliases::kLinux65, 2);
}

}  // namespace
}  // namespace mmusim::vmalloc::testing
