#pragma once
/// \file
/// The kernels that turn intensities into histogram levels (skull strip's Otsu threshold,
/// AHE) must not see NaN or infinity: converting one to an integer level is undefined
/// behaviour. `neurocohort run` never passes them one (the image reader refuses such scans);
/// this check keeps the library safe when it is called directly.

#include <string>

#include "core/volume.hpp"

namespace nc::kernels {

/// \throws Error "<what>: the image holds N NaN or infinite voxels" when there are any.
void require_finite(const ImageVolume& image, const std::string& what);

}  // namespace nc::kernels
