#pragma once
/// \file
/// Per-voxel math of label statistics, shared by the oneTBB and CUDA paths. Counts are laid
/// out as three histograms of (num_labels + 1) bins each — predicted, truth, intersection —
/// where the last bin collects labels >= num_labels.

#include <cstdint>

#include "core/nc_hd.hpp"

namespace nc::kernels {

/// Histogram bin of a label: itself, or the overflow bin num_labels.
NC_HD inline int label_bin(std::uint16_t label, int num_labels) {
  return label < num_labels ? int(label) : num_labels;
}

/// Counts one voxel's predicted/truth pair: `increment(bin)` is called for the predicted
/// histogram, the truth histogram and, where they agree, the intersection histogram.
/// The CPU passes a plain ++, the GPU a shared-memory atomicAdd.
template <typename Increment>
NC_HD inline void count_overlap_voxel(std::uint16_t predicted, std::uint16_t truth, int num_labels,
                                      Increment&& increment) {
  const int bins = num_labels + 1;
  const int p = label_bin(predicted, num_labels);
  const int t = label_bin(truth, num_labels);
  increment(p);
  increment(bins + t);
  if (p == t) increment(2 * bins + p);
}

}  // namespace nc::kernels
