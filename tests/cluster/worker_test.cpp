// run_worker's failure path: a transport that fails (the coordinator gone, the writer behind it
// out of disk) stops the intake, lets the scans in flight finish and rethrows, rather than
// cancelling the pipeline under the stages' own parallel loops. The scans are the small
// synthetic cohort, the network the tiny model trained on it (ctest fixtures).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cluster/worker.hpp"
#include "jobs/manifest.hpp"

namespace nc::cluster {
namespace {

// Hands out `rows` in turn; fails the delivery numbered `fail_delivery` (from 1) or, with
// `fail_take`, the request for a row after that many rows were handed out.
class FailingTransport final : public WorkerTransport {
 public:
  FailingTransport(std::vector<std::size_t> rows, std::size_t fail_delivery, std::size_t fail_take)
      : rows_(std::move(rows)), fail_delivery_(fail_delivery), fail_take_(fail_take) {}
  std::optional<std::size_t> next_row() override {
    if (handed_out == fail_take_) throw std::runtime_error("the coordinator stopped answering");
    if (handed_out == rows_.size()) return std::nullopt;
    return rows_[handed_out++];
  }
  void deliver(io::ScanRecord record) override {
    if (++deliveries == fail_delivery_) throw std::runtime_error("the results file's disk is full");
    delivered.push_back(std::move(record));
  }
  std::size_t handed_out = 0, deliveries = 0;
  std::vector<io::ScanRecord> delivered;

 private:
  std::vector<std::size_t> rows_;
  std::size_t fail_delivery_, fail_take_;
};

struct Cohort {
  jobs::Manifest manifest = jobs::load_manifest(NC_SYNTH_FIXTURE_DIR "/manifest.tsv");
  pipeline::SegmentationModel model = pipeline::SegmentationModel::load(NC_TINY_MODEL);
  pipeline::RunSettings settings;
};

WorkerOptions in_flight(int scans) {
  WorkerOptions options;
  options.in_flight = scans;
  return options;
}

std::string message_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(Worker, AFailedDeliveryStopsTheIntakeLetsScansInFlightFinishAndIsRethrown) {
  Cohort c;
  FailingTransport transport({0, 1, 0, 1}, 2, std::size_t(-1));
  const std::string error = message_of([&] { run_worker(transport, c.manifest, c.model, c.settings, in_flight(2)); });
  EXPECT_EQ(error, "the results file's disk is full");
  ASSERT_EQ(transport.delivered.size(), 1u);  // the first record went out; none after the failure
  EXPECT_TRUE(transport.delivered[0].ok) << transport.delivered[0].error;
  EXPECT_LT(transport.handed_out, 4u);  // no rows were taken once the failure was known
  EXPECT_EQ(transport.deliveries, 2u);  // nor delivered
}

TEST(Worker, AFailedRequestForARowIsRethrownAfterTheScansInFlight) {
  Cohort c;
  FailingTransport transport({0, 1, 0, 1}, std::size_t(-1), 2);
  const std::string error = message_of([&] { run_worker(transport, c.manifest, c.model, c.settings, in_flight(2)); });
  EXPECT_EQ(error, "the coordinator stopped answering");
  // The third request comes when the first scan has left the pipeline (two in flight at most):
  // that scan went out; the second finished after the failure and, as documented, did not.
  ASSERT_EQ(transport.delivered.size(), 1u);
  EXPECT_TRUE(transport.delivered[0].ok) << transport.delivered[0].error;
  EXPECT_EQ(transport.handed_out, 2u);
}

TEST(Worker, WithoutFailuresEveryRowIsDeliveredOnce) {
  Cohort c;
  FailingTransport transport({0, 1}, std::size_t(-1), std::size_t(-1));
  const StageTotals totals = run_worker(transport, c.manifest, c.model, c.settings, in_flight(2));
  EXPECT_EQ(totals.scans, 2u);
  ASSERT_EQ(transport.delivered.size(), 2u);
  std::vector<std::size_t> rows{transport.delivered[0].row, transport.delivered[1].row};
  std::sort(rows.begin(), rows.end());
  EXPECT_EQ(rows, (std::vector<std::size_t>{0, 1}));
}

}  // namespace
}  // namespace nc::cluster
