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

/// Bounding boxes are packed six bounds per label: lo i, j, k, then hi i, j, k (exclusive).
inline constexpr int kBoxBounds = 6;

/// The packed box of no voxel: lo at the largest index, hi at 0, so that any voxel widens it.
template <typename Bound>
NC_HD inline void clear_box(Bound* box, Bound largest) {
  for (int a = 0; a < 3; ++a) {
    box[a] = largest;
    box[3 + a] = 0;
  }
}

/// Widens one label's packed box to the run of voxels i0 .. i1-1 of row (j, k). The CPU
/// passes runs of equal labels with plain min/max, the GPU single voxels with shared-memory
/// atomics; the background (label 0) has no box.
template <typename Lower, typename Raise>
NC_HD inline void include_run(std::uint16_t label, int num_labels, long long i0, long long i1, long long j,
                              long long k, Lower&& lower, Raise&& raise) {
  if (label == 0 || label >= num_labels) return;
  const int base = kBoxBounds * int(label);
  lower(base + 0, i0);
  lower(base + 1, j);
  lower(base + 2, k);
  raise(base + 3, i1);
  raise(base + 4, j + 1);
  raise(base + 5, k + 1);
}

}  // namespace nc::kernels
