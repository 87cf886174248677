// The mmusim command line.
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <systemc>

#include "sim/config_io.h"
#include "sim/cpu_stats.h"
#include "sim/experiment.h"
#include "sim/stats_io.h"
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
  mmusim [OPTIONS]                      run the default experiment (configs/default.json)
  mmusim run CONFIG.json [OPTIONS]      run an experiment
  mmusim replay TRACE [--config CONFIG.json] [OPTIONS]
                                        replay a trace (on CONFIG's machine, or on the
                                        default machine with the CPUs the trace declares)
  mmusim validate CONFIG.json [--set K=V ...]
                                        check a configuration and exit
  mmusim list                           every config key (type, default, range, meaning),
                                        every workload, policy and statistic

Each run writes OUT/stats.json (the statistics) and OUT/config.json (the fully resolved
configuration, which runs again to the same result).

Exit status: 0 done; 2 bad usage, configuration or trace; 1 internal error.
)";

constexpr const char* kExamples = R"(
Examples:
  mmusim
  mmusim run configs/default.json --set platform.cpus=16 --out out/16cpus
  mmusim replay tests/e2e/traces/invlpg.trace --config configs/default.json
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

int run(const Cli& cli) {
  sim::ExperimentConfig config;
  sim::RunOptions options;
  options.out_dir = cli.out_dir;
  options.record_path = cli.record_path;
  options.timeline_path = cli.timeline_path;
  if (cli.command == "default") {
    config = sim::default_config(cli.overrides);
    options.config_name = "configs/default.json (built in)";
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
        overrides.push_back("platform.cpus=" + std::to_string(header.declared_cpus()));
      }
    }
    overrides.insert(overrides.end(), cli.overrides.begin(), cli.overrides.end());
    config = cli.config_path.empty() ? sim::default_config(overrides)
                                     : sim::load_config_file(cli.config_path, overrides);
    options.config_name =
        cli.targets[0] + (cli.config_path.empty() ? "" : " on " + cli.config_path);
  }
  const sim::RunResult result = sim::run_experiment(config, options);
  if (!result.error.empty()) {
    std::cerr << "mmusim: " << (result.input_error ? "" : "internal error: ") << result.error
              << "\n";
    return result.input_error ? kExitUsage : kExitInternal;
  }
  for (const std::string& warning : result.warnings)
    std::cerr << "mmusim: warning: " << warning << "\n";
  if (!cli.quiet) std::cout << result.summary;
  return kExitOk;
}

int dispatch(int argc, char* argv[]) {
  po::options_description options("Options");
  options.add_options()("help,h", "show this help")("version", "print the version")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "KEY=VALUE: override one config key (repeatable; 'mmusim list' shows the keys)")(
      "out", po::value<std::string>()->default_value("out"), "output folder")(
      "seed", po::value<std::uint64_t>(), "master seed (same as --set run.seed=N)")(
      "quiet,q", "print no summary")("record", po::value<std::string>(),
                                     "FILE: write every executed op as a trace")(
      "timeline", po::value<std::string>(),
      "FILE: write the run as a Chrome trace-event timeline (open it in Perfetto)")(
      "config", po::value<std::string>(), "replay: the configuration to replay on");
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

  const bool needs_one =
      cli.command == "run" || cli.command == "replay" || cli.command == "validate";
  if (cli.command != "default" && cli.command != "list" && !needs_one) {
    return fail_usage("unknown command '" + cli.command +
                      "' (commands: run, replay, validate, list)");
  }
  if (needs_one && cli.targets.size() != 1) {
    return fail_usage("'" + cli.command + "' takes exactly one file");
  }
  if (!needs_one && !cli.targets.empty()) {
    return fail_usage("unexpected argument '" + cli.targets[0] + "'");
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
      sim::load_config_file(cli.targets[0], cli.overrides);
      std::cout << cli.targets[0] << ": valid\n";
      return kExitOk;
    }
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
