#pragma once
/// \file
/// The preprocessing stage of one scan: resample to an isotropic grid (1 mm by default),
/// skull strip (CT: Hounsfield window; MR: Otsu), crop to the brain and equalize inside the
/// brain mask. Its output is what the segmentation network sees (before the model's own
/// resampling and normalisation) and what `neurocohort preprocess` writes for training and QC.

#include <cstdint>
#include <optional>

#include "core/volume.hpp"
#include "jobs/manifest.hpp"
#include "kernels/common/backend.hpp"
#include "kernels/common/device_array.hpp"
#include "kernels/equalize/equalize.hpp"
#include "kernels/skull_strip/skull_strip.hpp"
#include "qc/measures.hpp"

namespace nc::pipeline {

struct PreprocessParams {
  double spacing_mm = 1.0;   ///< isotropic grid of the preprocessed image
  double margin_mm = 8.0;    ///< kept around the brain mask's bounding box when cropping
  bool equalize = true;      ///< adaptive histogram equalization inside the brain mask
  kernels::AheParams ahe{};  ///< ITK's AHE semantics (radius in voxels of the isotropic grid)
  /// Largest isotropic grid allowed: a header with 49 mm voxels must not ask for terabytes.
  std::int64_t max_voxels = std::int64_t{1} << 30;
};

struct PreprocessedScan {
  /// The brain on the isotropic grid, cropped to the mask's bounding box plus the margin (each
  /// axis an even number of voxels, so a model at twice the spacing tiles it exactly);
  /// equalized inside the mask, 0 outside. Empty when `on_device` holds it.
  ImageVolume image;
  /// preprocess_on_device: the same image, on the GPU, for segment() ...
  std::optional<kernels::DeviceVolume<float>> on_device;
  /// ... and `brain_mask` there too (uploaded once, for AHE and for the normalisation).
  std::optional<kernels::DeviceArray<std::uint8_t>> brain_mask_on_device;
  Volume<std::uint8_t> brain_mask;  ///< same grid as `image`
  double icv_ml = 0;                ///< brain mask volume (before cropping; cropping keeps all of it)
  float threshold = 0;              ///< the skull-strip lower threshold (Otsu's for MR)
  qc::ImageMeasures image_qc;       ///< of the 1 mm image and mask before cropping
};

/// What the resampling puts beyond a scan's extent: air, -1000 HU on CT; background, 0 on MR.
float outside_value(jobs::Modality modality);

/// The skull strip of a modality: the CT window, or Otsu's threshold on MR.
kernels::StripMethod strip_method(jobs::Modality modality);

/// \throws Error (naming the reason, not the scan: the caller knows it) when the image has no
///         contrast, no brain component is found, or a parameter is invalid.
///         Backend::Cuda is preprocess_on_device with the image copied back to the host.
PreprocessedScan preprocess(const ImageVolume& native, jobs::Modality modality, const PreprocessParams& params,
                            kernels::Backend backend);

/// The same steps with the CUDA kernels, the image on the GPU from the upload of `native` (the
/// scan's one upload) to the equalized crop, which is left in `on_device` (`image` stays empty)
/// for segment(). The 1 mm image comes back to the host once, for the image QC measures, the
/// finite check and the Otsu histogram; the brain mask is built on the host (components, holes).
/// \throws as preprocess; CudaError (CudaOutOfMemory when the GPU is full) from the device.
PreprocessedScan preprocess_on_device(const ImageVolume& native, jobs::Modality modality,
                                      const PreprocessParams& params);

/// Copies a scan's image from the device into `image` and frees the device copy (nothing to do
/// for a scan preprocessed on the host).
void bring_to_host(PreprocessedScan& scan);

}  // namespace nc::pipeline
