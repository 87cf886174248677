#include "mmu/types.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace mmusim::mmu {

const char* to_string(PageSize size) {
  switch (size) {
    case PageSize::k4K:
      return "4k";
    case PageSize::k2M:
      return "2m";
    case PageSize::k1G:
      return "1g";
  }
  return "?";
}

bool parse_page_size(const std::string& text, PageSize& out) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "4k" || lower == "4kib") {
    out = PageSize::k4K;
  } else if (lower == "2m" || lower == "2mib") {
    out = PageSize::k2M;
  } else if (lower == "1g" || lower == "1gib") {
    out = PageSize::k1G;
  } else {
    return false;
  }
  return true;
}

std::string hex(std::uint64_t value) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(value));
  return buf;
}

}  // namespace mmusim::mmu
