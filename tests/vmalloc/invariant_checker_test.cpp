// vmalloc/invariants.h: silent across normal use of every kind of allocation, and loud, with
// the numbers, when the books are broken on purpose.
#include <algorithm>

#include <gtest/gtest.h>

#include "machine.h"
#include "mmu/random.h"
#include "vmalloc/invariants.h"

namespace mmusim::vmalloc::testing {
namespace {

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines)
    out += line + "\n";
  return out;
}

bool mentions(const std::vector<std::string>& lines, const std::string& text) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& line) { return line.find(text) != std::string::npos; });
}

VmallocConfig small_blocks(UnmapAliases mode) {
  VmallocConfig config;
  config.nr_cpus = 8192;  // 256-page blocks
  config.lazy_max_pages_mode = LazyMaxPages::kFixed;
  config.lazy_max_pages = 200;
  config.vm_unmap_aliases = mode;
  return config;
}

struct Held {
  enum Kind { kVmalloc, kVmap, kVmMapRam, kVmArea } kind;
  std::uint64_t addr = 0;
  std::uint32_t count = 0;
  VmStruct* vm = nullptr;
};

// Gives back what `item` holds, with the call that matches how it was obtained.
void release(Vmalloc& guest, const Held& item) {
  switch (item.kind) {
    case Held::kVmalloc:
      guest.vfree(item.addr);
      break;
    case Held::kVmap:
      guest.vunmap(item.addr);
      break;
    case Held::kVmMapRam:
      guest.vm_unmap_ram(item.addr, item.count);
      break;
    case Held::kVmArea:
      guest.free_vm_area(item.vm);
      break;
  }
}

// A random mix on two CPUs, checked after every step and after every purge; then everything
// is freed and purged, and the end-of-run check must find nothing left.
void run_clean_mix(UnmapAliases mode, std::uint64_t seed) {
  Machine m(with_config(small_blocks(mode), 2));
  auto& [kernel, guest] = m;
  std::uint64_t purges_checked = 0;
  guest.set_purge_hook([&] {
    ++purges_checked;
    EXPECT_EQ(joined(InvariantChecker::check(guest, CheckMoment::kConcurrent)), "");
  });
  mmu::Rng rng(seed, "invariant-checker-mix");
  std::vector<Held> held;
  std::vector<std::vector<mmu::Pfn>> caller_pages;  // freed at the end, as callers would
  for (int step = 0; step < 1000; ++step) {
    kernel.set_cpu(static_cast<int>(rng.below(2)));
    const std::uint64_t op = rng.below(100);
    if (op < 25) {
      const std::uint64_t addr = guest.vmalloc((1 + rng.below(24)) * kPage);
      ASSERT_NE(addr, 0u);
      held.push_back({Held::kVmalloc, addr, 0, nullptr});
    } else if (op < 35) {
      const auto count = static_cast<std::uint32_t>(1 + rng.below(8));
      caller_pages.push_back(take_frames(kernel, count));
      const std::uint64_t addr =
          guest.vmap(caller_pages.back(), count, vm_flags::kMap, PageProt::kKernel);
      ASSERT_NE(addr, 0u);
      held.push_back({Held::kVmap, addr, count, nullptr});
    } else if (op < 50) {
      const auto count = static_cast<std::uint32_t>(1 + rng.below(90));
      caller_pages.push_back(take_frames(kernel, count));
      const std::uint64_t addr =
          guest.vm_map_ram(caller_pages.back(), count, kNumaNoNode, PageProt::kKernel);
      ASSERT_NE(addr, 0u);
      held.push_back({Held::kVmMapRam, addr, count, nullptr});
    } else if (op < 55) {
      VmStruct* vm = guest.get_vm_area((1 + rng.below(16)) * kPage, vm_flags::kIoremap);
      ASSERT_NE(vm, nullptr);
      held.push_back({Held::kVmArea, vm->addr, 0, vm});
    } else if (op < 93) {
      if (held.empty()) continue;
      const std::size_t index = rng.below(held.size());
      const Held item = held[index];
      held.erase(held.begin() + static_cast<long>(index));
      // A third of the vfrees come from interrupt context, so they are deferred.
      const bool in_interrupt = item.kind == Held::kVmalloc && rng.below(3) == 0;
      kernel.set_interrupt(in_interrupt);
      release(guest, item);
      kernel.set_interrupt(false);
    } else if (op < 96) {
      guest.vm_unmap_aliases();
    } else {
      kernel.run_work(static_cast<int>(rng.below(2)));
    }
    ASSERT_EQ(joined(InvariantChecker::check(guest, CheckMoment::kQuiescent)), "")
        << "step " << step;
  }
  EXPECT_GT(purges_checked, 10u);

  for (const Held& item : held)
    release(guest, item);
  kernel.run_work(0);
  kernel.run_work(1);
  for (const auto& pages : caller_pages) {
    for (const mmu::Pfn pfn : pages)
      kernel.pages().free_page(pfn);
  }
  InvariantChecker::purge_all(guest);
  EXPECT_EQ(joined(InvariantChecker::check_empty(guest)), "");
  EXPECT_TRUE(kernel.bugs().empty()) << joined(kernel.bugs());
  EXPECT_TRUE(kernel.warnings().empty()) << joined(kernel.warnings());
}

TEST(InvariantChecker, SilentAcrossARandomMixLinux419) {
  run_clean_mix(UnmapAliases::kLinux419, 11);
}

TEST(InvariantChecker, SilentAcrossARandomMixLinux65) {
  run_clean_mix(UnmapAliases::kLinux65, 12);
}

TEST(InvariantChecker, ReportsAnUnbalancedLazyCount) {
  Machine m(with_config(small_blocks(UnmapAliases::kLinux419)));
  auto& [kernel, guest] = m;
  const std::uint64_t a = guest.vmalloc(3 * kPage);
  guest.vfree(a);  // 4 pages (3 and the guard) wait for a purge
  ASSERT_EQ(guest.vmap_lazy_nr(), 4u);
  EXPECT_EQ(joined(InvariantChecker::check(guest, CheckMoment::kQuiescent)), "");

  InvariantChecker::unbalance_lazy_count_for_test(guest, 3);
  const auto violations = InvariantChecker::check(guest, CheckMoment::kQuiescent);
  EXPECT_TRUE(mentions(violations,
                       "vmap_lazy_nr is 7 but the lazily freed areas on vmap_purge_list add up to "
                       "4 pages (1 areas)"))
      << joined(violations);
  EXPECT_TRUE(mentions(violations, "the pages freed lazily (4) minus the pages purged (0) are 4"))
      << joined(violations);
  InvariantChecker::unbalance_lazy_count_for_test(guest, -3);
  EXPECT_EQ(joined(InvariantChecker::check(guest, CheckMoment::kQuiescent)), "");
}

TEST(InvariantChecker, ReportsAStaleSearchSummary) {
  Machine m;
  auto& [kernel, guest] = m;
  guest.vmalloc(kPage);
  const std::uint64_t b = guest.vmalloc(kPage);
  InvariantChecker::set_gap_before_for_test(guest, b, 12345);
  const auto violations = InvariantChecker::check(guest, CheckMoment::kQuiescent);
  EXPECT_TRUE(mentions(violations, "search summary is out of date at 0xffffc90000002000"))
      << joined(violations);
}

TEST(InvariantChecker, ReportsAVmallocPageMappedTwice) {
  Machine m;
  auto& [kernel, guest] = m;
  const std::uint64_t a = guest.vmalloc(2 * kPage);
  const mmu::Pfn page = *frame_at(kernel, a);
  // The same page at a second kernel address, behind the guest's back.
  const std::uint64_t alias = kStart + kGiB;
  ASSERT_TRUE(
      kernel.page_tables().map_pages(kernel.kernel_root(), mmu::VirtAddr{alias}, {page}, {}).ok());
  const auto violations = InvariantChecker::check(guest, CheckMoment::kQuiescent);
  EXPECT_TRUE(mentions(
      violations, "0xffffc90040000000 (frame " +
                      [&] {
                        char buf[24];
                        std::snprintf(buf, sizeof buf, "0x%016llx",
                                      static_cast<unsigned long long>(page.value()));
                        return std::string(buf);
                      }() +
                      ") is mapped outside every busy area"))
      << joined(violations);
  EXPECT_TRUE(mentions(violations, "is mapped at 0xffffc90000000000 and at 0xffffc90040000000"))
      << joined(violations);
  EXPECT_TRUE(mentions(violations, "outside that area")) << joined(violations);
}

TEST(InvariantChecker, AllowsAliasesACallerMadeWithVmMapRamAndVmap) {
  Machine m(with_config(small_blocks(UnmapAliases::kLinux419)));
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 4);
  const std::uint64_t a = guest.vm_map_ram(frames, 4, kNumaNoNode, PageProt::kKernel);
  const std::uint64_t b = guest.vm_map_ram(frames, 4, kNumaNoNode, PageProt::kKernel);
  const std::uint64_t c = guest.vmap(frames, 4, vm_flags::kMap, PageProt::kKernel);
  ASSERT_NE(a, 0u);
  ASSERT_NE(b, 0u);
  ASSERT_NE(c, 0u);
  EXPECT_EQ(joined(InvariantChecker::check(guest, CheckMoment::kQuiescent)), "");
}

TEST(InvariantChecker, ReportsAVmapBlockWhoseCountsOverflow) {
  Machine m(with_config(small_blocks(UnmapAliases::kLinux419)));
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 8);
  const std::uint64_t a = guest.vm_map_ram(frames, 8, kNumaNoNode, PageProt::kKernel);
  ASSERT_NE(a, 0u);
  EXPECT_EQ(joined(InvariantChecker::check(guest, CheckMoment::kQuiescent)), "");
  // 256-page block: 8 pages handed out, 248 free. Claim 255 free: 8 mapped, 1 allocated.
  InvariantChecker::set_block_free_for_test(guest, a, 255);
  auto violations = InvariantChecker::check(guest, CheckMoment::kQuiescent);
  EXPECT_TRUE(
      mentions(violations, "vmap block 0xffffc90000000000 has 8 pages mapped but only 1 allocated"))
      << joined(violations);
  InvariantChecker::set_block_free_for_test(guest, a, 300);
  violations = InvariantChecker::check(guest, CheckMoment::kQuiescent);
  EXPECT_TRUE(mentions(violations, "free 300 + dirty 0 exceed the block's 256 pages"))
      << joined(violations);
}

TEST(InvariantChecker, TeardownCheckReportsWhatIsLeft) {
  Machine m;
  auto& [kernel, guest] = m;
  const std::uint64_t a = guest.vmalloc(2 * kPage, "leaky_driver");
  ASSERT_NE(a, 0u);
  InvariantChecker::purge_all(guest);
  const auto violations = InvariantChecker::check_empty(guest);
  EXPECT_TRUE(mentions(violations,
                       "area 0xffffc90000000000-0xffffc90000003000 (3 pages, vmalloc, caller "
                       "leaky_driver) is still busy after everything was freed and purged"))
      << joined(violations);
  EXPECT_TRUE(mentions(violations, "/proc/vmallocinfo still lists \"0xffffc90000000000-"))
      << joined(violations);
  EXPECT_TRUE(mentions(violations, "2 are not back")) << joined(violations);

  guest.vfree(a);
  InvariantChecker::purge_all(guest);
  EXPECT_EQ(joined(InvariantChecker::check_empty(guest)), "");
}

TEST(InvariantChecker, ClassifiesAreasForTheTeardown) {
  Machine m(with_config(small_blocks(UnmapAliases::kLinux419)));
  auto& [kernel, guest] = m;
  const auto frames = take_frames(kernel, 80);
  const std::uint64_t v = guest.vmalloc(kPage);
  const std::uint64_t block = guest.vm_map_ram(frames, 2, kNumaNoNode, PageProt::kKernel);
  const std::uint64_t big = guest.vm_map_ram(frames, 80, kNumaNoNode, PageProt::kKernel);
  VmStruct* area = guest.get_vm_area(kPage, vm_flags::kIoremap);
  const std::uint64_t lazy = guest.vmalloc(kPage);
  guest.vfree(lazy);
  EXPECT_EQ(InvariantChecker::area_at(guest, v)->kind, AreaKind::kVmalloc);
  EXPECT_EQ(InvariantChecker::area_at(guest, block)->kind, AreaKind::kVmapBlock);
  EXPECT_EQ(InvariantChecker::area_at(guest, big)->kind, AreaKind::kVmMapRam);
  EXPECT_EQ(InvariantChecker::area_at(guest, area->addr)->kind, AreaKind::kVmArea);
  EXPECT_EQ(InvariantChecker::area_at(guest, lazy)->kind, AreaKind::kLazy);
  EXPECT_FALSE(InvariantChecker::area_at(guest, kStart + kGiB).has_value());
  EXPECT_EQ(InvariantChecker::areas(guest).size(), 5u);
}

TEST(InvariantChecker, PercpuAreasHaveVmAllocButNoPagesOfTheirOwn) {
  // pcpu_get_vm_areas() gives its vm_structs VM_ALLOC; the percpu allocator maps its own
  // pages into them, so they are no vmalloc areas with missing pages.
  Machine m;
  auto& [kernel, guest] = m;
  std::vector<VmStruct*> vms =
      guest.pcpu_get_vm_areas({0, 4 * kPage}, {2 * kPage, 2 * kPage}, kPage);
  ASSERT_EQ(vms.size(), 2u);
  EXPECT_EQ(vms[0]->flags & vm_flags::kAlloc, vm_flags::kAlloc);
  EXPECT_EQ(InvariantChecker::area_at(guest, vms[0]->addr)->kind, AreaKind::kVmArea);
  // Nor have they a guard page: their last page may be mapped.
  const auto frames = take_frames(kernel, 2);
  ASSERT_EQ(guest.map_kernel_range_noflush(vms[0]->addr, 2 * kPage, PageProt::kKernel, frames), 2);
  EXPECT_EQ(joined(InvariantChecker::check(guest, CheckMoment::kQuiescent)), "");
  guest.unmap_kernel_range(vms[0]->addr, 2 * kPage);
  for (const mmu::Pfn pfn : frames)
    kernel.pages().free_page(pfn);
  guest.pcpu_free_vm_areas(vms);
  InvariantChecker::purge_all(guest);
  EXPECT_EQ(joined(InvariantChecker::check_empty(guest)), "");
}

TEST(InvariantChecker, EarlyAreasAreNotLeftovers) {
  MachineOptions options;
  options.boot = false;
  Machine m(options);
  auto& [kernel, guest] = m;
  VmStruct early;
  early.flags = vm_flags::kAlloc;
  early.size = 4 * kPage;
  guest.vm_area_register_early(&early, kPage);
  guest.vmalloc_init();
  EXPECT_EQ(InvariantChecker::area_at(guest, early.addr)->kind, AreaKind::kEarly);
  EXPECT_EQ(joined(InvariantChecker::check_empty(guest)), "");
}

}  // namespace
}  // namespace mmusim::vmalloc::testing
