// Whole traces: what TraceWriter writes, TraceReader reads back (boot lines, CPUs, line
// numbers); the reader hands each CPU its ops in program order whatever order the CPUs ask in,
// holding only the ops read ahead for other CPUs.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mmu/random.h"
#include "tests/workloads/op_printer.h"
#include "workloads/config.h"
#include "workloads/op.h"
#include "workloads/trace.h"
#include "workloads/workload.h"

namespace mmusim::workloads {
namespace {

namespace f = op_flags;

struct Line {
  Op op;
  std::uint64_t line;
  friend bool operator==(const Line& a, const Line& b) { return a.op == b.op && a.line == b.line; }
};

void PrintTo(const Line& l, std::ostream* out) {
  *out << "line " << l.line << ": ";
  PrintTo(l.op, out);
}

Op load(std::uint64_t addr) {
  Op op;
  op.kind = OpKind::kLoad;
  op.addr = addr;
  return op;
}

Op compute(std::uint64_t cycles) {
  Op op;
  op.kind = OpKind::kCompute;
  op.value = cycles;
  return op;
}

// Every op of `cpu` left in `reader`.
std::vector<Line> drain(TraceReader& reader, int cpu) {
  std::vector<Line> lines;
  Line l;
  while (reader.next_for(cpu, l.op, l.line))
    lines.push_back(l);
  return lines;
}

// A scratch folder of this test, removed at the end.
class TempFolder {
 public:
  TempFolder() {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::path(testing::TempDir()) /
            (std::string("mmusim_workloads_") + info->test_suite_name() + "_" + info->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempFolder() { std::filesystem::remove_all(path_); }
  [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }
  [[nodiscard]] std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// ---------------------------------------------------------------------------------------------
// Writer and reader together.

// The ops of the round-trip trace: (cpu, op) in file order, CPUs interleaved unevenly.
std::vector<std::pair<int, Op>> round_trip_ops() {
  std::vector<std::pair<int, Op>> ops;
  Op cr3;
  cr3.kind = OpKind::kMovCr3;
  cr3.mm = 4;
  cr3.pcid = 4;
  ops.push_back({1, cr3});
  Op user_store = load(0x7f0000001000);
  user_store.kind = OpKind::kStore;
  user_store.flags = f::kUser;
  ops.push_back({1, user_store});
  ops.push_back({0, load(0xffffc90000000000)});
  Op touch;
  touch.kind = OpKind::kTouch;
  touch.addr = 0xffffc90000000000;
  touch.size = 64 << 10;
  touch.value = 64;
  touch.flags = f::kStore;
  ops.push_back({2, touch});
  ops.push_back({0, compute(100)});
  Op unmap;
  unmap.kind = OpKind::kUnmap;
  unmap.addr = 0xffffc90000000000;
  unmap.size = 4096;
  ops.push_back({0, unmap});
  Op invlpg;
  invlpg.kind = OpKind::kInvlpg;
  invlpg.addr = 0xffffc90000000000;
  ops.push_back({0, invlpg});
  Op invpcid;
  invpcid.kind = OpKind::kInvpcid;
  invpcid.value = 1;
  invpcid.pcid = 4;
  ops.push_back({2, invpcid});
  Op pge;
  pge.kind = OpKind::kTogglePge;
  ops.push_back({1, pge});
  ops.push_back({1, compute(7)});
  return ops;
}

std::vector<Op> round_trip_boot() {
  Op kernel;
  kernel.kind = OpKind::kMap;
  kernel.addr = 0xffffc90000000000;
  kernel.size = 1 << 20;
  kernel.flags = f::kGlobal | f::kNoExecute;
  Op huge = kernel;
  huge.addr = 0xffffd00000000000;
  huge.size = 4 << 20;
  huge.page = mmu::PageSize::k2M;
  Op user;
  user.kind = OpKind::kMap;
  user.addr = 0x7f0000000000;
  user.size = 16 << 10;
  user.mm = 4;
  user.flags = f::kUser | f::kHasFrame;
  user.value = 0x4000;
  Op protect;
  protect.kind = OpKind::kProtect;
  protect.addr = 0x7f0000000000;
  protect.size = 4096;
  protect.mm = 4;
  protect.flags = f::kUser | f::kReadOnly;
  return {kernel, huge, user, protect};
}

constexpr const char* kRoundTripText =
    "mmusim-trace 1\n"
    "# recorded by a test\n"
    "# second line\n"
    "cpus 3\n"
    "boot map 0xffffc90000000000 1048576 nx global\n"
    "boot map 0xffffd00000000000 4194304 page=2m nx global\n"
    "boot map 0x7f0000000000 16384 mm=4 frame=0x4000 user\n"
    "boot protect 0x7f0000000000 4096 mm=4 ro user\n"
    "1 mov_cr3 mm=4 pcid=4\n"
    "1 store 0x7f0000001000 user\n"
    "0 load 0xffffc90000000000\n"
    "2 touch 0xffffc90000000000 65536 stride=64 store\n"
    "0 compute 100\n"
    "0 unmap 0xffffc90000000000 4096\n"
    "0 invlpg 0xffffc90000000000\n"
    "2 invpcid 1 pcid=4\n"
    "1 toggle_pge\n"
    "1 compute 7\n";

std::string write_round_trip_trace() {
  std::ostringstream out;
  TraceWriter writer(out, 3, "recorded by a test\nsecond line");
  for (const Op& op : round_trip_boot())
    writer.write_boot(op);
  for (const auto& [cpu, op] : round_trip_ops())
    writer.write(cpu, op);
  EXPECT_EQ(writer.ops_written(), 10u);
  return out.str();
}

TEST(TraceWriter, WritesTheCanonicalText) {
  EXPECT_EQ(write_round_trip_trace(), kRoundTripText);
}

TEST(TraceWriter, WithoutCommentWritesMagicThenCpus) {
  std::ostringstream out;
  TraceWriter writer(out, 1);
  writer.write(0, compute(5));
  EXPECT_EQ(out.str(), "mmusim-trace 1\ncpus 1\n0 compute 5\n");
  EXPECT_EQ(writer.ops_written(), 1u);
}

TEST(TraceWriter, BootAfterTheFirstOpIsAProgrammingError) {
  std::ostringstream out;
  TraceWriter writer(out, 2);
  writer.write_boot(round_trip_boot()[0]);
  writer.write(1, compute(5));
  EXPECT_THROW(writer.write_boot(round_trip_boot()[0]), std::logic_error);
}

TEST(TraceWriter, CpuOutsideTheDeclaredCountIsAProgrammingError) {
  std::ostringstream out;
  TraceWriter writer(out, 2);
  EXPECT_THROW(writer.write(2, compute(5)), std::logic_error);
  EXPECT_THROW(writer.write(-1, compute(5)), std::logic_error);
  EXPECT_EQ(writer.ops_written(), 0u);
}

TEST(TraceRoundTrip, ReaderGivesBackBootAndEveryCpusOpsWithTheirLines) {
  std::istringstream in(write_round_trip_trace());
  TraceReader reader(in, "rt.trace");
  EXPECT_EQ(reader.name(), "rt.trace");
  EXPECT_EQ(reader.declared_cpus(), 3);
  EXPECT_EQ(reader.boot_ops(), round_trip_boot());

  // The first op line is line 9 (magic, two comments, cpus, four boot lines before it).
  std::vector<std::vector<Line>> expected(3);
  std::uint64_t line = 9;
  for (const auto& [cpu, op] : round_trip_ops())
    expected[cpu].push_back(Line{op, line++});

  EXPECT_EQ(drain(reader, 2), expected[2]);
  EXPECT_EQ(drain(reader, 0), expected[0]);
  EXPECT_EQ(drain(reader, 1), expected[1]);
  EXPECT_EQ(expected[0].size(), 4u);
  EXPECT_EQ(expected[1].size(), 4u);
  EXPECT_EQ(expected[2].size(), 2u);
}

TEST(TraceRoundTrip, FromAFileThroughTraceOpSources) {
  TempFolder folder;
  const std::string path = folder.file("rt.trace");
  write_file(path, write_round_trip_trace());

  auto reader = std::make_shared<TraceReader>(path);
  EXPECT_EQ(reader->name(), path);
  EXPECT_EQ(reader->boot_ops().size(), 4u);
  TraceOpSource cpu0(reader, 0);
  TraceOpSource cpu1(reader, 1);
  Op op;
  EXPECT_EQ(cpu1.where(), path + ":0");  // nothing returned yet
  ASSERT_TRUE(cpu1.next(op));
  EXPECT_EQ(format_op(op), "mov_cr3 mm=4 pcid=4");
  EXPECT_EQ(cpu1.where(), path + ":9");
  ASSERT_TRUE(cpu0.next(op));
  EXPECT_EQ(format_op(op), "load 0xffffc90000000000");
  EXPECT_EQ(cpu0.where(), path + ":11");
  ASSERT_TRUE(cpu1.next(op));
  EXPECT_EQ(format_op(op), "store 0x7f0000001000 user");
  EXPECT_EQ(cpu1.where(), path + ":10");
  ASSERT_TRUE(cpu1.next(op));
  EXPECT_EQ(format_op(op), "toggle_pge");
  EXPECT_EQ(cpu1.where(), path + ":17");
}

TEST(TraceRoundTrip, RandomMultiCpuTraceReadsBackPerCpuInOrder) {
  constexpr int kCpus = 7;
  mmu::Rng rng(42, "tests.workloads.trace_round_trip");
  std::ostringstream out;
  TraceWriter writer(out, kCpus);
  std::vector<std::vector<Line>> expected(kCpus);
  const std::uint64_t first_line = 3;  // after "mmusim-trace 1" and "cpus 7"
  for (std::uint64_t i = 0; i < 3000; ++i) {
    const int cpu = static_cast<int>(rng.below(kCpus));
    Op op = (i % 3 == 0) ? compute(rng.below(1000)) : load(rng.next() & ~std::uint64_t{7});
    if (i % 5 == 0) op.flags = f::kUser;
    if (op.kind == OpKind::kCompute) op.flags = 0;
    writer.write(cpu, op);
    expected[cpu].push_back(Line{op, first_line + i});
  }
  std::istringstream in(out.str());
  TraceReader reader(in, "random.trace");
  for (int cpu = kCpus - 1; cpu >= 0; --cpu)
    EXPECT_EQ(drain(reader, cpu), expected[cpu]);
}

// Guest ops, handles and irq blocks through the writer and the reader.
TEST(TraceRoundTrip, GuestOpsHandlesAndIrqBlocks) {
  const std::string text =
      "mmusim-trace 1\n"
      "cpus 2\n"
      "boot vm_area_add_early 0xffffc90000000000 65536\n"
      "boot vm_area_register_early $pcpu 32768 align=8192\n"
      "0 vmalloc $buf 16384\n"
      "1 vm_map_ram $ram 4 node=0\n"
      "0 store $buf+0x40\n"
      "0 touch $buf 16384 store\n"
      "1 irq {\n"
      "1 vfree $buf\n"
      "1 }\n"
      "1 vm_unmap_ram $ram\n"
      "0 __vmalloc_node_range $mod 8192 align=4096 modules exec\n"
      "0 remap_vmalloc_range $mod mm=1 uaddr=0x7f0000000000 pgoff=1\n"
      "0 vm_unmap_aliases\n"
      "0 vmallocinfo\n";
  std::istringstream in(text);
  TraceReader reader(in, "guest.trace");
  ASSERT_EQ(reader.boot_ops().size(), 2u);
  EXPECT_EQ(reader.boot_ops()[0].kind, OpKind::kVmAreaAddEarly);
  EXPECT_EQ(reader.boot_ops()[1].kind, OpKind::kVmAreaRegisterEarly);
  EXPECT_EQ(reader.boot_ops()[1].name_view(), "pcpu");
  const std::vector<Line> cpu1 = drain(reader, 1);
  const std::vector<Line> cpu0 = drain(reader, 0);
  ASSERT_EQ(cpu0.size(), 7u);
  ASSERT_EQ(cpu1.size(), 5u);
  EXPECT_EQ(cpu1[1].op.kind, OpKind::kIrqEnter);
  EXPECT_EQ(cpu1[1].line, 9u);
  EXPECT_EQ(cpu1[3].op.kind, OpKind::kIrqExit);
  EXPECT_EQ(cpu0[1].op.name_view(), "buf");
  EXPECT_EQ(cpu0[1].op.addr, 0x40u);
  EXPECT_TRUE(cpu0[1].op.has(f::kHandleAddr));

  // Written back in file order, the ops give the same bytes.
  std::ostringstream out;
  TraceWriter writer(out, 2);
  for (const Op& op : reader.boot_ops())
    writer.write_boot(op);
  std::vector<std::pair<std::uint64_t, std::pair<int, Op>>> by_line;
  for (const Line& l : cpu0)
    by_line.push_back({l.line, {0, l.op}});
  for (const Line& l : cpu1)
    by_line.push_back({l.line, {1, l.op}});
  std::sort(by_line.begin(), by_line.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [line, cpu_op] : by_line)
    writer.write(cpu_op.first, cpu_op.second);
  EXPECT_EQ(out.str(), text);
}

// ---------------------------------------------------------------------------------------------
// Demultiplexing.

// CPUs 0..3 in turn, `rounds` times: CPU c's k-th op is "load (k * 16 + c) * 8", on line
// 3 + k * 4 + c.
std::string round_robin_trace(int rounds) {
  std::ostringstream out;
  TraceWriter writer(out, 4);
  for (int k = 0; k < rounds; ++k) {
    for (int c = 0; c < 4; ++c)
      writer.write(c, load((k * 16 + c) * 8));
  }
  return out.str();
}

Line round_robin_line(int cpu, int k) {
  return Line{load((k * 16 + cpu) * 8), static_cast<std::uint64_t>(3 + k * 4 + cpu)};
}

TEST(TraceDemux, AnyRequestOrderGivesEachCpuItsOpsInProgramOrder) {
  constexpr int kRounds = 50;
  mmu::Rng rng(7, "tests.workloads.demux");
  for (int trial = 0; trial < 20; ++trial) {
    std::istringstream in(round_robin_trace(kRounds));
    TraceReader reader(in, "rr.trace");
    int next_k[4] = {};
    std::vector<int> active = {0, 1, 2, 3};
    while (!active.empty()) {
      const std::size_t pick = rng.below(active.size());
      const int cpu = active[pick];
      Line l;
      if (!reader.next_for(cpu, l.op, l.line)) {
        ASSERT_EQ(next_k[cpu], kRounds) << "CPU " << cpu << " ended early";
        active.erase(active.begin() + static_cast<std::ptrdiff_t>(pick));
        continue;
      }
      ASSERT_LT(next_k[cpu], kRounds);
      ASSERT_EQ(l, round_robin_line(cpu, next_k[cpu])) << "trial " << trial << " CPU " << cpu;
      ++next_k[cpu];
    }
    EXPECT_EQ(reader.pending_ops(), 0u);
  }
}

TEST(TraceDemux, EndOfTraceIsSticky) {
  std::istringstream in(round_robin_trace(1));
  TraceReader reader(in, "rr.trace");
  EXPECT_EQ(drain(reader, 3), std::vector<Line>{round_robin_line(3, 0)});
  Line l;
  EXPECT_FALSE(reader.next_for(3, l.op, l.line));
  EXPECT_EQ(drain(reader, 0), std::vector<Line>{round_robin_line(0, 0)});
  EXPECT_FALSE(reader.next_for(0, l.op, l.line));
  // A CPU with no ops at all, even above the last one that has some.
  EXPECT_FALSE(reader.next_for(5, l.op, l.line));
}

TEST(TraceDemux, CpusAskingInFileOrderHoldNothingBack) {
  std::istringstream in(round_robin_trace(1000));
  TraceReader reader(in, "rr.trace");
  Line l;
  for (int k = 0; k < 1000; ++k) {
    for (int c = 0; c < 4; ++c) {
      ASSERT_TRUE(reader.next_for(c, l.op, l.line));
      ASSERT_EQ(l, round_robin_line(c, k));
    }
  }
  EXPECT_EQ(reader.peak_pending_ops(), 0u);
  EXPECT_EQ(reader.pending_ops(), 0u);
}

TEST(TraceDemux, CloselyInterleavedCpusHoldOnlyARoundBack) {
  std::istringstream in(round_robin_trace(1000));
  TraceReader reader(in, "rr.trace");
  Line l;
  for (int k = 0; k < 1000; ++k) {
    // The last CPU of each round asks first: the three before it wait in their queues.
    for (int c = 3; c >= 0; --c) {
      ASSERT_TRUE(reader.next_for(c, l.op, l.line));
      ASSERT_EQ(l, round_robin_line(c, k));
      ASSERT_EQ(reader.pending_ops(), static_cast<std::size_t>(c));
    }
  }
  EXPECT_EQ(reader.peak_pending_ops(), 3u);
  EXPECT_FALSE(reader.next_for(0, l.op, l.line));
}

TEST(TraceDemux, OneCpuRunningAheadQueuesTheOthersOps) {
  std::istringstream in(round_robin_trace(1000));
  TraceReader reader(in, "rr.trace");
  ASSERT_EQ(drain(reader, 0).size(), 1000u);
  EXPECT_EQ(reader.pending_ops(), 3000u);
  EXPECT_EQ(reader.peak_pending_ops(), 3000u);
  ASSERT_EQ(drain(reader, 2).size(), 1000u);
  EXPECT_EQ(reader.pending_ops(), 2000u);
  EXPECT_EQ(reader.peak_pending_ops(), 3000u);
}

TEST(TraceDemux, FromAFileACpuWithoutOpsReadsNothingAhead) {
  // CPU 1 has no op at all: from a file, the first pass knows it and nothing is queued for it,
  // however long the trace (from a stream, it would have to read and hold all of CPU 0's).
  TempFolder folder;
  std::string text = "mmusim-trace 1\ncpus 2\n";
  for (int k = 0; k < 3000; ++k)
    text += "0 compute " + std::to_string(k) + "\n";
  write_file(folder.file("idle.trace"), text);
  TraceReader reader(folder.file("idle.trace"));
  Line l;
  ASSERT_TRUE(reader.next_for(0, l.op, l.line));
  EXPECT_EQ(l, (Line{compute(0), 3}));
  EXPECT_FALSE(reader.next_for(1, l.op, l.line));
  EXPECT_EQ(reader.peak_pending_ops(), 0u);
  EXPECT_EQ(drain(reader, 0).size(), 2999u);
  EXPECT_EQ(reader.peak_pending_ops(), 0u);
}

TEST(TraceDemux, FromAFileACpuPastItsLastOpStopsAtOnce) {
  // Rounds of four CPUs, then CPU 0 alone: CPUs 1-3 are done after the rounds and read no
  // further; CPU 0's 2000 ops after them are never queued.
  TempFolder folder;
  std::string text = round_robin_trace(10);
  for (int k = 0; k < 2000; ++k)
    text += "0 compute 7\n";
  write_file(folder.file("tail.trace"), text);
  TraceReader reader(folder.file("tail.trace"));
  for (int c = 1; c < 4; ++c)
    EXPECT_EQ(drain(reader, c).size(), 10u) << c;
  // CPU 1 read ahead up to its last op (line 40): CPU 0's 10 ops and 9 each of CPUs 2 and 3,
  // the most ever queued; no CPU read beyond the rounds.
  EXPECT_EQ(reader.peak_pending_ops(), 28u);
  EXPECT_EQ(drain(reader, 0).size(), 2010u);
  EXPECT_EQ(reader.pending_ops(), 0u);
}

TEST(TraceDemux, FromAFileEndOfTraceChecksStillRun) {
  TempFolder folder;
  // An irq block left open by CPU 1 is reported though both CPUs stop at their last ops.
  write_file(folder.file("irq.trace"),
             "mmusim-trace 1\ncpus 2\n1 irq {\n0 compute 1\n1 compute 2\n# end\n\n");
  TraceReader open_irq(folder.file("irq.trace"));
  Line l;
  ASSERT_TRUE(open_irq.next_for(1, l.op, l.line));
  ASSERT_TRUE(open_irq.next_for(1, l.op, l.line));
  ASSERT_TRUE(open_irq.next_for(0, l.op, l.line));
  try {
    open_irq.next_for(0, l.op, l.line);
    FAIL() << "the open irq block was not reported";
  } catch (const TraceError& e) {
    EXPECT_STREQ(e.what(),
                 (folder.file("irq.trace") + ":3: 'irq {' is never closed with '}'").c_str());
  }
  // A line naming a CPU the trace does not have is still met, by the CPU that reads on.
  write_file(folder.file("cpu.trace"),
             "mmusim-trace 1\ncpus 2\n0 compute 1\n1 compute 1\n2 compute 1\n");
  TraceReader bad_cpu(folder.file("cpu.trace"));
  ASSERT_TRUE(bad_cpu.next_for(0, l.op, l.line));
  try {
    bad_cpu.next_for(0, l.op, l.line);
    FAIL() << "CPU 2 was not reported";
  } catch (const TraceError& e) {
    EXPECT_STREQ(e.what(), (folder.file("cpu.trace") +
                            ":5: CPU 2 is not in the trace: its header says 'cpus 2'")
                               .c_str());
  }
}

TEST(TraceDemux, CountOpsCountsQueuedAndUnreadOps) {
  std::istringstream in(round_robin_trace(10));
  TraceReader reader(in, "rr.trace");
  Line l;
  ASSERT_TRUE(reader.next_for(2, l.op, l.line));  // queues CPU 0's and CPU 1's first op
  ASSERT_TRUE(reader.next_for(2, l.op, l.line));
  EXPECT_EQ(reader.pending_ops(), 5u);  // 0, 1 of round 0; 3, 0, 1 of round 1
  EXPECT_EQ(reader.count_ops(), (std::vector<std::uint64_t>{10, 10, 8, 10}));
  EXPECT_EQ(reader.pending_ops(), 0u);
  EXPECT_FALSE(reader.next_for(0, l.op, l.line));
}

TEST(TraceDemux, CpuWithoutOpsIsCountedAsZero) {
  std::istringstream in("mmusim-trace 1\ncpus 4\n2 compute 1\n0 compute 1\n2 compute 2\n");
  TraceReader reader(in, "t.trace");
  EXPECT_EQ(reader.count_ops(), (std::vector<std::uint64_t>{1, 0, 2}));
}

// ---------------------------------------------------------------------------------------------
// The text a reader accepts beyond what the writer emits.

TEST(TraceReaderText, CommentsBlankLinesAndCrlfKeepLineNumbers) {
  const std::string text =
      "# a recorded trace\r\n"
      "\r\n"
      "   mmusim-trace   1   # magic\r\n"
      "\t# more comments\r\n"
      "cpus 2\r\n"
      "\r\n"
      "boot map 0x1000 4K   # kernel page\r\n"
      "0 load 0x1000 # first access\r\n"
      "#\r\n"
      "  1\tstore   0x1008\t user\r\n"
      "0 compute 5";  // no newline at the end
  std::istringstream in(text);
  TraceReader reader(in, "c.trace");
  EXPECT_EQ(reader.declared_cpus(), 2);
  ASSERT_EQ(reader.boot_ops().size(), 1u);
  EXPECT_EQ(format_op(reader.boot_ops()[0]), "map 0x1000 4096");
  Op store = load(0x1008);
  store.kind = OpKind::kStore;
  store.flags = f::kUser;
  EXPECT_EQ(drain(reader, 1), std::vector<Line>{(Line{store, 10})});
  EXPECT_EQ(drain(reader, 0), (std::vector<Line>{{load(0x1000), 8}, {compute(5), 11}}));
}

TEST(TraceReaderText, HeaderWithoutCpusOrBootOrOps) {
  std::istringstream in("mmusim-trace 1\n");
  TraceReader reader(in, "h.trace");
  EXPECT_EQ(reader.declared_cpus(), 0);
  EXPECT_TRUE(reader.boot_ops().empty());
  Line l;
  EXPECT_FALSE(reader.next_for(0, l.op, l.line));
}

TEST(TraceReaderText, WithoutCpusAnyCpuBelowThePlatformsCountIsRead) {
  std::istringstream in("mmusim-trace 1\n4095 compute 1\n");
  TraceReader reader(in, "h.trace");
  EXPECT_EQ(drain(reader, 4095), std::vector<Line>{(Line{compute(1), 2})});
}

TEST(TraceReaderText, CpuNumberMayBeHex) {
  std::istringstream in("mmusim-trace 1\n0x1 compute 1\n");
  TraceReader reader(in, "h.trace");
  EXPECT_EQ(drain(reader, 1), std::vector<Line>{(Line{compute(1), 2})});
}

// ---------------------------------------------------------------------------------------------
// make_workload with a trace.

TEST(TraceWorkload, ReplaysTheFileWithItsBootOps) {
  TempFolder folder;
  WorkloadConfig config;
  config.kind = WorkloadKind::kTrace;
  config.trace.path = folder.file("w.trace");
  write_file(config.trace.path, write_round_trip_trace());
  auto workload = make_workload(config, 4, 1);
  EXPECT_EQ(workload->boot_ops(), round_trip_boot());
  auto cpu2 = workload->source(2);
  auto cpu3 = workload->source(3);
  Op op;
  ASSERT_TRUE(cpu2->next(op));
  EXPECT_EQ(format_op(op), "touch 0xffffc90000000000 65536 stride=64 store");
  EXPECT_EQ(cpu2->where(), config.trace.path + ":12");
  EXPECT_FALSE(cpu3->next(op));  // declared 3 CPUs; the platform's fourth has nothing to do
}

TEST(TraceWorkload, TraceForMoreCpusThanThePlatformIsRejected) {
  TempFolder folder;
  WorkloadConfig config;
  config.kind = WorkloadKind::kTrace;
  config.trace.path = folder.file("w.trace");
  write_file(config.trace.path, write_round_trip_trace());
  try {
    make_workload(config, 2, 1);
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), config.trace.path +
                                         ": the trace is for 3 CPUs but the platform has 2 "
                                         "(set platform.cpus)");
  }
}

TEST(TraceWorkload, MissingFileIsATraceError) {
  TempFolder folder;
  WorkloadConfig config;
  config.kind = WorkloadKind::kTrace;
  config.trace.path = folder.file("missing.trace");
  try {
    make_workload(config, 2, 1);
    FAIL() << "no error";
  } catch (const TraceError& e) {
    EXPECT_EQ(std::string(e.what()), config.trace.path + ": cannot open the trace file");
  }
}

TEST(TraceWorkload, OpForACpuThePlatformLacksFailsAtItsLine) {
  TempFolder folder;
  WorkloadConfig config;
  config.kind = WorkloadKind::kTrace;
  config.trace.path = folder.file("w.trace");
  write_file(config.trace.path, "mmusim-trace 1\n0 compute 1\n1 compute 1\n2 compute 1\n");
  auto workload = make_workload(config, 2, 1);
  auto cpu0 = workload->source(0);
  Op op;
  ASSERT_TRUE(cpu0->next(op));
  try {
    cpu0->next(op);
    FAIL() << "no error";
  } catch (const TraceError& e) {
    EXPECT_EQ(std::string(e.what()),
              config.trace.path +
                  ":4: CPU 2 does not exist: the platform has 2 CPUs (set platform.cpus)");
  }
}

TEST(WorkloadCatalog, ListsEveryWorkloadKindByItsConfigName) {
  const auto& catalog = workload_catalog();
  ASSERT_EQ(catalog.size(), kWorkloadNames.size());
  for (std::size_t i = 0; i < catalog.size(); ++i) {
    EXPECT_STREQ(catalog[i].name, kWorkloadNames[i].first);
    EXPECT_GT(std::string(catalog[i].description).size(), 40u);
  }
}

}  // namespace
}  // namespace mmusim::workloads
