#pragma once
/// \file
/// A series: the slices of one SeriesInstanceUID, put in order along the slice normal and
/// checked as a volume from their positions (never from the file count): one size, one
/// orientation, one folder, evenly spaced planes with no gaps, and the shear between slices
/// that a gantry tilt leaves.

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "dicom/slice_header.hpp"

namespace nc::dicom {

/// The stacked geometry of a series whose slices passed the checks.
struct StackGeometry {
  std::array<double, 3> row{}, column{}, normal{};   ///< unit vectors; normal points the way slices advance
  std::array<double, 3> first_position_mm{};         ///< ImagePositionPatient of the first slice
  double row_spacing_mm = 0, column_spacing_mm = 0;  ///< along `row` (between columns), along `column`
  double slice_spacing_mm = 0;                       ///< between planes, along `normal`
  /// In-plane offset per slice (mm, along row and column) beyond the step along the normal:
  /// zero for an orthogonal stack, a gantry tilt's shear otherwise.
  double shear_row_mm = 0, shear_column_mm = 0;
  double tilt_degrees = 0;  ///< angle between the normal and the direction the slices advance
};

struct Series {
  std::string study_uid, series_uid;
  std::vector<SliceHeader> slices;  ///< in order along the normal once checked
  std::string problem;              ///< why the slices do not form a volume; empty when they do
  StackGeometry geometry;

  const SliceHeader& first() const { return slices.front(); }
};

/// Groups headers by (study, series) in a stable order: study UID, then series number and UID.
std::vector<Series> group_series(std::vector<SliceHeader> headers);

/// Sorts the slices along the normal and fills `geometry`, or sets `problem`: missing position
/// or orientation, multi-frame, mixed sizes, orientations or folders, duplicate positions,
/// missing slices (a gap of a whole number of steps), uneven spacing, or positions off a line.
void check_stack(Series& series);

/// The angle (degrees) between a stack's normal and the patient's head–foot axis.
double axial_obliquity_degrees(const StackGeometry& geometry);

}  // namespace nc::dicom
