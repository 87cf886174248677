#include "sim/experiment.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <sys/resource.h>

#include <systemc>
#include <tlm_utils/tlm_quantumkeeper.h>

#include "sim/config_io.h"
#include "sim/guest_sanitizer.h"
#include "sim/interrupt.h"
#include "sim/sampler.h"
#include "sim/stats_io.h"
#include "sim/time.h"
#include "sim/version.h"
#include "vmalloc/layout.h"
#include "workloads/test_vmalloc.h"
#include "workloads/workload.h"

namespace mmusim::sim {
namespace {

// Gives each run after the first a fresh SystemC kernel, so that one process can run several
// experiments, and makes the first kernel current again afterwards: SystemC's own static
// objects were registered with it and unregister from the current one at exit. Finished
// kernels are kept, never deleted, for the same reason.
class SimcontextScope {
 public:
  SimcontextScope() {
    static bool first = true;
    sc_core::sc_report_handler::set_actions("/OSCI/SystemC", sc_core::SC_INFO,
                                            sc_core::SC_DO_NOTHING);
    if (first) {
      first = false;
      return;
    }
    original_ = sc_core::sc_curr_simcontext;
    sc_core::sc_curr_simcontext = new sc_core::sc_simcontext();
    sc_core::sc_default_global_context = sc_core::sc_curr_simcontext;
    finished().push_back(sc_core::sc_curr_simcontext);
    sc_core::sc_report_handler::set_actions("/OSCI/SystemC", sc_core::SC_INFO,
                                            sc_core::SC_DO_NOTHING);
  }
  ~SimcontextScope() {
    if (original_ == nullptr) return;
    sc_core::sc_curr_simcontext = original_;
    sc_core::sc_default_global_context = original_;
  }
  SimcontextScope(const SimcontextScope&) = delete;
  SimcontextScope& operator=(const SimcontextScope&) = delete;

 private:
  static std::vector<sc_core::sc_simcontext*>& finished() {
    static auto* kernels = new std::vector<sc_core::sc_simcontext*>();  // never freed
    return *kernels;
  }
  sc_core::sc_simcontext* original_ = nullptr;
};

std::string with_commas(std::uint64_t value) {
  std::string digits = std::to_string(value);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3)
    digits.insert(i, ",");
  return digits;
}

std::string percent(std::uint64_t part, std::uint64_t whole) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", whole == 0 ? 0.0 : 100.0 * part / whole);
  return buf;
}

std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

// lazy_max_pages() as the guest computes it with every CPU online.
std::uint64_t lazy_max_pages(const vmalloc::VmallocConfig& config, int cpus) {
  if (config.lazy_max_pages_mode == vmalloc::LazyMaxPages::kFixed) return config.lazy_max_pages;
  unsigned fls = 0;
  for (auto n = static_cast<unsigned>(cpus); n != 0; n >>= 1)
    ++fls;
  return fls * ((std::uint64_t{32} << 20) >> mmu::kPageShift);
}

std::uint64_t peak_rss_kib() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::uint64_t>(usage.ru_maxrss);
}

// What lib/test_vmalloc.c prints, from the spans of each test in simulated time: per CPU that
// ran it, or per test summed over CPUs when more than 8 ran it (or per-CPU stats are off).
std::string test_vmalloc_report(const ExperimentConfig& config,
                                const nlohmann::ordered_json& stats) {
  const workloads::TestVmallocConfig& test = config.workload.test_vmalloc;
  const std::uint64_t cpus = config.platform.cpus;
  const std::uint64_t threads = test.nr_threads == 0 ? cpus : test.nr_threads;
  const std::uint64_t cycles_per_usec = config.platform.frequency_mhz;
  auto count = [](const nlohmann::ordered_json& spans, const char* name, const char* key) {
    return spans.contains(name) ? spans[name][key].get<std::uint64_t>() : std::uint64_t{0};
  };
  // A run stopped before any span ended has none.
  static const nlohmann::ordered_json kNoSpans = nlohmann::ordered_json::object();
  auto spans_of = [](const nlohmann::ordered_json& section) -> const nlohmann::ordered_json& {
    return section.contains("spans") ? section["spans"] : kNoSpans;
  };
  std::ostringstream out;
  out << "  test_vmalloc   the module's report in simulated time (avg: a CPU's cycles in the "
         "test / repeat)\n";
  auto summary_line = [&](const char* name, std::uint64_t passed, std::uint64_t failed,
                          std::uint64_t avg_cycles) {
    out << "    Summary: " << name << " passed: " << passed << " failed: " << failed
        << " repeat: " << test.test_repeat_count << " loops: " << test.test_loop_count
        << " avg: " << avg_cycles / cycles_per_usec << " usec\n";
  };
  const char* worker = workloads::kTestVmallocWorkerSpan;
  if (threads <= 8 && stats.contains("per_cpu")) {
    for (std::uint64_t cpu = 0; cpu < threads; ++cpu) {
      const auto& spans = spans_of(stats["per_cpu"][cpu]);
      for (const workloads::TestVmallocCase& c : workloads::kTestVmallocCases) {
        if ((test.run_test_mask & c.id) == 0) continue;
        summary_line(c.name, count(spans, c.name, "passed"), count(spans, c.name, "failed"),
                     count(spans, c.name, "cycles") / test.test_repeat_count);
      }
      out << "    All test took CPU" << cpu << "=" << count(spans, worker, "cycles") << " cycles\n";
    }
    return out.str();
  }
  const auto& spans = spans_of(stats);
  out << "    (over the " << threads
      << " CPUs that ran it: passed and failed summed, avg their mean)\n";
  for (const workloads::TestVmallocCase& c : workloads::kTestVmallocCases) {
    if ((test.run_test_mask & c.id) == 0) continue;
    summary_line(c.name, count(spans, c.name, "passed"), count(spans, c.name, "failed"),
                 count(spans, c.name, "cycles") / threads / test.test_repeat_count);
  }
  out << "    All test took " << count(spans, worker, "max_cycles")
      << " cycles on the slowest CPU, "
      << fixed(spans.contains(worker) ? spans[worker]["mean_cycles"].get<double>() : 0.0, 0)
      << " on average\n";
  return out.str();
}

std::string summarise(const ExperimentConfig& config, const RunOptions& options,
                      const nlohmann::ordered_json& stats, double wall_seconds) {
  const auto& sim = stats["sim"];
  const auto& total = stats["total"];
  const auto& tr = total["translation"];
  const auto& inval = total["invalidation"];
  const auto& cycles = total["cycles"];
  const auto& walker = total["walker"];
  const std::uint64_t translations = tr["translations"];
  const std::uint64_t busy = cycles["busy"];
  std::uint64_t faults = 0;
  for (const auto& item : tr["faults"].items())
    faults += item.value().get<std::uint64_t>();
  const std::uint64_t walks = walker["walks"];
  const std::uint64_t psc_hits =
      walker["psc_hits_pde"].get<std::uint64_t>() + walker["psc_hits_pdpte"].get<std::uint64_t>() +
      walker["psc_hits_pml4e"].get<std::uint64_t>() + walker["psc_hits_pml5e"].get<std::uint64_t>();
  const std::uint64_t ops = sim["ops"];

  std::ostringstream out;
  out << "mmusim " << kVersion << ": " << options.config_name << "\n";
  out << "  machine        " << config.platform.cpus << " CPUs ("
      << config.platform.topology.sockets << " socket"
      << (config.platform.topology.sockets == 1 ? "" : "s") << "), "
      << config.platform.frequency_mhz << " MHz, " << config.mmu.paging_levels
      << "-level paging, PCID " << (config.mmu.pcid ? "on" : "off") << "\n";
  out << "  simulated      " << with_commas(sim["cycles"]) << " cycles ("
      << fixed(sim["seconds"].get<double>() * 1e6, 2) << " us), " << with_commas(ops) << " ops, "
      << sim["stop_reason"].get<std::string>() << "\n";
  if (!sim["stop_detail"].get<std::string>().empty()) {
    out << "  stopped        " << sim["stop_detail"].get<std::string>() << "\n";
  }
  out << "  translations   " << with_commas(translations) << ": L1 hits "
      << percent(tr["l1_hits"], translations) << ", L2 hits "
      << percent(tr["l2_hits"], translations) << ", walks " << percent(tr["misses"], translations)
      << "\n";
  out << "  walker         " << with_commas(walks) << " walks, avg "
      << fixed(walks == 0 ? 0.0 : walker["walk_cycles"].get<double>() / walks, 1) << " cycles, "
      << with_commas(walker["memory_reads"]) << " entry reads, PSC hits "
      << percent(psc_hits, walks) << "\n";
  out << "  invalidations  INVLPG " << with_commas(inval["invlpg"]) << ", CR3 writes "
      << with_commas(inval["mov_cr3"].get<std::uint64_t>() +
                     inval["mov_cr3_noflush"].get<std::uint64_t>())
      << ", INVPCID "
      << with_commas(inval["invpcid_individual"].get<std::uint64_t>() +
                     inval["invpcid_single_context"].get<std::uint64_t>() +
                     inval["invpcid_all_global"].get<std::uint64_t>() +
                     inval["invpcid_all_nonglobal"].get<std::uint64_t>())
      << ", PGE toggles " << with_commas(inval["pge_toggles"]) << "\n";
  const auto& shoot = total["shootdown"];
  const auto& latency = stats["shootdowns"]["latency_cycles"];
  out << "  shootdowns     " << with_commas(shoot["started"]) << " ("
      << with_commas(shoot["started_ranges"]) << " by page, " << with_commas(shoot["started_full"])
      << " full), IPIs " << with_commas(shoot["ipis_sent"]) << ", INVLPGB "
      << with_commas(shoot["invlpgb_instructions"]) << "; latency mean "
      << fixed(latency["mean"].get<double>(), 0) << " p99 " << with_commas(latency["p99"])
      << " max " << with_commas(latency["max"]) << " cycles\n";
  out << "  faults         " << with_commas(faults) << "; stale TLB hits "
      << with_commas(stats["sanitizer"]["stale_tlb_hits"]) << "; VA reuse with stale TLB "
      << with_commas(stats["sanitizer"]["va_reuse_with_stale_tlb"]) << "\n";
  if (stats.contains("vmalloc")) {
    const auto& vm = stats["vmalloc"];
    const auto& kernel = stats["kernel"];
    out << "  vmalloc        " << with_commas(vm["areas_allocated"]) << " areas, "
        << with_commas(vm["lazy_frees"]) << " lazy frees, " << with_commas(vm["purges"])
        << " purges (" << with_commas(vm["areas_purged"]) << " areas, "
        << with_commas(vm["pages_purged"]) << " pages), " << with_commas(vm["vmap_blocks_created"])
        << " vmap blocks; kernel " << with_commas(kernel["warnings"]) << " WARN, "
        << with_commas(kernel["bugs"]) << " BUG\n";
  }
  out << "  cycles (busy)  " << with_commas(busy) << ": work " << percent(cycles["work"], busy)
      << ", TLB " << percent(cycles["tlb"], busy) << ", walks " << percent(cycles["walk"], busy)
      << ", invalidation " << percent(cycles["invalidation"], busy) << ", page tables "
      << percent(cycles["page_table"], busy) << ", guest kernel " << percent(cycles["kernel"], busy)
      << "\n";
  const std::uint64_t flush_cycles =
      cycles["flush_send"].get<std::uint64_t>() + cycles["flush_spin"].get<std::uint64_t>() +
      cycles["flush_local"].get<std::uint64_t>() + cycles["ipi_handling"].get<std::uint64_t>() +
      cycles["idle_wakeup"].get<std::uint64_t>();
  out << "  TLB flushing   " << with_commas(flush_cycles) << " cycles ("
      << percent(flush_cycles, busy) << " of busy): send " << with_commas(cycles["flush_send"])
      << ", spin " << with_commas(cycles["flush_spin"]) << ", local "
      << with_commas(cycles["flush_local"]) << ", IPI handlers "
      << with_commas(cycles["ipi_handling"]) << ", wake-ups " << with_commas(cycles["idle_wakeup"])
      << "\n";
  if (config.workload.kind == workloads::WorkloadKind::kTestVmalloc) {
    out << test_vmalloc_report(config, stats);
  }
  if (options.write_outputs) {
    const std::filesystem::path dir(options.out_dir);
    out << "  output         " << (dir / "stats.json").string() << ", "
        << (dir / "config.json").string() << "\n";
  }
  out << "  host           " << fixed(wall_seconds, 2) << " s, "
      << with_commas(wall_seconds > 0 ? static_cast<std::uint64_t>(ops / wall_seconds) : 0)
      << " ops/s, peak RSS " << peak_rss_kib() / 1024 << " MiB\n";
  return out.str();
}

}  // namespace

std::string write_file_atomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return temporary + ": cannot create the file";
    out << text;
    out.close();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(temporary, ignored);
      return temporary + ": write failed";
    }
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) return path + ": cannot rename into place: " + ec.message();
  return "";
}

std::string write_files_atomically(const std::vector<std::pair<std::string, std::string>>& files) {
  auto remove_temporaries = [&](std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      std::error_code ignored;
      std::filesystem::remove(files[i].first + ".tmp", ignored);
    }
  };
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string temporary = files[i].first + ".tmp";
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) {
      remove_temporaries(i);
      return temporary + ": cannot create the file";
    }
    out << files[i].second;
    out.close();
    if (!out) {
      remove_temporaries(i + 1);
      return temporary + ": write failed";
    }
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    std::error_code ec;
    std::filesystem::rename(files[i].first + ".tmp", files[i].first, ec);
    if (ec) {
      for (std::size_t j = i; j < files.size(); ++j) {
        std::error_code ignored;
        std::filesystem::remove(files[j].first + ".tmp", ignored);
      }
      return files[i].first + ": cannot rename into place: " + ec.message();
    }
  }
  return "";
}

nlohmann::ordered_json collect_stats(const Platform& platform) {
  using nlohmann::ordered_json;
  const ExperimentConfig& config = platform.config();
  CpuStats total;
  ordered_json per_cpu = ordered_json::array();
  std::uint64_t end_cycle = 0;
  for (int i = 0; i < platform.cpu_count(); ++i) {
    const Cpu& cpu = platform.cpu(i);
    const CpuStats stats = cpu.stats();
    add_stats(total, stats);
    end_cycle = std::max(end_cycle, cpu.finish_cycle());
    if (config.output.per_cpu) {
      ordered_json entry = ordered_json::object();
      entry["cpu"] = i;
      entry["finish_cycle"] = cpu.finish_cycle();
      const ordered_json counters = stats_to_json(stats);
      for (const auto& item : counters.items())
        entry[item.key()] = item.value();
      per_cpu.push_back(entry);
    }
  }
  ordered_json out = ordered_json::object();
  out["format"] = "mmusim-stats 1";
  ordered_json sim = ordered_json::object();
  sim["cpus"] = platform.cpu_count();
  sim["frequency_mhz"] = config.platform.frequency_mhz;
  sim["cycles"] = end_cycle;
  sim["seconds"] = static_cast<double>(end_cycle) / (config.platform.frequency_mhz * 1e6);
  sim["ops"] = total.ops.total;
  sim["stop_reason"] = to_string(platform.stop_reason());
  sim["stop_detail"] = platform.stop_detail();
  sim["warnings"] = platform.warnings().size() + platform.warnings_dropped();
  out["sim"] = sim;
  out["total"] = stats_to_json(total);

  ordered_json memory = ordered_json::object();
  memory["physical"] = stats_to_json(platform.memory().stats());
  memory["page_tables"] = stats_to_json(platform.editor().stats());
  out["memory"] = memory;

  ordered_json sanitizer = ordered_json::object();
  sanitizer["stale_check"] = config.run.stale_check;
  sanitizer["stale_tlb_hits"] = total.translation.stale_hits;
  sanitizer["va_reuse_with_stale_tlb"] = platform.va_reuse_with_stale_tlb();
  sanitizer["va_reuse_stale_entries"] = platform.va_reuse_stale_entries();
  if (const GuestSanitizer* checker = platform.guest_sanitizer()) {
    sanitizer["invariant_checks"] = checker->checks();
    sanitizer["invariant_violations"] = checker->violations();
    sanitizer["invariant_messages"] = checker->messages();
    sanitizer["teardown"] = checker->teardown();
    sanitizer["teardown_frees"] = checker->teardown_frees();
  }
  if (const tlb::StaleTracker* tracker = platform.tracker()) {
    const ordered_json counters = stats_to_json(tracker->stats());
    for (const auto& item : counters.items())
      sanitizer[item.key()] = item.value();
  }
  out["sanitizer"] = sanitizer;

  ordered_json shootdowns = ordered_json::object();
  shootdowns["latency_cycles"] = platform.shootdown_latency().summary();
  shootdowns["targets"] = platform.shootdown_targets().summary();
  shootdowns["flush_call_cycles"] = platform.flush_duration().summary();
  out["shootdowns"] = shootdowns;

  const KernelLog& log = platform.kernel_log();
  ordered_json kernel = ordered_json::object();
  kernel["warnings"] = log.warnings;
  kernel["bugs"] = log.bugs;
  kernel["messages"] = log.messages;
  kernel["log"] = log.lines;
  kernel["log_lines_dropped"] = log.lines_dropped;
  out["kernel"] = kernel;

  if (platform.guest_used()) {
    const vmalloc::Vmalloc& guest = platform.guest();
    ordered_json vm = stats_to_json(guest.stats());
    ordered_json state = ordered_json::object();
    state["vmalloc_start"] = mmu::hex(guest.layout().vmalloc_start);
    state["busy_areas"] = guest.busy_areas();
    state["vmap_lazy_nr"] = guest.vmap_lazy_nr();
    state["lazy_max_pages"] = lazy_max_pages(config.vmalloc, platform.cpu_count());
    state["purge_list_length"] = guest.purge_list_length();
    state["vmap_block_pages"] = guest.vmap_bbmap_bits();
    vm["at_end"] = state;
    auto summary = [](const vmalloc::ValueCounts& counts) {
      Distribution distribution;
      for (const auto& [value, times] : counts)
        distribution.record(value, times);
      return distribution.summary();
    };
    const vmalloc::PurgeSummary& purges = guest.purge_summary();
    vm["purge_areas"] = summary(purges.areas);
    vm["purge_pages"] = summary(purges.pages);
    vm["purge_flush_range_pages"] = summary(purges.flush_range_pages);
    vm["page_alloc"] = stats_to_json(platform.page_allocator().stats());
    const std::string invariants = guest.check_invariants();
    vm["invariants"] = invariants.empty() ? "ok" : invariants;
    out["vmalloc"] = vm;
  }

  ordered_json locks = ordered_json::object();
  for (const auto& lock : platform.locks())
    locks[lock->name()] = stats_to_json(lock->stats);
  out["locks"] = locks;

  // Spans by name over all CPUs, then (with per_cpu) each CPU's.
  std::map<std::string, SpanTotals> spans;
  for (int i = 0; i < platform.cpu_count(); ++i) {
    for (const auto& [name, totals] : platform.cpu(i).spans())
      spans[name].add(totals);
  }
  auto span_json = [](const SpanTotals& totals) {
    ordered_json entry = ordered_json::object();
    entry["count"] = totals.count;
    entry["passed"] = totals.passed;
    entry["failed"] = totals.failed;
    entry["cycles"] = totals.cycles;
    entry["mean_cycles"] =
        totals.count == 0 ? 0.0 : static_cast<double>(totals.cycles) / totals.count;
    entry["min_cycles"] = totals.count == 0 ? 0 : totals.min_cycles;
    entry["max_cycles"] = totals.max_cycles;
    return entry;
  };
  if (!spans.empty()) {
    ordered_json all = ordered_json::object();
    for (const auto& [name, totals] : spans)
      all[name] = span_json(totals);
    out["spans"] = all;
    if (config.output.per_cpu) {
      for (int i = 0; i < platform.cpu_count(); ++i) {
        ordered_json mine = ordered_json::object();
        for (const auto& [name, totals] : platform.cpu(i).spans())
          mine[name] = span_json(totals);
        per_cpu[i]["spans"] = mine;
      }
    }
  }

  if (config.output.per_cpu) out["per_cpu"] = per_cpu;
  if (const Sampler* sampler = platform.sampler()) out["timeseries"] = sampler->to_json(end_cycle);
  return out;
}

RunResult run_experiment(const ExperimentConfig& config, const RunOptions& options) {
  const SimcontextScope kernel;
  tlm_utils::tlm_quantumkeeper::set_global_quantum(cycles_to_time(config.run.quantum_cycles));

  const vmalloc::KernelLayout layout = vmalloc::make_layout(
      static_cast<int>(config.mmu.paging_levels), config.vmalloc.kaslr, config.run.seed);
  std::unique_ptr<workloads::Workload> workload =
      workloads::make_workload(config.workload, static_cast<int>(config.platform.cpus),
                               config.run.seed, {layout.vmalloc_start, layout.vmalloc_end});
  auto platform = std::make_unique<Platform>("platform", config);
  if (options.progress) platform->set_progress_hook(options.progress);
  const std::vector<workloads::Op> boot = workload->boot_ops();
  platform->boot(boot);
  for (int i = 0; i < platform->cpu_count(); ++i)
    platform->cpu(i).set_source(workload->source(i));

  std::ofstream record;
  std::unique_ptr<workloads::TraceWriter> recorder;
  if (!options.record_path.empty()) {
    record.open(options.record_path + ".tmp", std::ios::binary | std::ios::trunc);
    if (!record) throw std::runtime_error(options.record_path + ".tmp: cannot create the file");
    recorder = std::make_unique<workloads::TraceWriter>(
        record, platform->cpu_count(), "recorded by mmusim " + std::string(kVersion));
    for (const auto& op : boot)
      recorder->write_boot(op);
    platform->record_to(recorder.get());
  }

  std::unique_ptr<Timeline> timeline;
  if (!options.timeline_path.empty()) {
    timeline = std::make_unique<Timeline>(options.timeline_path, config.output.timeline_max_events,
                                          config.platform.frequency_mhz, platform->cpu_count());
    platform->set_timeline(timeline.get());
  }

  // A signal that came while the machine was being built stops it before its first op.
  if (const int signal = interrupt_signal(); signal != 0) {
    platform->request_stop(StopReason::kInterrupted, "by " + signal_name(signal));
  }
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  sc_core::sc_start();
  // Blocked CPUs and nothing left to happen: a deadlock. Stopping wakes them to unwind.
  if (platform->detect_deadlock() || !platform->all_exited()) sc_core::sc_start();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The process's CPU time over the same span: unlike the wall time, it does not count what
  // other programs on a shared machine took (scripts/bench's rates use it).
  const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  RunResult result;
  auto abandon = [&](std::string error, bool input) {
    if (record.is_open()) {
      record.close();
      std::error_code ignored;
      std::filesystem::remove(options.record_path + ".tmp", ignored);
    }
    if (timeline) timeline->abandon();
    result.error = std::move(error);
    result.input_error = input;
    return result;
  };
  if (platform->stop_reason() == StopReason::kInterrupted) {
    abandon("", false);
    result.interrupted = interrupt_signal();
    return result;
  }
  if (!platform->error().empty()) return abandon(platform->error(), platform->input_error());
  // A signal after the last op, before anything is written: the run counts as interrupted too.
  // From here on, one only waits until the files are in place (which is quick).
  if (const int signal = interrupt_signal(); signal != 0) {
    abandon("", false);
    result.interrupted = signal;
    return result;
  }

  result.stats = collect_stats(*platform);
  nlohmann::ordered_json host = nlohmann::ordered_json::object();
  host["mmusim_version"] = kVersion;
  host["wall_seconds"] = wall;
  host["cpu_seconds"] = cpu;
  host["peak_rss_kib"] = peak_rss_kib();
  host["ops_per_second"] = wall > 0 ? result.stats["sim"]["ops"].get<double>() / wall : 0.0;
  result.stats["host"] = host;
  result.stop_reason = platform->stop_reason();
  result.stop_detail = platform->stop_detail();
  result.warnings = platform->warnings();
  if (platform->warnings_dropped() > 0) {
    result.warnings.push_back("(" + std::to_string(platform->warnings_dropped()) +
                              " more warnings not shown)");
  }
  const IpiLatencyConfig& ipi = config.latency.ipi;
  const std::uint64_t min_delivery =
      std::min({ipi.deliver_smt, ipi.deliver_socket, ipi.deliver_remote});
  if (config.platform.cpus > 1 && config.run.quantum_cycles > min_delivery) {
    result.warnings.push_back(
        "run.quantum_cycles (" + std::to_string(config.run.quantum_cycles) +
        ") is above the smallest IPI delivery latency (" + std::to_string(min_delivery) +
        "): a CPU may run past an IPI's arrival before it is sent, and take it late");
  }

  if (record.is_open()) {
    record.close();
    if (!record) return abandon(options.record_path + ": write failed", false);
    std::error_code ec;
    std::filesystem::rename(options.record_path + ".tmp", options.record_path, ec);
    if (ec)
      return abandon(options.record_path + ": cannot rename into place: " + ec.message(), false);
  }
  if (timeline) {
    const std::string error = timeline->finish();
    if (!error.empty()) return abandon(error, false);
    if (timeline->dropped() > 0) {
      result.warnings.push_back(options.timeline_path + ": cut after " +
                                std::to_string(timeline->written()) + " events (" +
                                std::to_string(timeline->dropped()) +
                                " more not written; raise output.timeline_max_events)");
    }
  }
  if (options.write_outputs) {
    std::error_code ec;
    std::filesystem::create_directories(options.out_dir, ec);
    if (ec) {
      return abandon(options.out_dir + ": cannot create the output folder: " + ec.message(), false);
    }
    const std::filesystem::path dir(options.out_dir);
    // All of them or none: each goes to a temporary name, renamed once all are written.
    std::vector<std::pair<std::string, std::string>> files;
    files.emplace_back((dir / "stats.json").string(), result.stats.dump(2) + "\n");
    files.emplace_back((dir / "config.json").string(), config_to_json(config).dump(2) + "\n");
    // /proc/vmallocinfo: at the end of the run, and each snapshot a trace asked for.
    if (platform->guest_used()) {
      files.emplace_back((dir / "vmallocinfo.txt").string(), platform->guest().vmallocinfo());
    }
    const std::vector<std::string>& snapshots = platform->vmallocinfo_snapshots();
    for (std::size_t i = 0; i < snapshots.size(); ++i) {
      files.emplace_back((dir / ("vmallocinfo." + std::to_string(i + 1) + ".txt")).string(),
                         snapshots[i]);
    }
    const std::string error = write_files_atomically(files);
    if (!error.empty()) return abandon(error, false);
    // Snapshots an earlier run left in the folder would read as this run's.
    for (std::size_t i = snapshots.size() + 1;; ++i) {
      std::error_code ignored;
      if (!std::filesystem::remove(dir / ("vmallocinfo." + std::to_string(i) + ".txt"), ignored))
        break;
    }
  }
  result.summary = summarise(config, options, result.stats, wall);
  return result;
}

}  // namespace mmusim::sim
