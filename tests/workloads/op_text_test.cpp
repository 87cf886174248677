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

Op access(OpKind kind, std::uint64_t addr, std::uint16_t flags = 0) {
  Op op = make(kind);
  op.addr = addr;
  op.flags = flags;
  return op;
}

Op touch(std::uint64_t addr, std::uint64_t bytes, std::uint64_t stride, std::uint16_t flags = 0) {
  Op op = make(OpKind::kTouch);
  op.addr = addr;
  op.size = bytes;
  op.value = stride;
  op.flags = flags;
  return op;
}

Op range(OpKind kind, std::uint64_t addr, std::uint64_t bytes, std::uint32_t mm = 0,
         std::uint16_t flags = 0) {
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

constexpr std::uint16_t kAllPageFlags =
    f::kReadOnly | f::kUser | f::kNoExecute | f::kGlobal | f::kWriteThrough | f::kCacheDisable;

// ---------------------------------------------------------------------------------------------
// Op names.

TEST(OpNames, EveryKindHasItsTraceName) {
  // clang-format off
  const std::vector<std::string> expected = {
      "load", "store", "fetch", "touch", "invlpg", "mov_cr3", "invpcid", "toggle_pge",
      "map", "unmap", "protect", "compute",
      "flush_tlb_kernel_range", "flush_tlb_all", "idle", "irq_off", "irq_on",
      "spin_lock", "spin_unlock", "mutex_lock", "mutex_unlock"};
  // clang-format on
  ASSERT_EQ(kNumOpKinds, 21);
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
  const std::pair<const char*, std::uint16_t> words[] = {
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
  EXPECT_EQ(message("lod 0x1000"),
            "unknown op 'lod' (known: load, store, fetch, touch, invlpg, mov_cr3, invpcid, "
            "toggle_pge, map, unmap, protect, compute, "
            "flush_tlb_kernel_range, flush_tlb_all, idle, irq_off, irq_on, spin_lock, "
            "spin_unlock, mutex_lock, mutex_unlock)");
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

// A valid op of a random kind with random values in every field that kind carries.
Op random_op(mmu::Rng& rng) {
  Op op = make(static_cast<OpKind>(rng.below(kNumOpKinds)));
  auto random_flags = [&rng](std::uint16_t allowed) {
    std::uint16_t flags = 0;
    for (std::uint16_t bit = 1; bit != 0 && bit <= allowed; bit <<= 1) {
      if ((allowed & bit) && rng.chance(1, 2)) flags |= bit;
    }
    return flags;
  };
  switch (op.kind) {
    case OpKind::kLoad:
    case OpKind::kStore:
    case OpKind::kFetch:
      op.addr = rng.next();
      op.flags = random_flags(f::kUser);
      break;
    case OpKind::kTouch:
      op.addr = rng.next();
      op.size = rng.below(1ull << 40);
      op.value = rng.chance(1, 2) ? 4096 : rng.between(1, 1ull << 30);
      op.flags = random_flags(f::kStore | f::kUser);
      break;
    case OpKind::kInvlpg:
      op.addr = rng.next();
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
  }
  return op;
}

TEST(OpRoundTrip, RandomOpsParseBackToThemselves) {
  mmu::Rng rng(20240611, "tests.workloads.op_round_trip");
  int kinds_seen[kNumOpKinds] = {};
  for (int i = 0; i < 5000; ++i) {
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
