#include "io/cohort_store.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "tests/support/process.hpp"
#include "tests/support/store_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace nc::io {
namespace {

using test::TempDir;

CohortStore make_store(const std::filesystem::path& path, std::size_t scans) {
  return CohortStore::create(path, test::test_scan_table(scans), test::test_regions(), test::test_metrics(),
                             {{"tool_version", "test"}, {"configuration", "{\"threads\": 2}"}}, test::test_qc_layout());
}

// test_record(0) with one change that a store must refuse to write.
template <class Change>
ScanRecord record_with(Change change) {
  ScanRecord record = test::test_record(0);
  change(record);
  return record;
}

TEST(CohortStore, NewStoreHasEveryScanPendingInManifestOrder) {
  TempDir dir;
  const auto store = make_store(dir / "r.h5", 4);
  EXPECT_EQ(store.scan_ids(), (std::vector<std::string>{"sub-100", "sub-101", "sub-102", "sub-103"}));
  EXPECT_EQ(store.statuses(), std::vector<ScanStatus>(4, ScanStatus::Pending));
  const auto volumes = store.read_metric("volume_ml");
  ASSERT_EQ(volumes.size(), 12u);
  EXPECT_TRUE(std::all_of(volumes.begin(), volumes.end(), [](double v) { return std::isnan(v); }));
}

// Label maps are filtered chunk by chunk in parallel and written with H5Dwrite_chunk: a map
// spanning several 64³ chunks with partial edge chunks, and labels above 255 (stored as uint16,
// byte-shuffled), must read back voxel for voxel through HDF5's own filter pipeline.
TEST(CohortStore, LargeLabelMapsReadBackAcrossChunks) {
  TempDir dir;
  for (const std::uint16_t top : {std::uint16_t{9}, std::uint16_t{1000}}) {
    auto record = test::test_record(1);
    Geometry g;
    g.size = {130, 70, 65};
    LabelVolume labels(g);
    for (std::size_t n = 0; n < labels.voxels.size(); ++n) labels.voxels[n] = std::uint16_t((n * 7919) % (top + 1));
    record.labels = to_stored_form(labels);
    const auto path = dir / ("r" + std::to_string(top) + ".h5");
    make_store(path, 2).write(record);
    const auto back = CohortStore::open(path, CohortStore::Mode::ReadOnly).read_labels("sub-101");
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->voxels, labels.voxels) << "largest label " << top;
  }
}

TEST(CohortStore, RecordsReadBackAfterReopen) {
  TempDir dir;
  {
    auto store = make_store(dir / "r.h5", 5);
    store.write(test::test_record(3));  // a failed scan, written out of order
    store.write(test::test_record(1));
  }
  const auto store = CohortStore::open(dir / "r.h5", CohortStore::Mode::ReadOnly);
  EXPECT_EQ(store.statuses(), (std::vector<ScanStatus>{ScanStatus::Pending, ScanStatus::Ok, ScanStatus::Pending,
                                                       ScanStatus::Failed, ScanStatus::Pending}));
  EXPECT_EQ(store.read_text_column("error")[3], "no brain component found");
  EXPECT_EQ(store.read_text_column("host")[1], "node1");
  EXPECT_DOUBLE_EQ(store.read_number_column("icv_ml")[1], 1001.0);
  EXPECT_DOUBLE_EQ(store.read_number_column("age")[2], 2.5);
  const auto volumes = store.read_metric("volume_ml");
  EXPECT_DOUBLE_EQ(volumes[1 * 3 + 2], 31.0);
  EXPECT_TRUE(std::isnan(store.read_metric("dice")[1 * 3 + 1]));
  const auto labels = store.read_labels("sub-101");
  ASSERT_TRUE(labels.has_value());
  EXPECT_EQ(labels->voxels, test::test_label_map(1).voxels);
  EXPECT_EQ(labels->geometry, test::test_label_map(1).geometry);
  EXPECT_FALSE(store.read_labels("sub-100").has_value());
  EXPECT_EQ(store.regions()[2].name, "brainstem");
  EXPECT_EQ(store.attribute("configuration"), "{\"threads\": 2}");
}

TEST(CohortStore, RewritingARowReplacesItExactlyOnce) {
  TempDir dir;
  auto store = make_store(dir / "r.h5", 5);
  store.write(test::test_record(3));  // failed
  ScanRecord retry = test::test_record(3);
  retry.ok = true;
  store.write(retry);
  EXPECT_EQ(store.statuses()[3], ScanStatus::Ok);
  EXPECT_EQ(store.read_text_column("error")[3], "");
}

TEST(CohortStore, RefusesToOverwriteAnExistingFile) {
  TempDir dir;
  make_store(dir / "r.h5", 2);
  EXPECT_THROW(make_store(dir / "r.h5", 2), StoreError);
}

TEST(CohortStore, RefusesMetricOfWrongLengthAndUnknownMetric) {
  TempDir dir;
  auto store = make_store(dir / "r.h5", 2);
  EXPECT_THROW(store.write(record_with([](ScanRecord& r) { r.metrics["volume_ml"] = {1.0}; })), StoreError);
  EXPECT_THROW(store.write(record_with([](ScanRecord& r) { r.metrics["hd99_mm"] = {1.0, 2.0, 3.0}; })), StoreError);
  EXPECT_THROW(store.write(record_with([](ScanRecord& r) { r.row = 2; })), StoreError);  // rows 0 and 1 only
}

// QC measures: per scan [scans] and per region [scans × regions] under /qc, NaN until written
// (qc_seconds, which the record lacks, stays NaN); the layout is found again on open.
TEST(CohortStore, QcMeasuresReadBackByShape) {
  TempDir dir;
  make_store(dir / "r.h5", 3).write(test::test_record(1));
  const auto store = CohortStore::open(dir / "r.h5", CohortStore::Mode::ReadOnly);
  EXPECT_EQ(store.qc_layout(), test::test_qc_layout());
  // HDF5 lists the measures by name; a resumed run's layout in another order is the same one.
  EXPECT_EQ(store.qc_layout(), (QcLayout{{"qc_seconds", "mean_max_probability"}, {"components"}}));
  EXPECT_FALSE(store.qc_layout() == (QcLayout{{"mean_max_probability"}, {"components", "qc_seconds"}}));
  const auto confidence = store.read_qc("mean_max_probability");
  ASSERT_EQ(confidence.size(), 3u);
  EXPECT_TRUE(std::isnan(confidence[0]));
  EXPECT_DOUBLE_EQ(confidence[1], 0.94);
  const auto components = store.read_qc("components");
  ASSERT_EQ(components.size(), 9u);
  EXPECT_EQ(std::vector<double>(components.begin() + 3, components.begin() + 6), (std::vector<double>{1, 3, 0}));
  EXPECT_TRUE(std::isnan(store.read_qc("qc_seconds")[1]));
  EXPECT_EQ(store.read_record(1).qc.at("components"), (std::vector<double>{1, 3, 0}));
  EXPECT_THROW(store.read_qc("dice"), StoreError);
}

TEST(CohortStore, RefusesQcMeasuresItDoesNotHoldOrOfTheWrongLength) {
  TempDir dir;
  auto store = make_store(dir / "r.h5", 2);
  EXPECT_THROW(store.write(record_with([](ScanRecord& r) { r.qc["sharpness"] = {1.0}; })), StoreError);
  EXPECT_THROW(store.write(record_with([](ScanRecord& r) {
    r.qc["components"] = {1, 2};
  })),  // three regions
               StoreError);
  EXPECT_THROW(store.write(record_with([](ScanRecord& r) { r.qc["mean_max_probability"] = {0.9, 0.8}; })), StoreError);
}

// A store written before QC existed (or by another tool) has no /qc: it opens with no measures.
TEST(CohortStore, StoreWithoutQcOpensWithAnEmptyLayout) {
  TempDir dir;
  {
    auto store = CohortStore::create(dir / "r.h5", test::test_scan_table(2), test::test_regions(), test::test_metrics(), {});
    auto record = test::test_record(0);
    record.qc.clear();
    store.write(record);
  }
  const auto store = CohortStore::open(dir / "r.h5", CohortStore::Mode::ReadOnly);
  EXPECT_TRUE(store.qc_layout().per_scan.empty() && store.qc_layout().per_region.empty());
  EXPECT_TRUE(store.read_record(0).qc.empty());
}

// Each scan's start, end and seconds per stage under /timing; a store made without stages
// (before neurocohort kept them, or by another tool) has none and says so.
TEST(CohortStore, TimingReadsBackPerScanAndIsAbsentWithoutStages) {
  TempDir dir;
  const std::vector<std::string> stages = {"read", "infer"};
  {
    auto store = CohortStore::create(dir / "t.h5", test::test_scan_table(3), test::test_regions(), test::test_metrics(),
                                     {}, test::test_qc_layout(), stages);
    auto record = test::test_record(1);
    record.started_at = 1796130000.5;
    record.finished_at = 1796130004.25;
    record.stage_seconds = {1.25, 2.5};
    store.write(record);
    EXPECT_THROW(store.write(record_with([](ScanRecord& r) { r.stage_seconds = {1.0}; })), StoreError);
  }
  const auto store = CohortStore::open(dir / "t.h5", CohortStore::Mode::ReadOnly);
  EXPECT_EQ(store.stage_names(), stages);
  const auto started = store.read_timing("started_at"), seconds = store.read_timing("stage_seconds");
  ASSERT_EQ(started.size(), 3u);
  ASSERT_EQ(seconds.size(), 6u);
  EXPECT_TRUE(std::isnan(started[0]));
  EXPECT_EQ(started[1], 1796130000.5);
  EXPECT_EQ(std::vector<double>(seconds.begin() + 2, seconds.begin() + 4), (std::vector<double>{1.25, 2.5}));
  const ScanRecord back = store.read_record(1);
  EXPECT_EQ(back.finished_at, 1796130004.25);
  EXPECT_EQ(back.stage_seconds, (std::vector<double>{1.25, 2.5}));

  make_store(dir / "old.h5", 2).write(test::test_record(0));
  const auto old = CohortStore::open(dir / "old.h5", CohortStore::Mode::ReadOnly);
  EXPECT_TRUE(old.stage_names().empty());
  EXPECT_THROW(old.read_timing("started_at"), StoreError);
  EXPECT_TRUE(old.read_record(0).stage_seconds.empty());
}

TEST(CohortStore, OpeningSomethingElseIsAClearError) {
  TempDir dir;
  EXPECT_THROW(CohortStore::open(dir / "absent.h5", CohortStore::Mode::ReadOnly), StoreError);
  std::ofstream(dir / "text.h5") << "not hdf5";
  EXPECT_THROW(CohortStore::open(dir / "text.h5", CohortStore::Mode::ReadOnly), StoreError);
}

TEST(CohortStore, DebianH5pyReadsEveryDataset) {
  TempDir dir;
  {
    auto store = make_store(dir / "r.h5", 4);
    store.write(test::test_record(0));
    store.write(test::test_record(3));
    store.set_attribute("end_time", "2026-11-23T10:00:00Z");
  }
  const auto result = test::run_command("/usr/bin/python3 " NC_TEST_SOURCE_DIR "/io/read_store.py " +
                                        (dir / "r.h5").string());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto json = nlohmann::json::parse(result.output);
  EXPECT_EQ(json["scans"]["scan_id"], (std::vector<std::string>{"sub-100", "sub-101", "sub-102", "sub-103"}));
  EXPECT_EQ(json["scans"]["status"], (std::vector<std::string>{"ok", "pending", "pending", "failed"}));
  EXPECT_EQ(json["scans"]["sex"][1], "F");
  EXPECT_DOUBLE_EQ(json["scans"]["age"][3].get<double>(), 3.5);
  EXPECT_DOUBLE_EQ(json["scans"]["icv_ml"][0].get<double>(), 1000.0);
  EXPECT_TRUE(json["scans"]["icv_ml"][1].is_null());  // NaN for pending rows
  EXPECT_EQ(json["scans"]["rank"][3], 3);
  EXPECT_EQ(json["regions"]["hemisphere"], (std::vector<std::string>{"L", "R", "-"}));
  EXPECT_DOUBLE_EQ(json["metrics"]["volume_ml"][3][0].get<double>(), 13.0);
  EXPECT_TRUE(json["metrics"]["dice"][0][1].is_null());
  EXPECT_DOUBLE_EQ(json["qc"]["mean_max_probability"][0].get<double>(), 0.95);
  EXPECT_TRUE(json["qc"]["mean_max_probability"][1].is_null());
  EXPECT_EQ(json["qc"]["components"][0], (std::vector<double>{1, 2, 0}));
  const auto& labels = json["labels"]["sub-100"];
  EXPECT_EQ(labels["shape"], (std::vector<int>{3, 4, 5}));  // [k][j][i]
  EXPECT_EQ(labels["dtype"], "uint8");
  EXPECT_EQ(labels["compression"], "gzip");
  long expected_sum = 0;
  for (auto v : test::test_label_map(0).voxels) expected_sum += v;
  EXPECT_EQ(labels["sum"], expected_sum);
  EXPECT_EQ(labels["spacing"], (std::vector<double>{1.0, 1.0, 1.5}));
  EXPECT_EQ(json["attrs"]["end_time"], "2026-11-23T10:00:00Z");
  EXPECT_EQ(json["attrs"]["tool_version"], "test");
}

// A writer killed with SIGKILL between records leaves a file that reopens with every record
// flushed before the kill intact, and the rest still pending.
TEST(CohortStore, SurvivesSigkillBetweenRecords) {
  TempDir dir;
  const auto path = dir / "killed.h5";
  constexpr std::size_t kRecords = 7;
  {
    test::ChildProcess child({NC_STORE_WRITER_CHILD, path.string(), std::to_string(kRecords)});
    for (std::size_t row = 0; row < kRecords; ++row) ASSERT_EQ(child.read_line(), "flushed " + std::to_string(row));
    child.send(SIGKILL);
    const int status = child.wait();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  }
  auto store = CohortStore::open(path, CohortStore::Mode::ReadWrite);
  const auto statuses = store.statuses();
  ASSERT_EQ(statuses.size(), kRecords + 5);
  const auto volumes = store.read_metric("volume_ml");
  const auto icv = store.read_number_column("icv_ml");
  for (std::size_t row = 0; row < kRecords; ++row) {
    const ScanRecord expected = test::test_record(row);
    EXPECT_EQ(statuses[row], expected.ok ? ScanStatus::Ok : ScanStatus::Failed) << row;
    EXPECT_DOUBLE_EQ(icv[row], expected.icv_ml);
    EXPECT_DOUBLE_EQ(volumes[row * 3 + 1], expected.metrics.at("volume_ml")[1]);
    EXPECT_EQ(store.read_labels(store.scan_ids()[row])->voxels, test::test_label_map(row).voxels);
  }
  for (std::size_t row = kRecords; row < statuses.size(); ++row) EXPECT_EQ(statuses[row], ScanStatus::Pending);
  store.write(test::test_record(kRecords));  // and the resumed writer carries on
  EXPECT_EQ(store.statuses()[kRecords], ScanStatus::Ok);
}

}  // namespace
}  // namespace nc::io
