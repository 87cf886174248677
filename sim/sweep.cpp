#include "sim/sweep.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/config_io.h"
#include "sim/experiment.h"
#include "sim/interrupt.h"

extern char** environ;  // NOLINT: POSIX; passed on to the children unchanged

namespace mmusim::sim {

using nlohmann::json;
using nlohmann::ordered_json;

namespace {

constexpr std::size_t kMaxDirNameLength = 80;

template <class Json>
std::string brief(const Json& value) {
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// A sweep value as --set's right-hand side: strings as they are, numbers and booleans as JSON
// writes them, a list (of page sizes) joined with commas. False for anything else.
bool value_text(const ordered_json& value, std::string& text) {
  if (value.is_string()) {
    text = value.get<std::string>();
    return true;
  }
  if (value.is_boolean() || value.is_number()) {
    text = value.dump();
    return true;
  }
  if (value.is_array() && !value.empty()) {
    text.clear();
    for (const ordered_json& item : value) {
      std::string part;
      if (item.is_array() || !value_text(item, part)) return false;
      text += (text.empty() ? "" : ",") + part;
    }
    return true;
  }
  return false;
}

// The key of "key=value".
std::string override_key(const std::string& assignment) {
  return assignment.substr(0, assignment.find('='));
}

// The dotted keys of a sweep key: "a.min+a.max" sets both.
std::vector<std::string> joined_keys(const std::string& key) {
  std::vector<std::string> keys;
  std::istringstream parts(key);
  std::string part;
  while (std::getline(parts, part, '+'))
    keys.push_back(part);
  if (key.empty() || key.back() == '+') keys.emplace_back();
  return keys;
}

// One "key=value" per key the axis sets.
std::vector<std::string> axis_assignments(const SweepAxis& axis, const std::string& text) {
  std::vector<std::string> assignments;
  for (const std::string& key : axis.keys)
    assignments.push_back(key + "=" + text);
  return assignments;
}

// The last part of each joined key: "a.b.min+a.b.max" -> "min+max".
std::string short_key(const std::string& key) {
  std::string out;
  for (const std::string& part : joined_keys(key))
    out += (out.empty() ? "" : "+") + part.substr(part.rfind('.') + 1);
  return out;
}

// The JSON path the config reader names a dotted key by: "/platform/cpus".
std::string json_path(const std::string& key) {
  std::string path = "/" + key;
  std::replace(path.begin(), path.end(), '.', '/');
  return path;
}

// apply_override()'s messages start with "--set ASSIGNMENT: "; a sweep names its own place.
std::vector<std::string> override_errors(json& root, const std::string& assignment) {
  try {
    apply_override(root, assignment);
  } catch (const ConfigError& e) {
    std::vector<std::string> messages;
    const std::string prefix = "--set " + assignment + ": ";
    for (const std::string& error : e.errors())
      messages.push_back(starts_with(error, prefix) ? error.substr(prefix.size()) : error);
    return messages;
  }
  return {};
}

bool is_value_key(const std::string& key) {
  for (const SchemaRow& row : config_schema()) {
    if (row.key == key) return !row.section;
  }
  return false;
}

// Characters a folder name keeps; a comma (between listed values) becomes '+', anything else
// '-'.
std::string safe_name(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '.' || c == '_' || c == '-' || c == '=' || c == '+') {
      out += c;
    } else {
      out += c == ',' ? '+' : '-';
    }
  }
  return out;
}

std::string join_lines(const std::string& text, const std::string& separator) {
  std::string out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    out += (out.empty() ? "" : separator) + line;
  }
  return out;
}

std::string read_text(const std::filesystem::path& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  std::stringstream text;
  if (ok) text << in.rdbuf();
  return text.str();
}

// Digits of a point's index in its folder name: at least three, all the same in one sweep.
std::size_t index_width(std::size_t count) {
  std::size_t digits = 1;
  for (std::size_t n = count > 0 ? count - 1 : 0; n >= 10; n /= 10)
    ++digits;
  return std::max<std::size_t>(digits, 3);
}

}  // namespace

std::string point_dir_name(std::size_t index, std::size_t count,
                           const std::vector<std::string>& keys,
                           const std::vector<std::string>& texts) {
  const std::size_t width = index_width(count);
  std::string number = std::to_string(index);
  if (number.size() < width) number.insert(0, width - number.size(), '0');
  auto build = [&](bool last_part_only) {
    std::string name = "p" + number;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const std::string key = last_part_only ? short_key(keys[i]) : keys[i];
      name += "_" + safe_name(key) + "=" + safe_name(texts[i]);
    }
    return name;
  };
  std::string name = build(false);
  if (name.size() > kMaxDirNameLength) name = build(true);
  if (name.size() > kMaxDirNameLength) name.resize(kMaxDirNameLength);
  return name;
}

std::string describe_point(const Sweep& sweep, std::size_t point) {
  std::string text;
  for (const std::string& assignment : sweep.points.at(point).overrides)
    text += (text.empty() ? "" : ", ") + assignment;
  return "point " + std::to_string(point) + " (" + text + ")";
}

std::optional<Sweep> parse_sweep(const std::string& text, const std::string& name,
                                 const std::string& base_dir,
                                 const std::vector<std::string>& overrides,
                                 std::optional<std::size_t> only_point) {
  ordered_json root = ordered_json::parse(text, nullptr, /*allow_exceptions=*/false,
                                          /*ignore_comments=*/true);
  if (root.is_discarded() || !root.is_object()) {
    // The configuration reader words these (a syntax error's line and column) and throws.
    parse_config(text, name, base_dir, overrides);
    throw ConfigError({name + ": the configuration must be a JSON object"});
  }
  const auto found = root.find("sweep");
  if (found == root.end()) return std::nullopt;
  const ordered_json spec = *found;
  root.erase("sweep");

  Sweep sweep;
  sweep.name = name;
  sweep.base_dir = base_dir;
  sweep.config_path = std::filesystem::absolute(name).lexically_normal().string();
  sweep.base = json::parse(root.dump());
  sweep.overrides = overrides;

  std::vector<std::string> errors;
  json with_overrides = sweep.base;
  for (const std::string& assignment : overrides) {
    try {
      apply_override(with_overrides, assignment);
    } catch (const ConfigError& e) {
      errors.insert(errors.end(), e.errors().begin(), e.errors().end());
    }
  }

  const std::string where = name + ": sweep";
  if (!spec.is_object() || spec.empty()) {
    errors.push_back(where +
                     ": expected an object mapping dotted keys to non-empty lists of values, got " +
                     brief(spec));
    throw ConfigError(std::move(errors));
  }
  std::set<std::string> swept_keys;
  for (const auto& item : spec.items()) {
    SweepAxis axis;
    axis.key = item.key();
    axis.keys = joined_keys(axis.key);
    const std::string at = where + "." + axis.key;
    bool known = true;
    for (const std::string& key : axis.keys) {
      const std::string named = axis.keys.size() > 1 ? "'" + key + "': " : "";
      if (!is_value_key(key)) {
        known = false;
        json scratch = json::object();
        std::vector<std::string> messages = override_errors(scratch, key + "=0");
        if (messages.empty()) messages.push_back("not a configuration key");
        for (const std::string& message : messages)
          errors.push_back(at + ": " + named + message);
        continue;
      }
      if (!swept_keys.insert(key).second) {
        known = false;
        errors.push_back(at + ": " + named + "swept twice; a key takes its values from one place");
      }
      for (const std::string& assignment : overrides) {
        if (override_key(assignment) == key) {
          errors.push_back(at + ": " + named + "also given as --set " + assignment +
                           "; a swept key takes its values from the sweep");
        }
      }
    }
    if (!known) continue;
    const ordered_json& values = item.value();
    if (!values.is_array() || values.empty()) {
      errors.push_back(at + ": expected a non-empty list of values, got " + brief(values));
      continue;
    }
    for (std::size_t i = 0; i < values.size(); ++i) {
      const std::string at_value = at + "[" + std::to_string(i) + "]";
      std::string value;
      if (!value_text(values[i], value)) {
        errors.push_back(at_value +
                         ": expected a number, a string, true or false (or a list of page "
                         "sizes), got " +
                         brief(values[i]));
      } else {
        for (const std::string& assignment : axis_assignments(axis, value)) {
          json scratch = json::object();
          for (const std::string& message : override_errors(scratch, assignment))
            errors.push_back(at_value + ": " + message + ", got " + brief(values[i]));
        }
        const auto same = std::find(axis.texts.begin(), axis.texts.end(), value);
        if (same != axis.texts.end()) {
          errors.push_back(at_value + ": " + brief(values[i]) + " repeats sweep." + axis.key + "[" +
                           std::to_string(same - axis.texts.begin()) + "]");
        }
      }
      axis.values.push_back(values[i]);
      axis.texts.push_back(value);
    }
    sweep.axes.push_back(std::move(axis));
  }
  if (!errors.empty()) throw ConfigError(std::move(errors));

  std::size_t count = 1;
  for (const SweepAxis& axis : sweep.axes) {
    if (count > kMaxSweepPoints / axis.values.size()) {
      throw ConfigError({where + ": more than " + std::to_string(kMaxSweepPoints) +
                         " points; split it into several sweeps"});
    }
    count *= axis.values.size();
  }
  // One naming for every point: when the longest name would take the keys' last parts, all do.
  std::vector<std::string> keys;
  std::size_t longest_name = 1 + index_width(count);
  for (const SweepAxis& axis : sweep.axes) {
    keys.push_back(axis.key);
    std::size_t longest_value = 0;
    for (const std::string& value : axis.texts)
      longest_value = std::max(longest_value, safe_name(value).size());
    longest_name += 2 + safe_name(axis.key).size() + longest_value;
  }
  if (longest_name > kMaxDirNameLength) {
    for (std::string& key : keys)
      key = short_key(key);
  }
  for (std::size_t index = 0; index < count; ++index) {
    SweepPoint point;
    point.index = index;
    point.choice.resize(sweep.axes.size());
    // Mixed radix, the last key varying fastest.
    std::size_t rest = index;
    for (std::size_t a = sweep.axes.size(); a-- > 0;) {
      point.choice[a] = rest % sweep.axes[a].values.size();
      rest /= sweep.axes[a].values.size();
    }
    std::vector<std::string> texts;
    for (std::size_t a = 0; a < sweep.axes.size(); ++a) {
      const std::string& value = sweep.axes[a].texts[point.choice[a]];
      for (const std::string& assignment : axis_assignments(sweep.axes[a], value))
        point.overrides.push_back(assignment);
      texts.push_back(value);
    }
    point.dir = point_dir_name(index, count, keys, texts);
    sweep.points.push_back(std::move(point));
  }
  if (only_point && *only_point >= count) {
    throw ConfigError({"--point " + std::to_string(*only_point) + ": the sweep of " + name +
                       " has " + std::to_string(count) + " points (0.." +
                       std::to_string(count - 1) + ")"});
  }

  // Every point's configuration. A problem at a swept key's path is that value's; one that
  // every point has is the base configuration's; any other belongs to its points.
  const std::string prefix = name + ": ";
  std::set<std::string> reported;
  struct Shared {
    std::string message;
    std::vector<std::size_t> points;
  };
  std::vector<Shared> others;
  std::size_t validated = 0;
  for (std::size_t index = 0; index < count; ++index) {
    if (only_point && index != *only_point) continue;
    ++validated;
    const SweepPoint& point = sweep.points[index];
    json point_root = with_overrides;
    for (const std::string& assignment : point.overrides)
      apply_override(point_root, assignment);  // checked above
    try {
      const ExperimentConfig config = parse_config(point_root.dump(), name, base_dir);
      // The table follows the first point's wish (a swept sweep_compare would be odd).
      if (validated == 1) sweep.compare = config.output.sweep_compare;
    } catch (const ConfigError& e) {
      for (const std::string& error : e.errors()) {
        const std::string message =
            starts_with(error, prefix) ? error.substr(prefix.size()) : error;
        bool attributed = false;
        for (std::size_t a = 0; a < sweep.axes.size() && !attributed; ++a) {
          for (const std::string& key : sweep.axes[a].keys) {
            const std::string path = json_path(key) + ": ";
            if (attributed || !starts_with(message, path)) continue;
            attributed = true;
            const std::string named = sweep.axes[a].keys.size() > 1 ? "'" + key + "': " : "";
            const std::string text = where + "." + sweep.axes[a].key + "[" +
                                     std::to_string(point.choice[a]) + "]: " + named +
                                     message.substr(path.size());
            if (reported.insert(text).second) errors.push_back(text);
          }
        }
        if (attributed) continue;
        auto shared = std::find_if(others.begin(), others.end(),
                                   [&](const Shared& s) { return s.message == message; });
        if (shared == others.end()) shared = others.insert(others.end(), Shared{message, {}});
        shared->points.push_back(index);
      }
    }
  }
  const std::string label = overrides.empty() ? name : name + " (with --set)";
  for (const Shared& shared : others) {
    if (!only_point && shared.points.size() == validated) {
      errors.push_back(label + ": " + shared.message);
      continue;
    }
    for (const std::size_t index : shared.points)
      errors.push_back(where + " " + describe_point(sweep, index) + ": " + shared.message);
  }
  if (!errors.empty()) throw ConfigError(std::move(errors));
  return sweep;
}

std::optional<Sweep> load_sweep(const std::string& path, const std::vector<std::string>& overrides,
                                std::optional<std::size_t> only_point) {
  bool ok = false;
  const std::string text = read_text(path, ok);
  if (!ok) throw ConfigError({path + ": cannot open the configuration file"});
  const std::string base_dir = std::filesystem::absolute(path).parent_path().string();
  return parse_sweep(text, path, base_dir, overrides, only_point);
}

std::optional<Sweep> default_sweep(const std::vector<std::string>& overrides,
                                   std::optional<std::size_t> only_point) {
  // Relative paths stay relative to the folder mmusim runs in, as default_config() has them.
  std::optional<Sweep> sweep =
      parse_sweep(default_config_text(), kDefaultConfigName, "", overrides, only_point);
  if (sweep) {
    sweep->built_in = true;
    sweep->config_path.clear();
  }
  return sweep;
}

ExperimentConfig point_config(const Sweep& sweep, std::size_t point) {
  json root = sweep.base;
  for (const std::string& assignment : sweep.overrides)
    apply_override(root, assignment);
  for (const std::string& assignment : sweep.points.at(point).overrides)
    apply_override(root, assignment);
  return parse_config(root.dump(), sweep.name, sweep.base_dir);
}

ordered_json sweep_to_json(const Sweep& sweep) {
  ordered_json out = ordered_json::object();
  out["format"] = "mmusim-sweep 1";
  out["config"] = sweep.built_in ? std::string(kDefaultConfigName) : sweep.config_path;
  if (sweep.built_in) out["built_in"] = true;
  out["overrides"] = sweep.overrides;
  for (const auto& [text, value] : kSweepCompareNames) {
    if (value == sweep.compare) out["compare"] = text;
  }
  ordered_json axes = ordered_json::object();
  for (const SweepAxis& axis : sweep.axes)
    axes[axis.key] = axis.values;
  out["sweep"] = axes;
  ordered_json points = ordered_json::array();
  for (const SweepPoint& point : sweep.points) {
    ordered_json entry = ordered_json::object();
    entry["point"] = point.index;
    entry["dir"] = point.dir;
    entry["overrides"] = point.overrides;
    ordered_json values = ordered_json::object();
    for (std::size_t a = 0; a < sweep.axes.size(); ++a)
      values[sweep.axes[a].key] = sweep.axes[a].values[point.choice[a]];
    entry["values"] = values;
    points.push_back(entry);
  }
  out["points"] = points;
  return out;
}

Sweep sweep_from_json(const std::string& text, const std::string& name) {
  const ordered_json root = ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto fail = [&](const std::string& path, const std::string& message) {
    return ConfigError({name + ": " + path + ": " + message});
  };
  if (root.is_discarded() || !root.is_object()) {
    throw ConfigError({name + ": not a JSON object (is this a sweep's output folder?)"});
  }
  if (root.value("format", "") != "mmusim-sweep 1") {
    throw fail("/format", "expected \"mmusim-sweep 1\"");
  }
  Sweep sweep;
  sweep.name = root.value("config", "");
  sweep.built_in = root.value("built_in", false);
  sweep.config_path = sweep.built_in ? "" : sweep.name;
  const std::string compare = root.value("compare", "auto");
  for (const auto& [text, value] : kSweepCompareNames) {
    if (compare == text) sweep.compare = value;
  }
  if (root.contains("overrides") && root["overrides"].is_array()) {
    for (const ordered_json& item : root["overrides"]) {
      if (item.is_string()) sweep.overrides.push_back(item.get<std::string>());
    }
  }
  if (!root.contains("sweep") || !root["sweep"].is_object()) {
    throw fail("/sweep", "expected an object of the swept keys and their values");
  }
  for (const auto& item : root["sweep"].items()) {
    if (!item.value().is_array() || item.value().empty()) {
      throw fail("/sweep/" + item.key(), "expected a non-empty list of values");
    }
    SweepAxis axis;
    axis.key = item.key();
    axis.keys = joined_keys(axis.key);
    for (const ordered_json& value : item.value()) {
      std::string value_string;
      value_text(value, value_string);
      axis.values.push_back(value);
      axis.texts.push_back(value_string);
    }
    sweep.axes.push_back(std::move(axis));
  }
  if (!root.contains("points") || !root["points"].is_array()) {
    throw fail("/points", "expected a list of the points");
  }
  const ordered_json& points = root["points"];
  for (std::size_t index = 0; index < points.size(); ++index) {
    const std::string at = "/points/" + std::to_string(index);
    const ordered_json& entry = points[index];
    if (!entry.is_object() || !entry.contains("dir") || !entry["dir"].is_string() ||
        !entry.contains("values") || !entry["values"].is_object()) {
      throw fail(at, "expected an object with \"dir\" and \"values\"");
    }
    SweepPoint point;
    point.index = index;
    point.dir = entry["dir"].get<std::string>();
    // The folder must lie directly under the sweep's folder.
    if (point.dir.empty() || point.dir != safe_name(point.dir) || point.dir[0] == '.') {
      throw fail(at + "/dir", "expected a folder name, got " + brief(entry["dir"]));
    }
    for (const SweepAxis& axis : sweep.axes) {
      const auto value = entry["values"].find(axis.key);
      const auto match = value == entry["values"].end()
                             ? axis.values.end()
                             : std::find(axis.values.begin(), axis.values.end(), *value);
      if (match == axis.values.end()) {
        throw fail(at + "/values", "no value of " + axis.key + " from the sweep");
      }
      point.choice.push_back(static_cast<std::size_t>(match - axis.values.begin()));
      for (const std::string& assignment : axis_assignments(axis, axis.texts[point.choice.back()]))
        point.overrides.push_back(assignment);
    }
    sweep.points.push_back(std::move(point));
  }
  return sweep;
}

std::string shell_quote(const std::string& word) {
  const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::strchr("_@%+=:,./-", c) != nullptr;
  });
  if (plain) return word;
  std::string out = "'";
  for (const char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

namespace {

// The command up to --point: `mmusim run CONFIG`, or `mmusim` for the built-in configuration.
std::vector<std::string> command_prefix(const Sweep& sweep, const std::string& binary) {
  if (sweep.built_in) return {binary};
  return {binary, "run", sweep.config_path};
}

}  // namespace

std::vector<std::string> point_command(const Sweep& sweep, std::size_t point,
                                       const std::string& binary,
                                       const std::string& point_out_dir) {
  std::vector<std::string> args = command_prefix(sweep, binary);
  for (const std::string& arg : {std::string("--point"), std::to_string(point),
                                 std::string("--out"), point_out_dir, std::string("-q")})
    args.push_back(arg);
  for (const std::string& assignment : sweep.overrides) {
    args.push_back("--set");
    args.push_back(assignment);
  }
  return args;
}

std::string slurm_script(const Sweep& sweep, const std::string& binary,
                         const std::string& out_dir) {
  const std::size_t count = sweep.points.size();
  std::ostringstream out;
  out << "#!/bin/sh\n"
      << "#SBATCH --job-name=mmusim-sweep\n"
      << "#SBATCH --array=0-" << (count - 1) << "\n"
      << "#SBATCH --ntasks=1\n"
      << "#SBATCH --cpus-per-task=1\n"
      << "#SBATCH --output=" << shell_quote(out_dir + "/slurm-%A_%a.log") << "\n"
      << "#\n"
      << "# The sweep of " << (sweep.built_in ? kDefaultConfigName : sweep.config_path) << ":\n"
      << "# " << count << " points, one array task each (a cluster's MaxArraySize may ask for\n"
      << "# several submissions). Submit with 'sbatch THIS_FILE'; when every task has finished,\n"
      << "# gather the results with:\n"
      << "#   " << shell_quote(binary) << " collect " << shell_quote(out_dir) << "\n"
      << "set -e\n"
      << "case \"$SLURM_ARRAY_TASK_ID\" in\n";
  for (const SweepPoint& point : sweep.points)
    out << "  " << point.index << ") dir=" << shell_quote(point.dir) << " ;;\n";
  out << "  *) echo \"mmusim: no point '$SLURM_ARRAY_TASK_ID' in this sweep (0.." << (count - 1)
      << ")\" >&2; exit 2 ;;\n"
      << "esac\n"
      << "exec";
  for (const std::string& word : command_prefix(sweep, binary))
    out << " " << shell_quote(word);
  out << " --point \"$SLURM_ARRAY_TASK_ID\" --out " << shell_quote(out_dir) << "/\"$dir\" -q";
  for (const std::string& assignment : sweep.overrides)
    out << " --set " << shell_quote(assignment);
  out << "\n";
  return out.str();
}

void run_children(const std::string& program, const std::vector<std::vector<std::string>>& commands,
                  int jobs, const std::string& scratch_dir,
                  const std::function<void(const PointExit&)>& done) {
  using Clock = std::chrono::steady_clock;
  struct Running {
    std::size_t index;
    std::string stderr_path;
    Clock::time_point start;
  };
  std::map<pid_t, Running> running;
  std::size_t next = 0;
  const auto limit = static_cast<std::size_t>(std::max(jobs, 1));
  bool passed_on = false;
  while ((next < commands.size() && interrupt_signal() == 0) || !running.empty()) {
    // SIGINT or SIGTERM: no new point starts, and the running ones get the signal too (from a
    // terminal they have it already; once more does no harm), stop cleanly and are waited for.
    if (const int signal = interrupt_signal(); signal != 0 && !passed_on) {
      passed_on = true;
      for (const auto& [pid, child] : running)
        kill(pid, signal);
    }
    while (running.size() < limit && next < commands.size() && interrupt_signal() == 0) {
      const std::size_t index = next++;
      const std::string stderr_path =
          (std::filesystem::path(scratch_dir) / (".child-" + std::to_string(index) + ".stderr"))
              .string();
      std::vector<char*> argv;
      for (const std::string& arg : commands[index])
        argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      posix_spawn_file_actions_t actions;
      posix_spawn_file_actions_init(&actions);
      posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
      posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
      posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0644);
      pid_t pid = 0;
      const int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
      posix_spawn_file_actions_destroy(&actions);
      if (rc != 0) {
        done(PointExit{index, 1, "cannot start " + program + ": " + std::strerror(rc), 0.0});
        continue;
      }
      running.emplace(pid, Running{index, stderr_path, Clock::now()});
    }
    if (running.empty()) continue;
    int status = 0;
    // Any child: the caller starts no other processes. Polled, so that a signal arriving just
    // before the wait is seen within a few milliseconds rather than when a child ends.
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid == 0) {
      const timespec pause{0, 10'000'000};
      nanosleep(&pause, nullptr);
      continue;
    }
    if (pid < 0) {
      if (errno == EINTR) continue;
      // No children left to wait for: should not happen; report the ones still listed.
      const std::string why = std::string("waitpid: ") + std::strerror(errno);
      for (const auto& [ignored, child] : running)
        done(PointExit{child.index, 1, why, 0.0});
      running.clear();
      continue;
    }
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    const Running child = it->second;
    running.erase(it);
    PointExit exit;
    exit.point = child.index;
    exit.wall_seconds = std::chrono::duration<double>(Clock::now() - child.start).count();
    bool ok = false;
    exit.error = read_text(child.stderr_path, ok);
    std::error_code ignored;
    std::filesystem::remove(child.stderr_path, ignored);
    if (WIFEXITED(status)) {
      exit.exit_status = WEXITSTATUS(status);
    } else {
      exit.exit_status = 1;
      const int signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      exit.error +=
          "mmusim: killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")\n";
    }
    done(exit);
  }
}

namespace {

// A node of a stats.json by path ("total/cycles/busy"), or nullptr when absent.
const json* stat_at(const json& stats, const std::string& path) {
  const json* node = &stats;
  std::istringstream parts(path);
  std::string part;
  while (std::getline(parts, part, '/')) {
    if (!node->is_object()) return nullptr;
    const auto it = node->find(part);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node;
}

std::uint64_t count_at(const json& stats, const std::string& path) {
  const json* node = stat_at(stats, path);
  if (node == nullptr) return 0;
  if (node->is_number_unsigned()) return node->get<std::uint64_t>();
  if (node->is_number_integer()) return static_cast<std::uint64_t>(node->get<std::int64_t>());
  if (node->is_number_float()) return static_cast<std::uint64_t>(node->get<double>());
  return 0;
}

double real_at(const json& stats, const std::string& path) {
  const json* node = stat_at(stats, path);
  return node != nullptr && node->is_number() ? node->get<double>() : 0.0;
}

SweepResults::Cell count_cell(std::uint64_t value) {
  const std::string text = std::to_string(value);
  return {text, text};
}

// Up to six significant digits, as "%.6g" writes them (valid JSON too).
SweepResults::Cell real_cell(double value) {
  if (!std::isfinite(value)) value = 0.0;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", value);
  return {buf, buf};
}

SweepResults::Cell string_cell(const std::string& value) {
  return {value, json(value).dump()};
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

const char* const kHeadlineColumns[] = {
    "stop_reason",
    "cpus",
    "sim_cycles",
    "sim_seconds",
    "ops",
    "shootdowns",
    "shootdowns_full",
    "shootdowns_pages",
    "ipis_sent",
    "shootdown_latency_mean",
    "shootdown_latency_p99",
    "flush_cycles",
    "tlb_maintenance_cycles",
    "tlb_maintenance_cycles_per_cpu",
    "busy_cycles",
    "translations",
    "tlb_misses",
    "tlb_miss_rate",
    "walk_cycles",
    "stale_tlb_hits",
    "va_reuse_with_stale_tlb",
    "frees",
    "lazy_frees",
    "purges",
    "pages_purged",
    "vm_unmap_aliases",
    "areas_allocated",
    "vmap_blocks_created",
    "kernel_warnings",
    "kernel_bugs",
};

}  // namespace

std::vector<SweepResults::Cell> result_row(const Sweep& sweep, std::size_t point,
                                           const json& stats) {
  const SweepPoint& p = sweep.points.at(point);
  std::vector<SweepResults::Cell> row;
  row.push_back(count_cell(p.index));
  row.push_back(string_cell(p.dir));
  for (std::size_t a = 0; a < sweep.axes.size(); ++a) {
    const ordered_json& value = sweep.axes[a].values[p.choice[a]];
    row.push_back({sweep.axes[a].texts[p.choice[a]], value.dump()});
  }
  const json* stop = stat_at(stats, "sim/stop_reason");
  row.push_back(string_cell(stop != nullptr && stop->is_string() ? stop->get<std::string>() : "0"));
  const std::uint64_t cpus = count_at(stats, "sim/cpus");
  row.push_back(count_cell(cpus));
  row.push_back(count_cell(count_at(stats, "sim/cycles")));
  row.push_back(real_cell(real_at(stats, "sim/seconds")));
  row.push_back(count_cell(count_at(stats, "sim/ops")));
  row.push_back(count_cell(count_at(stats, "total/shootdown/started")));
  row.push_back(count_cell(count_at(stats, "total/shootdown/started_full")));
  row.push_back(count_cell(count_at(stats, "total/shootdown/started_ranges")));
  row.push_back(count_cell(count_at(stats, "total/shootdown/ipis_sent")));
  row.push_back(real_cell(real_at(stats, "shootdowns/latency_cycles/mean")));
  row.push_back(count_cell(count_at(stats, "shootdowns/latency_cycles/p99")));
  std::uint64_t flush_cycles = 0;
  for (const char* part :
       {"flush_send", "flush_spin", "flush_local", "ipi_handling", "idle_wakeup"})
    flush_cycles += count_at(stats, std::string("total/cycles/") + part);
  row.push_back(count_cell(flush_cycles));
  const std::uint64_t maintenance = flush_cycles + count_at(stats, "total/cycles/invalidation");
  row.push_back(count_cell(maintenance));
  row.push_back(real_cell(cpus == 0 ? 0.0 : static_cast<double>(maintenance) / cpus));
  row.push_back(count_cell(count_at(stats, "total/cycles/busy")));
  const std::uint64_t translations = count_at(stats, "total/translation/translations");
  const std::uint64_t misses = count_at(stats, "total/translation/misses");
  row.push_back(count_cell(translations));
  row.push_back(count_cell(misses));
  row.push_back(real_cell(translations == 0 ? 0.0 : static_cast<double>(misses) / translations));
  row.push_back(count_cell(count_at(stats, "total/cycles/walk")));
  row.push_back(count_cell(count_at(stats, "sanitizer/stale_tlb_hits")));
  row.push_back(count_cell(count_at(stats, "sanitizer/va_reuse_with_stale_tlb")));
  std::uint64_t frees = 0;
  for (const char* call : {"vfree", "vfree_atomic", "vunmap", "vm_unmap_ram"})
    frees += count_at(stats, std::string("vmalloc/") + call);
  row.push_back(count_cell(frees));
  for (const char* counter : {"lazy_frees", "purges", "pages_purged", "vm_unmap_aliases",
                              "areas_allocated", "vmap_blocks_created"})
    row.push_back(count_cell(count_at(stats, std::string("vmalloc/") + counter)));
  row.push_back(count_cell(count_at(stats, "kernel/warnings")));
  row.push_back(count_cell(count_at(stats, "kernel/bugs")));
  return row;
}

SweepResults gather_results(const Sweep& sweep, const std::string& out_dir,
                            const std::vector<std::string>& errors) {
  SweepResults results;
  results.columns = {"point", "dir"};
  for (const SweepAxis& axis : sweep.axes)
    results.columns.push_back(axis.key);
  for (const char* column : kHeadlineColumns)
    results.columns.emplace_back(column);
  for (const SweepPoint& point : sweep.points) {
    const std::string label = point.dir + " (point " + std::to_string(point.index) + "): ";
    if (point.index < errors.size() && !errors[point.index].empty()) {
      results.failed.push_back(label + join_lines(errors[point.index], "; "));
      continue;
    }
    const std::filesystem::path path = std::filesystem::path(out_dir) / point.dir / "stats.json";
    bool ok = false;
    const std::string text = read_text(path, ok);
    if (!ok) {
      results.failed.push_back(label + "no stats.json (the point has not run, or it failed)");
      continue;
    }
    const json stats = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (stats.is_discarded() || !stats.is_object()) {
      results.failed.push_back(label + "stats.json is not a JSON object");
      continue;
    }
    results.rows.push_back(result_row(sweep, point.index, stats));
  }
  return results;
}

std::string results_csv(const SweepResults& results) {
  std::string out;
  for (std::size_t i = 0; i < results.columns.size(); ++i)
    out += (i == 0 ? "" : ",") + csv_field(results.columns[i]);
  out += "\n";
  for (const auto& row : results.rows) {
    for (std::size_t i = 0; i < row.size(); ++i)
      out += (i == 0 ? "" : ",") + csv_field(row[i].csv);
    out += "\n";
  }
  return out;
}

std::string results_json(const SweepResults& results) {
  if (results.rows.empty()) return "[]\n";
  std::string out = "[\n";
  for (std::size_t r = 0; r < results.rows.size(); ++r) {
    out += "  {";
    for (std::size_t i = 0; i < results.columns.size(); ++i) {
      out +=
          (i == 0 ? "" : ", ") + json(results.columns[i]).dump() + ": " + results.rows[r][i].json;
    }
    out += r + 1 < results.rows.size() ? "},\n" : "}\n";
  }
  return out + "]\n";
}

std::string write_results(const SweepResults& results, const std::string& out_dir) {
  const std::filesystem::path dir(out_dir);
  std::string error = write_file_atomically((dir / "results.csv").string(), results_csv(results));
  if (error.empty()) {
    error = write_file_atomically((dir / "results.json").string(), results_json(results));
  }
  if (!error.empty()) return error;
  if (results.failed.empty()) {
    std::error_code ignored;
    std::filesystem::remove(dir / "failed.txt", ignored);
    return "";
  }
  std::string failed;
  for (const std::string& line : results.failed)
    failed += line + "\n";
  return write_file_atomically((dir / "failed.txt").string(), failed);
}

namespace {

std::string grouped(std::uint64_t value) {
  std::string digits = std::to_string(value);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3)
    digits.insert(static_cast<std::size_t>(i), ",");
  return digits;
}

// "+1,003", "-998", "0".
std::string signed_grouped(double difference) {
  const double rounded = std::round(difference);
  if (rounded == 0) return "0";
  return (rounded < 0 ? "-" : "+") + grouped(static_cast<std::uint64_t>(std::fabs(rounded)));
}

// Three decimals in the largest unit that keeps `unit_of` at 1 or above: "9.889 ms".
std::string seconds_text(double seconds, bool with_sign, double unit_of) {
  const double magnitude = std::fabs(unit_of);
  const char* unit = "s";
  double scaled = seconds;
  if (magnitude < 1e-3) {
    unit = "us";
    scaled = seconds * 1e6;
  } else if (magnitude < 1) {
    unit = "ms";
    scaled = seconds * 1e3;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, with_sign ? "%+.3f %s" : "%.3f %s", scaled, unit);
  return buf;
}

// "0.00499x"; "-" when the reference is 0 (no ratio).
std::string ratio_text(double value, double reference) {
  if (reference == 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3gx", value / reference);
  return buf;
}

enum class Unit : std::uint8_t { kCount, kPercent, kSeconds };

struct TableMetric {
  const char* header;
  Unit unit;
};

// The columns after the swept values; their numbers come from metric_values().
constexpr TableMetric kTableMetrics[] = {
    {"shootdowns", Unit::kCount},     {"IPIs", Unit::kCount},     {"full flushes", Unit::kCount},
    {"TLB maint./CPU", Unit::kCount}, {"% busy", Unit::kPercent}, {"walks", Unit::kCount},
    {"simulated", Unit::kSeconds},
};

// `unit_of`: the column's largest value, which picks the unit of times.
std::string metric_text(double value, Unit unit, double unit_of) {
  switch (unit) {
    case Unit::kCount:
      return grouped(static_cast<std::uint64_t>(std::llround(std::max(value, 0.0))));
    case Unit::kPercent: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.2f%%", value);
      return buf;
    }
    case Unit::kSeconds:
      return seconds_text(value, false, unit_of);
  }
  return "";
}

std::string difference_text(double difference, Unit unit, double unit_of) {
  switch (unit) {
    case Unit::kCount:
      return signed_grouped(difference);
    case Unit::kPercent: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%+.2f pp", difference);
      return buf;
    }
    case Unit::kSeconds:
      return seconds_text(difference, true, unit_of);
  }
  return "";
}

std::string pad(const std::string& text, std::size_t width, bool right) {
  if (text.size() >= width) return text;
  const std::string blanks(width - text.size(), ' ');
  return right ? blanks + text : text + blanks;
}

}  // namespace

std::string sweep_table(const SweepResults& results, SweepCompare compare, std::size_t max_rows) {
  if (results.rows.empty()) return "";
  auto column = [&](const std::string& name) -> std::optional<std::size_t> {
    const auto it = std::find(results.columns.begin(), results.columns.end(), name);
    if (it == results.columns.end()) return std::nullopt;
    return static_cast<std::size_t>(it - results.columns.begin());
  };
  auto number = [&](const std::vector<SweepResults::Cell>& row, const char* name) {
    const std::optional<std::size_t> at = column(name);
    return at ? std::strtod(row[*at].csv.c_str(), nullptr) : 0.0;
  };
  auto metric_values = [&](const std::vector<SweepResults::Cell>& row) {
    const double cpus = number(row, "cpus");
    const double maintenance = number(row, "tlb_maintenance_cycles");
    const double busy = number(row, "busy_cycles");
    return std::vector<double>{number(row, "shootdowns"),
                               number(row, "ipis_sent"),
                               number(row, "shootdowns_full"),
                               cpus == 0 ? 0.0 : maintenance / cpus,
                               busy == 0 ? 0.0 : 100.0 * maintenance / busy,
                               number(row, "tlb_misses"),
                               number(row, "sim_seconds")};
  };

  // The swept keys are the columns between "dir" and "stop_reason"; each is headed by its
  // last part unless two would read the same.
  const std::size_t first_key = column("dir").value_or(1) + 1;
  const std::size_t stop = column("stop_reason").value_or(first_key);
  std::vector<std::string> key_headers;
  for (std::size_t c = first_key; c < stop; ++c)
    key_headers.push_back(short_key(results.columns[c]));
  for (std::size_t k = 0; k < key_headers.size(); ++k) {
    const auto same = std::count(key_headers.begin(), key_headers.end(), key_headers[k]);
    if (same > 1) key_headers[k] = results.columns[first_key + k];
  }

  const std::size_t shown = std::min(max_rows, results.rows.size());
  bool all_completed = true;
  for (std::size_t r = 0; r < shown; ++r)
    all_completed = all_completed && results.rows[r][stop].csv == "completed";

  // Every line as cells: the label (point and swept values), the metrics, maybe the stop
  // reason. Labels of the comparison lines span the point's and the keys' columns.
  std::vector<std::size_t> key_widths;
  for (const std::string& header : key_headers)
    key_widths.push_back(header.size());
  std::size_t point_width = std::string("point").size();
  for (std::size_t r = 0; r < shown; ++r) {
    point_width = std::max(point_width, results.rows[r][0].csv.size());
    for (std::size_t k = 0; k < key_widths.size(); ++k)
      key_widths[k] = std::max(key_widths[k], results.rows[r][first_key + k].csv.size());
  }
  auto label = [&](const std::string& point, const std::vector<std::string>& keys) {
    std::string text = pad(point, point_width, true);
    for (std::size_t k = 0; k < keys.size(); ++k)
      text += "  " + (k + 1 < keys.size() ? pad(keys[k], key_widths[k], false) : keys[k]);
    return text;
  };

  struct Line {
    std::string label;
    std::vector<std::string> cells;
  };
  std::vector<Line> lines;
  std::vector<std::string> header_cells;
  for (const TableMetric& metric : kTableMetrics)
    header_cells.emplace_back(metric.header);
  if (!all_completed) header_cells.emplace_back("stopped");
  lines.push_back({label("point", key_headers), header_cells});

  const std::vector<double> reference = metric_values(results.rows[0]);
  const std::string& reference_point = results.rows[0][0].csv;
  std::vector<double> largest(std::size(kTableMetrics), 0.0);
  for (std::size_t r = 0; r < shown; ++r) {
    const std::vector<double> values = metric_values(results.rows[r]);
    for (std::size_t m = 0; m < values.size(); ++m)
      largest[m] = std::max(largest[m], std::fabs(values[m]));
  }
  for (std::size_t r = 0; r < shown; ++r) {
    const auto& row = results.rows[r];
    std::vector<std::string> keys;
    for (std::size_t k = 0; k < key_headers.size(); ++k)
      keys.push_back(row[first_key + k].csv);
    const std::vector<double> values = metric_values(row);
    Line line{label(row[0].csv, keys), {}};
    for (std::size_t m = 0; m < values.size(); ++m)
      line.cells.push_back(metric_text(values[m], kTableMetrics[m].unit, largest[m]));
    if (!all_completed) line.cells.push_back(row[stop].csv);
    lines.push_back(line);
  }
  const bool compared =
      results.rows.size() > 1 && (compare == SweepCompare::kFirst ||
                                  (compare == SweepCompare::kAuto && results.rows.size() == 2));
  if (compared) {
    for (std::size_t r = 1; r < shown; ++r) {
      const auto& row = results.rows[r];
      const std::vector<double> values = metric_values(row);
      Line difference{row[0].csv + " - " + reference_point, {}};
      Line ratio{row[0].csv + " / " + reference_point, {}};
      for (std::size_t m = 0; m < values.size(); ++m) {
        difference.cells.push_back(
            difference_text(values[m] - reference[m], kTableMetrics[m].unit, largest[m]));
        ratio.cells.push_back(ratio_text(values[m], reference[m]));
      }
      lines.push_back(difference);
      lines.push_back(ratio);
    }
  }

  std::size_t label_width = 0;
  std::vector<std::size_t> widths(header_cells.size(), 0);
  for (const Line& line : lines) {
    label_width = std::max(label_width, line.label.size());
    for (std::size_t c = 0; c < line.cells.size(); ++c)
      widths[c] = std::max(widths[c], line.cells[c].size());
  }
  std::string out;
  for (const Line& line : lines) {
    std::string text = "  " + pad(line.label, label_width, false);
    for (std::size_t c = 0; c < line.cells.size(); ++c) {
      const bool last_text = !all_completed && c + 1 == header_cells.size();
      text += "  " + (last_text ? line.cells[c] : pad(line.cells[c], widths[c], true));
    }
    while (!text.empty() && text.back() == ' ')
      text.pop_back();
    out += text + "\n";
  }
  if (results.rows.size() > shown) {
    out += "  ... and " + std::to_string(results.rows.size() - shown) + " more in results.csv\n";
  }
  out +=
      "  shootdowns: kernel TLB flushes started (full flushes: those that flush everything);\n"
      "  TLB maint./CPU: cycles per CPU spent sending, waiting for and doing flushes, in IPI\n"
      "  handlers, waking up for them and in invalidation instructions (% busy: their share of\n"
      "  busy cycles); walks: page walks, refills after flushes included\n";
  if (compared) {
    const std::string other = shown == 2 ? results.rows[1][0].csv : "K";
    out += "  " + other + " - " + reference_point + ", " + other + " / " + reference_point +
           ": point " + other + "'s difference from point " + reference_point +
           " and its ratio to it\n";
  }
  return out;
}

}  // namespace mmusim::sim
