// The device layer's choices and counters that need no device: backend names, and the copies
// each CountTransfersInto scope receives when scopes nest (a stage of another scan run on the
// same thread while one waits).
#include <gtest/gtest.h>

#include <thread>

#include "kernels/common/backend.hpp"

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

}  // namespace
}  // namespace nc::kernels
