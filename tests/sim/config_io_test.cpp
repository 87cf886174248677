// The configuration reader: defaults, types, ranges, unknown keys, cross-field checks, --set
// overrides and the resolved-config round trip.
#include "sim/config_io.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sim/sweep.h"

namespace mmusim::sim {
namespace {

std::vector<std::string> errors_of(const std::string& text,
                                   const std::vector<std::string>& overrides = {}) {
  try {
    parse_config(text, "test.json", "/base", overrides);
  } catch (const ConfigError& e) {
    return e.errors();
  }
  return {};
}

TEST(ConfigIo, EmptyObjectGivesTheDefaults) {
  const ExperimentConfig config = parse_config("{}", "test.json", "/base");
  EXPECT_EQ(config.platform.cpus, 4u);
  EXPECT_EQ(config.platform.memory.size_bytes, std::uint64_t{16} << 30);
  EXPECT_EQ(config.tlb.stlb.sets, 128u);
  EXPECT_EQ(config.tlb.stlb.ways, 12u);
  EXPECT_EQ(config.mmu.paging_levels, 4u);
  EXPECT_EQ(config.run.quantum_cycles, 300u);
}

TEST(ConfigIo, CommentsAreAllowed) {
  const ExperimentConfig config =
      parse_config("// a comment\n{ /* inline */ \"platform\": {\"cpus\": 8}}", "test.json", "");
  EXPECT_EQ(config.platform.cpus, 8u);
}

TEST(ConfigIo, ValuesOfEveryKindAreRead) {
  const ExperimentConfig config = parse_config(R"({
    "platform": {"cpus": 16, "memory": {"size": "2GiB", "numa_nodes": 2}},
    "mmu": {"paging_levels": 5, "pcid": false},
    "tlb": {"stlb": {"page_sizes": ["4k", "1g"], "replacement": "plru", "ways": 8}},
    "workload": {"kind": "trace", "trace": {"path": "t/x.trace"}}
  })",
                                               "test.json", "/base");
  EXPECT_EQ(config.platform.cpus, 16u);
  EXPECT_EQ(config.platform.memory.size_bytes, std::uint64_t{2} << 30);
  EXPECT_EQ(config.platform.memory.numa_nodes, 2u);
  EXPECT_EQ(config.mmu.paging_levels, 5u);
  EXPECT_FALSE(config.mmu.pcid);
  EXPECT_EQ(config.tlb.stlb.page_sizes, tlb::k4K | tlb::k1G);
  EXPECT_EQ(config.tlb.stlb.replacement, tlb::Replacement::kPlru);
  EXPECT_EQ(config.workload.kind, workloads::WorkloadKind::kTrace);
  // Relative paths are resolved against the config file's folder.
  EXPECT_EQ(config.workload.trace.path, "/base/t/x.trace");
}

TEST(ConfigIo, UnknownKeyIsNamedWithItsPath) {
  const auto errors = errors_of(R"({"tlb": {"stlb": {"wayz": 4}}})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("test.json: /tlb/stlb/wayz: unknown key (known here: sets, ways,", 0),
            0u)
      << errors[0];
}

TEST(ConfigIo, WrongTypeAndRangeAreReportedTogether) {
  const auto errors = errors_of(R"({"platform": {"cpus": 0, "frequency_mhz": "fast"},
                                    "run": {"stale_check": 1}})");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0], "test.json: /platform/cpus: expected an integer (1..1024), got 0");
  EXPECT_EQ(errors[1],
            "test.json: /platform/frequency_mhz: expected an integer (100..10000), got \"fast\"");
  EXPECT_EQ(errors[2], "test.json: /run/stale_check: expected true or false, got 1");
}

TEST(ConfigIo, NegativeAndFractionalIntegersAreRejected) {
  const auto errors = errors_of(R"({"platform": {"cpus": -2, "frequency_mhz": 2.5}})");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0], "test.json: /platform/cpus: expected an integer (1..1024), got -2");
  EXPECT_EQ(errors[1],
            "test.json: /platform/frequency_mhz: expected an integer (100..10000), got 2.5");
}

TEST(ConfigIo, ChoicesAndPageSizesAreChecked) {
  const auto errors = errors_of(R"({"tlb": {"l1d_4k": {"replacement": "lfu",
                                                        "page_sizes": ["4k", "3m"]}}})");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0],
            "test.json: /tlb/l1d_4k/page_sizes: expected a non-empty list of page sizes "
            "(\"4k\", \"2m\", \"1g\"); \"3m\" is not one");
  EXPECT_EQ(errors[1],
            "test.json: /tlb/l1d_4k/replacement: expected one of lru, plru, random; got \"lfu\"");
}

TEST(ConfigIo, CrossFieldChecksNameTheField) {
  const auto errors = errors_of(R"({"platform": {"cpus": 6, "topology": {"sockets": 4}},
                                    "tlb": {"stlb": {"replacement": "plru", "ways": 12}}})");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0],
            "test.json: /platform/cpus: must be a multiple of topology.sockets x "
            "topology.threads_per_core");
  EXPECT_EQ(errors[1],
            "test.json: /tlb/stlb/ways: plru replacement needs a power-of-two number of ways");
}

// Values that would exhaust the host are bounded; each rejection names the JSON path and the
// bound. The bounds: platform.cpus 1024, platform.memory.size 4 TiB (what the guest uses of it
// costs host memory), each TLB structure 65536 entries, the machine's TLB and
// paging-structure-cache entries 2^24, the timeline 10 million events, the time series a
// million samples, a sweep 100000 points.
TEST(ConfigIo, HostExhaustingValuesAreRejectedWithTheirBound) {
  const auto errors = errors_of(R"({
    "platform": {"cpus": 2000, "memory": {"size": "5TiB"}},
    "vmalloc": {"nr_cpus": 10000},
    "mmu": {"pde_cache": {"entries": 8192, "ways": 4}},
    "tlb": {"stlb": {"sets": 8192, "ways": 16}},
    "workload": {"scenarios": {"iterations_per_cpu": 1099511627777}},
    "output": {"timeline_max_events": 20000000, "max_samples": 2000000}
  })");
  ASSERT_EQ(errors.size(), 8u);
  EXPECT_EQ(errors[0], "test.json: /platform/cpus: expected an integer (1..1024), got 2000");
  EXPECT_EQ(errors[1],
            "test.json: /platform/memory/size: expected a size in bytes from 16MiB to 4TiB (a "
            "number, or a string such as \"4GiB\"), got 5TiB");
  EXPECT_EQ(errors[2],
            "test.json: /mmu/pde_cache/entries: expected an integer (0..4096), got 8192");
  EXPECT_EQ(errors[3],
            "test.json: /tlb/stlb/sets: sets x ways is 131072 entries, above the 65536 one "
            "structure may have");
  EXPECT_EQ(errors[4], "test.json: /vmalloc/nr_cpus: expected an integer (1..8192), got 10000");
  EXPECT_EQ(errors[5],
            "test.json: /workload/scenarios/iterations_per_cpu: expected an integer "
            "(1..1099511627776), got 1099511627777");
  EXPECT_EQ(errors[6],
            "test.json: /output/timeline_max_events: expected an integer (1..10000000), got "
            "20000000");
  EXPECT_EQ(errors[7],
            "test.json: /output/max_samples: expected an integer (2..1000000), got 2000000");
}

TEST(ConfigIo, TheMachinesTranslationEntriesAreBounded) {
  // 1024 CPUs, each with an STLB of 4096 x 12 = 49152 entries: with the other structures'
  // defaults (L1 ITLB 128 + 8, L1 DTLB 64 + 32 + 4, STLB 1 GiB 16) 49404 TLB entries, and
  // 2 + 4 + 4 + 32 = 42 paging-structure-cache entries: 49446 per CPU, 50632704 in all.
  const auto errors = errors_of(R"({"platform": {"cpus": 1024}, "tlb": {"stlb": {"sets": 4096}}})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            "test.json: platform.cpus: 1024 CPUs x 49446 TLB and paging-structure-cache entries "
            "each (tlb.*.sets x ways, mmu.*_cache.entries) = 50632704 entries, above the "
            "16777216 a machine may have (so that a run fits in host memory)");
  // 339 CPUs of it fit (16762194 entries); 340 do not (16811640).
  EXPECT_TRUE(errors_of(R"({"platform": {"cpus": 339}, "tlb": {"stlb": {"sets": 4096}}})").empty());
  EXPECT_EQ(errors_of(R"({"platform": {"cpus": 340}, "tlb": {"stlb": {"sets": 4096}}})").size(),
            1u);
  // The largest machine with the default TLBs fits.
  EXPECT_TRUE(errors_of(R"({"platform": {"cpus": 1024}})").empty());
}

TEST(ConfigIo, BoundsApplyToOverridesToo) {
  const auto errors =
      errors_of("{}", {"platform.cpus=4096", "tlb.l1d_4k.ways=64", "tlb.l1d_4k.sets=2048"});
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0],
            "test.json (with --set): /platform/cpus: expected an integer (1..1024), got 4096");
  EXPECT_EQ(errors[1],
            "test.json (with --set): /tlb/l1d_4k/sets: sets x ways is 131072 entries, above the "
            "65536 one structure may have");
}

TEST(ConfigIo, SweepPointsAreBounded) {
  // 100 x 100 x 11 = 110000 points, above the 100000 a sweep may have.
  std::string values;
  for (int i = 1; i <= 100; ++i)
    values += (i == 1 ? "" : ", ") + std::to_string(i);
  const std::string text = R"({"sweep": {"run.seed": [)" + values + R"(], "run.max_ops": [)" +
                           values +
                           R"(], "run.quantum_cycles": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}})";
  try {
    parse_sweep(text, "test.json", "/base", {});
    FAIL() << "a sweep of 110000 points was accepted";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.errors().size(), 1u);
    EXPECT_EQ(e.errors()[0],
              "test.json: sweep: more than 100000 points; split it into several sweeps");
  }
}

TEST(ConfigIo, SectionMustBeAnObject) {
  const auto errors = errors_of(R"({"platform": 4})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "test.json: /platform: expected an object, got 4");
}

TEST(ConfigIo, SyntaxErrorGivesLineAndColumn) {
  const auto errors = errors_of("{\n  \"platform\": {\n    \"cpus\": 4,\n  }\n}");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("test.json:4:3: JSON syntax error", 0), 0u) << errors[0];
}

TEST(ConfigIo, TopLevelMustBeAnObject) {
  const auto errors = errors_of("[1, 2]");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "test.json: the configuration must be a JSON object");
}

TEST(ConfigIo, OverridesAreTypedBySchema) {
  const ExperimentConfig config =
      parse_config("{}", "test.json", "",
                   {"platform.cpus=32", "mmu.pcid=off", "platform.memory.size=1GiB",
                    "tlb.stlb.page_sizes=4k,2m,1g", "tlb.stlb.replacement=random"});
  EXPECT_EQ(config.platform.cpus, 32u);
  EXPECT_FALSE(config.mmu.pcid);
  EXPECT_EQ(config.platform.memory.size_bytes, std::uint64_t{1} << 30);
  EXPECT_EQ(config.tlb.stlb.page_sizes, tlb::k4K | tlb::k2M | tlb::k1G);
  EXPECT_EQ(config.tlb.stlb.replacement, tlb::Replacement::kRandom);
}

TEST(ConfigIo, OverrideErrors) {
  auto errors = errors_of("{}", {"platform.cpu=4"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            "--set platform.cpu=4: unknown key 'platform.cpu'; 'mmusim list' shows every key");
  errors = errors_of("{}", {"stlb.ways=4"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            "--set stlb.ways=4: unknown key 'stlb.ways' (did you mean: tlb.stlb.ways); "
            "'mmusim list' shows every key");
  errors = errors_of("{}", {"tlb.ways=4"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("--set tlb.ways=4: unknown key 'tlb.ways' (did you mean: "
                            "mmu.pml5e_cache.ways, mmu.pml4e_cache.ways,",
                            0),
            0u)
      << errors[0];
  errors = errors_of("{}", {"platform.cpus=many"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "--set platform.cpus=many: expected an integer (1..1024)");
  errors = errors_of("{}", {"platform=4"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "--set platform=4: 'platform' is a section, not a value");
  // A well-typed override that is out of range is caught by the reader, with the path.
  errors = errors_of("{}", {"platform.cpus=0"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            "test.json (with --set): /platform/cpus: expected an integer (1..1024), got 0");
}

// Found by fuzzing (tests/fuzz/corpus/set/crash-*): a --set value that is not UTF-8 made
// nlohmann::json throw type_error (an internal error, exit status 1) when the value was
// quoted in a message or written back as JSON. It is the user's mistake, reported as one.
TEST(ConfigIo, OverrideValueMustBeUtf8) {
  for (const std::string& assignment :
       {std::string("flush.mechanism=\xfb"), std::string("description=\xc2"),
        std::string("tlb.stlb.replacement=\xff"), std::string("platform.memory.size=4\xe0\x80K"),
        std::string("description=\xed\xa0\x80"), std::string("description=\xf4\x90\x80\x80")}) {
    const auto errors = errors_of("{}", {assignment});
    ASSERT_EQ(errors.size(), 1u) << assignment;
    EXPECT_EQ(errors[0], "--set " + assignment.substr(0, assignment.find('=')) +
                             "=...: the value is not valid UTF-8 text");
  }
  // Well-formed UTF-8 is a value like any other.
  const ExperimentConfig config =
      parse_config("{}", "test.json", "", {"description=caf\xc3\xa9 \xf0\x9f\x99\x82"});
  EXPECT_EQ(config.description, "caf\xc3\xa9 \xf0\x9f\x99\x82");
  EXPECT_NO_THROW(config_to_json(config).dump());
}

// Found by fuzzing (tests/fuzz/corpus/config/crash-*): a number beyond a double made the JSON
// parser throw out_of_range, which was reported as an internal error (exit status 1).
TEST(ConfigIo, NumberBeyondADoubleIsAConfigError) {
  EXPECT_EQ(errors_of("3e425"),
            std::vector<std::string>{"test.json: JSON number overflow parsing '3e425'"});
  EXPECT_EQ(errors_of(R"({"platform": {"cpus": 7E777}})"),
            std::vector<std::string>{"test.json: JSON number overflow parsing '7E777'"});
}

TEST(ConfigIo, ResolvedConfigRoundTrips) {
  const ExperimentConfig config = parse_config(
      R"({"platform": {"cpus": 8, "memory": {"size": 3221225472}},
          "tlb": {"l1d_4k": {"page_sizes": ["4k", "2m"]}}})",
      "test.json", "");
  const auto json = config_to_json(config);
  EXPECT_EQ(json["platform"]["memory"]["size"], "3GiB");
  EXPECT_EQ(json["tlb"]["l1d_4k"]["page_sizes"], nlohmann::ordered_json::parse(R"(["4k","2m"])"));
  const ExperimentConfig again = parse_config(json.dump(), "resolved.json", "");
  EXPECT_EQ(config_to_json(again), json);
}

TEST(ConfigIo, SchemaListsEveryKeyWithItsDefault) {
  const auto rows = config_schema();
  auto find = [&](const std::string& key) {
    return std::find_if(rows.begin(), rows.end(), [&](const SchemaRow& r) { return r.key == key; });
  };
  auto ways = find("tlb.stlb.ways");
  ASSERT_NE(ways, rows.end());
  EXPECT_EQ(ways->type, "integer");
  EXPECT_EQ(ways->default_value, "12");
  EXPECT_EQ(ways->range, "1..64");
  auto size = find("platform.memory.size");
  ASSERT_NE(size, rows.end());
  EXPECT_EQ(size->type, "bytes");
  EXPECT_EQ(size->default_value, "16GiB");
  auto kind = find("workload.kind");
  ASSERT_NE(kind, rows.end());
  EXPECT_EQ(kind->range, "trace, hw_synthetic, test_vmalloc, scenarios");
  for (const SchemaRow& row : rows)
    EXPECT_FALSE(row.description.empty()) << row.key;
}

TEST(ConfigIo, BytesFormatting) {
  std::uint64_t value = 0;
  EXPECT_TRUE(parse_bytes("16GiB", value));
  EXPECT_EQ(value, std::uint64_t{16} << 30);
  EXPECT_TRUE(parse_bytes("512M", value));
  EXPECT_EQ(value, std::uint64_t{512} << 20);
  EXPECT_TRUE(parse_bytes("0x1000", value));
  EXPECT_EQ(value, 4096u);
  EXPECT_FALSE(parse_bytes("12 GiB", value));
  EXPECT_FALSE(parse_bytes("GiB", value));
  EXPECT_EQ(format_bytes(std::uint64_t{16} << 30), "16GiB");
  EXPECT_EQ(format_bytes(1536), "1536");
  EXPECT_EQ(format_bytes(3 << 10), "3KiB");
}

TEST(ConfigIo, BuiltInDefaultConfigIsItsSweepsBase) {
  // configs/default.json is a sweep of two points; a plain run (a replay without --config)
  // takes the configuration they share, without the sweep: Linux 4.19's lazy purging, which
  // is the sweep's second point.
  const ExperimentConfig config = default_config();
  EXPECT_FALSE(config.description.empty());
  EXPECT_EQ(config.platform.cpus, 16u);
  EXPECT_EQ(config.platform.topology.sockets, 2u);
  EXPECT_EQ(config.workload.kind, workloads::WorkloadKind::kScenarios);
  EXPECT_GT(config.workload.background.pages, 0u);
  EXPECT_EQ(config.vmalloc.lazy_max_pages_mode, vmalloc::LazyMaxPages::kLinux);
  const std::optional<Sweep> sweep = default_sweep({});
  ASSERT_TRUE(sweep.has_value());
  ASSERT_EQ(sweep->points.size(), 2u);
  EXPECT_EQ(config_to_json(config), config_to_json(point_config(*sweep, 1)));
  // Overrides reach the base as they reach a file's configuration.
  EXPECT_EQ(default_config({"platform.cpus=4"}).platform.cpus, 4u);
}

}  // namespace
}  // namespace mmusim::sim
