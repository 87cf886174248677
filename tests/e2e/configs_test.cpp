// The configurations shipped in configs/: every one is valid, every ready-made experiment of
// configs/experiments/ is a sweep that says how to run and plot it, and each runs to
// completion at a tiny scale.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/cli_fixture.h"

namespace {

namespace fs = std::filesystem;
using mmusim::test_support::CliFixture;
using mmusim::test_support::Outcome;
using mmusim::test_support::slurp;
using nlohmann::json;

const fs::path kConfigs = fs::path(MMUSIM_SOURCE_DIR) / "configs";

// Every .json file under `dir`, in name order.
std::vector<fs::path> json_files(const fs::path& dir) {
  std::set<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.insert(entry.path());
  }
  return {files.begin(), files.end()};
}

class Configs : public CliFixture {
 protected:
  Configs() : CliFixture("mmusim_configs") {}
};

TEST_F(Configs, EveryConfigurationValidates) {
  const std::vector<fs::path> files = json_files(kConfigs);
  ASSERT_NE(std::find(files.begin(), files.end(), kConfigs / "default.json"), files.end());
  for (const fs::path& file : files) {
    const Outcome validate = mmusim("validate '" + file.string() + "'");
    EXPECT_EQ(validate.status, 0) << file.string() << ":\n" << validate.err;
    EXPECT_EQ(validate.out.rfind(file.string() + ": valid", 0), 0u) << validate.out;
  }
}

TEST_F(Configs, EveryExperimentIsASweepThatSaysHowToRunAndPlotIt) {
  const std::vector<fs::path> files = json_files(kConfigs / "experiments");
  ASSERT_GE(files.size(), 9u);
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.string());
    const std::string text = slurp(file);
    const json config = json::parse(text, nullptr, /*allow_exceptions=*/false,
                                    /*ignore_comments=*/true);
    ASSERT_TRUE(config.is_object());
    EXPECT_TRUE(config.contains("sweep"));
    EXPECT_TRUE(config.contains("description"));
    // The comment block at the top: the command that runs it and the one that plots it.
    EXPECT_EQ(text.rfind("// ", 0), 0u);
    const std::string name = "configs/experiments/" + file.filename().string();
    EXPECT_NE(text.find("//   mmusim run " + name + " "), std::string::npos);
    EXPECT_NE(text.find("//   scripts/plot out/"), std::string::npos);
    EXPECT_NE(text.find("of host time"), std::string::npos);
  }
}

// --set overrides that make an experiment tiny, by workload kind.
std::vector<std::string> tiny_overrides(const std::string& kind) {
  if (kind == "scenarios") return {"workload.scenarios.iterations_per_cpu=1"};
  if (kind == "test_vmalloc") {
    // One loop of fix_size_alloc_test, once.
    return {"workload.test_vmalloc.test_loop_count=1", "workload.test_vmalloc.test_repeat_count=1",
            "workload.test_vmalloc.run_test_mask=1"};
  }
  return {};
}

TEST_F(Configs, EveryExperimentRunsAtATinyScale) {
  for (const fs::path& file : json_files(kConfigs / "experiments")) {
    SCOPED_TRACE(file.string());
    const json config = json::parse(slurp(file), nullptr, /*allow_exceptions=*/false,
                                    /*ignore_comments=*/true);
    ASSERT_TRUE(config.is_object());
    const std::string kind = config["workload"].value("kind", "hw_synthetic");
    const std::vector<std::string> overrides = tiny_overrides(kind);
    ASSERT_FALSE(overrides.empty()) << "no tiny-scale overrides for workload kind " << kind;
    std::string args = "run '" + file.string() + "' --jobs 2 -q --out " + file.stem().string();
    for (const std::string& assignment : overrides) {
      // A swept key takes its values from the sweep.
      if (!config["sweep"].contains(assignment.substr(0, assignment.find('=')))) {
        args += " --set " + assignment;
      }
    }
    const Outcome run = mmusim(args);
    ASSERT_EQ(run.status, 0) << run.err;
    EXPECT_EQ(run.err, "");
    std::size_t points = 1;
    for (const auto& values : config["sweep"])
      points *= values.size();
    const json results = json::parse(slurp(dir_ / file.stem() / "results.json"));
    ASSERT_EQ(results.size(), points);
    for (const json& row : results) {
      EXPECT_EQ(row["stop_reason"], "completed") << row["dir"];
      EXPECT_EQ(row["kernel_bugs"], 0) << row["dir"];
      EXPECT_EQ(row["stale_tlb_hits"], 0) << row["dir"];
    }
  }
}

}  // namespace
