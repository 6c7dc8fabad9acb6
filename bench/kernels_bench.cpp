// Kernels against their ITK peers, timed in the same process on the same input. Each
// benchmark's iteration time is neurocohort's; the counters give ITK's time, the ratio and the
// peak memory each side added (its outputs and scratch, bench/peak_memory.hpp). The context
// printed first gives this machine's cost of first touching fresh memory
// (bench/page_faults.hpp), which the ITK side pays on every call: compare ratios from two
// machines only together with it.
//   build/bench/kernels_bench [--benchmark_filter=Resample]
#include <benchmark/benchmark.h>
#include <itkIdentityTransform.h>
#include <itkLinearInterpolateImageFunction.h>
#include <itkMultiThreaderBase.h>
#include <itkAdaptiveHistogramEqualizationImageFilter.h>
#include <itkAndImageFilter.h>
#include <itkBinaryDilateImageFilter.h>
#include <itkBinaryErodeImageFilter.h>
#include <itkBinaryFillholeImageFilter.h>
#include <itkBinaryThresholdImageFilter.h>
#include <itkConnectedComponentImageFilter.h>
#include <itkFlatStructuringElement.h>
#include <itkMaskImageFilter.h>
#include <itkRelabelComponentImageFilter.h>
#include <itkResampleImageFilter.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <limits>
#include <string>
#include <thread>
#include <utility>

#include "bench/page_faults.hpp"
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

// Our CT skull strip with its defaults, timed, with the peak memory it added.
std::pair<kernels::SkullStripResult, Side> strip_ct_ours(const ImageVolume& ct) {
  const bench::PeakMemory memory;
  const auto start = Clock::now();
  auto result = kernels::skull_strip(ct, kernels::StripMethod::CtWindow, {}, kernels::Backend::Cpu);
  const double seconds = seconds_since(start);
  return {std::move(result), Side{seconds, memory.peak_bytes()}};
}

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
    const auto [ours, ours_side] = strip_ct_ours(ct);
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
    const auto start = Clock::now();
    relabel->Update();
    const double itk_s = seconds_since(start);
    state.SetIterationTime(ours_side.seconds);
    // Bytes: the image read once, the mask written once (the morphology passes come on top).
    report(state, ours_side, {itk_s, itk_memory.peak_bytes()}, ct.geometry.voxel_count(),
           5.0 * double(ct.geometry.voxel_count()));
  }
}
BENCHMARK(BM_SkullStripCt)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

// The same CT chain as BM_SkullStripCt against ITK's full equivalent, the same work filter by
// filter: threshold, erosion by the 5 mm ball, largest 6-connected component, dilation by the
// ball, the outline restored by five one-voxel dilations each kept inside the window, hole
// filling, the 3 mm closing as a dilation then an erosion, and the masked image. The balls are
// ours, offset by offset. `mask_agreement` is the share of voxels where the two masks agree.
using ItkMask = itk::Image<unsigned char, 3>;

itk::FlatStructuringElement<3> ball(int radius_voxels) {
  itk::FlatStructuringElement<3>::RadiusType radius;
  radius.Fill(unsigned(radius_voxels));
  itk::FlatStructuringElement<3> element;
  element.SetRadius(radius);
  for (unsigned n = 0; n < element.Size(); ++n) {
    const auto offset = element.GetOffset(n);
    element[n] = offset[0] * offset[0] + offset[1] * offset[1] + offset[2] * offset[2] <= radius_voxels * radius_voxels;
  }
  return element;
}

ItkMask::Pointer morphology(ItkMask::Pointer input, int radius_voxels, bool dilate) {
  itk::ImageToImageFilter<ItkMask, ItkMask>::Pointer filter;
  if (dilate) {
    auto d = itk::BinaryDilateImageFilter<ItkMask, ItkMask, itk::FlatStructuringElement<3>>::New();
    d->SetKernel(ball(radius_voxels));
    d->SetForegroundValue(1);
    filter = d;
  } else {
    auto e = itk::BinaryErodeImageFilter<ItkMask, ItkMask, itk::FlatStructuringElement<3>>::New();
    e->SetKernel(ball(radius_voxels));
    e->SetForegroundValue(1);
    e->SetBackgroundValue(0);
    filter = e;
  }
  filter->SetInput(input);
  filter->Update();
  return filter->GetOutput();
}

// ITK's chain on a 1 mm grid; returns the mask, with the masked image computed as well.
ItkMask::Pointer itk_full_chain(itk::Image<float, 3>::Pointer ct) {
  using Image = itk::Image<float, 3>;
  auto window = itk::BinaryThresholdImageFilter<Image, ItkMask>::New();
  window->SetInput(ct);
  window->SetLowerThreshold(-10.0f);
  window->SetUpperThreshold(100.0f);
  window->SetInsideValue(1);
  window->SetOutsideValue(0);
  window->Update();
  ItkMask::Pointer mask = morphology(window->GetOutput(), 5, false);
  using Labels = itk::Image<unsigned int, 3>;
  auto components = itk::ConnectedComponentImageFilter<ItkMask, Labels>::New();
  components->SetInput(mask);
  auto relabel = itk::RelabelComponentImageFilter<Labels, Labels>::New();
  relabel->SetInput(components->GetOutput());
  auto largest = itk::BinaryThresholdImageFilter<Labels, ItkMask>::New();
  largest->SetInput(relabel->GetOutput());
  largest->SetLowerThreshold(1);
  largest->SetUpperThreshold(1);
  largest->SetInsideValue(1);
  largest->SetOutsideValue(0);
  largest->Update();
  mask = morphology(largest->GetOutput(), 5, true);
  for (int step = 0; step < 5; ++step) {
    auto inside = itk::AndImageFilter<ItkMask, ItkMask, ItkMask>::New();
    inside->SetInput1(morphology(mask, 1, true));
    inside->SetInput2(window->GetOutput());
    inside->Update();
    mask = inside->GetOutput();
  }
  auto fill = itk::BinaryFillholeImageFilter<ItkMask>::New();
  fill->SetInput(mask);
  fill->SetForegroundValue(1);
  fill->Update();
  mask = morphology(morphology(fill->GetOutput(), 3, true), 3, false);
  auto masked = itk::MaskImageFilter<Image, ItkMask, Image>::New();
  masked->SetInput(ct);
  masked->SetMaskImage(mask);
  masked->Update();
  return mask;
}

void BM_SkullStripCtAgainstItkFullChain(benchmark::State& state) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, std::size_t(threads()));
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(threads());
  const ImageVolume ct = test::head_phantom(256, 75, 82, 90);
  const auto itk_input = test::to_itk(ct);
  for (auto _ : state) {
    const auto [ours, ours_side] = strip_ct_ours(ct);
    const bench::PeakMemory itk_memory;
    const auto start = Clock::now();
    const ItkMask::Pointer theirs = itk_full_chain(itk_input);
    const double itk_s = seconds_since(start);
    state.SetIterationTime(ours_side.seconds);
    report(state, ours_side, {itk_s, itk_memory.peak_bytes()}, ct.geometry.voxel_count(),
           5.0 * double(ct.geometry.voxel_count()));
    const unsigned char* their_mask = theirs->GetBufferPointer();
    std::int64_t agree = 0;
    for (std::size_t v = 0; v < ours.mask.voxels.size(); ++v) agree += ours.mask.voxels[v] == their_mask[v];
    state.counters["mask_agreement"] = double(agree) / double(ours.mask.voxels.size());
  }
}
BENCHMARK(BM_SkullStripCtAgainstItkFullChain)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

// Adaptive histogram equalization, radius 5 (11³ windows), on Colin27's T1 (181 × 217 × 181,
// Debian's mricron-data), against ITK's AdaptiveHistogramEqualizationImageFilter with the same
// alpha, beta and radius. ITK takes seconds here, so one iteration.
void BM_AdaptiveEqualizeRadius5(benchmark::State& state) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, std::size_t(threads()));
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(threads());
  const ImageVolume mr = io::read_image(NC_TEMPLATE_DIR "/ch2.nii.gz");
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

// The machine's first-touch costs, into the benchmark context (printed and in the JSON output).
void add_first_touch_context() {
  constexpr std::size_t kBytes = std::size_t{256} << 20;
  // The median of three: the first huge-page round may also pay for compacting memory.
  const auto median = [](bool huge_pages) {
    std::array<bench::FirstTouchCost, 3> rounds;
    for (auto& r : rounds) r = bench::first_touch_cost(kBytes, huge_pages);
    std::sort(rounds.begin(), rounds.end(), [](auto a, auto b) { return a.seconds_per_fault < b.seconds_per_fault; });
    return rounds[1];
  };
  const auto small = median(false), huge = median(true);
  const auto text = [](double v) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.3g", v);
    return std::string(buffer);
  };
  benchmark::AddCustomContext("page_fault_4KiB_us", text(small.seconds_per_fault * 1e6));
  benchmark::AddCustomContext("first_touch_4KiB_GB_per_s", text(small.bytes_per_second / 1e9));
  benchmark::AddCustomContext("page_fault_2MiB_us", text(huge.seconds_per_fault * 1e6));
  benchmark::AddCustomContext("first_touch_2MiB_GB_per_s", text(huge.bytes_per_second / 1e9));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  add_first_touch_context();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
