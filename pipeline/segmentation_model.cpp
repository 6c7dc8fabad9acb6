#include "pipeline/segmentation_model.hpp"

#include <nlohmann/json.hpp>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/cuda.h>
#include <torch/script.h>
#include <torch/version.h>
// NC_LIBTORCH_CUDA: this LibTorch has CUDA and its c10_cuda library (pipeline/CMakeLists.txt);
// Debian's ships the header but not the library.
#ifdef NC_LIBTORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <algorithm>
#include <atomic>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "kernels/common/backend.hpp"
#include "kernels/common/device_array.hpp"

namespace nc::pipeline {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

template <typename T, std::size_t N>
std::array<T, N> fixed_array(const json& value, const char* field, const std::string& source) {
  if (!value.is_array() || value.size() != N)
    throw ModelError(source + ": metadata field '" + field + "' must be a list of " + std::to_string(N) + " numbers");
  std::array<T, N> out{};
  for (std::size_t i = 0; i < N; ++i) {
    out[i] = value[i].get<T>();
    if (!(out[i] > 0)) throw ModelError(source + ": metadata field '" + field + "' must be positive");
  }
  return out;
}

const json& require(const json& object, const char* field, const std::string& source) {
  if (!object.contains(field)) throw ModelError(source + ": metadata has no '" + field + "'");
  return object.at(field);
}

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw ModelError(path.string() + ": cannot read the metadata file");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

ModelMetadata parse_model_metadata(const std::string& text, const std::string& source) {
  try {
    const json doc = json::parse(text);
    ModelMetadata meta;
    meta.json = text;
    const json& labels = require(doc, "labels", source);
    if (!labels.is_array() || labels.empty()) throw ModelError(source + ": metadata 'labels' must be a non-empty list");
    std::set<int> seen;
    for (const json& l : labels) {
      ModelLabel label{require(l, "id", source).get<int>(), require(l, "name", source).get<std::string>(),
                       l.value("hemisphere", std::string("-"))};
      if (label.id < 1) throw ModelError(source + ": label ids start at 1 (0 is background)");
      if (!seen.insert(label.id).second) throw ModelError(source + ": label id " + std::to_string(label.id) + " appears twice");
      meta.labels.push_back(label);
    }
    meta.input_spacing_mm = fixed_array<double, 3>(require(doc, "input_spacing_mm", source), "input_spacing_mm", source);
    meta.patch_size = fixed_array<std::int64_t, 3>(require(doc, "patch_size", source), "patch_size", source);
    meta.channels = require(doc, "channels", source).get<int>();
    if (meta.channels < 1) throw ModelError(source + ": metadata 'channels' must be at least 1");
    meta.normalisation = doc.value("normalisation", std::string("zscore"));
    if (meta.normalisation != "zscore" && meta.normalisation != "none")
      throw ModelError(source + ": unknown normalisation '" + meta.normalisation + "' (expected zscore or none)");
    return meta;
  } catch (const json::exception& e) {
    throw ModelError(source + ": invalid metadata JSON: " + e.what());
  }
}

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::Float32: return "fp32";
    case Precision::TensorFloat32: return "tf32";
    case Precision::BFloat16: return "bf16";
    case Precision::Float16: return "fp16";
  }
  return "?";
}

std::vector<std::string> precision_names() {
  std::vector<std::string> names;
  for (const Precision p : kPrecisions) names.emplace_back(precision_name(p));
  return names;
}

std::vector<std::string> precision_choices() {
  auto names = precision_names();
  names.emplace_back("auto");
  return names;
}

std::optional<Precision> precision_named(const std::string& name) {
  for (const Precision p : kPrecisions)
    if (name == precision_name(p)) return p;
  return std::nullopt;
}

namespace {

// LibTorch 2.4 made autocast's switches per device type and deprecated the CUDA-only ones that
// 1.13 (Debian's) has; the build treats deprecation warnings as errors, so each gets its own.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled(c10::DeviceType d) { return at::autocast::is_autocast_enabled(d); }
void set_autocast_enabled(c10::DeviceType d, bool on) { at::autocast::set_autocast_enabled(d, on); }
at::ScalarType autocast_dtype(c10::DeviceType d) { return at::autocast::get_autocast_dtype(d); }
void set_autocast_dtype(c10::DeviceType d, at::ScalarType t) { at::autocast::set_autocast_dtype(d, t); }
#else
bool autocast_enabled(c10::DeviceType d) {
  return d == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
void set_autocast_enabled(c10::DeviceType d, bool on) {
  d == c10::DeviceType::CUDA ? at::autocast::set_enabled(on) : at::autocast::set_cpu_enabled(on);
}
at::ScalarType autocast_dtype(c10::DeviceType d) {
  return d == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
void set_autocast_dtype(c10::DeviceType d, at::ScalarType t) {
  d == c10::DeviceType::CUDA ? at::autocast::set_autocast_gpu_dtype(t) : at::autocast::set_autocast_cpu_dtype(t);
}
#endif

/// Autocast on the calling thread for one forward pass, as Python's `with torch.autocast(...)`:
/// the settings it found are restored and the cast-weight cache cleared when it ends.
class AutocastScope {
 public:
  AutocastScope(Precision precision, c10::DeviceType device) : device_(device) {
    if (precision == Precision::Float32 || precision == Precision::TensorFloat32) return;
    active_ = true;
    was_enabled_ = autocast_enabled(device);
    was_dtype_ = autocast_dtype(device);
    set_autocast_enabled(device, true);
    set_autocast_dtype(device, precision == Precision::BFloat16 ? at::kBFloat16 : at::kHalf);
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (!active_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    set_autocast_enabled(device_, was_enabled_);
    set_autocast_dtype(device_, was_dtype_);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType device_;
  bool active_ = false;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kFloat;
};

}  // namespace

struct SegmentationModel::Impl {
  fs::path path;
  ModelMetadata metadata;
  mutable torch::jit::script::Module module;
  torch::Device device = torch::kCPU;
  Precision precision = Precision::Float32;

  std::int64_t classes() const { return std::int64_t(metadata.labels.size()) + 1; }

  void check_sizes(std::size_t input, std::size_t logits, std::int64_t batch, const std::array<std::int64_t, 3>& size) const {
    const std::int64_t voxels = size[0] * size[1] * size[2];
    if (std::int64_t(input) != batch * metadata.channels * voxels || std::int64_t(logits) != batch * classes() * voxels)
      throw ModelError(path.string() + ": buffers of " + std::to_string(input) + " and " + std::to_string(logits) +
                       " values do not fit batch × channels (classes) × voxels");
  }

  /// `data` ([batch][channel][k][j][i], on `where`) as the tensor [N, C, D=k, H=j, W=i] that
  /// shares its memory.
  torch::Tensor wrap(float* data, std::int64_t batch, std::int64_t channels, const std::array<std::int64_t, 3>& size,
                     torch::Device where) const {
    return torch::from_blob(data, {batch, channels, size[2], size[1], size[0]},
                            torch::TensorOptions().dtype(torch::kFloat32).device(where));
  }

  /// The network on `x` (on the model's device, on the calling thread, made current for the
  /// pass), its logits checked for shape. \throws ModelError.
  torch::Tensor run(const torch::Tensor& x, std::int64_t batch, const std::array<std::int64_t, 3>& size) const {
    torch::Tensor y;
    try {
      const AutocastScope autocast(precision, device.type());
      y = module.forward({x}).toTensor();
    } catch (const c10::OutOfMemoryError& e) {
      const std::string what = e.what();
      throw kernels::CudaOutOfMemory(path.string() + ": the GPU has no memory left for the forward pass (" +
                                     what.substr(0, what.find('\n')) + ")");
    } catch (const c10::Error& e) {
      const std::string what = e.what();
      throw ModelError(path.string() + ": forward pass failed: " + what.substr(0, what.find('\n')));
    }
    const std::vector<std::int64_t> expected = {batch, classes(), size[2], size[1], size[0]};
    if (y.sizes().vec() != expected)
      throw ModelError(path.string() + ": the network returned " + std::to_string(y.dim() > 1 ? y.size(1) : 0) +
                       " channels for " + std::to_string(classes()) + " classes (label table and network disagree)");
    return y;
  }
};

SegmentationModel::SegmentationModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SegmentationModel::SegmentationModel(SegmentationModel&&) noexcept = default;
SegmentationModel& SegmentationModel::operator=(SegmentationModel&&) noexcept = default;
SegmentationModel::~SegmentationModel() = default;

SegmentationModel SegmentationModel::load(const fs::path& path, const std::optional<fs::path>& sidecar, Device device,
                                          Precision precision) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw ModelError(path.string() + ": model file not found");
  if (needs_cuda(precision) && device != Device::Cuda)
    throw ModelError(path.string() + ": " + precision_name(precision) +
                     " inference needs --device cuda (the CPU computes fp32 and bf16)");
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->precision = precision;
  if (device == Device::Cuda) {
    if (!torch::cuda::is_available())
      throw ModelError(path.string() + ": --device cuda, but this LibTorch sees no CUDA device");
    // The GPU the kernels were bound to (bind_cuda_device), named by index: forward() may run on
    // any thread, and an unqualified kCUDA is whatever device that thread has current.
    impl->device = torch::Device(torch::kCUDA, c10::DeviceIndex(std::max(0, kernels::bound_cuda_device())));
    // Process-wide switches, like the model's precision: one model per process.
    const bool tf32 = precision == Precision::TensorFloat32;
    at::globalContext().setAllowTF32CuDNN(tf32);
    at::globalContext().setAllowTF32CuBLAS(tf32);
  }
  torch::jit::ExtraFilesMap extra{{"metadata.json", ""}};
  try {
    impl->module = torch::jit::load(path.string(), impl->device, extra);
  } catch (const c10::Error& e) {
    const std::string what = e.what();
    throw ModelError(path.string() + ": not a loadable TorchScript model (" + what.substr(0, what.find('\n')) + ")");
  }
  impl->module.eval();
  try {
    impl->module = torch::jit::freeze(impl->module);
    // optimize_for_inference swaps convolutions for prepacked float32 oneDNN operators, which
    // autocast cannot reach: a bf16 model would silently run in float32 (and slower).
    if (device == Device::Cpu && precision == Precision::Float32)
      impl->module = torch::jit::optimize_for_inference(impl->module);
  } catch (const c10::Error& e) {
    const std::string what = e.what();
    throw ModelError(path.string() + ": cannot freeze the model for inference (" + what.substr(0, what.find('\n')) + ")");
  }
  if (sidecar) {
    impl->metadata = parse_model_metadata(read_text_file(*sidecar), sidecar->string());
  } else {
    if (extra["metadata.json"].empty())
      throw ModelError(path.string() + ": the model embeds no metadata.json (export it with models/export.py, or pass "
                                       "a sidecar JSON with --model-metadata)");
    impl->metadata = parse_model_metadata(extra["metadata.json"], path.string() + " (embedded metadata.json)");
  }
  SegmentationModel model(std::move(impl));
  model.probe();
  return model;
}

void SegmentationModel::probe() const {
  const auto& p = impl_->metadata.patch_size;
  const std::int64_t voxels = p[0] * p[1] * p[2];
  std::vector<float> input(std::size_t(impl_->metadata.channels * voxels), 0.0f);
  std::vector<float> logits(std::size_t(std::int64_t(impl_->metadata.labels.size() + 1) * voxels));
  forward(input, 1, p, logits);
}

namespace {
// LibTorch's default stream is the legacy one, which waits for the work of every other stream
// on the device: a pass would wait for the kernels of all scans in flight. Each thread takes a
// stream of LibTorch's pool instead, and forward_on_device orders the pass after this thread's
// kernels and before the next ones explicitly.
c10::Stream inference_stream(const torch::Device& device) {
  thread_local std::optional<c10::Stream> stream;
  if (!stream || stream->device() != device)
    stream = c10::impl::VirtualGuardImpl(c10::DeviceType::CUDA).getStreamFromGlobalPool(device);
  return *stream;
}

// LibTorch's intra-op pool is OpenMP here, whose thread count is a per-thread setting: a count
// set on the main thread does not reach the pipeline thread that runs inference, which would
// use every core whatever --threads says. forward() applies it on the calling thread.
std::atomic<int> inference_threads{0};

void apply_inference_threads() {
  const int threads = inference_threads.load();
  if (threads > 0 && at::get_num_threads() != threads) at::set_num_threads(threads);
}
}  // namespace

bool cpu_computes_bf16() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

bool libtorch_sees_cuda() { return torch::cuda::is_available(); }

void release_unused_inference_memory() noexcept {
#ifdef NC_LIBTORCH_CUDA
  try {
    if (torch::cuda::is_available()) c10::cuda::CUDACachingAllocator::emptyCache();
  } catch (const std::exception&) {
    // Nothing to give back is no reason to stop the retry that asked.
  }
#endif
}

void set_inference_threads(int threads) {
  inference_threads = threads;
  apply_inference_threads();
}

const ModelMetadata& SegmentationModel::metadata() const { return impl_->metadata; }
const fs::path& SegmentationModel::path() const { return impl_->path; }
Precision SegmentationModel::precision() const { return impl_->precision; }

void SegmentationModel::forward(std::span<const float> input, std::int64_t batch, const std::array<std::int64_t, 3>& size,
                                std::span<float> logits) const {
  impl_->check_sizes(input.size(), logits.size(), batch, size);
  apply_inference_threads();
  torch::NoGradGuard no_grad;
  std::optional<c10::StreamGuard> on_model_device;  // the model's GPU and this thread's stream there
  if (impl_->device.is_cuda()) on_model_device.emplace(inference_stream(impl_->device));
  // from_blob does not copy; the buffer is host memory: a CUDA model gets its own device copy.
  torch::Tensor x = impl_->wrap(const_cast<float*>(input.data()), batch, impl_->metadata.channels, size, torch::kCPU);
  if (impl_->device.is_cuda()) x = x.to(impl_->device);
  const torch::Tensor y = impl_->run(x, batch, size);
  impl_->wrap(logits.data(), batch, impl_->classes(), size, torch::kCPU).copy_(y);
}

bool SegmentationModel::on_cuda() const { return impl_->device.is_cuda(); }

void SegmentationModel::forward_on_device(const kernels::DeviceArray<float>& input, std::int64_t batch,
                                          const std::array<std::int64_t, 3>& size,
                                          kernels::DeviceArray<float>& logits) const {
  if (!on_cuda()) throw ModelError(impl_->path.string() + ": device memory given to a model loaded on the CPU");
  const std::int64_t voxels = size[0] * size[1] * size[2];
  if (std::int64_t(input.size()) < batch * impl_->metadata.channels * voxels ||
      std::int64_t(logits.size()) < batch * impl_->classes() * voxels)
    throw ModelError(impl_->path.string() + ": device buffers of " + std::to_string(input.size()) + " and " +
                     std::to_string(logits.size()) + " values are smaller than batch × channels (classes) × voxels");
  torch::NoGradGuard no_grad;
  const c10::Stream stream = inference_stream(impl_->device);
  const c10::StreamGuard on_model_device(stream);
  kernels::wait_for_device_work();  // the kernels that wrote `input`, on this thread's kernel stream
  try {
    const torch::Tensor x =
        impl_->wrap(const_cast<float*>(input.data()), batch, impl_->metadata.channels, size, impl_->device);
    const torch::Tensor y = impl_->run(x, batch, size);
    impl_->wrap(logits.data(), batch, impl_->classes(), size, impl_->device).copy_(y);
  } catch (...) {
    // The caller frees `input` and `logits` on the kernel stream as it unwinds, and the pool may
    // give them to another scan at once: LibTorch's queued work must not read them after that.
    try {
      stream.synchronize();
    } catch (const std::exception&) {
      // The pass's own error is the one to report.
    }
    throw;
  }
  stream.synchronize();  // before the kernels that read `logits`, on the kernel stream
}

}  // namespace nc::pipeline
