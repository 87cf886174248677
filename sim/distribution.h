// A distribution of recorded values (shootdown latencies, targets per shootdown) with exact,
// deterministic summary statistics. Values are kept as value -> count, so memory grows with the
// number of distinct values rather than with the run's length; percentiles use the
// nearest-rank definition (the smallest value with at least p% of the values at or below it).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include <nlohmann/json.hpp>

namespace mmusim::sim {

class Distribution {
 public:
  void record(std::uint64_t value) {
    ++count_;
    sum_ += value;  // modulo 2^64, like any sum of the values one by one
    pending_.push_back(value);
    if (pending_.size() == kPendingMax) settle();
  }
  void record(std::uint64_t value, std::uint64_t times) {
    if (times == 0) return;
    count_ += times;
    sum_ += value * times;
    counts_[value] += times;
  }
  void merge(const Distribution& other) {
    for (const auto& [value, times] : other.counts())
      record(value, times);
  }
  [[nodiscard]] std::uint64_t count() const { return count_; }
  // Each distinct value with how often it was recorded, in increasing order of value.
  [[nodiscard]] const std::map<std::uint64_t, std::uint64_t>& counts() const {
    settle();
    return counts_;
  }

  // {"count", "mean", "min", "p50", "p90", "p99", "max"}; zeros when empty.
  [[nodiscard]] nlohmann::ordered_json summary() const {
    const auto& counts = this->counts();
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    out["count"] = count_;
    out["mean"] = count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_);
    out["min"] = counts.empty() ? 0 : counts.begin()->first;
    out["p50"] = percentile(50);
    out["p90"] = percentile(90);
    out["p99"] = percentile(99);
    out["max"] = counts.empty() ? 0 : counts.rbegin()->first;
    return out;
  }

  // Nearest rank: the value at rank ceil(p / 100 * n), 1-based, in increasing order.
  [[nodiscard]] std::uint64_t percentile(unsigned p) const {
    if (count_ == 0) return 0;
    std::uint64_t rank = (p * count_ + 99) / 100;
    if (rank == 0) rank = 1;
    std::uint64_t seen = 0;
    for (const auto& [value, times] : counts()) {
      seen += times;
      if (seen >= rank) return value;
    }
    return counts_.rbegin()->first;
  }

 private:
  // Recording is on the simulation's hot path (a shootdown records twice), so values wait in
  // a small buffer and are counted a sorted batch at a time: one map update per distinct value
  // of the batch instead of one per value.
  static constexpr std::size_t kPendingMax = 4096;

  void settle() const {
    std::sort(pending_.begin(), pending_.end());
    for (std::size_t i = 0; i < pending_.size();) {
      std::size_t j = i + 1;
      while (j < pending_.size() && pending_[j] == pending_[i])
        ++j;
      counts_[pending_[i]] += j - i;
      i = j;
    }
    pending_.clear();
  }

  // Both hold recorded values: settle() moves them from one to the other without changing
  // what the distribution is, so the accessors that need them counted stay const.
  mutable std::vector<std::uint64_t> pending_;
  mutable std::map<std::uint64_t, std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
};

}  // namespace mmusim::sim
