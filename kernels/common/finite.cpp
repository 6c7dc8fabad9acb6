#include "kernels/common/finite.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_reduce.h>

#include <cmath>
#include <functional>

#include "core/error.hpp"

namespace nc::kernels {

void require_finite(const ImageVolume& image, const std::string& what) {
  const std::size_t bad = tbb::parallel_reduce(
      tbb::blocked_range<std::size_t>(0, image.voxels.size()), std::size_t{0},
      [&](const tbb::blocked_range<std::size_t>& range, std::size_t count) {
        for (std::size_t v = range.begin(); v != range.end(); ++v) count += !std::isfinite(image.voxels[v]);
        return count;
      },
      std::plus<>());
  if (bad > 0) throw Error(what + ": the image holds " + std::to_string(bad) + " NaN or infinite voxels");
}

}  // namespace nc::kernels
