// The text form of one op: parse_op for every op, operand and flag; format_op's canonical text;
// and that the two agree (parse_op(format_op(op)) == op).
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mmu/random.h"
#include "tests/workloads/op_printer.h"
#include "workloads/op.h"
#include "workloads/trace.h"

namespace mmusim::workloads {
namespace {

namespace f = op_flags;

Op make(OpKind kind) {
  Op op;
  op.kind = kind;
  return op;
}

Op access(OpKind kind, std::uint64_t addr, std::uint32_t flags = 0) {
  Op op = make(kind);
  op.addr = addr;
  op.flags = flags;
  return op;
}

Op touch(std::uint64_t addr, std::uint64_t bytes, std::uint64_t stride, std::uint32_t flags = 0) {
  Op op = make(OpKind::kTouch);
  op.addr = addr;
  op.size = bytes;
  op.value = stride;
  op.flags = flags;
  return op;
}

Op range(OpKind kind, std::uint64_t addr, std::uint64_t bytes, std::uint32_t mm = 0,
         std::uint32_t flags = 0) {
  Op op = make(kind);
  op.addr = addr;
  op.size = bytes;
  op.mm = mm;
  op.flags = flags;
  return op;
}

Op compute(std::uint64_t cycles) {
  Op op = make(OpKind::kCompute);
  op.value = cycles;
  return op;
}

// Every op name, as the "unknown op" message lists them.
constexpr const char* kKnownOps =
    "load, store, fetch, touch, invlpg, mov_cr3, invpcid, toggle_pge, map, unmap, protect, "
    "compute, flush_tlb_kernel_range, flush_tlb_all, idle, irq_off, irq_on, spin_lock, "
    "spin_unlock, mutex_lock, mutex_unlock, vmalloc, vzalloc, vmalloc_user, vmalloc_node, "
    "vzalloc_node, vmalloc_exec, vmalloc_32, vmalloc_32_user, __vmalloc_node, "
    "__vmalloc_node_range, vfree, vfree_atomic, vmap, vunmap, vm_map_ram, vm_unmap_ram, "
    "vm_unmap_aliases, get_vm_area, find_vm_area, remove_vm_area, free_vm_area, alloc_vm_area, "
    "map_kernel_range_noflush, unmap_kernel_range_noflush, unmap_kernel_range, vread, vwrite, "
    "remap_vmalloc_range, remap_vmalloc_range_partial, pcpu_get_vm_areas, pcpu_free_vm_areas, "
    "vm_area_add_early, vm_area_register_early, set_memory_ro, set_memory_rw, set_memory_x, "
    "set_memory_nx, vmallocinfo, irq, }, begin, end";

constexpr std::uint32_t kAllPageFlags =
    f::kReadOnly | f::kUser | f::kNoExecute | f::kGlobal | f::kWriteThrough | f::kCacheDisable;

// ---------------------------------------------------------------------------------------------
// Op names.

TEST(OpNames, EveryKindHasItsTraceName) {
  // clang-format off
  const std::vector<std::string> expected = {
      "load", "store", "fetch", "touch", "invlpg", "mov_cr3", "invpcid", "toggle_pge",
      "map", "unmap", "protect", "compute",
      "flush_tlb_kernel_range", "flush_tlb_all", "idle", "irq_off", "irq_on",
      "spin_lock", "spin_unlock", "mutex_lock", "mutex_unlock",
      "vmalloc", "vzalloc", "vmalloc_user", "vmalloc_node", "vzalloc_node", "vmalloc_exec",
      "vmalloc_32", "vmalloc_32_user", "__vmalloc_node", "__vmalloc_node_range",
      "vfree", "vfree_atomic", "vmap", "vunmap", "vm_map_ram", "vm_unmap_ram",
      "vm_unmap_aliases", "get_vm_area", "find_vm_area", "remove_vm_area", "free_vm_area",
      "alloc_vm_area", "map_kernel_range_noflush", "unmap_kernel_range_noflush",
      "unmap_kernel_range", "vread", "vwrite", "remap_vmalloc_range",
      "remap_vmalloc_range_partial", "pcpu_get_vm_areas", "pcpu_free_vm_areas",
      "vm_area_add_early", "vm_area_register_early",
      "set_memory_ro", "set_memory_rw", "set_memory_x", "set_memory_nx", "vmallocinfo",
      "irq", "}", "begin", "end"};
  // clang-format on
  ASSERT_EQ(kNumOpKinds, 63);
  ASSERT_EQ(expected.size(), static_cast<std::size_t>(kNumOpKinds));
  for (int k = 0; k < kNumOpKinds; ++k) {
    const OpKind kind = static_cast<OpKind>(k);
    EXPECT_EQ(op_name(kind), expected[k]);
    OpKind parsed = OpKind::kCompute;
    ASSERT_TRUE(parse_op_name(expected[k], parsed)) << expected[k];
    EXPECT_EQ(parsed, kind);
  }
}

TEST(OpNames, UnknownAndMiscasedNamesAreRejected) {
  OpKind parsed = OpKind::kTouch;
  EXPECT_FALSE(parse_op_name("Load", parsed));
  EXPECT_FALSE(parse_op_name("movcr3", parsed));
  EXPECT_FALSE(parse_op_name("", parsed));
  EXPECT_EQ(parsed, OpKind::kTouch);  // left alone
}

// ---------------------------------------------------------------------------------------------
// parse_op: exact field values.

TEST(OpParse, LoadStoreFetch) {
  EXPECT_EQ(parse_op("load 0x1000"), access(OpKind::kLoad, 0x1000));
  EXPECT_EQ(parse_op("load 4096 user"), access(OpKind::kLoad, 4096, f::kUser));
  EXPECT_EQ(parse_op("store 0xffffc90000000008"), access(OpKind::kStore, 0xffffc90000000008));
  EXPECT_EQ(parse_op("store 0x7ffff000 user"), access(OpKind::kStore, 0x7ffff000, f::kUser));
  EXPECT_EQ(parse_op("fetch 0x400000"), access(OpKind::kFetch, 0x400000));
  EXPECT_EQ(parse_op("fetch 0X400ABC user"), access(OpKind::kFetch, 0x400abc, f::kUser));
  EXPECT_EQ(parse_op("load 0xffffffffffffffff"), access(OpKind::kLoad, ~std::uint64_t{0}));
  EXPECT_EQ(parse_op("load 0"), access(OpKind::kLoad, 0));
}

TEST(OpParse, TouchDefaultsToOneLoadPerPage) {
  const Op op = parse_op("touch 0x2000 16K");
  EXPECT_EQ(op.kind, OpKind::kTouch);
  EXPECT_EQ(op.addr, 0x2000u);
  EXPECT_EQ(op.size, 16384u);
  EXPECT_EQ(op.value, 4096u);  // stride
  EXPECT_EQ(op.flags, 0u);
  EXPECT_EQ(op, touch(0x2000, 16384, 4096));
}

TEST(OpParse, TouchWithStrideStoreAndUser) {
  EXPECT_EQ(parse_op("touch 0x2000 1MiB stride=64 store user"),
            touch(0x2000, 1u << 20, 64, f::kStore | f::kUser));
  EXPECT_EQ(parse_op("touch 0x0 4G stride=2M"), touch(0, 4ull << 30, 2u << 20));
  EXPECT_EQ(parse_op("touch 0x0 100 stride=1 user"), touch(0, 100, 1, f::kUser));
  EXPECT_EQ(parse_op("touch 0x0 0 stride=0x40"), touch(0, 0, 64));
}

TEST(OpParse, Invlpg) {
  EXPECT_EQ(parse_op("invlpg 0xdead000"), access(OpKind::kInvlpg, 0xdead000));
}

TEST(OpParse, MovCr3DefaultsToTheKernelWithPcidZeroAndAFlush) {
  EXPECT_EQ(parse_op("mov_cr3"), make(OpKind::kMovCr3));
}

TEST(OpParse, MovCr3WithEveryOperand) {
  Op expected = make(OpKind::kMovCr3);
  expected.mm = 3;
  expected.pcid = 17;
  expected.flags = f::kNoFlush;
  EXPECT_EQ(parse_op("mov_cr3 mm=3 pcid=17 noflush"), expected);
  EXPECT_EQ(parse_op("mov_cr3 noflush pcid=0x11 mm=3"), expected);  // any order

  Op limits = make(OpKind::kMovCr3);
  limits.mm = 65535;
  limits.pcid = 4095;
  EXPECT_EQ(parse_op("mov_cr3 mm=65535 pcid=0xfff"), limits);
}

TEST(OpParse, InvpcidTypesAndOperands) {
  Op individual = make(OpKind::kInvpcid);
  individual.value = 0;
  individual.pcid = 5;
  individual.addr = 0x7000;
  EXPECT_EQ(parse_op("invpcid 0 pcid=5 addr=0x7000"), individual);

  Op single = make(OpKind::kInvpcid);
  single.value = 1;
  single.pcid = 4095;
  EXPECT_EQ(parse_op("invpcid 1 pcid=4095"), single);

  Op all_global = make(OpKind::kInvpcid);
  all_global.value = 2;
  EXPECT_EQ(parse_op("invpcid 2"), all_global);

  Op all_nonglobal = make(OpKind::kInvpcid);
  all_nonglobal.value = 3;
  EXPECT_EQ(parse_op("invpcid 3"), all_nonglobal);

  // Types 4-255 are read (the CPU then counts the #GP); the format does not judge them.
  Op reserved = make(OpKind::kInvpcid);
  reserved.value = 255;
  EXPECT_EQ(parse_op("invpcid 255"), reserved);
}

TEST(OpParse, TogglePge) {
  EXPECT_EQ(parse_op("toggle_pge"), make(OpKind::kTogglePge));
}

TEST(OpParse, MapDefaultsToKernelWritableSupervisor4KWithFreshFrames) {
  const Op op = parse_op("map 0xffffc90000000000 8K");
  EXPECT_EQ(op.kind, OpKind::kMap);
  EXPECT_EQ(op.addr, 0xffffc90000000000u);
  EXPECT_EQ(op.size, 8192u);
  EXPECT_EQ(op.mm, 0u);
  EXPECT_EQ(op.page, mmu::PageSize::k4K);
  EXPECT_EQ(op.flags, 0u);
  EXPECT_EQ(op.value, 0u);
  EXPECT_FALSE(op.has(f::kHasFrame));
}

TEST(OpParse, MapWithEveryOperandAndFlag) {
  Op expected = range(OpKind::kMap, 0xffffc90000200000, 4u << 20, 2, kAllPageFlags | f::kHasFrame);
  expected.page = mmu::PageSize::k2M;
  expected.value = 0x1200;
  EXPECT_EQ(parse_op("map 0xffffc90000200000 4M mm=2 page=2m frame=0x1200 ro user nx global "
                     "pwt pcd"),
            expected);
}

TEST(OpParse, MapEachFlagAlone) {
  const std::pair<const char*, std::uint32_t> words[] = {
      {"ro", f::kReadOnly},   {"user", f::kUser},        {"nx", f::kNoExecute},
      {"global", f::kGlobal}, {"pwt", f::kWriteThrough}, {"pcd", f::kCacheDisable},
  };
  for (const auto& [word, flag] : words) {
    EXPECT_EQ(parse_op(std::string("map 0x1000 4096 ") + word),
              range(OpKind::kMap, 0x1000, 4096, 0, flag))
        << word;
  }
}

TEST(OpParse, MapPageSizesAndFrame) {
  Op two_meg = range(OpKind::kMap, 0x200000, 2u << 20);
  two_meg.page = mmu::PageSize::k2M;
  EXPECT_EQ(parse_op("map 0x200000 2M page=2MiB"), two_meg);

  Op one_gig = range(OpKind::kMap, 0x40000000, 1u << 30);
  one_gig.page = mmu::PageSize::k1G;
  EXPECT_EQ(parse_op("map 0x40000000 1G page=1g"), one_gig);

  EXPECT_EQ(parse_op("map 0x1000 4096 page=4k"), range(OpKind::kMap, 0x1000, 4096));

  Op frame_zero = range(OpKind::kMap, 0x1000, 4096, 0, f::kHasFrame);
  frame_zero.value = 0;
  EXPECT_EQ(parse_op("map 0x1000 4096 frame=0"), frame_zero);
}

TEST(OpParse, Unmap) {
  EXPECT_EQ(parse_op("unmap 0x1000 4096"), range(OpKind::kUnmap, 0x1000, 4096));
  EXPECT_EQ(parse_op("unmap 0x1000 4096 mm=7"), range(OpKind::kUnmap, 0x1000, 4096, 7));
}

TEST(OpParse, Protect) {
  EXPECT_EQ(parse_op("protect 0x1000 64KiB"), range(OpKind::kProtect, 0x1000, 65536));
  EXPECT_EQ(parse_op("protect 0x1000 64KiB mm=1 ro user nx global pwt pcd"),
            range(OpKind::kProtect, 0x1000, 65536, 1, kAllPageFlags));
}

TEST(OpParse, Compute) {
  EXPECT_EQ(parse_op("compute 250"), compute(250));
  EXPECT_EQ(parse_op("compute 0x10"), compute(16));
  EXPECT_EQ(parse_op("compute 0"), compute(0));
}

TEST(OpParse, KernelFlushes) {
  Op range = parse_op("flush_tlb_kernel_range 0xffffc90000000000 0xffffc90000021000");
  EXPECT_EQ(range.kind, OpKind::kFlushTlbKernelRange);
  EXPECT_EQ(range.addr, 0xffffc90000000000u);
  EXPECT_EQ(range.value, 0xffffc90000021000u);
  Op everything = parse_op("flush_tlb_kernel_range 0 all");
  EXPECT_EQ(everything.addr, 0u);
  EXPECT_EQ(everything.value, kTlbFlushAll);
  EXPECT_EQ(parse_op("flush_tlb_all").kind, OpKind::kFlushTlbAll);
  EXPECT_THROW(parse_op("flush_tlb_kernel_range 0x1000"), std::invalid_argument);
  EXPECT_THROW(parse_op("flush_tlb_all 0x1000"), std::invalid_argument);
}

TEST(OpParse, IdleAndInterruptMasking) {
  EXPECT_EQ(parse_op("idle").value, 0u);  // until an interrupt
  EXPECT_EQ(parse_op("idle 5000").value, 5000u);
  EXPECT_THROW(parse_op("idle 0"), std::invalid_argument);
  EXPECT_EQ(parse_op("irq_off").kind, OpKind::kIrqOff);
  EXPECT_EQ(parse_op("irq_on").kind, OpKind::kIrqOn);
  EXPECT_THROW(parse_op("irq_on 1"), std::invalid_argument);
}

TEST(OpParse, Locks) {
  const Op lock = parse_op("spin_lock vmap_area_lock");
  EXPECT_EQ(lock.kind, OpKind::kSpinLock);
  EXPECT_EQ(lock.name_view(), "vmap_area_lock");
  EXPECT_EQ(parse_op("mutex_unlock vmap_purge_lock").kind, OpKind::kMutexUnlock);
  EXPECT_EQ(format_op(parse_op("mutex_lock  m_1")), "mutex_lock m_1");
  EXPECT_THROW(parse_op("spin_lock"), std::invalid_argument);
  EXPECT_THROW(parse_op("spin_lock 9lives"), std::invalid_argument);
  EXPECT_THROW(parse_op("spin_lock a-b"), std::invalid_argument);
  EXPECT_THROW(parse_op("spin_lock " + std::string(32, 'x')), std::invalid_argument);
  EXPECT_EQ(parse_op("spin_lock " + std::string(31, 'x')).name_view(), std::string(31, 'x'));
}

TEST(OpFormat, KernelFlushesIdleAndInterrupts) {
  Op range = make(OpKind::kFlushTlbKernelRange);
  range.addr = 0xffffc90000000000;
  range.value = 0xffffc90000002000;
  EXPECT_EQ(format_op(range), "flush_tlb_kernel_range 0xffffc90000000000 0xffffc90000002000");
  range.value = kTlbFlushAll;
  EXPECT_EQ(format_op(range), "flush_tlb_kernel_range 0xffffc90000000000 all");
  EXPECT_EQ(format_op(make(OpKind::kFlushTlbAll)), "flush_tlb_all");
  Op idle = make(OpKind::kIdle);
  EXPECT_EQ(format_op(idle), "idle");
  idle.value = 77;
  EXPECT_EQ(format_op(idle), "idle 77");
  EXPECT_EQ(format_op(make(OpKind::kIrqOff)), "irq_off");
  EXPECT_EQ(format_op(make(OpKind::kIrqOn)), "irq_on");
}

TEST(OpParse, ByteCountSuffixesArePowersOfTwo) {
  const std::pair<const char*, std::uint64_t> cases[] = {
      {"4096", 4096},
      {"0x1000", 4096},
      {"3K", 3u << 10},
      {"3KiB", 3u << 10},
      {"5M", 5u << 20},
      {"5MiB", 5u << 20},
      {"2G", 2ull << 30},
      {"2GiB", 2ull << 30},
      {"0x10K", 16u << 10},
      {"0K", 0},
      {"17179869183G", 17179869183ull << 30},
  };
  for (const auto& [text, bytes] : cases) {
    EXPECT_EQ(parse_op(std::string("unmap 0x0 ") + text).size, bytes) << text;
  }
}

TEST(OpParse, BlanksBetweenWordsDoNotMatter) {
  EXPECT_EQ(parse_op("  load\t0x1000   user  "), access(OpKind::kLoad, 0x1000, f::kUser));
}

TEST(OpParse, RepeatedFlagWordIsHarmless) {
  EXPECT_EQ(parse_op("load 0x1000 user user"), access(OpKind::kLoad, 0x1000, f::kUser));
}

// parse_op's own messages (the reader adds FILE:LINE; see trace_errors_test.cpp).
TEST(OpParse, ErrorsAreInvalidArgumentNamingTheOp) {
  auto message = [](const std::string& text) -> std::string {
    try {
      parse_op(text);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(message(""), "empty op");
  EXPECT_EQ(message("   "), "empty op");
  EXPECT_EQ(message("lod 0x1000"), "unknown op 'lod' (known: " + std::string(kKnownOps) + ")");
  EXPECT_EQ(message("store"), "store: missing operand (usage: store ADDR [user])");
  EXPECT_EQ(message("fetch 0x1000 nx"), "fetch: unexpected operand 'nx'");
  EXPECT_EQ(message("touch 0x1000 4K stride=0"), "touch: stride must be at least 1");
  EXPECT_EQ(message("map 0x1000 4K page=2m page=4k"), "map: 'page=' given twice");
  EXPECT_EQ(message("map 0x1000 4K frame=1 frame=2"), "map: 'frame=' given twice");
  EXPECT_EQ(message("invpcid 0 addr=0x1000 addr=0x2000"), "invpcid: 'addr=' given twice");
  EXPECT_EQ(message("touch 0x0 4K stride=64 stride=64"), "touch: 'stride=' given twice");
  EXPECT_EQ(message("unmap 0x0 4K mm=1 mm=1"), "unmap: 'mm=' given twice");
  EXPECT_EQ(message("touch 0x0 4K stride="), "touch: stride '' is not a number");
  EXPECT_EQ(message("mov_cr3 pcid=-1"), "mov_cr3: pcid '-1' is not a number");
  EXPECT_EQ(message("mov_cr3 =5"), "mov_cr3: unexpected operand '=5'");
}

// ---------------------------------------------------------------------------------------------
// format_op: the canonical text.

TEST(OpFormat, Accesses) {
  EXPECT_EQ(format_op(access(OpKind::kLoad, 4096)), "load 0x1000");
  EXPECT_EQ(format_op(access(OpKind::kLoad, 4096, f::kUser)), "load 0x1000 user");
  EXPECT_EQ(format_op(access(OpKind::kStore, 0xffffc90000000008)), "store 0xffffc90000000008");
  EXPECT_EQ(format_op(access(OpKind::kFetch, 0x400abc, f::kUser)), "fetch 0x400abc user");
  EXPECT_EQ(format_op(access(OpKind::kLoad, 0)), "load 0x0");
}

TEST(OpFormat, TouchOmitsTheDefaultStride) {
  EXPECT_EQ(format_op(touch(0x2000, 16384, 4096)), "touch 0x2000 16384");
  EXPECT_EQ(format_op(touch(0x2000, 1u << 20, 64, f::kStore | f::kUser)),
            "touch 0x2000 1048576 stride=64 store user");
  EXPECT_EQ(format_op(touch(0x0, 8192, 2u << 20, f::kUser)), "touch 0x0 8192 stride=2097152 user");
}

TEST(OpFormat, TlbMaintenance) {
  EXPECT_EQ(format_op(access(OpKind::kInvlpg, 0xdead000)), "invlpg 0xdead000");

  EXPECT_EQ(format_op(make(OpKind::kMovCr3)), "mov_cr3");
  Op cr3 = make(OpKind::kMovCr3);
  cr3.mm = 3;
  cr3.pcid = 17;
  cr3.flags = f::kNoFlush;
  EXPECT_EQ(format_op(cr3), "mov_cr3 mm=3 pcid=17 noflush");
  cr3.mm = 0;
  EXPECT_EQ(format_op(cr3), "mov_cr3 pcid=17 noflush");

  Op invpcid = make(OpKind::kInvpcid);
  invpcid.value = 0;
  invpcid.pcid = 5;
  invpcid.addr = 0x7000;
  EXPECT_EQ(format_op(invpcid), "invpcid 0 pcid=5 addr=0x7000");
  invpcid.value = 2;
  invpcid.pcid = 0;
  invpcid.addr = 0;
  EXPECT_EQ(format_op(invpcid), "invpcid 2");

  EXPECT_EQ(format_op(make(OpKind::kTogglePge)), "toggle_pge");
}

TEST(OpFormat, PageTableEdits) {
  Op map = range(OpKind::kMap, 0xffffc90000200000, 4u << 20, 2, kAllPageFlags | f::kHasFrame);
  map.page = mmu::PageSize::k2M;
  map.value = 0x1200;
  EXPECT_EQ(format_op(map),
            "map 0xffffc90000200000 4194304 mm=2 page=2m frame=0x1200 ro user nx global pwt pcd");

  EXPECT_EQ(format_op(range(OpKind::kMap, 0x1000, 8192)), "map 0x1000 8192");
  Op one_gig = range(OpKind::kMap, 0x40000000, 1u << 30, 0, f::kGlobal);
  one_gig.page = mmu::PageSize::k1G;
  EXPECT_EQ(format_op(one_gig), "map 0x40000000 1073741824 page=1g global");
  Op frame_zero = range(OpKind::kMap, 0x1000, 4096, 0, f::kHasFrame);
  EXPECT_EQ(format_op(frame_zero), "map 0x1000 4096 frame=0x0");

  EXPECT_EQ(format_op(range(OpKind::kUnmap, 0x1000, 4096)), "unmap 0x1000 4096");
  EXPECT_EQ(format_op(range(OpKind::kUnmap, 0x1000, 4096, 7)), "unmap 0x1000 4096 mm=7");

  EXPECT_EQ(format_op(range(OpKind::kProtect, 0x1000, 4096)), "protect 0x1000 4096");
  EXPECT_EQ(format_op(range(OpKind::kProtect, 0x1000, 65536, 1, kAllPageFlags)),
            "protect 0x1000 65536 mm=1 ro user nx global pwt pcd");
}

TEST(OpFormat, Compute) {
  EXPECT_EQ(format_op(compute(250)), "compute 250");
  EXPECT_EQ(format_op(compute(0)), "compute 0");
}

// Reading any accepted spelling and writing it back gives the one canonical text.
TEST(OpFormat, NormalizesEveryAcceptedSpelling) {
  const std::pair<const char*, const char*> cases[] = {
      {"load 4096", "load 0x1000"},
      {"load 0X00FF user", "load 0xff user"},
      {"touch 0x2000 16K stride=4096", "touch 0x2000 16384"},
      {"touch 0x2000 16K user store stride=1K", "touch 0x2000 16384 stride=1024 store user"},
      {"mov_cr3 noflush pcid=0x11 mm=03", "mov_cr3 mm=3 pcid=17 noflush"},
      {"mov_cr3 mm=0 pcid=0", "mov_cr3"},
      {"invpcid 0x1 pcid=2 addr=0", "invpcid 1 pcid=2"},
      {"map 0X1000 2MiB user ro page=2MiB", "map 0x1000 2097152 page=2m ro user"},
      {"map 0x1000 4K page=4k mm=0 pcd pwt global nx", "map 0x1000 4096 nx global pwt pcd"},
      {"protect 4096 1M global ro", "protect 0x1000 1048576 ro global"},
      {"compute 0x100", "compute 256"},
  };
  for (const auto& [text, canonical] : cases) {
    EXPECT_EQ(format_op(parse_op(text)), canonical) << text;
  }
}

// ---------------------------------------------------------------------------------------------
// Guest ops (the vmalloc API) and irq blocks: exact fields.

// An op that binds (or names) the handle `name`.
Op bound(OpKind kind, const char* name, std::uint64_t size = 0) {
  Op op = make(kind);
  op.set_name(name);
  op.size = size;
  return op;
}

// An op whose address operand is "$name+offset".
Op at_handle(OpKind kind, const char* name, std::uint64_t offset = 0, std::uint64_t size = 0) {
  Op op = make(kind);
  op.set_name(name);
  op.flags = f::kHandleAddr;
  op.addr = offset;
  op.size = size;
  return op;
}

// An op whose address operand is a number.
Op at(OpKind kind, std::uint64_t addr, std::uint64_t size = 0) {
  Op op = make(kind);
  op.addr = addr;
  op.size = size;
  return op;
}

TEST(GuestOpParse, AllocatorsBindTheirHandleToSize) {
  const std::pair<const char*, OpKind> kinds[] = {
      {"vmalloc", OpKind::kVmalloc},           {"vzalloc", OpKind::kVzalloc},
      {"vmalloc_user", OpKind::kVmallocUser},  {"vmalloc_exec", OpKind::kVmallocExec},
      {"vmalloc_32", OpKind::kVmalloc32},      {"vmalloc_32_user", OpKind::kVmalloc32User},
      {"alloc_vm_area", OpKind::kAllocVmArea},
  };
  for (const auto& [name, kind] : kinds) {
    const Op op = parse_op(std::string(name) + " $buf 64K");
    EXPECT_EQ(op, bound(kind, "buf", 65536)) << name;
    EXPECT_FALSE(op.has(f::kHandleAddr)) << name;  // a binding, not an address
    EXPECT_EQ(op.node, -1) << name;
    EXPECT_EQ(op.align, 0u) << name;
    EXPECT_EQ(parse_op(std::string(name) + " $_B9 0x1001"), bound(kind, "_B9", 0x1001)) << name;
  }
}

TEST(GuestOpParse, VmallocNodeAndVzallocNode) {
  Op node = bound(OpKind::kVmallocNode, "n", 8192);
  node.node = 1;
  EXPECT_EQ(parse_op("vmalloc_node $n 8K node=1"), node);
  node.kind = OpKind::kVzallocNode;
  node.node = 63;
  EXPECT_EQ(parse_op("vzalloc_node $n 8192 node=63"), node);
  // Without node=: NUMA_NO_NODE.
  EXPECT_EQ(parse_op("vmalloc_node $n 8K"), bound(OpKind::kVmallocNode, "n", 8192));
  EXPECT_EQ(parse_op("vmalloc_node $n 8K").node, -1);
  node.node = 0;
  EXPECT_EQ(parse_op("vzalloc_node $n 8K node=0"), node);
}

TEST(GuestOpParse, VmallocNodeAlignDefaultsAndEveryOption) {
  EXPECT_EQ(parse_op("__vmalloc_node $a 1M"), bound(OpKind::kVmallocNodeAlign, "a", 1u << 20));
  Op full = bound(OpKind::kVmallocNodeAlign, "a", 1u << 20);
  full.align = 2u << 20;
  full.node = 2;
  full.flags = f::kZero | f::kDma32 | f::kExec;
  EXPECT_EQ(parse_op("__vmalloc_node $a 1M align=2M node=2 zero dma32 exec"), full);
  EXPECT_EQ(parse_op("__vmalloc_node $a 1048576 exec dma32 node=2 zero align=0x200000"), full);
  Op zero = bound(OpKind::kVmallocNodeAlign, "a", 4096);
  zero.flags = f::kZero;
  EXPECT_EQ(parse_op("__vmalloc_node $a 4K zero"), zero);
}

TEST(GuestOpParse, VmallocNodeRangeDefaultsAndEveryOption) {
  EXPECT_EQ(parse_op("__vmalloc_node_range $m 16K"), bound(OpKind::kVmallocNodeRange, "m", 16384));
  Op module = bound(OpKind::kVmallocNodeRange, "m", 16384);
  module.flags = f::kModules;
  EXPECT_EQ(parse_op("__vmalloc_node_range $m 16K modules"), module);
  Op full = bound(OpKind::kVmallocNodeRange, "m", 16384);
  full.align = 4096;
  full.node = 0;
  full.flags = f::kModules | f::kNoGuard | f::kZero | f::kDma32 | f::kExec;
  EXPECT_EQ(parse_op("__vmalloc_node_range $m 16K align=4K node=0 modules noguard zero dma32 exec"),
            full);
}

TEST(GuestOpParse, AddressOpsTakeANumberAHandleOrAHandlePlusOffset) {
  const std::pair<const char*, OpKind> kinds[] = {
      {"vfree", OpKind::kVfree},
      {"vfree_atomic", OpKind::kVfreeAtomic},
      {"vunmap", OpKind::kVunmap},
      {"find_vm_area", OpKind::kFindVmArea},
      {"remove_vm_area", OpKind::kRemoveVmArea},
  };
  for (const auto& [name, kind] : kinds) {
    const std::string op(name);
    EXPECT_EQ(parse_op(op + " 0xffffc90000004000"), at(kind, 0xffffc90000004000)) << name;
    EXPECT_EQ(parse_op(op + " 0"), at(kind, 0)) << name;  // NULL
    EXPECT_EQ(parse_op(op + " $buf"), at_handle(kind, "buf")) << name;
    EXPECT_EQ(parse_op(op + " $buf+0x1000"), at_handle(kind, "buf", 0x1000)) << name;
    EXPECT_EQ(parse_op(op + " $buf+8K"), at_handle(kind, "buf", 8192)) << name;
    EXPECT_EQ(parse_op(op + " $buf+0"), at_handle(kind, "buf")) << name;
  }
}

TEST(GuestOpParse, HandleBindingAndHandleAddressDiffer) {
  // vmalloc binds $buf: the name only. vfree $buf uses it: the name, kHandleAddr, offset 0.
  const Op bind = parse_op("vmalloc $buf 4K");
  EXPECT_EQ(bind.name_view(), "buf");
  EXPECT_EQ(bind.flags, 0u);
  EXPECT_EQ(bind.addr, 0u);
  const Op use = parse_op("vfree $buf");
  EXPECT_EQ(use.name_view(), "buf");
  EXPECT_EQ(use.flags, f::kHandleAddr);
  EXPECT_EQ(use.addr, 0u);
  const Op numeric = parse_op("vfree 0x1000");
  EXPECT_EQ(numeric.name_view(), "");
  EXPECT_EQ(numeric.flags, 0u);
  EXPECT_EQ(numeric.addr, 0x1000u);
  // free_vm_area and pcpu_free_vm_areas name a handle's vm_struct(s): no address, no offset.
  EXPECT_EQ(parse_op("free_vm_area $area"), bound(OpKind::kFreeVmArea, "area"));
  EXPECT_EQ(parse_op("pcpu_free_vm_areas $chunks"), bound(OpKind::kPcpuFreeVmAreas, "chunks"));
  EXPECT_THROW(parse_op("free_vm_area $area+8"), std::invalid_argument);
  EXPECT_THROW(parse_op("free_vm_area 0x1000"), std::invalid_argument);
}

TEST(GuestOpParse, AccessesAndInvlpgTakeHandleAddresses) {
  Op load = at_handle(OpKind::kLoad, "buf", 64);
  load.flags |= f::kUser;
  EXPECT_EQ(parse_op("load $buf+64 user"), load);
  EXPECT_EQ(parse_op("store $buf"), at_handle(OpKind::kStore, "buf"));
  EXPECT_EQ(parse_op("fetch $code+0x10"), at_handle(OpKind::kFetch, "code", 0x10));
  Op touch = at_handle(OpKind::kTouch, "buf", 4096, 16384);
  touch.value = 64;
  touch.flags |= f::kStore;
  EXPECT_EQ(parse_op("touch $buf+4K 16K stride=64 store"), touch);
  // Without BYTES after a handle: size 0, the rest of what the handle's op allocated.
  Op whole = at_handle(OpKind::kTouch, "buf", 0, 0);
  whole.value = 4096;
  EXPECT_EQ(parse_op("touch $buf"), whole);
  EXPECT_EQ(format_op(whole), "touch $buf");
  whole.flags |= f::kStore | f::kUser;
  whole.value = 64;
  EXPECT_EQ(parse_op("touch $buf stride=64 store user"), whole);
  EXPECT_EQ(parse_op("touch $buf 0 stride=64 store user"), whole);
  EXPECT_EQ(format_op(whole), "touch $buf stride=64 store user");
  // A number needs its byte count.
  EXPECT_THROW(parse_op("touch 0x1000"), std::invalid_argument);
  EXPECT_THROW(parse_op("touch 0x1000 store"), std::invalid_argument);
  EXPECT_EQ(parse_op("invlpg $buf+0x2000"), at_handle(OpKind::kInvlpg, "buf", 0x2000));
  // Edits, invpcid's addr= and the kernel flushes take numbers only.
  EXPECT_THROW(parse_op("map $buf 4K"), std::invalid_argument);
  EXPECT_THROW(parse_op("invpcid 0 addr=$buf"), std::invalid_argument);
  EXPECT_THROW(parse_op("flush_tlb_kernel_range $buf all"), std::invalid_argument);
}

TEST(GuestOpParse, VmapAndVmMapRam) {
  Op vmap = bound(OpKind::kVmap, "v");
  vmap.value = 16;
  EXPECT_EQ(parse_op("vmap $v 16"), vmap);  // no flag word: the simulator passes VM_MAP
  vmap.flags = f::kVmMap | f::kVmAlloc | f::kIoremap | f::kUsermap | f::kNoGuard;
  EXPECT_EQ(parse_op("vmap $v 0x10 map alloc ioremap usermap noguard"), vmap);
  vmap.flags = f::kUsermap;
  EXPECT_EQ(parse_op("vmap $v 16 usermap"), vmap);
  vmap.value = 4294967295;
  vmap.flags = 0;
  EXPECT_EQ(parse_op("vmap $v 4294967295"), vmap);

  Op ram = bound(OpKind::kVmMapRam, "r");
  ram.value = 4;
  EXPECT_EQ(parse_op("vm_map_ram $r 4"), ram);
  ram.node = 3;
  EXPECT_EQ(parse_op("vm_map_ram $r 4 node=3"), ram);
}

TEST(GuestOpParse, VmUnmapRamWithAndWithoutACount) {
  EXPECT_EQ(parse_op("vm_unmap_ram $r"), at_handle(OpKind::kVmUnmapRam, "r"));
  Op counted = at_handle(OpKind::kVmUnmapRam, "r");
  counted.flags |= f::kHasCount;
  counted.value = 4;
  EXPECT_EQ(parse_op("vm_unmap_ram $r 4"), counted);
  Op numeric = at(OpKind::kVmUnmapRam, 0xffffe8ffffc00000);
  numeric.flags = f::kHasCount;
  numeric.value = 0;
  EXPECT_EQ(parse_op("vm_unmap_ram 0xffffe8ffffc00000 0"), numeric);
  // The count is the op's, not the handle's: it may be given for a handle too.
  Op offset = at_handle(OpKind::kVmUnmapRam, "r", 4096);
  offset.flags |= f::kHasCount;
  offset.value = 2;
  EXPECT_EQ(parse_op("vm_unmap_ram $r+4K 2"), offset);
}

TEST(GuestOpParse, OpsWithoutOperands) {
  EXPECT_EQ(parse_op("vm_unmap_aliases"), make(OpKind::kVmUnmapAliases));
  EXPECT_EQ(parse_op("vmallocinfo"), make(OpKind::kVmallocinfo));
  EXPECT_THROW(parse_op("vm_unmap_aliases 1"), std::invalid_argument);
  EXPECT_THROW(parse_op("vmallocinfo $x"), std::invalid_argument);
}

TEST(GuestOpParse, GetVmAreaTakesVmFlagWords) {
  EXPECT_EQ(parse_op("get_vm_area $g 1M"), bound(OpKind::kGetVmArea, "g", 1u << 20));
  Op flagged = bound(OpKind::kGetVmArea, "g", 1u << 20);
  flagged.flags = f::kIoremap | f::kNoGuard;
  EXPECT_EQ(parse_op("get_vm_area $g 1M noguard ioremap"), flagged);
  flagged.flags = f::kIoremap | f::kVmAlloc | f::kVmMap | f::kUsermap | f::kNoGuard;
  EXPECT_EQ(parse_op("get_vm_area $g 1M ioremap alloc map usermap noguard"), flagged);
}

TEST(GuestOpParse, KernelRangeOps) {
  Op map = at_handle(OpKind::kMapKernelRangeNoflush, "g", 0, 8192);
  EXPECT_EQ(parse_op("map_kernel_range_noflush $g 8K"), map);
  map.flags |= f::kExec;
  EXPECT_EQ(parse_op("map_kernel_range_noflush $g 8K exec"), map);
  EXPECT_EQ(parse_op("map_kernel_range_noflush 0xffffc90000100000 4096"),
            at(OpKind::kMapKernelRangeNoflush, 0xffffc90000100000, 4096));
  EXPECT_EQ(parse_op("unmap_kernel_range_noflush $g+4K 4K"),
            at_handle(OpKind::kUnmapKernelRangeNoflush, "g", 4096, 4096));
  EXPECT_EQ(parse_op("unmap_kernel_range 0xffffc90000100000 2M"),
            at(OpKind::kUnmapKernelRange, 0xffffc90000100000, 2u << 20));
}

TEST(GuestOpParse, VreadAndVwrite) {
  EXPECT_EQ(parse_op("vread $buf+100 300"), at_handle(OpKind::kVread, "buf", 100, 300));
  EXPECT_EQ(parse_op("vwrite $buf 4K"), at_handle(OpKind::kVwrite, "buf", 0, 4096));
  Op byte = at(OpKind::kVwrite, 0xffffc90000000000, 16);
  byte.extra = 0xa5;
  EXPECT_EQ(parse_op("vwrite 0xffffc90000000000 16 byte=0xa5"), byte);
  byte.extra = 255;
  EXPECT_EQ(parse_op("vwrite 0xffffc90000000000 16 byte=255"), byte);
}

TEST(GuestOpParse, RemapVmallocRange) {
  Op remap = at_handle(OpKind::kRemapVmallocRange, "u");
  remap.mm = 1;
  remap.value = 0x7f0000000000;  // uaddr
  EXPECT_EQ(parse_op("remap_vmalloc_range $u mm=1 uaddr=0x7f0000000000"), remap);
  remap.extra = 2;        // pgoff
  remap.size = 3u << 12;  // vsize
  EXPECT_EQ(parse_op("remap_vmalloc_range $u vsize=12K pgoff=2 uaddr=0x7f0000000000 mm=1"), remap);
  Op kernel_mm = at(OpKind::kRemapVmallocRange, 0xffffc90000000000);
  kernel_mm.value = 0x1000;
  EXPECT_EQ(parse_op("remap_vmalloc_range 0xffffc90000000000 mm=0 uaddr=0x1000"), kernel_mm);
}

TEST(GuestOpParse, RemapVmallocRangePartial) {
  Op partial = at_handle(OpKind::kRemapVmallocRangePartial, "u", 4096, 8192);
  partial.mm = 2;
  partial.value = 0x400000;
  EXPECT_EQ(parse_op("remap_vmalloc_range_partial $u+4K 8K mm=2 uaddr=0x400000"), partial);
  partial.extra = 16384;  // vsize
  EXPECT_EQ(parse_op("remap_vmalloc_range_partial $u+4K 8K mm=2 uaddr=0x400000 vsize=16K"),
            partial);
  // pgoff= is remap_vmalloc_range's only.
  EXPECT_THROW(parse_op("remap_vmalloc_range_partial $u 8K mm=2 uaddr=0x400000 pgoff=1"),
               std::invalid_argument);
}

TEST(GuestOpParse, PcpuGetVmAreas) {
  Op areas = bound(OpKind::kPcpuGetVmAreas, "pcpu", 32768);
  areas.value = 4;
  EXPECT_EQ(parse_op("pcpu_get_vm_areas $pcpu 4 32K"), areas);
  areas.extra = 1u << 20;  // stride
  areas.align = 8192;
  EXPECT_EQ(parse_op("pcpu_get_vm_areas $pcpu 4 32K align=8K stride=1M"), areas);
}

TEST(GuestOpParse, SetMemoryTakesAnAddressAndAPageCount) {
  Op ro = at_handle(OpKind::kSetMemoryRo, "text", 0x1000);
  ro.value = 3;
  EXPECT_EQ(parse_op("set_memory_ro $text+4K 3"), ro);
  EXPECT_EQ(format_op(ro), "set_memory_ro $text+0x1000 3");
  Op nx = at(OpKind::kSetMemoryNx, 0xffffffffa0000000, 0);
  nx.value = 16;
  EXPECT_EQ(parse_op("set_memory_nx 0xffffffffa0000000 16"), nx);
  EXPECT_EQ(parse_op("set_memory_rw $t 1").kind, OpKind::kSetMemoryRw);
  EXPECT_EQ(parse_op("set_memory_x $t 1").kind, OpKind::kSetMemoryX);
  EXPECT_THROW(parse_op("set_memory_ro $t"), std::invalid_argument);
  EXPECT_THROW(parse_op("set_memory_ro $t 4294967296"), std::invalid_argument);
}

TEST(OpParse, SpansTakeAName) {
  const Op begin = parse_op("begin fix_size_alloc_test");
  EXPECT_EQ(begin.kind, OpKind::kSpanBegin);
  EXPECT_EQ(begin.name_view(), "fix_size_alloc_test");
  EXPECT_EQ(format_op(begin), "begin fix_size_alloc_test");
  EXPECT_EQ(format_op(parse_op("end x1")), "end x1");
  EXPECT_THROW(parse_op("begin"), std::invalid_argument);
  EXPECT_THROW(parse_op("end 9lives"), std::invalid_argument);
}

TEST(GuestOpParse, EarlyRegistrations) {
  EXPECT_EQ(parse_op("vm_area_add_early 0xffffc90000000000 64K"),
            at(OpKind::kVmAreaAddEarly, 0xffffc90000000000, 65536));
  EXPECT_EQ(parse_op("vm_area_add_early $early+4K 4K"),
            at_handle(OpKind::kVmAreaAddEarly, "early", 4096, 4096));
  EXPECT_EQ(parse_op("vm_area_register_early $pcpu 32K"),
            bound(OpKind::kVmAreaRegisterEarly, "pcpu", 32768));
  Op aligned = bound(OpKind::kVmAreaRegisterEarly, "pcpu", 32768);
  aligned.align = 2u << 20;
  EXPECT_EQ(parse_op("vm_area_register_early $pcpu 32K align=2M"), aligned);
}

TEST(GuestOpParse, IrqBlock) {
  EXPECT_EQ(parse_op("irq {"), make(OpKind::kIrqEnter));
  EXPECT_EQ(parse_op("  irq\t{ "), make(OpKind::kIrqEnter));
  EXPECT_EQ(parse_op("}"), make(OpKind::kIrqExit));
  EXPECT_FALSE(is_guest_op(OpKind::kIrqEnter));
  EXPECT_FALSE(is_guest_op(OpKind::kIrqExit));
  EXPECT_TRUE(is_guest_op(OpKind::kVmalloc));
  EXPECT_TRUE(is_guest_op(OpKind::kVmallocinfo));
  EXPECT_FALSE(is_guest_op(OpKind::kMutexUnlock));
}

TEST(GuestOpParse, HandleNamesFollowTheNameRule) {
  EXPECT_EQ(parse_op("vmalloc $" + std::string(31, 'h') + " 4K").name_view(), std::string(31, 'h'));
  EXPECT_EQ(parse_op("vfree $_").name_view(), "_");
  EXPECT_THROW(parse_op("vmalloc $" + std::string(32, 'h') + " 4K"), std::invalid_argument);
  EXPECT_THROW(parse_op("vfree $" + std::string(32, 'h')), std::invalid_argument);
}

// parse_op's messages for guest ops (the reader adds FILE:LINE; see trace_errors_test.cpp).
TEST(GuestOpParse, ErrorMessages) {
  auto message = [](const std::string& text) -> std::string {
    try {
      parse_op(text);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(message("vmalloc $b"), "vmalloc: missing operand (usage: vmalloc $HANDLE SIZE)");
  EXPECT_EQ(message("vmalloc b 4K"), "vmalloc: expected a handle ($name), got 'b'");
  EXPECT_EQ(message("vmalloc $ 4K"), "vmalloc: expected a handle ($name), got '$'");
  EXPECT_EQ(message("vmalloc $b+8 4K"),
            "vmalloc: handle 'b+8' must be letters, digits and '_', not starting with a digit");
  EXPECT_EQ(message("vfree $"),
            "vfree: handle '' must be letters, digits and '_', not starting with a digit");
  EXPECT_EQ(message("vfree $+8"),
            "vfree: handle '' must be letters, digits and '_', not starting with a digit");
  EXPECT_EQ(message("vfree $b+"), "vfree: offset '' is not a number");
  EXPECT_EQ(message("vfree $b-8"),
            "vfree: handle 'b-8' must be letters, digits and '_', not starting with a digit");
  EXPECT_EQ(message("vfree b"), "vfree: address 'b' is not a number");
  EXPECT_EQ(message("irq"), "irq: expected 'irq {'");
  EXPECT_EQ(message("} now"), "}: unexpected operand 'now'");
  EXPECT_EQ(message("vm_map_ram $r 4294967296"),
            "vm_map_ram: page count 4294967296 is above the maximum 4294967295");
  EXPECT_EQ(message("vmap $v 4294967296"),
            "vmap: page count 4294967296 is above the maximum 4294967295");
  EXPECT_EQ(message("vm_unmap_ram $r 4294967296"),
            "vm_unmap_ram: page count 4294967296 is above the maximum 4294967295");
  EXPECT_EQ(message("vm_unmap_ram $r node=1"), "vm_unmap_ram: unexpected operand 'node=1'");
  EXPECT_EQ(message("remap_vmalloc_range $u mm=1 uaddr=0x1000 vsize=0"),
            "remap_vmalloc_range: vma size must be at least 1");
  EXPECT_EQ(message("pcpu_get_vm_areas $p 2 4K stride=0"),
            "pcpu_get_vm_areas: stride must be at least 1");
}

// ---------------------------------------------------------------------------------------------
// format_op: guest ops' canonical text.

TEST(GuestOpFormat, EveryFormAndItsDefaultsLeftOut) {
  EXPECT_EQ(format_op(bound(OpKind::kVmalloc, "buf", 65536)), "vmalloc $buf 65536");
  EXPECT_EQ(format_op(bound(OpKind::kVmalloc32User, "b", 1)), "vmalloc_32_user $b 1");
  Op node = bound(OpKind::kVzallocNode, "n", 4096);
  EXPECT_EQ(format_op(node), "vzalloc_node $n 4096");
  node.node = 0;
  EXPECT_EQ(format_op(node), "vzalloc_node $n 4096 node=0");

  Op range = bound(OpKind::kVmallocNodeRange, "m", 16384);
  range.align = 4096;
  range.node = 1;
  range.flags = f::kExec | f::kZero | f::kModules | f::kDma32 | f::kNoGuard;
  EXPECT_EQ(format_op(range),
            "__vmalloc_node_range $m 16384 align=4096 node=1 modules noguard zero dma32 exec");
  EXPECT_EQ(format_op(bound(OpKind::kVmallocNodeAlign, "a", 8)), "__vmalloc_node $a 8");

  EXPECT_EQ(format_op(at(OpKind::kVfree, 0xffffc90000004000)), "vfree 0xffffc90000004000");
  EXPECT_EQ(format_op(at(OpKind::kVfreeAtomic, 0)), "vfree_atomic 0x0");
  EXPECT_EQ(format_op(at_handle(OpKind::kVunmap, "v")), "vunmap $v");
  EXPECT_EQ(format_op(at_handle(OpKind::kRemoveVmArea, "v", 8192)), "remove_vm_area $v+0x2000");

  Op vmap = bound(OpKind::kVmap, "v");
  vmap.value = 16;
  vmap.flags = f::kNoGuard | f::kUsermap | f::kVmMap | f::kVmAlloc | f::kIoremap;
  EXPECT_EQ(format_op(vmap), "vmap $v 16 ioremap alloc map usermap noguard");
  Op ram = bound(OpKind::kVmMapRam, "r");
  ram.value = 4;
  EXPECT_EQ(format_op(ram), "vm_map_ram $r 4");
  Op unmap_ram = at_handle(OpKind::kVmUnmapRam, "r");
  EXPECT_EQ(format_op(unmap_ram), "vm_unmap_ram $r");
  unmap_ram.flags |= f::kHasCount;
  unmap_ram.value = 0;
  EXPECT_EQ(format_op(unmap_ram), "vm_unmap_ram $r 0");

  EXPECT_EQ(format_op(make(OpKind::kVmUnmapAliases)), "vm_unmap_aliases");
  EXPECT_EQ(format_op(make(OpKind::kVmallocinfo)), "vmallocinfo");
  EXPECT_EQ(format_op(bound(OpKind::kGetVmArea, "g", 4096)), "get_vm_area $g 4096");
  EXPECT_EQ(format_op(bound(OpKind::kFreeVmArea, "g")), "free_vm_area $g");
  EXPECT_EQ(format_op(bound(OpKind::kPcpuFreeVmAreas, "p")), "pcpu_free_vm_areas $p");
  Op map = at_handle(OpKind::kMapKernelRangeNoflush, "g", 0, 8192);
  map.flags |= f::kExec;
  EXPECT_EQ(format_op(map), "map_kernel_range_noflush $g 8192 exec");
  EXPECT_EQ(format_op(at(OpKind::kUnmapKernelRange, 0x1000, 4096)),
            "unmap_kernel_range 0x1000 4096");
  Op vwrite = at_handle(OpKind::kVwrite, "b", 1, 2);
  EXPECT_EQ(format_op(vwrite), "vwrite $b+0x1 2");
  vwrite.extra = 7;
  EXPECT_EQ(format_op(vwrite), "vwrite $b+0x1 2 byte=7");

  Op remap = at_handle(OpKind::kRemapVmallocRange, "u");
  remap.value = 0x400000;
  EXPECT_EQ(format_op(remap), "remap_vmalloc_range $u mm=0 uaddr=0x400000");
  remap.mm = 1;
  remap.extra = 2;
  remap.size = 8192;
  EXPECT_EQ(format_op(remap), "remap_vmalloc_range $u mm=1 uaddr=0x400000 pgoff=2 vsize=8192");
  Op partial = at_handle(OpKind::kRemapVmallocRangePartial, "u", 0, 4096);
  partial.mm = 1;
  partial.value = 0x400000;
  partial.extra = 8192;
  EXPECT_EQ(format_op(partial),
            "remap_vmalloc_range_partial $u 4096 mm=1 uaddr=0x400000 vsize=8192");

  Op pcpu = bound(OpKind::kPcpuGetVmAreas, "p", 32768);
  pcpu.value = 4;
  EXPECT_EQ(format_op(pcpu), "pcpu_get_vm_areas $p 4 32768");
  pcpu.extra = 65536;
  pcpu.align = 8192;
  EXPECT_EQ(format_op(pcpu), "pcpu_get_vm_areas $p 4 32768 stride=65536 align=8192");
  Op early = bound(OpKind::kVmAreaRegisterEarly, "e", 4096);
  early.align = 8192;
  EXPECT_EQ(format_op(early), "vm_area_register_early $e 4096 align=8192");
  EXPECT_EQ(format_op(at(OpKind::kVmAreaAddEarly, 0xffffc90000000000, 4096)),
            "vm_area_add_early 0xffffc90000000000 4096");
  EXPECT_EQ(format_op(make(OpKind::kIrqEnter)), "irq {");
  EXPECT_EQ(format_op(make(OpKind::kIrqExit)), "}");
  Op load = at_handle(OpKind::kLoad, "buf", 0x40);
  load.flags |= f::kUser;
  EXPECT_EQ(format_op(load), "load $buf+0x40 user");
}

TEST(GuestOpFormat, NormalizesEveryAcceptedSpelling) {
  const std::pair<const char*, const char*> cases[] = {
      {"vmalloc $b 4K", "vmalloc $b 4096"},
      {"vfree $b+0", "vfree $b"},
      {"vfree $b+4K", "vfree $b+0x1000"},
      {"vfree $b+4096", "vfree $b+0x1000"},
      {"vfree 4096", "vfree 0x1000"},
      {"vmalloc_node $n 4K node=0x3", "vmalloc_node $n 4096 node=3"},
      {"__vmalloc_node $a 1M exec zero align=2M",
       "__vmalloc_node $a 1048576 align=2097152 zero exec"},
      {"__vmalloc_node_range $m 8K exec modules", "__vmalloc_node_range $m 8192 modules exec"},
      {"vmap $v 0x10 noguard map", "vmap $v 16 map noguard"},
      {"vm_unmap_ram $r 0x4", "vm_unmap_ram $r 4"},
      {"vwrite $b 1 byte=0", "vwrite $b 1"},
      {"remap_vmalloc_range $u uaddr=4096 mm=1 pgoff=0",
       "remap_vmalloc_range $u mm=1 uaddr=0x1000"},
      {"pcpu_get_vm_areas $p 2 8K align=4K stride=1M",
       "pcpu_get_vm_areas $p 2 8192 stride=1048576 align=4096"},
      {"irq   {", "irq {"},
      {"touch $b 8K", "touch $b 8192"},
  };
  for (const auto& [text, canonical] : cases) {
    EXPECT_EQ(format_op(parse_op(text)), canonical) << text;
  }
}

// ---------------------------------------------------------------------------------------------
// Round trip.

std::vector<Op> varied_ops() {
  std::vector<Op> ops = {
      access(OpKind::kLoad, 0),
      access(OpKind::kLoad, ~std::uint64_t{0}, f::kUser),
      access(OpKind::kStore, 0xffffc90000001238),
      access(OpKind::kFetch, 0x400000, f::kUser),
      touch(0x1000, 0, 4096),
      touch(0x1000, 1u << 30, 1, f::kStore | f::kUser),
      access(OpKind::kInvlpg, 0xffffffffff600000),
      make(OpKind::kMovCr3),
      make(OpKind::kTogglePge),
      range(OpKind::kUnmap, 0x7f0000000000, 0, 65535),
      range(OpKind::kProtect, 0x1000, 4096, 1, f::kReadOnly | f::kCacheDisable),
      compute(~std::uint64_t{0}),
  };
  Op cr3 = make(OpKind::kMovCr3);
  cr3.mm = 65535;
  cr3.pcid = 4095;
  cr3.flags = f::kNoFlush;
  ops.push_back(cr3);
  for (std::uint64_t type = 0; type < 4; ++type) {
    Op invpcid = make(OpKind::kInvpcid);
    invpcid.value = type;
    invpcid.pcid = static_cast<std::uint16_t>(type * 1000);
    invpcid.addr = type == 0 ? 0x5000 : 0;
    ops.push_back(invpcid);
  }
  for (mmu::PageSize page : {mmu::PageSize::k4K, mmu::PageSize::k2M, mmu::PageSize::k1G}) {
    Op map = range(OpKind::kMap, 0xffff880000000000, mmu::page_bytes(page) * 3, 9,
                   f::kGlobal | f::kNoExecute);
    map.page = page;
    ops.push_back(map);
    map.flags |= f::kHasFrame;
    map.value = 0x80000;
    ops.push_back(map);
  }
  return ops;
}

TEST(OpRoundTrip, VariedOpsParseBackToThemselves) {
  for (const Op& op : varied_ops()) {
    EXPECT_EQ(parse_op(format_op(op)), op) << format_op(op);
  }
}

// A random handle name: [A-Za-z_][A-Za-z0-9_]*, 1 to 31 characters.
std::string random_name(mmu::Rng& rng) {
  static const std::string kFirst = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
  static const std::string kRest = kFirst + "0123456789";
  const std::size_t length = rng.between(1, kMaxOpName);
  std::string name(1, kFirst[rng.below(kFirst.size())]);
  while (name.size() < length)
    name += kRest[rng.below(kRest.size())];
  return name;
}

// A random address operand: a number, "$handle" or "$handle+OFFSET".
void random_address(mmu::Rng& rng, Op& op) {
  if (rng.chance(1, 2)) {
    op.addr = rng.next();
    return;
  }
  op.flags |= f::kHandleAddr;
  op.set_name(random_name(rng));
  op.addr = rng.chance(1, 3) ? 0 : rng.chance(1, 2) ? rng.below(1u << 20) : rng.next();
}

// A random handle an op binds (or names, for free_vm_area and pcpu_free_vm_areas).
void random_handle(mmu::Rng& rng, Op& op) {
  op.set_name(random_name(rng));
}

// 0 (the option left out) or a random value of at least 1.
std::uint64_t zero_or_positive(mmu::Rng& rng) {
  return rng.chance(1, 3) ? 0 : rng.between(1, ~std::uint64_t{0});
}

std::int32_t random_node(mmu::Rng& rng) {
  return static_cast<std::int32_t>(rng.below(65)) - 1;  // -1 (NUMA_NO_NODE) to 63
}

// A valid op of a random kind with random values in every field that kind carries.
Op random_op(mmu::Rng& rng) {
  Op op = make(static_cast<OpKind>(rng.below(kNumOpKinds)));
  auto random_flags = [&rng](std::uint32_t allowed) {
    std::uint32_t flags = 0;
    for (std::uint32_t bit = 1; bit != 0 && bit <= allowed; bit <<= 1) {
      if ((allowed & bit) && rng.chance(1, 2)) flags |= bit;
    }
    return flags;
  };
  switch (op.kind) {
    case OpKind::kLoad:
    case OpKind::kStore:
    case OpKind::kFetch:
      op.flags = random_flags(f::kUser);
      random_address(rng, op);
      break;
    case OpKind::kTouch:
      random_address(rng, op);
      op.size = rng.below(1ull << 40);
      op.value = rng.chance(1, 2) ? 4096 : rng.between(1, 1ull << 30);
      op.flags |= random_flags(f::kStore | f::kUser);
      break;
    case OpKind::kInvlpg:
      random_address(rng, op);
      break;
    case OpKind::kMovCr3:
      op.mm = static_cast<std::uint32_t>(rng.below(65536));
      op.pcid = static_cast<std::uint16_t>(rng.below(4096));
      op.flags = random_flags(f::kNoFlush);
      break;
    case OpKind::kInvpcid:
      op.value = rng.below(4);
      op.pcid = static_cast<std::uint16_t>(rng.below(4096));
      op.addr = rng.chance(1, 2) ? 0 : rng.next();
      break;
    case OpKind::kTogglePge:
      break;
    case OpKind::kMap:
      op.page = static_cast<mmu::PageSize>(rng.below(mmu::kNumPageSizes));
      if (rng.chance(1, 2)) {
        op.flags |= f::kHasFrame;
        op.value = rng.below(1ull << 40);
      }
      [[fallthrough]];
    case OpKind::kProtect:
      op.flags |= random_flags(kAllPageFlags);
      [[fallthrough]];
    case OpKind::kUnmap:
      op.addr = rng.next();
      op.size = rng.next();
      op.mm = static_cast<std::uint32_t>(rng.below(65536));
      break;
    case OpKind::kCompute:
      op.value = rng.next();
      break;
    case OpKind::kFlushTlbKernelRange:
      op.addr = rng.next();
      op.value = rng.chance(1, 4) ? kTlbFlushAll : rng.next();
      break;
    case OpKind::kIdle:
      op.value = rng.chance(1, 4) ? 0 : rng.between(1, ~std::uint64_t{0});
      break;
    case OpKind::kFlushTlbAll:
    case OpKind::kIrqOff:
    case OpKind::kIrqOn:
      break;
    case OpKind::kSpinLock:
    case OpKind::kSpinUnlock:
    case OpKind::kMutexLock:
    case OpKind::kMutexUnlock: {
      static const char* const kNames[] = {"vmap_area_lock", "vmap_purge_lock", "_x9", "L"};
      op.set_name(kNames[rng.below(4)]);
      break;
    }
    case OpKind::kVmalloc:
    case OpKind::kVzalloc:
    case OpKind::kVmallocUser:
    case OpKind::kVmallocExec:
    case OpKind::kVmalloc32:
    case OpKind::kVmalloc32User:
    case OpKind::kAllocVmArea:
      random_handle(rng, op);
      op.size = rng.next();
      break;
    case OpKind::kVmallocNode:
    case OpKind::kVzallocNode:
      random_handle(rng, op);
      op.size = rng.next();
      op.node = random_node(rng);
      break;
    case OpKind::kVmallocNodeRange:
      op.flags = random_flags(f::kModules | f::kNoGuard);
      [[fallthrough]];
    case OpKind::kVmallocNodeAlign:
      random_handle(rng, op);
      op.size = rng.next();
      op.align = zero_or_positive(rng);
      op.node = random_node(rng);
      op.flags |= random_flags(f::kZero | f::kDma32 | f::kExec);
      break;
    case OpKind::kVfree:
    case OpKind::kVfreeAtomic:
    case OpKind::kVunmap:
    case OpKind::kFindVmArea:
    case OpKind::kRemoveVmArea:
      random_address(rng, op);
      break;
    case OpKind::kVmap:
      random_handle(rng, op);
      op.value = rng.below(1ull << 32);
      op.flags = random_flags(f::kIoremap | f::kVmAlloc | f::kVmMap | f::kUsermap | f::kNoGuard);
      break;
    case OpKind::kVmMapRam:
      random_handle(rng, op);
      op.value = rng.below(1ull << 32);
      op.node = random_node(rng);
      break;
    case OpKind::kVmUnmapRam:
      random_address(rng, op);
      if (rng.chance(1, 2)) {
        op.flags |= f::kHasCount;
        op.value = rng.below(1ull << 32);
      }
      break;
    case OpKind::kVmUnmapAliases:
    case OpKind::kVmallocinfo:
    case OpKind::kIrqEnter:
    case OpKind::kIrqExit:
      break;
    case OpKind::kSetMemoryRo:
    case OpKind::kSetMemoryRw:
    case OpKind::kSetMemoryX:
    case OpKind::kSetMemoryNx:
      random_address(rng, op);
      op.value = rng.below(std::uint64_t{1} << 32);
      break;
    case OpKind::kSpanBegin:
    case OpKind::kSpanEnd:
      op.set_name(random_name(rng));
      break;
    case OpKind::kGetVmArea:
      random_handle(rng, op);
      op.size = rng.next();
      op.flags = random_flags(f::kIoremap | f::kVmAlloc | f::kVmMap | f::kUsermap | f::kNoGuard);
      break;
    case OpKind::kFreeVmArea:
    case OpKind::kPcpuFreeVmAreas:
      random_handle(rng, op);
      break;
    case OpKind::kMapKernelRangeNoflush:
      op.flags = random_flags(f::kExec);
      [[fallthrough]];
    case OpKind::kUnmapKernelRangeNoflush:
    case OpKind::kUnmapKernelRange:
    case OpKind::kVmAreaAddEarly:
      random_address(rng, op);
      op.size = rng.next();
      break;
    case OpKind::kVread:
      random_address(rng, op);
      op.size = rng.below((std::uint64_t{256} << 20) + 1);
      break;
    case OpKind::kVwrite:
      random_address(rng, op);
      op.size = rng.below((std::uint64_t{256} << 20) + 1);
      op.extra = rng.below(256);
      break;
    case OpKind::kRemapVmallocRange:
      random_address(rng, op);
      op.mm = static_cast<std::uint32_t>(rng.below(65536));
      op.value = rng.next();
      op.extra = rng.chance(1, 2) ? 0 : rng.next();
      op.size = zero_or_positive(rng);
      break;
    case OpKind::kRemapVmallocRangePartial:
      random_address(rng, op);
      op.size = rng.next();
      op.mm = static_cast<std::uint32_t>(rng.below(65536));
      op.value = rng.next();
      op.extra = zero_or_positive(rng);
      break;
    case OpKind::kPcpuGetVmAreas:
      random_handle(rng, op);
      op.value = rng.below(1025);
      op.size = rng.next();
      op.extra = zero_or_positive(rng);
      op.align = zero_or_positive(rng);
      break;
    case OpKind::kVmAreaRegisterEarly:
      random_handle(rng, op);
      op.size = rng.next();
      op.align = zero_or_positive(rng);
      break;
  }
  return op;
}

TEST(OpRoundTrip, RandomOpsParseBackToThemselves) {
  mmu::Rng rng(20240611, "tests.workloads.op_round_trip");
  int kinds_seen[kNumOpKinds] = {};
  for (int i = 0; i < 20000; ++i) {
    const Op op = random_op(rng);
    ++kinds_seen[static_cast<int>(op.kind)];
    const std::string text = format_op(op);
    ASSERT_EQ(parse_op(text), op) << text;
    ASSERT_EQ(format_op(parse_op(text)), text);
  }
  for (int k = 0; k < kNumOpKinds; ++k)
    EXPECT_GT(kinds_seen[k], 0) << op_name(OpKind(k));
}

}  // namespace
}  // namespace mmusim::workloads
