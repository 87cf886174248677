#include "sim/config_io.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <type_traits>

#include "mmu/types.h"

namespace mmusim::sim {

using nlohmann::json;
using nlohmann::ordered_json;

ConfigError::ConfigError(std::vector<std::string> errors)
    : std::runtime_error([&] {
        std::string joined;
        for (const auto& e : errors)
          joined += (joined.empty() ? "" : "\n") + e;
        return joined;
      }()),
      errors_(std::move(errors)) {}

namespace {

bool parse_u64(const std::string& text, std::uint64_t& out) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    begin += 2;
    base = 16;
  }
  if (begin == end) return false;
  auto [ptr, ec] = std::from_chars(begin, end, out, base);
  return ec == std::errc() && ptr == end;
}

// Well-formed UTF-8 (RFC 3629: no overlong forms, surrogates or code points above U+10FFFF),
// as JSON text must be: nlohmann::json refuses to write a string that is not.
bool valid_utf8(const std::string& text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  auto continuation = [&](int count, unsigned char low, unsigned char high) {
    if (end - p < count + 1 || p[1] < low || p[1] > high) return false;
    for (int i = 2; i <= count; ++i) {
      if (p[i] < 0x80 || p[i] > 0xbf) return false;
    }
    p += count + 1;
    return true;
  };
  while (p < end) {
    const unsigned char c = *p;
    bool ok = true;
    if (c < 0x80) {
      ++p;
    } else if (c >= 0xc2 && c <= 0xdf) {
      ok = continuation(1, 0x80, 0xbf);
    } else if (c == 0xe0) {
      ok = continuation(2, 0xa0, 0xbf);
    } else if (c == 0xed) {
      ok = continuation(2, 0x80, 0x9f);
    } else if (c >= 0xe1 && c <= 0xef) {
      ok = continuation(2, 0x80, 0xbf);
    } else if (c == 0xf0) {
      ok = continuation(3, 0x90, 0xbf);
    } else if (c >= 0xf1 && c <= 0xf3) {
      ok = continuation(3, 0x80, 0xbf);
    } else if (c == 0xf4) {
      ok = continuation(3, 0x80, 0x8f);
    } else {
      ok = false;
    }
    if (!ok) return false;
  }
  return true;
}

std::string page_size_list(tlb::PageSizeMask mask) {
  std::string out;
  for (int i = 0; i < mmu::kNumPageSizes; ++i) {
    if (mask & (1u << i)) {
      out += out.empty() ? "" : ",";
      out += mmu::to_string(static_cast<mmu::PageSize>(i));
    }
  }
  return out;
}

template <class T>
std::string range_text(T min, T max) {
  if (max == std::numeric_limits<T>::max()) {
    return min == 0 ? "any non-negative integer" : "at least " + std::to_string(min);
  }
  return std::to_string(min) + ".." + std::to_string(max);
}

template <class Table>
std::string choice_names(const Table& table) {
  std::string out;
  for (const auto& [name, value] : table)
    out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

std::string short_json(const json& value) {
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

// Reads one JSON object into a config struct, recording every problem with its JSON path.
class JsonReader {
 public:
  JsonReader(const json& node, std::string path, std::vector<std::string>& errors,
             const std::string& base_dir)
      : node_(node), path_(std::move(path)), errors_(errors), base_dir_(base_dir) {}

  template <class T>
  void integer(const char* key, T& field, T min, T max, const char* /*description*/) {
    const json* value = take(key);
    if (value == nullptr) return;
    const std::string expected = "expected an integer (" + range_text(min, max) + ")";
    if (!value->is_number_integer()) {
      error(key, expected + ", got " + short_json(*value));
      return;
    }
    if (value->is_number_unsigned()) {
      const std::uint64_t v = value->get<std::uint64_t>();
      if (v < static_cast<std::uint64_t>(min) || v > static_cast<std::uint64_t>(max)) {
        error(key, expected + ", got " + std::to_string(v));
        return;
      }
      field = static_cast<T>(v);
    } else {
      error(key, expected + ", got " + std::to_string(value->get<std::int64_t>()));
    }
  }

  void boolean(const char* key, bool& field, const char* /*description*/) {
    const json* value = take(key);
    if (value == nullptr) return;
    if (!value->is_boolean()) {
      error(key, "expected true or false, got " + short_json(*value));
      return;
    }
    field = value->get<bool>();
  }

  void bytes(const char* key, std::uint64_t& field, std::uint64_t min, std::uint64_t max,
             const char* /*description*/) {
    const json* value = take(key);
    if (value == nullptr) return;
    const std::string expected = "expected a size in bytes from " + format_bytes(min) + " to " +
                                 format_bytes(max) + " (a number, or a string such as \"4GiB\")";
    std::uint64_t bytes = 0;
    if (value->is_number_unsigned()) {
      bytes = value->get<std::uint64_t>();
    } else if (!value->is_string() || !parse_bytes(value->get<std::string>(), bytes)) {
      error(key, expected + ", got " + short_json(*value));
      return;
    }
    if (bytes < min || bytes > max) {
      error(key, expected + ", got " + format_bytes(bytes));
      return;
    }
    field = bytes;
  }

  void string(const char* key, std::string& field, const char* /*description*/) {
    const json* value = take(key);
    if (value == nullptr) return;
    if (!value->is_string()) {
      error(key, "expected a string, got " + short_json(*value));
      return;
    }
    field = value->get<std::string>();
  }

  void path(const char* key, std::string& field, const char* description) {
    string(key, field, description);
    if (!field.empty() && !base_dir_.empty() && std::filesystem::path(field).is_relative()) {
      field = (std::filesystem::path(base_dir_) / field).lexically_normal().string();
    }
  }

  template <class E, class Table>
  void choice(const char* key, E& field, const Table& table, const char* /*description*/) {
    const json* value = take(key);
    if (value == nullptr) return;
    if (value->is_string()) {
      for (const auto& [name, option] : table) {
        if (value->get<std::string>() == name) {
          field = option;
          return;
        }
      }
    }
    error(key, "expected one of " + choice_names(table) + "; got " + short_json(*value));
  }

  void page_sizes(const char* key, tlb::PageSizeMask& field, const char* /*description*/) {
    const json* value = take(key);
    if (value == nullptr) return;
    const std::string expected = "expected a non-empty list of page sizes (\"4k\", \"2m\", \"1g\")";
    if (!value->is_array() || value->empty()) {
      error(key, expected + ", got " + short_json(*value));
      return;
    }
    tlb::PageSizeMask mask = 0;
    for (const json& item : *value) {
      mmu::PageSize size;
      if (!item.is_string() || !mmu::parse_page_size(item.get<std::string>(), size)) {
        error(key, expected + "; " + short_json(item) + " is not one");
        return;
      }
      mask |= tlb::mask_of(size);
    }
    field = mask;
  }

  template <class S>
  void section(const char* key, S& section, const char* /*description*/) {
    const json* value = take(key);
    if (value == nullptr) return;
    if (!value->is_object()) {
      error(key, "expected an object, got " + short_json(*value));
      return;
    }
    JsonReader child(*value, path_ + "/" + key, errors_, base_dir_);
    section.visit(child);
    child.finish();
  }

  void check(bool ok, const char* key, const std::string& message) {
    if (ok) return;
    std::string dotted(key);
    std::replace(dotted.begin(), dotted.end(), '.', '/');
    if (std::find(failed_.begin(), failed_.end(), dotted) != failed_.end()) return;
    errors_.push_back(path_ + "/" + dotted + ": " + message);
  }

  // Reports the keys no field claimed.
  void finish() {
    for (const auto& item : node_.items()) {
      if (seen_.count(item.key()) != 0) continue;
      std::string known;
      for (const auto& k : declared_)
        known += (known.empty() ? "" : ", ") + k;
      errors_.push_back(path_ + "/" + item.key() + ": unknown key (known here: " + known + ")");
    }
  }

 private:
  const json* take(const char* key) {
    declared_.push_back(key);
    auto it = node_.find(key);
    if (it == node_.end()) return nullptr;
    seen_.insert(key);
    return &*it;
  }
  void error(const char* key, const std::string& message) {
    failed_.push_back(key);
    errors_.push_back(path_ + "/" + key + ": " + message);
  }

  const json& node_;
  std::string path_;
  std::vector<std::string>& errors_;
  const std::string& base_dir_;
  std::set<std::string> seen_;
  std::vector<std::string> declared_;
  std::vector<std::string> failed_;
};

// Writes a config struct as JSON, in declaration order.
class JsonWriter {
 public:
  explicit JsonWriter(ordered_json& out) : out_(out) {}

  template <class T>
  void integer(const char* key, T& field, T, T, const char*) {
    out_[key] = field;
  }
  void boolean(const char* key, bool& field, const char*) { out_[key] = field; }
  void bytes(const char* key, std::uint64_t& field, std::uint64_t, std::uint64_t, const char*) {
    const std::string text = format_bytes(field);
    if (text.find_first_not_of("0123456789") == std::string::npos) {
      out_[key] = field;
    } else {
      out_[key] = text;
    }
  }
  void string(const char* key, std::string& field, const char*) { out_[key] = field; }
  void path(const char* key, std::string& field, const char*) {
    out_[key] =
        field.empty() ? field : std::filesystem::absolute(field).lexically_normal().string();
  }
  template <class E, class Table>
  void choice(const char* key, E& field, const Table& table, const char*) {
    for (const auto& [name, option] : table) {
      if (option == field) out_[key] = name;
    }
  }
  void page_sizes(const char* key, tlb::PageSizeMask& field, const char*) {
    ordered_json list = ordered_json::array();
    for (int i = 0; i < mmu::kNumPageSizes; ++i) {
      if (field & (1u << i)) list.push_back(mmu::to_string(static_cast<mmu::PageSize>(i)));
    }
    out_[key] = list;
  }
  template <class S>
  void section(const char* key, S& section, const char*) {
    ordered_json child = ordered_json::object();
    JsonWriter writer(child);
    section.visit(writer);
    out_[key] = child;
  }
  void check(bool, const char*, const std::string&) {}

 private:
  ordered_json& out_;
};

// Lists every key with its type, default, range and description.
class SchemaCollector {
 public:
  SchemaCollector(std::vector<SchemaRow>& rows, std::string prefix)
      : rows_(rows), prefix_(std::move(prefix)) {}

  template <class T>
  void integer(const char* key, T& field, T min, T max, const char* description) {
    add(key, "integer", std::to_string(field), range_text(min, max), description);
  }
  void boolean(const char* key, bool& field, const char* description) {
    add(key, "boolean", field ? "true" : "false", "true, false", description);
  }
  void bytes(const char* key, std::uint64_t& field, std::uint64_t min, std::uint64_t max,
             const char* description) {
    add(key, "bytes", format_bytes(field), format_bytes(min) + ".." + format_bytes(max),
        description);
  }
  void string(const char* key, std::string& field, const char* description) {
    add(key, "string", "\"" + field + "\"", "", description);
  }
  void path(const char* key, std::string& field, const char* description) {
    add(key, "path", "\"" + field + "\"", "", description);
  }
  template <class E, class Table>
  void choice(const char* key, E& field, const Table& table, const char* description) {
    std::string current;
    for (const auto& [name, option] : table) {
      if (option == field) current = name;
    }
    add(key, "choice", current, choice_names(table), description);
  }
  void page_sizes(const char* key, tlb::PageSizeMask& field, const char* description) {
    add(key, "page sizes", page_size_list(field), "list of 4k, 2m, 1g", description);
  }
  template <class S>
  void section(const char* key, S& section, const char* description) {
    SchemaRow row;
    row.key = prefix_ + key;
    row.type = "section";
    row.description = description;
    row.section = true;
    rows_.push_back(row);
    SchemaCollector child(rows_, prefix_ + key + ".");
    section.visit(child);
  }
  void check(bool, const char*, const std::string&) {}

 private:
  void add(const char* key, const char* type, std::string default_value, std::string range,
           const char* description) {
    rows_.push_back(SchemaRow{prefix_ + key, type, std::move(default_value), std::move(range),
                              description, false});
  }
  std::vector<SchemaRow>& rows_;
  std::string prefix_;
};

// Line and column of a byte offset, for JSON syntax errors.
std::pair<std::size_t, std::size_t> line_and_column(const std::string& text, std::size_t offset) {
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

}  // namespace

std::string format_bytes(std::uint64_t bytes) {
  static const std::pair<const char*, unsigned> kUnits[] = {
      {"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}};
  for (const auto& [unit, shift] : kUnits) {
    const std::uint64_t one = std::uint64_t{1} << shift;
    if (bytes >= one && bytes % one == 0) return std::to_string(bytes >> shift) + unit;
  }
  return std::to_string(bytes);
}

bool parse_bytes(const std::string& text, std::uint64_t& out) {
  static const std::pair<const char*, unsigned> kSuffixes[] = {
      {"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10},
      {"T", 40},   {"G", 30},   {"M", 20},   {"K", 10}};
  for (const auto& [suffix, shift] : kSuffixes) {
    const std::string s(suffix);
    if (text.size() > s.size() && text.compare(text.size() - s.size(), s.size(), s) == 0) {
      std::uint64_t number = 0;
      if (!parse_u64(text.substr(0, text.size() - s.size()), number)) return false;
      if (number > (~std::uint64_t{0} >> shift)) return false;
      out = number << shift;
      return true;
    }
  }
  return parse_u64(text, out);
}

const std::vector<SchemaRow>& config_schema() {
  // Built once: every --set override looks its key up here.
  static const std::vector<SchemaRow> rows = [] {
    std::vector<SchemaRow> collected;
    ExperimentConfig defaults;
    SchemaCollector collector(collected, "");
    defaults.visit(collector);
    return collected;
  }();
  return rows;
}

void apply_override(json& root, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError({"--set " + assignment + ": expected dotted.key=value"});
  }
  const std::string key = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  const auto& rows = config_schema();
  auto row =
      std::find_if(rows.begin(), rows.end(), [&](const SchemaRow& r) { return r.key == key; });
  if (row == rows.end()) {
    // Suggest the keys that end with what was typed, else those with the same last part.
    std::vector<std::string> candidates;
    for (const auto& r : rows) {
      const std::string tail = "." + key;
      if (!r.section && r.key.size() > tail.size() &&
          r.key.compare(r.key.size() - tail.size(), tail.size(), tail) == 0) {
        candidates.push_back(r.key);
      }
    }
    if (candidates.empty()) {
      const std::string last = key.substr(key.rfind('.') + 1);
      for (const auto& r : rows) {
        if (!r.section && r.key.substr(r.key.rfind('.') + 1) == last) candidates.push_back(r.key);
      }
    }
    std::string hint;
    for (const auto& c : candidates)
      hint += (hint.empty() ? " (did you mean: " : ", ") + c;
    if (!hint.empty()) hint += ")";
    throw ConfigError({"--set " + assignment + ": unknown key '" + key + "'" + hint +
                       "; 'mmusim list' shows every key"});
  }
  if (row->section) {
    throw ConfigError({"--set " + assignment + ": '" + key + "' is a section, not a value"});
  }
  // A configuration is JSON text: a value that is not UTF-8 could be neither reported as a
  // JSON value nor written to config.json.
  if (!valid_utf8(text)) {
    throw ConfigError({"--set " + key + "=...: the value is not valid UTF-8 text"});
  }
  json value;
  if (row->type == "integer") {
    std::uint64_t number = 0;
    if (!parse_u64(text, number)) {
      throw ConfigError({"--set " + assignment + ": expected an integer (" + row->range + ")"});
    }
    value = number;
  } else if (row->type == "boolean") {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") {
      value = true;
    } else if (lower == "false" || lower == "0" || lower == "no" || lower == "off") {
      value = false;
    } else {
      throw ConfigError({"--set " + assignment + ": expected true or false"});
    }
  } else if (row->type == "bytes") {
    std::uint64_t number = 0;
    if (parse_u64(text, number)) {
      value = number;
    } else {
      value = text;
    }
  } else if (row->type == "page sizes") {
    value = json::array();
    std::stringstream items(text);
    std::string item;
    while (std::getline(items, item, ','))
      value.push_back(item);
  } else {
    value = text;
  }
  json* node = &root;
  std::stringstream parts(key);
  std::string part;
  std::vector<std::string> path;
  while (std::getline(parts, part, '.'))
    path.push_back(part);
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    json& child = (*node)[path[i]];
    if (!child.is_object()) child = json::object();
    node = &child;
  }
  (*node)[path.back()] = value;
}

namespace {

// Rules that span sections (each field's own range is checked by the reader).
void check_consistency(const ExperimentConfig& config, std::vector<std::string>& problems) {
  if (config.vmalloc.nr_cpus < config.platform.cpus) {
    problems.push_back("vmalloc.nr_cpus: " + std::to_string(config.vmalloc.nr_cpus) +
                       " is below platform.cpus (" + std::to_string(config.platform.cpus) +
                       "): a kernel cannot bring up more CPUs than NR_CPUS");
  }
  // Every CPU holds its TLBs and paging-structure caches: their entries over the whole machine
  // are what a run's host memory grows with most (about 50 bytes each).
  std::uint64_t per_cpu = 0;
  for (const tlb::TlbArrayConfig* array :
       {&config.tlb.l1i_4k, &config.tlb.l1i_2m, &config.tlb.l1d_4k, &config.tlb.l1d_2m,
        &config.tlb.l1d_1g, &config.tlb.stlb, &config.tlb.stlb_1g})
    per_cpu += std::uint64_t{array->sets} * array->ways;
  for (const mmu::PscConfig* psc :
       {&config.mmu.pml5e, &config.mmu.pml4e, &config.mmu.pdpte, &config.mmu.pde})
    per_cpu += psc->entries;
  if (config.platform.cpus * per_cpu > kMaxTranslationEntries) {
    problems.push_back(
        "platform.cpus: " + std::to_string(config.platform.cpus) + " CPUs x " +
        std::to_string(per_cpu) +
        " TLB and paging-structure-cache entries each (tlb.*.sets x ways, mmu.*_cache.entries) "
        "= " +
        std::to_string(config.platform.cpus * per_cpu) + " entries, above the " +
        std::to_string(kMaxTranslationEntries) +
        " a machine may have (so that a run fits in host memory)");
  }
  if (config.workload.kind == workloads::WorkloadKind::kTestVmalloc &&
      config.workload.test_vmalloc.nr_threads > config.platform.cpus) {
    problems.push_back("workload.test_vmalloc.nr_threads: " +
                       std::to_string(config.workload.test_vmalloc.nr_threads) +
                       " is above platform.cpus (" + std::to_string(config.platform.cpus) + ")");
  }
}

}  // namespace

ExperimentConfig parse_config(const std::string& text, const std::string& name,
                              const std::string& base_dir,
                              const std::vector<std::string>& overrides) {
  json root;
  try {
    root = json::parse(text, nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    const auto [line, column] = line_and_column(text, e.byte == 0 ? 0 : e.byte - 1);
    std::string what = e.what();
    const auto colon = what.find("syntax error");
    if (colon != std::string::npos) what = what.substr(colon);
    throw ConfigError(
        {name + ":" + std::to_string(line) + ":" + std::to_string(column) + ": JSON " + what});
  } catch (const json::out_of_range& e) {
    // A number beyond a double ("1e999"): the parser names the number but not its place.
    std::string what = e.what();
    const auto bracket = what.find("] ");
    if (bracket != std::string::npos) what = what.substr(bracket + 2);
    throw ConfigError({name + ": JSON " + what});
  }
  if (!root.is_object()) {
    throw ConfigError({name + ": the configuration must be a JSON object"});
  }
  std::vector<std::string> errors;
  for (const auto& assignment : overrides) {
    try {
      apply_override(root, assignment);
    } catch (const ConfigError& e) {
      errors.insert(errors.end(), e.errors().begin(), e.errors().end());
    }
  }
  std::vector<std::string> problems;
  ExperimentConfig config;
  JsonReader reader(root, "", problems, base_dir);
  config.visit(reader);
  reader.finish();
  if (problems.empty()) check_consistency(config, problems);
  const std::string label = overrides.empty() ? name : name + " (with --set)";
  for (const auto& problem : problems)
    errors.push_back(label + ": " + problem);
  if (!errors.empty()) throw ConfigError(std::move(errors));
  return config;
}

namespace {

// A configuration's text without its "sweep": what the sweep's points share. Text that does not
// parse is returned as it is, for parse_config() to word the error (with its line and column).
std::string without_sweep(const std::string& text) {
  json root = json::parse(text, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
  if (!root.is_object() || !root.contains("sweep")) return text;
  root.erase("sweep");
  return root.dump();
}

std::string read_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError({path + ": cannot open the configuration file"});
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

ExperimentConfig load_config_file(const std::string& path,
                                  const std::vector<std::string>& overrides) {
  const std::string text = read_config_file(path);
  const std::string base_dir = std::filesystem::absolute(path).parent_path().string();
  return parse_config(text, path, base_dir, overrides);
}

ExperimentConfig load_config_base(const std::string& path,
                                  const std::vector<std::string>& overrides) {
  const std::string text = read_config_file(path);
  const std::string base_dir = std::filesystem::absolute(path).parent_path().string();
  return parse_config(without_sweep(text), path, base_dir, overrides);
}

ExperimentConfig default_config(const std::vector<std::string>& overrides) {
  // The built-in experiment is a sweep; a plain run takes the configuration its points share.
  // Relative paths stay relative to the folder mmusim runs in.
  return parse_config(without_sweep(default_config_text()), kDefaultConfigName, "", overrides);
}

ordered_json config_to_json(const ExperimentConfig& config) {
  ordered_json out = ordered_json::object();
  ExperimentConfig copy = config;
  JsonWriter writer(out);
  copy.visit(writer);
  return out;
}

}  // namespace mmusim::sim
