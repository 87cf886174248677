#include "sim/platform.h"

#include <stdexcept>

#include "sim/guest_sanitizer.h"
#include "sim/interrupt.h"
#include "sim/kernel_services.h"
#include "sim/sampler.h"

namespace mmusim::sim {

using workloads::Op;
using workloads::OpKind;
namespace op_flags = workloads::op_flags;

namespace {

constexpr std::uint64_t kReservedLowFrames = 256;  // the first 1 MiB stays unused
constexpr std::size_t kMaxWarnings = 20;

mmu::PteFlags flags_of(const Op& op) {
  mmu::PteFlags flags;
  flags.writable = !op.has(op_flags::kReadOnly);
  flags.user = op.has(op_flags::kUser);
  flags.no_execute = op.has(op_flags::kNoExecute);
  flags.global = op.has(op_flags::kGlobal);
  flags.write_through = op.has(op_flags::kWriteThrough);
  flags.cache_disable = op.has(op_flags::kCacheDisable);
  return flags;
}

}  // namespace

const char* to_string(StopReason reason) {
  switch (reason) {
    case StopReason::kCompleted:
      return "completed";
    case StopReason::kMaxOps:
      return "max_ops";
    case StopReason::kMaxCycles:
      return "max_cycles";
    case StopReason::kStaleTlbHit:
      return "stale_tlb_hit";
    case StopReason::kKernelBug:
      return "kernel_bug";
    case StopReason::kDeadlock:
      return "deadlock";
    case StopReason::kError:
      return "error";
    case StopReason::kInterrupted:
      return "interrupted";
  }
  return "?";
}

Platform::Platform(sc_core::sc_module_name name, const ExperimentConfig& config)
    : sc_module(name),
      config_(config),
      topology_(config.platform),
      memory_(config.platform.memory),
      pages_(memory_, kReservedLowFrames, config.vmalloc.page_alloc, config.run.seed),
      tracker_(config.run.stale_check ? std::make_unique<tlb::StaleTracker>() : nullptr),
      editor_(memory_, pages_, config.mmu.mode(), tracker_.get()),
      huge_cursor_(memory_.frame_count()) {
  auto root = editor_.create_root();
  if (!root || !editor_.populate_kernel_half(*root).ok()) {
    throw std::invalid_argument("platform.memory.size is too small for the kernel page tables");
  }
  kernel_root_ = *root;
  for (std::uint32_t i = 0; i < config.platform.cpus; ++i) {
    const std::string cpu_name = "cpu" + std::to_string(i);
    cpus_.push_back(std::make_unique<Cpu>(cpu_name.c_str(), static_cast<int>(i), *this));
    cpus_.back()->unit().load_cr3(kernel_root_, mmu::Pcid{0});
    if (tracker_) tracker_->add_unit(&cpus_.back()->unit());
  }
  current_ = cpus_.front().get();
  kernel_ = std::make_unique<PlatformKernel>(*this);
  guest_ = std::make_unique<vmalloc::Vmalloc>(
      *kernel_, pages_,
      vmalloc::make_layout(static_cast<int>(config.mmu.paging_levels), config.vmalloc.kaslr,
                           config.run.seed),
      config.vmalloc, config.latency.vmalloc);
  if (config.sanitizer.check_invariants_after_purge) {
    sanitizer_ = std::make_unique<GuestSanitizer>(*this);
    guest_->set_purge_hook([this] { sanitizer_->after_purge(); });
  }
  if (config.output.sample_interval_cycles != 0) {
    sampler_ = std::make_unique<Sampler>("sampler", *this, config.output.sample_interval_cycles,
                                         config.output.max_samples);
  }
  sync_without_wait_ = cpus_.size() == 1 && sampler_ == nullptr;
}

Platform::~Platform() = default;

mmu::Pfn Platform::address_space(std::uint32_t mm) {
  if (mm == 0) return kernel_root_;
  auto it = user_spaces_.find(mm);
  if (it != user_spaces_.end()) return it->second;
  auto root = editor_.create_root();
  if (!root) throw std::runtime_error("out of physical memory for a page-table root");
  editor_.share_kernel_half(*root, kernel_root_);
  user_spaces_.emplace(mm, *root);
  return *root;
}

std::optional<mmu::Pfn> Platform::allocate_block(mmu::PageSize size) {
  const std::uint64_t frames = mmu::page_bytes(size) >> mmu::kPageShift;
  const std::uint64_t start = (huge_cursor_ - frames) & ~(frames - 1);
  if (huge_cursor_ < frames || start < kReservedLowFrames + frames) return std::nullopt;
  huge_cursor_ = start;
  return mmu::Pfn{start};
}

mmu::EditResult Platform::edit(const Op& op) {
  const mmu::Pfn root = address_space(op.mm);
  const mmu::VirtAddr va{op.addr};
  switch (op.kind) {
    case OpKind::kUnmap:
      return editor_.unmap(root, va, op.size);
    case OpKind::kProtect:
      return editor_.protect(root, va, op.size, flags_of(op));
    case OpKind::kMap:
      break;
    default:
      throw std::logic_error("Platform::edit: not a page-table op");
  }
  const mmu::PteFlags flags = flags_of(op);
  if (op.has(op_flags::kHasFrame)) {
    return editor_.map(root, va, op.size, mmu::Pfn{op.value}, op.page, flags);
  }
  // No frame named: back the mapping with fresh frames.
  if (op.page == mmu::PageSize::k4K) {
    if ((op.size & (mmu::kPageBytes - 1)) != 0) {
      return mmu::EditResult{mmu::EditStatus::kMisaligned, 0, 0, va};
    }
    std::vector<mmu::Pfn> frames;
    frames.reserve(op.size >> mmu::kPageShift);
    for (std::uint64_t i = 0; i < (op.size >> mmu::kPageShift); ++i) {
      auto frame = pages_.allocate_frame(0);
      if (!frame) return mmu::EditResult{mmu::EditStatus::kOutOfMemory, 0, 0, va};
      frames.push_back(*frame);
    }
    return editor_.map_pages(root, va, frames, flags);
  }
  const std::uint64_t page = mmu::page_bytes(op.page);
  if ((op.size & (page - 1)) != 0 || !va.is_aligned(op.page)) {
    return mmu::EditResult{mmu::EditStatus::kMisaligned, 0, 0, va};
  }
  mmu::EditResult total;
  for (std::uint64_t offset = 0; offset < op.size; offset += page) {
    auto block = allocate_block(op.page);
    if (!block)
      return mmu::EditResult{mmu::EditStatus::kOutOfMemory, total.entries_written,
                             total.tables_allocated, va + offset};
    const mmu::EditResult one = editor_.map(root, va + offset, page, *block, op.page, flags);
    total.entries_written += one.entries_written;
    total.tables_allocated += one.tables_allocated;
    if (!one.ok()) {
      total.status = one.status;
      total.failed_at = one.failed_at;
      return total;
    }
  }
  return total;
}

void Platform::boot(const std::vector<Op>& ops) {
  for (const Op& op : ops) {
    if (op.kind == OpKind::kVmAreaAddEarly || op.kind == OpKind::kVmAreaRegisterEarly) {
      // The caller's static vm_struct, as percpu's first chunk passes one.
      note_guest_used();
      vmalloc::VmStruct& vm = caller_vm_struct();
      vm.flags = vmalloc::vm_flags::kAlloc;
      vm.size = op.size;
      const std::uint64_t bugs = kernel_log_.bugs;
      if (op.kind == OpKind::kVmAreaAddEarly) {
        vm.addr = op.addr;
        guest_->vm_area_add_early(&vm);
      } else {
        guest_->vm_area_register_early(&vm, op.align == 0 ? 1 : op.align);
        GuestHandle handle;
        handle.addr = vm.addr;
        handle.size = vm.size;
        handle.vm = &vm;
        bind_handle(op.name_view(), std::move(handle));
      }
      // A BUG at boot is counted like any other; with run.stop_on_bug nothing runs after it.
      if (kernel_log_.bugs != bugs && stopping()) break;
      continue;
    }
    const mmu::EditResult result = edit(op);
    if (!result.ok()) {
      throw std::invalid_argument("boot op '" + workloads::format_op(op) +
                                  "' failed: " + mmu::to_string(result.status) + " at " +
                                  mmu::hex(result.failed_at.value()));
    }
  }
  guest_->vmalloc_init();
}

GuestHandle* Platform::find_handle(std::string_view name) {
  auto it = handles_.find(name);
  return it == handles_.end() ? nullptr : &it->second;
}

GuestHandle& Platform::bind_handle(std::string_view name, GuestHandle handle) {
  auto it = handles_.find(name);
  if (it == handles_.end()) it = handles_.emplace(std::string(name), GuestHandle{}).first;
  it->second = std::move(handle);
  if (sc_core::sc_is_running() && handle_waiters_ == 0 &&
      !sc_core::sc_pending_activity_at_current_time()) {
    handle_notice_owed_by_ = current_;
    handle_notice_yields_ = current_->yields();
  } else {
    before_notify();
    handle_bound_event_.notify(sc_core::SC_ZERO_TIME);
  }
  return it->second;
}

void Platform::begin_handle_wait() {
  before_notify();  // an owed notification wakes this CPU at once, as it would have
  ++handle_waiters_;
}

void Platform::before_notify() {
  if (!sc_core::sc_is_running()) return;
  current_->catch_up();  // which also makes its next sync ask SystemC again
  if (handle_notice_owed_by_ == nullptr) return;
  // Still owed when the CPU that owes it is running and has not yielded since: delta
  // notifications reach their waiters in the order they were made, so it goes first.
  if (handle_notice_owed_by_ == current_ && handle_notice_yields_ == current_->yields()) {
    handle_bound_event_.notify(sc_core::SC_ZERO_TIME);
  }
  handle_notice_owed_by_ = nullptr;
}

void Platform::kernel_log_line(const std::string& text) {
  const bool running = sc_core::sc_is_running();
  const std::string line = "[" + std::to_string(running ? current_->now() : 0) + "] CPU " +
                           std::to_string(running ? current_->id() : 0) + ": " + text;
  if (kernel_log_.lines.size() < KernelLog::kKept) {
    kernel_log_.lines.push_back(line);
  } else {
    ++kernel_log_.lines_dropped;
  }
}

void Platform::kernel_warn(const std::string& text) {
  ++kernel_log_.warnings;
  kernel_log_line(text);
  warn("guest: " + text);
}

void Platform::kernel_bug(const std::string& text) {
  ++kernel_log_.bugs;
  kernel_log_line(text);
  warn("guest: " + text);
  if (config_.run.stop_on_bug) request_stop(StopReason::kKernelBug, text);
}

void Platform::kernel_printk(const std::string& text) {
  ++kernel_log_.messages;
  kernel_log_line(text);
}

void Platform::check_va_reuse(std::uint64_t start, std::uint64_t end) {
  if (!tracker_) return;
  const std::uint64_t entries = tracker_->stale_entries_in(start, end);
  if (entries == 0) return;
  ++va_reuse_;
  va_reuse_entries_ += entries;
}

vmalloc::LockId Platform::lock_id(const std::string& name, vmalloc::LockKind kind) {
  auto it = lock_ids_.find(name);
  if (it != lock_ids_.end()) return it->second;
  const auto id = static_cast<vmalloc::LockId>(locks_.size());
  locks_.push_back(std::make_unique<SimLock>(name, kind));
  lock_ids_.emplace(name, id);
  return id;
}

void Platform::cpu_finished() {
  if (++finished_ != cpus_.size()) return;
  before_notify();
  all_finished_event_.notify(sc_core::SC_ZERO_TIME);
  for (const auto& cpu : cpus_)
    cpu->wake_all_finished();
}

bool Platform::detect_deadlock() {
  if (all_finished() || stopping()) return false;
  std::string detail = "no CPU can make progress:";
  int listed = 0;
  for (const auto& cpu : cpus_) {
    if (cpu->finished()) continue;
    if (listed++ == 8) {
      detail += " ...";
      break;
    }
    detail += " CPU " + std::to_string(cpu->id()) + " waits for " +
              (cpu->blocked_on().empty() ? std::string("something") : cpu->blocked_on()) +
              " since cycle " + std::to_string(cpu->blocked_since()) + ";";
  }
  detail.pop_back();
  request_stop(StopReason::kDeadlock, detail);
  return true;
}

void Platform::record_shootdown(std::uint64_t latency, std::uint64_t targets) {
  shootdown_latency_.record(latency);
  shootdown_targets_.record(targets);
}

void Platform::op_executed(int cpu, const Op& op) {
  if (recorder_ != nullptr) recorder_->write(cpu, op);
  ++ops_executed_;
  if (ops_executed_ % kProgressInterval == 0) {
    if (progress_hook_) progress_hook_(ops_executed_, cpus_[cpu]->now());
    if (const int signal = interrupt_signal(); signal != 0) {
      request_stop(StopReason::kInterrupted, "by " + signal_name(signal));
    }
  }
  if (config_.run.max_ops != 0 && ops_executed_ >= config_.run.max_ops) {
    request_stop(StopReason::kMaxOps);
  }
}

void Platform::request_stop(StopReason reason, std::string detail) {
  if (stopping()) return;
  stop_reason_ = reason;
  stop_detail_ = std::move(detail);
  // No sc_stop(): the CPUs notice at their next op boundary or wake up from their waits, and
  // unwind, so that every thread ends and the kernel can run again if needed. Before the
  // simulation starts (a BUG at boot) there is nobody to wake: the CPUs see it when they start.
  if (!sc_core::sc_is_running()) return;
  before_notify();
  stop_event_.notify(sc_core::SC_ZERO_TIME);
  for (const auto& cpu : cpus_)
    cpu->wake_stop();
}

bool Platform::all_exited() const {
  for (const auto& cpu : cpus_) {
    if (!cpu->exited()) return false;
  }
  return true;
}

void Platform::fail(const std::string& message, bool input) {
  if (error_.empty()) {
    error_ = message;
    input_error_ = input;
  }
  request_stop(StopReason::kError);
}

void Platform::warn(const std::string& message) {
  if (warnings_.size() < kMaxWarnings) {
    warnings_.push_back(message);
  } else {
    ++warnings_dropped_;
  }
}

}  // namespace mmusim::sim
