#include "workloads/test_vmalloc.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "mmu/random.h"

namespace mmusim::workloads {
namespace {

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kPointer = 8;          // sizeof(void *)
constexpr std::uint64_t kFixSizePages = 3;     // fix_size_alloc_test as in 5.1
constexpr std::uint64_t kThreadAlign = 16384;  // x86-64 THREAD_SIZE without KASAN
constexpr std::uint64_t kLongBusyAreas = 15000;
constexpr std::uint64_t kLongBusyBigPages = 100;
constexpr std::uint64_t kRandomSizeMaxPages = 100;
constexpr std::uint64_t kPcpuAllocations = 35000;
constexpr std::uint64_t kPcpuMaxSize = kPage / 4;

// The x86-64 4.19 first chunk that sizes every percpu unit (pcpu_build_alloc_info()).
constexpr std::uint64_t kPcpuStaticSize = 147456;
constexpr std::uint64_t kPcpuReservedSize = 8192;   // PERCPU_MODULE_RESERVE
constexpr std::uint64_t kPcpuDynamicSize = 28672;   // PERCPU_DYNAMIC_RESERVE on 64-bit
constexpr std::uint64_t kPcpuDynamicEarly = 12288;  // PERCPU_DYNAMIC_EARLY_SIZE
constexpr std::uint64_t kPcpuMinUnitSize = 32768;   // PCPU_MIN_UNIT_SIZE
constexpr std::uint64_t kPcpuMinAllocSize = 4;      // PCPU_MIN_ALLOC_SIZE

// ALIGN(): wraps past 2^64 as the kernel's does.
std::uint64_t align_up(std::uint64_t value, std::uint64_t align) {
  return (value + align - 1) & ~(align - 1);
}

std::uint64_t div_round_up(std::uint64_t value, std::uint64_t divisor) {
  return (value + divisor - 1) / divisor;
}

unsigned fls(std::uint64_t value) {
  unsigned bits = 0;
  for (; value != 0; value >>= 1)
    ++bits;
  return bits;
}

// One CPU's worker: its tests in its order, each run test_repeat_count times inside spans.
// Ops are made a step at a time (one loop iteration, or one pcpu allocation with what it
// populates), so memory does not depend on test_loop_count.
class TestVmallocSource final : public OpSource {
 public:
  TestVmallocSource(const TestVmallocConfig& config, int cpus, int cpu, std::uint64_t seed,
                    int align_shift_failure)
      : config_(config),
        cpus_(cpus),
        cpu_(cpu),
        prefix_("c" + std::to_string(cpu) + "_"),
        rng_(seed, "workload.test_vmalloc.cpu" + std::to_string(cpu)),
        align_shift_failure_(align_shift_failure),
        pcpu_(pcpu_chunk_geometry(cpus)) {
    std::iota(order_.begin(), order_.end(), 0);
    if (!config_.sequential_test_order) {
      // shuffle_array(): j is drawn below i, so no entry stays in place. Its own stream, so
      // that the order does not move the tests' random sizes.
      mmu::Rng order_rng(seed, "workload.test_vmalloc.order.cpu" + std::to_string(cpu));
      for (std::size_t i = order_.size() - 1; i > 0; --i)
        std::swap(order_[i], order_[order_rng.below(i)]);
    }
  }

  bool next(Op& op) override {
    while (queue_.empty()) {
      if (!refill()) return false;
    }
    op = queue_.front();
    queue_.pop_front();
    ++ops_;
    return true;
  }

  [[nodiscard]] std::string where() const override {
    std::string text = "test_vmalloc cpu " + std::to_string(cpu_) + " op " + std::to_string(ops_);
    if (stage_ == Stage::kRunning) text += std::string(" (") + case_name() + ")";
    return text;
  }

 private:
  enum class Stage : std::uint8_t { kStart, kNextTest, kRunBegin, kRunning, kDone };

  // A loop of the running test: `count` iterations, each emitting its ops.
  struct Phase {
    std::uint64_t count;
    std::function<void(std::uint64_t)> emit;
  };

  // A percpu chunk of this CPU's model (see PcpuChunkGeometry).
  struct PcpuChunk {
    int slot = 0;                   // names the chunk's handle
    std::uint64_t bump = 0;         // next free byte of each unit
    std::uint64_t populated = 0;    // pages [0, populated) of every unit are mapped
    std::uint64_t allocations = 0;  // live allocations
  };

  [[nodiscard]] const char* case_name() const { return kTestVmallocCases[order_[position_]].name; }

  bool refill() {
    switch (stage_) {
      case Stage::kStart:
        span(OpKind::kSpanBegin, kTestVmallocWorkerSpan);
        stage_ = Stage::kNextTest;
        return true;
      case Stage::kNextTest:
        for (; position_ < order_.size(); ++position_) {
          if ((config_.run_test_mask & kTestVmallocCases[order_[position_]].id) != 0) break;
        }
        if (position_ == order_.size()) {
          span(OpKind::kSpanEnd, kTestVmallocWorkerSpan);
          stage_ = Stage::kDone;
          return true;
        }
        repeat_ = 0;
        stage_ = Stage::kRunBegin;
        return true;
      case Stage::kRunBegin:
        span(OpKind::kSpanBegin, case_name());
        phases_ = phases_of(kTestVmallocCases[order_[position_]].id);
        phase_ = 0;
        iteration_ = 0;
        stage_ = Stage::kRunning;
        return true;
      case Stage::kRunning:
        while (phase_ < phases_.size() && iteration_ == phases_[phase_].count) {
          ++phase_;
          iteration_ = 0;
        }
        if (phase_ < phases_.size()) {
          phases_[phase_].emit(iteration_++);
          return true;
        }
        span(OpKind::kSpanEnd, case_name());
        if (++repeat_ < config_.test_repeat_count) {
          stage_ = Stage::kRunBegin;
        } else {
          ++position_;
          stage_ = Stage::kNextTest;
        }
        return true;
      case Stage::kDone:
        return false;
    }
    return false;
  }

  std::vector<Phase> phases_of(std::uint32_t id) {
    const std::uint64_t loops = config_.test_loop_count;
    switch (id) {
      case 1:  // fix_size_alloc_test
        return {{loops, [this](std::uint64_t) {
                   vmalloc(name("p"), kFixSizePages * kPage);
                   access(OpKind::kStore, name("p"), 0);
                   vfree(name("p"));
                 }}};
      case 2:
        return full_fit_alloc_test();
      case 4:
        return long_busy_list_alloc_test();
      case 8:  // random_size_alloc_test
        return {{loops, [this](std::uint64_t) {
                   vmalloc(name("p"), rng_.between(1, kRandomSizeMaxPages) * kPage);
                   access(OpKind::kStore, name("p"), 0);
                   vfree(name("p"));
                 }}};
      case 16:  // fix_align_alloc_test
        return {{loops, [this](std::uint64_t) {
                   vmalloc_node(name("p"), 5 * kPage, kThreadAlign << 1);
                   vfree(name("p"));
                 }}};
      case 32:  // random_size_align_alloc_test: one random value gives both, as in 5.1
        return {{loops, [this](std::uint64_t) {
                   const std::uint64_t random = rng_.next();
                   vmalloc_node(name("p"), (random % 10 + 1) * kPage,
                                std::uint64_t{1} << (random % 23));
                   vfree(name("p"));
                 }}};
      case 64:  // align_shift_alloc_test: stops at the alignment that cannot fit
        return {{static_cast<std::uint64_t>(std::min(align_shift_failure_ + 1, 64)),
                 [this](std::uint64_t shift) {
                   vmalloc_node(name("p"), kPage, std::uint64_t{1} << shift);
                   if (static_cast<int>(shift) != align_shift_failure_) vfree(name("p"));
                 }}};
      case 128:
        return pcpu_alloc_test();
      case 1024:  // vm_map_ram_test with nr_pages 1
        return {{loops, [this](std::uint64_t) {
                   vm_map_ram(name("v"), 1);
                   access(OpKind::kStore, name("v"), 0);
                   vm_unmap_ram(name("v"), 1);
                 }}};
      default:
        return {};
    }
  }

  std::vector<Phase> full_fit_alloc_test() {
    // junk_length: as many one-page pairs as lazy_max_pages() with every CPU online.
    const std::uint64_t junk = fls(static_cast<std::uint64_t>(cpus_)) * ((32u << 20) / kPage);
    return {
        {1,
         [this, junk](std::uint64_t) {
           vmalloc(name("ptr"), kPointer * junk);
           vmalloc(name("junk"), kPointer * junk);
         }},
        {junk,
         [this](std::uint64_t i) {
           vmalloc(name("f", i), kPage);
           access(OpKind::kStore, name("ptr"), kPointer * i);
           vmalloc(name("j", i), kPage);
           access(OpKind::kStore, name("junk"), kPointer * i);
         }},
        {junk,
         [this](std::uint64_t i) {
           access(OpKind::kLoad, name("junk"), kPointer * i);
           vfree(name("j", i));
         }},
        {config_.test_loop_count,
         [this](std::uint64_t) {
           vmalloc(name("p"), kPage);
           access(OpKind::kStore, name("p"), 0);
           vfree(name("p"));
         }},
        {junk,
         [this](std::uint64_t i) {
           access(OpKind::kLoad, name("ptr"), kPointer * i);
           vfree(name("f", i));
         }},
        {1,
         [this](std::uint64_t) {
           vfree(name("ptr"));
           vfree(name("junk"));
         }},
    };
  }

  std::vector<Phase> long_busy_list_alloc_test() {
    return {
        {1, [this](std::uint64_t) { vmalloc(name("ptr"), kPointer * kLongBusyAreas); }},
        {kLongBusyAreas,
         [this](std::uint64_t i) {
           vmalloc(name("b", i), kPage);
           access(OpKind::kStore, name("ptr"), kPointer * i);
         }},
        {config_.test_loop_count,
         [this](std::uint64_t) {
           vmalloc(name("p1"), kLongBusyBigPages * kPage);
           vmalloc(name("p2"), kPage);
           access(OpKind::kStore, name("p1"), 0);
           access(OpKind::kStore, name("p2"), 0);
           vfree(name("p1"));
           vfree(name("p2"));
         }},
        {kLongBusyAreas,
         [this](std::uint64_t i) {
           access(OpKind::kLoad, name("ptr"), kPointer * i);
           vfree(name("b", i));
         }},
        {1, [this](std::uint64_t) { vfree(name("ptr")); }},
    };
  }

  std::vector<Phase> pcpu_alloc_test() {
    return {
        {1, [this](std::uint64_t) { vmalloc(name("pcpu"), kPointer * kPcpuAllocations); }},
        {kPcpuAllocations,
         [this](std::uint64_t i) {
           // 5.1's sizes and alignments; pcpu_alloc() rounds both up to PCPU_MIN_ALLOC_SIZE.
           const std::uint64_t size = align_up(rng_.between(1, kPcpuMaxSize), kPcpuMinAllocSize);
           const std::uint64_t align =
               std::max(std::uint64_t{1} << (i % 11 + 1), kPcpuMinAllocSize);
           pcpu_alloc(size, align);
           access(OpKind::kStore, name("pcpu"), kPointer * i);
         }},
        {kPcpuAllocations,
         [this](std::uint64_t i) {
           access(OpKind::kLoad, name("pcpu"), kPointer * i);
           free_percpu();
         }},
        {1, [this](std::uint64_t) { vfree(name("pcpu")); }},
    };
  }

  // __alloc_percpu(): in the chunk being filled, or in the spare free chunk, or a new chunk;
  // then the unit pages it covers that are not mapped yet get mapped for every CPU.
  void pcpu_alloc(std::uint64_t size, std::uint64_t align) {
    if (chunks_.empty() || align_up(chunks_.back().bump, align) + size > pcpu_.unit_size) {
      chunks_.push_back(take_chunk());
    }
    PcpuChunk& chunk = chunks_.back();
    const std::uint64_t offset = align_up(chunk.bump, align);
    chunk.bump = offset + size;
    ++chunk.allocations;
    const std::uint64_t page_end = div_round_up(chunk.bump, kPage);
    if (page_end <= chunk.populated) return;
    const std::string handle = chunk_name(chunk.slot);
    for (int cpu = 0; cpu < cpus_; ++cpu) {
      at(OpKind::kMapKernelRangeNoflush, handle, cpu * pcpu_.unit_size + chunk.populated * kPage,
         (page_end - chunk.populated) * kPage);
    }
    chunk.populated = page_end;
  }

  // free_percpu() of the oldest live allocation: its chunk may become fully free.
  void free_percpu() {
    PcpuChunk& oldest = chunks_.front();
    if (--oldest.allocations > 0) return;
    PcpuChunk freed = oldest;
    chunks_.pop_front();
    // The balance work spares the free chunk at the head of its list, the one freed last.
    if (has_spare_) destroy_chunk(spare_);
    spare_ = freed;
    has_spare_ = true;
  }

  PcpuChunk take_chunk() {
    if (has_spare_) {
      has_spare_ = false;
      PcpuChunk chunk = spare_;
      chunk.bump = 0;
      chunk.allocations = 0;
      return chunk;
    }
    PcpuChunk chunk;
    if (!free_slots_.empty()) {
      chunk.slot = free_slots_.back();
      free_slots_.pop_back();
    } else {
      chunk.slot = next_slot_++;
    }
    // pcpu_create_chunk(): one group, at offset 0, aligned to the atom size.
    Op op = bind(OpKind::kPcpuGetVmAreas, chunk_name(chunk.slot), pcpu_.area_size);
    op.value = 1;
    op.align = PcpuChunkGeometry::kAtomSize;
    queue_.push_back(op);
    return chunk;
  }

  // pcpu_depopulate_chunk() of the mapped pages, then pcpu_destroy_chunk().
  void destroy_chunk(const PcpuChunk& chunk) {
    const std::string handle = chunk_name(chunk.slot);
    if (chunk.populated > 0) {
      const std::uint64_t bytes = chunk.populated * kPage;
      for (int cpu = 0; cpu + 1 < cpus_; ++cpu)
        at(OpKind::kUnmapKernelRangeNoflush, handle, cpu * pcpu_.unit_size, bytes);
      // The last CPU's unmap flushes from the first CPU's first page to its own last page.
      at(OpKind::kUnmapKernelRange, handle, 0, (cpus_ - 1) * pcpu_.unit_size + bytes);
    }
    Op op;
    op.kind = OpKind::kPcpuFreeVmAreas;
    op.set_name(handle);
    queue_.push_back(op);
    free_slots_.push_back(chunk.slot);
  }

  [[nodiscard]] std::string name(const char* role) const { return prefix_ + role; }
  [[nodiscard]] std::string name(const char* role, std::uint64_t index) const {
    return prefix_ + role + std::to_string(index);
  }
  [[nodiscard]] std::string chunk_name(int slot) const { return name("k", slot); }

  // An op that binds `handle` to what it returns.
  static Op bind(OpKind kind, const std::string& handle, std::uint64_t size) {
    Op op;
    op.kind = kind;
    op.set_name(handle);
    op.size = size;
    return op;
  }
  // An op at `handle`'s address plus `offset`.
  void at(OpKind kind, const std::string& handle, std::uint64_t offset, std::uint64_t size = 0) {
    Op op;
    op.kind = kind;
    op.flags = op_flags::kHandleAddr;
    op.set_name(handle);
    op.addr = offset;
    op.size = size;
    queue_.push_back(op);
  }
  void span(OpKind kind, const char* span_name) {
    Op op;
    op.kind = kind;
    op.set_name(span_name);
    queue_.push_back(op);
  }
  void vmalloc(const std::string& handle, std::uint64_t bytes) {
    queue_.push_back(bind(OpKind::kVmalloc, handle, bytes));
  }
  // __vmalloc_node(size, align, GFP_KERNEL | __GFP_ZERO, NUMA_NO_NODE, caller).
  void vmalloc_node(const std::string& handle, std::uint64_t bytes, std::uint64_t align) {
    Op op = bind(OpKind::kVmallocNodeAlign, handle, bytes);
    op.align = align;
    op.flags = op_flags::kZero;
    queue_.push_back(op);
  }
  void vfree(const std::string& handle) { at(OpKind::kVfree, handle, 0); }
  // One byte read or written, as "*ptr = 1" is.
  void access(OpKind kind, const std::string& handle, std::uint64_t offset) {
    at(kind, handle, offset);
  }
  void vm_map_ram(const std::string& handle, std::uint64_t pages) {
    Op op = bind(OpKind::kVmMapRam, handle, 0);
    op.value = pages;
    queue_.push_back(op);
  }
  void vm_unmap_ram(const std::string& handle, std::uint64_t pages) {
    at(OpKind::kVmUnmapRam, handle, 0);
    queue_.back().flags |= op_flags::kHasCount;
    queue_.back().value = pages;
  }

  TestVmallocConfig config_;
  int cpus_;
  int cpu_;
  std::string prefix_;
  mmu::Rng rng_;
  int align_shift_failure_;
  PcpuChunkGeometry pcpu_;
  std::array<int, kTestVmallocCases.size()> order_{};

  Stage stage_ = Stage::kStart;
  std::size_t position_ = 0;  // in order_
  std::uint32_t repeat_ = 0;
  std::vector<Phase> phases_;
  std::size_t phase_ = 0;
  std::uint64_t iteration_ = 0;
  std::deque<Op> queue_;
  std::uint64_t ops_ = 0;

  // pcpu_alloc_test's chunks: those holding live allocations, oldest first (the last one is
  // being filled), and the spare free chunk, which persists across runs.
  std::deque<PcpuChunk> chunks_;
  PcpuChunk spare_;
  bool has_spare_ = false;
  std::vector<int> free_slots_;
  int next_slot_ = 0;
};

// A CPU beyond nr_threads: it runs nothing and only takes IPIs.
class IdleSource final : public OpSource {
 public:
  explicit IdleSource(int cpu) : cpu_(cpu) {}
  bool next(Op&) override { return false; }
  [[nodiscard]] std::string where() const override {
    return "test_vmalloc cpu " + std::to_string(cpu_) + " (not running the tests)";
  }

 private:
  int cpu_;
};

}  // namespace

int align_shift_first_failure(const VmallocSpan& vmalloc) {
  const std::uint64_t size = 2 * kPage;  // the page and its guard page
  for (int shift = 0; shift < 64; ++shift) {
    const std::uint64_t addr = align_up(vmalloc.start, std::uint64_t{1} << shift);
    if (addr < vmalloc.start || addr + size < addr || addr + size > vmalloc.end) return shift;
  }
  return 64;
}

PcpuChunkGeometry pcpu_chunk_geometry(int possible_cpus) {
  const auto cpus = static_cast<std::uint64_t>(std::max(possible_cpus, 1));
  const std::uint64_t size_sum = align_up(
      kPcpuStaticSize + kPcpuReservedSize + std::max(kPcpuDynamicSize, kPcpuDynamicEarly), kPage);
  const std::uint64_t min_unit_size = std::max(size_sum, kPcpuMinUnitSize);
  const std::uint64_t alloc_size = align_up(min_unit_size, PcpuChunkGeometry::kAtomSize);
  auto divides = [&](std::uint64_t upa) {
    return alloc_size % upa == 0 && (alloc_size / upa) % kPage == 0;
  };
  std::uint64_t max_upa = alloc_size / min_unit_size;
  while (!divides(max_upa))
    --max_upa;
  // The most units per allocation that wastes at most a third of the CPUs' worth of units,
  // preferring fewer allocations.
  std::uint64_t best_upa = 1;
  std::uint64_t last_allocs = ~std::uint64_t{0};
  for (std::uint64_t upa = max_upa; upa > 0; --upa) {
    if (!divides(upa)) continue;
    const std::uint64_t allocs = div_round_up(cpus, upa);
    const std::uint64_t wasted = allocs * upa - cpus;
    if (wasted > cpus / 3) continue;
    if (allocs > last_allocs) break;
    last_allocs = allocs;
    best_upa = upa;
  }
  PcpuChunkGeometry geometry;
  geometry.units_per_alloc = static_cast<std::uint32_t>(best_upa);
  geometry.unit_size = alloc_size / best_upa;
  geometry.nr_units = static_cast<std::uint32_t>(div_round_up(cpus, best_upa) * best_upa);
  geometry.area_size = geometry.nr_units * geometry.unit_size;
  return geometry;
}

TestVmallocWorkload::TestVmallocWorkload(const TestVmallocConfig& config, int cpus,
                                         std::uint64_t seed, const VmallocSpan& vmalloc)
    : config_(config),
      cpus_(cpus),
      seed_(seed),
      align_shift_failure_(align_shift_first_failure(vmalloc)) {
  if (static_cast<int>(config.nr_threads) > cpus) {
    throw std::invalid_argument(
        "workload.test_vmalloc.nr_threads: " + std::to_string(config.nr_threads) +
        " is above platform.cpus (" + std::to_string(cpus) + "): each thread runs on its own CPU");
  }
  for (const TestVmallocCase& test : kTestVmallocCases) {
    if (!test.modelled && (config.run_test_mask & test.id) != 0) {
      throw std::invalid_argument("workload.test_vmalloc.run_test_mask: " + std::string(test.name) +
                                  " is not modelled");
    }
  }
}

std::unique_ptr<OpSource> TestVmallocWorkload::source(int cpu) {
  const int threads = config_.nr_threads == 0 ? cpus_ : static_cast<int>(config_.nr_threads);
  if (cpu >= threads) return std::make_unique<IdleSource>(cpu);
  return std::make_unique<TestVmallocSource>(config_, cpus_, cpu, seed_, align_shift_failure_);
}

}  // namespace mmusim::workloads
