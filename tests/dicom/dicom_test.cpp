// The DICOM layer: header parsing, stacking checks, selection rules, demographics, pseudonyms,
// and reading a (gantry-tilted) series back in physical space. Series are written with
// dicom/series_writer.hpp and edited tag by tag through DCMTK to make them hostile.
#include <dcmtk/config/osconfig.h>  // first, as DCMTK requires
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcrleerg.h>
#include <dcmtk/dcmjpls/djencode.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "core/error.hpp"
#include "dicom/demographics.hpp"
#include "dicom/dicom_index.hpp"
#include "dicom/pseudonym.hpp"
#include "dicom/selection.hpp"
#include "dicom/series_volume.hpp"
#include "dicom/series_writer.hpp"
#include "io/image_io.hpp"
#include "tests/support/temp_dir.hpp"

namespace nc::dicom {
namespace {

namespace fs = std::filesystem;

// ---- header fields ----

TEST(PatientAge, ReadsEveryUnitAsCompletedUnits) {
  EXPECT_DOUBLE_EQ(*parse_patient_age("018M"), 1.5);
  EXPECT_DOUBLE_EQ(*parse_patient_age("002Y"), 2.0);
  EXPECT_NEAR(*parse_patient_age("030D"), 30 / 365.25, 1e-12);
  EXPECT_NEAR(*parse_patient_age("004W"), 28 / 365.25, 1e-12);
  for (const char* bad : {"", "18M", "0X8M", "018Q", "-01Y", "0018M"}) EXPECT_FALSE(parse_patient_age(bad)) << bad;
}

TEST(DicomDate, RefusesImpossibleDates) {
  EXPECT_EQ(*parse_dicom_date("19700101"), 0);
  EXPECT_EQ(*parse_dicom_date("20240301") - *parse_dicom_date("20240228"), 2);  // leap year
  for (const char* bad : {"20230229", "20241301", "2024-01-01", "20240100", "1800101", ""})
    EXPECT_FALSE(parse_dicom_date(bad)) << bad;
}

SliceHeader slice_with(const std::string& sex, const std::string& age, const std::string& birth,
                       const std::string& site) {
  SliceHeader h;
  h.patient_sex = sex;
  h.patient_age = age;
  h.birth_date = birth;
  h.study_date = "20240601";
  h.site = site;
  return h;
}

TEST(Demographics, DatesGiveTheAgeAndMustAgreeWithPatientAge) {
  const SliceHeader a = slice_with("F", "003Y", "20210301", "Hospital A");
  const auto d = study_demographics({&a}, nullptr);
  EXPECT_TRUE(d.problems.empty());
  EXPECT_NEAR(*d.age_years, double(*parse_dicom_date("20240601") - *parse_dicom_date("20210301")) / 365.25, 1e-12);
  EXPECT_EQ(d.sex, "F");
  EXPECT_EQ(d.site, "Hospital A");

  const SliceHeader lie = slice_with("F", "010Y", "20210301", "Hospital A");
  const auto contradicted = study_demographics({&lie}, nullptr);
  EXPECT_FALSE(contradicted.age_years);
  ASSERT_EQ(contradicted.problems.size(), 1u);
  EXPECT_NE(contradicted.problems[0].find("contradicts"), std::string::npos);
}

TEST(Demographics, MissingOrDisagreeingFieldsAreProblemsNotGuesses) {
  const SliceHeader no_sex = slice_with("", "018M", "", "A");
  const auto d = study_demographics({&no_sex}, nullptr);
  EXPECT_DOUBLE_EQ(*d.age_years, 1.5);
  EXPECT_EQ(d.problems, std::vector<std::string>{"no PatientSex"});

  const SliceHeader m = slice_with("M", "018M", "", "A"), f = slice_with("F", "018M", "", "A");
  EXPECT_NE(study_demographics({&m, &f}, nullptr).problems.at(0).find("PatientSex differs"), std::string::npos);

  const SliceHeader none = slice_with("M", "", "", "A");
  EXPECT_FALSE(study_demographics({&none}, nullptr).age_years);

  const SiteMap map{{"B", "site-b"}};
  const auto unmapped = study_demographics({&m}, &map);
  EXPECT_NE(unmapped.problems.at(0).find("not in the site map"), std::string::npos);
}

TEST(Pseudonym, StableKeyedAndSeparatedByDomain) {
  const Pseudonymizer a("a-long-enough-key"), b("another-long-key");
  EXPECT_EQ(a.scan_id("1.2.3", "1.2.3.4"), a.scan_id("1.2.3", "1.2.3.4"));
  EXPECT_NE(a.scan_id("1.2.3", "1.2.3.4"), b.scan_id("1.2.3", "1.2.3.4"));
  EXPECT_NE(a.scan_id("1.2.3", "1.2.3.4"), a.scan_id("1.2.3", "1.2.3.5"));
  EXPECT_EQ(a.scan_id("1.2.3", "1.2.3.4").size(), 2u + 16u);
  EXPECT_NE(a.study_id("1.2.3").substr(3), a.subject_id("1.2.3").substr(2));
  EXPECT_EQ(a.subject_id(""), "");
  EXPECT_THROW(Pseudonymizer("short"), UsageError);
}

TEST(SeriesReference, OnlyAValidUidAfterTheLastHash) {
  const auto ref = parse_series_reference("exports/a#b/series#1.2.840.113619.2");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->folder, fs::path("exports/a#b/series"));
  EXPECT_EQ(ref->series_uid, "1.2.840.113619.2");
  for (const char* other : {"scan.nii.gz", "folder#", "folder#1..2", "folder#1.2a", "#1.2", "folder#.1"})
    EXPECT_FALSE(parse_series_reference(other)) << other;
}

TEST(Rules, FileOverridesDefaultsAndNamesTheBadLine) {
  test::TempDir dir;
  std::ofstream(dir / "rules.txt") << "# site rules\nmin_slices = 12\nct_sharp_kernels = bone, FC30\nmodality = ct\n";
  const SelectionRules rules = read_rules(dir / "rules.txt");
  EXPECT_EQ(rules.min_slices, 12);
  EXPECT_EQ(rules.ct_sharp_kernels, (std::vector<std::string>{"BONE", "FC30"}));
  EXPECT_EQ(rules.modality, std::optional<std::string>("CT"));
  std::ofstream(dir / "bad.txt") << "min_slices = 12\n\nmax_tilt = 3\n";
  try {
    read_rules(dir / "bad.txt");
    FAIL() << "an unknown rule was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.txt:3: unknown rule 'max_tilt'"), std::string::npos) << e.what();
  }
  std::ofstream(dir / "value.txt") << "min_slices = many\n";
  EXPECT_THROW(read_rules(dir / "value.txt"), UsageError);
}

// ---- series on disk ----

// A smooth HU field, so that interpolated values can be checked against the truth.
double field_hu(const Vec3& p) { return 400.0 * std::sin(p[0] / 17.0) * std::cos(p[1] / 23.0) + 3.0 * p[2]; }

struct WrittenSeries {
  fs::path folder;
  std::string uid;
  fs::path reference() const { return series_reference_path(folder, uid); }
};

// An axial CT stack of `slices` 48×40 slices, the field sampled at each pixel; `tilt_degrees`
// turns the slice planes about the left–right axis while the slices advance along the table.
WrittenSeries write_ct(const fs::path& folder, int number, int slices, double tilt_degrees = 0,
                       const std::string& kernel = "H31s", const std::string& image_type = "ORIGINAL\\PRIMARY\\AXIAL") {
  const double t = tilt_degrees * M_PI / 180.0;
  SlicePlacement p;
  p.row = {1, 0, 0};
  p.column = {0, std::cos(t), std::sin(t)};
  p.row_spacing_mm = 1.0;
  p.column_spacing_mm = 1.2;
  p.first_position_mm = {-20, -25, -30};
  p.advance_mm = {0, 0, 2.0 / std::cos(t)};
  p.slice_thickness_mm = 2.0;
  Geometry g;
  g.size = {48, 40, slices};
  Volume<std::int16_t> stack(g);
  for (std::int64_t k = 0; k < slices; ++k)
    for (std::int64_t j = 0; j < 40; ++j)
      for (std::int64_t i = 0; i < 48; ++i) {
        Vec3 x;
        for (int a = 0; a < 3; ++a)
          x[a] = p.first_position_mm[a] + double(k) * p.advance_mm[a] + double(i) * p.row_spacing_mm * p.row[a] +
                 double(j) * p.column_spacing_mm * p.column[a];
        stack.at(i, j, k) = std::int16_t(std::lround(field_hu(x)));
      }
  SeriesTags tags;
  tags.patient_name = "TEST^PATIENT";
  tags.patient_id = "TEST-ID-7";
  tags.patient_sex = "M";
  tags.patient_age = "004Y";
  tags.study_date = "20240601";
  tags.institution = "Test Hospital";
  tags.study_uid = "1.2.826.0.1.1";
  tags.series_uid = "1.2.826.0.1.1." + std::to_string(number);
  tags.series_number = number;
  tags.modality = "CT";
  tags.image_type = image_type;
  tags.description = "Head " + kernel;
  tags.kernel = kernel;
  tags.gantry_tilt_degrees = tilt_degrees;
  write_series(stack, p, tags, folder, 1000 + std::uint64_t(number));
  return {folder, tags.series_uid};
}

// Replaces (or with an empty value, removes) one element of a written file.
void edit_tag(const fs::path& file, std::uint16_t group, std::uint16_t element, const std::string& value) {
  DcmFileFormat dicom;
  ASSERT_TRUE(dicom.loadFile(file.c_str()).good());
  DcmDataset& ds = *dicom.getDataset();
  const DcmTagKey tag(group, element);
  if (value.empty())
    ASSERT_TRUE(ds.findAndDeleteElement(tag).good());
  else if (DcmTag(tag).getEVR() == EVR_US)
    ASSERT_TRUE(ds.putAndInsertUint16(tag, Uint16(std::stoi(value))).good());
  else
    ASSERT_TRUE(ds.putAndInsertString(tag, value.c_str()).good());
  ASSERT_TRUE(dicom.saveFile(file.c_str(), EXS_LittleEndianExplicit).good());
}

IndexResult index_of(const fs::path& root) {
  IndexOptions options;
  options.roots = {root};
  options.rules.min_slices = 10;
  return index_dicom(options, Pseudonymizer("unit-test-key"));
}

const ReportRow& row_of(const IndexResult& r, const std::string& series_number) {
  for (const auto& row : r.report)
    if (row.series_number == series_number) return row;
  throw std::runtime_error("no report row for series " + series_number);
}

TEST(Index, PrefersSoftTissueThenThinnestAndExplainsEverySeries) {
  test::TempDir dir;
  write_ct(dir / "a", 1, 24, 0, "H70h");  // bone kernel
  write_ct(dir / "b", 2, 24, 0, "H31s");  // the one
  write_ct(dir / "c", 3, 24, 0, "H31s", "ORIGINAL\\PRIMARY\\LOCALIZER");
  write_ct(dir / "d", 4, 6, 0, "H31s");  // too few slices
  std::ofstream(dir / "notes.txt") << "not dicom";
  std::ofstream(dir / "empty.dcm");
  const IndexResult r = index_of(dir.path());
  ASSERT_EQ(r.scans.size(), 1u);
  EXPECT_EQ(r.scans[0].image, series_reference_path(dir / "b", "1.2.826.0.1.1.2"));
  EXPECT_EQ(r.scans[0].sex, "M");
  EXPECT_DOUBLE_EQ(r.scans[0].age_years, 4.0);
  EXPECT_EQ(row_of(r, "1").decision, "not_chosen");
  EXPECT_NE(row_of(r, "1").reason.find("bone/sharp"), std::string::npos);
  EXPECT_EQ(row_of(r, "3").reason, "ImageType LOCALIZER");
  EXPECT_NE(row_of(r, "4").reason.find("fewer than 10"), std::string::npos);
  EXPECT_EQ(r.skipped.size(), 2u);
  for (const auto& row : r.report) EXPECT_EQ(row.description.find("TEST^PATIENT"), std::string::npos);
}

TEST(Index, HostileSeriesAreRejectedWithTheirReason) {
  test::TempDir dir;
  write_ct(dir / "gap", 1, 20);
  fs::remove(dir / "gap" / "IM00008");
  write_ct(dir / "size", 2, 20);
  edit_tag(dir / "size" / "IM00003", 0x0028, 0x0010, "20");
  write_ct(dir / "orient", 3, 20);
  edit_tag(dir / "orient" / "IM00005", 0x0020, 0x0037, "1\\0\\0\\0\\0\\1");
  write_ct(dir / "spacing", 4, 20);
  for (int k = 1; k <= 20; ++k)
    edit_tag(dir / "spacing" / ("IM000" + std::string(k < 10 ? "0" : "") + std::to_string(k)), 0x0028, 0x0030,
             "-1\\-1");
  write_ct(dir / "position", 5, 20);
  edit_tag(dir / "position" / "IM00002", 0x0020, 0x0032, "");
  write_ct(dir / "uneven", 6, 20);
  edit_tag(dir / "uneven" / "IM00010", 0x0020, 0x0032, "-20\\-25\\-11.3");
  write_ct(dir / "huge", 7, 12);
  edit_tag(dir / "huge" / "IM00001", 0x0028, 0x0010, "65535");
  edit_tag(dir / "huge" / "IM00001", 0x0028, 0x0011, "65535");
  const IndexResult r = index_of(dir.path());
  // The oversized file is skipped as truncated; its series' other 11 slices still form a volume.
  ASSERT_EQ(r.scans.size(), 1u);
  EXPECT_EQ(r.scans[0].image, series_reference_path(dir / "huge", "1.2.826.0.1.1.7"));
  EXPECT_NE(row_of(r, "1").reason.find("missing slices: 1 missing in 1 gap"), std::string::npos)
      << row_of(r, "1").reason;
  EXPECT_NE(row_of(r, "2").reason.find("mixed image sizes"), std::string::npos) << row_of(r, "2").reason;
  EXPECT_EQ(row_of(r, "3").reason, "mixed orientations");
  EXPECT_EQ(row_of(r, "4").reason, "non-positive PixelSpacing");
  EXPECT_EQ(row_of(r, "5").reason, "a slice has no valid ImagePositionPatient");
  EXPECT_NE(row_of(r, "6").reason.find("uneven slice spacing"), std::string::npos) << row_of(r, "6").reason;
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_NE(r.skipped[0].reason.find("truncated"), std::string::npos);
  EXPECT_THROW(io::read_image(series_reference_path(dir / "gap", "1.2.826.0.1.1.1")), ImageError);
}

TEST(Index, SeriesWhoseUidWouldNotSurviveTheManifestAreRejected) {
  test::TempDir dir;
  write_ct(dir / "s", 1, 12);
  for (const auto& entry : fs::directory_iterator(dir / "s")) edit_tag(entry.path(), 0x0020, 0x000e, "1.2.3\tx");
  const IndexResult r = index_of(dir.path());
  EXPECT_TRUE(r.scans.empty());
  ASSERT_EQ(r.report.size(), 1u);
  EXPECT_NE(r.report[0].reason.find("not a valid UID"), std::string::npos) << r.report[0].reason;
}

// Reads a tilted stack back onto its planes' orthogonal grid and checks every interior voxel
// against the field at the voxel's physical position: the shear must be undone, whatever its sign.
void expect_physically_correct(double tilt_degrees) {
  test::TempDir dir;
  const WrittenSeries s = write_ct(dir / "s", 1, 30, tilt_degrees);
  const ImageVolume v = io::read_image(s.reference());
  const Geometry& g = v.geometry;
  EXPECT_NEAR(g.spacing_mm[2], 2.0, 1e-4);
  double worst = 0;
  std::int64_t checked = 0;
  // Slice k's pixels moved by k·shift rows; only voxels whose source lies inside are compared.
  const double shift = 2.0 * std::tan(tilt_degrees * M_PI / 180.0) / 1.2;
  for (std::int64_t k = 0; k < g.size[2]; ++k)
    for (std::int64_t j = 0; j < g.size[1]; ++j)
      for (std::int64_t i = 0; i < g.size[0]; ++i) {
        const double source_row = double(j) - double(k) * shift;
        if (source_row < 0 || source_row > double(g.size[1] - 1)) continue;
        const double truth = field_hu(index_to_physical(g, {double(i), double(j), double(k)}));
        worst = std::max(worst, std::abs(double(v.at(i, j, k)) - truth));
        ++checked;
      }
  EXPECT_GT(checked, 20000);
  // Rounding to whole HU (0.5), plus, with a tilt, the bilinear error of a field that curves
  // by at most 1.4 HU/mm² over 1.2 mm rows (about 0.3 HU).
  EXPECT_LT(worst, tilt_degrees == 0 ? 0.51 : 1.0) << "tilt " << tilt_degrees;
}

TEST(SeriesVolume, UntiltedStackIsReadExactly) { expect_physically_correct(0); }
TEST(SeriesVolume, PositiveGantryTiltIsCorrected) { expect_physically_correct(18); }
TEST(SeriesVolume, NegativeGantryTiltIsCorrected) { expect_physically_correct(-22); }

// Re-saves every file of a folder in another transfer syntax (compressing where it asks to).
void resave(const fs::path& folder, E_TransferSyntax syntax) {
  static const bool registered = [] {
    DcmRLEEncoderRegistration::registerCodecs();
    DJLSEncoderRegistration::registerCodecs();
    return true;
  }();
  ASSERT_TRUE(registered);
  for (const auto& entry : fs::directory_iterator(folder)) {
    DcmFileFormat dicom;
    ASSERT_TRUE(dicom.loadFile(entry.path().c_str()).good());
    ASSERT_TRUE(dicom.getDataset()->chooseRepresentation(syntax, nullptr).good()) << entry.path();
    ASSERT_TRUE(dicom.saveFile(entry.path().c_str(), syntax).good()) << entry.path();
  }
}

// PACS exports come in implicit VR and compressed: the same slices must index (none taken for
// truncated) and read to the same voxels.
TEST(SeriesVolume, ImplicitVrAndCompressedSeriesReadTheSameVoxels) {
  test::TempDir dir;
  const WrittenSeries plain = write_ct(dir / "plain", 1, 12);
  const WrittenSeries implicit = write_ct(dir / "implicit", 2, 12);
  const WrittenSeries rle = write_ct(dir / "rle", 3, 12);
  const WrittenSeries jpeg_ls = write_ct(dir / "jpeg_ls", 4, 12);
  resave(implicit.folder, EXS_LittleEndianImplicit);
  resave(rle.folder, EXS_RLELossless);
  resave(jpeg_ls.folder, EXS_JPEGLSLossless);
  const IndexResult r = index_of(dir.path());
  EXPECT_TRUE(r.skipped.empty()) << r.skipped.front().path << ": " << r.skipped.front().reason;
  EXPECT_EQ(r.report.size(), 4u);
  const ImageVolume expected = io::read_image(plain.reference());
  for (const auto* s : {&implicit, &rle, &jpeg_ls}) {
    const ImageVolume v = io::read_image(s->reference());
    EXPECT_EQ(v.geometry, expected.geometry) << s->folder;
    EXPECT_EQ(v.voxels, expected.voxels) << s->folder;
  }
}

TEST(SeriesVolume, BudgetIsCheckedBeforeTheVoxelsAreRead) {
  test::TempDir dir;
  const WrittenSeries s = write_ct(dir / "s", 1, 12);
  io::ReadLimits limits;
  limits.max_voxels = 1000;
  EXPECT_THROW(io::read_image_header(s.reference(), limits), ImageError);
  EXPECT_THROW(io::read_image(series_reference_path(dir / "s", "1.2.3.999")), ImageError);
  EXPECT_THROW(io::read_image(series_reference_path(dir / "none", s.uid)), ImageError);
}

}  // namespace
}  // namespace nc::dicom
