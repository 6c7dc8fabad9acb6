// The device layer's parts that need no device: backend names, the copies each
// CountTransfersInto scope receives when scopes nest (a stage of another scan run on the same
// thread while one waits), and which images the upload packs as int16.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "kernels/common/backend.hpp"
#include "kernels/common/upload.hpp"

namespace nc::kernels {
namespace {

TEST(CountTransfers, EachCopyGoesToTheInnermostScopeOnly) {
  TransferBytes outer, inner;
  detail::count_host_to_device(7);  // no scope: counted nowhere
  {
    const CountTransfersInto outer_scope(outer);
    detail::count_host_to_device(100);
    {
      const CountTransfersInto inner_scope(inner);
      detail::count_host_to_device(10);
      detail::count_device_to_host(3);
    }
    detail::count_device_to_host(50);
  }
  detail::count_device_to_host(9);
  EXPECT_EQ(outer.host_to_device, 100u);
  EXPECT_EQ(outer.device_to_host, 50u);
  EXPECT_EQ(inner.host_to_device, 10u);
  EXPECT_EQ(inner.device_to_host, 3u);
}

TEST(CountTransfers, ScopesOfOtherThreadsAreTheirOwn) {
  TransferBytes here, there;
  const CountTransfersInto scope(here);
  std::thread other([&] {
    const CountTransfersInto other_scope(there);
    detail::count_host_to_device(5);
  });
  other.join();
  detail::count_host_to_device(1);
  EXPECT_EQ(here.host_to_device, 1u);
  EXPECT_EQ(there.host_to_device, 5u);
}

TEST(ChooseBackend, NamesTheCpuAndRefusesUnknownNames) {
  EXPECT_EQ(choose_backend("cpu"), Backend::Cpu);
  EXPECT_THROW(choose_backend("gpu"), UsageError);
  if (!cuda_device_available()) {
    EXPECT_EQ(choose_backend("auto"), Backend::Cpu);
    EXPECT_THROW(choose_backend("cuda"), CudaError);
  }
}

TEST(PackAsInt16, IntegersInRangeArePackedExactly) {
  std::vector<float> hu(200001);
  for (std::size_t v = 0; v < hu.size(); ++v) hu[v] = float(int(v % 65536) - 32768);  // every int16, repeatedly
  std::vector<std::int16_t> packed(hu.size());
  ASSERT_TRUE(detail::pack_as_int16(hu, packed));
  for (std::size_t v = 0; v < hu.size(); ++v) ASSERT_EQ(float(packed[v]), hu[v]) << v;
}

TEST(PackAsInt16, AnyValueInt16CannotHoldKeepsTheImageFloat) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (const float odd : {0.5f, -1000.25f, 32768.0f, -32769.0f, 1e9f, -0.0f, nan, inf, -inf}) {
    std::vector<float> image(100000, -1000.0f);
    image[77777] = odd;  // one value, deep in a chunk of its own
    std::vector<std::int16_t> packed(image.size());
    EXPECT_FALSE(detail::pack_as_int16(image, packed)) << odd;
  }
  std::vector<std::int16_t> too_small(3);
  EXPECT_FALSE(detail::pack_as_int16(std::vector<float>(4, 1.0f), too_small));
}

}  // namespace
}  // namespace nc::kernels
