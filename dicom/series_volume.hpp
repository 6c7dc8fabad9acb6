#pragma once
/// \file
/// Reading the one series a manifest row names, `<folder>#<SeriesInstanceUID>`: the folder's
/// files of that series (others beside it are left alone), stacked along the slice normal,
/// rescale slope and intercept applied per slice. A gantry-tilted CT, whose slices are sheared
/// against their normal, is resampled onto the orthogonal grid of its slice planes: each slice
/// shifted back in-plane by its shear (bilinear), as dcm2niix does.

#include <filesystem>
#include <string>

#include "core/volume.hpp"
#include "dicom/series.hpp"
#include "dicom/series_reference.hpp"

namespace nc::dicom {

/// The checked stack of a referenced series and the orthogonal grid it is read onto.
struct SeriesLayout {
  Series series;
  Geometry geometry;  ///< axes: row, column, normal; origin: the first slice's position
};

/// \throws ImageError (naming the reference) when the folder holds no file of the series or
///         the files do not form a volume (the reasons of dicom/series.hpp).
SeriesLayout read_series_layout(const SeriesReference& reference);

/// Decodes every slice (in parallel) into float32, rescaled, tilt shear removed.
/// \throws ImageError for a slice DCMTK cannot decode, or whose size or pixel layout differs
///         from its header or is unsupported.
ImageVolume read_series_voxels(const SeriesLayout& layout);

}  // namespace nc::dicom
