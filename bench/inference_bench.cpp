// Inference per scan for each shipped architecture, and the cost of the sliding window over
// one forward pass of the same voxel count. Input: Colin27's T1 head (mricron-data)
// preprocessed as an MR scan, the size of a large pediatric brain.
//   build/bench/inference_bench [--benchmark_filter=Segment|Overhead|ForwardWindow]
#include <benchmark/benchmark.h>

#include <chrono>
#include <thread>

#include "io/image_io.hpp"
#include "kernels/resample/resample.hpp"
#include "pipeline/inference.hpp"
#include "pipeline/preprocess.hpp"

namespace {

using namespace nc;
using Clock = std::chrono::steady_clock;

const pipeline::PreprocessedScan& colin27() {
  static const pipeline::PreprocessedScan scan = pipeline::preprocess(
      io::read_image(NC_TEMPLATE_DIR "/ch2.nii.gz"), jobs::Modality::MR, {}, kernels::Backend::Cpu);
  return scan;
}

std::string model_path(const std::string& architecture) {
  const std::string folder = architecture == "resunet333" ? "default" : "comparison";
  return std::string(NC_SOURCE_DIR) + "/models/" + folder + "/" + architecture + ".pt";
}

// The whole segmentation stage of `run` on one scan: normalise, resample, windows, back to 1 mm.
void BM_Segment(benchmark::State& state, const std::string& architecture, pipeline::Precision precision) {
  pipeline::set_inference_threads(int(std::thread::hardware_concurrency()));
  const auto model =
      pipeline::SegmentationModel::load(model_path(architecture), std::nullopt, pipeline::Device::Cpu, precision);
  const auto& scan = colin27();
  for (auto _ : state) {
    const LabelVolume labels = pipeline::segment(model, scan, {}, kernels::Backend::Cpu).labels;
    benchmark::DoNotOptimize(labels.voxels.data());
  }
  state.counters["voxels_1mm"] = double(scan.image.geometry.voxel_count());
}
BENCHMARK_CAPTURE(BM_Segment, resunet333, std::string("resunet333"), pipeline::Precision::Float32)
    ->Unit(benchmark::kSecond)
    ->MinTime(5);
BENCHMARK_CAPTURE(BM_Segment, resunet133, std::string("resunet133"), pipeline::Precision::Float32)
    ->Unit(benchmark::kSecond)
    ->MinTime(5);
BENCHMARK_CAPTURE(BM_Segment, unet3d, std::string("unet3d"), pipeline::Precision::Float32)
    ->Unit(benchmark::kSecond)
    ->MinTime(5);
// bf16 by autocast: fast only on CPUs with native bf16 (AVX512-BF16, AMX); emulated elsewhere.
BENCHMARK_CAPTURE(BM_Segment, resunet333_bf16, std::string("resunet333"), pipeline::Precision::BFloat16)
    ->Unit(benchmark::kSecond)
    ->MinTime(5);

// Sliding windows (64³, half overlap, Gaussian blending, softmax) over the 2 mm input, against
// one forward pass over a single tensor of the input's size rounded up to a multiple of 8.
void BM_SlidingWindowOverhead(benchmark::State& state) {
  pipeline::set_inference_threads(int(std::thread::hardware_concurrency()));
  const auto model = pipeline::SegmentationModel::load(model_path("resunet333"));
  const auto& meta = model.metadata();
  const Geometry grid = kernels::resampled_grid(colin27().image.geometry, meta.input_spacing_mm);
  ImageVolume input(grid, 0.5f);
  std::array<std::int64_t, 3> whole{};
  for (int a = 0; a < 3; ++a) whole[std::size_t(a)] = (grid.size[std::size_t(a)] + 7) / 8 * 8;
  const std::int64_t voxels = whole[0] * whole[1] * whole[2];
  std::vector<float> one(std::size_t(voxels), 0.5f), logits(std::size_t(voxels) * (meta.labels.size() + 1));
  double window_s = 0, single_s = 0;
  for (auto _ : state) {
    auto start = Clock::now();
    benchmark::DoNotOptimize(pipeline::sliding_window_probabilities(model, input, {}).data());
    window_s += std::chrono::duration<double>(Clock::now() - start).count();
    start = Clock::now();
    model.forward(one, 1, whole, logits);
    single_s += std::chrono::duration<double>(Clock::now() - start).count();
  }
  state.counters["window_s"] = window_s / double(state.iterations());
  state.counters["single_forward_s"] = single_s / double(state.iterations());
  state.counters["overhead"] = window_s / single_s;
  state.counters["windows_voxels_over_volume"] = [&] {
    double covered = 1;
    for (int a = 0; a < 3; ++a)
      covered *=
          double(pipeline::window_starts(grid.size[std::size_t(a)], meta.patch_size[std::size_t(a)], 0.5).size() *
                 std::size_t(meta.patch_size[std::size_t(a)]));
    return covered / double(voxels);
  }();
}
BENCHMARK(BM_SlidingWindowOverhead)->Unit(benchmark::kSecond)->MinTime(5);

// One forward pass over a batch of windows of the model's patch size (64³ for the default):
// seconds per window, from which bench/achieved_rate.py states the network's GFLOP/s against
// this machine's multiply-add peak (bench/machine_peak.cpp).
void BM_ForwardWindow(benchmark::State& state, pipeline::Precision precision) {
  pipeline::set_inference_threads(int(std::thread::hardware_concurrency()));
  const auto model =
      pipeline::SegmentationModel::load(model_path("resunet333"), std::nullopt, pipeline::Device::Cpu, precision);
  const auto& meta = model.metadata();
  const std::int64_t batch = pipeline::SlidingWindowOptions{}.batch;
  const std::int64_t voxels = meta.patch_size[0] * meta.patch_size[1] * meta.patch_size[2];
  std::vector<float> input(std::size_t(batch * voxels), 0.5f);
  std::vector<float> logits(std::size_t(batch * voxels) * (meta.labels.size() + 1));
  model.forward(input, batch, meta.patch_size, logits);  // the first pass at a shape includes the JIT's work
  for (auto _ : state) {
    model.forward(input, batch, meta.patch_size, logits);
    benchmark::DoNotOptimize(logits.data());
  }
  state.counters["batch"] = double(batch);
  state.counters["window_s"] =
      benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK_CAPTURE(BM_ForwardWindow, fp32, pipeline::Precision::Float32)->Unit(benchmark::kMillisecond)->MinTime(5);
BENCHMARK_CAPTURE(BM_ForwardWindow, bf16, pipeline::Precision::BFloat16)->Unit(benchmark::kMillisecond)->MinTime(5);

}  // namespace

BENCHMARK_MAIN();
