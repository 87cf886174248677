// Reading, writing and describing experiment configurations. Everything here is driven by
// the visit() declarations of the config structs, so a field is declared exactly once.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/config.h"

namespace mmusim::sim {

// The user's configuration is wrong. Holds every problem found, each a complete message
// naming the file and the JSON path (or the line and column of a syntax error).
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> errors);
  [[nodiscard]] const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::vector<std::string> errors_;
};

// Parses a configuration. `name` labels messages; relative paths inside are resolved against
// `base_dir`; each override is "dotted.key=value" and is applied before validation.
ExperimentConfig parse_config(const std::string& text, const std::string& name,
                              const std::string& base_dir,
                              const std::vector<std::string>& overrides = {});
// Reads and parses a configuration file.
ExperimentConfig load_config_file(const std::string& path,
                                  const std::vector<std::string>& overrides = {});
// The same, without the file's "sweep" if it has one: the configuration every point shares (a
// replay runs once, on a configuration's machine).
ExperimentConfig load_config_base(const std::string& path,
                                  const std::vector<std::string>& overrides = {});
// The configuration built into the binary (configs/default.json), and the name messages and
// summaries give it.
inline constexpr const char* kDefaultConfigName = "configs/default.json (built in)";
const std::string& default_config_text();
// Its base: the configuration without its "sweep" (what a replay without --config runs on).
ExperimentConfig default_config(const std::vector<std::string>& overrides = {});

// The fully resolved configuration, every key present, in declaration order. Reading it back
// gives the same configuration.
nlohmann::ordered_json config_to_json(const ExperimentConfig& config);

// One line of `mmusim list`: a key with its type, default, allowed range and description.
struct SchemaRow {
  std::string key;  // dotted, e.g. "tlb.l1d_4k.ways"
  std::string type;
  std::string default_value;
  std::string range;
  std::string description;
  bool section = false;
};
const std::vector<SchemaRow>& config_schema();

// Applies "dotted.key=value" to a JSON document, converting the value to the key's type.
// Throws ConfigError for an unknown key or a value that does not fit the type.
void apply_override(nlohmann::json& root, const std::string& assignment);

// "16GiB", "4KiB", or the plain number when not a whole number of KiB.
std::string format_bytes(std::uint64_t bytes);
// Accepts a number or a string with a K/KiB, M/MiB, G/GiB or T/TiB suffix (powers of two).
bool parse_bytes(const std::string& text, std::uint64_t& out);

}  // namespace mmusim::sim
