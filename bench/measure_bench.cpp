// The measure stage of `run` on one CT scan's native grid, by part: the fused counts and
// bounding boxes, HD95 of every region, the whole of measure_against_truth, and the stored
// form of the label map. Input: a predicted label map and its expert labels on the same grid,
// by default the first demo scan (`make demo` writes both).
//   build/bench/measure_bench [--benchmark_filter=Hd95]
//   NC_MEASURE_PREDICTED=p.nii.gz NC_MEASURE_TRUTH=t.nii.gz build/bench/measure_bench
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <optional>

#include "io/image_io.hpp"
#include "io/label_chunks.hpp"
#include "kernels/label_stats/label_stats.hpp"
#include "pipeline/measure.hpp"

namespace {

using namespace nc;

std::string input(const char* variable, const char* demo_file) {
  const char* set = std::getenv(variable);
  return set ? set : std::string(NC_SOURCE_DIR) + "/demo/" + demo_file;
}

struct Pair {
  LabelVolume predicted, truth;
  std::vector<int> regions;
};

// Loaded once; nullopt (and each benchmark skips, saying why) when the files are missing.
const std::optional<Pair>& pair() {
  static const std::optional<Pair> loaded = []() -> std::optional<Pair> {
    const std::string p = input("NC_MEASURE_PREDICTED", "labels/sub-0001_labels.nii.gz");
    const std::string t = input("NC_MEASURE_TRUTH", "cohort/labels/sub-0001.nii.gz");
    if (!std::filesystem::exists(p) || !std::filesystem::exists(t)) return std::nullopt;
    Pair pr{io::read_label_image(p), io::read_label_image(t), {}};
    pr.regions.resize(10);
    std::iota(pr.regions.begin(), pr.regions.end(), 1);
    return pr;
  }();
  return loaded;
}

bool have_input(benchmark::State& state) {
  if (pair()) return true;
  state.SkipWithError("no input: run `make demo` first, or set NC_MEASURE_PREDICTED and NC_MEASURE_TRUTH");
  return false;
}

void count_voxels(benchmark::State& state) {
  state.counters["voxels"] = double(pair()->predicted.voxels.size());
}

void BM_CountsAndBoxes(benchmark::State& state) {
  if (!have_input(state)) return;
  const Pair& p = *pair();
  for (auto _ : state)
    benchmark::DoNotOptimize(kernels::count_label_overlap(p.predicted.voxels, p.truth.voxels,
                                                          p.predicted.geometry.size, 11, kernels::Backend::Cpu));
  count_voxels(state);
}
BENCHMARK(BM_CountsAndBoxes)->Unit(benchmark::kMillisecond)->MinTime(2);

void BM_Hd95AllRegions(benchmark::State& state, pipeline::DistancePrecision precision) {
  if (!have_input(state)) return;
  const Pair& p = *pair();
  for (auto _ : state)
    for (int r : p.regions) benchmark::DoNotOptimize(pipeline::hd95_mm(p.predicted, p.truth, std::uint16_t(r), precision));
  count_voxels(state);
}
BENCHMARK_CAPTURE(BM_Hd95AllRegions, float, pipeline::DistancePrecision::Float)->Unit(benchmark::kMillisecond)->MinTime(2);
BENCHMARK_CAPTURE(BM_Hd95AllRegions, double, pipeline::DistancePrecision::Double)->Unit(benchmark::kMillisecond)->MinTime(2);

void BM_MeasureAgainstTruth(benchmark::State& state) {
  if (!have_input(state)) return;
  const Pair& p = *pair();
  for (auto _ : state)
    benchmark::DoNotOptimize(pipeline::measure_against_truth(p.predicted, p.truth, p.regions, kernels::Backend::Cpu));
  count_voxels(state);
}
BENCHMARK(BM_MeasureAgainstTruth)->Unit(benchmark::kMillisecond)->MinTime(2);

void BM_StoredForm(benchmark::State& state) {
  if (!have_input(state)) return;
  const Pair& p = *pair();
  for (auto _ : state) benchmark::DoNotOptimize(io::to_stored_form(p.predicted));
  count_voxels(state);
}
BENCHMARK(BM_StoredForm)->Unit(benchmark::kMillisecond)->MinTime(2);

}  // namespace

BENCHMARK_MAIN();
