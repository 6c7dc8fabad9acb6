// Normative statistics at scale: 100,000 scans × 200 regions from 10 sites (target: `norms
// build` under 60 s on the 2-core development machine), reading the volumes table and
// computing every table, the normative model of each family and, for shash, the calibration
// table, on a planted cohort with site offsets, an age-varying spread and skewed noise.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "norms/build.hpp"

namespace {

namespace fs = std::filesystem;

// Writes a volumes table with `scans` rows and `regions` region columns (left/right pairs):
// volumes grow with ln(age), males 7.5 % larger, patients 8 % smaller, lobes asymmetric;
// each of 10 sites offset, the spread halving from the youngest to the oldest, the noise
// right-skewed (a sinh-arcsinh transform of a normal draw).
fs::path write_volumes_table(const fs::path& dir, long scans, long regions) {
  const fs::path path = dir / "volumes.tsv";
  std::ofstream out(path);
  out << "scan_id\tage\tsex\tgroup\tsite\ticv_ml";
  for (long r = 0; r < regions; ++r) out << "\tregion" << r / 2 << (r % 2 ? "_R" : "_L");
  out << '\n';
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> age(0.5, 11), unit(0, 1);
  std::normal_distribution<double> noise(0, 1);
  constexpr int kSites = 10;
  double site_offset[kSites];
  for (double& o : site_offset) o = 0.04 * noise(rng);
  for (long i = 0; i < scans; ++i) {
    const double a = age(rng);
    const bool male = unit(rng) < 0.55, patient = unit(rng) < 1.0 / 3;
    const int site = int(i % kSites);
    const double spread = 0.05 * std::pow(2.0, (5.75 - a) / 10.5);
    const double global = 0.17 * std::log(a) + (male ? 0.0723 : 0) + (patient ? -0.0834 : 0) + site_offset[site] +
                          spread * std::sinh(std::asinh(noise(rng)) + 0.5);
    out << "sub-" << i << '\t' << a << '\t' << (male ? 'M' : 'F') << '\t' << (patient ? "patient" : "control") << '\t'
        << char('A' + site) << '\t' << 1200 * std::exp(global);
    for (long r = 0; r < regions; ++r)
      out << '\t' << (20 + r % 17) * std::exp(global + (r % 2 ? -0.02 : 0.02) + 0.02 * noise(rng));
    out << '\n';
  }
  return path;
}

class NormsFixture : public benchmark::Fixture {
 public:
  void SetUp(const benchmark::State& state) override {
    if (!path_.empty()) return;  // written once for every benchmark of the run
    std::string pattern = (fs::temp_directory_path() / "nc-norms-bench-XXXXXX").string();
    dir_ = mkdtemp(pattern.data());
    path_ = write_volumes_table(dir_, state.range(0), state.range(1));
  }
  static void remove() { fs::remove_all(dir_); }

 protected:
  static inline fs::path dir_, path_;
};

BENCHMARK_DEFINE_F(NormsFixture, ReadVolumesTable)(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(nc::norms::load_cohort(path_));
  state.counters["scans"] = double(state.range(0));
  state.counters["MB"] = double(fs::file_size(path_)) / 1e6;
}
BENCHMARK_REGISTER_F(NormsFixture, ReadVolumesTable)
    ->Args({100000, 200})
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

// Peak resident memory of the process so far, in MB (Linux: VmHWM).
double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmHWM:") {
      double kb = 0;
      status >> kb;
      return kb / 1024;
    }
    status.ignore(1 << 20, '\n');
  }
  return 0;
}

// range(2): the model family (0 gaussian, 1 mixed, 2 shash); range(3): calibration folds.
BENCHMARK_DEFINE_F(NormsFixture, BuildTablesAndModel)(benchmark::State& state) {
  const nc::norms::Cohort cohort = nc::norms::load_cohort(path_);
  nc::norms::ModelOptions model;
  model.family = nc::norms::kModelFamilies[state.range(2)];
  model.calibration.folds = int(state.range(3));
  for (auto _ : state) benchmark::DoNotOptimize(nc::norms::build_norms(cohort, nullptr, {}, model));
  state.counters["scans"] = double(cohort.size());
  state.counters["regions"] = double(cohort.regions.size());
  state.counters["peak_rss_MB"] = peak_rss_mb();
  state.SetLabel(nc::norms::family_name(model.family) + (model.calibration.folds ? ", calibration" : ""));
}
BENCHMARK_REGISTER_F(NormsFixture, BuildTablesAndModel)
    ->Args({100000, 200, 0, 0})
    ->Args({100000, 200, 1, 0})
    ->Args({100000, 200, 2, 0})
    ->Args({100000, 200, 2, 5})
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  NormsFixture::remove();
  return 0;
}
