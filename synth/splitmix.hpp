#pragma once
/// \file
/// SplitMix64: a counter-based generator, so that every random draw of the synthetic cohort
/// depends only on (seed, subject, voxel or item) and never on thread scheduling.

#include <cstdint>

namespace nc::synth {

inline std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace nc::synth
