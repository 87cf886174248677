// Every misuse of the guest's API a trace can express, run on the simulated machine: the
// kernel's own report (the WARN or BUG text Linux 4.19 prints, or its log message), the counter
// it lands in, and a run that goes on (run.stop_on_bug false, the default) or stops cleanly with
// stop_reason kernel_bug (run.stop_on_bug true). Where 4.19 prints nothing (it returns an error,
// or corrupts its state silently), the table says so and what the model counts instead.
//
// S = VMALLOC_START = 0xffffc90000000000 (4-level paging, no KASLR).
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sim/config_io.h"
#include "sim/experiment.h"

namespace mmusim::sim {
namespace {

struct Misuse {
  const char* name;
  const char* trace;  // after "mmusim-trace 1\ncpus 1\n"
  int warnings = 0;
  int bugs = 0;
  int messages = 0;
  int guest_failures = -1;  // -1: not checked
  const char* text = "";    // in the kernel log ("" when nothing is logged)
};

// clang-format off
const Misuse kMisuses[] = {
    // __vunmap() looks the area up with find_vmap_area(addr)->vm: with no area at all, 4.19
    // dereferences NULL (fixed in 5.1).
    {"VfreeOfAnAddressNeverAllocated", "0 vfree 0xffffc90000100000\n", 0, 1, 0, -1,
     "BUG: unable to handle kernel NULL pointer dereference in __vunmap"},
    {"VfreeOfAMisalignedAddress", "0 vmalloc $a 4096\n0 vfree $a+16\n", 1, 0, 0, -1,
     "Trying to vfree() bad address (0xffffc90000000010)"},
    // The first vfree leaves a lazy area without its vm_struct.
    {"VfreeTwice", "0 vmalloc $a 4096\n0 vfree $a\n0 vfree $a\n", 1, 0, 0, -1,
     "Trying to vfree() nonexistent vm area (0xffffc90000000000)"},
    // Once a purge has released the area, the second vfree finds nothing: the NULL dereference.
    {"VfreeTwiceWithAPurgeBetween", "0 vmalloc $a 4096\n0 vfree $a\n0 vm_unmap_aliases\n0 vfree $a\n",
     0, 1, 0, -1, "BUG: unable to handle kernel NULL pointer dereference in __vunmap"},
    // A vm_map_ram address lies in a per-CPU block's area, which has no vm_struct.
    {"VfreeOfAVmMapRamAddress", "0 vm_map_ram $m 2\n0 vfree $m\n", 1, 0, 0, -1,
     "Trying to vfree() nonexistent vm area (0xffffc90000000000)"},
    {"VunmapInInterruptContext", "0 vmap $v 1\n0 irq {\n0 vunmap $v\n0 }\n", 0, 1, 0, -1,
     "kernel BUG at mm/vmalloc.c vunmap: BUG_ON(in_interrupt())"},
    // A wrong count on the block path: 4.19 unmaps and dirties what the count says (3 pages,
    // order 2) without a word; the model does the same.
    {"VmUnmapRamWithALargerCountOnTheBlockPath", "0 vm_map_ram $m 2\n0 vm_unmap_ram $m 3\n", 0, 0,
     0, 0, ""},
    // A count above VMAP_MAX_ALLOC for a block-path mapping: 4.19 would free the whole per-CPU
    // block under its users; the model reports it as a BUG instead.
    {"VmUnmapRamWithACountThatTearsDownItsBlock", "0 vm_map_ram $m 1\n0 vm_unmap_ram $m 80\n", 0, 1,
     0, -1, "vm_unmap_ram: the area is a vmap block (vm_unmap_ram() count does not match"},
    {"VmUnmapRamOfAnUnalignedAddress", "0 vm_map_ram $m 1\n0 vm_unmap_ram $m+8 1\n", 0, 1, 0, -1,
     "kernel BUG at mm/vmalloc.c vm_unmap_ram: BUG_ON(!PAGE_ALIGNED(addr))"},
    {"VmUnmapRamBelowTheVmallocArea", "0 vm_unmap_ram 0xffff888000000000 1\n", 0, 1, 0, -1,
     "kernel BUG at mm/vmalloc.c vm_unmap_ram: BUG_ON(addr < VMALLOC_START)"},
    {"VmUnmapRamAboveTheVmallocArea", "0 vm_unmap_ram 0xffffe90000000000 1\n", 0, 1, 0, -1,
     "kernel BUG at mm/vmalloc.c vm_unmap_ram: BUG_ON(addr > VMALLOC_END)"},
    // The remaps return -EINVAL and print nothing in 4.19: a failed guest call.
    {"RemapWithoutVmUsermap", "0 vmalloc $a 8192\n0 remap_vmalloc_range $a mm=1 uaddr=0x400000\n",
     0, 0, 0, 1, ""},
    {"RemapBeyondTheArea",
     "0 vmalloc_user $u 8192\n0 remap_vmalloc_range $u mm=1 uaddr=0x400000 vsize=16K\n", 0, 0, 0, 1,
     ""},
    {"RemapToAnUnalignedUserAddress",
     "0 vmalloc_user $u 8192\n0 remap_vmalloc_range_partial $u 4096 mm=1 uaddr=0x400010\n", 0, 0,
     0, 1, ""},
    {"VmAreaAddEarlyAfterVmallocInit", "0 vm_area_add_early 0xffffe8fff0000000 8192\n", 0, 1, 0,
     -1, "kernel BUG at mm/vmalloc.c vm_area_add_early: BUG_ON(vmap_initialized)"},
    {"VmAreaRegisterEarlyAfterVmallocInit", "0 vm_area_register_early $e 8192\n", 0, 1, 0, -1,
     "kernel BUG at mm/vmalloc.c vm_area_register_early: BUG_ON(vmap_initialized)"},
    // At boot, before vmalloc_init(): the second area starts inside the first.
    {"OverlappingEarlyAreas",
     "boot vm_area_add_early 0xffffe8fff0000000 8192\nboot vm_area_add_early 0xffffe8fff0001000 8192\n"
     "0 compute 1\n",
     0, 1, 0, -1, "kernel BUG at mm/vmalloc.c vm_area_add_early: BUG_ON(tmp->addr + tmp->size > vm->addr)"},
    {"PcpuGetVmAreasWithOverlappingOffsets", "0 pcpu_get_vm_areas $p 2 8192 stride=4096\n", 0, 1, 0,
     1, "kernel BUG at mm/vmalloc.c pcpu_get_vm_areas: BUG_ON(start2 < end && start < end2)"},
    {"PcpuGetVmAreasWithMisalignedOffsets", "0 pcpu_get_vm_areas $p 2 4096 stride=6144\n", 0, 1, 0,
     1, "kernel BUG at mm/vmalloc.c pcpu_get_vm_areas: BUG_ON(!IS_ALIGNED(offsets[area], align))"},
    // Two 16 TiB areas 16 TiB apart need more than the 32 TiB space once aligned: 4.19 checks
    // the span first, WARNs and returns NULL.
    {"PcpuGetVmAreasForMoreSpaceThanExists",
     "0 pcpu_get_vm_areas $p 2 17592186044416 stride=17592186044416\n", 1, 0, 0, 1,
     "at mm/vmalloc.c pcpu_get_vm_areas: WARN_ON(true)"},
    {"AllocationOfSizeZero", "0 vmalloc $z 0\n", 0, 0, 1, 1,
     "vmalloc: allocation failure: 0 bytes"},
    {"AlignmentThatIsNotAPowerOfTwo", "0 __vmalloc_node $b 4096 align=3\n", 0, 1, 0, 1,
     "kernel BUG at mm/vmalloc.c alloc_vmap_area: BUG_ON(!is_power_of_2(align))"},
    // Reads across holes at the top of the vmalloc area and over an ioremap area: nothing is
    // reported; the first touches no area (vread returns 0: a failed call), the second reads the
    // ioremap area as zeros (4.19 never reads I/O memory).
    {"VreadAcrossHolesAndIoremapAtTheEnd",
     "0 vread 0xffffe8fffffff000 8192\n0 get_vm_area $io 8192 ioremap\n0 vread $io 8192\n", 0, 0,
     0, 1, ""},
    // vwrite over the same holes writes nothing and returns 0; over an ioremap area it skips
    // the area's bytes (4.19 never writes I/O memory) and, having copied into no area, also
    // returns 0: two failed calls.
    {"VwriteAcrossHolesAndIoremapAtTheEnd",
     "0 vwrite 0xffffe8fffffff000 8192\n0 get_vm_area $io 8192 ioremap\n0 vwrite $io 8192\n", 0,
     0, 0, 2, ""},
    // Once the purge has unmapped and flushed a freed area, the kernel touching it faults.
    {"AccessToAFreedArea", "0 vmalloc $a 4096\n0 vfree $a\n0 vm_unmap_aliases\n0 load $a\n", 0,
     1, 0, -1, "BUG: unable to handle kernel paging request at 0xffffc90000000000"},
};
// clang-format on

RunResult run_misuse(const Misuse& misuse, bool stop_on_bug) {
  const std::string path =
      testing::TempDir() + "/misuse_" + misuse.name + (stop_on_bug ? "_stop" : "") + ".trace";
  std::ofstream(path) << "mmusim-trace 1\ncpus 1\n" << misuse.trace;
  const ExperimentConfig config =
      parse_config("{}", "test", "",
                   {"platform.cpus=1", "workload.kind=trace", "workload.trace.path=" + path,
                    std::string("run.stop_on_bug=") + (stop_on_bug ? "true" : "false")});
  RunOptions options;
  options.write_outputs = false;
  return run_experiment(config, options);
}

class GuestMisuse : public testing::TestWithParam<Misuse> {};

TEST_P(GuestMisuse, IsReportedCountedAndTheRunGoesOn) {
  const Misuse& misuse = GetParam();
  const RunResult result = run_misuse(misuse, /*stop_on_bug=*/false);
  ASSERT_EQ(result.error, "");
  const auto& kernel = result.stats["kernel"];
  EXPECT_EQ(result.stats["sim"]["stop_reason"], "completed");
  EXPECT_EQ(kernel["warnings"], misuse.warnings) << kernel["log"];
  EXPECT_EQ(kernel["bugs"], misuse.bugs) << kernel["log"];
  EXPECT_EQ(kernel["messages"], misuse.messages) << kernel["log"];
  if (misuse.guest_failures >= 0) {
    EXPECT_EQ(result.stats["total"]["ops"]["guest_failures"], misuse.guest_failures);
  }
  if (std::string(misuse.text).empty()) {
    EXPECT_TRUE(kernel["log"].empty()) << kernel["log"];
  } else {
    ASSERT_EQ(kernel["log"].size(), 1u) << kernel["log"];
    EXPECT_NE(kernel["log"][0].get<std::string>().find(misuse.text), std::string::npos)
        << kernel["log"][0];
  }
}

TEST_P(GuestMisuse, ABugStopsTheRunCleanlyWhenAskedTo) {
  const Misuse& misuse = GetParam();
  const RunResult result = run_misuse(misuse, /*stop_on_bug=*/true);
  ASSERT_EQ(result.error, "");
  EXPECT_EQ(result.stats["sim"]["stop_reason"], misuse.bugs > 0 ? "kernel_bug" : "completed");
  if (misuse.bugs > 0) {
    EXPECT_NE(result.stop_detail.find(misuse.text), std::string::npos) << result.stop_detail;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, GuestMisuse, testing::ValuesIn(kMisuses),
                         [](const testing::TestParamInfo<Misuse>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace mmusim::sim
