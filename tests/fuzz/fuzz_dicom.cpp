// libFuzzer target: a DICOM file's header through DCMTK into dicom::SliceHeader, the stacking
// checks and the selection rules, and, for small images, the pixel decoding into a volume
// (dicom/series_volume.hpp). The input is the file. DCMTK itself is not instrumented: ASan
// still checks what it copies into neurocohort's buffers.
#include <cstdint>
#include <variant>

#include "core/error.hpp"
#include "dicom/selection.hpp"
#include "dicom/series_volume.hpp"
#include "tests/fuzz/temp_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const nc::fuzz::TempFile file(".dcm");
  const auto& path = file.write(data, size);
  auto read = nc::dicom::read_slice_header(path, {0x0008, 0x0080});
  auto* header = std::get_if<nc::dicom::SliceHeader>(&read);
  if (!header) return 0;
  // The file twice, one slice apart: a two-slice stack through every check.
  nc::dicom::SliceHeader second = *header;
  if (second.position_mm) (*second.position_mm)[2] += 1.0;
  auto series = nc::dicom::group_series({*header, second});
  for (auto& s : series) nc::dicom::check_stack(s);
  std::vector<const nc::dicom::Series*> study;
  for (const auto& s : series) study.push_back(&s);
  nc::dicom::SelectionRules rules;
  rules.min_slices = 2;
  (void)nc::dicom::select_series(study, rules);
  if (series.size() == 1 && series[0].problem.empty() &&
      std::int64_t(header->rows) * header->columns <= (std::int64_t{1} << 20)) {
    nc::dicom::SeriesLayout layout;
    layout.series = series[0];
    layout.geometry.size = {header->columns, header->rows, 2};
    try {
      const auto volume = nc::dicom::read_series_voxels(layout);
      if (volume.voxels.size() != std::size_t(header->columns) * std::size_t(header->rows) * 2) __builtin_trap();
    } catch (const nc::Error&) {
    }
  }
  return 0;
}
