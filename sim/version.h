#pragma once

namespace mmusim::sim {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace mmusim::sim
