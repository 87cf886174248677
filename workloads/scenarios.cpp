#include "workloads/scenarios.h"

#include <algorithm>
#include <deque>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "mmu/random.h"

namespace mmusim::workloads {
namespace {

constexpr std::uint64_t kPage = 4096;
// x86-64 without KASAN: THREAD_SIZE = PAGE_SIZE << 2, and THREAD_ALIGN defaults to it.
constexpr std::uint64_t kThreadSize = 4 * kPage;
constexpr int kNrCachedStacks = 2;
// offsetof(struct bpf_prog, insns) in 4.19 on x86-64, and one struct bpf_insn.
constexpr std::uint64_t kBpfProgHeader = 56;
constexpr std::uint64_t kBpfInsnBytes = 8;
// bpf_jit_binary_alloc(): sizeof(struct bpf_binary_header) and the room it keeps for padding.
constexpr std::uint64_t kBpfBinaryHeader = 4;
constexpr std::uint64_t kBpfJitSlack = 128;
// 4.19's tlb_single_page_flush_ceiling: above it, flush_tlb_mm_range() flushes the whole mm.
constexpr std::uint64_t kSinglePageFlushCeiling = 33;

constexpr std::uint64_t round_up(std::uint64_t value, std::uint64_t to) {
  return (value + to - 1) / to * to;
}

// What an op's address operand names: a handle plus an offset, or (no handle) an address.
struct Place {
  std::string handle;
  std::uint64_t offset = 0;

  [[nodiscard]] Place plus(std::uint64_t bytes) const { return Place{handle, offset + bytes}; }
};

Op make(OpKind kind) {
  Op op;
  op.kind = kind;
  return op;
}

void set_op_name(Op& op, const std::string& name) {
  if (!op.set_name(name)) throw std::logic_error("scenario op name too long: " + name);
}

// An op that binds `handle` to what it returns.
Op binding(OpKind kind, const std::string& handle, std::uint64_t size) {
  Op op = make(kind);
  set_op_name(op, handle);
  op.size = size;
  return op;
}

Op at(OpKind kind, const Place& place) {
  Op op = make(kind);
  op.addr = place.offset;
  if (!place.handle.empty()) {
    set_op_name(op, place.handle);
    op.flags |= op_flags::kHandleAddr;
  }
  return op;
}

Op touch(const Place& place, std::uint64_t bytes, std::uint32_t stride, std::uint32_t flags) {
  Op op = at(OpKind::kTouch, place);
  op.size = bytes;
  op.value = stride;
  op.flags |= flags;
  return op;
}

Op set_memory(OpKind kind, const Place& place, std::uint64_t pages) {
  Op op = at(kind, place);
  op.value = pages;
  return op;
}

Op compute(std::uint64_t cycles) {
  Op op = make(OpKind::kCompute);
  op.value = cycles;
  return op;
}

Op mov_cr3(std::uint32_t mm, std::uint16_t pcid, bool noflush) {
  Op op = make(OpKind::kMovCr3);
  op.mm = mm;
  op.pcid = pcid;
  if (noflush) op.flags |= op_flags::kNoFlush;
  return op;
}

Op span(OpKind kind, Scenario scenario) {
  Op op = make(kind);
  set_op_name(op, scenario_name(scenario));
  return op;
}

// One CPU's stream: iterations generated one at a time into a queue.
class ScenarioSource final : public OpSource {
 public:
  ScenarioSource(const ScenariosConfig& config, int cpu, std::uint64_t seed)
      : config_(config),
        cpu_(cpu),
        prefix_("c" + std::to_string(cpu) + "_"),
        mix_rng_(seed, "workload.scenarios.mix.cpu" + std::to_string(cpu)) {
    for (int s = 0; s < kNumScenarios; ++s) {
      rngs_[s] = mmu::Rng(seed, std::string("workload.scenarios.") + kScenarioCatalog[s].name +
                                    ".cpu" + std::to_string(cpu));
    }
    weights_ = {config.vmap_stack.weight, config.module_load.weight, config.bpf_jit.weight,
                config.xfs_buf.weight, config.ring_buffer.weight};
    for (std::uint32_t weight : weights_)
      total_weight_ += weight;
  }

  bool next(Op& op) override {
    while (queue_.empty()) {
      if (iterations_ == config_.iterations_per_cpu || total_weight_ == 0) return false;
      generate_iteration();
    }
    op = queue_.front();
    queue_.pop_front();
    ++op_in_iteration_;
    return true;
  }

  [[nodiscard]] std::string where() const override {
    return "scenarios cpu " + std::to_string(cpu_) + " iteration " + std::to_string(iterations_) +
           " (" + scenario_name(current_) + ") op " + std::to_string(op_in_iteration_);
  }

 private:
  void generate_iteration() {
    std::uint64_t pick = mix_rng_.below(total_weight_);
    int chosen = 0;
    while (pick >= weights_[chosen]) {
      pick -= weights_[chosen];
      ++chosen;
    }
    current_ = static_cast<Scenario>(chosen);
    ++iterations_;
    op_in_iteration_ = 0;
    queue_.push_back(span(OpKind::kSpanBegin, current_));
    switch (current_) {
      case Scenario::kVmapStack:
        vmap_stack();
        break;
      case Scenario::kModuleLoad:
        module_load();
        break;
      case Scenario::kBpfJit:
        bpf_jit();
        break;
      case Scenario::kXfsBuf:
        xfs_buf();
        break;
      case Scenario::kRingBuffer:
        ring_buffer();
        break;
    }
    queue_.push_back(span(OpKind::kSpanEnd, current_));
  }

  mmu::Rng& rng() { return rngs_[static_cast<int>(current_)]; }
  std::uint32_t draw(const ScenarioRange& range) {
    return static_cast<std::uint32_t>(rng().between(range.min, range.max));
  }
  [[nodiscard]] std::string handle(const std::string& what) const { return prefix_ + what; }
  void emit(const Op& op) { queue_.push_back(op); }

  // Draws: threads; then per thread, in creation order, stack_touch_bytes and run_cycles.
  void vmap_stack() {
    const VmapStackScenarioConfig& c = config_.vmap_stack;
    const std::uint32_t threads = draw(c.threads);
    std::vector<std::uint32_t> stacks;
    // copy_process() -> dup_task_struct() -> alloc_thread_stack_node().
    for (std::uint32_t t = 0; t < threads; ++t) {
      int id = -1;
      for (int& slot : stack_cache_) {
        if (slot < 0) continue;
        id = slot;
        slot = -1;
        break;
      }
      if (id >= 0) {
        // A cached stack keeps its old contents: 4.19 clears it.
        emit(touch(stack(id), kThreadSize, config_.access_stride, op_flags::kStore));
      } else {
        id = static_cast<int>(new_stack_id());
        Op alloc = binding(OpKind::kVmallocNodeRange, stack(id).handle, kThreadSize);
        alloc.align = kThreadSize;
        alloc.flags |= op_flags::kZero;
        emit(alloc);
      }
      emit(at(OpKind::kStore, stack(id)));  // set_task_stack_end_magic()
      stacks.push_back(static_cast<std::uint32_t>(id));
    }
    // The threads run; a stack grows down from its top.
    for (std::uint32_t id : stacks) {
      const std::uint32_t bytes = draw(c.stack_touch_bytes);
      const std::uint32_t cycles = draw(c.run_cycles);
      if (bytes > 0) {
        emit(touch(stack(id).plus(kThreadSize - bytes), bytes, config_.access_stride,
                   op_flags::kStore));
      }
      if (cycles > 0) emit(compute(cycles));
    }
    // They exit: free_thread_stack() refills the cache before it frees.
    for (std::uint32_t id : stacks) {
      const auto empty = std::find(stack_cache_.begin(), stack_cache_.end(), -1);
      if (empty != stack_cache_.end()) {
        *empty = static_cast<int>(id);
        continue;
      }
      emit(at(OpKind::kVfreeAtomic, stack(id)));
      free_stack_ids_.insert(id);
    }
  }
  [[nodiscard]] Place stack(int id) const { return Place{handle("stack" + std::to_string(id))}; }
  std::uint32_t new_stack_id() {
    if (free_stack_ids_.empty()) return next_stack_id_++;
    const std::uint32_t id = *free_stack_ids_.begin();
    free_stack_ids_.erase(free_stack_ids_.begin());
    return id;
  }

  // Draws: text, rodata, ro_after_init, data, init text and init data pages, text_fetches,
  // then one below(text pages) per fetch.
  void module_load() {
    const ModuleLoadScenarioConfig& c = config_.module_load;
    const std::uint64_t text = draw(c.text_pages);
    const std::uint64_t rodata = draw(c.rodata_pages);
    const std::uint64_t ro_after_init = draw(c.ro_after_init_pages);
    const std::uint64_t data = draw(c.data_pages);
    const std::uint64_t init_text = draw(c.init_text_pages);
    const std::uint64_t init_data = draw(c.init_data_pages);
    const std::uint64_t core_pages = text + rodata + ro_after_init + data;
    const std::uint64_t init_pages = init_text + init_data;
    const Place core{handle("mod")};
    // An empty init layout has a NULL base.
    const Place init = init_pages > 0 ? Place{handle("modinit")} : Place{};

    // move_module(): module_alloc() and the image written.
    auto module_alloc = [&](const Place& where, std::uint64_t pages) {
      Op alloc = binding(OpKind::kVmallocNodeRange, where.handle, pages * kPage);
      alloc.align = kPage;
      alloc.flags |= op_flags::kModules | op_flags::kExec;
      emit(alloc);
      emit(touch(where, pages * kPage, config_.access_stride, op_flags::kStore));
    };
    module_alloc(core, core_pages);
    if (init_pages > 0) module_alloc(init, init_pages);

    // The frob_*() helpers: one set_memory_* call over one part of a layout.
    const auto core_text = [&](OpKind kind) { emit(set_memory(kind, core, text)); };
    const auto core_rodata = [&](OpKind kind) {
      emit(set_memory(kind, core.plus(text * kPage), rodata));
    };
    const auto core_ro_after_init = [&](OpKind kind) {
      emit(set_memory(kind, core.plus((text + rodata) * kPage), ro_after_init));
    };
    const auto core_data = [&](OpKind kind) {
      emit(set_memory(kind, core.plus((text + rodata + ro_after_init) * kPage), data));
    };
    // The init layout: rodata and ro_after_init are empty, both at the end of the text.
    const auto init_text_part = [&](OpKind kind) { emit(set_memory(kind, init, init_text)); };
    const auto init_empty_part = [&](OpKind kind) {
      emit(set_memory(kind, init.plus(init_text * kPage), 0));
    };
    const auto init_data_part = [&](OpKind kind) {
      emit(set_memory(kind, init.plus(init_text * kPage), init_data));
    };
    constexpr OpKind kRo = OpKind::kSetMemoryRo;
    constexpr OpKind kRw = OpKind::kSetMemoryRw;
    constexpr OpKind kX = OpKind::kSetMemoryX;
    constexpr OpKind kNx = OpKind::kSetMemoryNx;

    // complete_formation(): module_enable_ro(mod, false), module_enable_nx(mod).
    core_text(kRo);
    core_rodata(kRo);
    init_text_part(kRo);
    init_empty_part(kRo);
    core_rodata(kNx);
    core_ro_after_init(kNx);
    core_data(kNx);
    init_empty_part(kNx);
    init_data_part(kNx);
    // do_init_module(): the init function runs.
    for (std::uint64_t page = 0; page < init_text; ++page)
      emit(at(OpKind::kFetch, init.plus(page * kPage)));
    // module_enable_ro(mod, true), then disable_ro_nx(&mod->init_layout).
    core_text(kRo);
    core_rodata(kRo);
    init_text_part(kRo);
    init_empty_part(kRo);
    core_ro_after_init(kRo);
    init_text_part(kRw);
    init_empty_part(kRw);
    init_empty_part(kRw);
    init_empty_part(kX);
    init_empty_part(kX);
    init_data_part(kX);
    // The module is used.
    const std::uint32_t fetches = draw(c.text_fetches);
    for (std::uint32_t i = 0; i < fetches; ++i)
      emit(at(OpKind::kFetch, core.plus(rng().below(text) * kPage)));
    // do_free_init(), an RCU callback in softirq context: vfree() defers the free.
    if (init_pages > 0) {
      emit(make(OpKind::kIrqEnter));
      emit(at(OpKind::kVfree, init));
      emit(make(OpKind::kIrqExit));
    }
    // free_module(): disable_ro_nx() of the emptied init layout (base NULL, sizes 0) and of the
    // core, then module_memfree() of the core (that of the NULL init base does nothing).
    for (OpKind kind : {kRw, kRw, kRw, kX, kX, kX})
      emit(set_memory(kind, Place{}, 0));
    core_text(kRw);
    core_rodata(kRw);
    core_ro_after_init(kRw);
    core_rodata(kX);
    core_ro_after_init(kX);
    core_data(kX);
    emit(at(OpKind::kVfree, core));
  }

  // Draws: programs; then per program insns, the image's offset (below(hole)) and runs.
  void bpf_jit() {
    const BpfJitScenarioConfig& c = config_.bpf_jit;
    struct Program {
      Place prog;
      Place image;
      std::uint64_t insns = 0;
      std::uint64_t prog_pages = 0;
      std::uint64_t image_pages = 0;
      std::uint64_t code_offset = 0;  // where the code starts in the image
      std::uint64_t code_bytes = 0;
      std::uint32_t runs = 0;
    };
    const std::uint32_t count = draw(c.programs);
    std::vector<Program> programs(count);
    std::uint32_t most_runs = 0;
    for (std::uint32_t p = 0; p < count; ++p) {
      Program& program = programs[p];
      const std::string name = "bpf" + std::to_string(p);
      program.prog = Place{handle(name + "_prog")};
      program.image = Place{handle(name + "_img")};
      program.insns = draw(c.insns);
      const std::uint64_t prog_bytes = kBpfProgHeader + kBpfInsnBytes * program.insns;
      program.prog_pages = round_up(prog_bytes, kPage) / kPage;
      program.code_bytes = program.insns * c.jit_bytes_per_insn;
      const std::uint64_t image_bytes =
          round_up(program.code_bytes + kBpfBinaryHeader + kBpfJitSlack, kPage);
      program.image_pages = image_bytes / kPage;
      const std::uint64_t hole =
          std::min(image_bytes - (program.code_bytes + kBpfBinaryHeader), kPage - kBpfBinaryHeader);
      program.code_offset = kBpfBinaryHeader + rng().below(hole);
      program.runs = draw(c.runs);
      most_runs = std::max(most_runs, program.runs);

      // bpf_prog_load(): bpf_prog_alloc(), the instructions copied in, then read by the
      // verifier and the JIT.
      Op alloc =
          binding(OpKind::kVmallocNodeAlign, program.prog.handle, program.prog_pages * kPage);
      alloc.flags |= op_flags::kZero;
      emit(alloc);
      emit(touch(program.prog, prog_bytes, config_.access_stride, op_flags::kStore));
      emit(touch(program.prog.plus(kBpfProgHeader), kBpfInsnBytes * program.insns,
                 config_.access_stride, 0));
      // bpf_int_jit_compile(): bpf_jit_binary_alloc() fills the image with int3, the last
      // pass writes the code, bpf_jit_binary_lock_ro(); then bpf_prog_lock_ro().
      Op image = binding(OpKind::kVmallocNodeRange, program.image.handle, image_bytes);
      image.align = kPage;
      image.flags |= op_flags::kModules | op_flags::kExec;
      emit(image);
      emit(touch(program.image, image_bytes, config_.access_stride, op_flags::kStore));
      emit(touch(program.image.plus(program.code_offset), program.code_bytes, config_.access_stride,
                 op_flags::kStore));
      emit(set_memory(OpKind::kSetMemoryRo, program.image, program.image_pages));
      emit(set_memory(OpKind::kSetMemoryRo, program.prog, program.prog_pages));
    }
    // The programs run, in turn: each fetches its code page by page.
    for (std::uint32_t round = 0; round < most_runs; ++round) {
      for (const Program& program : programs) {
        if (round >= program.runs) continue;
        const std::uint64_t end = program.code_offset + program.code_bytes;
        for (std::uint64_t addr = program.code_offset; addr < end;
             addr = (addr / kPage + 1) * kPage) {
          emit(at(OpKind::kFetch, program.image.plus(addr)));
        }
        emit(compute(program.insns));
      }
    }
    // bpf_prog_free_deferred() -> bpf_jit_free(): unlock and free the image, then the prog.
    for (const Program& program : programs) {
      emit(set_memory(OpKind::kSetMemoryRw, program.image, program.image_pages));
      emit(at(OpKind::kVfree, program.image));
      emit(set_memory(OpKind::kSetMemoryRw, program.prog, program.prog_pages));
      emit(at(OpKind::kVfree, program.prog));
    }
  }

  // Draws: buffers; then per buffer its page-count exponent and below(100) for a store.
  void xfs_buf() {
    const XfsBufScenarioConfig& c = config_.xfs_buf;
    const std::uint32_t count = draw(c.buffers);
    std::uint32_t low = 0;
    while ((1u << low) < c.pages.min)
      ++low;
    std::uint32_t high = low;
    while ((2u << high) <= c.pages.max)
      ++high;
    std::vector<std::pair<Place, std::uint64_t>> buffers;
    for (std::uint32_t b = 0; b < count; ++b) {
      const std::uint64_t pages = std::uint64_t{1} << rng().between(low, high);
      const bool store = rng().below(100) < c.store_percent;
      const Place buffer{handle("xbuf" + std::to_string(b))};
      // _xfs_buf_map_pages(), then the contents read or written.
      Op map = binding(OpKind::kVmMapRam, buffer.handle, 0);
      map.value = pages;
      emit(map);
      emit(touch(buffer, pages * kPage, config_.access_stride, store ? op_flags::kStore : 0));
      buffers.emplace_back(buffer, pages);
    }
    // xfs_buf_free().
    for (const auto& [buffer, pages] : buffers) {
      Op unmap = at(OpKind::kVmUnmapRam, buffer);
      unmap.value = pages;
      unmap.flags |= op_flags::kHasCount;
      emit(unmap);
    }
  }

  // Draws: pages, rounds.
  void ring_buffer() {
    const RingBufferScenarioConfig& c = config_.ring_buffer;
    const std::uint64_t pages = draw(c.pages);
    const std::uint32_t rounds = draw(c.rounds);
    const std::uint32_t mm = ring_process_mm(cpu_);
    const auto pcid = static_cast<std::uint16_t>(c.pcid);
    const bool has_pcid = pcid != 0;  // no-flush CR3 writes need PCIDs
    const Place ring{handle("ring")};
    const Place user{"", kRingUserAddress};

    // The process is switched in; a new address space in its PCID is flushed.
    emit(mov_cr3(mm, pcid, false));
    emit(binding(OpKind::kVmallocUser, ring.handle, pages * kPage));
    Op remap = at(OpKind::kRemapVmallocRange, ring);
    remap.mm = mm;
    remap.value = kRingUserAddress;
    emit(remap);
    for (std::uint32_t round = 0; round < rounds; ++round) {
      const std::uint64_t data = (1 + round % (pages - 1)) * kPage;
      // The device's interrupt: the driver fills a data page and moves the head.
      emit(make(OpKind::kIrqEnter));
      emit(touch(ring.plus(data), kPage, config_.access_stride, op_flags::kStore));
      emit(at(OpKind::kStore, ring));
      emit(make(OpKind::kIrqExit));
      // The process reads the head and the page, and moves the tail.
      Op head = at(OpKind::kLoad, user);
      head.flags |= op_flags::kUser;
      emit(head);
      emit(touch(user.plus(data), kPage, config_.access_stride, op_flags::kUser));
      Op tail = at(OpKind::kStore, user.plus(8));
      tail.flags |= op_flags::kUser;
      emit(tail);
    }
    // munmap(): the range unmapped, then flush_tlb_mm_range() on this CPU alone.
    Op unmap = make(OpKind::kUnmap);
    unmap.addr = kRingUserAddress;
    unmap.size = pages * kPage;
    unmap.mm = mm;
    emit(unmap);
    if (pages <= kSinglePageFlushCeiling) {
      for (std::uint64_t page = 0; page < pages; ++page)
        emit(at(OpKind::kInvlpg, user.plus(page * kPage)));
    } else {
      emit(mov_cr3(mm, pcid, false));
    }
    // close(): the driver's release frees the ring; the process exits.
    emit(at(OpKind::kVfree, ring));
    emit(mov_cr3(0, 0, has_pcid));
  }

  ScenariosConfig config_;
  int cpu_;
  std::string prefix_;
  mmu::Rng mix_rng_;
  std::array<mmu::Rng, kNumScenarios> rngs_;
  std::array<std::uint32_t, kNumScenarios> weights_{};
  std::uint64_t total_weight_ = 0;
  std::uint64_t iterations_ = 0;
  std::uint64_t op_in_iteration_ = 0;
  Scenario current_ = Scenario::kVmapStack;
  std::deque<Op> queue_;
  // vmap_stack: the CPU's cached_stacks[] (stack ids, -1 for NULL) and the stack handles.
  std::array<int, kNrCachedStacks> stack_cache_{-1, -1};
  std::set<std::uint32_t> free_stack_ids_;
  std::uint32_t next_stack_id_ = 0;
};

}  // namespace

const char* scenarios_description() {
  static const std::string text = [] {
    std::string out =
        "The kernel's real users of vmalloc (Linux 4.19 paths; workloads/scenarios.h): each CPU "
        "runs iterations_per_cpu iterations, each one scenario picked by weight from a seeded "
        "stream and wrapped in a span of its name (stats: spans), so each scenario's simulated "
        "time and the TLB shootdowns it causes are reported. The scenarios:";
    // Indented as `mmusim list` indents a description.
    for (const WorkloadInfo& scenario : kScenarioCatalog)
      out += std::string("\n      scenarios.") + scenario.name + ": " + scenario.description;
    return out;
  }();
  return text.c_str();
}

std::unique_ptr<OpSource> ScenariosWorkload::source(int cpu) {
  return std::make_unique<ScenarioSource>(config_, cpu, seed_);
}

}  // namespace mmusim::workloads
