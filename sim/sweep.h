// Parameter sweeps: a configuration's top-level "sweep" object names dotted keys and the values
// each takes; the experiment runs once per point of their cross product, each point being the
// base configuration with those keys set exactly as --set sets them. A sweep key may join
// several dotted keys with '+' ("a.min+a.max"): each value is then set on all of them, for
// keys that must move together. This file expands and validates sweeps, names the points'
// folders, builds the command line that runs one point, runs points as child processes, turns
// the points' stats.json into results.csv and results.json, and words the summary table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/config.h"

namespace mmusim::sim {

// One swept key and the values it takes, in the order written.
struct SweepAxis {
  std::string key;                             // as written, e.g. "platform.cpus" or "a.min+a.max"
  std::vector<std::string> keys;               // the dotted keys each value is set on
  std::vector<nlohmann::ordered_json> values;  // as written in the sweep
  std::vector<std::string> texts;              // each as the right-hand side of --set
};

// One point of the cross product.
struct SweepPoint {
  std::size_t index = 0;
  std::vector<std::size_t> choice;     // per axis: the index of its value
  std::vector<std::string> overrides;  // "key=value", one per key of each axis, in axis order
  std::string dir;                     // its sub-folder under the sweep's output folder
};

struct Sweep {
  std::string name;                    // the configuration as the user named it (labels messages)
  std::string config_path;             // the configuration, absolute ("" when built in)
  bool built_in = false;               // configs/default.json inside the binary: its points run
                                       // as `mmusim --point K`, from any folder
  std::string base_dir;                // relative paths inside resolve against this folder
  nlohmann::json base;                 // the configuration without "sweep" and without --set
  std::vector<std::string> overrides;  // --set, applied to every point before its own keys
  std::vector<SweepAxis> axes;         // keys in the order written; the last varies fastest
  std::vector<SweepPoint> points;
  SweepCompare compare = SweepCompare::kAuto;  // output.sweep_compare of the points
};

// The most points one sweep may have.
inline constexpr std::size_t kMaxSweepPoints = 100000;

// Reads the "sweep" of a configuration text; std::nullopt when it has none. Checks the sweep's
// shape, its keys and every value's type, and validates the configuration of every point, or
// only of `only_point` when given (which must exist). Throws ConfigError naming `name` and the
// JSON path of each problem (e.g. "c.json: sweep.platform.cpus[2]: ...").
std::optional<Sweep> parse_sweep(const std::string& text, const std::string& name,
                                 const std::string& base_dir,
                                 const std::vector<std::string>& overrides,
                                 std::optional<std::size_t> only_point = std::nullopt);
// The same for a configuration file.
std::optional<Sweep> load_sweep(const std::string& path, const std::vector<std::string>& overrides,
                                std::optional<std::size_t> only_point = std::nullopt);
// The same for the configuration built into the binary (configs/default.json).
std::optional<Sweep> default_sweep(const std::vector<std::string>& overrides,
                                   std::optional<std::size_t> only_point = std::nullopt);

// The resolved configuration of one point.
ExperimentConfig point_config(const Sweep& sweep, std::size_t point);
// "point 3 (platform.cpus=16, flush.mechanism=invlpgb)".
std::string describe_point(const Sweep& sweep, std::size_t point);
// A readable, filesystem-safe folder name: "p003_platform.cpus=16_flush.mechanism=invlpgb",
// shortened when long (to each key's last part: "p003_cpus=16_mechanism=invlpgb"); the index
// (at least three digits) keeps names unique.
std::string point_dir_name(std::size_t index, std::size_t count,
                           const std::vector<std::string>& keys,
                           const std::vector<std::string>& texts);

// sweep.json: the base configuration's path, the --set overrides, the sweep as written and
// every point with its folder and values, so that the results can be rebuilt from the folders.
nlohmann::ordered_json sweep_to_json(const Sweep& sweep);
// Reads sweep.json back (the points, their folders and values; not the base configuration).
// Throws ConfigError naming `name` and the JSON path of a problem.
Sweep sweep_from_json(const std::string& text, const std::string& name);

// The arguments (argv, program first) that run one point into `point_out_dir`.
std::vector<std::string> point_command(const Sweep& sweep, std::size_t point,
                                       const std::string& binary, const std::string& point_out_dir);
// A word quoted for the POSIX shell when it needs to be.
std::string shell_quote(const std::string& word);
// A Slurm array job script running every point of the sweep (one array task per point).
std::string slurm_script(const Sweep& sweep, const std::string& binary, const std::string& out_dir);

// How a child process running one point ended.
struct PointExit {
  std::size_t point = 0;
  int exit_status = 0;      // the child's exit status; 1 when it died of a signal
  std::string error;        // what it wrote on stderr (or why it could not start)
  double wall_seconds = 0;  // host time, for progress estimates only
};
// Runs one child process per command, at most `jobs` at once, in list order, and calls `done`
// as each ends. `program` is what is executed (argv[0] only names it). Each child's stderr is
// captured through a file in `scratch_dir`; its stdin and stdout are /dev/null. Waits for any
// child: the caller must have no other child processes.
void run_children(const std::string& program, const std::vector<std::vector<std::string>>& commands,
                  int jobs, const std::string& scratch_dir,
                  const std::function<void(const PointExit&)>& done);

// One row of results.csv and results.json per completed point, in point order.
struct SweepResults {
  std::vector<std::string> columns;
  struct Cell {
    std::string csv;
    std::string json;
  };
  std::vector<std::vector<Cell>> rows;
  std::vector<std::string> failed;  // "DIR (point K): why", one per point not in the rows
};
// The results row of one point from its stats.json (0 for a section that is absent).
std::vector<SweepResults::Cell> result_row(const Sweep& sweep, std::size_t point,
                                           const nlohmann::json& stats);
// Reads each point's stats.json under `out_dir`. A point with a non-empty `errors[point]` (a
// run that failed), or whose stats.json is missing or unreadable, is listed as failed.
SweepResults gather_results(const Sweep& sweep, const std::string& out_dir,
                            const std::vector<std::string>& errors);
std::string results_csv(const SweepResults& results);
std::string results_json(const SweepResults& results);
// Writes results.csv, results.json and failed.txt (removed when nothing failed) into
// `out_dir`, each atomically. Returns what went wrong, or "".
std::string write_results(const SweepResults& results, const std::string& out_dir);

// The table a finished sweep prints: a row per completed point (the first `max_rows`) with its
// swept values, kernel TLB flushes started (shootdowns), IPIs sent, full flushes, TLB
// maintenance cycles per CPU and their share of the busy cycles, page walks and simulated time;
// then, as `compare` asks, each compared point's difference from the first row and its ratio
// to it. Ends with a line saying what the columns count.
std::string sweep_table(const SweepResults& results, SweepCompare compare, std::size_t max_rows);

}  // namespace mmusim::sim
