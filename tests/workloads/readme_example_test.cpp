// workloads/README.md is the format's specification: its annotated example must be a valid
// trace that reads as the text around it says.
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

TEST(TraceReadme, CanonicalSpellingExampleHolds) {
  EXPECT_EQ(format_op(parse_op("map 4096 8K page=4KiB mm=0")), "map 0x1000 8192");
}

}  // namespace
}  // namespace mmusim::workloads
