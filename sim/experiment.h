// Runs one experiment: builds the platform and the workload from a resolved configuration,
// simulates to the end, gathers the statistics and writes the output folder.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/config.h"
#include "sim/platform.h"

namespace mmusim::sim {

struct RunOptions {
  std::string out_dir = "out";
  std::string config_name;    // shown in the summary
  std::string record_path;    // write every executed op to this trace (empty: do not)
  std::string timeline_path;  // write a Chrome trace-event timeline (empty: do not)
  bool write_outputs = true;
};

struct RunResult {
  nlohmann::ordered_json stats;
  StopReason stop_reason = StopReason::kCompleted;
  std::string stop_detail;
  std::vector<std::string> warnings;
  std::string summary;  // a short human-readable account
};

// Throws ConfigError, workloads::TraceError or std::invalid_argument for the user's mistakes
// (nothing is written then) and std::runtime_error for failures writing the outputs.
RunResult run_experiment(const ExperimentConfig& config, const RunOptions& options);

// The statistics of a finished platform, as written to stats.json (without "host").
nlohmann::ordered_json collect_stats(const Platform& platform);

// Writes `text` to `path` through a temporary file renamed into place, so a reader never sees
// a half-written file. Throws std::runtime_error.
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace mmusim::sim
