#include "pipeline/preprocess.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.hpp"
#include "kernels/common/upload.hpp"
#include "kernels/resample/resample.hpp"
#include "kernels/skull_strip/skull_strip.hpp"

namespace nc::pipeline {
namespace {

/// Smallest index box holding every nonzero voxel, as [lo, hi) per axis.
struct IndexBox {
  std::array<std::int64_t, 3> lo{}, hi{};
};

IndexBox mask_bounds(const Volume<std::uint8_t>& mask) {
  const auto& s = mask.geometry.size;
  IndexBox box{{s[0], s[1], s[2]}, {0, 0, 0}};
  for (std::int64_t k = 0; k < s[2]; ++k)
    for (std::int64_t j = 0; j < s[1]; ++j) {
      const std::uint8_t* row = &mask.voxels[static_cast<std::size_t>(mask.geometry.linear_index(0, j, k))];
      std::int64_t first = 0, last = s[0] - 1;
      while (first < s[0] && row[first] == 0) ++first;
      if (first == s[0]) continue;
      while (row[last] == 0) --last;
      box.lo = {std::min(box.lo[0], first), std::min(box.lo[1], j), std::min(box.lo[2], k)};
      box.hi = {std::max(box.hi[0], last + 1), std::max(box.hi[1], j + 1), std::max(box.hi[2], k + 1)};
    }
  return box;
}

/// The box grown by `margin` voxels and to an even size; it may reach beyond the grid.
IndexBox crop_box(const IndexBox& bounds, std::int64_t margin) {
  IndexBox box;
  for (int a = 0; a < 3; ++a) {
    box.lo[a] = bounds.lo[a] - margin;
    box.hi[a] = bounds.hi[a] + margin;
    if ((box.hi[a] - box.lo[a]) % 2 != 0) ++box.hi[a];
  }
  return box;
}

/// The grid of the sub-box `box` of `g`.
Geometry box_grid(const Geometry& grid, const IndexBox& box) {
  Geometry g = grid;
  g.origin_mm = index_to_physical(grid, {double(box.lo[0]), double(box.lo[1]), double(box.lo[2])});
  for (int a = 0; a < 3; ++a) g.size[a] = box.hi[a] - box.lo[a];
  return g;
}

/// The sub-grid `box` of `v` (axis-aligned input), `fill` where the box leaves the grid.
template <typename T>
Volume<T> crop(const Volume<T>& v, const IndexBox& box, T fill) {
  const Geometry g = box_grid(v.geometry, box);
  Volume<T> out(g, fill);
  const auto& s = v.geometry.size;
  const std::int64_t i0 = std::max<std::int64_t>(box.lo[0], 0), i1 = std::min(box.hi[0], s[0]);
  for (std::int64_t k = std::max<std::int64_t>(box.lo[2], 0); k < std::min(box.hi[2], s[2]); ++k)
    for (std::int64_t j = std::max<std::int64_t>(box.lo[1], 0); j < std::min(box.hi[1], s[1]); ++j) {
      const T* src = &v.voxels[static_cast<std::size_t>(v.geometry.linear_index(i0, j, k))];
      T* dst = &out.voxels[static_cast<std::size_t>(g.linear_index(i0 - box.lo[0], j - box.lo[1], k - box.lo[2]))];
      std::copy(src, src + (i1 - i0), dst);
    }
  return out;
}

// Counted in double: the sizes of an absurd header overflow int64 when multiplied.
void require_grid_within_budget(const Geometry& grid, const PreprocessParams& params) {
  const double voxels = double(grid.size[0]) * double(grid.size[1]) * double(grid.size[2]);
  if (voxels <= double(params.max_voxels)) return;
  std::ostringstream why;
  why << "the " << params.spacing_mm << " mm grid of this scan would have " << grid.size[0] << "×" << grid.size[1]
      << "×" << grid.size[2] << " voxels, over the budget of " << params.max_voxels
      << " (--max-voxels); the header's voxel size or extent is implausible";
  throw Error(why.str());
}

// The validated 1 mm grid of a scan.
Geometry isotropic_grid(const ImageVolume& native, const PreprocessParams& params) {
  if (!(params.margin_mm >= 0.0)) throw Error("preprocess: the crop margin must not be negative");
  const Geometry grid = kernels::resampled_grid(native.geometry, params.spacing_mm);
  require_grid_within_budget(grid, params);
  return grid;
}

IndexBox brain_box(const Volume<std::uint8_t>& mask, const PreprocessParams& params) {
  return crop_box(mask_bounds(mask), std::int64_t(std::ceil(params.margin_mm / params.spacing_mm)));
}

}  // namespace

float outside_value(jobs::Modality modality) { return modality == jobs::Modality::CT ? -1000.0f : 0.0f; }

kernels::StripMethod strip_method(jobs::Modality modality) {
  return modality == jobs::Modality::CT ? kernels::StripMethod::CtWindow : kernels::StripMethod::MrOtsu;
}

PreprocessedScan preprocess(const ImageVolume& native, jobs::Modality modality, const PreprocessParams& params,
                            kernels::Backend backend) {
  if (backend == kernels::Backend::Cuda) {
    PreprocessedScan scan = preprocess_on_device(native, modality, params);
    bring_to_host(scan);
    return scan;
  }
  const ImageVolume iso = kernels::resample_onto(native, isotropic_grid(native, params), outside_value(modality),
                                                 kernels::Backend::Cpu);
  const auto method = strip_method(modality);
  kernels::SkullStripResult strip =
      kernels::skull_strip(iso, method, kernels::SkullStripParams::defaults_for(method), kernels::Backend::Cpu);

  const IndexBox box = brain_box(strip.mask, params);
  PreprocessedScan out;
  out.image_qc = qc::measure_image(iso, strip.mask, modality);
  out.brain_mask = crop(strip.mask, box, std::uint8_t{0});
  out.image = crop(strip.masked, box, 0.0f);
  out.icv_ml = strip.icv_ml;
  out.threshold = strip.threshold;
  if (params.equalize)
    out.image = kernels::adaptive_equalize(out.image, params.ahe, kernels::Backend::Cpu, &out.brain_mask);
  return out;
}

PreprocessedScan preprocess_on_device(const ImageVolume& native, jobs::Modality modality,
                                      const PreprocessParams& params) {
  const Geometry grid = isotropic_grid(native, params);
  kernels::require_cuda("preprocessing");
  // The scan's one upload (upload.hpp: int16 where the image allows, from pinned memory).
  const kernels::DeviceVolume<float> iso_on_device =
      kernels::resample_onto(kernels::upload_image(native), grid, outside_value(modality));
  ImageVolume iso(grid);
  iso_on_device.voxels.download(std::span<float>(iso.voxels));
  const auto method = strip_method(modality);
  kernels::DeviceSkullStripResult strip =
      kernels::skull_strip(iso, iso_on_device, method, kernels::SkullStripParams::defaults_for(method));

  const IndexBox box = brain_box(strip.mask, params);
  PreprocessedScan out;
  out.image_qc = qc::measure_image(iso, strip.mask, modality);
  out.brain_mask = crop(strip.mask, box, std::uint8_t{0});
  out.icv_ml = strip.icv_ml;
  out.threshold = strip.threshold;
  kernels::DeviceVolume<float> image = kernels::crop_on_device(strip.masked, box.lo, out.brain_mask.geometry, 0.0f);
  out.brain_mask_on_device.emplace(std::span<const std::uint8_t>(out.brain_mask.voxels));
  if (params.equalize) image = kernels::adaptive_equalize(image, params.ahe, &*out.brain_mask_on_device);
  out.on_device = std::move(image);
  kernels::wait_for_device_work();  // segment() may run on another thread, on another stream
  return out;
}

void bring_to_host(PreprocessedScan& scan) {
  if (!scan.on_device) return;
  scan.image = ImageVolume(scan.on_device->geometry);
  scan.on_device->voxels.download(std::span<float>(scan.image.voxels));
  scan.on_device.reset();
  scan.brain_mask_on_device.reset();
}

}  // namespace nc::pipeline
