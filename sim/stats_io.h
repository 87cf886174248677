// Statistics are plain structs of integer counters, each with a visit() that names every
// counter with its unit and description. These helpers turn them into JSON, add them up (per
// CPU into a total) and describe them for `mmusim list`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mmusim::sim {

class StatsToJson {
 public:
  explicit StatsToJson(nlohmann::ordered_json& out) : out_(out) {}
  void count(const char* name, std::uint64_t& value, const char*) { out_[name] = value; }
  void cycles(const char* name, std::uint64_t& value, const char*) { out_[name] = value; }
  template <class S>
  void section(const char* name, S& stats, const char*) {
    nlohmann::ordered_json child = nlohmann::ordered_json::object();
    StatsToJson writer(child);
    stats.visit(writer);
    out_[name] = child;
  }

 private:
  nlohmann::ordered_json& out_;
};

template <class S>
nlohmann::ordered_json stats_to_json(S stats) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  StatsToJson writer(out);
  stats.visit(writer);
  return out;
}

// Collects the address of every counter, in visit order.
class CounterCollector {
 public:
  void count(const char*, std::uint64_t& value, const char*) { counters.push_back(&value); }
  void cycles(const char*, std::uint64_t& value, const char*) { counters.push_back(&value); }
  template <class S>
  void section(const char*, S& stats, const char*) {
    stats.visit(*this);
  }
  std::vector<std::uint64_t*> counters;
};

// total += part, counter by counter.
template <class S>
void add_stats(S& total, S part) {
  CounterCollector to;
  CounterCollector from;
  total.visit(to);
  part.visit(from);
  for (std::size_t i = 0; i < to.counters.size(); ++i)
    *to.counters[i] += *from.counters[i];
}

struct StatRow {
  std::string name;  // dotted
  std::string unit;
  std::string description;
};

class StatsDescriber {
 public:
  StatsDescriber(std::vector<StatRow>& rows, std::string prefix)
      : rows_(rows), prefix_(std::move(prefix)) {}
  void count(const char* name, std::uint64_t&, const char* description) {
    rows_.push_back({prefix_ + name, "count", description});
  }
  void cycles(const char* name, std::uint64_t&, const char* description) {
    rows_.push_back({prefix_ + name, "cycles", description});
  }
  template <class S>
  void section(const char* name, S& stats, const char*) {
    StatsDescriber child(rows_, prefix_ + name + ".");
    stats.visit(child);
  }

 private:
  std::vector<StatRow>& rows_;
  std::string prefix_;
};

}  // namespace mmusim::sim
