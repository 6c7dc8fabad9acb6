// The scan's upload (upload.hpp): an image of int16-exact values goes up in 2 bytes a voxel and
// any other in 4, from pinned blocks the pool hands out again; what arrives equals the image.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "kernels/common/upload.hpp"
#include "tests/support/volumes.hpp"

namespace nc::kernels {
namespace {

ImageVolume downloaded(const DeviceVolume<float>& on_device) {
  ImageVolume out(on_device.geometry);
  on_device.voxels.download(std::span<float>(out.voxels));
  return out;
}

TEST(UploadGpu, IntegerImagesCrossAsInt16OthersAsFloatAndArriveUnchanged) {
  if (!cuda_device_available()) GTEST_SKIP() << cuda_unavailable_reason();
  ImageVolume ct = test::indexed_volume({97, 89, 61});
  for (std::size_t v = 0; v < ct.voxels.size(); ++v) ct.voxels[v] = float(int(v % 4096) - 1024);
  ImageVolume mr = test::indexed_volume({64, 64, 40});
  for (std::size_t v = 0; v < mr.voxels.size(); ++v) mr.voxels[v] = float(v % 1000) * 0.37f;  // not integers
  for (const auto* image : {&ct, &mr, &ct}) {  // the third call takes the first call's pinned block
    TransferBytes copied;
    DeviceVolume<float> on_device;
    {
      const CountTransfersInto count(copied);
      on_device = upload_image(*image);
    }
    const bool packed = image == &ct;
    EXPECT_EQ(copied.host_to_device, image->voxels.size() * (packed ? 2 : 4));
    const ImageVolume back = downloaded(on_device);
    ASSERT_TRUE(back.geometry == image->geometry);
    for (std::size_t v = 0; v < back.voxels.size(); ++v) ASSERT_EQ(back.voxels[v], image->voxels[v]) << v;
  }
}

TEST(UploadGpu, ThreadsUploadAtOnce) {
  if (!cuda_device_available()) GTEST_SKIP() << cuda_unavailable_reason();
  constexpr int kThreads = 4;
  std::vector<ImageVolume> images;
  for (int t = 0; t < kThreads; ++t) {
    ImageVolume image = test::indexed_volume({128, 128, 64});
    for (std::size_t v = 0; v < image.voxels.size(); ++v) image.voxels[v] = float(int((v * 7 + t) % 3000) - 1000);
    images.push_back(std::move(image));
  }
  std::vector<int> mismatches(kThreads, -1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      int wrong = 0;
      for (int round = 0; round < 3; ++round) {  // pinned blocks pass between the threads
        const ImageVolume back = downloaded(upload_image(images[std::size_t(t)]));
        for (std::size_t v = 0; v < back.voxels.size(); ++v) wrong += back.voxels[v] != images[std::size_t(t)].voxels[v];
      }
      mismatches[std::size_t(t)] = wrong;
    });
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[std::size_t(t)], 0) << "thread " << t;
}

}  // namespace
}  // namespace nc::kernels
