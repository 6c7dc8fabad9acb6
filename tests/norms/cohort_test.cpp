// Loading and pooling cohorts: volumes tables, results files, and every input problem that
// must end in one clear error naming the file and the reason.
#include "norms/cohort.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "core/error.hpp"
#include "io/cohort_store.hpp"
#include "norms/analyses.hpp"
#include "tests/support/temp_dir.hpp"

namespace nc::norms {
namespace {

std::filesystem::path write_file(const test::TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir / name) << text;
  return dir / name;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

const char* kTable =
    "scan_id\tage\tsex\tgroup\ticv_ml\tgestation_weeks\tfrontal_L\tfrontal_R\tnote\n"
    "s1\t1.5\tF\tcontrol\t900\t39\t100\t98\tok\n"
    "s2\t2.5\tM\tpatient\t1000\t40\t110\tn/a\tfine\n"
    "s3\t3.5\tF\tcontrol\t950\t38\t105\t104\tx\n";

TEST(MeasureNames, HemisphereMarkers) {
  EXPECT_EQ(measure_from_name("frontal_L").hemisphere, "L");
  EXPECT_EQ(measure_from_name("frontal_L").pair_key, "frontal");
  EXPECT_EQ(measure_from_name("Right-Hippocampus").pair_key, "Hippocampus");
  EXPECT_EQ(measure_from_name("Right-Hippocampus").hemisphere, "R");
  EXPECT_EQ(measure_from_name("lh_insula").hemisphere, "L");
  EXPECT_EQ(measure_from_name("brainstem").hemisphere, "-");
}

TEST(VolumesTable, NumericColumnsAreRegionsUnlessExcluded) {
  test::TempDir dir;
  const auto path = write_file(dir, "v.tsv", kTable);
  const Cohort all = load_cohort(path);
  ASSERT_EQ(all.regions.size(), 3u);  // gestation_weeks looks like a region until excluded
  const Cohort c = load_cohort(path, {{"gestation_weeks"}});
  ASSERT_EQ(c.regions.size(), 2u);
  EXPECT_EQ(c.regions[0].name, "frontal_L");
  EXPECT_EQ(c.size(), 3u);
  EXPECT_TRUE(c.has_icv);
  EXPECT_TRUE(c.has_group);
  EXPECT_FALSE(c.has_site);
  EXPECT_TRUE(std::isnan(c.volume_ml(1, 1)));
  EXPECT_EQ(c.volume_ml(2, 0), 105);
}

TEST(VolumesTable, BadRowsNameFileAndLine) {
  test::TempDir dir;
  EXPECT_NE(error_of([&] {
              load_cohort(write_file(dir, "a.tsv", "scan_id\tage\tsex\tx\ns1\t2\tX\t1\n"));
            }).find("a.tsv:2: sex must be M or F"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { load_cohort(write_file(dir, "b.tsv", "scan_id\tsex\tx\ns1\tM\t1\n")); }).find("no column age"),
      std::string::npos);
  EXPECT_NE(error_of([&] {
              load_cohort(write_file(dir, "c.tsv", "scan_id\tage\tsex\tx\ns1\t2\tM\n"));
            }).find("c.tsv:2: 3 fields for 4 columns"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              load_cohort(write_file(dir, "d.tsv", "scan_id\tage\tsex\ns1\t2\tM\n"));
            }).find("no region columns"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              load_cohort(write_file(dir, "e.tsv", "scan_id\tage\tsex\tx\ns1\told\tM\t1\n"));
            }).find("e.tsv:2: age must be a number"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_cohort(dir / "missing.tsv"); }).find("file not found"), std::string::npos);
}

// Regression: a negative volume or one near 1e307 reached the statistics, where Boost failed
// with "internal error" naming no scan.
TEST(VolumesTable, ImpossibleVolumesNameTheScan) {
  test::TempDir dir;
  for (const char* bad : {"-3", "1e307", "inf"}) {
    const std::string text = std::string("scan_id\tage\tsex\tx\ns1\t2\tM\t1\ns2\t3\tF\t") + bad + "\n";
    EXPECT_NE(error_of([&] { load_cohort(write_file(dir, "v.tsv", text)); }).find("v.tsv:3: volume"), std::string::npos)
        << bad;
  }
}

TEST(Pool, SameRegionsInAnyOrderAndUniqueScans) {
  test::TempDir dir;
  const auto a = write_file(dir, "a.tsv", "scan_id\tage\tsex\tx_L\tx_R\ns1\t2\tM\t1\t2\n");
  const auto b = write_file(dir, "b.tsv", "scan_id\tage\tsex\tx_R\tx_L\ns2\t3\tF\t20\t10\n");
  const Cohort pooled = pool({load_cohort(a), load_cohort(b)});
  ASSERT_EQ(pooled.size(), 2u);
  EXPECT_EQ(pooled.volume_ml(1, 0), 10);  // x_L of s2, though b lists x_R first
  EXPECT_EQ(pooled.volume_ml(1, 1), 20);

  const auto c = write_file(dir, "c.tsv", "scan_id\tage\tsex\tx_L\ns3\t2\tM\t1\n");
  EXPECT_NE(error_of([&] {
              pool({load_cohort(a), load_cohort(c)});
            }).find("c.tsv has no region x_R"),
            std::string::npos);
  const auto d = write_file(dir, "d.tsv", "scan_id\tage\tsex\tx_L\tx_R\ty\ns3\t2\tM\t1\t2\t3\n");
  EXPECT_NE(error_of([&] { pool({load_cohort(a), load_cohort(d)}); }).find("d.tsv has region y"), std::string::npos);
  EXPECT_NE(error_of([&] {
              pool({load_cohort(a), load_cohort(a)});
            }).find("scan_id s1 is also in another input"),
            std::string::npos);
}

TEST(ResultsFile, OnlyOkScansWithTheirRegions) {
  test::TempDir dir;
  const std::vector<io::TableColumn> scans = {{"scan_id", std::vector<std::string>{"a", "b", "c"}},
                                              {"age", std::vector<double>{1, 2, 3}},
                                              {"sex", std::vector<std::string>{"M", "F", "M"}},
                                              {"site", std::vector<double>{1, 2, 1}}};
  const std::vector<io::Region> regions = {{1, "frontal_L", "L"}, {2, "frontal_R", "R"}};
  {
    auto store = io::CohortStore::create(dir / "r.h5", scans, regions, {"volume_ml", "dice"}, {});
    io::ScanRecord ok;
    ok.row = 0;
    ok.ok = true;
    ok.icv_ml = 1000;
    ok.metrics["volume_ml"] = {100, 90};
    store.write(ok);
    io::ScanRecord failed;
    failed.row = 1;
    failed.error = "read: truncated";
    store.write(failed);
    ok.row = 2;
    ok.metrics["dice"] = {0.9, 0.8};
    store.write(ok);
  }
  const Cohort c = load_cohort(dir / "r.h5");
  ASSERT_EQ(c.size(), 2u);  // the failed and nothing pending
  EXPECT_EQ(c.skipped_scans, 1u);
  EXPECT_EQ(c.scan_id[1], "c");
  EXPECT_EQ(c.site[0], "1");  // a numeric site code reads as text
  EXPECT_EQ(c.regions[1].hemisphere, "R");
  ASSERT_TRUE(c.dice);
  EXPECT_TRUE(std::isnan((*c.dice)(0, 0)));
  EXPECT_EQ((*c.dice)(1, 1), 0.8);
}

TEST(Analyses, OneSexOnlyDropsTheSexTermAndSaysSo) {
  test::TempDir dir;
  std::string text = "scan_id\tage\tsex\tx\n";
  for (int i = 0; i < 10; ++i)
    text +=
        "s" + std::to_string(i) + "\t" + std::to_string(1 + i) + "\tF\t" + std::to_string(100 + 3 * i + i % 3) + "\n";
  const Cohort c = load_cohort(write_file(dir, "f.tsv", text));
  Notes notes;
  const Table t = regression(c, measures_of(c), {}, notes);
  ASSERT_EQ(t.rows.size(), 2u);  // intercept and age
  EXPECT_EQ(std::get<std::string>(t.rows[1][1]), "age");
  ASSERT_FALSE(notes.empty());
  EXPECT_NE(notes.front().find("one sex only"), std::string::npos);
}

}  // namespace
}  // namespace nc::norms
