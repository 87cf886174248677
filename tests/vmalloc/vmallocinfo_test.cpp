// /proc/vmallocinfo, line for line: "0x<start>-0x<end> <size %7ld>" then the caller, pages=,
// phys=, the flag words, vpages, and per-node page counts; areas without a vm_struct print
// "vm_map_ram" or, once remove_vm_area() has marked them VM_LAZY_FREE, "unpurged vm_area".
#include <gtest/gtest.h>

#include "machine.h"

namespace mmusim::vmalloc::testing {
namespace {

TEST(Vmallocinfo, EveryKindOfArea) {
  Machine m;  // 1 CPU, NR_CPUS 64: 4 MiB vmap blocks
  auto& [kernel, guest] = m;
  // S = 0xffffc90000000000; each step's address from alloc_vmap_area():
  // 3 pages + guard from S.
  ASSERT_EQ(guest.vmalloc(3 * kPage, "alpha"), kStart);
  // 513 pages: the page array (513 x 8 bytes) is over a page, so it is vmalloc'ed after the
  // area itself: area [S+0x4000, S+0x206000), array 2 pages + guard [S+0x206000, S+0x209000).
  ASSERT_EQ(guest.vzalloc(513 * kPage, "zeta"), kStart + 0x4000);
  // align SHMLBA = 4 KiB >= cached_align 1: on from the cache.
  ASSERT_EQ(guest.vmalloc_user(kPage, "user_buf"), kStart + 0x209000);
  // align 1 < 4 KiB: the walk from S finds no hole before the end of user_buf.
  const auto frames = take_frames(kernel, 2);
  ASSERT_EQ(guest.vmap(frames, 2, vm_flags::kMap, PageProt::kKernel, "mapper"), kStart + 0x20b000);
  // VM_IOREMAP, 8 KiB: aligned to 8 KiB, which S+0x20e000 is.
  VmStruct* io = guest.get_vm_area(0x2000, vm_flags::kIoremap, "ioremap_caller");
  ASSERT_EQ(io->addr, kStart + 0x20e000);
  io->phys_addr = 0xfed00000;
  // A vmap block: 4 MiB aligned, ALIGN(S+0x211000, 4 MiB) = S+0x400000.
  ASSERT_EQ(guest.vm_map_ram(frames, 2, kNumaNoNode, PageProt::kKernel), kStart + 0x400000);
  // 65 pages: own area, align PAGE_SIZE < 4 MiB: first hole from S, [S+0x211000, +0x41000).
  const std::vector<mmu::Pfn> many(65, frames[0]);
  ASSERT_EQ(guest.vm_map_ram(many, 65, kNumaNoNode, PageProt::kKernel), kStart + 0x211000);
  // align 1 < 4 KiB: the first hole from S again, [S+0x252000, S+0x254000); then freed.
  const std::uint64_t temp = guest.vmalloc(kPage, "temp");
  ASSERT_EQ(temp, kStart + 0x252000);
  guest.vfree(temp);

  EXPECT_EQ(guest.vmallocinfo(),
            "0xffffc90000000000-0xffffc90000004000   16384 alpha pages=3 vmalloc N0=3\n"
            "0xffffc90000004000-0xffffc90000206000 2105344 zeta pages=513 vmalloc vpages N0=513\n"
            "0xffffc90000206000-0xffffc90000209000   12288 zeta pages=2 vmalloc N0=2\n"
            "0xffffc90000209000-0xffffc9000020b000    8192 user_buf pages=1 vmalloc user N0=1\n"
            "0xffffc9000020b000-0xffffc9000020e000   12288 mapper vmap\n"
            "0xffffc9000020e000-0xffffc90000211000   12288 ioremap_caller phys=0x00000000fed00000 "
            "ioremap\n"
            "0xffffc90000211000-0xffffc90000252000  266240 vm_map_ram\n"
            "0xffffc90000252000-0xffffc90000254000    8192 unpurged vm_area\n"
            "0xffffc90000400000-0xffffc90000800000 4194304 vm_map_ram\n");
}

TEST(Vmallocinfo, EmptyAfterEverythingIsPurged) {
  Machine m;
  auto& guest = m.guest;
  guest.vfree(guest.vmalloc(600 * kPage));
  // Both the area and its vmalloc'ed page array are lazily freed.
  EXPECT_EQ(guest.vmallocinfo(),
            "0xffffc90000000000-0xffffc90000259000 2461696 unpurged vm_area\n"
            "0xffffc90000259000-0xffffc9000025c000   12288 unpurged vm_area\n");
  guest.vm_unmap_aliases();
  EXPECT_EQ(guest.vmallocinfo(), "");
}

TEST(Vmallocinfo, CountsPagesPerNode) {
  MachineOptions options;
  options.memory_bytes = 512 * kMiB;
  options.numa_nodes = 2;
  Machine m(options);
  auto& [kernel, guest] = m;
  ASSERT_EQ(guest.vmalloc_node(2 * kPage, 1, "on_node1"), kStart);
  ASSERT_EQ(guest.vmalloc_node(kPage, 0, "on_node0"), kStart + 0x3000);
  // No node given: alloc_page() follows the local node of the allocating CPU.
  kernel.set_numa_node(1);
  ASSERT_EQ(guest.vmalloc(3 * kPage, "local"), kStart + 0x5000);
  EXPECT_EQ(guest.vmallocinfo(),
            "0xffffc90000000000-0xffffc90000003000   12288 on_node1 pages=2 vmalloc N1=2\n"
            "0xffffc90000003000-0xffffc90000005000    8192 on_node0 pages=1 vmalloc N0=1\n"
            "0xffffc90000005000-0xffffc90000009000   16384 local pages=3 vmalloc N1=3\n");
}

TEST(Vmallocinfo, EarlyAreasHaveNoCaller) {
  VmStruct early;
  early.size = 0x5000;
  early.flags = vm_flags::kAlloc;
  MachineOptions options;
  options.boot = false;
  Machine m(options);
  m.guest.vm_area_register_early(&early, kPage);
  m.guest.vmalloc_init();
  EXPECT_EQ(m.guest.vmallocinfo(), "0xffffc90000000000-0xffffc90000005000   20480 vmalloc\n");
}

}  // namespace
}  // namespace mmusim::vmalloc::testing
