// Fuzzing harness of the configuration loader: JSON text -> resolved configuration, through
// what `mmusim validate FILE` does once it has read the file (parse_sweep, then parse_config
// when there is no sweep). A bad configuration must end in sim::ConfigError, the error the
// command line turns into exit status 2; anything else escaping, a crash, a hang or a huge
// allocation is a bug. A configuration that loads must also read back from its resolved
// form (config.json of a run) unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include "sim/config_io.h"
#include "sim/sweep.h"

namespace {

void check_round_trip(const mmusim::sim::ExperimentConfig& config) {
  const nlohmann::ordered_json resolved = mmusim::sim::config_to_json(config);
  const std::string text = resolved.dump();
  const nlohmann::ordered_json again =
      mmusim::sim::config_to_json(mmusim::sim::parse_config(text, "resolved.json", ""));
  if (again != resolved) {
    std::cerr << "config_fuzz: the resolved configuration does not read back the same\n"
              << text << "\n"
              << again.dump() << "\n";
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // Relative paths inside resolve against the file's folder; any absolute folder does.
  const std::string name = "fuzz.json";
  const std::string base_dir = "/fuzz";
  try {
    const std::optional<mmusim::sim::Sweep> sweep =
        mmusim::sim::parse_sweep(text, name, base_dir, {});
    if (sweep) {
      check_round_trip(mmusim::sim::point_config(*sweep, 0));
    } else {
      check_round_trip(mmusim::sim::parse_config(text, name, base_dir));
    }
  } catch (const mmusim::sim::ConfigError&) {
    // The expected outcome of a bad configuration.
  }
  return 0;
}
