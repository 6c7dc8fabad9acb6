// CPU/CUDA parity for skull stripping. Both threshold the same floats, and the morphology and
// the components are integer work on bit masks (the ball's rows made once on the host), so the
// masks must be identical; also from several threads at once, each on its own stream, on the
// device the process was bound to. The CUDA chain keeps the mask on the device between its
// steps: its copies back to the host are counted exactly.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "kernels/skull_strip/skull_strip.hpp"
#include "tests/support/volumes.hpp"

namespace nc::kernels {
namespace {

ImageVolume noisy_ct() {
  ImageVolume ct = test::head_phantom(160, 60, 66, 72);
  std::mt19937 rng(9);
  std::normal_distribution<float> noise(0.0f, 5.0f);
  for (float& v : ct.voxels) v += noise(rng);
  return ct;
}

TEST(SkullStripGpu, CudaMaskEqualsCpuMask) {
  if (!cuda_device_available()) GTEST_SKIP() << cuda_unavailable_reason();
  const ImageVolume ct = noisy_ct();
  for (const auto method : {StripMethod::CtWindow, StripMethod::MrOtsu}) {
    const auto params = SkullStripParams::defaults_for(method);
    const auto cpu = skull_strip(ct, method, params, Backend::Cpu);
    const auto gpu = skull_strip(ct, method, params, Backend::Cuda);
    EXPECT_EQ(gpu.mask.voxels, cpu.mask.voxels);
    EXPECT_EQ(gpu.icv_ml, cpu.icv_ml);
  }
}

TEST(SkullStripGpu, TheMaskCrossesToTheHostThreeTimesAndTheImageOnce) {
  if (!cuda_device_available()) GTEST_SKIP() << cuda_unavailable_reason();
  const ImageVolume ct = noisy_ct();
  const std::uint64_t mask_bytes = std::uint64_t(detail::BitMask(ct.geometry).bits.size()) * 8;
  const std::uint64_t image_bytes = ct.voxels.size() * sizeof(float);
  TransferBytes copied;
  {
    const CountTransfersInto count(copied);
    skull_strip(ct, StripMethod::CtWindow, SkullStripParams::defaults_for(StripMethod::CtWindow), Backend::Cuda);
  }
  // Down: for the components, for the hole filling, and the result. Up: the image, the mask
  // after each of the two host steps, and the ball's rows of each morphology call (bytes).
  EXPECT_EQ(copied.device_to_host, 3 * mask_bytes);
  EXPECT_GE(copied.host_to_device, image_bytes + 2 * mask_bytes);
  EXPECT_LT(copied.host_to_device, image_bytes + 2 * mask_bytes + 65536);
}

TEST(SkullStripGpu, ThreadsStripOnTheBoundDeviceAtOnce) {
  if (!cuda_device_available()) GTEST_SKIP() << cuda_unavailable_reason();
  const int device = bind_cuda_device(cuda_device_count() - 1);  // not device 0 on a node of several
  ASSERT_GE(device, 0);
  const ImageVolume ct = noisy_ct();
  const auto params = SkullStripParams::defaults_for(StripMethod::CtWindow);
  const auto cpu = skull_strip(ct, StripMethod::CtWindow, params, Backend::Cpu);
  constexpr std::size_t kThreads = 4;
  std::vector<std::thread> threads;
  std::vector<int> used(kThreads, -2);
  std::vector<std::vector<std::uint8_t>> masks(kThreads);
  for (std::size_t t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      masks[t] = skull_strip(ct, StripMethod::CtWindow, params, Backend::Cuda).mask.voxels;
      used[t] = current_cuda_device();
    });
  for (auto& thread : threads) thread.join();
  for (std::size_t t = 0; t < masks.size(); ++t) {
    EXPECT_EQ(used[t], device) << "thread " << t;
    EXPECT_EQ(masks[t], cpu.mask.voxels) << "thread " << t;
  }
}

}  // namespace
}  // namespace nc::kernels
