// Merging cohort stores: the union of scans, finished results over pending ones, conflicts
// refused unless --prefer-latest, incompatible inputs named.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "io/cohort_store.hpp"
#include "io/store_merge.hpp"
#include "tests/support/store_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace nc::io {
namespace {

// A store over the given scan ids; `done` maps a row to the volume written into it.
std::filesystem::path make_store(const test::TempDir& dir, const std::string& name, const std::vector<std::string>& ids,
                                 const std::vector<std::pair<std::size_t, double>>& done, const std::string& end_time,
                                 std::vector<Region> regions = test::test_regions(), const QcLayout& qc = {}) {
  std::vector<double> age(ids.size(), 4.0);
  auto store = CohortStore::create(dir / name, {{"scan_id", ids}, {"age", age}}, regions, test::test_metrics(),
                                   {{"model_sha256", "abc"}}, qc);
  for (const auto& [row, volume] : done) {
    ScanRecord r;
    r.row = row;
    r.ok = volume > 0;
    r.error = r.ok ? "" : "read: truncated";
    r.icv_ml = 1000;
    r.metrics["volume_ml"] = std::vector<double>(regions.size(), volume);
    for (const auto& m : qc.per_scan) r.qc[m] = {volume / 100};
    store.write(r);
  }
  store.set_attribute("end_time", end_time);
  return dir / name;
}

TEST(StoreMerge, UnionOfScansFinishedOverPending) {
  test::TempDir dir;
  const auto a = make_store(dir, "a.h5", {"s1", "s2"}, {{0, 10}}, "2026-01-01T00:00:00Z");
  const auto b = make_store(dir, "b.h5", {"s2", "s3", "s4"}, {{0, 20}, {1, -1}}, "2026-01-02T00:00:00Z");
  const auto summary = merge_stores({a, b}, dir / "m.h5", {});
  EXPECT_EQ(summary.scans, 4u);
  EXPECT_EQ(summary.ok, 2u);
  EXPECT_EQ(summary.failed, 1u);
  EXPECT_EQ(summary.pending, 1u);
  const auto m = CohortStore::open(dir / "m.h5", CohortStore::Mode::ReadOnly);
  EXPECT_EQ(m.scan_ids(), (std::vector<std::string>{"s1", "s2", "s3", "s4"}));
  EXPECT_EQ(m.statuses(),
            (std::vector<ScanStatus>{ScanStatus::Ok, ScanStatus::Ok, ScanStatus::Failed, ScanStatus::Pending}));
  EXPECT_EQ(m.read_metric("volume_ml")[3], 20);  // s2, row 1, from b
  EXPECT_EQ(m.read_record(2).error, "read: truncated");
  EXPECT_EQ(m.attribute("model_sha256"), "abc");
  EXPECT_THROW(merge_stores({a, b}, dir / "m.h5", {}), StoreError);  // never overwrites
}

// The merged store holds the union of the inputs' QC measures, each scan's values from the
// input its record came from; a store written before QC contributes NaN.
TEST(StoreMerge, QcMeasuresAreCarriedThrough) {
  test::TempDir dir;
  const auto a = make_store(dir, "a.h5", {"s1", "s2"}, {{0, 10}, {1, 20}}, "2026-01-01T00:00:00Z",
                            test::test_regions(), {{"tissue_cnr"}, {}});
  const auto b = make_store(dir, "b.h5", {"s3"}, {{0, 30}}, "2026-01-02T00:00:00Z");
  merge_stores({a, b}, dir / "m.h5", {});
  const auto m = CohortStore::open(dir / "m.h5", CohortStore::Mode::ReadOnly);
  EXPECT_EQ(m.qc_layout(), (QcLayout{{"tissue_cnr"}, {}}));
  const auto cnr = m.read_qc("tissue_cnr");
  ASSERT_EQ(cnr.size(), 3u);
  EXPECT_DOUBLE_EQ(cnr[0], 0.1);
  EXPECT_DOUBLE_EQ(cnr[1], 0.2);
  EXPECT_TRUE(std::isnan(cnr[2]));
  const auto c = make_store(dir, "c.h5", {"s4"}, {}, "2026-01-03T00:00:00Z", test::test_regions(), {{}, {"tissue_cnr"}});
  EXPECT_THROW(merge_stores({a, c}, dir / "mc.h5", {}), StoreError);  // per scan in one, per region in the other
}

TEST(StoreMerge, ConflictsNeedPreferLatest) {
  test::TempDir dir;
  const auto late = make_store(dir, "late.h5", {"s1"}, {{0, 30}}, "2026-03-01T00:00:00Z");
  const auto early = make_store(dir, "early.h5", {"s1"}, {{0, 10}}, "2026-02-01T00:00:00Z");
  try {
    merge_stores({late, early}, dir / "m.h5", {});
    FAIL() << "a conflict was merged";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("scan s1 has different results"), std::string::npos) << e.what();
  }
  const auto summary = merge_stores({late, early}, dir / "m2.h5", {.prefer_latest = true});
  EXPECT_EQ(summary.conflicts_resolved, 1u);
  EXPECT_EQ(CohortStore::open(dir / "m2.h5", CohortStore::Mode::ReadOnly).read_metric("volume_ml")[0], 30);
  // Equal results in two inputs are no conflict.
  const auto same = make_store(dir, "same.h5", {"s1"}, {{0, 30}}, "2026-04-01T00:00:00Z");
  EXPECT_EQ(merge_stores({late, same}, dir / "m3.h5", {}).ok, 1u);
}

TEST(StoreMerge, IncompatibleInputsAreNamed) {
  test::TempDir dir;
  const auto a = make_store(dir, "a.h5", {"s1"}, {}, "t");
  const auto b = make_store(dir, "b.h5", {"s2"}, {}, "t", {{1, "frontal", "L"}});
  try {
    merge_stores({a, b}, dir / "m.h5", {});
    FAIL() << "different region tables were merged";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("different region tables"), std::string::npos) << e.what();
  }
}

// A merged file keeps the network precision its inputs share (a resume checks it), and inputs
// made at different precisions are not merged.
TEST(StoreMerge, PrecisionIsCheckedAndKept) {
  test::TempDir dir;
  const auto a = make_store(dir, "a.h5", {"s1"}, {{0, 10}}, "t");
  const auto b = make_store(dir, "b.h5", {"s2"}, {{0, 20}}, "t");
  CohortStore::open(a, CohortStore::Mode::ReadWrite).set_attribute("precision", "fp32");
  CohortStore::open(b, CohortStore::Mode::ReadWrite).set_attribute("precision", "bf16");
  merge_stores({a}, dir / "m.h5", {});
  EXPECT_EQ(CohortStore::open(dir / "m.h5", CohortStore::Mode::ReadOnly).attribute("precision"), "fp32");
  try {
    merge_stores({a, b}, dir / "mb.h5", {});
    FAIL() << "results of two precisions were merged";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("precision differs"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace nc::io
