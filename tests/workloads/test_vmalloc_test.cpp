// The test_vmalloc generator: each test's ops as lib/test_vmalloc.c makes its calls (the
// expected sequences are written from the module's source, as trace text), the per-CPU
// shuffled order, nr_threads, the percpu chunk geometry and the first alignment
// align_shift_alloc_test cannot get, and a stream whose memory does not grow with
// test_loop_count.
#include "workloads/test_vmalloc.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mmu/random.h"
#include "tests/workloads/op_printer.h"
#include "workloads/config.h"
#include "workloads/op.h"
#include "workloads/trace.h"

// Counts the bytes the process allocates while `g_counting` is set.
namespace {
std::atomic<bool> g_counting{false};
std::atomic<std::uint64_t> g_allocated{0};
}  // namespace

void* operator new(std::size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocated += size;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// Not inlined: GCC would otherwise see free() meet a pointer from operator new.
[[gnu::noinline]] void operator delete(void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace mmusim::workloads {
namespace {

constexpr std::uint64_t kSeed = 42;
const VmallocSpan kLevel4{0xffffc90000000000ull, 0xffffe8ffffffffffull};
const VmallocSpan kLevel5{0xffa0000000000000ull, 0xffd1ffffffffffffull};

TestVmallocConfig one_test(std::uint32_t mask, std::uint32_t loops) {
  TestVmallocConfig config;
  config.run_test_mask = mask;
  config.test_loop_count = loops;
  config.sequential_test_order = true;
  return config;
}

std::vector<Op> all_ops(Workload& workload, int cpu) {
  auto source = workload.source(cpu);
  std::vector<Op> ops;
  Op op;
  while (source->next(op))
    ops.push_back(op);
  return ops;
}

std::vector<Op> parse_all(const std::vector<std::string>& lines) {
  std::vector<Op> ops;
  for (const std::string& line : lines)
    ops.push_back(parse_op(line));
  return ops;
}

// The ops of CPU 0 on a 1-CPU machine for one test, run once.
std::vector<Op> ops_of(std::uint32_t mask, std::uint32_t loops, int cpus = 1,
                       const VmallocSpan& span = kLevel4) {
  TestVmallocWorkload workload(one_test(mask, loops), cpus, kSeed, span);
  return all_ops(workload, 0);
}

// A test's ops wrapped in its span and the worker's span.
std::vector<std::string> wrapped(const std::string& test, const std::vector<std::string>& body) {
  std::vector<std::string> lines = {"begin vmalloc_test", "begin " + test};
  lines.insert(lines.end(), body.begin(), body.end());
  lines.push_back("end " + test);
  lines.push_back("end vmalloc_test");
  return lines;
}

std::string n(std::uint64_t value) {
  return std::to_string(value);
}

TEST(TestVmallocOps, FixSizeAllocTest) {
  // vmalloc(3 * PAGE_SIZE); *ptr = 0; vfree(ptr) per loop (5.1).
  std::vector<std::string> body;
  for (int i = 0; i < 2; ++i) {
    body.insert(body.end(), {"vmalloc $c0_p 12288", "store $c0_p", "vfree $c0_p"});
  }
  EXPECT_EQ(ops_of(1, 2), parse_all(wrapped("fix_size_alloc_test", body)));
}

TEST(TestVmallocOps, FullFitAllocTestOnOneCpu) {
  // junk_length = fls(1) * (32 MiB / 4 KiB) = 8192; both arrays hold 8192 pointers.
  const std::uint64_t junk = 8192;
  std::vector<std::string> body = {"vmalloc $c0_ptr 65536", "vmalloc $c0_junk 65536"};
  for (std::uint64_t i = 0; i < junk; ++i) {
    body.insert(body.end(), {"vmalloc $c0_f" + n(i) + " 4096", "store $c0_ptr+" + n(8 * i),
                             "vmalloc $c0_j" + n(i) + " 4096", "store $c0_junk+" + n(8 * i)});
  }
  for (std::uint64_t i = 0; i < junk; ++i)
    body.insert(body.end(), {"load $c0_junk+" + n(8 * i), "vfree $c0_j" + n(i)});
  for (int i = 0; i < 2; ++i)
    body.insert(body.end(), {"vmalloc $c0_p 4096", "store $c0_p", "vfree $c0_p"});
  for (std::uint64_t i = 0; i < junk; ++i)
    body.insert(body.end(), {"load $c0_ptr+" + n(8 * i), "vfree $c0_f" + n(i)});
  body.insert(body.end(), {"vfree $c0_ptr", "vfree $c0_junk"});
  EXPECT_EQ(ops_of(2, 2), parse_all(wrapped("full_fit_alloc_test", body)));
}

TEST(TestVmallocOps, FullFitJunkGrowsWithFlsOfTheCpus) {
  // 5 CPUs online: fls(5) = 3, so 3 * 8192 pointers of 8 bytes in each array.
  const std::vector<Op> ops = ops_of(2, 1, 5);
  EXPECT_EQ(ops[2], parse_op("vmalloc $c0_ptr 196608"));
  std::uint64_t vmallocs = 0;
  for (const Op& op : ops)
    vmallocs += op.kind == OpKind::kVmalloc;
  EXPECT_EQ(vmallocs, 2 + 2 * 3 * 8192 + 1u);
}

TEST(TestVmallocOps, LongBusyListAllocTest) {
  std::vector<std::string> body = {"vmalloc $c0_ptr 120000"};  // 15000 pointers
  for (int i = 0; i < 15000; ++i)
    body.insert(body.end(), {"vmalloc $c0_b" + n(i) + " 4096", "store $c0_ptr+" + n(8 * i)});
  for (int i = 0; i < 2; ++i) {
    body.insert(body.end(), {"vmalloc $c0_p1 409600", "vmalloc $c0_p2 4096", "store $c0_p1",
                             "store $c0_p2", "vfree $c0_p1", "vfree $c0_p2"});
  }
  for (int i = 0; i < 15000; ++i)
    body.insert(body.end(), {"load $c0_ptr+" + n(8 * i), "vfree $c0_b" + n(i)});
  body.push_back("vfree $c0_ptr");
  EXPECT_EQ(ops_of(4, 2), parse_all(wrapped("long_busy_list_alloc_test", body)));
}

TEST(TestVmallocOps, RandomSizeAllocTestDrawsFromTheCpusStream) {
  // The sizes come from the stream named after the CPU, 1 to 100 pages.
  mmu::Rng rng(kSeed, "workload.test_vmalloc.cpu0");
  std::vector<std::string> body;
  for (int i = 0; i < 3; ++i) {
    const std::uint64_t pages = rng.between(1, 100);
    body.insert(body.end(), {"vmalloc $c0_p " + n(pages * 4096), "store $c0_p", "vfree $c0_p"});
  }
  EXPECT_EQ(ops_of(8, 3), parse_all(wrapped("random_size_alloc_test", body)));
}

TEST(TestVmallocOps, FixAlignAllocTest) {
  // 5 pages aligned to THREAD_ALIGN << 1 = 16 KiB << 1, zeroed; no write.
  const std::vector<std::string> body = {
      "__vmalloc_node $c0_p 20480 align=32768 zero", "vfree $c0_p",
      "__vmalloc_node $c0_p 20480 align=32768 zero", "vfree $c0_p"};
  EXPECT_EQ(ops_of(16, 2), parse_all(wrapped("fix_align_alloc_test", body)));
}

TEST(TestVmallocOps, RandomSizeAlignAllocTestTakesSizeAndAlignFromOneValue) {
  mmu::Rng rng(kSeed, "workload.test_vmalloc.cpu0");
  std::vector<std::string> body;
  for (int i = 0; i < 4; ++i) {
    const std::uint64_t r = rng.next();
    body.insert(body.end(), {"__vmalloc_node $c0_p " + n((r % 10 + 1) * 4096) +
                                 " align=" + n(std::uint64_t{1} << (r % 23)) + " zero",
                             "vfree $c0_p"});
  }
  EXPECT_EQ(ops_of(32, 4), parse_all(wrapped("random_size_align_alloc_test", body)));
}

TEST(TestVmallocOps, AlignShiftAllocTestStopsAtTheFirstImpossibleAlignment) {
  // 4-level paging: 2^46 alignment is the first that cannot fit (see below), so the test
  // allocates 47 times and frees 46 times, and ends at the failing call as the module returns.
  std::vector<std::string> body;
  for (int i = 0; i <= 46; ++i) {
    body.push_back("__vmalloc_node $c0_p 4096 align=" + n(std::uint64_t{1} << i) + " zero");
    if (i < 46) body.push_back("vfree $c0_p");
  }
  EXPECT_EQ(ops_of(64, 2), parse_all(wrapped("align_shift_alloc_test", body)));
  // 5-level paging: up to 2^55.
  const std::vector<Op> five = ops_of(64, 2, 1, kLevel5);
  ASSERT_EQ(five.size(), 4 + 56 + 55u);
  EXPECT_EQ(five[five.size() - 3],
            parse_op("__vmalloc_node $c0_p 4096 align=" + n(std::uint64_t{1} << 55) + " zero"));
}

TEST(TestVmallocOps, FirstImpossibleAlignmentFollowsFromTheLayout) {
  // VMALLOC_START 0xffffc90000000000 is an odd multiple of 2^40. Rounded up to 2^45 it is
  // 0xffffe00000000000, which leaves room below VMALLOC_END 0xffffe8ffffffffff; to 2^46 it is
  // 2^64, i.e. 0: below VMALLOC_START.
  EXPECT_EQ(align_shift_first_failure(kLevel4), 46);
  // 5-level: 0xffa0000000000000 rounds up to 0xffc0000000000000 at 2^54, to 2^64 at 2^55.
  EXPECT_EQ(align_shift_first_failure(kLevel5), 55);
  // KASLR moves the start by less than 1 TiB: the same answer.
  EXPECT_EQ(
      align_shift_first_failure({0xffffc90000000000ull + (1023ull << 30),
                                 0xffffc90000000000ull + (1023ull << 30) + (32ull << 40) - 1}),
      46);
  // A span [2^28, 2^28 + 2^30): 2^30 + 8 KiB still fits, 2^31 lies past the end.
  EXPECT_EQ(align_shift_first_failure({1ull << 28, (1ull << 28) + (1ull << 30) - 1}), 31);
}

TEST(TestVmallocOps, VmMapRamTest) {
  const std::vector<std::string> body = {"vm_map_ram $c0_v 1",   "store $c0_v",
                                         "vm_unmap_ram $c0_v 1", "vm_map_ram $c0_v 1",
                                         "store $c0_v",          "vm_unmap_ram $c0_v 1"};
  EXPECT_EQ(ops_of(1024, 2), parse_all(wrapped("vm_map_ram_test", body)));
}

TEST(TestVmallocOps, RepeatsWrapEachRunInItsSpan) {
  TestVmallocConfig config = one_test(16 | 1024, 1);
  config.test_repeat_count = 2;
  TestVmallocWorkload workload(config, 1, kSeed, kLevel4);
  const std::vector<std::string> lines = {"begin vmalloc_test",
                                          "begin fix_align_alloc_test",
                                          "__vmalloc_node $c0_p 20480 align=32768 zero",
                                          "vfree $c0_p",
                                          "end fix_align_alloc_test",
                                          "begin fix_align_alloc_test",
                                          "__vmalloc_node $c0_p 20480 align=32768 zero",
                                          "vfree $c0_p",
                                          "end fix_align_alloc_test",
                                          "begin vm_map_ram_test",
                                          "vm_map_ram $c0_v 1",
                                          "store $c0_v",
                                          "vm_unmap_ram $c0_v 1",
                                          "end vm_map_ram_test",
                                          "begin vm_map_ram_test",
                                          "vm_map_ram $c0_v 1",
                                          "store $c0_v",
                                          "vm_unmap_ram $c0_v 1",
                                          "end vm_map_ram_test",
                                          "end vmalloc_test"};
  EXPECT_EQ(all_ops(workload, 0), parse_all(lines));
}

// pcpu_build_alloc_info() for one group, with 45 pages of first chunk (184320 bytes): an
// allocation is 2 MiB (the atom), holding at most 2 MiB / 184320 = 11 units, cut down to 8,
// the largest count that divides 2 MiB into whole pages. Fewer units per allocation are taken
// while more than a third of the CPUs' worth of units would be wasted.
TEST(TestVmallocPcpu, ChunkGeometry) {
  struct Expected {
    int cpus;
    std::uint64_t unit;
    std::uint32_t units;
  };
  const Expected cases[] = {
      {1, 2u << 20, 1},    // 8, 4 and 2 units waste 7, 3, 1 > 0
      {2, 1u << 20, 2},    // 2 units: one allocation, no waste
      {3, 512u << 10, 4},  // 4 units waste 1 <= 3 / 3
      {4, 512u << 10, 4},  // 8 would waste 4 > 1
      {5, 1u << 20, 6},    // 8: 3 wasted > 1; 4: 3 > 1; 2: 3 allocations, 1 wasted
      {8, 256u << 10, 8},   {16, 256u << 10, 16},  // 2 allocations of 8
      {64, 256u << 10, 64},
  };
  for (const Expected& e : cases) {
    const PcpuChunkGeometry g = pcpu_chunk_geometry(e.cpus);
    EXPECT_EQ(g.unit_size, e.unit) << e.cpus << " CPUs";
    EXPECT_EQ(g.nr_units, e.units) << e.cpus << " CPUs";
    EXPECT_EQ(g.area_size, e.unit * e.units) << e.cpus << " CPUs";
  }
}

TEST(TestVmallocPcpu, FirstAllocationsCreateAndPopulateAChunk) {
  // 2 CPUs: 1 MiB units, a 2 MiB area per chunk. Allocation 0 (4-byte aligned) starts the
  // first chunk and maps the first page of both units; later ones map a page when they cross
  // into it.
  mmu::Rng rng(kSeed, "workload.test_vmalloc.cpu0");
  const std::vector<Op> ops = ops_of(128, 1, 2);
  std::vector<std::string> expected = {"begin vmalloc_test",
                                       "begin pcpu_alloc_test",
                                       "vmalloc $c0_pcpu 280000",
                                       "pcpu_get_vm_areas $c0_k0 1 2097152 align=2097152",
                                       "map_kernel_range_noflush $c0_k0 4096",
                                       "map_kernel_range_noflush $c0_k0+0x100000 4096",
                                       "store $c0_pcpu"};
  std::uint64_t end = (rng.between(1, 1024) + 3) / 4 * 4;
  for (std::uint64_t i = 1; i < 4; ++i) {
    const std::uint64_t align = std::uint64_t{1} << (i % 11 + 1);
    const std::uint64_t size = (rng.between(1, 1024) + 3) / 4 * 4;
    const std::uint64_t start = (end + align - 1) / align * align;
    if ((start + size + 4095) / 4096 > (end + 4095) / 4096) {
      const std::uint64_t page = (end + 4095) / 4096;
      expected.push_back("map_kernel_range_noflush $c0_k0+" + n(page * 4096) + " 4096");
      expected.push_back("map_kernel_range_noflush $c0_k0+" + n((1 << 20) + page * 4096) + " 4096");
    }
    end = start + size;
    expected.push_back("store $c0_pcpu+" + n(8 * i));
  }
  const std::vector<Op> want = parse_all(expected);
  ASSERT_GE(ops.size(), want.size());
  EXPECT_EQ(std::vector<Op>(ops.begin(), ops.begin() + static_cast<long>(want.size())), want);
}

// Replays the ops of pcpu_alloc_test on 2 CPUs against the rules of the chunk model: units
// populated from their first page on, both CPUs' units alike; 35000 allocations stored and
// loaded in order; a chunk destroyed only after being unmapped for both CPUs with one flushing
// unmap over the whole populated range; one spare chunk left at the end.
TEST(TestVmallocPcpu, ChunksArePopulatedAndReleasedAsPercpuVmDoes) {
  const std::uint64_t unit = 1 << 20;
  const std::vector<Op> ops = ops_of(128, 1, 2);
  struct Chunk {
    bool live = false;
    std::uint64_t populated = 0;  // bytes of each unit
    int unmapped = 0;             // unmap ops seen since the last map
  };
  std::vector<Chunk> chunks(64);
  auto slot_of = [](const Op& op) { return std::stoi(std::string(op.name_view()).substr(4)); };
  std::uint64_t stores = 0;
  std::uint64_t loads = 0;
  int created = 0;
  int destroyed = 0;
  for (std::size_t k = 0; k < ops.size(); ++k) {
    const Op& op = ops[k];
    switch (op.kind) {
      case OpKind::kPcpuGetVmAreas: {
        Chunk& chunk = chunks.at(slot_of(op));
        EXPECT_FALSE(chunk.live);
        chunk = Chunk{true, 0, 0};
        EXPECT_EQ(op.size, 2u << 20);
        ++created;
        break;
      }
      case OpKind::kMapKernelRangeNoflush: {
        Chunk& chunk = chunks.at(slot_of(op));
        ASSERT_TRUE(chunk.live);
        // CPU 0's unit, then CPU 1's, over the same pages.
        EXPECT_EQ(op.addr, chunk.populated);
        const Op& second = ops.at(++k);
        EXPECT_EQ(second.kind, OpKind::kMapKernelRangeNoflush);
        EXPECT_EQ(second.addr, unit + chunk.populated);
        EXPECT_EQ(second.size, op.size);
        chunk.populated += op.size;
        EXPECT_LE(chunk.populated, unit);
        break;
      }
      case OpKind::kUnmapKernelRangeNoflush: {
        Chunk& chunk = chunks.at(slot_of(op));
        EXPECT_EQ(op.addr, 0u);
        EXPECT_EQ(op.size, chunk.populated);
        ++chunk.unmapped;
        break;
      }
      case OpKind::kUnmapKernelRange: {
        Chunk& chunk = chunks.at(slot_of(op));
        EXPECT_EQ(chunk.unmapped, 1);
        EXPECT_EQ(op.addr, 0u);
        EXPECT_EQ(op.size, unit + chunk.populated);  // to CPU 1's last populated page
        ++chunk.unmapped;
        break;
      }
      case OpKind::kPcpuFreeVmAreas: {
        Chunk& chunk = chunks.at(slot_of(op));
        EXPECT_TRUE(chunk.live);
        EXPECT_EQ(chunk.unmapped, chunk.populated > 0 ? 2 : 0);
        chunk.live = false;
        ++destroyed;
        break;
      }
      case OpKind::kStore:
        if (op.name_view() == "c0_pcpu") {
          EXPECT_EQ(op.addr, 8 * stores++);
        }
        break;
      case OpKind::kLoad:
        EXPECT_EQ(op.addr, 8 * loads++);
        break;
      default:
        break;
    }
  }
  EXPECT_EQ(stores, 35000u);
  EXPECT_EQ(loads, 35000u);
  // 35000 allocations of 1..1024 bytes: more than one 1 MiB unit's worth, far less than 100.
  EXPECT_GT(created, 1);
  EXPECT_LT(created, 100);
  EXPECT_EQ(destroyed, created - 1);
  EXPECT_EQ(ops.back(), parse_op("end vmalloc_test"));
  EXPECT_EQ(ops[ops.size() - 3], parse_op("vfree $c0_pcpu"));
}

TEST(TestVmallocPcpu, TheSpareChunkServesTheNextRun) {
  // With two runs, the second starts in the chunk the first left free: no new area at first.
  TestVmallocConfig config = one_test(128, 1);
  config.test_repeat_count = 2;
  TestVmallocWorkload workload(config, 1, kSeed, kLevel4);
  const std::vector<Op> ops = all_ops(workload, 0);
  std::size_t second_run = 0;
  int begins = 0;
  for (std::size_t k = 0; k < ops.size(); ++k) {
    if (ops[k].kind == OpKind::kSpanBegin && ops[k].name_view() == "pcpu_alloc_test" &&
        ++begins == 2) {
      second_run = k;
    }
  }
  ASSERT_GT(second_run, 0u);
  EXPECT_EQ(ops[second_run + 1], parse_op("vmalloc $c0_pcpu 280000"));
  EXPECT_EQ(ops[second_run + 2].kind, OpKind::kStore);
}

// The test names each CPU's "begin" spans announce, in order.
std::vector<std::string> order_of(Workload& workload, int cpu) {
  std::vector<std::string> names;
  for (const Op& op : all_ops(workload, cpu)) {
    if (op.kind == OpKind::kSpanBegin && op.name_view() != kTestVmallocWorkerSpan)
      names.emplace_back(op.name_view());
  }
  return names;
}

TestVmallocConfig light_tests() {
  TestVmallocConfig config;
  config.run_test_mask = 1 | 8 | 16 | 32 | 64 | 1024;
  config.test_loop_count = 1;
  return config;
}

TEST(TestVmallocOrder, SequentialIsTableOrder) {
  TestVmallocConfig config = light_tests();
  config.sequential_test_order = true;
  TestVmallocWorkload workload(config, 2, kSeed, kLevel4);
  const std::vector<std::string> table = {"fix_size_alloc_test",    "random_size_alloc_test",
                                          "fix_align_alloc_test",   "random_size_align_alloc_test",
                                          "align_shift_alloc_test", "vm_map_ram_test"};
  EXPECT_EQ(order_of(workload, 0), table);
  EXPECT_EQ(order_of(workload, 1), table);
}

TEST(TestVmallocOrder, ShuffleIsTheModulesPerCpuAndSeeded) {
  // shuffle_array() over the whole 11-entry table, j drawn below i, from the CPU's own
  // stream; the unselected entries are then skipped.
  auto expected = [](std::uint64_t seed, int cpu) {
    std::vector<int> order(kTestVmallocCases.size());
    for (std::size_t i = 0; i < order.size(); ++i)
      order[i] = static_cast<int>(i);
    mmu::Rng rng(seed, "workload.test_vmalloc.order.cpu" + std::to_string(cpu));
    for (std::size_t i = order.size() - 1; i > 0; --i)
      std::swap(order[i], order[rng.below(i)]);
    std::vector<std::string> names;
    for (int index : order) {
      if ((light_tests().run_test_mask & kTestVmallocCases[index].id) != 0)
        names.emplace_back(kTestVmallocCases[index].name);
    }
    return names;
  };
  TestVmallocWorkload first(light_tests(), 3, kSeed, kLevel4);
  TestVmallocWorkload again(light_tests(), 3, kSeed, kLevel4);
  TestVmallocWorkload other_seed(light_tests(), 3, kSeed + 1, kLevel4);
  for (int cpu = 0; cpu < 3; ++cpu) {
    EXPECT_EQ(order_of(first, cpu), expected(kSeed, cpu));
    EXPECT_EQ(order_of(first, cpu), order_of(again, cpu));
  }
  EXPECT_EQ(order_of(first, 0).size(), 6u);
  EXPECT_NE(order_of(first, 0), order_of(first, 1));
  EXPECT_NE(order_of(first, 1), order_of(first, 2));
  EXPECT_NE(order_of(first, 0), order_of(other_seed, 0));
  // Shuffling moves no random size: the sizes stream is the CPU's either way.
  TestVmallocConfig sequential = one_test(8, 5);
  TestVmallocConfig shuffled = sequential;
  shuffled.sequential_test_order = false;
  TestVmallocWorkload a(sequential, 1, kSeed, kLevel4);
  TestVmallocWorkload b(shuffled, 1, kSeed, kLevel4);
  EXPECT_EQ(all_ops(a, 0), all_ops(b, 0));
}

TEST(TestVmallocThreads, OnlyTheFirstNrThreadsCpusRunTheTests) {
  TestVmallocConfig config = one_test(1, 2);
  config.nr_threads = 2;
  TestVmallocWorkload workload(config, 4, kSeed, kLevel4);
  EXPECT_EQ(all_ops(workload, 0).size(), 10u);
  const std::vector<Op> cpu1 = all_ops(workload, 1);
  ASSERT_EQ(cpu1.size(), 10u);
  EXPECT_EQ(cpu1[2], parse_op("vmalloc $c1_p 12288"));  // its own handles
  EXPECT_TRUE(all_ops(workload, 2).empty());
  EXPECT_TRUE(all_ops(workload, 3).empty());

  config.nr_threads = 0;  // every CPU
  TestVmallocWorkload every(config, 4, kSeed, kLevel4);
  EXPECT_EQ(all_ops(every, 3).size(), 10u);
}

TEST(TestVmallocThreads, MoreThreadsThanCpusIsRejected) {
  TestVmallocConfig config = one_test(1, 2);
  config.nr_threads = 5;
  try {
    TestVmallocWorkload workload(config, 4, kSeed, kLevel4);
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()),
              "workload.test_vmalloc.nr_threads: 5 is above platform.cpus (4): each thread runs "
              "on its own CPU");
  }
}

TEST(TestVmallocThreads, MakeWorkloadBuildsIt) {
  WorkloadConfig config;
  config.kind = WorkloadKind::kTestVmalloc;
  config.test_vmalloc = one_test(1, 1);
  auto workload = make_workload(config, 1, kSeed);
  Op op;
  auto source = workload->source(0);
  ASSERT_TRUE(source->next(op));
  EXPECT_EQ(op, parse_op("begin vmalloc_test"));
  EXPECT_EQ(source->where(), "test_vmalloc cpu 0 op 1");
}

// Bytes allocated to make a source and take its first 1000 ops.
std::uint64_t bytes_for_first_ops(std::uint32_t mask, std::uint32_t loops) {
  TestVmallocWorkload workload(one_test(mask, loops), 4, kSeed, kLevel4);
  g_allocated = 0;
  g_counting = true;
  {
    auto source = workload.source(0);
    Op op;
    for (int i = 0; i < 1000; ++i) {
      if (!source->next(op)) break;
    }
  }
  g_counting = false;
  return g_allocated.load();
}

TEST(TestVmallocMemory, DoesNotGrowWithTheLoopCount) {
  // The first 1000 ops of a run of 10^9 loops cost what those of 1000 loops cost.
  for (std::uint32_t mask : {1u, 2u, 4u, 8u, 32u, 1024u}) {
    const std::uint64_t small = bytes_for_first_ops(mask, 1000);
    const std::uint64_t huge = bytes_for_first_ops(mask, 1000000000);
    EXPECT_EQ(huge, small) << "mask " << mask;
    EXPECT_GT(small, 0u) << "mask " << mask;  // the count works
    EXPECT_LT(huge, 1u << 20) << "mask " << mask;
  }
}

}  // namespace
}  // namespace mmusim::workloads
