// Fuzzing harness of `--set` overrides: the input is one "dotted.key=value" per line (blank
// lines and '#' lines skipped, as in tests/e2e/golden/*/overrides.txt), applied as
// `mmusim validate --set ...` applies them: to a plain configuration and to a sweep's base
// (where a --set may not name a swept key). A bad override must end in sim::ConfigError, the
// error the command line turns into exit status 2.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sim/config_io.h"
#include "sim/sweep.h"

namespace {

constexpr const char* kPlain = R"({"description": "set_fuzz"})";
constexpr const char* kSweep =
    R"({"platform": {"cpus": 4}, "sweep": {"flush.mechanism": ["ipi", "invlpgb"]}})";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> overrides;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    if (!line.empty() && line[0] != '#') overrides.push_back(line);
    start = end + 1;
  }
  try {
    mmusim::sim::parse_config(kPlain, "plain.json", "/fuzz", overrides);
  } catch (const mmusim::sim::ConfigError&) {
    // The expected outcome of a bad override.
  }
  try {
    mmusim::sim::parse_sweep(kSweep, "sweep.json", "/fuzz", overrides);
  } catch (const mmusim::sim::ConfigError&) {
  }
  return 0;
}
