#include "jobs/run_account.hpp"

#include <gtest/gtest.h>

#include "tests/support/store_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace nc::jobs {
namespace {

TEST(FailureReason, PathsAndNumbersAreWhatTellsTwoScansApart) {
  EXPECT_EQ(failure_reason("read: /data/site-a/s001.nii.gz: gzip stream ends after 100000 bytes"),
            "read: …: gzip stream ends after # bytes");
  EXPECT_EQ(failure_reason("read: /data/site-b/s417.nii.gz: gzip stream ends after 2048 bytes"),
            failure_reason("read: /data/site-a/s001.nii.gz: gzip stream ends after 100000 bytes"));
  EXPECT_NE(failure_reason("preprocess: no brain component found"), failure_reason("read: timed out"));
  EXPECT_EQ(failure_reason(""), "");
}

io::ScanRecord timed_record(std::size_t row, double start, double seconds, const std::string& host, int rank) {
  io::ScanRecord r = test::test_record(row, false);
  r.qc.clear();
  r.host = host;
  r.rank = rank;
  r.started_at = start;
  r.finished_at = start + seconds;
  r.stage_seconds = {seconds / 4, seconds * 3 / 4};
  return r;
}

// Six scans of two workers over 60 s, one failed (test_record fails row 3), one pending.
TEST(RunAccount, CountsFailuresAndEachWorkersScansPerBin) {
  test::TempDir dir;
  auto store = io::CohortStore::create(dir / "r.h5", test::test_scan_table(7), test::test_regions(),
                                       test::test_metrics(), {}, {}, {"read", "infer"});
  const double t0 = 1796130000;
  store.write(timed_record(0, t0, 10, "a", 1));       // ends at 10 s: bin 0
  store.write(timed_record(1, t0 + 10, 10, "a", 1));  // 20 s: bin 0
  store.write(timed_record(2, t0, 40, "b", 2));       // 40 s: bin 1
  store.write(timed_record(3, t0 + 20, 20, "a", 1));  // 40 s: bin 1 (failed)
  store.write(timed_record(4, t0 + 40, 20, "b", 2));  // 60 s: bin 1 (the last end falls in the last bin)
  store.write(timed_record(5, t0 + 40, 20, "a", 1));  // 60 s: bin 1
  const RunAccount a = account_of(store, 2);
  EXPECT_EQ(a.scans, 7u);
  EXPECT_EQ(a.counts.ok, 5u);
  EXPECT_EQ(a.counts.failed, 1u);
  EXPECT_EQ(a.counts.pending, 1u);
  ASSERT_EQ(a.failures.size(), 1u);
  EXPECT_EQ(a.failures[0].scans, 1u);
  EXPECT_EQ(a.failures[0].example_scan, store.scan_ids()[3]);
  EXPECT_EQ(a.timed_scans, 6u);
  EXPECT_DOUBLE_EQ(a.last_end - a.first_start, 60);
  EXPECT_DOUBLE_EQ(a.bin_seconds, 30);
  EXPECT_DOUBLE_EQ(a.mean_stage_seconds[0], 120.0 / 6 / 4);
  ASSERT_EQ(a.workers.size(), 2u);
  EXPECT_EQ(a.workers[0].host, "a");
  EXPECT_EQ(a.workers[0].scans, 4u);
  EXPECT_EQ(a.workers[0].per_bin, (std::vector<std::size_t>{2, 2}));
  EXPECT_DOUBLE_EQ(a.workers[0].busy_seconds, 60);
  EXPECT_EQ(a.workers[1].rank, 2);
  EXPECT_EQ(a.workers[1].per_bin, (std::vector<std::size_t>{0, 2}));
}

}  // namespace
}  // namespace nc::jobs
