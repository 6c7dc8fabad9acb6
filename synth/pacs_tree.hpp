#pragma once
/// \file
/// The synthetic cohort as a hospital's DICOM export (`synth --format dicom`): one study per
/// subject in nested folders with meaningless names, the series to segment beside the ones a
/// PACS also holds (CT: bone kernel, thick slices, an exact duplicate, a scout; MR: a 3-D T1
/// beside a localizer and a 2-D T2), and junk (a text file, a DICOMDIR, a truncated file, a
/// study whose only series misses a slice, a study whose age fields contradict each other).
/// dicom_truth.tsv says what `neurocohort index` must decide for every series and file.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/volume.hpp"

namespace nc::synth {

/// What the headers say about a subject.
struct PacsSubject {
  int index = 0;
  std::string scan_id, sex, site;
  double age_years = 1;
  bool ct = true;
  double tilt_degrees = 0;
};

class PacsTree {
 public:
  /// Creates `out_dir`/dicom and `out_dir`/dicom_truth.tsv.
  PacsTree(const std::filesystem::path& out_dir, std::uint64_t seed);

  /// The subject's study from its scan, stored on `image`'s grid. For a tilted CT, `image`
  /// lies on the sheared grid of a gantry tilt (slices advancing along the table axis).
  void add_study(const PacsSubject& subject, const Volume<std::int16_t>& image);

  /// The junk files and the two studies that must not reach the manifest.
  void add_junk();

 private:
  std::filesystem::path folder_for(std::uint64_t patient, std::uint64_t study, std::uint64_t series) const;
  void record(const std::string& subject, const std::string& study_uid, const std::string& series_uid,
              const std::filesystem::path& folder, const char* role, const char* expected);

  std::filesystem::path root_, out_dir_;
  std::uint64_t seed_;
  std::ofstream truth_;
};

}  // namespace nc::synth
