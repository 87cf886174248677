#include "sim/timeline.h"

#include <cstdio>
#include <filesystem>

namespace mmusim::sim {

Timeline::Timeline(const std::string& path, std::uint64_t max_events, std::uint32_t frequency_mhz,
                   int cpus)
    : path_(path), max_events_(max_events), frequency_mhz_(frequency_mhz) {
  out_.open(path + ".tmp", std::ios::binary | std::ios::trunc);
  if (!out_) throw std::runtime_error(path + ".tmp: cannot create the timeline file");
  open_ = true;
  out_ << "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
  out_ << R"({"name":"process_name","ph":"M","pid":0,"tid":0,"args":{"name":"mmusim"}})";
  for (int cpu = 0; cpu < cpus; ++cpu) {
    out_ << ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":0,\"tid\":" << cpu
         << ",\"args\":{\"name\":\"CPU " << cpu << "\"}}";
    out_ << ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":0,\"tid\":" << cpu
         << ",\"args\":{\"sort_index\":" << cpu << "}}";
  }
}

Timeline::~Timeline() {
  abandon();
}

std::string Timeline::micros(std::uint64_t cycles) const {
  // Cycles at frequency_mhz are cycles / frequency_mhz microseconds; printed with nanosecond
  // resolution, always the same way.
  char buf[48];
  const std::uint64_t whole = cycles / frequency_mhz_;
  const std::uint64_t rest = cycles % frequency_mhz_;
  std::snprintf(buf, sizeof buf, "%llu.%03llu", static_cast<unsigned long long>(whole),
                static_cast<unsigned long long>(rest * 1000 / frequency_mhz_));
  return buf;
}

bool Timeline::admit() {
  if (!out_.is_open()) return false;
  if (written_ >= max_events_) {
    ++dropped_;
    return false;
  }
  ++written_;
  return true;
}

void Timeline::slice(int cpu, const char* name, const char* category, std::uint64_t start,
                     std::uint64_t duration, const std::string& args_json) {
  if (!admit()) return;
  out_ << ",\n{\"name\":\"" << name << "\",\"cat\":\"" << category << "\",\"ph\":\"X\",\"pid\":0,"
       << "\"tid\":" << cpu << ",\"ts\":" << micros(start) << ",\"dur\":" << micros(duration);
  if (!args_json.empty()) out_ << ",\"args\":" << args_json;
  out_ << "}";
}

void Timeline::flow_begin(int cpu, std::uint64_t id, std::uint64_t at) {
  if (!admit()) return;
  out_ << ",\n{\"name\":\"ipi\",\"cat\":\"ipi\",\"ph\":\"s\",\"id\":" << id
       << ",\"pid\":0,\"tid\":" << cpu << ",\"ts\":" << micros(at) << "}";
}

void Timeline::flow_end(int cpu, std::uint64_t id, std::uint64_t at) {
  if (!admit()) return;
  out_ << ",\n{\"name\":\"ipi\",\"cat\":\"ipi\",\"ph\":\"f\",\"bp\":\"e\",\"id\":" << id
       << ",\"pid\":0,\"tid\":" << cpu << ",\"ts\":" << micros(at) << "}";
}

std::string Timeline::finish() {
  if (!out_.is_open()) return "";
  out_ << "\n],\"otherData\":{\"events_written\":" << written_
       << ",\"events_dropped\":" << dropped_;
  if (dropped_ > 0) {
    out_ << ",\"note\":\"cut after " << written_
         << " events (output.timeline_max_events); the rest of the run is not shown\"";
  }
  out_ << "}}\n";
  out_.close();
  open_ = false;
  if (!out_) return path_ + ".tmp: write failed";
  std::error_code ec;
  std::filesystem::rename(path_ + ".tmp", path_, ec);
  if (ec) return path_ + ": cannot rename into place: " + ec.message();
  return "";
}

void Timeline::abandon() {
  if (!out_.is_open()) return;
  out_.close();
  open_ = false;
  std::error_code ec;
  std::filesystem::remove(path_ + ".tmp", ec);
}

}  // namespace mmusim::sim
