// Normative statistics at scale: 100,000 scans × 200 regions (target: `norms build` under
// 60 s on the 2-core development machine), reading the volumes table and computing every
// table and the normative model, on a planted log-normal cohort.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "norms/build.hpp"

namespace {

namespace fs = std::filesystem;

// Writes a volumes table with `scans` rows and `regions` region columns (left/right pairs):
// volumes grow with ln(age), males 7.5 % larger, patients 8 % smaller, lobes asymmetric.
fs::path write_volumes_table(const fs::path& dir, long scans, long regions) {
  const fs::path path = dir / "volumes.tsv";
  std::ofstream out(path);
  out << "scan_id\tage\tsex\tgroup\tsite\ticv_ml";
  for (long r = 0; r < regions; ++r) out << "\tregion" << r / 2 << (r % 2 ? "_R" : "_L");
  out << '\n';
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> age(0.5, 11), unit(0, 1);
  std::normal_distribution<double> noise(0, 1);
  for (long i = 0; i < scans; ++i) {
    const double a = age(rng);
    const bool male = unit(rng) < 0.55, patient = unit(rng) < 1.0 / 3;
    const double global = 0.17 * std::log(a) + (male ? 0.0723 : 0) + (patient ? -0.0834 : 0) + 0.05 * noise(rng);
    out << "sub-" << i << '\t' << a << '\t' << (male ? 'M' : 'F') << '\t' << (patient ? "patient" : "control") << '\t'
        << "ABC"[i % 3] << '\t' << 1200 * std::exp(global);
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

BENCHMARK_DEFINE_F(NormsFixture, BuildTablesAndModel)(benchmark::State& state) {
  const nc::norms::Cohort cohort = nc::norms::load_cohort(path_);
  for (auto _ : state) benchmark::DoNotOptimize(nc::norms::build_norms(cohort, nullptr, {}, 4));
  state.counters["scans"] = double(cohort.size());
  state.counters["regions"] = double(cohort.regions.size());
}
BENCHMARK_REGISTER_F(NormsFixture, BuildTablesAndModel)
    ->Args({100000, 200})
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
