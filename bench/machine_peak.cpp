// This machine's multiply-add peak, for stating how close the network's inference comes to it
// (bench/achieved_rate.py): fp32 FMA with AVX-512 (or AVX2 where the CPU lacks it) and bf16 dot
// products with AVX512-BF16, on every core at once. Each thread keeps twelve independent
// accumulators in registers, enough to cover the FMA latency on current x86 cores, so the
// loop is bound by the FMA ports alone. A multiply-add counts as two FLOPs.
//   build/bench/machine_peak [--benchmark_filter=Fp32]
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <chrono>
#include <thread>
#include <vector>

namespace {

constexpr int kAccumulators = 12;
constexpr std::int64_t kIterations = 40'000'000;

// The accumulators summed into one value the compiler cannot drop. (GCC 12's
// _mm512_reduce_add_ps trips its own -Wuninitialized, hence the store.)
__attribute__((target("avx512f"))) float keep(const __m512* acc) {
  __m512 sum = acc[0];
  for (int k = 1; k < kAccumulators; ++k) sum = _mm512_add_ps(sum, acc[k]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, sum);
  return lanes[0] + lanes[15];
}

__attribute__((target("avx512f"))) float fp32_avx512(std::int64_t iterations) {
  __m512 acc[kAccumulators];
  for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm512_set1_ps(float(k));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (std::int64_t i = 0; i < iterations; ++i)
    for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
  return keep(acc);
}

__attribute__((target("avx2,fma"))) float fp32_avx2(std::int64_t iterations) {
  __m256 acc[kAccumulators];
  for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm256_set1_ps(float(k));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (std::int64_t i = 0; i < iterations; ++i)
    for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm256_fmadd_ps(acc[k], a, b);
  alignas(32) float lanes[8];
  __m256 sum = acc[0];
  for (int k = 1; k < kAccumulators; ++k) sum = _mm256_add_ps(sum, acc[k]);
  _mm256_store_ps(lanes, sum);
  return lanes[0] + lanes[7];
}

// VDPBF16PS: 16 fp32 lanes, each adding two bf16 products: 64 FLOPs per instruction.
__attribute__((target("avx512f,avx512bf16"))) float bf16_avx512(std::int64_t iterations) {
  __m512 acc[kAccumulators];
  for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm512_set1_ps(float(k));
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(2e-3f));
  for (std::int64_t i = 0; i < iterations; ++i)
    for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm512_dpbf16_ps(acc[k], a, b);
  return keep(acc);
}

// Runs `kernel` on every core at once; returns the wall time of the slowest thread.
double on_all_cores(float (*kernel)(std::int64_t), std::int64_t iterations, unsigned threads) {
  std::vector<std::thread> pool;
  std::vector<float> sink(threads);
  const auto start = std::chrono::steady_clock::now();
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back([&, t] { sink[t] = kernel(iterations); });
  for (auto& thread : pool) thread.join();
  benchmark::DoNotOptimize(sink.data());
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void run_peak(benchmark::State& state, float (*kernel)(std::int64_t), double flops_per_iteration) {
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  double seconds = 0;
  for (auto _ : state) {
    seconds = on_all_cores(kernel, kIterations, threads);
    state.SetIterationTime(seconds);
  }
  state.counters["threads"] = threads;
  state.counters["gflops"] = flops_per_iteration * double(kIterations) * threads / seconds / 1e9;
}

void BM_PeakFp32(benchmark::State& state) {
  if (__builtin_cpu_supports("avx512f")) return run_peak(state, fp32_avx512, kAccumulators * 16 * 2);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return run_peak(state, fp32_avx2, kAccumulators * 8 * 2);
  state.SkipWithError("this CPU has neither AVX-512 nor AVX2 with FMA");
}
BENCHMARK(BM_PeakFp32)->UseManualTime()->Iterations(1)->Repetitions(3)->Unit(benchmark::kMillisecond);

void BM_PeakBf16(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512bf16")) {
    state.SkipWithError("this CPU computes bf16 only by emulation (no AVX512-BF16)");
    return;
  }
  run_peak(state, bf16_avx512, kAccumulators * 64);
}
BENCHMARK(BM_PeakBf16)->UseManualTime()->Iterations(1)->Repetitions(3)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
