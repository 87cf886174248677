#include "workloads/trace.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <sstream>

namespace mmusim::workloads {
namespace {

// The whitespace-separated words of `text` (what `>>` into a string reads, without a stream
// per line: traces are parsed a line per op).
std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  const std::size_t size = text.size();
  for (std::size_t i = 0; i < size;) {
    if (space(text[i])) {
      ++i;
      continue;
    }
    std::size_t end = i + 1;
    while (end < size && !space(text[end]))
      ++end;
    words.emplace_back(text, i, end - i);
    i = end;
  }
  return words;
}

[[noreturn]] void bad(const std::string& message) {
  throw std::invalid_argument(message);
}

// Decimal or 0x-prefixed hexadecimal, the whole token: std::errc() when it is one,
// result_out_of_range when it does not fit 64 bits, invalid_argument otherwise.
std::errc parse_u64(const std::string& token, std::uint64_t& out) {
  const char* begin = token.data();
  const char* end = begin + token.size();
  int base = 10;
  if (token.size() > 2 && token[0] == '0' && (token[1] == 'x' || token[1] == 'X')) {
    begin += 2;
    base = 16;
  }
  if (begin == end) return std::errc::invalid_argument;
  auto [ptr, ec] = std::from_chars(begin, end, out, base);
  if (ec == std::errc() && ptr != end) return std::errc::invalid_argument;
  return ec;
}

bool to_u64(const std::string& token, std::uint64_t& out) {
  return parse_u64(token, out) == std::errc();
}

std::uint64_t number(const std::string& token, const char* what) {
  std::uint64_t value = 0;
  const std::errc ec = parse_u64(token, value);
  if (ec == std::errc::result_out_of_range) {
    bad(std::string(what) + " '" + token + "' does not fit in 64 bits");
  }
  if (ec != std::errc()) bad(std::string(what) + " '" + token + "' is not a number");
  return value;
}

// A byte count: a number, optionally with K/KiB, M/MiB or G/GiB (powers of two).
std::uint64_t byte_count(const std::string& token, const char* what) {
  static const std::pair<const char*, unsigned> kSuffixes[] = {
      {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"K", 10}, {"M", 20}, {"G", 30}};
  for (const auto& [suffix, shift] : kSuffixes) {
    const std::string s(suffix);
    if (token.size() > s.size() && token.compare(token.size() - s.size(), s.size(), s) == 0) {
      const std::uint64_t value = number(token.substr(0, token.size() - s.size()), what);
      if (value > (~std::uint64_t{0} >> shift)) {
        bad(std::string(what) + " '" + token + "' does not fit in 64 bits");
      }
      return value << shift;
    }
  }
  return number(token, what);
}

std::uint64_t bounded(const std::string& token, const char* what, std::uint64_t max) {
  const std::uint64_t value = number(token, what);
  if (value > max) {
    bad(std::string(what) + " " + token + " is above the maximum " + std::to_string(max));
  }
  return value;
}

// What may follow an op's positional operands.
struct Allowed {
  std::uint32_t words = 0;  // op_flags bits allowed as bare words
  bool mm = false;
  bool pcid = false;
  bool page = false;
  bool frame = false;
  bool stride = false;  // touch: op.value
  bool addr = false;
  // Guest ops.
  bool node = false;
  bool align = false;
  bool uaddr = false;  // op.value
  bool pgoff = false;  // op.extra
  bool vsize = false;  // op.size (remap_vmalloc_range) or op.extra (..._partial)
  bool vsize_extra = false;
  bool area_stride = false;  // pcpu_get_vm_areas: op.extra
  bool byte = false;         // vwrite: op.extra
};

struct Word {
  const char* text;
  std::uint32_t flag;
};
constexpr Word kWords[] = {
    {"user", op_flags::kUser},        {"ro", op_flags::kReadOnly},
    {"nx", op_flags::kNoExecute},     {"global", op_flags::kGlobal},
    {"noflush", op_flags::kNoFlush},  {"store", op_flags::kStore},
    {"pwt", op_flags::kWriteThrough}, {"pcd", op_flags::kCacheDisable},
    {"zero", op_flags::kZero},        {"dma32", op_flags::kDma32},
    {"exec", op_flags::kExec},        {"noguard", op_flags::kNoGuard},
    {"ioremap", op_flags::kIoremap},  {"alloc", op_flags::kVmAlloc},
    {"map", op_flags::kVmMap},        {"usermap", op_flags::kUsermap},
    {"modules", op_flags::kModules},
};

constexpr std::uint32_t kPageWords = op_flags::kReadOnly | op_flags::kUser | op_flags::kNoExecute |
                                     op_flags::kGlobal | op_flags::kWriteThrough |
                                     op_flags::kCacheDisable;
// vmap(), vm_map_ram() and vm_unmap_ram() take an unsigned int count.
constexpr std::uint64_t kMaxPageCount = 0xffffffffu;
// vread/vwrite copy through a host buffer; pcpu_get_vm_areas gets one area per percpu group
// (Linux has at most one per NUMA node).
constexpr std::uint64_t kMaxCopyBytes = std::uint64_t{256} << 20;
constexpr std::uint64_t kMaxPcpuAreas = 1024;

constexpr std::uint32_t kVmWords = op_flags::kIoremap | op_flags::kVmAlloc | op_flags::kVmMap |
                                   op_flags::kUsermap | op_flags::kNoGuard;

bool valid_name(const std::string& name) {
  if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

void set_name(Op& op, const std::string& name, const char* what) {
  if (!valid_name(name)) {
    bad(std::string(what) + " '" + name +
        "' must be letters, digits and '_', not starting with a digit");
  }
  if (!op.set_name(name)) {
    bad(std::string(what) + " '" + name + "' is longer than " + std::to_string(kMaxOpName) +
        " characters");
  }
}

// "$name": the handle an op binds its result to.
void bind_handle(Op& op, const std::string& token) {
  if (token.size() < 2 || token[0] != '$') bad("expected a handle ($name), got '" + token + "'");
  set_name(op, token.substr(1), "handle");
}

// An address: a number, or "$name" or "$name+OFFSET" (relative to what the handle is bound to).
void address(Op& op, const std::string& token, const char* what) {
  if (token.empty() || token[0] != '$') {
    op.addr = number(token, what);
    return;
  }
  const auto plus = token.find('+');
  set_name(op, token.substr(1, plus == std::string::npos ? std::string::npos : plus - 1), "handle");
  op.flags |= op_flags::kHandleAddr;
  op.addr = plus == std::string::npos ? 0 : byte_count(token.substr(plus + 1), "offset");
}

void parse_extras(Op& op, const std::vector<std::string>& words, std::size_t from,
                  const Allowed& allowed) {
  std::vector<std::string> keys_seen;
  for (std::size_t i = from; i < words.size(); ++i) {
    const std::string& word = words[i];
    const auto eq = word.find('=');
    if (eq == std::string::npos) {
      bool known = false;
      for (const Word& w : kWords) {
        if (word == w.text && (allowed.words & w.flag)) {
          op.flags |= w.flag;
          known = true;
        }
      }
      if (!known) bad("unexpected operand '" + word + "'");
      continue;
    }
    const std::string key = word.substr(0, eq);
    const std::string value = word.substr(eq + 1);
    // A second value would silently override the first: almost certainly a mistake.
    if (std::find(keys_seen.begin(), keys_seen.end(), key) != keys_seen.end()) {
      bad("'" + key + "=' given twice");
    }
    keys_seen.push_back(key);
    if (key == "mm" && allowed.mm) {
      op.mm = static_cast<std::uint32_t>(bounded(value, "mm", 65535));
    } else if (key == "pcid" && allowed.pcid) {
      op.pcid = static_cast<std::uint16_t>(bounded(value, "pcid", mmu::Pcid::kMax));
    } else if (key == "page" && allowed.page) {
      if (!mmu::parse_page_size(value, op.page)) {
        bad("'page=" + value + "' is not a page size (4k, 2m or 1g)");
      }
    } else if (key == "frame" && allowed.frame) {
      op.value = number(value, "frame");
      op.flags |= op_flags::kHasFrame;
    } else if (key == "stride" && allowed.stride) {
      op.value = byte_count(value, "stride");
      if (op.value == 0) bad("stride must be at least 1");
    } else if (key == "addr" && allowed.addr) {
      op.addr = number(value, "addr");
    } else if (key == "node" && allowed.node) {
      op.node = static_cast<std::int32_t>(bounded(value, "node", 63));
    } else if (key == "align" && allowed.align) {
      op.align = byte_count(value, "alignment");
      if (op.align == 0) bad("alignment must be at least 1");
    } else if (key == "uaddr" && allowed.uaddr) {
      op.value = number(value, "user address");
    } else if (key == "pgoff" && allowed.pgoff) {
      op.extra = number(value, "page offset");
    } else if (key == "vsize" && allowed.vsize) {
      // 0 is the op's "not given": an explicit 0 would silently mean the default.
      const std::uint64_t vsize = byte_count(value, "vma size");
      if (vsize == 0) bad("vma size must be at least 1");
      (allowed.vsize_extra ? op.extra : op.size) = vsize;
    } else if (key == "stride" && allowed.area_stride) {
      op.extra = byte_count(value, "stride");
      if (op.extra == 0) bad("stride must be at least 1");
    } else if (key == "byte" && allowed.byte) {
      op.extra = bounded(value, "byte", 255);
    } else {
      bad("unexpected operand '" + word + "'");
    }
  }
}

// A key= option the op cannot do without.
void need_key(const Op& op, const std::vector<std::string>& words, std::size_t from,
              const char* key, const char* usage) {
  const std::string prefix = std::string(key) + "=";
  for (std::size_t i = from; i < words.size(); ++i) {
    if (words[i].compare(0, prefix.size(), prefix) == 0) return;
  }
  bad(std::string("missing operand '") + prefix + "' (usage: " + op_name(op.kind) + " " + usage +
      ")");
}

void need(const Op& op, const std::vector<std::string>& words, std::size_t count,
          const char* usage) {
  if (words.size() < count + 1) {
    bad(std::string("missing operand (usage: ") + op_name(op.kind) + " " + usage + ")");
  }
}

void parse_operands(Op& op, const std::vector<std::string>& words) {
  Allowed allowed;
  std::size_t positional = 0;
  switch (op.kind) {
    case OpKind::kLoad:
    case OpKind::kStore:
    case OpKind::kFetch:
      need(op, words, 1, "ADDR [user]");
      address(op, words[1], "address");
      positional = 1;
      allowed.words = op_flags::kUser;
      break;
    case OpKind::kTouch: {
      const char* usage = "ADDR BYTES [stride=BYTES] [store] [user]";
      need(op, words, 1, usage);
      address(op, words[1], "address");
      op.value = mmu::kPageBytes;
      positional = 1;
      // BYTES may be left out after a handle: the rest of what the handle's op allocated.
      const bool bytes_given = words.size() > 2 && words[2].find('=') == std::string::npos &&
                               words[2] != "store" && words[2] != "user";
      if (bytes_given) {
        op.size = byte_count(words[2], "byte count");
        positional = 2;
      } else if (!op.has(op_flags::kHandleAddr)) {
        bad(std::string("missing operand (usage: touch ") + usage + ")");
      }
      allowed.words = op_flags::kStore | op_flags::kUser;
      allowed.stride = true;
      break;
    }
    case OpKind::kInvlpg:
      need(op, words, 1, "ADDR");
      address(op, words[1], "address");
      positional = 1;
      break;
    case OpKind::kMovCr3:
      allowed.mm = allowed.pcid = true;
      allowed.words = op_flags::kNoFlush;
      break;
    case OpKind::kInvpcid:
      need(op, words, 1, "TYPE [pcid=N] [addr=ADDR]");
      op.value = bounded(words[1], "INVPCID type", 255);
      positional = 1;
      allowed.pcid = allowed.addr = true;
      break;
    case OpKind::kTogglePge:
      break;
    case OpKind::kMap:
      need(op, words, 2,
           "ADDR BYTES [mm=N] [page=4k|2m|1g] [frame=PFN] [ro] [user] [nx] [global] [pwt] [pcd]");
      op.addr = number(words[1], "address");
      op.size = byte_count(words[2], "byte count");
      positional = 2;
      allowed.mm = allowed.page = allowed.frame = true;
      allowed.words = kPageWords;
      break;
    case OpKind::kUnmap:
      need(op, words, 2, "ADDR BYTES [mm=N]");
      op.addr = number(words[1], "address");
      op.size = byte_count(words[2], "byte count");
      positional = 2;
      allowed.mm = true;
      break;
    case OpKind::kProtect:
      need(op, words, 2, "ADDR BYTES [mm=N] [ro] [user] [nx] [global] [pwt] [pcd]");
      op.addr = number(words[1], "address");
      op.size = byte_count(words[2], "byte count");
      positional = 2;
      allowed.mm = true;
      allowed.words = kPageWords;
      break;
    case OpKind::kCompute:
      need(op, words, 1, "CYCLES");
      op.value = number(words[1], "cycle count");
      positional = 1;
      break;
    case OpKind::kFlushTlbKernelRange:
      need(op, words, 2, "START END|all");
      op.addr = number(words[1], "start address");
      op.value = words[2] == "all" ? kTlbFlushAll : number(words[2], "end address");
      positional = 2;
      break;
    case OpKind::kIdle:
      if (words.size() > 1 && words[1].find('=') == std::string::npos) {
        op.value = number(words[1], "cycle count");
        if (op.value == 0) bad("cycle count must be at least 1 (no operand: until an interrupt)");
        positional = 1;
      }
      break;
    case OpKind::kFlushTlbAll:
    case OpKind::kIrqOff:
    case OpKind::kIrqOn:
      break;
    case OpKind::kSpinLock:
    case OpKind::kSpinUnlock:
    case OpKind::kMutexLock:
    case OpKind::kMutexUnlock:
      need(op, words, 1, "NAME");
      set_name(op, words[1], "lock name");
      positional = 1;
      break;
    case OpKind::kVmalloc:
    case OpKind::kVzalloc:
    case OpKind::kVmallocUser:
    case OpKind::kVmallocExec:
    case OpKind::kVmalloc32:
    case OpKind::kVmalloc32User:
      need(op, words, 2, "$HANDLE SIZE");
      bind_handle(op, words[1]);
      op.size = byte_count(words[2], "size");
      positional = 2;
      break;
    case OpKind::kVmallocNode:
    case OpKind::kVzallocNode:
      need(op, words, 2, "$HANDLE SIZE [node=N]");
      bind_handle(op, words[1]);
      op.size = byte_count(words[2], "size");
      positional = 2;
      allowed.node = true;
      break;
    case OpKind::kVmallocNodeAlign:
      need(op, words, 2, "$HANDLE SIZE [align=BYTES] [node=N] [zero] [dma32] [exec]");
      bind_handle(op, words[1]);
      op.size = byte_count(words[2], "size");
      positional = 2;
      allowed.node = allowed.align = true;
      allowed.words = op_flags::kZero | op_flags::kDma32 | op_flags::kExec;
      break;
    case OpKind::kVmallocNodeRange:
      need(op, words, 2,
           "$HANDLE SIZE [align=BYTES] [node=N] [modules] [noguard] [zero] [dma32] [exec]");
      bind_handle(op, words[1]);
      op.size = byte_count(words[2], "size");
      positional = 2;
      allowed.node = allowed.align = true;
      allowed.words = op_flags::kZero | op_flags::kDma32 | op_flags::kExec | op_flags::kNoGuard |
                      op_flags::kModules;
      break;
    case OpKind::kVfree:
    case OpKind::kVfreeAtomic:
    case OpKind::kVunmap:
    case OpKind::kFindVmArea:
    case OpKind::kRemoveVmArea:
      need(op, words, 1, "ADDR");
      address(op, words[1], "address");
      positional = 1;
      break;
    case OpKind::kVmap:
      need(op, words, 2, "$HANDLE COUNT [map] [alloc] [ioremap] [usermap] [noguard]");
      bind_handle(op, words[1]);
      op.value = bounded(words[2], "page count", kMaxPageCount);
      positional = 2;
      allowed.words = kVmWords;
      break;
    case OpKind::kVmMapRam:
      need(op, words, 2, "$HANDLE COUNT [node=N]");
      bind_handle(op, words[1]);
      op.value = bounded(words[2], "page count", kMaxPageCount);
      positional = 2;
      allowed.node = true;
      break;
    case OpKind::kVmUnmapRam:
      need(op, words, 1, "ADDR [COUNT]");
      address(op, words[1], "address");
      positional = 1;
      if (words.size() > 2 && words[2].find('=') == std::string::npos) {
        op.value = bounded(words[2], "page count", kMaxPageCount);
        op.flags |= op_flags::kHasCount;
        positional = 2;
      }
      break;
    case OpKind::kVmUnmapAliases:
    case OpKind::kVmallocinfo:
    case OpKind::kIrqExit:
      break;
    case OpKind::kIrqEnter:
      if (words.size() != 2 || words[1] != "{") bad("expected 'irq {'");
      positional = 1;
      break;
    case OpKind::kSetMemoryRo:
    case OpKind::kSetMemoryRw:
    case OpKind::kSetMemoryX:
    case OpKind::kSetMemoryNx:
      need(op, words, 2, "ADDR PAGES");
      address(op, words[1], "address");
      op.value = bounded(words[2], "page count", kMaxPageCount);
      positional = 2;
      break;
    case OpKind::kSpanBegin:
    case OpKind::kSpanEnd:
      need(op, words, 1, "NAME");
      set_name(op, words[1], "span name");
      positional = 1;
      break;
    case OpKind::kGetVmArea:
      need(op, words, 2, "$HANDLE SIZE [ioremap] [alloc] [map] [usermap] [noguard]");
      bind_handle(op, words[1]);
      op.size = byte_count(words[2], "size");
      positional = 2;
      allowed.words = kVmWords;
      break;
    case OpKind::kFreeVmArea:
    case OpKind::kPcpuFreeVmAreas:
      need(op, words, 1, "$HANDLE");
      bind_handle(op, words[1]);
      positional = 1;
      break;
    case OpKind::kAllocVmArea:
      need(op, words, 2, "$HANDLE SIZE");
      bind_handle(op, words[1]);
      op.size = byte_count(words[2], "size");
      positional = 2;
      break;
    case OpKind::kMapKernelRangeNoflush:
      need(op, words, 2, "ADDR SIZE [exec]");
      address(op, words[1], "address");
      op.size = byte_count(words[2], "size");
      positional = 2;
      allowed.words = op_flags::kExec;
      break;
    case OpKind::kUnmapKernelRangeNoflush:
    case OpKind::kUnmapKernelRange:
    case OpKind::kVmAreaAddEarly:
      need(op, words, 2, "ADDR SIZE");
      address(op, words[1], "address");
      op.size = byte_count(words[2], "size");
      positional = 2;
      break;
    case OpKind::kVread:
    case OpKind::kVwrite:
      need(op, words, 2, op.kind == OpKind::kVread ? "ADDR SIZE" : "ADDR SIZE [byte=N]");
      address(op, words[1], "address");
      op.size = byte_count(words[2], "size");
      // The simulator copies through a host buffer of SIZE bytes.
      if (op.size > kMaxCopyBytes) {
        bad("size " + words[2] + " is above the largest copy a trace may ask for (256MiB)");
      }
      positional = 2;
      allowed.byte = op.kind == OpKind::kVwrite;
      break;
    case OpKind::kRemapVmallocRange: {
      const char* usage = "ADDR mm=N uaddr=ADDR [pgoff=N] [vsize=BYTES]";
      need(op, words, 1, usage);
      address(op, words[1], "address");
      positional = 1;
      need_key(op, words, 2, "mm", usage);
      need_key(op, words, 2, "uaddr", usage);
      allowed.mm = allowed.uaddr = allowed.pgoff = allowed.vsize = true;
      break;
    }
    case OpKind::kRemapVmallocRangePartial: {
      const char* usage = "ADDR SIZE mm=N uaddr=ADDR [vsize=BYTES]";
      need(op, words, 2, usage);
      address(op, words[1], "address");
      op.size = byte_count(words[2], "size");
      positional = 2;
      need_key(op, words, 3, "mm", usage);
      need_key(op, words, 3, "uaddr", usage);
      allowed.mm = allowed.uaddr = allowed.vsize = allowed.vsize_extra = true;
      break;
    }
    case OpKind::kPcpuGetVmAreas:
      need(op, words, 3, "$HANDLE COUNT SIZE [stride=BYTES] [align=BYTES]");
      bind_handle(op, words[1]);
      op.value = bounded(words[2], "area count", kMaxPcpuAreas);
      op.size = byte_count(words[3], "size");
      positional = 3;
      allowed.area_stride = allowed.align = true;
      break;
    case OpKind::kVmAreaRegisterEarly:
      need(op, words, 2, "$HANDLE SIZE [align=BYTES]");
      bind_handle(op, words[1]);
      op.size = byte_count(words[2], "size");
      positional = 2;
      allowed.align = true;
      break;
  }
  parse_extras(op, words, positional + 1, allowed);
}

}  // namespace

Op parse_op(const std::string& text) {
  const std::vector<std::string> words = split_words(text);
  if (words.empty()) bad("empty op");
  Op op;
  if (!parse_op_name(words[0], op.kind)) {
    std::string known;
    for (int k = 0; k < kNumOpKinds; ++k) {
      known += (k ? ", " : "") + std::string(op_name(static_cast<OpKind>(k)));
    }
    bad("unknown op '" + words[0] + "' (known: " + known + ")");
  }
  try {
    parse_operands(op, words);
  } catch (const std::invalid_argument& e) {
    bad(std::string(op_name(op.kind)) + ": " + e.what());
  }
  return op;
}

TraceReader::TraceReader(const std::string& path)
    : file_(std::make_unique<std::ifstream>(path)), in_(file_.get()), name_(path) {
  if (!*file_) throw TraceError(path + ": cannot open the trace file");
  read_header();
}

TraceReader::TraceReader(std::istream& in, std::string name) : in_(&in), name_(std::move(name)) {
  read_header();
}

void TraceReader::fail(std::uint64_t line, const std::string& message) const {
  throw TraceError(name_ + ":" + std::to_string(line) + ": " + message);
}

namespace {

// Whitespace as split_words() has it (a form feed or vertical tab too, not only blanks), so
// that a line stripped to something non-empty always has a first word.
constexpr const char* kSpaces = " \t\n\v\f\r";

// The line without its comment and surrounding whitespace.
std::string strip(const std::string& raw) {
  std::string line = raw.substr(0, raw.find('#'));
  const auto first = line.find_first_not_of(kSpaces);
  if (first == std::string::npos) return {};
  const auto last = line.find_last_not_of(kSpaces);
  return line.substr(first, last - first + 1);
}

}  // namespace

bool TraceReader::next_raw_line(std::string& raw) {
  if (std::getline(*in_, raw)) {
    ++line_;
    return true;
  }
  // A failing disk or a directory given as the trace must not look like a short trace.
  if (in_->bad()) fail(line_ + 1, "cannot read the trace file");
  return false;
}

void TraceReader::find_last_lines() {
  last_lines_searched_ = true;
  if (!file_) return;
  const std::streampos resume = file_->tellg();
  if (resume == std::streampos(-1)) return;
  std::vector<std::uint64_t> last;
  std::uint64_t last_of_all = 0;
  bool attributed = true;
  const auto note = [&](const std::string& text, std::uint64_t line) {
    std::uint64_t cpu = 0;
    if (!to_u64(text.substr(0, text.find_first_of(" \t\n\v\f\r")), cpu) ||
        cpu >= static_cast<std::uint64_t>(cpu_count_) ||
        (declared_cpus_ > 0 && cpu >= static_cast<std::uint64_t>(declared_cpus_))) {
      attributed = false;
      return;
    }
    if (last.size() <= cpu) last.resize(cpu + 1, 0);
    last[cpu] = line;
    last_of_all = line;
  };
  if (has_lookahead_) note(lookahead_, line_);
  std::string raw;
  std::uint64_t line = line_;
  while (attributed && std::getline(*file_, raw)) {
    ++line;
    const std::string text = strip(raw);
    if (!text.empty()) note(text, line);
  }
  const bool complete = attributed && file_->eof() && !file_->bad();
  file_->clear();
  file_->seekg(resume);
  if (!*file_) fail(line_ + 1, "cannot read the trace file");
  if (!complete) return;
  last_lines_known_ = true;
  last_line_ = std::move(last);
  last_op_line_ = last_of_all;
}

void TraceReader::read_header() {
  std::string raw;
  bool have_magic = false;
  while (next_raw_line(raw)) {
    const std::string line = strip(raw);
    if (line.empty()) continue;
    const auto words = split_words(line);
    if (!have_magic) {
      if (words.size() != 2 || words[0] != "mmusim-trace") {
        fail(line_, "not an mmusim trace: the first line must be 'mmusim-trace " +
                        std::to_string(kTraceVersion) + "'");
      }
      std::uint64_t version = 0;
      if (!to_u64(words[1], version) || version != kTraceVersion) {
        fail(line_, "unsupported trace version '" + words[1] + "' (this mmusim reads version " +
                        std::to_string(kTraceVersion) + ")");
      }
      have_magic = true;
      continue;
    }
    if (words[0] == "cpus") {
      if (declared_cpus_ != 0) fail(line_, "'cpus' given twice");
      std::uint64_t cpus = 0;
      if (words.size() != 2 || !to_u64(words[1], cpus) || cpus < 1 || cpus > kMaxTraceCpus) {
        fail(line_, "'cpus' takes one number from 1 to " + std::to_string(kMaxTraceCpus));
      }
      declared_cpus_ = static_cast<int>(cpus);
      continue;
    }
    if (words[0] == "boot") {
      Op op;
      try {
        op = parse_op(line.substr(4));
      } catch (const std::invalid_argument& e) {
        fail(line_, std::string("boot: ") + e.what());
      }
      if (!is_boot_op(op.kind)) {
        fail(line_,
             "boot lines may only hold map, unmap, protect, vm_area_add_early or "
             "vm_area_register_early");
      }
      // Boot ops run before any handle can be resolved: the address must be a number.
      if (op.has(op_flags::kHandleAddr)) {
        fail(line_, std::string("boot: ") + op_name(op.kind) +
                        ": the address must be a number on a boot line, not a handle");
      }
      boot_ops_.push_back(op);
      continue;
    }
    // The first op line ends the header.
    lookahead_ = line;
    has_lookahead_ = true;
    return;
  }
  if (!have_magic) {
    fail(line_ == 0 ? 1 : line_, "empty file: not an mmusim trace (no 'mmusim-trace " +
                                     std::to_string(kTraceVersion) + "' line)");
  }
}

bool TraceReader::read_line(int& cpu, Op& op, std::uint64_t& line) {
  std::string text;
  if (has_lookahead_) {
    text = lookahead_;
    has_lookahead_ = false;
  } else {
    std::string raw;
    for (;;) {
      if (!next_raw_line(raw)) {
        check_irq_blocks_closed();
        return false;
      }
      text = strip(raw);
      if (!text.empty()) break;
    }
  }
  line = line_;
  op_line_read_ = line_;
  const auto space = text.find_first_of(kSpaces);
  const std::string cpu_text = text.substr(0, space);
  std::uint64_t cpu_value = 0;
  if (!to_u64(cpu_text, cpu_value)) {
    if (cpu_text == "cpus" || cpu_text == "boot") {
      fail(line, "'" + cpu_text + "' belongs in the header, before the first op");
    }
    fail(line, "expected 'CPU OP ...' (a CPU number first), got '" + cpu_text + "'");
  }
  if (cpu_value >= static_cast<std::uint64_t>(cpu_count_)) {
    fail(line, "CPU " + cpu_text + " does not exist: the platform has " +
                   std::to_string(cpu_count_) + " CPUs (set platform.cpus)");
  }
  if (declared_cpus_ > 0 && cpu_value >= static_cast<std::uint64_t>(declared_cpus_)) {
    fail(line, "CPU " + cpu_text + " is not in the trace: its header says 'cpus " +
                   std::to_string(declared_cpus_) + "'");
  }
  if (space == std::string::npos) fail(line, "CPU " + cpu_text + " has no op");
  try {
    op = parse_op(text.substr(space + 1));
  } catch (const std::invalid_argument& e) {
    fail(line, e.what());
  }
  cpu = static_cast<int>(cpu_value);
  track_irq_block(cpu, op, line);
  return true;
}

void TraceReader::track_irq_block(int cpu, const Op& op, std::uint64_t line) {
  if (op.kind != OpKind::kIrqEnter && op.kind != OpKind::kIrqExit) return;
  if (irq_open_.size() <= static_cast<std::size_t>(cpu)) irq_open_.resize(cpu + 1, 0);
  std::uint64_t& open = irq_open_[cpu];
  if (op.kind == OpKind::kIrqEnter) {
    if (open != 0) fail(line, "'irq {' inside an irq block (handlers do not nest here)");
    open = line;
  } else {
    if (open == 0) fail(line, "'}' without 'irq {'");
    open = 0;
  }
}

void TraceReader::check_irq_blocks_closed() const {
  // The earliest block left open, whichever CPU it belongs to.
  std::uint64_t first = 0;
  for (const std::uint64_t open : irq_open_) {
    if (open != 0 && (first == 0 || open < first)) first = open;
  }
  if (first != 0) fail(first, "'irq {' is never closed with '}'");
}

bool TraceReader::next_for(int cpu, Op& op, std::uint64_t& line) {
  if (cpu < 0) throw std::logic_error("TraceReader::next_for: negative CPU");
  if (pending_.size() <= static_cast<std::size_t>(cpu)) pending_.resize(cpu + 1);
  auto& mine = pending_[cpu];
  if (!mine.empty()) {
    op = mine.front().op;
    line = mine.front().line;
    mine.pop_front();
    --pending_count_;
    return true;
  }
  if (!last_lines_searched_) find_last_lines();
  if (last_lines_known_ &&
      (static_cast<std::size_t>(cpu) >= last_line_.size() || last_line_[cpu] <= op_line_read_)) {
    // This CPU has had all its ops: reading on would only hold the others' ops. Once every
    // CPU's ops are read, only blank and comment lines are left: read to the end, for the
    // end-of-trace checks.
    int owner = 0;
    Op read;
    std::uint64_t read_line_number = 0;
    if (op_line_read_ >= last_op_line_) {
      while (read_line(owner, read, read_line_number)) {
      }
    }
    return false;
  }
  int owner = 0;
  Op read;
  std::uint64_t read_line_number = 0;
  while (read_line(owner, read, read_line_number)) {
    if (owner == cpu) {
      op = read;
      line = read_line_number;
      return true;
    }
    if (pending_.size() <= static_cast<std::size_t>(owner)) pending_.resize(owner + 1);
    pending_[owner].push_back(Pending{read, read_line_number});
    peak_pending_ = std::max(peak_pending_, ++pending_count_);
  }
  return false;
}

std::vector<std::uint64_t> TraceReader::count_ops() {
  std::vector<std::uint64_t> counts;
  for (std::size_t c = 0; c < pending_.size(); ++c) {
    counts.resize(std::max(counts.size(), c + 1));
    counts[c] += pending_[c].size();
    pending_[c].clear();
  }
  pending_count_ = 0;
  int cpu = 0;
  Op op;
  std::uint64_t line = 0;
  while (read_line(cpu, op, line)) {
    if (counts.size() <= static_cast<std::size_t>(cpu)) counts.resize(cpu + 1);
    ++counts[cpu];
  }
  return counts;
}

TraceWriter::TraceWriter(std::ostream& out, int cpus, const std::string& comment)
    : out_(out), cpus_(cpus) {
  out_ << "mmusim-trace " << kTraceVersion << "\n";
  if (!comment.empty()) {
    std::istringstream lines(comment);
    std::string line;
    while (std::getline(lines, line))
      out_ << "# " << line << "\n";
  }
  out_ << "cpus " << cpus << "\n";
}

void TraceWriter::write_boot(const Op& op) {
  // A boot line after an op line would make a trace the reader rejects.
  if (ops_ != 0) throw std::logic_error("TraceWriter::write_boot after the first op");
  out_ << "boot " << format_op(op) << '\n';
}

void TraceWriter::write(int cpu, const Op& op) {
  if (cpu < 0 || cpu >= cpus_) {
    throw std::logic_error("TraceWriter::write: CPU " + std::to_string(cpu) +
                           " outside the trace's " + std::to_string(cpus_) + " CPUs");
  }
  out_ << cpu << ' ' << format_op(op) << '\n';
  ++ops_;
}

}  // namespace mmusim::workloads
