#pragma once
/// \file
/// A TorchScript segmentation network with its metadata: the label table, the input spacing,
/// patch size, channels and intensity normalisation it was trained with. The metadata travels
/// inside the TorchScript file as the extra file `metadata.json` (models exported by
/// models/), or beside it as a sidecar JSON (models exported elsewhere: nnU-Net, MONAI).
/// LibTorch stays behind this header: only segmentation_model.cpp includes it.

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "kernels/common/device_array.hpp"

namespace nc::pipeline {

/// A model that cannot be used: missing or corrupt file, missing or invalid metadata.
class ModelError : public Error {
 public:
  using Error::Error;
};

struct ModelLabel {
  int id = 0;
  std::string name;
  std::string hemisphere;  ///< "L", "R" or "-"
};

struct ModelMetadata {
  std::vector<ModelLabel> labels;          ///< foreground classes; the network outputs labels.size() + 1 channels
  std::array<double, 3> input_spacing_mm{};
  std::array<std::int64_t, 3> patch_size{};  ///< voxels along i, j, k
  int channels = 1;
  /// "zscore": z-score over the brain mask, 0 outside (models/ exports this); "none": as given.
  std::string normalisation;
  std::string json;                        ///< the metadata as given, for provenance
};

/// Parses and validates metadata JSON. `source` names it in errors.
/// \throws ModelError on malformed JSON, a missing field, no labels, duplicate or
///         non-positive label ids, non-positive spacing or patch size, no channels, or an
///         unknown normalisation.
ModelMetadata parse_model_metadata(const std::string& json, const std::string& source);

enum class Device { Cpu, Cuda };

/// Arithmetic of the forward pass. fp32 is IEEE float32 on both devices: on CUDA, cuDNN and
/// cuBLAS are told not to round to TF32 (LibTorch lets them on Ampere and newer by default).
/// tf32 (CUDA only) lets them: float32 tensors, convolutions and products on TF32 tensor cores.
/// The 16-bit ones run under LibTorch's autocast, as `torch.autocast` does in Python:
/// convolutions and matrix products in 16 bits, numerically sensitive operations
/// (normalisation, reductions) in float32, logits returned as float32. bf16 runs on CUDA and on
/// the CPU (fast where the CPU has AVX512-BF16 or AMX); fp16 needs CUDA.
enum class Precision { Float32, TensorFloat32, BFloat16, Float16 };
inline constexpr std::array<Precision, 4> kPrecisions = {Precision::Float32, Precision::TensorFloat32,
                                                         Precision::BFloat16, Precision::Float16};

/// Whether the precision runs on CUDA only.
constexpr bool needs_cuda(Precision precision) {
  return precision == Precision::TensorFloat32 || precision == Precision::Float16;
}

/// "fp32", "tf32", "bf16", "fp16": the names the command line takes.
const char* precision_name(Precision precision);

/// The names of kPrecisions, in its order.
std::vector<std::string> precision_names();

/// What `run --precision` takes: precision_names() and "auto", which each run resolves
/// (cluster/cohort_run.cpp).
std::vector<std::string> precision_choices();

/// The precision of that name (as precision_name gives it); nullopt for any other name.
std::optional<Precision> precision_named(const std::string& name);

/// Whether this CPU computes bf16 products natively (AVX512-BF16, which CPUs with AMX also
/// have). Without it oneDNN emulates bf16, more slowly than float32.
bool cpu_computes_bf16();

/// Whether this LibTorch was built with CUDA and sees a device (Debian's is CPU-only).
bool libtorch_sees_cuda();

/// Gives the GPU memory LibTorch's caching allocator holds but no tensor uses back to the
/// device (before the CPU retry after an out-of-memory, so that the kernels' pool can have it).
/// Nothing where LibTorch was built without CUDA; never throws.
void release_unused_inference_memory() noexcept;

/// Threads of LibTorch's intra-op pool (0: leave LibTorch's default, one per core).
void set_inference_threads(int threads);

class SegmentationModel {
 public:
  /// Loads a TorchScript file, freezes it (weights folded into the graph) and, on the CPU,
  /// optimises it for inference; then runs one patch of zeros through it, so that a network
  /// whose channels or classes disagree with its label table fails here. Metadata comes from
  /// `sidecar` when given, otherwise from the file's embedded `metadata.json`.
  /// \throws ModelError naming the file and the reason (fp16 asked for on the CPU among them);
  ///         before any scan is processed.
  static SegmentationModel load(const std::filesystem::path& path,
                                const std::optional<std::filesystem::path>& sidecar = std::nullopt,
                                Device device = Device::Cpu, Precision precision = Precision::Float32);

  SegmentationModel(SegmentationModel&&) noexcept;
  SegmentationModel& operator=(SegmentationModel&&) noexcept;
  ~SegmentationModel();

  const ModelMetadata& metadata() const;
  const std::filesystem::path& path() const;
  Precision precision() const;

  /// One forward pass over a batch laid out [batch][channel][k][j][i] (i fastest), float32,
  /// in host memory (a CUDA model copies it to the device it was loaded on, from any thread);
  /// writes the logits
  /// [batch][class][k][j][i], metadata().labels.size() + 1 classes, to host memory.
  /// \throws ModelError when the sizes disagree or the network fails or returns another shape.
  void forward(std::span<const float> input, std::int64_t batch, const std::array<std::int64_t, 3>& size_ijk,
               std::span<float> logits) const;

  /// Whether the model runs on a GPU (loaded with Device::Cuda).
  bool on_cuda() const;

  /// forward() on device memory of the model's GPU (CUDA models only): the first batch
  /// windows of `input` and of `logits` in forward()'s layouts, and nothing crosses to the
  /// host. It waits for the calling thread's device work before the pass (the kernels that
  /// wrote `input`) and for LibTorch's stream after it, so kernels on either side see complete
  /// data. \throws ModelError as forward(), and for a CPU model; kernels::CudaOutOfMemory when
  /// the GPU has no memory left for the pass.
  void forward_on_device(const kernels::DeviceArray<float>& input, std::int64_t batch,
                         const std::array<std::int64_t, 3>& size_ijk, kernels::DeviceArray<float>& logits) const;

 private:
  struct Impl;
  explicit SegmentationModel(std::unique_ptr<Impl> impl);
  void probe() const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nc::pipeline
