#include "jobs/manifest.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "core/error.hpp"
#include "tests/support/temp_dir.hpp"

namespace nc::jobs {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A manifest folder with images a.nii.gz, b.nii.gz and labels a_seg.nii.gz (contents unused).
struct ManifestFolder {
  TempDir dir;
  ManifestFolder() {
    for (const char* f : {"img/a.nii.gz", "img/b.nii.gz", "img/a_seg.nii.gz"}) write_file(dir / f, "x");
  }
  fs::path write(const std::string& text) const {
    write_file(dir / "manifest.tsv", text);
    return dir / "manifest.tsv";
  }
};

std::string problems_of(const fs::path& manifest, const ManifestOptions& options = {}) {
  try {
    load_manifest(manifest, options);
  } catch (const ManifestError& e) {
    return e.what();
  }
  return "";
}

// Regression: a FIFO named by the manifest hung `check` and `run`.
TEST(Manifest, NonRegularFilesAreRefused) {
  ManifestFolder folder;
  ASSERT_EQ(::mkfifo((folder.dir / "img/pipe.nii").c_str(), 0600), 0);
  const auto problems = problems_of(folder.write("scan_id\timage\tmodality\tage\tsex\ns1\timg/pipe.nii\tCT\t2\tM\n"));
  EXPECT_NE(problems.find("manifest.tsv:2: image 'img/pipe.nii' is not a regular file or a folder"), std::string::npos)
      << problems;
}

// Regression: the folder rule was lexical, so a symlink inside the folder led anywhere.
TEST(Manifest, SymlinksLeavingTheFolderNeedAllowExternalPaths) {
  ManifestFolder folder;
  TempDir outside;
  write_file(outside / "real.nii.gz", "x");
  fs::create_symlink(outside / "real.nii.gz", folder.dir / "img/link.nii.gz");
  const auto path = folder.write("scan_id\timage\tmodality\tage\tsex\ns1\timg/link.nii.gz\tCT\t2\tM\n");
  EXPECT_NE(problems_of(path).find("is a link to a file outside the manifest's folder"), std::string::npos);
  EXPECT_EQ(problems_of(path, {.allow_external_paths = true}), "");
  fs::create_symlink(folder.dir / "img/a.nii.gz", folder.dir / "img/inner.nii.gz");
  EXPECT_EQ(problems_of(folder.write("scan_id\timage\tmodality\tage\tsex\ns1\timg/inner.nii.gz\tCT\t2\tM\n")), "");
}

TEST(Manifest, ParsesRequiredOptionalAndCovariateColumns) {
  ManifestFolder folder;
  const auto path = folder.write(
      "scan_id\timage\tmodality\tage\tsex\tgroup\tsite\tlabels\tgestation_weeks\n"
      "s1\timg/a.nii.gz\tCT\t2.5\tM\tcontrol\tA\timg/a_seg.nii.gz\t39\n"
      "s2\timg/b.nii.gz\tmr\t0.75\tf\tpatient\tB\t\t\n");
  const Manifest m = load_manifest(path);
  ASSERT_EQ(m.scans.size(), 2u);
  EXPECT_EQ(m.scans[0].image, folder.dir.path() / "img/a.nii.gz");
  EXPECT_EQ(m.scans[0].labels, folder.dir.path() / "img/a_seg.nii.gz");
  EXPECT_EQ(m.scans[1].modality, Modality::MR);
  EXPECT_EQ(m.scans[1].sex, Sex::F);
  EXPECT_DOUBLE_EQ(m.scans[1].age_years, 0.75);
  EXPECT_FALSE(m.scans[1].labels.has_value());

  const auto columns = m.table_columns();
  ASSERT_EQ(columns.size(), 9u);
  EXPECT_TRUE(std::holds_alternative<std::vector<double>>(columns[3].values));  // age
  EXPECT_EQ(std::get<std::vector<std::string>>(columns[2].values)[1], "MR");   // normalised
  const auto& gestation = std::get<std::vector<double>>(columns[8].values);   // numeric covariate
  EXPECT_DOUBLE_EQ(gestation[0], 39.0);
  EXPECT_TRUE(std::isnan(gestation[1]));
  EXPECT_TRUE(std::holds_alternative<std::vector<std::string>>(columns[6].values));  // site stays text
}

TEST(Manifest, ReportsEveryProblemWithItsLineNumber) {
  ManifestFolder folder;
  const auto path = folder.write(
      "scan_id\timage\tmodality\tage\tsex\n"
      "s1\timg/a.nii.gz\tCT\t2\tM\n"
      "s1\timg/b.nii.gz\tCT\t3\tF\n"        // line 3: duplicate
      "s3\timg/a.nii.gz\tPET\t3\tF\n"       // line 4: modality
      "s4\timg/a.nii.gz\tCT\ttwo\tF\n"      // line 5: age
      "s5\timg/a.nii.gz\tCT\t-1\tF\n"       // line 6: negative age
      "s6\timg/a.nii.gz\tCT\t1\tX\n"        // line 7: sex
      "s7\t../outside.nii\tCT\t1\tM\n"      // line 8: escapes the folder
      "s8\timg/missing.nii\tCT\t1\tM\n"     // line 9: missing file
      "s9\timg/a.nii.gz\tCT\n"              // line 10: short row
      "bad/id\timg/a.nii.gz\tCT\t1\tM\n");  // line 11: scan_id
  const std::string text = problems_of(path);
  EXPECT_NE(text.find("9 problems"), std::string::npos) << text;
  const std::string m = path.string();
  for (const std::string& expected :
       {m + ":3: duplicate scan_id 's1' (first on line 2)", m + ":4: unknown modality 'PET'",
        m + ":5: age 'two' is not a number", m + ":6: age -1 is negative", m + ":7: unknown sex 'X'",
        m + ":8: image '../outside.nii' leaves the manifest's folder", m + ":9: image 'img/missing.nii' does not exist",
        m + ":10: 3 fields, the header has 5", m + ":11: scan_id 'bad/id'"})
    EXPECT_NE(text.find(expected), std::string::npos) << "missing: " << expected << "\nin:\n" << text;
}

TEST(Manifest, MissingRequiredColumnsAreNamed) {
  ManifestFolder folder;
  const std::string text = problems_of(folder.write("scan_id\timage\tage\n"));
  EXPECT_NE(text.find("missing required column 'modality'"), std::string::npos) << text;
  EXPECT_NE(text.find("missing required column 'sex'"), std::string::npos) << text;
}

TEST(Manifest, EmptyManifestIsAnError) {
  ManifestFolder folder;
  EXPECT_NE(problems_of(folder.write("scan_id\timage\tmodality\tage\tsex\n")).find("lists no scans"),
            std::string::npos);
}

TEST(Manifest, ExternalPathsNeedTheFlag) {
  ManifestFolder folder;
  TempDir elsewhere;
  write_file(elsewhere / "c.nii.gz", "x");
  const auto path = folder.write("scan_id\timage\tmodality\tage\tsex\ns1\t" + (elsewhere / "c.nii.gz").string() +
                                 "\tCT\t1\tM\n");
  EXPECT_NE(problems_of(path).find("leaves the manifest's folder"), std::string::npos);
  const Manifest m = load_manifest(path, {.allow_external_paths = true});
  EXPECT_EQ(m.scans[0].image, elsewhere / "c.nii.gz");
}

TEST(Manifest, ToleratesBomCrlfAndBlankLines) {
  ManifestFolder folder;
  const auto path = folder.write("\xEF\xBB\xBFscan_id\timage\tmodality\tage\tsex\r\n\r\ns1\timg/a.nii.gz\tCT\t1\tM\r\n");
  const Manifest m = load_manifest(path);
  ASSERT_EQ(m.scans.size(), 1u);
  EXPECT_EQ(m.scans[0].scan_id, "s1");
}

}  // namespace
}  // namespace nc::jobs
