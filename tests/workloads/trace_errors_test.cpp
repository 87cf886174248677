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

// Every op name, as the "unknown op" message lists them.
const std::string kKnown =
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
  EXPECT_EQ(op_error("0 lod 0x1000"), "t.trace:2: unknown op 'lod' (known: " + kKnown + ")");
  EXPECT_EQ(op_error("0 kmalloc $b 4096"),
            "t.trace:2: unknown op 'kmalloc' (known: " + kKnown + ")");
  EXPECT_EQ(op_error("0 Vmalloc $b 4096"),
            "t.trace:2: unknown op 'Vmalloc' (known: " + kKnown + ")");
  EXPECT_EQ(op_error("0 irq{"), "t.trace:2: unknown op 'irq{' (known: " + kKnown + ")");
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

// --- guest ops ----------------------------------------------------------------------------------

TEST(TraceErrors, GuestOpMissingOperand) {
  EXPECT_EQ(op_error("0 vmalloc"),
            "t.trace:2: vmalloc: missing operand (usage: vmalloc $HANDLE SIZE)");
  EXPECT_EQ(op_error("0 vzalloc $b"),
            "t.trace:2: vzalloc: missing operand (usage: vzalloc $HANDLE SIZE)");
  EXPECT_EQ(op_error("0 vmalloc_node $b"),
            "t.trace:2: vmalloc_node: missing operand (usage: vmalloc_node $HANDLE SIZE "
            "[node=N])");
  EXPECT_EQ(op_error("0 __vmalloc_node $b"),
            "t.trace:2: __vmalloc_node: missing operand (usage: __vmalloc_node $HANDLE SIZE "
            "[align=BYTES] [node=N] [zero] [dma32] [exec])");
  EXPECT_EQ(op_error("0 __vmalloc_node_range"),
            "t.trace:2: __vmalloc_node_range: missing operand (usage: __vmalloc_node_range "
            "$HANDLE SIZE [align=BYTES] [node=N] [modules] [noguard] [zero] [dma32] [exec])");
  EXPECT_EQ(op_error("0 vfree"), "t.trace:2: vfree: missing operand (usage: vfree ADDR)");
  EXPECT_EQ(op_error("0 vmap $v"),
            "t.trace:2: vmap: missing operand (usage: vmap $HANDLE COUNT [map] [alloc] "
            "[ioremap] [usermap] [noguard])");
  EXPECT_EQ(op_error("0 vm_map_ram $r"),
            "t.trace:2: vm_map_ram: missing operand (usage: vm_map_ram $HANDLE COUNT [node=N])");
  EXPECT_EQ(op_error("0 vm_unmap_ram"),
            "t.trace:2: vm_unmap_ram: missing operand (usage: vm_unmap_ram ADDR [COUNT])");
  EXPECT_EQ(op_error("0 get_vm_area $g"),
            "t.trace:2: get_vm_area: missing operand (usage: get_vm_area $HANDLE SIZE [ioremap] "
            "[alloc] [map] [usermap] [noguard])");
  EXPECT_EQ(op_error("0 free_vm_area"),
            "t.trace:2: free_vm_area: missing operand (usage: free_vm_area $HANDLE)");
  EXPECT_EQ(op_error("0 alloc_vm_area $a"),
            "t.trace:2: alloc_vm_area: missing operand (usage: alloc_vm_area $HANDLE SIZE)");
  EXPECT_EQ(op_error("0 map_kernel_range_noflush $g"),
            "t.trace:2: map_kernel_range_noflush: missing operand (usage: "
            "map_kernel_range_noflush ADDR SIZE [exec])");
  EXPECT_EQ(op_error("0 unmap_kernel_range $g"),
            "t.trace:2: unmap_kernel_range: missing operand (usage: unmap_kernel_range ADDR "
            "SIZE)");
  EXPECT_EQ(op_error("0 vread $b"), "t.trace:2: vread: missing operand (usage: vread ADDR SIZE)");
  EXPECT_EQ(op_error("0 vwrite"),
            "t.trace:2: vwrite: missing operand (usage: vwrite ADDR SIZE [byte=N])");
  EXPECT_EQ(op_error("0 remap_vmalloc_range"),
            "t.trace:2: remap_vmalloc_range: missing operand (usage: remap_vmalloc_range ADDR "
            "mm=N uaddr=ADDR [pgoff=N] [vsize=BYTES])");
  EXPECT_EQ(op_error("0 remap_vmalloc_range_partial $u"),
            "t.trace:2: remap_vmalloc_range_partial: missing operand (usage: "
            "remap_vmalloc_range_partial ADDR SIZE mm=N uaddr=ADDR [vsize=BYTES])");
  EXPECT_EQ(op_error("0 pcpu_get_vm_areas $p 4"),
            "t.trace:2: pcpu_get_vm_areas: missing operand (usage: pcpu_get_vm_areas $HANDLE "
            "COUNT SIZE [stride=BYTES] [align=BYTES])");
  EXPECT_EQ(op_error("0 pcpu_free_vm_areas"),
            "t.trace:2: pcpu_free_vm_areas: missing operand (usage: pcpu_free_vm_areas "
            "$HANDLE)");
  EXPECT_EQ(op_error("0 vm_area_add_early 0x1000"),
            "t.trace:2: vm_area_add_early: missing operand (usage: vm_area_add_early ADDR SIZE)");
  EXPECT_EQ(op_error("0 vm_area_register_early $e"),
            "t.trace:2: vm_area_register_early: missing operand (usage: vm_area_register_early "
            "$HANDLE SIZE [align=BYTES])");
}

TEST(TraceErrors, RemapWithoutMmOrUaddr) {
  EXPECT_EQ(op_error("0 remap_vmalloc_range $u uaddr=0x1000"),
            "t.trace:2: remap_vmalloc_range: missing operand 'mm=' (usage: remap_vmalloc_range "
            "ADDR mm=N uaddr=ADDR [pgoff=N] [vsize=BYTES])");
  EXPECT_EQ(op_error("0 remap_vmalloc_range $u mm=1 pgoff=2"),
            "t.trace:2: remap_vmalloc_range: missing operand 'uaddr=' (usage: "
            "remap_vmalloc_range ADDR mm=N uaddr=ADDR [pgoff=N] [vsize=BYTES])");
  EXPECT_EQ(op_error("0 remap_vmalloc_range_partial $u 4K mm=1"),
            "t.trace:2: remap_vmalloc_range_partial: missing operand 'uaddr=' (usage: "
            "remap_vmalloc_range_partial ADDR SIZE mm=N uaddr=ADDR [vsize=BYTES])");
}

TEST(TraceErrors, HandleWithoutDollar) {
  EXPECT_EQ(op_error("0 vmalloc buf 4K"),
            "t.trace:2: vmalloc: expected a handle ($name), got 'buf'");
  EXPECT_EQ(op_error("0 vmap 16 v"), "t.trace:2: vmap: expected a handle ($name), got '16'");
  EXPECT_EQ(op_error("0 free_vm_area area"),
            "t.trace:2: free_vm_area: expected a handle ($name), got 'area'");
  EXPECT_EQ(op_error("0 pcpu_get_vm_areas p 4 4K"),
            "t.trace:2: pcpu_get_vm_areas: expected a handle ($name), got 'p'");
  // Where an address is expected, a bare name is a number that is not one.
  EXPECT_EQ(op_error("0 vfree buf"), "t.trace:2: vfree: address 'buf' is not a number");
  EXPECT_EQ(op_error("0 load buf+8"), "t.trace:2: load: address 'buf+8' is not a number");
}

TEST(TraceErrors, BadHandleName) {
  const std::string rule = "' must be letters, digits and '_', not starting with a digit";
  EXPECT_EQ(op_error("0 vmalloc $9lives 4K"), "t.trace:2: vmalloc: handle '9lives" + rule);
  EXPECT_EQ(op_error("0 vmalloc $a-b 4K"), "t.trace:2: vmalloc: handle 'a-b" + rule);
  EXPECT_EQ(op_error("0 vmalloc $$a 4K"), "t.trace:2: vmalloc: handle '$a" + rule);
  EXPECT_EQ(op_error("0 vmalloc $ 4K"), "t.trace:2: vmalloc: expected a handle ($name), got '$'");
  EXPECT_EQ(op_error("0 vfree $"), "t.trace:2: vfree: handle '" + rule);
  EXPECT_EQ(op_error("0 vfree $+0x10"), "t.trace:2: vfree: handle '" + rule);
  EXPECT_EQ(op_error("0 store $b.x"), "t.trace:2: store: handle 'b.x" + rule);
  // A binding takes no offset.
  EXPECT_EQ(op_error("0 vmalloc $b+8 4K"), "t.trace:2: vmalloc: handle 'b+8" + rule);
  EXPECT_EQ(op_error("0 free_vm_area $b+8"), "t.trace:2: free_vm_area: handle 'b+8" + rule);
  EXPECT_EQ(
      op_error("0 vmalloc $" + std::string(32, 'h') + " 4K"),
      "t.trace:2: vmalloc: handle '" + std::string(32, 'h') + "' is longer than 31 characters");
  EXPECT_EQ(op_error("0 vfree $" + std::string(32, 'h') + "+8"),
            "t.trace:2: vfree: handle '" + std::string(32, 'h') + "' is longer than 31 characters");
}

TEST(TraceErrors, HandleOffsetThatIsNotANumber) {
  EXPECT_EQ(op_error("0 vfree $b+"), "t.trace:2: vfree: offset '' is not a number");
  EXPECT_EQ(op_error("0 vfree $b+x"), "t.trace:2: vfree: offset 'x' is not a number");
  EXPECT_EQ(op_error("0 load $b+-8"), "t.trace:2: load: offset '-8' is not a number");
  EXPECT_EQ(op_error("0 load $b+8+8"), "t.trace:2: load: offset '8+8' is not a number");
  EXPECT_EQ(op_error("0 touch $b+4k 4K"), "t.trace:2: touch: offset '4k' is not a number");
  EXPECT_EQ(op_error("0 vread $b+0x10000000000000000 8"),
            "t.trace:2: vread: offset '0x10000000000000000' does not fit in 64 bits");
}

TEST(TraceErrors, UnknownFlagWords) {
  EXPECT_EQ(op_error("0 vmalloc $b 4K zero"), "t.trace:2: vmalloc: unexpected operand 'zero'");
  EXPECT_EQ(op_error("0 vzalloc_node $b 4K exec"),
            "t.trace:2: vzalloc_node: unexpected operand 'exec'");
  EXPECT_EQ(op_error("0 __vmalloc_node $b 4K modules"),
            "t.trace:2: __vmalloc_node: unexpected operand 'modules'");
  EXPECT_EQ(op_error("0 __vmalloc_node $b 4K noguard"),
            "t.trace:2: __vmalloc_node: unexpected operand 'noguard'");
  EXPECT_EQ(op_error("0 __vmalloc_node_range $b 4K module"),
            "t.trace:2: __vmalloc_node_range: unexpected operand 'module'");
  EXPECT_EQ(op_error("0 __vmalloc_node_range $b 4K ZERO"),
            "t.trace:2: __vmalloc_node_range: unexpected operand 'ZERO'");
  EXPECT_EQ(op_error("0 vmap $v 4 vm_map"), "t.trace:2: vmap: unexpected operand 'vm_map'");
  EXPECT_EQ(op_error("0 vmap $v 4 exec"), "t.trace:2: vmap: unexpected operand 'exec'");
  EXPECT_EQ(op_error("0 get_vm_area $g 4K zero"),
            "t.trace:2: get_vm_area: unexpected operand 'zero'");
  EXPECT_EQ(op_error("0 map_kernel_range_noflush $g 4K nx"),
            "t.trace:2: map_kernel_range_noflush: unexpected operand 'nx'");
  EXPECT_EQ(op_error("0 vfree $b user"), "t.trace:2: vfree: unexpected operand 'user'");
  EXPECT_EQ(op_error("0 vm_map_ram $r 4 map"), "t.trace:2: vm_map_ram: unexpected operand 'map'");
  EXPECT_EQ(op_error("0 vm_unmap_ram $r 4 5"), "t.trace:2: vm_unmap_ram: unexpected operand '5'");
  EXPECT_EQ(op_error("0 vmallocinfo now"), "t.trace:2: vmallocinfo: unexpected operand 'now'");
  EXPECT_EQ(op_error("0 vmalloc $b 4K node=1"), "t.trace:2: vmalloc: unexpected operand 'node=1'");
  EXPECT_EQ(op_error("0 vm_area_register_early $e 4K stride=8"),
            "t.trace:2: vm_area_register_early: unexpected operand 'stride=8'");
}

TEST(TraceErrors, GuestOptionGivenTwice) {
  EXPECT_EQ(op_error("0 __vmalloc_node $b 4K align=8 align=16"),
            "t.trace:2: __vmalloc_node: 'align=' given twice");
  EXPECT_EQ(op_error("0 vmalloc_node $b 4K node=0 node=0"),
            "t.trace:2: vmalloc_node: 'node=' given twice");
  EXPECT_EQ(op_error("0 remap_vmalloc_range $u mm=1 uaddr=0x1000 mm=2"),
            "t.trace:2: remap_vmalloc_range: 'mm=' given twice");
  EXPECT_EQ(op_error("0 remap_vmalloc_range_partial $u 4K mm=1 uaddr=0 vsize=4K vsize=8K"),
            "t.trace:2: remap_vmalloc_range_partial: 'vsize=' given twice");
  EXPECT_EQ(op_error("0 pcpu_get_vm_areas $p 2 4K stride=8K stride=8K"),
            "t.trace:2: pcpu_get_vm_areas: 'stride=' given twice");
  EXPECT_EQ(op_error("0 vwrite $b 4 byte=1 byte=2"), "t.trace:2: vwrite: 'byte=' given twice");
}

TEST(TraceErrors, GuestNumberOutOfRange) {
  EXPECT_EQ(op_error("0 vmalloc_node $b 4K node=64"),
            "t.trace:2: vmalloc_node: node 64 is above the maximum 63");
  EXPECT_EQ(op_error("0 vm_map_ram $r 4 node=0x40"),
            "t.trace:2: vm_map_ram: node 0x40 is above the maximum 63");
  EXPECT_EQ(op_error("0 __vmalloc_node_range $b 4K node=-1"),
            "t.trace:2: __vmalloc_node_range: node '-1' is not a number");
  EXPECT_EQ(op_error("0 vwrite $b 4 byte=256"),
            "t.trace:2: vwrite: byte 256 is above the maximum 255");
  EXPECT_EQ(op_error("0 remap_vmalloc_range $u mm=65536 uaddr=0"),
            "t.trace:2: remap_vmalloc_range: mm 65536 is above the maximum 65535");
  EXPECT_EQ(op_error("0 vm_unmap_ram $r 4294967296"),
            "t.trace:2: vm_unmap_ram: page count 4294967296 is above the maximum 4294967295");
  EXPECT_EQ(op_error("0 vread $b 257MiB"),
            "t.trace:2: vread: size 257MiB is above the largest copy a trace may ask for (256MiB)");
  EXPECT_EQ(op_error("0 vwrite $b 0x10000001"),
            "t.trace:2: vwrite: size 0x10000001 is above the largest copy a trace may ask for "
            "(256MiB)");
  EXPECT_EQ(op_error("0 pcpu_get_vm_areas $p 1025 4K"),
            "t.trace:2: pcpu_get_vm_areas: area count 1025 is above the maximum 1024");
}

TEST(TraceErrors, ZeroAlignmentStrideOrVmaSize) {
  EXPECT_EQ(op_error("0 __vmalloc_node $b 4K align=0"),
            "t.trace:2: __vmalloc_node: alignment must be at least 1");
  EXPECT_EQ(op_error("0 __vmalloc_node_range $b 4K align=0K"),
            "t.trace:2: __vmalloc_node_range: alignment must be at least 1");
  EXPECT_EQ(op_error("0 pcpu_get_vm_areas $p 2 4K align=0"),
            "t.trace:2: pcpu_get_vm_areas: alignment must be at least 1");
  EXPECT_EQ(op_error("0 vm_area_register_early $e 4K align=0x0"),
            "t.trace:2: vm_area_register_early: alignment must be at least 1");
  EXPECT_EQ(op_error("0 __vmalloc_node $b 4K align=x"),
            "t.trace:2: __vmalloc_node: alignment 'x' is not a number");
  EXPECT_EQ(op_error("0 pcpu_get_vm_areas $p 2 4K stride=0"),
            "t.trace:2: pcpu_get_vm_areas: stride must be at least 1");
  EXPECT_EQ(op_error("0 remap_vmalloc_range $u mm=1 uaddr=0 vsize=0"),
            "t.trace:2: remap_vmalloc_range: vma size must be at least 1");
  EXPECT_EQ(op_error("0 remap_vmalloc_range_partial $u 4K mm=1 uaddr=0 vsize=0"),
            "t.trace:2: remap_vmalloc_range_partial: vma size must be at least 1");
}

TEST(TraceErrors, GuestBadNumber) {
  EXPECT_EQ(op_error("0 vmalloc $b 4k"), "t.trace:2: vmalloc: size '4k' is not a number");
  EXPECT_EQ(op_error("0 vmap $v 4K"), "t.trace:2: vmap: page count '4K' is not a number");
  EXPECT_EQ(op_error("0 pcpu_get_vm_areas $p two 4K"),
            "t.trace:2: pcpu_get_vm_areas: area count 'two' is not a number");
  EXPECT_EQ(op_error("0 remap_vmalloc_range $u mm=1 uaddr=$u"),
            "t.trace:2: remap_vmalloc_range: user address '$u' is not a number");
  EXPECT_EQ(op_error("0 remap_vmalloc_range $u mm=1 uaddr=0 pgoff=x"),
            "t.trace:2: remap_vmalloc_range: page offset 'x' is not a number");
}

// --- irq blocks -------------------------------------------------------------------------------

TEST(TraceErrors, IrqWithoutBrace) {
  EXPECT_EQ(op_error("0 irq"), "t.trace:2: irq: expected 'irq {'");
  EXPECT_EQ(op_error("0 irq ("), "t.trace:2: irq: expected 'irq {'");
  EXPECT_EQ(op_error("0 irq { vfree $b"), "t.trace:2: irq: expected 'irq {'");
  EXPECT_EQ(op_error("0 irq {}"), "t.trace:2: irq: expected 'irq {'");
  EXPECT_EQ(op_error("0 } }"), "t.trace:2: }: unexpected operand '}'");
}

TEST(TraceErrors, IrqBlocksPerCpuAreValid) {
  EXPECT_EQ(error_of("mmusim-trace 1\n"
                     "0 irq {\n"
                     "1 irq {\n"
                     "0 vfree $b\n"
                     "1 }\n"
                     "0 }\n"
                     "0 irq {   # again\n"
                     "0 }\n"),
            "no error");
}

TEST(TraceErrors, StrayClosingBrace) {
  EXPECT_EQ(error_of("mmusim-trace 1\n0 compute 1\n0 }\n"), "t.trace:3: '}' without 'irq {'");
  // Blocks are per CPU: CPU 0's open block does not let CPU 1 close one.
  EXPECT_EQ(error_of("mmusim-trace 1\n0 irq {\n1 }\n0 }\n"), "t.trace:3: '}' without 'irq {'");
  EXPECT_EQ(error_of("mmusim-trace 1\n0 irq {\n0 }\n0 }\n"), "t.trace:4: '}' without 'irq {'");
}

TEST(TraceErrors, NestedIrqBlock) {
  EXPECT_EQ(error_of("mmusim-trace 1\n0 irq {\n0 vfree $b\n0 irq {\n0 }\n0 }\n"),
            "t.trace:4: 'irq {' inside an irq block (handlers do not nest here)");
}

TEST(TraceErrors, UnclosedIrqBlockNamesItsOpeningLine) {
  EXPECT_EQ(error_of("mmusim-trace 1\n0 irq {\n0 vfree $b\n# the end\n"),
            "t.trace:2: 'irq {' is never closed with '}'");
  // The earliest block left open, whichever CPU it is on.
  EXPECT_EQ(error_of("mmusim-trace 1\n1 compute 1\n1 irq {\n0 irq {\n0 }\n2 irq {\n"),
            "t.trace:3: 'irq {' is never closed with '}'");
}

TEST(TraceErrors, UnclosedIrqBlockSurfacesWhenACpuReachesTheEnd) {
  std::istringstream in("mmusim-trace 1\n0 irq {\n0 vfree $b\n1 compute 1\n");
  TraceReader reader(in, "irq.trace");
  Op op;
  std::uint64_t line = 0;
  ASSERT_TRUE(reader.next_for(0, op, line));
  EXPECT_EQ(op.kind, OpKind::kIrqEnter);
  ASSERT_TRUE(reader.next_for(0, op, line));
  EXPECT_EQ(op.kind, OpKind::kVfree);
  ASSERT_TRUE(reader.next_for(1, op, line));
  try {
    reader.next_for(1, op, line);
    FAIL() << "no error";
  } catch (const TraceError& e) {
    EXPECT_EQ(std::string(e.what()), "irq.trace:2: 'irq {' is never closed with '}'");
  }
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

const std::string kBootOnly =
    "boot lines may only hold map, unmap, protect, vm_area_add_early or vm_area_register_early";

TEST(TraceErrors, BootWithANonEditOp) {
  EXPECT_EQ(error_of("mmusim-trace 1\nboot load 0x1000\n"), "t.trace:2: " + kBootOnly);
  EXPECT_EQ(error_of("mmusim-trace 1\nboot map 0x0 4K\nboot invlpg 0x1000\n"),
            "t.trace:3: " + kBootOnly);
  EXPECT_EQ(error_of("mmusim-trace 1\nboot compute 5\n"), "t.trace:2: " + kBootOnly);
}

TEST(TraceErrors, BootWithAGuestOpOtherThanTheEarlyRegistrations) {
  EXPECT_EQ(error_of("mmusim-trace 1\nboot vmalloc $b 4K\n"), "t.trace:2: " + kBootOnly);
  EXPECT_EQ(error_of("mmusim-trace 1\nboot vm_area_register_early $e 4K\nboot vfree $e\n"),
            "t.trace:3: " + kBootOnly);
  EXPECT_EQ(error_of("mmusim-trace 1\nboot vmallocinfo\n"), "t.trace:2: " + kBootOnly);
  EXPECT_EQ(error_of("mmusim-trace 1\nboot irq {\n"), "t.trace:2: " + kBootOnly);
  EXPECT_EQ(error_of("mmusim-trace 1\nboot }\n"), "t.trace:2: " + kBootOnly);
  EXPECT_EQ(error_of("mmusim-trace 1\nboot pcpu_get_vm_areas $p 2 4K\n"),
            "t.trace:2: " + kBootOnly);
}

TEST(TraceErrors, BootEarlyRegistrations) {
  EXPECT_EQ(error_of("mmusim-trace 1\n"
                     "boot vm_area_add_early 0xffffc90000000000 64K\n"
                     "boot vm_area_register_early $pcpu 32K align=8K\n"
                     "0 vfree $pcpu\n"),
            "no error");
  // Boot ops run before any handle is resolved: vm_area_add_early needs a number.
  EXPECT_EQ(error_of("mmusim-trace 1\nboot vm_area_register_early $e 4K\n"
                     "boot vm_area_add_early $e+8K 4K\n"),
            "t.trace:3: boot: vm_area_add_early: the address must be a number on a boot line, "
            "not a handle");
  EXPECT_EQ(error_of("mmusim-trace 1\nboot vm_area_register_early e 4K\n"),
            "t.trace:2: boot: vm_area_register_early: expected a handle ($name), got 'e'");
  EXPECT_EQ(error_of("mmusim-trace 1\nboot vm_area_register_early $e 4K align=0\n"),
            "t.trace:2: boot: vm_area_register_early: alignment must be at least 1");
  EXPECT_EQ(error_of("mmusim-trace 1\nboot vm_area_add_early 0x1000\n"),
            "t.trace:2: boot: vm_area_add_early: missing operand (usage: vm_area_add_early ADDR "
            "SIZE)");
}

TEST(TraceErrors, BootWithAMalformedOp) {
  EXPECT_EQ(error_of("mmusim-trace 1\nboot map 0x0\n"),
            "t.trace:2: boot: map: missing operand (usage: map ADDR BYTES [mm=N] "
            "[page=4k|2m|1g] [frame=PFN] [ro] [user] [nx] [global] [pwt] [pcd])");
  EXPECT_EQ(error_of("mmusim-trace 1\nboot\n"), "t.trace:2: boot: empty op");
  EXPECT_EQ(error_of("mmusim-trace 1\nboot 0 map 0x0 4K\n"),
            "t.trace:2: boot: unknown op '0' (known: " + kKnown + ")");
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
  EXPECT_EQ(error_of(text), "t.trace:12: unknown op 'lod' (known: " + kKnown + ")");
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
    EXPECT_EQ(std::string(e.what()), "lazy.trace:5: unknown op 'bogus' (known: " + kKnown + ")");
  }
}

// --- reading the file itself ------------------------------------------------------------------

// Found by fuzzing (tests/fuzz/corpus/trace/crash-7b15b6bb...): a header line holding only a
// form feed was not blank to the line stripper but had no words, and its first word was read
// anyway. Form feeds and vertical tabs are whitespace everywhere, as between words.
TEST(TraceErrors, FormFeedAndVerticalTabLinesAreBlank) {
  EXPECT_EQ(error_of("mmusim-trace 1\n\f\n\v \n0 load 0x0\n\f\n1\vcompute 3\f\n"), "no error");
  EXPECT_EQ(error_of("mmusim-trace 1\n\f\n"), "no error");
  EXPECT_EQ(error_of("\f\n"),
            "t.trace:1: empty file: not an mmusim trace (no 'mmusim-trace 1' line)");
}

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
