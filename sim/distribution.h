// A distribution of recorded values (shootdown latencies, targets per shootdown) with exact,
// deterministic summary statistics: every value is kept, and percentiles use the nearest-rank
// definition (the smallest value with at least p% of the values at or below it).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace mmusim::sim {

class Distribution {
 public:
  void record(std::uint64_t value) { values_.push_back(value); }
  void merge(const Distribution& other) {
    values_.insert(values_.end(), other.values_.begin(), other.values_.end());
  }
  [[nodiscard]] std::uint64_t count() const { return values_.size(); }
  [[nodiscard]] const std::vector<std::uint64_t>& values() const { return values_; }

  // {"count", "mean", "min", "p50", "p90", "p99", "max"}; zeros when empty.
  [[nodiscard]] nlohmann::ordered_json summary() const {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    std::vector<std::uint64_t> sorted = values_;
    std::sort(sorted.begin(), sorted.end());
    std::uint64_t sum = 0;
    for (std::uint64_t v : sorted)
      sum += v;
    out["count"] = sorted.size();
    out["mean"] = sorted.empty() ? 0.0 : static_cast<double>(sum) / sorted.size();
    out["min"] = sorted.empty() ? 0 : sorted.front();
    out["p50"] = percentile(sorted, 50);
    out["p90"] = percentile(sorted, 90);
    out["p99"] = percentile(sorted, 99);
    out["max"] = sorted.empty() ? 0 : sorted.back();
    return out;
  }

  // Nearest rank on sorted values: the value at rank ceil(p / 100 * n), 1-based.
  [[nodiscard]] static std::uint64_t percentile(const std::vector<std::uint64_t>& sorted,
                                                unsigned p) {
    if (sorted.empty()) return 0;
    const std::uint64_t n = sorted.size();
    std::uint64_t rank = (p * n + 99) / 100;
    if (rank == 0) rank = 1;
    return sorted[rank - 1];
  }

 private:
  std::vector<std::uint64_t> values_;
};

}  // namespace mmusim::sim
