// Runs one experiment: builds the platform and the workload from a resolved configuration,
// simulates to the end, gathers the statistics and writes the output folder.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
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
  // Called with the ops executed so far and the executing CPU's cycle, every
  // Platform::kProgressInterval ops, for a progress display. Must not throw; cannot change
  // the statistics.
  std::function<void(std::uint64_t ops, std::uint64_t cycles)> progress;
};

struct RunResult {
  // Set when the run failed once simulation had started (a malformed trace line met during
  // the run, an output that could not be written); nothing was written then. Such failures
  // are reported here rather than thrown: with SystemC's coroutine threads, AddressSanitizer
  // cannot follow an exception thrown on the main stack after the simulation ran.
  std::string error;
  bool input_error = false;  // the user's input was wrong (exit status 2), else 1
  // The signal (SIGINT, SIGTERM) that interrupted the run before its outputs were written, or
  // 0; nothing was written then, and no temporary file is left.
  int interrupted = 0;
  nlohmann::ordered_json stats;
  StopReason stop_reason = StopReason::kCompleted;
  std::string stop_detail;
  std::vector<std::string> warnings;
  std::string summary;  // a short human-readable account
};

// Throws ConfigError, workloads::TraceError or std::invalid_argument for the user's mistakes
// found before simulation starts (nothing is written then); failures after that are in
// RunResult::error.
RunResult run_experiment(const ExperimentConfig& config, const RunOptions& options);

// The statistics of a finished platform, as written to stats.json (without "host").
nlohmann::ordered_json collect_stats(const Platform& platform);

// Writes `text` to `path` through a temporary file renamed into place, so a reader never sees
// a half-written file. Returns what went wrong, or "".
std::string write_file_atomically(const std::string& path, const std::string& text);
// Writes each (path, text) to a temporary file first, and renames them into place only when all
// were written, so that a failure leaves the earlier files (if any) as they were. Returns what
// went wrong, or "".
std::string write_files_atomically(const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace mmusim::sim
