// Malformed traces: each is rejected with a TraceError whose what() is exactly
// "NAME:LINE: message", naming the line at fault.
#include <filesystem>
#include <sstream>
#include <streambuf>
#include <string>

#include <gtest/gtest.h>

#include "workloads/trace.h"

namespace mmusim::workloads {
namespace {

// Reads the whole trace `text` (named "t.trace"), every line checked; the TraceError's what(),
// or "no error". `platform_cpus` 0 leaves the reader's default CPU limit.
std::string error_of(const std::string& text, int platform_cpus = 0) {
  std::istringstream in(text);
  try {
    TraceReader reader(in, "t.trace");
    if (platform_cpus > 0) reader.set_cpu_count(platform_cpus);
    reader.count_ops();
  } catch (const TraceError& e) {
    return e.what();
  }
  return "no error";
}

// The same for one op line after a valid header: the error is on line 2.
std::string op_error(const std::string& line) {
  return error_of("mmusim-trace 1\n" + line + "\n");
}

TEST(TraceErrors, ValidTraceHasNoError) {
  EXPECT_EQ(error_of("mmusim-trace 1\ncpus 2\nboot map 0x0 4K\n0 load 0x0\n1 compute 3\n"),
            "no error");
}

// --- the magic line --------------------------------------------------------------------------

TEST(TraceErrors, EmptyFile) {
  EXPECT_EQ(error_of(""), "t.trace:1: empty file: not an mmusim trace (no 'mmusim-trace 1' line)");
}

TEST(TraceErrors, OnlyCommentsAndBlankLinesIsEmpty) {
  EXPECT_EQ(error_of("# nothing\n\n   \n# here\n"),
            "t.trace:4: empty file: not an mmusim trace (no 'mmusim-trace 1' line)");
}

TEST(TraceErrors, MissingMagic) {
  EXPECT_EQ(error_of("cpus 2\n0 load 0x1000\n"),
            "t.trace:1: not an mmusim trace: the first line must be 'mmusim-trace 1'");
  EXPECT_EQ(error_of("0 load 0x1000\n"),
            "t.trace:1: not an mmusim trace: the first line must be 'mmusim-trace 1'");
}

TEST(TraceErrors, WrongMagicAfterComments) {
  EXPECT_EQ(error_of("# header\n\nmmusim-traces 1\n"),
            "t.trace:3: not an mmusim trace: the first line must be 'mmusim-trace 1'");
  EXPECT_EQ(error_of("mmusim-trace\n"),
            "t.trace:1: not an mmusim trace: the first line must be 'mmusim-trace 1'");
  EXPECT_EQ(error_of("mmusim-trace 1 cpus=2\n"),
            "t.trace:1: not an mmusim trace: the first line must be 'mmusim-trace 1'");
}

TEST(TraceErrors, WrongVersion) {
  EXPECT_EQ(error_of("mmusim-trace 2\n"),
            "t.trace:1: unsupported trace version '2' (this mmusim reads version 1)");
  EXPECT_EQ(error_of("\nmmusim-trace 0\n"),
            "t.trace:2: unsupported trace version '0' (this mmusim reads version 1)");
  EXPECT_EQ(error_of("mmusim-trace one\n"),
            "t.trace:1: unsupported trace version 'one' (this mmusim reads version 1)");
}

// --- op lines ---------------------------------------------------------------------------------

TEST(TraceErrors, UnknownOpListsTheKnownOnes) {
  EXPECT_EQ(op_error("0 lod 0x1000"),
            "t.trace:2: unknown op 'lod' (known: load, store, fetch, touch, invlpg, mov_cr3, "
            "invpcid, toggle_pge, map, unmap, protect, compute, "
            "flush_tlb_kernel_range, flush_tlb_all, idle, irq_off, irq_on, spin_lock, "
            "spin_unlock, mutex_lock, mutex_unlock)");
  EXPECT_EQ(op_error("0 vmalloc 4096"),
            "t.trace:2: unknown op 'vmalloc' (known: load, store, fetch, touch, invlpg, "
            "mov_cr3, invpcid, toggle_pge, map, unmap, protect, compute, "
            "flush_tlb_kernel_range, flush_tlb_all, idle, irq_off, irq_on, spin_lock, "
            "spin_unlock, mutex_lock, mutex_unlock)");
}

TEST(TraceErrors, MissingOperand) {
  EXPECT_EQ(op_error("0 load"), "t.trace:2: load: missing operand (usage: load ADDR [user])");
  EXPECT_EQ(op_error("0 touch 0x1000"),
            "t.trace:2: touch: missing operand (usage: touch ADDR BYTES [stride=BYTES] [store] "
            "[user])");
  EXPECT_EQ(op_error("0 invlpg"), "t.trace:2: invlpg: missing operand (usage: invlpg ADDR)");
  EXPECT_EQ(op_error("0 invpcid pcid=3"),
            "t.trace:2: invpcid: INVPCID type 'pcid=3' is not a number");
  EXPECT_EQ(op_error("0 invpcid"),
            "t.trace:2: invpcid: missing operand (usage: invpcid TYPE [pcid=N] [addr=ADDR])");
  EXPECT_EQ(op_error("0 map 0x1000"),
            "t.trace:2: map: missing operand (usage: map ADDR BYTES [mm=N] [page=4k|2m|1g] "
            "[frame=PFN] [ro] [user] [nx] [global] [pwt] [pcd])");
  EXPECT_EQ(op_error("0 unmap 0x1000"),
            "t.trace:2: unmap: missing operand (usage: unmap ADDR BYTES [mm=N])");
  EXPECT_EQ(op_error("0 protect"),
            "t.trace:2: protect: missing operand (usage: protect ADDR BYTES [mm=N] [ro] [user] "
            "[nx] [global] [pwt] [pcd])");
  EXPECT_EQ(op_error("0 compute"), "t.trace:2: compute: missing operand (usage: compute CYCLES)");
}

TEST(TraceErrors, CpuWithoutOp) {
  EXPECT_EQ(op_error("3"), "t.trace:2: CPU 3 has no op");
}

TEST(TraceErrors, LineWithoutCpuNumber) {
  EXPECT_EQ(op_error("load 0x1000"),
            "t.trace:2: expected 'CPU OP ...' (a CPU number first), got 'load'");
  EXPECT_EQ(op_error("-1 load 0x1000"),
            "t.trace:2: expected 'CPU OP ...' (a CPU number first), got '-1'");
}

TEST(TraceErrors, BadNumber) {
  EXPECT_EQ(op_error("0 load 0x10g0"), "t.trace:2: load: address '0x10g0' is not a number");
  EXPECT_EQ(op_error("0 load 0x"), "t.trace:2: load: address '0x' is not a number");
  EXPECT_EQ(op_error("0 store -4096"), "t.trace:2: store: address '-4096' is not a number");
  EXPECT_EQ(op_error("0 fetch 1e6"), "t.trace:2: fetch: address '1e6' is not a number");
  EXPECT_EQ(op_error("0 compute 12abc"), "t.trace:2: compute: cycle count '12abc' is not a number");
  EXPECT_EQ(op_error("0 touch 0x1000 4k"), "t.trace:2: touch: byte count '4k' is not a number");
  EXPECT_EQ(op_error("0 touch 0x1000 KiB"), "t.trace:2: touch: byte count 'KiB' is not a number");
  EXPECT_EQ(op_error("0 touch 0x1000 4K stride=x"), "t.trace:2: touch: stride 'x' is not a number");
  EXPECT_EQ(op_error("0 map 0x1000 4K frame=12q"), "t.trace:2: map: frame '12q' is not a number");
  EXPECT_EQ(op_error("0 invpcid 0 addr=zz"), "t.trace:2: invpcid: addr 'zz' is not a number");
  EXPECT_EQ(op_error("0 mov_cr3 mm=two"), "t.trace:2: mov_cr3: mm 'two' is not a number");
}

TEST(TraceErrors, NumberTooLargeFor64Bits) {
  EXPECT_EQ(op_error("0 load 0x10000000000000000"),
            "t.trace:2: load: address '0x10000000000000000' does not fit in 64 bits");
  EXPECT_EQ(op_error("0 compute 18446744073709551616"),
            "t.trace:2: compute: cycle count '18446744073709551616' does not fit in 64 bits");
  EXPECT_EQ(op_error("0 unmap 0x0 17179869184G"),
            "t.trace:2: unmap: byte count '17179869184G' does not fit in 64 bits");
}

TEST(TraceErrors, NumberOutOfRange) {
  EXPECT_EQ(op_error("0 mov_cr3 pcid=4096"),
            "t.trace:2: mov_cr3: pcid 4096 is above the maximum 4095");
  EXPECT_EQ(op_error("0 invpcid 1 pcid=0x1000"),
            "t.trace:2: invpcid: pcid 0x1000 is above the maximum 4095");
  EXPECT_EQ(op_error("0 mov_cr3 mm=65536"),
            "t.trace:2: mov_cr3: mm 65536 is above the maximum 65535");
  EXPECT_EQ(op_error("0 map 0x0 4K mm=100000"),
            "t.trace:2: map: mm 100000 is above the maximum 65535");
  EXPECT_EQ(op_error("0 invpcid 256"),
            "t.trace:2: invpcid: INVPCID type 256 is above the maximum 255");
}

TEST(TraceErrors, OperandOrFlagTheOpDoesNotTake) {
  EXPECT_EQ(op_error("0 load 0x1000 store"), "t.trace:2: load: unexpected operand 'store'");
  EXPECT_EQ(op_error("0 store 0x1000 nx"), "t.trace:2: store: unexpected operand 'nx'");
  EXPECT_EQ(op_error("0 load 0x1000 mm=1"), "t.trace:2: load: unexpected operand 'mm=1'");
  EXPECT_EQ(op_error("0 invlpg 0x1000 user"), "t.trace:2: invlpg: unexpected operand 'user'");
  EXPECT_EQ(op_error("0 invlpg 0x1000 0x2000"), "t.trace:2: invlpg: unexpected operand '0x2000'");
  EXPECT_EQ(op_error("0 touch 0x0 4K nx"), "t.trace:2: touch: unexpected operand 'nx'");
  EXPECT_EQ(op_error("0 touch 0x0 4K page=2m"), "t.trace:2: touch: unexpected operand 'page=2m'");
  EXPECT_EQ(op_error("0 mov_cr3 addr=0x1000"),
            "t.trace:2: mov_cr3: unexpected operand 'addr=0x1000'");
  EXPECT_EQ(op_error("0 mov_cr3 flush"), "t.trace:2: mov_cr3: unexpected operand 'flush'");
  EXPECT_EQ(op_error("0 invpcid 0 mm=1"), "t.trace:2: invpcid: unexpected operand 'mm=1'");
  EXPECT_EQ(op_error("0 toggle_pge now"), "t.trace:2: toggle_pge: unexpected operand 'now'");
  EXPECT_EQ(op_error("0 map 0x0 4K noflush"), "t.trace:2: map: unexpected operand 'noflush'");
  EXPECT_EQ(op_error("0 map 0x0 4K stride=8"), "t.trace:2: map: unexpected operand 'stride=8'");
  EXPECT_EQ(op_error("0 unmap 0x0 4K ro"), "t.trace:2: unmap: unexpected operand 'ro'");
  EXPECT_EQ(op_error("0 protect 0x0 4K frame=5"),
            "t.trace:2: protect: unexpected operand 'frame=5'");
  EXPECT_EQ(op_error("0 protect 0x0 4K page=2m"),
            "t.trace:2: protect: unexpected operand 'page=2m'");
  EXPECT_EQ(op_error("0 compute 5 mm=1"), "t.trace:2: compute: unexpected operand 'mm=1'");
  EXPECT_EQ(op_error("0 load 0x1000 User"), "t.trace:2: load: unexpected operand 'User'");
}

TEST(TraceErrors, OperandGivenTwice) {
  EXPECT_EQ(op_error("0 mov_cr3 pcid=1 pcid=2"), "t.trace:2: mov_cr3: 'pcid=' given twice");
}

TEST(TraceErrors, BadPageSize) {
  EXPECT_EQ(op_error("0 map 0x0 4K page=3m"),
            "t.trace:2: map: 'page=3m' is not a page size (4k, 2m or 1g)");
  EXPECT_EQ(op_error("0 map 0x0 4K page=4096"),
            "t.trace:2: map: 'page=4096' is not a page size (4k, 2m or 1g)");
  EXPECT_EQ(op_error("0 map 0x0 4K page="),
            "t.trace:2: map: 'page=' is not a page size (4k, 2m or 1g)");
}

TEST(TraceErrors, ZeroStride) {
  EXPECT_EQ(op_error("0 touch 0x0 4K stride=0"), "t.trace:2: touch: stride must be at least 1");
}

// --- header directives -----------------------------------------------------------------------

TEST(TraceErrors, CpusAfterTheFirstOp) {
  EXPECT_EQ(error_of("mmusim-trace 1\n0 load 0x0\ncpus 2\n"),
            "t.trace:3: 'cpus' belongs in the header, before the first op");
}

TEST(TraceErrors, BootAfterTheFirstOp) {
  EXPECT_EQ(error_of("mmusim-trace 1\ncpus 1\n0 load 0x0\n# late\nboot map 0x0 4K\n"),
            "t.trace:5: 'boot' belongs in the header, before the first op");
}

TEST(TraceErrors, BadCpusDirective) {
  const std::string message = "'cpus' takes one number from 1 to 4096";
  EXPECT_EQ(error_of("mmusim-trace 1\ncpus 0\n"), "t.trace:2: " + message);
  EXPECT_EQ(error_of("mmusim-trace 1\ncpus 4097\n"), "t.trace:2: " + message);
  EXPECT_EQ(error_of("mmusim-trace 1\ncpus four\n"), "t.trace:2: " + message);
  EXPECT_EQ(error_of("mmusim-trace 1\ncpus\n"), "t.trace:2: " + message);
  EXPECT_EQ(error_of("mmusim-trace 1\ncpus 2 4\n"), "t.trace:2: " + message);
  EXPECT_EQ(error_of("mmusim-trace 1\ncpus 4096\n"), "no error");
}

TEST(TraceErrors, CpusTwice) {
  EXPECT_EQ(error_of("mmusim-trace 1\ncpus 2\nboot map 0x0 4K\ncpus 4\n"),
            "t.trace:4: 'cpus' given twice");
}

TEST(TraceErrors, CpuAtOrAboveThePlatformsCount) {
  const std::string text = "mmusim-trace 1\n0 load 0x0\n1 load 0x0\n\n2 load 0x0\n";
  EXPECT_EQ(error_of(text, 3), "no error");
  EXPECT_EQ(error_of(text, 2),
            "t.trace:5: CPU 2 does not exist: the platform has 2 CPUs (set platform.cpus)");
  EXPECT_EQ(error_of(text, 1),
            "t.trace:3: CPU 1 does not exist: the platform has 1 CPUs (set platform.cpus)");
  // Without a platform, the reader's own limit.
  EXPECT_EQ(error_of("mmusim-trace 1\n4096 load 0x0\n"),
            "t.trace:2: CPU 4096 does not exist: the platform has 4096 CPUs (set platform.cpus)");
}

TEST(TraceErrors, CpuAtOrAboveTheDeclaredCount) {
  EXPECT_EQ(error_of("mmusim-trace 1\ncpus 2\n0 load 0x0\n1 load 0x0\n2 load 0x0\n", 8),
            "t.trace:5: CPU 2 is not in the trace: its header says 'cpus 2'");
}

TEST(TraceErrors, BootWithANonEditOp) {
  EXPECT_EQ(error_of("mmusim-trace 1\nboot load 0x1000\n"),
            "t.trace:2: boot lines may only hold map, unmap or protect");
  EXPECT_EQ(error_of("mmusim-trace 1\nboot map 0x0 4K\nboot invlpg 0x1000\n"),
            "t.trace:3: boot lines may only hold map, unmap or protect");
  EXPECT_EQ(error_of("mmusim-trace 1\nboot compute 5\n"),
            "t.trace:2: boot lines may only hold map, unmap or protect");
}

TEST(TraceErrors, BootWithAMalformedOp) {
  EXPECT_EQ(error_of("mmusim-trace 1\nboot map 0x0\n"),
            "t.trace:2: boot: map: missing operand (usage: map ADDR BYTES [mm=N] "
            "[page=4k|2m|1g] [frame=PFN] [ro] [user] [nx] [global] [pwt] [pcd])");
  EXPECT_EQ(error_of("mmusim-trace 1\nboot\n"), "t.trace:2: boot: empty op");
  EXPECT_EQ(error_of("mmusim-trace 1\nboot 0 map 0x0 4K\n"),
            "t.trace:2: boot: unknown op '0' (known: load, store, fetch, touch, invlpg, mov_cr3, "
            "invpcid, toggle_pge, map, unmap, protect, compute, "
            "flush_tlb_kernel_range, flush_tlb_all, idle, irq_off, irq_on, spin_lock, "
            "spin_unlock, mutex_lock, mutex_unlock)");
}

// --- line numbers ----------------------------------------------------------------------------

TEST(TraceErrors, LineNumbersCountCommentsAndBlankLines) {
  const std::string text =
      "# recorded by hand\n"        // 1
      "\n"                          // 2
      "mmusim-trace 1\n"            // 3
      "# header\n"                  // 4
      "cpus 2\n"                    // 5
      "boot map 0x0 8K\n"           // 6
      "\n"                          // 7
      "0 load 0x0   # fine\n"       // 8
      "   \t  \n"                   // 9
      "1 load 0x1000\n"             // 10
      "# 1 lod 0x0 in a comment\n"  // 11
      "1 lod 0x0\n";                // 12
  EXPECT_EQ(error_of(text),
            "t.trace:12: unknown op 'lod' (known: load, store, fetch, touch, invlpg, mov_cr3, "
            "invpcid, toggle_pge, map, unmap, protect, compute, "
            "flush_tlb_kernel_range, flush_tlb_all, idle, irq_off, irq_on, spin_lock, "
            "spin_unlock, mutex_lock, mutex_unlock)");
}

TEST(TraceErrors, ErrorSurfacesWhenItsLineIsReachedWithItsOwnNumber) {
  std::istringstream in("mmusim-trace 1\n0 load 0x0\n1 compute 2\n0 load 0x8\n1 bogus\n");
  TraceReader reader(in, "lazy.trace");
  Op op;
  std::uint64_t line = 0;
  ASSERT_TRUE(reader.next_for(1, op, line));
  EXPECT_EQ(line, 3u);
  ASSERT_TRUE(reader.next_for(0, op, line));  // queued while looking for CPU 1
  EXPECT_EQ(line, 2u);
  ASSERT_TRUE(reader.next_for(0, op, line));
  EXPECT_EQ(line, 4u);
  try {
    reader.next_for(0, op, line);
    FAIL() << "no error";
  } catch (const TraceError& e) {
    EXPECT_STREQ(e.what(),
                 "lazy.trace:5: unknown op 'bogus' (known: load, store, fetch, touch, invlpg, "
                 "mov_cr3, invpcid, toggle_pge, map, unmap, protect, compute, "
                 "flush_tlb_kernel_range, flush_tlb_all, idle, irq_off, irq_on, spin_lock, "
                 "spin_unlock, mutex_lock, mutex_unlock)");
  }
}

// --- reading the file itself ------------------------------------------------------------------

TEST(TraceErrors, FileThatCannotBeOpened) {
  const std::string path = "/nonexistent-mmusim-folder/none.trace";
  try {
    TraceReader reader(path);
    FAIL() << "no error";
  } catch (const TraceError& e) {
    EXPECT_EQ(std::string(e.what()), path + ": cannot open the trace file");
  }
}

TEST(TraceErrors, FolderGivenAsTheTraceIsAReadError) {
  const std::filesystem::path folder =
      std::filesystem::path(testing::TempDir()) / "mmusim_workloads_trace_folder";
  std::filesystem::create_directories(folder);
  std::string message = "no error";
  try {
    TraceReader reader(folder.string());
  } catch (const TraceError& e) {
    message = e.what();
  }
  std::filesystem::remove_all(folder);
  EXPECT_EQ(message, folder.string() + ":1: cannot read the trace file");
}

// Serves `text`, then fails the way a disk does: the stream's badbit, not its end.
class FailingBuffer : public std::streambuf {
 public:
  explicit FailingBuffer(std::string text) : text_(std::move(text)) {
    setg(text_.data(), text_.data(), text_.data() + text_.size());
  }

 protected:
  int_type underflow() override { throw std::ios_base::failure("disk error"); }

 private:
  std::string text_;
};

TEST(TraceErrors, ReadErrorInTheMiddleIsNotTheEndOfTheTrace) {
  FailingBuffer buffer("mmusim-trace 1\n0 load 0x0\n0 load 0x8\n");
  std::istream in(&buffer);
  TraceReader reader(in, "disk.trace");
  Op op;
  std::uint64_t line = 0;
  ASSERT_TRUE(reader.next_for(0, op, line));
  ASSERT_TRUE(reader.next_for(0, op, line));
  EXPECT_EQ(line, 3u);
  try {
    reader.next_for(0, op, line);
    FAIL() << "no error";
  } catch (const TraceError& e) {
    EXPECT_STREQ(e.what(), "disk.trace:4: cannot read the trace file");
  }
}

}  // namespace
}  // namespace mmusim::workloads
