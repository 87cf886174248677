// The mmusim command line.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <boost/program_options.hpp>
#include <systemc>

#include "sim/config_io.h"
#include "sim/cpu_stats.h"
#include "sim/experiment.h"
#include "sim/interrupt.h"
#include "sim/stats_io.h"
#include "sim/sweep.h"
#include "sim/version.h"
#include "tlb/config.h"
#include "workloads/trace.h"
#include "workloads/workload.h"

namespace po = boost::program_options;
using namespace mmusim;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitInternal = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsage = R"(mmusim - a cycle-approximate x86-64 MMU and TLB simulator

Usage:
  mmusim [OPTIONS]                      run the default experiment (configs/default.json, built
                                        in): lazy against eager vmalloc purging on 16 CPUs, a
                                        sweep of two points; --point K runs one of them
  mmusim run CONFIG.json [OPTIONS]      run an experiment, or every point of its sweep
  mmusim run SWEEP.json --point K [OPTIONS]
                                        run only point K of a sweep, as a plain run
  mmusim run SWEEP.json --emit-jobs [--out DIR]
                                        print one shell command per point (for GNU parallel)
  mmusim run SWEEP.json --emit-slurm FILE [--out DIR]
                                        write a Slurm array job script, one task per point
  mmusim collect DIR                    gather DIR/results.csv and results.json from the
                                        points of a sweep that ran as separate jobs
  mmusim replay TRACE [--config CONFIG.json] [OPTIONS]
                                        replay a trace (on CONFIG's machine, a sweep's base
                                        without its swept keys; or on the default's, with
                                        the CPUs the trace declares on one socket)
  mmusim validate [CONFIG.json] [--set K=V ...]
                                        check a configuration (every point of a sweep; the
                                        built-in default without a file)
  mmusim list                           every config key (type, default, range, meaning),
                                        every workload, policy and statistic

Each run writes OUT/stats.json (the statistics) and OUT/config.json (the fully resolved
configuration, which runs again to the same result).

A configuration with a top-level "sweep": {"dotted.key": [values, ...], ...} runs once per
point of the values' cross product (the last key varying fastest), each point being the
configuration with those keys set as --set sets them ("a.min+a.max": each value is set on
both keys). Each point writes OUT/pNNN_key=value.../;
OUT gets results.csv and results.json (one row per completed point), sweep.json (the sweep's
definition, read by 'collect') and failed.txt when points failed; a table of the points'
headline numbers is printed (output.sweep_compare adds differences and ratios).

Exit status: 0 done; 2 bad usage, configuration or trace; 1 internal error. A sweep exits
with 1 or 2 when a point failed (1 if any failure was internal), after running the others.
SIGINT or SIGTERM stops a run cleanly: nothing is written (every file goes to a temporary
name first), the previous result stays, and the exit status is 130 or 143.
)";

constexpr const char* kExamples = R"(
Examples:
  mmusim
  mmusim --point 1 --out out/eager
  mmusim run configs/experiments/lazy-max-pages.json --jobs 2 --out out/lazy
  mmusim run configs/default.json --set platform.cpus=32 --out out/32cpus
  mmusim replay my.trace --config configs/default.json
  mmusim run configs/examples/sweep-cpus.json --jobs 2 --out out/sweep
  mmusim run configs/examples/sweep-cpus.json --out out/sweep --emit-jobs | parallel -j 8
  mmusim collect out/sweep
  mmusim run configs/examples/sweep-cpus.json --out out/sweep --emit-slurm sweep.sh
  mmusim list | grep tlb.stlb
)";

struct Cli {
  std::string command;
  std::vector<std::string> targets;
  std::vector<std::string> overrides;
  std::string out_dir = "out";
  std::string record_path;
  std::string timeline_path;
  std::string config_path;
  bool quiet = false;
  // Sweeps.
  int jobs = 1;
  bool jobs_given = false;
  std::optional<std::size_t> point;
  bool emit_jobs = false;
  std::string emit_slurm;
};

int fail_usage(const std::string& message) {
  std::cerr << "mmusim: " << message << "\n(see 'mmusim --help')\n";
  return kExitUsage;
}

void print_list() {
  std::cout << "Configuration keys (set them in the JSON file, or with --set KEY=VALUE):\n\n";
  for (const sim::SchemaRow& row : sim::config_schema()) {
    if (row.section) {
      std::cout << row.key << "  -- " << row.description << "\n";
      continue;
    }
    std::cout << "  " << std::left << std::setw(40) << row.key << " " << std::setw(10) << row.type
              << " default " << row.default_value;
    if (!row.range.empty()) std::cout << "  [" << row.range << "]";
    std::cout << "\n      " << row.description << "\n";
  }
  std::cout << "\nWorkloads (workload.kind):\n\n";
  for (const workloads::WorkloadInfo& info : workloads::workload_catalog()) {
    std::cout << "  " << info.name << "\n      " << info.description << "\n";
  }
  std::cout << "\nTLB replacement policies (tlb.*.replacement):\n\n";
  std::cout << "  lru     least recently used, exact\n"
               "  plru    tree pseudo-LRU (needs a power-of-two number of ways)\n"
               "  random  a seeded random way\n";
  std::cout << "\nStatistics (stats.json: 'total' sums the CPUs; 'per_cpu' has each):\n\n";
  std::vector<sim::StatRow> rows;
  sim::CpuStats stats;
  sim::StatsDescriber describer(rows, "");
  stats.visit(describer);
  for (const sim::StatRow& row : rows) {
    std::cout << "  " << std::left << std::setw(48) << row.name << " " << std::setw(7) << row.unit
              << row.description << "\n";
  }
}

std::string with_commas(std::uint64_t value) {
  std::string digits = std::to_string(value);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3)
    digits.insert(i, ",");
  return digits;
}

// "42 s", "3:07", "1:02:03".
std::string duration_text(double seconds) {
  const auto total = static_cast<std::uint64_t>(seconds < 0 ? 0 : seconds + 0.5);
  char buf[48];
  if (total < 60) {
    std::snprintf(buf, sizeof buf, "%u s", static_cast<unsigned>(total));
  } else if (total < 3600) {
    std::snprintf(buf, sizeof buf, "%u:%02u", static_cast<unsigned>(total / 60),
                  static_cast<unsigned>(total % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%llu:%02u:%02u", static_cast<unsigned long long>(total / 3600),
                  static_cast<unsigned>(total / 60 % 60), static_cast<unsigned>(total % 60));
  }
  return buf;
}

// One line of progress on stderr, rewritten in place with '\r'; only when stderr is a terminal
// and --quiet is not given, so logs and pipes never see it.
class ProgressLine {
 public:
  explicit ProgressLine(bool quiet) : enabled_(!quiet && isatty(STDERR_FILENO) == 1) {}
  ~ProgressLine() { finish(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  [[nodiscard]] bool enabled() const { return enabled_; }
  void show(const std::string& text) {
    if (!enabled_) return;
    // Blanks cover what a longer previous line left.
    const std::size_t pad = shown_ > text.size() ? shown_ - text.size() : 0;
    std::fprintf(stderr, "\r%s%*s", text.c_str(), static_cast<int>(pad), "");
    std::fflush(stderr);
    shown_ = text.size();
  }
  // Ends the line, so that what follows starts on a fresh one.
  void finish() {
    if (shown_ == 0) return;
    std::fputc('\n', stderr);
    std::fflush(stderr);
    shown_ = 0;
  }

 private:
  bool enabled_;
  std::size_t shown_ = 0;
};

// A run's progress: simulated ops and cycles, at most about once a second of wall time, and
// with run.max_ops (or run.max_cycles) a percentage and an estimate of the time left.
std::function<void(std::uint64_t, std::uint64_t)> run_progress(
    ProgressLine& line, const sim::ExperimentConfig& config) {
  if (!line.enabled()) return {};
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  auto next = std::make_shared<Clock::time_point>(start + std::chrono::seconds(1));
  const std::uint64_t max_ops = config.run.max_ops;
  const std::uint64_t max_cycles = config.run.max_cycles;
  return [&line, start, next, max_ops, max_cycles](std::uint64_t ops, std::uint64_t cycles) {
    const Clock::time_point now = Clock::now();
    if (now < *next) return;
    *next = now + std::chrono::seconds(1);
    std::string text = "mmusim: " + with_commas(ops) + " ops, " + with_commas(cycles) + " cycles";
    double done = 0;
    if (max_ops != 0) done = static_cast<double>(ops) / max_ops;
    if (max_cycles != 0) done = std::max(done, static_cast<double>(cycles) / max_cycles);
    if (done > 0) {
      done = std::min(done, 1.0);
      const double elapsed = std::chrono::duration<double>(now - start).count();
      char buf[64];
      std::snprintf(buf, sizeof buf, " (%.1f%%, ETA %s)", 100 * done,
                    duration_text(elapsed * (1 - done) / done).c_str());
      text += buf;
    }
    line.show(text);
  };
}

// Runs one experiment and reports it. Nothing may be thrown after the simulation ran: the
// failures come back in the RunResult.
int execute(const sim::ExperimentConfig& config, sim::RunOptions options, bool quiet) {
  ProgressLine line(quiet);
  options.progress = run_progress(line, config);
  const sim::RunResult result = sim::run_experiment(config, options);
  line.finish();
  if (result.interrupted != 0) {
    std::string files = (std::filesystem::path(options.out_dir) / "stats.json").string();
    if (!options.record_path.empty()) files += ", " + options.record_path;
    if (!options.timeline_path.empty()) files += ", " + options.timeline_path;
    std::cerr << "mmusim: interrupted by " << sim::signal_name(result.interrupted) << "; " << files
              << " not written (the previous result, if any, is untouched)\n";
    return 128 + result.interrupted;
  }
  if (!result.error.empty()) {
    std::cerr << "mmusim: " << (result.input_error ? "" : "internal error: ") << result.error
              << "\n";
    return result.input_error ? kExitUsage : kExitInternal;
  }
  for (const std::string& warning : result.warnings)
    std::cerr << "mmusim: warning: " << warning << "\n";
  if (!quiet) std::cout << result.summary;
  return kExitOk;
}

int run(const Cli& cli) {
  sim::ExperimentConfig config;
  sim::RunOptions options;
  options.out_dir = cli.out_dir;
  options.record_path = cli.record_path;
  options.timeline_path = cli.timeline_path;
  if (cli.command == "default") {
    config = sim::default_config(cli.overrides);
    options.config_name = sim::kDefaultConfigName;
  } else if (cli.command == "run") {
    config = sim::load_config_file(cli.targets[0], cli.overrides);
    options.config_name = cli.targets[0];
  } else {  // replay
    // The trace path is relative to where mmusim runs, not to the config file's folder.
    const std::string trace =
        cli.config_path.empty()
            ? cli.targets[0]
            : std::filesystem::absolute(cli.targets[0]).lexically_normal().string();
    std::vector<std::string> overrides = {"workload.kind=trace", "workload.trace.path=" + trace};
    if (cli.config_path.empty()) {
      workloads::TraceReader header(trace);
      if (header.declared_cpus() > 0) {
        // A machine built for the trace: its CPUs, on one socket (any count fits one; the
        // default's two sockets would need an even one). --set may change both.
        overrides.push_back("platform.cpus=" + std::to_string(header.declared_cpus()));
        overrides.push_back("platform.topology.sockets=1");
      }
    }
    overrides.insert(overrides.end(), cli.overrides.begin(), cli.overrides.end());
    config = cli.config_path.empty() ? sim::default_config(overrides)
                                     : sim::load_config_base(cli.config_path, overrides);
    options.config_name =
        cli.targets[0] + (cli.config_path.empty() ? "" : " on " + cli.config_path);
  }
  return execute(config, options, cli.quiet);
}

// The binary itself, for the commands a sweep emits.
std::string self_binary() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("mmusim") : self.string();
}

// Creates the sweep's output folder and writes sweep.json there. Returns what went wrong, or "".
std::string prepare_sweep_folder(const sim::Sweep& sweep, const std::filesystem::path& out) {
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) return out.string() + ": cannot create the output folder: " + ec.message();
  return sim::write_file_atomically((out / "sweep.json").string(),
                                    sim::sweep_to_json(sweep).dump(2) + "\n");
}

int emit_jobs(const Cli& cli, const sim::Sweep& sweep) {
  const std::filesystem::path out = std::filesystem::absolute(cli.out_dir).lexically_normal();
  const std::string binary = self_binary();
  std::string error = prepare_sweep_folder(sweep, out);
  if (error.empty() && !cli.emit_slurm.empty()) {
    error =
        sim::write_file_atomically(cli.emit_slurm, sim::slurm_script(sweep, binary, out.string()));
  }
  if (!error.empty()) {
    std::cerr << "mmusim: " << error << "\n";
    return kExitInternal;
  }
  if (cli.emit_jobs) {
    for (const sim::SweepPoint& point : sweep.points) {
      std::string line;
      for (const std::string& arg :
           sim::point_command(sweep, point.index, binary, (out / point.dir).string()))
        line += (line.empty() ? "" : " ") + sim::shell_quote(arg);
      std::cout << line << "\n";
    }
  } else if (!cli.quiet) {
    std::cout << cli.emit_slurm << ": a Slurm array of " << sweep.points.size()
              << " tasks; submit it with 'sbatch " << sim::shell_quote(cli.emit_slurm)
              << "', then gather the results with 'mmusim collect "
              << sim::shell_quote(out.string()) << "'\n";
  }
  return kExitOk;
}

// The child's stderr lines, each without its "mmusim: ".
std::vector<std::string> child_messages(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::string prefix = "mmusim: ";
    lines.push_back(line.compare(0, prefix.size(), prefix) == 0 ? line.substr(prefix.size())
                                                                : line);
  }
  return lines;
}

void print_sweep_summary(const sim::SweepResults& results, std::size_t points,
                         const std::filesystem::path& out, sim::SweepCompare compare) {
  std::cout << "sweep: " << results.rows.size() << " of " << points << " points completed";
  if (!results.failed.empty()) std::cout << ", " << results.failed.size() << " failed";
  std::cout << "\n";
  // A long sweep's table belongs in results.csv; the first rows give the idea.
  constexpr std::size_t kRowsShown = 40;
  std::cout << sim::sweep_table(results, compare, kRowsShown);
  std::cout << "  results        " << (out / "results.csv").string() << ", "
            << (out / "results.json").string() << "\n";
  if (!results.failed.empty())
    std::cout << "  failed         " << (out / "failed.txt").string() << "\n";
}

int run_sweep(const Cli& cli, const sim::Sweep& sweep) {
  const std::filesystem::path out = std::filesystem::absolute(cli.out_dir).lexically_normal();
  if (const std::string error = prepare_sweep_folder(sweep, out); !error.empty()) {
    std::cerr << "mmusim: " << error << "\n";
    return kExitInternal;
  }
  const std::string binary = self_binary();
  std::vector<std::vector<std::string>> commands;
  for (const sim::SweepPoint& point : sweep.points) {
    // A result an earlier sweep left in the folder would read as this one's if the point fails.
    std::error_code ignored;
    std::filesystem::remove(out / point.dir / "stats.json", ignored);
    commands.push_back(sim::point_command(sweep, point.index, binary, (out / point.dir).string()));
  }

  // SystemC runs one simulation per process at a time: every point runs in a child process,
  // so that --jobs runs several at once and any number of them gives the same results.
  const std::size_t total = sweep.points.size();
  std::vector<std::string> errors(total);
  bool internal_failure = false;
  std::size_t finished = 0;
  std::size_t failures = 0;
  double point_seconds = 0;
  ProgressLine line(cli.quiet);
  auto show_progress = [&] {
    std::string text =
        "mmusim: sweep " + std::to_string(finished) + "/" + std::to_string(total) + " points done";
    if (failures > 0) text += " (" + std::to_string(failures) + " failed)";
    if (finished > 0 && finished < total) {
      const double mean = point_seconds / finished;
      const double left = mean * static_cast<double>(total - finished) /
                          static_cast<double>(std::min<std::size_t>(cli.jobs, total - finished));
      text += ", ETA " + duration_text(left);
    }
    line.show(text);
  };
  show_progress();
  sim::run_children(
      "/proc/self/exe", commands, cli.jobs, out.string(), [&](const sim::PointExit& exit) {
        ++finished;
        point_seconds += exit.wall_seconds;
        const sim::SweepPoint& point = sweep.points[exit.point];
        // A point stopped by the sweep's own SIGINT or SIGTERM says so in the
        // sweep's one line below.
        const int signal = sim::interrupt_signal();
        const bool interrupted =
            signal != 0 && (exit.exit_status == 128 + signal ||
                            exit.error.find("killed by signal " + std::to_string(signal) + " ") !=
                                std::string::npos);
        const std::vector<std::string> messages =
            interrupted ? std::vector<std::string>{} : child_messages(exit.error);
        if (exit.exit_status != 0) {
          ++failures;
          if (exit.exit_status != kExitUsage) internal_failure = true;
          std::string error;
          for (const std::string& message : messages)
            error += message + "\n";
          if (error.empty()) {
            error = "exited with status " + std::to_string(exit.exit_status) + "\n";
          }
          errors[exit.point] = error;
        }
        if (!messages.empty()) {
          line.finish();
          for (const std::string& message : messages)
            std::cerr << "mmusim: " << point.dir << ": " << message << "\n";
        }
        show_progress();
      });
  line.finish();

  if (const int signal = sim::interrupt_signal(); signal != 0) {
    std::cerr << "mmusim: interrupted by " << sim::signal_name(signal) << " after "
              << finished - failures << " of " << total << " points; "
              << (out / "results.csv").string()
              << " and results.json not written (the previous results, if any, are untouched)\n";
    return 128 + signal;
  }
  const sim::SweepResults results = sim::gather_results(sweep, out.string(), errors);
  if (const std::string error = sim::write_results(results, out.string()); !error.empty()) {
    std::cerr << "mmusim: " << error << "\n";
    return kExitInternal;
  }
  if (!cli.quiet) print_sweep_summary(results, total, out, sweep.compare);
  if (results.failed.empty()) return kExitOk;
  // A point whose stats.json could not be read after a clean exit counts as internal too.
  if (results.failed.size() > failures) internal_failure = true;
  std::cerr << "mmusim: " << results.failed.size() << " of " << total << " points failed; see "
            << (out / "failed.txt").string() << "\n";
  return internal_failure ? kExitInternal : kExitUsage;
}

int collect(const Cli& cli) {
  const std::filesystem::path dir(cli.targets[0]);
  const std::string definition = (dir / "sweep.json").string();
  std::ifstream in(definition, std::ios::binary);
  if (!in) {
    throw sim::ConfigError(
        {definition + ": cannot open it (is " + dir.string() + " the --out of a sweep?)"});
  }
  std::stringstream text;
  text << in.rdbuf();
  const sim::Sweep sweep = sim::sweep_from_json(text.str(), definition);
  const sim::SweepResults results = sim::gather_results(sweep, dir.string(), {});
  if (const std::string error = sim::write_results(results, dir.string()); !error.empty()) {
    std::cerr << "mmusim: " << error << "\n";
    return kExitInternal;
  }
  if (!cli.quiet) print_sweep_summary(results, sweep.points.size(), dir, sweep.compare);
  for (const std::string& failed : results.failed)
    std::cerr << "mmusim: " << failed << "\n";
  return results.failed.empty() ? kExitOk : kExitInternal;
}

// `run CONFIG`, or the built-in configuration (no command): a plain run, or a sweep.
int run_config(const Cli& cli) {
  const bool built_in = cli.command == "default";
  const std::string name = built_in ? sim::kDefaultConfigName : cli.targets[0];
  const std::optional<sim::Sweep> sweep = built_in
                                              ? sim::default_sweep(cli.overrides, cli.point)
                                              : sim::load_sweep(name, cli.overrides, cli.point);
  if (!sweep) {
    if (cli.point || cli.emit_jobs || !cli.emit_slurm.empty()) {
      return fail_usage(name + " has no \"sweep\"; --point, --emit-jobs and --emit-slurm need one");
    }
    return run(cli);
  }
  if (cli.point) {
    sim::RunOptions options;
    options.out_dir = cli.out_dir;
    options.record_path = cli.record_path;
    options.timeline_path = cli.timeline_path;
    options.config_name = name + ", " + sim::describe_point(*sweep, *cli.point);
    return execute(sim::point_config(*sweep, *cli.point), options, cli.quiet);
  }
  if (!cli.record_path.empty() || !cli.timeline_path.empty()) {
    return fail_usage(
        "--record and --timeline write one run's file; with a sweep, give "
        "--point K as well");
  }
  if (cli.emit_jobs || !cli.emit_slurm.empty()) return emit_jobs(cli, *sweep);
  return run_sweep(cli, *sweep);
}

int dispatch(int argc, char* argv[]) {
  po::options_description options("Options");
  options.add_options()("help,h", "show this help")("version", "print the version")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "KEY=VALUE: override one config key (repeatable; 'mmusim list' shows the keys)")(
      "out", po::value<std::string>()->default_value("out"), "output folder")(
      "seed", po::value<std::uint64_t>(), "master seed (same as --set run.seed=N)")(
      "quiet,q", "print no summary and no progress")("record", po::value<std::string>(),
                                                     "FILE: write every executed op as a trace")(
      "timeline", po::value<std::string>(),
      "FILE: write the run as a Chrome trace-event timeline (open it in Perfetto)")(
      "config", po::value<std::string>(), "replay: the configuration to replay on")(
      "jobs,j", po::value<int>(), "N: run N points of a sweep at once (default 1)")(
      "point", po::value<std::size_t>(), "K: run only point K of a sweep, into --out")(
      "emit-jobs", "print one self-contained shell command per point of a sweep")(
      "emit-slurm", po::value<std::string>(),
      "FILE: write a Slurm array job script running every point of a sweep");
  po::options_description hidden;
  hidden.add_options()("command", po::value<std::string>())("target",
                                                            po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("command", 1).add("target", -1);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return fail_usage(e.what());
  }
  if (vm.count("help")) {
    std::cout << kUsage << "\n" << options << kExamples;
    return kExitOk;
  }
  if (vm.count("version")) {
    std::cout << "mmusim " << sim::kVersion << "\n";
    return kExitOk;
  }

  Cli cli;
  cli.command = vm.count("command") ? vm["command"].as<std::string>() : "default";
  if (vm.count("target")) cli.targets = vm["target"].as<std::vector<std::string>>();
  if (vm.count("set")) cli.overrides = vm["set"].as<std::vector<std::string>>();
  if (vm.count("seed"))
    cli.overrides.push_back("run.seed=" + std::to_string(vm["seed"].as<std::uint64_t>()));
  cli.out_dir = vm["out"].as<std::string>();
  cli.quiet = vm.count("quiet") != 0;
  if (vm.count("record")) cli.record_path = vm["record"].as<std::string>();
  if (vm.count("timeline")) cli.timeline_path = vm["timeline"].as<std::string>();
  if (vm.count("config")) cli.config_path = vm["config"].as<std::string>();
  if (vm.count("jobs")) {
    cli.jobs = vm["jobs"].as<int>();
    cli.jobs_given = true;
  }
  if (vm.count("point")) cli.point = vm["point"].as<std::size_t>();
  cli.emit_jobs = vm.count("emit-jobs") != 0;
  if (vm.count("emit-slurm")) cli.emit_slurm = vm["emit-slurm"].as<std::string>();

  const bool needs_one =
      cli.command == "run" || cli.command == "replay" || cli.command == "collect";
  const bool takes_one = needs_one || cli.command == "validate";
  if (cli.command != "default" && cli.command != "list" && !takes_one) {
    return fail_usage("unknown command '" + cli.command +
                      "' (commands: run, replay, validate, collect, list)");
  }
  const bool sweep_option = cli.jobs_given || cli.point || cli.emit_jobs || !cli.emit_slurm.empty();
  if (sweep_option && cli.command != "run" && cli.command != "default") {
    return fail_usage(
        "--jobs, --point, --emit-jobs and --emit-slurm go with 'run CONFIG.json' (or with no "
        "command, for the default experiment)");
  }
  // Each job is a whole simulation in its own process: more at once than this would exhaust
  // any host before it sped anything up.
  constexpr int kMaxJobs = 256;
  if (cli.jobs < 1 || cli.jobs > kMaxJobs) {
    return fail_usage("--jobs " + std::to_string(cli.jobs) + ": expected a number from 1 to " +
                      std::to_string(kMaxJobs));
  }
  if (cli.point && (cli.jobs_given || cli.emit_jobs || !cli.emit_slurm.empty())) {
    return fail_usage(
        "--point runs one point; it does not go with --jobs, --emit-jobs or "
        "--emit-slurm");
  }
  if (needs_one && cli.targets.size() != 1) {
    return fail_usage("'" + cli.command + "' takes exactly one " +
                      (cli.command == "collect" ? "folder" : "file"));
  }
  if (!needs_one && cli.targets.size() > (takes_one ? 1u : 0u)) {
    return fail_usage("unexpected argument '" + cli.targets[takes_one ? 1 : 0] + "'");
  }
  if (!cli.config_path.empty() && cli.command != "replay") {
    return fail_usage("--config only goes with 'replay' (use 'run CONFIG.json')");
  }

  try {
    if (cli.command == "list") {
      print_list();
      return kExitOk;
    }
    if (cli.command == "validate") {
      const bool built_in = cli.targets.empty();
      const std::string name = built_in ? sim::kDefaultConfigName : cli.targets[0];
      const std::optional<sim::Sweep> sweep =
          built_in ? sim::default_sweep(cli.overrides) : sim::load_sweep(name, cli.overrides);
      if (sweep) {
        std::cout << name << ": valid (a sweep of " << sweep->points.size() << " points)\n";
        return kExitOk;
      }
      if (built_in) {
        sim::default_config(cli.overrides);
      } else {
        sim::load_config_file(name, cli.overrides);
      }
      std::cout << name << ": valid\n";
      return kExitOk;
    }
    if (cli.command == "collect") return collect(cli);
    // From here on, SIGINT and SIGTERM stop the run cleanly instead of killing the process.
    sim::install_interrupt_handlers();
    if (cli.command == "run" || cli.command == "default") return run_config(cli);
    return run(cli);
  } catch (const sim::ConfigError& e) {
    for (const std::string& error : e.errors())
      std::cerr << "mmusim: " << error << "\n";
    return kExitUsage;
  } catch (const workloads::TraceError& e) {
    std::cerr << "mmusim: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::invalid_argument& e) {
    std::cerr << "mmusim: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "mmusim: internal error: " << e.what() << "\n";
    return kExitInternal;
  }
}

}  // namespace

int sc_main(int argc, char* argv[]) {
  try {
    return dispatch(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "mmusim: internal error: " << e.what() << "\n";
    return kExitInternal;
  }
}

// SystemC prints its banner in sc_elab_and_sim() unless this variable is set; set it first so
// that logs and golden outputs stay clean.
int main(int argc, char* argv[]) {
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);
  return sc_core::sc_elab_and_sim(argc, argv);
}
