#include "synth/pacs_tree.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.hpp"
#include "dicom/series_writer.hpp"
#include "synth/splitmix.hpp"

namespace nc::synth {
namespace {

namespace fs = std::filesystem;

constexpr long kStudyDay = 19875;  // 2024-06-01, days since 1970-01-01

// Days since 1970-01-01 as a DICOM date (Howard Hinnant's civil_from_days).
std::string dicom_date(long days) {
  days += 719468;
  const long era = (days >= 0 ? days : days - 146096) / 146097;
  const long doe = days - era * 146097;
  const long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const long mp = (5 * doy + 2) / 153;
  const long d = doy - (153 * mp + 2) / 5 + 1;
  const long m = mp < 10 ? mp + 3 : mp - 9;
  const long y = yoe + era * 400 + (m <= 2);
  char text[64];
  std::snprintf(text, sizeof text, "%04ld%02ld%02ld", y, m, d);
  return text;
}

// PatientAge as a PACS writes it: completed months under two years, completed years after.
std::string patient_age(double years) {
  char text[32];
  if (years < 2)
    std::snprintf(text, sizeof text, "%03dM", int(std::floor(years * 12)));
  else
    std::snprintf(text, sizeof text, "%03dY", int(std::floor(years)));
  return text;
}

std::string hex8(std::uint64_t v) {
  char text[32];
  std::snprintf(text, sizeof text, "%08x", unsigned(v & 0xffffffffU));
  return text;
}

dicom::SlicePlacement placement_of(const Geometry& g) {
  dicom::SlicePlacement p;
  for (int r = 0; r < 3; ++r) {
    p.row[std::size_t(r)] = g.direction[r * 3 + 0];
    p.column[std::size_t(r)] = g.direction[r * 3 + 1];
    p.advance_mm[std::size_t(r)] = g.direction[r * 3 + 2] * g.spacing_mm[2];
  }
  p.first_position_mm = g.origin_mm;
  p.row_spacing_mm = g.spacing_mm[0];
  p.column_spacing_mm = g.spacing_mm[1];
  // The thickness is the distance between planes: the advance along the planes' normal.
  const auto& a = p.row;
  const auto& b = p.column;
  const std::array<double, 3> n{a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
  p.slice_thickness_mm = std::abs(n[0] * p.advance_mm[0] + n[1] * p.advance_mm[1] + n[2] * p.advance_mm[2]);
  return p;
}

// Every `step`-th slice from `first`, `count` of them (count 0: to the end).
Volume<std::int16_t> slices_of(const Volume<std::int16_t>& image, std::int64_t first, std::int64_t step,
                               std::int64_t count = 0) {
  const auto& g = image.geometry;
  const std::int64_t available = (g.size[2] - first + step - 1) / step;
  Geometry out = g;
  out.size[2] = count > 0 ? std::min(count, available) : available;
  out.spacing_mm[2] = g.spacing_mm[2] * double(step);
  const Vec3 origin = index_to_physical(g, {0, 0, double(first)});
  out.origin_mm = origin;
  Volume<std::int16_t> v(out);
  const std::int64_t plane = g.size[0] * g.size[1];
  for (std::int64_t k = 0; k < out.size[2]; ++k)
    std::copy_n(image.voxels.begin() + (first + k * step) * plane, plane, v.voxels.begin() + k * plane);
  return v;
}

// A small axial stack of noise about `level`, for the studies that never reach the manifest.
Volume<std::int16_t> small_stack(std::uint64_t seed, double level) {
  Geometry g;
  g.size = {64, 64, 40};
  g.spacing_mm = {3, 3, 3};
  g.origin_mm = {-96, -96, -60};
  Volume<std::int16_t> v(g);
  for (std::size_t n = 0; n < v.voxels.size(); ++n) v.voxels[n] = std::int16_t(level + double(splitmix(seed + n) % 40));
  return v;
}

// The tags of a 3-D T1-weighted MPRAGE series.
void set_t1_mprage(dicom::SeriesTags& tags, const std::string& description) {
  tags.modality = "MR";
  tags.image_type = "ORIGINAL\\PRIMARY\\M\\ND";
  tags.mr_acquisition_type = "3D";
  tags.scanning_sequence = "GR\\IR";
  tags.repetition_time_ms = 2000;
  tags.echo_time_ms = 2.9;
  tags.description = description;
}

}  // namespace

PacsTree::PacsTree(const fs::path& out_dir, std::uint64_t seed)
    : root_(out_dir / "dicom"), out_dir_(out_dir), seed_(seed) {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) throw Error(root_.string() + ": cannot create folder: " + ec.message(), Cause::Runtime);
  truth_.open(out_dir / "dicom_truth.tsv");
  if (!truth_) throw Error((out_dir / "dicom_truth.tsv").string() + ": cannot write", Cause::Runtime);
  truth_ << "subject\tstudy_uid\tseries_uid\tfolder\trole\texpected\n";
}

fs::path PacsTree::folder_for(std::uint64_t patient, std::uint64_t study, std::uint64_t series) const {
  return root_ / hex8(splitmix(seed_ ^ patient)) / hex8(splitmix(seed_ ^ study)) / hex8(splitmix(seed_ ^ series));
}

void PacsTree::record(const std::string& subject, const std::string& study_uid, const std::string& series_uid,
                      const fs::path& folder, const char* role, const char* expected) {
  truth_ << subject << '\t' << study_uid << '\t' << series_uid << '\t' << folder.lexically_relative(out_dir_).string()
         << '\t' << role << '\t' << expected << '\n';
  truth_.flush();
  if (!truth_) throw Error((out_dir_ / "dicom_truth.tsv").string() + ": cannot write", Cause::Runtime);
}

void PacsTree::add_study(const PacsSubject& s, const Volume<std::int16_t>& image) {
  const std::uint64_t base = splitmix(seed_ * 7919ULL + std::uint64_t(s.index) + 1);
  dicom::SeriesTags tags;
  char id[32];
  std::snprintf(id, sizeof id, "NCSYN%05d", s.index + 1);
  tags.patient_name = "SYNTH^" + s.scan_id;
  tags.patient_id = id;
  tags.patient_sex = s.sex;
  const long age_days = std::lround(s.age_years * 365.25);
  // Every third subject's export lacks the birth date: its age comes from PatientAge alone.
  if (s.index % 3 != 2) tags.birth_date = dicom_date(kStudyDay - age_days);
  tags.patient_age = patient_age(s.age_years);
  tags.study_date = dicom_date(kStudyDay);
  tags.institution = "Synthetic Children's Hospital " + s.site;
  tags.study_uid = dicom::uid_from(base);
  const auto series = [&](int number, const char* role, const char* expected, const Volume<std::int16_t>& stack) {
    tags.series_number = number;
    tags.series_uid = dicom::uid_from(base + std::uint64_t(number));
    const fs::path folder = folder_for(base, base + 1, base + 100 + std::uint64_t(number));
    dicom::write_series(stack, placement_of(stack.geometry), tags, folder, base + 1000 * std::uint64_t(number));
    record(s.scan_id, tags.study_uid, tags.series_uid, folder, role, expected);
  };
  const std::int64_t mid = image.geometry.size[2] / 2;
  if (s.ct) {
    tags.modality = "CT";
    tags.gantry_tilt_degrees = s.tilt_degrees;
    tags.image_type = "ORIGINAL\\PRIMARY\\LOCALIZER";
    tags.description = "Topogram 0.6 T20f";
    tags.kernel = "T20f";
    series(1, "scout", "rejected", slices_of(image, mid, 1, 1));
    tags.image_type = "ORIGINAL\\PRIMARY\\AXIAL";
    tags.description = "Head 0.6 H31s";
    tags.kernel = "H31s";
    series(2, "target", "chosen", image);
    tags.description = "Head 0.6 H70h bone";
    tags.kernel = "H70h";
    series(3, "bone_kernel", "not_chosen", image);
    tags.description = "Head 2.5 H31s";
    tags.kernel = "H31s";
    series(4, "thick_slices", "not_chosen", slices_of(image, 0, 4));
    tags.description = "Head 0.6 H31s";
    series(5, "duplicate", "not_chosen", image);
  } else {
    tags.modality = "MR";
    tags.mr_acquisition_type = "2D";
    tags.scanning_sequence = "GR";
    tags.repetition_time_ms = 8.6;
    tags.echo_time_ms = 4.0;
    tags.description = "localizer";
    tags.image_type = "ORIGINAL\\PRIMARY\\LOCALIZER";
    series(1, "localizer", "rejected", slices_of(image, mid - 1, 1, 3));
    set_t1_mprage(tags, "T1 MPRAGE 3D 1mm");
    series(2, "target", "chosen", image);
    tags.mr_acquisition_type = "2D";
    tags.scanning_sequence = "SE";
    tags.repetition_time_ms = 4000;
    tags.echo_time_ms = 100;
    tags.description = "T2 TSE axial 5mm";
    series(3, "t2_2d", "rejected", slices_of(image, 2, 5));
  }
}

void PacsTree::add_junk() {
  const std::uint64_t base = splitmix(seed_ * 104729ULL + 17);
  const fs::path junk = root_ / hex8(splitmix(base));
  std::error_code ec;
  fs::create_directories(junk, ec);
  {
    std::ofstream readme(root_ / "README.TXT");
    readme << "Exported by a synthetic PACS. Not a DICOM file.\n";
  }
  dicom::write_directory_stub(root_ / "DICOMDIR");
  record("-", "-", "-", root_ / "README.TXT", "text_file", "skipped");
  record("-", "-", "-", root_ / "DICOMDIR", "dicomdir", "skipped");

  dicom::SeriesTags tags;
  tags.patient_name = "SYNTH^EXTRA";
  tags.patient_id = "NCSYN-EXTRA";
  tags.patient_sex = "F";
  tags.study_date = dicom_date(kStudyDay);
  tags.institution = "Synthetic Children's Hospital A";
  tags.birth_date = dicom_date(kStudyDay - 3 * 365);
  tags.patient_age = "003Y";
  tags.image_type = "ORIGINAL\\PRIMARY\\AXIAL";

  // A CT study whose only series lost a slice: rejected from the positions, study without scan.
  tags.modality = "CT";
  tags.kernel = "H31s";
  tags.description = "Head 3.0 H31s";
  tags.study_uid = dicom::uid_from(base + 1);
  tags.series_uid = dicom::uid_from(base + 2);
  const fs::path gap = folder_for(base, base + 1, base + 2);
  const Volume<std::int16_t> gap_stack = small_stack(base, 30);
  dicom::write_series(gap_stack, placement_of(gap_stack.geometry), tags, gap, base + 3);
  fs::remove(gap / "IM00020");
  record("extra-gap", tags.study_uid, tags.series_uid, gap, "missing_slice", "rejected");

  // An MR study whose PatientAge contradicts its birth and study dates.
  set_t1_mprage(tags, "T1 MPRAGE 3D");
  tags.patient_age = "010Y";
  tags.study_uid = dicom::uid_from(base + 4);
  tags.series_uid = dicom::uid_from(base + 5);
  const fs::path contradiction = folder_for(base, base + 4, base + 5);
  const Volume<std::int16_t> contradiction_stack = small_stack(base + 9, 300);
  dicom::write_series(contradiction_stack, placement_of(contradiction_stack.geometry), tags, contradiction, base + 6);
  record("extra-age", tags.study_uid, tags.series_uid, contradiction, "contradictory_age", "left_out");

  // A truncated file: the first half of one slice, alone in its folder.
  const fs::path whole = contradiction / "IM00001";
  const auto bytes = fs::file_size(whole);
  std::ifstream in(whole, std::ios::binary);
  std::string head(bytes / 2, '\0');
  in.read(head.data(), std::streamsize(head.size()));
  std::ofstream(junk / "IM00001", std::ios::binary) << head;
  record("-", "-", "-", junk / "IM00001", "truncated_file", "skipped");
}

}  // namespace nc::synth
