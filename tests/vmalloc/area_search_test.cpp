// alloc_vmap_area()'s walk past the busy areas: the host skips along the augmented area tree,
// and must end exactly where 4.19's one-by-one walk (kept as the reference) ends. Two guests
// run the same random sequences of allocations and frees (many sizes, alignments and vstart /
// vend windows, through get_vm_area, vmalloc, vm_map_ram and alloc_vmap_area itself, with
// lazy purges, vm_unmap_aliases and purge-and-retry on full windows), one walking linearly,
// and after every step their results, charges, counters and allocator state must agree.
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "machine.h"
#include "mmu/random.h"

namespace mmusim::vmalloc::testing {
namespace {

// Every counter of VmallocStats, by name.
struct StatsCollector {
  std::vector<std::pair<std::string, std::uint64_t>> values;
  void count(std::string_view name, std::uint64_t value, std::string_view /*description*/) {
    values.emplace_back(std::string(name), value);
  }
};

std::vector<std::pair<std::string, std::uint64_t>> counters(const Vmalloc& guest) {
  VmallocStats stats = guest.stats();
  StatsCollector collector;
  stats.visit(collector);
  return collector.values;
}

// Everything a step may change that the walk can influence.
struct Snapshot {
  std::uint64_t result = 0;
  std::uint64_t cycles = 0;
  std::uint64_t cached_hole_size = 0;
  std::uint64_t free_vmap_cache = 0;  // its va_start, or 0 when there is none
  bool has_free_vmap_cache = false;
  std::size_t busy_areas = 0;
  std::uint64_t vmap_lazy_nr = 0;
  std::size_t flushes = 0;
  std::size_t bugs = 0;
  std::size_t messages = 0;
  std::vector<std::pair<std::string, std::uint64_t>> counters;

  friend bool operator==(const Snapshot& a, const Snapshot& b) {
    return a.result == b.result && a.cycles == b.cycles &&
           a.cached_hole_size == b.cached_hole_size && a.free_vmap_cache == b.free_vmap_cache &&
           a.has_free_vmap_cache == b.has_free_vmap_cache && a.busy_areas == b.busy_areas &&
           a.vmap_lazy_nr == b.vmap_lazy_nr && a.flushes == b.flushes && a.bugs == b.bugs &&
           a.messages == b.messages && a.counters == b.counters;
  }
};

std::string describe(const Snapshot& s) {
  std::string out = "result " + std::to_string(s.result) + ", cycles " + std::to_string(s.cycles) +
                    ", cached_hole_size " + std::to_string(s.cached_hole_size) +
                    ", free_vmap_cache " +
                    (s.has_free_vmap_cache ? std::to_string(s.free_vmap_cache) : "none") +
                    ", busy " + std::to_string(s.busy_areas) + ", lazy " +
                    std::to_string(s.vmap_lazy_nr) + ", flushes " + std::to_string(s.flushes) +
                    ", bugs " + std::to_string(s.bugs) + ", messages " + std::to_string(s.messages);
  for (const auto& [name, value] : s.counters)
    out += ", " + name + " " + std::to_string(value);
  return out;
}

Snapshot snapshot(const Machine& m, std::uint64_t result) {
  Snapshot s;
  s.result = result;
  s.cycles = m.kernel.cycles();
  s.cached_hole_size = m.guest.cached_hole_size();
  if (const VmapArea* cache = m.guest.free_vmap_cache()) {
    s.has_free_vmap_cache = true;
    s.free_vmap_cache = cache->va_start;
  }
  s.busy_areas = m.guest.busy_areas();
  s.vmap_lazy_nr = m.guest.vmap_lazy_nr();
  s.flushes = m.kernel.flushes().size();
  s.bugs = m.kernel.bugs().size();
  s.messages = m.kernel.messages().size();
  s.counters = counters(m.guest);
  return s;
}

// What a live allocation is, to free it the way it was made.
enum class Kind { kVmArea, kVmalloc, kVmapRam, kBareArea };

struct Live {
  Kind kind;
  std::uint64_t addr;
  std::uint32_t pages;  // vm_map_ram's count
  VmStruct* vm[2];      // get_vm_area's vm_struct in each guest
};

struct Params {
  std::uint64_t seed;
  std::uint64_t lazy_max_pages;
  int steps;
};

void PrintTo(const Params& params, std::ostream* out) {
  *out << "seed " << params.seed << ", lazy_max_pages " << params.lazy_max_pages << ", "
       << params.steps << " steps";
}

class AreaSearch : public ::testing::TestWithParam<Params> {};

// Two guests, the first skipping along the area tree and the second walking linearly, and the
// random sequence they both run.
class GuestPair {
 public:
  explicit GuestPair(const Params& params) : rng_(params.seed, "area_search") {
    VmallocConfig config;
    config.lazy_max_pages_mode = LazyMaxPages::kFixed;
    config.lazy_max_pages = params.lazy_max_pages;
    config.nr_cpus = 4;
    MachineOptions options = with_config(config, 2);
    options.memory_bytes = 512 * kMiB;
    for (auto& m : machines_)
      m = std::make_unique<Machine>(options);
    machines_[1]->guest.use_linear_area_search(true);
    for (int i = 0; i < 2; ++i)
      frames_[i] = take_frames(machines_[i]->kernel, 64);
  }

  // Runs one random step on both guests; returns "" or how they differ.
  std::string step(int index, int phase) {
    const std::uint64_t roll = rng_.below(100);
    // Growing, churning and shrinking phases keep from a few to a few thousand areas busy.
    const std::uint64_t alloc_share = phase == 0 ? 75 : phase == 1 ? 50 : 25;
    std::uint64_t results[2] = {0, 0};
    std::string what;
    if (roll < alloc_share || live_.empty()) {
      what = allocate(results);
    } else if (roll < 97) {
      what = free_one(results);
    } else {
      what = "vm_unmap_aliases";
      for (auto& m : machines_)
        m->guest.vm_unmap_aliases();
    }
    const Snapshot fast = snapshot(*machines_[0], results[0]);
    const Snapshot linear = snapshot(*machines_[1], results[1]);
    if (!(fast == linear)) {
      return "step " + std::to_string(index) + " (" + what + "):\n  skipping: " + describe(fast) +
             "\n  linear:   " + describe(linear);
    }
    if (index % 97 == 0) {
      // A 4.19 oops (an alignment that wrapped the address) can leave overlapping areas in
      // the tree: both guests must then report the same, and their summaries stay right.
      const std::string books = machines_[0]->guest.check_invariants();
      if (books != machines_[1]->guest.check_invariants()) {
        return "step " + std::to_string(index) + ": the invariants differ";
      }
      for (const auto& m : machines_) {
        const std::string broken = m->guest.check_search_summary();
        if (!broken.empty()) return "step " + std::to_string(index) + ": " + broken;
      }
      if (machines_[0]->guest.vmallocinfo() != machines_[1]->guest.vmallocinfo()) {
        return "step " + std::to_string(index) + ": /proc/vmallocinfo differs";
      }
    }
    return "";
  }

  [[nodiscard]] std::size_t live() const { return live_.size(); }
  [[nodiscard]] std::uint64_t walked() const {
    return machines_[1]->guest.stats().area_search_list_entries;
  }

 private:
  // Sizes from one page to tens of MiB, mostly small.
  std::uint64_t random_pages() {
    const std::uint64_t r = rng_.below(100);
    if (r < 60) return rng_.between(1, 4);
    if (r < 85) return rng_.between(1, 64);
    if (r < 97) return rng_.between(65, 1024);
    return rng_.between(1025, 16384);
  }

  std::uint64_t random_align() {
    static constexpr std::uint64_t kAligns[] = {
        1, 2, kPage, 2 * kPage, 16 * kPage, 64 * 1024, kMiB, 2 * kMiB, 64 * kMiB, kGiB, 1, 1};
    return kAligns[rng_.below(std::size(kAligns))];
  }

  // A window [vstart, vend): mostly the whole vmalloc space, otherwise a part of it near the
  // busy areas (narrow ones fill up and make the allocator purge and retry, or fail), and
  // now and then one whose end falls just past a busy area's end.
  std::pair<std::uint64_t, std::uint64_t> random_window() {
    const std::uint64_t r = rng_.below(100);
    if (r < 55) return {kStart, kEnd};
    const std::uint64_t span = 256 * kMiB;
    const std::uint64_t vstart = kStart + rng_.below(span / kPage / 2) * kPage;
    if (r < 80) {
      const std::uint64_t vend =
          vstart + rng_.between(1, span / kPage) * kPage - (rng_.chance(1, 4) ? 1 : 0);
      return {vstart, vend};
    }
    if (r < 95 && !live_.empty()) {
      const Live& near = live_[rng_.below(live_.size())];
      const std::uint64_t vend = near.addr + rng_.between(1, 40) * kPage + rng_.below(3) - 1;
      return {rng_.chance(1, 2) ? kStart : std::min(vstart, near.addr), vend};
    }
    return {vstart, kEnd};
  }

  std::string allocate(std::uint64_t results[2]) {
    const std::uint64_t r = rng_.below(100);
    const auto [vstart, vend] = random_window();
    const std::uint64_t pages = random_pages();
    if (r < 45) {
      std::uint64_t flags = 0;
      if (rng_.chance(1, 4)) flags |= vm_flags::kIoremap;
      if (rng_.chance(1, 6)) flags |= vm_flags::kNoGuard;
      Live live{Kind::kVmArea, 0, 0, {nullptr, nullptr}};
      for (int i = 0; i < 2; ++i) {
        live.vm[i] = machines_[i]->guest.__get_vm_area(pages * kPage, flags, vstart, vend);
        results[i] = live.vm[i] != nullptr ? live.vm[i]->addr : 0;
      }
      if (live.vm[0] != nullptr && live.vm[1] != nullptr && results[0] == results[1]) {
        live.addr = results[0];
        live_.push_back(live);
      }
      return "__get_vm_area";
    }
    if (r < 60) {
      const std::uint64_t align = rng_.chance(1, 2) ? 1 : random_align();
      const std::uint64_t size = std::min<std::uint64_t>(pages, 16) * kPage;
      for (int i = 0; i < 2; ++i) {
        results[i] = machines_[i]->guest.__vmalloc_node_range(
            size, align, vstart, vend, gfp::kKernel, PageProt::kKernel, 0, kNumaNoNode, "twin");
      }
      if (results[0] != 0 && results[0] == results[1]) {
        live_.push_back({Kind::kVmalloc, results[0], 0, {nullptr, nullptr}});
      }
      return "__vmalloc_node_range";
    }
    if (r < 75) {
      // Small counts come from per-CPU vmap blocks (block-aligned areas), larger ones from
      // alloc_vmap_area() with page alignment.
      const std::uint32_t count = rng_.chance(2, 3)
                                      ? static_cast<std::uint32_t>(rng_.between(1, 64))
                                      : static_cast<std::uint32_t>(rng_.between(65, 300));
      const int cpu = static_cast<int>(rng_.below(2));
      for (int i = 0; i < 2; ++i) {
        machines_[i]->kernel.set_cpu(cpu);
        std::vector<mmu::Pfn> frames;
        for (std::uint32_t p = 0; p < count; ++p)
          frames.push_back(frames_[i][p % frames_[i].size()]);
        results[i] = machines_[i]->guest.vm_map_ram(frames, count, kNumaNoNode, PageProt::kKernel);
      }
      if (results[0] != 0 && results[0] == results[1]) {
        live_.push_back({Kind::kVmapRam, results[0], count, {nullptr, nullptr}});
      }
      return "vm_map_ram";
    }
    // alloc_vmap_area() itself, with any alignment; now and then near the top of the address
    // space, where ALIGN() and addr + size wrap.
    std::uint64_t size = pages * kPage;
    std::uint64_t align = random_align();
    std::uint64_t lo = vstart;
    std::uint64_t hi = vend;
    const std::uint64_t odd = rng_.below(100);
    if (odd < 3) {
      lo = ~std::uint64_t{0} - rng_.between(1, 64) * kPage + 1;
      hi = ~std::uint64_t{0} - (rng_.chance(1, 2) ? 0 : rng_.below(8) * kPage);
    } else if (odd < 4) {
      align = std::uint64_t{1} << rng_.between(40, 63);
    }
    for (int i = 0; i < 2; ++i) {
      const VmapArea* va =
          machines_[i]->guest.alloc_vmap_area(size, align, lo, hi, kNumaNoNode, gfp::kKernel);
      results[i] = va != nullptr ? va->va_start : 0;
    }
    // Only areas inside the vmalloc space can be given back (through vm_unmap_ram's
    // find_vmap_area path, which frees any area without a vm_struct).
    if (results[0] != 0 && results[0] == results[1] && results[0] >= kStart && results[0] <= kEnd &&
        results[0] % kPage == 0) {
      live_.push_back({Kind::kBareArea, results[0], 65, {nullptr, nullptr}});
    }
    return "alloc_vmap_area";
  }

  std::string free_one(std::uint64_t results[2]) {
    const std::size_t index = rng_.below(live_.size());
    const Live live = live_[index];
    live_[index] = live_.back();
    live_.pop_back();
    const int cpu = static_cast<int>(rng_.below(2));
    for (int i = 0; i < 2; ++i) {
      Vmalloc& guest = machines_[i]->guest;
      machines_[i]->kernel.set_cpu(cpu);
      switch (live.kind) {
        case Kind::kVmArea:
          guest.free_vm_area(live.vm[i]);
          break;
        case Kind::kVmalloc:
          guest.vfree(live.addr);
          break;
        case Kind::kVmapRam:
        case Kind::kBareArea:
          guest.vm_unmap_ram(live.addr, live.pages);
          break;
      }
      results[i] = live.addr;
    }
    return "free";
  }

  mmu::Rng rng_;
  std::unique_ptr<Machine> machines_[2];
  std::vector<mmu::Pfn> frames_[2];
  std::vector<Live> live_;
};

TEST_P(AreaSearch, SkippingWalkMatchesLinearWalkAtEveryStep) {
  const Params params = GetParam();
  GuestPair guests(params);
  std::size_t most_live = 0;
  for (int i = 0; i < params.steps; ++i) {
    const int phase = (i * 3 / params.steps);
    const std::string difference = guests.step(i, phase);
    ASSERT_EQ(difference, "");
    most_live = std::max(most_live, guests.live());
  }
  // The sequences did what they are for: long walks over many busy areas.
  EXPECT_GT(most_live, 500u);
  EXPECT_GT(guests.walked(), 100000u);
}

INSTANTIATE_TEST_SUITE_P(RandomSequences, AreaSearch,
                         ::testing::Values(Params{1, 0, 6000}, Params{2, 64, 6000},
                                           Params{3, 1024, 6000}, Params{4, 32768, 6000},
                                           Params{5, 256, 6000}, Params{6, 8192, 6000},
                                           Params{7, 128, 20000}, Params{8, 4096, 20000}));

// The walks of test_vmalloc's full_fit and long_busy_list cases, in small: many one-page
// areas with every other one freed leave holes just too small, and the walks pass all of them.
TEST(AreaSearchPattern, HolesJustTooSmallAreWalkedPastTheSameWay) {
  VmallocConfig config;
  config.lazy_max_pages_mode = LazyMaxPages::kFixed;
  config.lazy_max_pages = 1 << 20;
  Machine fast(with_config(config));
  Machine linear(with_config(config));
  linear.guest.use_linear_area_search(true);
  std::vector<VmStruct*> areas[2];
  Machine* machines[2] = {&fast, &linear};
  for (int i = 0; i < 2; ++i) {
    for (int n = 0; n < 3000; ++n)
      areas[i].push_back(machines[i]->guest.get_vm_area(kPage, 0));
    for (int n = 0; n < 3000; n += 2)
      machines[i]->guest.free_vm_area(areas[i][n]);
    // Lazily freed areas stay busy until a purge; purge them so the holes open.
    machines[i]->guest.vm_unmap_aliases();
  }
  ASSERT_EQ(fast.guest.busy_areas(), 1500u);
  for (std::uint64_t pages : {3u, 1u, 2u, 5u, 1u, 1u, 3u}) {
    const VmStruct* a = fast.guest.get_vm_area(pages * kPage, 0);
    const VmStruct* b = linear.guest.get_vm_area(pages * kPage, 0);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(a->addr, b->addr) << pages << " pages";
    EXPECT_EQ(fast.kernel.cycles(), linear.kernel.cycles()) << pages << " pages";
    EXPECT_EQ(fast.guest.cached_hole_size(), linear.guest.cached_hole_size()) << pages;
    EXPECT_EQ(fast.guest.stats().area_search_list_entries,
              linear.guest.stats().area_search_list_entries)
        << pages << " pages";
  }
  // A 3-page area (4 with its guard) fits no 2-page hole: the first walk went past every area.
  EXPECT_GT(linear.guest.stats().area_search_list_entries, 1500u);
  EXPECT_EQ(fast.guest.check_invariants(), "");
}

}  // namespace
}  // namespace mmusim::vmalloc::testing
