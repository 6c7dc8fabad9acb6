#include "dicom/series_volume.hpp"

#include <dcmtk/config/osconfig.h>  // first, as DCMTK requires
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "dicom/dcmtk_setup.hpp"

namespace nc::dicom {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> files_in(const fs::path& folder, const std::string& reference) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
    if (fs::is_regular_file(it->path(), ec)) files.push_back(it->path());
  if (ec) throw ImageError(reference, "cannot list the folder (" + ec.message() + ")");
  std::sort(files.begin(), files.end());
  return files;
}

// Pixel layout of one slice, checked: the stored bits sit at HighBit and below.
struct PixelLayout {
  int allocated = 16, stored = 16, high = 15;
  bool is_signed = false;
};

template <typename T>
void rescale_into(const T* raw, std::size_t count, const PixelLayout& layout, double slope, double intercept,
                  float* out) {
  const int shift = layout.high + 1 - layout.stored;
  const std::uint32_t mask = layout.stored >= 32 ? 0xffffffffU : (std::uint32_t{1} << layout.stored) - 1;
  const std::uint32_t sign = std::uint32_t{1} << (layout.stored - 1);
  for (std::size_t n = 0; n < count; ++n) {
    const std::uint32_t bits = (std::uint32_t(raw[n]) >> shift) & mask;
    // Two's complement in `stored` bits, sign-extended.
    const double value =
        layout.is_signed && (bits & sign) ? double(std::int64_t(bits) - (std::int64_t(mask) + 1)) : double(bits);
    out[n] = float(value * slope + intercept);
  }
}

Uint16 uint16_or(DcmDataset& ds, const DcmTagKey& tag, Uint16 fallback) {
  Uint16 value = fallback;
  return ds.findAndGetUint16(tag, value).good() ? value : fallback;
}

double float64_or(DcmDataset& ds, const DcmTagKey& tag, double fallback) {
  Float64 value = fallback;
  return ds.findAndGetFloat64(tag, value).good() ? value : fallback;
}

// One slice's pixels, decoded by DCMTK (compressed transfer syntaxes too) and rescaled.
void decode_slice(const SliceHeader& slice, const std::string& reference, float* out) {
  initialise_dcmtk();
  const std::string name = slice.path.filename().string();
  DcmFileFormat file;
  if (file.loadFile(slice.path.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_fileOnly).bad())
    throw ImageError(reference, name + ": DCMTK cannot read the file");
  DcmDataset& ds = *file.getDataset();
  const DcmXfer syntax(ds.getOriginalXfer());
  if (syntax.isEncapsulated() && ds.chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad())
    throw ImageError(reference, name + ": cannot decompress the pixel data (" + syntax.getXferName() + ")");
  if (uint16_or(ds, DCM_Rows, 0) != slice.rows || uint16_or(ds, DCM_Columns, 0) != slice.columns)
    throw ImageError(reference, name + ": the image size differs from its header");
  PixelLayout layout;
  layout.allocated = uint16_or(ds, DCM_BitsAllocated, 0);
  layout.stored = uint16_or(ds, DCM_BitsStored, Uint16(layout.allocated));
  layout.high = uint16_or(ds, DCM_HighBit, Uint16(layout.stored - 1));
  layout.is_signed = uint16_or(ds, DCM_PixelRepresentation, 0) == 1;
  if ((layout.allocated != 8 && layout.allocated != 16 && layout.allocated != 32) || layout.stored < 1 ||
      layout.stored > layout.allocated || layout.high < layout.stored - 1 || layout.high >= layout.allocated)
    throw ImageError(reference, name + ": unsupported pixel layout (BitsAllocated " + std::to_string(layout.allocated) +
                                    ", BitsStored " + std::to_string(layout.stored) + ", HighBit " +
                                    std::to_string(layout.high) + ")");
  const double slope = float64_or(ds, DCM_RescaleSlope, 1.0), intercept = float64_or(ds, DCM_RescaleIntercept, 0.0);
  if (!std::isfinite(slope) || !std::isfinite(intercept) || slope == 0)
    throw ImageError(reference, name + ": invalid RescaleSlope or RescaleIntercept");
  DcmElement* pixels = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, pixels).bad() || !pixels)
    throw ImageError(reference, name + ": no pixel data");
  const std::size_t count = std::size_t(slice.columns) * std::size_t(slice.rows);
  if (std::size_t(pixels->getLength()) < count * std::size_t(layout.allocated / 8))
    throw ImageError(reference, name + ": pixel data shorter than the image");
  bool decoded = false;
  if (layout.allocated == 8) {
    Uint8* raw = nullptr;
    decoded = pixels->getUint8Array(raw).good() && raw;
    if (decoded) rescale_into(raw, count, layout, slope, intercept, out);
  } else if (layout.allocated == 16) {
    Uint16* raw = nullptr;
    decoded = pixels->getUint16Array(raw).good() && raw;
    if (decoded) rescale_into(raw, count, layout, slope, intercept, out);
  } else {
    Uint32* raw = nullptr;
    decoded = pixels->getUint32Array(raw).good() && raw;
    if (decoded) rescale_into(raw, count, layout, slope, intercept, out);
  }
  if (!decoded)
    throw ImageError(reference,
                     name + ": cannot read the pixel data as " + std::to_string(layout.allocated) + "-bit values");
}

// Bilinear sample of one slice at continuous (x, y); `fill` outside.
float sample_slice(const float* slice, std::int64_t nx, std::int64_t ny, double x, double y, float fill) {
  if (!(x >= 0 && y >= 0 && x <= double(nx - 1) && y <= double(ny - 1))) return fill;
  const std::int64_t x0 = std::min<std::int64_t>(std::int64_t(x), nx - 2),
                     y0 = std::min<std::int64_t>(std::int64_t(y), ny - 2);
  const double fx = x - double(x0), fy = y - double(y0);
  const float* p = slice + y0 * nx + x0;
  const double top = p[0] + fx * (p[1] - p[0]);
  const double bottom = p[nx] + fx * (p[nx + 1] - p[nx]);
  return float(top + fy * (bottom - top));
}

// Shifts slice k back by k times the per-slice shear, onto the planes' orthogonal grid.
void remove_shear(ImageVolume& volume, const StackGeometry& g) {
  const std::int64_t nx = volume.geometry.size[0], ny = volume.geometry.size[1], nz = volume.geometry.size[2];
  const float fill = *std::min_element(volume.voxels.begin(), volume.voxels.end());
  const double dx = g.shear_row_mm / g.row_spacing_mm, dy = g.shear_column_mm / g.column_spacing_mm;
  tbb::parallel_for(std::int64_t{0}, nz, [&](std::int64_t k) {
    float* slice = volume.voxels.data() + k * nx * ny;
    const std::vector<float> input(slice, slice + nx * ny);
    for (std::int64_t j = 0; j < ny; ++j)
      for (std::int64_t i = 0; i < nx; ++i)
        slice[j * nx + i] =
            sample_slice(input.data(), nx, ny, double(i) - double(k) * dx, double(j) - double(k) * dy, fill);
  });
}

}  // namespace

SeriesLayout read_series_layout(const SeriesReference& reference) {
  const std::string name = series_reference_path(reference.folder, reference.series_uid).string();
  std::error_code ec;
  if (!fs::is_directory(reference.folder, ec)) throw ImageError(name, "the series folder does not exist");
  const auto files = files_in(reference.folder, name);
  std::vector<char> matches(files.size(), 0);
  tbb::parallel_for(std::size_t{0}, files.size(),
                    [&](std::size_t n) { matches[n] = read_series_uid(files[n]) == reference.series_uid; });
  SeriesLayout layout;
  layout.series.series_uid = reference.series_uid;
  for (std::size_t n = 0; n < files.size(); ++n) {
    if (!matches[n]) continue;
    auto header = read_slice_header(files[n], Tag{0x0008, 0x0080});
    if (auto* skipped = std::get_if<SkippedFile>(&header))
      throw ImageError(name, files[n].filename().string() + ": " + skipped->reason);
    layout.series.slices.push_back(std::move(std::get<SliceHeader>(header)));
  }
  if (layout.series.slices.empty()) throw ImageError(name, "the folder holds no file of this series");
  layout.series.study_uid = layout.series.first().study_uid;
  check_stack(layout.series);
  if (!layout.series.problem.empty()) throw ImageError(name, "the series is not one volume: " + layout.series.problem);
  const StackGeometry& g = layout.series.geometry;
  Geometry& out = layout.geometry;
  out.size = {layout.series.first().columns, layout.series.first().rows, std::int64_t(layout.series.slices.size())};
  out.spacing_mm = {g.row_spacing_mm, g.column_spacing_mm, g.slice_spacing_mm};
  out.origin_mm = g.first_position_mm;
  for (int r = 0; r < 3; ++r) {
    out.direction[r * 3 + 0] = g.row[r];
    out.direction[r * 3 + 1] = g.column[r];
    out.direction[r * 3 + 2] = g.normal[r];
  }
  return layout;
}

ImageVolume read_series_voxels(const SeriesLayout& layout) {
  const std::string name =
      series_reference_path(layout.series.first().path.parent_path(), layout.series.series_uid).string();
  ImageVolume volume(layout.geometry);
  const std::size_t per_slice = std::size_t(layout.geometry.size[0] * layout.geometry.size[1]);
  tbb::parallel_for(std::size_t{0}, layout.series.slices.size(), [&](std::size_t k) {
    decode_slice(layout.series.slices[k], name, volume.voxels.data() + k * per_slice);
  });
  const StackGeometry& g = layout.series.geometry;
  // Below a hundredth of a voxel over the whole stack, the shear is rounding, not tilt.
  const double drift =
      std::max(std::abs(g.shear_row_mm / g.row_spacing_mm), std::abs(g.shear_column_mm / g.column_spacing_mm)) *
      double(layout.geometry.size[2]);
  if (drift > 0.01) remove_shear(volume, g);
  return volume;
}

}  // namespace nc::dicom
