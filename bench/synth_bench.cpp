// Synthetic cohort speed: 20 subjects, CT and MR alternating, written as .nii.gz (target:
// under 60 s on the 2-core development machine), and volumes-only subjects per second.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>

#include "synth/cohort_generator.hpp"

namespace {

namespace fs = std::filesystem;

fs::path scratch_dir() {
  std::string pattern = (fs::temp_directory_path() / "nc-bench-XXXXXX").string();
  return mkdtemp(pattern.data());
}

// Generates state.range(0) subjects per iteration into a scratch folder.
void run_synth(benchmark::State& state, bool volumes_only) {
  const fs::path dir = scratch_dir();
  nc::synth::SynthOptions options;
  options.subjects = int(state.range(0));
  options.volumes_only = volumes_only;
  for (auto _ : state) {
    options.out_dir = dir / std::to_string(state.iterations());
    nc::synth::generate_cohort(options);
  }
  state.counters["subjects_per_s"] = benchmark::Counter(double(options.subjects), benchmark::Counter::kIsRate);
  fs::remove_all(dir);
}

void BM_SynthCohortCtAndMr(benchmark::State& state) { run_synth(state, false); }
BENCHMARK(BM_SynthCohortCtAndMr)->Arg(20)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

void BM_SynthVolumesOnly(benchmark::State& state) { run_synth(state, true); }
BENCHMARK(BM_SynthVolumesOnly)->Arg(200)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
