// `neurocohort index` throughput: header reading, grouping and selection over a PACS-like tree
// of small CT series (one folder per series, 100 slices of 64 × 64), written once into
// NC_DICOM_BENCH_DIR (default /tmp/nc_dicom_bench) with NC_DICOM_BENCH_FILES files (default
// 20,000). Reports files/s and the peak memory the index added. Results: docs/BENCHMARKS.md.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "bench/peak_memory.hpp"
#include "dicom/dicom_index.hpp"
#include "dicom/series_writer.hpp"

namespace {

namespace fs = std::filesystem;
constexpr int kSlicesPerSeries = 100;

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

// Writes the tree unless a complete one (its marker file beside it) is already there.
fs::path bench_tree(int files) {
  const fs::path root = fs::path(env_or("NC_DICOM_BENCH_DIR", "/tmp/nc_dicom_bench")) / std::to_string(files);
  const fs::path marker = fs::path(root).concat(".complete");
  if (fs::exists(marker)) return root;
  fs::remove_all(root);
  nc::Geometry g;
  g.size = {64, 64, kSlicesPerSeries};
  g.spacing_mm = {3.5, 3.5, 1.25};
  nc::Volume<std::int16_t> stack(g, 40);
  for (int series = 0; series * kSlicesPerSeries < files; ++series) {
    nc::dicom::SeriesTags tags;
    tags.patient_name = "BENCH^" + std::to_string(series);
    tags.patient_id = "B" + std::to_string(series);
    tags.patient_sex = series % 2 ? "M" : "F";
    tags.patient_age = "006Y";
    tags.study_date = "20240601";
    tags.institution = "Bench Hospital";
    tags.study_uid = nc::dicom::uid_from(7000000 + std::uint64_t(series));
    tags.series_uid = nc::dicom::uid_from(9000000 + std::uint64_t(series));
    tags.modality = "CT";
    tags.image_type = "ORIGINAL\\PRIMARY\\AXIAL";
    tags.description = "Head 1.25 H31s";
    tags.kernel = "H31s";
    nc::dicom::SlicePlacement p;
    p.row_spacing_mm = p.column_spacing_mm = 3.5;
    p.advance_mm = {0, 0, 1.25};
    p.slice_thickness_mm = 1.25;
    nc::dicom::write_series(stack, p, tags, root / std::to_string(series / 50) / std::to_string(series),
                            std::uint64_t(series) + 1);
  }
  std::ofstream(marker) << "ok\n";
  return root;
}

void BM_IndexTree(benchmark::State& state) {
  const int files = std::stoi(env_or("NC_DICOM_BENCH_FILES", "20000"));
  const fs::path root = bench_tree(files);
  const nc::dicom::Pseudonymizer names("benchmark-key");
  nc::dicom::IndexOptions options;
  options.roots = {root};
  std::size_t indexed = 0, scans = 0;
  double peak = 0;
  for (auto _ : state) {
    const nc::bench::PeakMemory memory;
    const auto result = nc::dicom::index_dicom(options, names);
    peak = memory.peak_bytes();
    indexed = result.files;
    scans = result.scans.size();
    benchmark::DoNotOptimize(result.report.data());
  }
  state.counters["files"] = double(indexed);
  state.counters["scans"] = double(scans);
  state.counters["files_per_s"] = benchmark::Counter(double(indexed), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_mb"] = peak / 1e6;
}
BENCHMARK(BM_IndexTree)->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(3)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
