// workloads/README.md is the format's specification: its annotated examples must be valid
// traces that read as the text around them says.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "workloads/op.h"
#include "workloads/trace.h"

namespace mmusim::workloads {
namespace {

// The fenced block of the README that starts with `first_line`, without its fences.
std::string readme_block(const std::string& first_line) {
  std::ifstream in(std::string(MMUSIM_SOURCE_DIR) + "/workloads/README.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  const auto start = readme.find("```\n" + first_line);
  if (start == std::string::npos) return {};
  const auto body = start + 4;
  const auto end = readme.find("```", body);
  return readme.substr(body, end - body);
}

std::vector<std::string> canonical_lines(TraceReader& reader, int cpu) {
  std::vector<std::string> lines;
  Op op;
  std::uint64_t line = 0;
  while (reader.next_for(cpu, op, line))
    lines.push_back(format_op(op));
  return lines;
}

TEST(TraceReadme, AnnotatedExampleIsAValidTrace) {
  const std::string example = readme_block("# example.trace");
  ASSERT_FALSE(example.empty()) << "no example block in workloads/README.md";
  std::istringstream in(example);
  TraceReader reader(in, "example.trace");
  EXPECT_EQ(reader.declared_cpus(), 2);
  std::vector<std::string> boot;
  for (const Op& op : reader.boot_ops())
    boot.push_back(format_op(op));
  EXPECT_EQ(boot, (std::vector<std::string>{
                      "map 0xffffc90000000000 65536 nx global",
                      "map 0xffffd00000000000 4194304 page=2m nx global",
                      "map 0x400000 8192 mm=1 user",
                      "map 0x7ffff7ff0000 65536 mm=1 user nx",
                  }));
  const std::vector<std::string> cpu1 = canonical_lines(reader, 1);
  ASSERT_EQ(cpu1.size(), 11u);
  EXPECT_EQ(cpu1[2], "touch 0x7ffff7ff0000 65536 stride=64 store user");
  EXPECT_EQ(cpu1[4], "mov_cr3 noflush");
  EXPECT_EQ(cpu1[6], "mov_cr3 mm=1 pcid=1 noflush");
  const std::vector<std::string> cpu0 = canonical_lines(reader, 0);
  ASSERT_EQ(cpu0.size(), 7u);
  EXPECT_EQ(cpu0[3], "protect 0xffffc90000001000 4096 ro nx global");
}

TEST(TraceReadme, GuestExampleIsAValidTrace) {
  const std::string example = readme_block("# guest.trace");
  ASSERT_FALSE(example.empty()) << "no guest example block in workloads/README.md";
  std::istringstream in(example);
  TraceReader reader(in, "guest.trace");
  EXPECT_EQ(reader.declared_cpus(), 2);
  ASSERT_EQ(reader.boot_ops().size(), 1u);
  EXPECT_EQ(format_op(reader.boot_ops()[0]), "vm_area_register_early $pcpu_first 65536 align=8192");
  const std::vector<std::string> cpu0 = canonical_lines(reader, 0);
  ASSERT_EQ(cpu0.size(), 15u);
  EXPECT_EQ(cpu0[2], "store $buf+0x10");
  EXPECT_EQ(cpu0[5], "vm_unmap_ram $ram");
  EXPECT_EQ(cpu0[6], "irq {");
  EXPECT_EQ(cpu0[8], "}");
  EXPECT_EQ(cpu0[10], "__vmalloc_node_range $mod 8192 modules exec");
  EXPECT_EQ(cpu0[12], "remap_vmalloc_range $shared mm=1 uaddr=0x7f0000000000");
  EXPECT_EQ(cpu0[14], "vmallocinfo");
  const std::vector<std::string> cpu1 = canonical_lines(reader, 1);
  EXPECT_EQ(cpu1, (std::vector<std::string>{"vread $mod 64", "find_vm_area $pcpu_first+0x1000"}));
}

TEST(TraceReadme, CanonicalSpellingExampleHolds) {
  EXPECT_EQ(format_op(parse_op("map 4096 8K page=4KiB mm=0")), "map 0x1000 8192");
  EXPECT_EQ(format_op(parse_op("vfree $buf+4K")), "vfree $buf+0x1000");
}

}  // namespace
}  // namespace mmusim::workloads
