#include "io/image_io.hpp"

#include <itkGDCMImageIO.h>
#include <itkGDCMImageIOFactory.h>
#include <itkGDCMSeriesFileNames.h>
#include <itkImage.h>
#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkImageIOFactory.h>
#include <itkImageSeriesReader.h>
#include <itkMetaImageIOFactory.h>
#include <itkNiftiImageIOFactory.h>
#include <itkNrrdImageIOFactory.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <sstream>

#include "core/error.hpp"
#include "core/huge_pages.hpp"
#include "dicom/series_volume.hpp"
#include "io/image_preflight.hpp"
#include "io/label_values.hpp"
#include "io/nifti_voxels.hpp"

namespace nc::io {
namespace {

namespace fs = std::filesystem;

template <typename T>
using ItkImage = itk::Image<T, 3>;

// Only the IO modules neurocohort links are registered, explicitly, so that no other
// ITK module (and its dependencies, such as fftw) is pulled in.
void register_image_io_factories() {
  static std::once_flag once;
  std::call_once(once, [] {
    itk::NiftiImageIOFactory::RegisterOneFactory();
    itk::NrrdImageIOFactory::RegisterOneFactory();
    itk::MetaImageIOFactory::RegisterOneFactory();
    itk::GDCMImageIOFactory::RegisterOneFactory();
  });
}

// ITK descriptions span several lines and repeat the file name; the first line is the reason.
std::string reason_of(const itk::ExceptionObject& e) {
  std::string text = e.GetDescription();
  if (const auto eol = text.find('\n'); eol != std::string::npos) text.resize(eol);
  while (!text.empty() && (text.back() == ' ' || text.back() == '.')) text.pop_back();
  return text.empty() ? std::string("ITK could not read the image") : text;
}

std::vector<std::string> largest_dicom_series(const fs::path& folder) {
  auto names = itk::GDCMSeriesFileNames::New();
  names->SetUseSeriesDetails(true);
  names->SetDirectory(folder.string());
  std::vector<std::string> best;
  for (const auto& uid : names->GetSeriesUIDs()) {
    auto files = names->GetFileNames(uid);
    if (files.size() > best.size()) best = files;
  }
  if (best.empty()) throw ImageError(folder.string(), "folder holds no DICOM series");
  return best;
}

template <typename T>
Geometry geometry_of(const ItkImage<T>& image) {
  Geometry g;
  const auto size = image.GetLargestPossibleRegion().GetSize();
  for (unsigned a = 0; a < 3; ++a) {
    g.size[a] = static_cast<std::int64_t>(size[a]);
    g.spacing_mm[a] = image.GetSpacing()[a];
    g.origin_mm[a] = image.GetOrigin()[a];
    for (unsigned c = 0; c < 3; ++c) g.direction[a * 3 + c] = image.GetDirection()(a, c);
  }
  return g;
}

void validate_geometry(const fs::path& path, const Geometry& g, const ReadLimits& limits) {
  std::ostringstream dims;
  dims << g.size[0] << "×" << g.size[1] << "×" << g.size[2];
  for (unsigned a = 0; a < 3; ++a) {
    if (g.size[a] == 0) throw ImageError(path.string(), "has zero size (" + dims.str() + ")");
    if (g.size[a] == 1)
      throw ImageError(path.string(), "is a single slice (" + dims.str() + "); a 3-D volume is required");
  }
  // Multiply in double: absurd headers would overflow int64.
  const double voxels = double(g.size[0]) * double(g.size[1]) * double(g.size[2]);
  if (voxels > double(limits.max_voxels)) {
    std::ostringstream why;
    why << "has " << dims.str() << " voxels, over the budget of " << limits.max_voxels
        << " (raise it with --max-voxels if the scan is genuine)";
    throw ImageError(path.string(), why.str());
  }
  for (unsigned a = 0; a < 3; ++a) {
    const double s = g.spacing_mm[a];
    if (!std::isfinite(s) || s < limits.min_spacing_mm || s > limits.max_spacing_mm) {
      std::ostringstream why;
      why << "has an invalid voxel spacing of " << s << " mm along axis " << a;
      throw ImageError(path.string(), why.str());
    }
    if (!std::isfinite(g.origin_mm[a])) throw ImageError(path.string(), "has a non-finite origin");
  }
  const auto& d = g.direction;
  const double det = d[0] * (d[4] * d[8] - d[5] * d[7]) - d[1] * (d[3] * d[8] - d[5] * d[6]) +
                     d[2] * (d[3] * d[7] - d[4] * d[6]);
  if (!std::isfinite(det) || std::abs(det) < 1e-6)
    throw ImageError(path.string(), "has a singular direction matrix");
}

ImageHeader header_from_image_io(const fs::path& path, itk::ImageIOBase& io) {
  io.SetFileName(path.string());
  io.ReadImageInformation();
  const unsigned ndim = io.GetNumberOfDimensions();
  // A 4-D file whose fourth axis has length 1 is a 3-D volume saved by a 4-D-minded tool.
  if (ndim < 3) throw ImageError(path.string(), "is " + std::to_string(ndim) + "-D; a 3-D volume is required");
  if (ndim > 3 && io.GetDimensions(3) != 1)
    throw ImageError(path.string(), "is 4-D with " + std::to_string(io.GetDimensions(3)) +
                                        " volumes; a single 3-D volume is required");
  if (io.GetNumberOfComponents() != 1)
    throw ImageError(path.string(), "has " + std::to_string(io.GetNumberOfComponents()) +
                                        " components per voxel; a scalar image is required");
  ImageHeader header;
  for (unsigned a = 0; a < 3; ++a) {
    header.geometry.size[a] = static_cast<std::int64_t>(io.GetDimensions(a));
    header.geometry.spacing_mm[a] = io.GetSpacing(a);
    header.geometry.origin_mm[a] = io.GetOrigin(a);
    const auto axis = io.GetDirection(a);
    for (unsigned r = 0; r < 3; ++r) header.geometry.direction[r * 3 + a] = axis[r];
  }
  header.pixel_type = itk::ImageIOBase::GetComponentTypeAsString(io.GetComponentType());
  return header;
}

void require_exists(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw ImageError(path.string(), "file not found");
}

template <typename T>
typename ItkImage<T>::Pointer read_itk(const fs::path& path, const ReadLimits& limits) {
  const ImageHeader header = read_image_header(path, limits);
  (void)header;  // read for its validation: the budget is checked before allocation
  try {
    if (fs::is_directory(path)) {
      auto reader = itk::ImageSeriesReader<ItkImage<T>>::New();
      reader->SetImageIO(itk::GDCMImageIO::New());
      reader->SetFileNames(largest_dicom_series(path));
      reader->Update();
      return reader->GetOutput();
    }
    auto reader = itk::ImageFileReader<ItkImage<T>>::New();
    reader->SetFileName(path.string());
    reader->Update();
    return reader->GetOutput();
  } catch (const itk::ExceptionObject& e) {
    throw ImageError(path.string(), reason_of(e));
  }
}

template <typename T>
void write_itk(const Volume<T>& volume, const fs::path& path) {
  register_image_io_factories();
  const Geometry& g = volume.geometry;
  auto image = ItkImage<T>::New();
  typename ItkImage<T>::SizeType size;
  typename ItkImage<T>::SpacingType spacing;
  typename ItkImage<T>::PointType origin;
  typename ItkImage<T>::DirectionType direction;
  for (unsigned a = 0; a < 3; ++a) {
    size[a] = static_cast<itk::SizeValueType>(g.size[a]);
    spacing[a] = g.spacing_mm[a];
    origin[a] = g.origin_mm[a];
    for (unsigned c = 0; c < 3; ++c) direction(a, c) = g.direction[a * 3 + c];
  }
  image->SetRegions(typename ItkImage<T>::RegionType(size));
  image->SetSpacing(spacing);
  image->SetOrigin(origin);
  image->SetDirection(direction);
  image->Allocate();
  std::copy(volume.voxels.begin(), volume.voxels.end(), image->GetBufferPointer());
  try {
    auto writer = itk::ImageFileWriter<ItkImage<T>>::New();
    writer->SetFileName(path.string());
    writer->SetInput(image);
    writer->SetUseCompression(path.extension() == ".gz");
    writer->Update();
  } catch (const itk::ExceptionObject& e) {
    throw ImageError(path.string(), "cannot write: " + reason_of(e), Cause::Runtime);
  }
}

}  // namespace

namespace {

// One series of a folder, named "<folder>#<SeriesInstanceUID>" (dicom/series_volume.hpp).
dicom::SeriesLayout series_layout(const fs::path& path, const dicom::SeriesReference& series, const ReadLimits& limits) {
  detail::preflight_image_files(series.folder, {.confine_to = limits.confine_to});
  dicom::SeriesLayout layout = dicom::read_series_layout(series);
  validate_geometry(path, layout.geometry, limits);
  return layout;
}

}  // namespace

namespace {

// A file that neurocohort's own NIfTI reader handles (nifti_voxels.hpp).
bool is_nifti_file(const fs::path& path) { return !fs::is_directory(path) && detail::is_nifti_path(path); }

}  // namespace

ImageHeader read_image_header(const fs::path& path, const ReadLimits& limits) {
  register_image_io_factories();
  if (const auto series = dicom::parse_series_reference(path))
    return {series_layout(path, *series, limits).geometry, "dicom"};
  require_exists(path);
  detail::preflight_image_files(path, {.confine_to = limits.confine_to});
  ImageHeader header;
  try {
    if (fs::is_directory(path)) {
      auto reader = itk::ImageSeriesReader<ItkImage<float>>::New();
      reader->SetImageIO(itk::GDCMImageIO::New());
      reader->SetFileNames(largest_dicom_series(path));
      reader->UpdateOutputInformation();
      header.geometry = geometry_of(*reader->GetOutput());
      header.pixel_type = "dicom";
    } else {
      auto io = itk::ImageIOFactory::CreateImageIO(path.string().c_str(),
                                                   itk::ImageIOFactory::IOFileModeEnum::ReadMode);
      if (!io) throw ImageError(path.string(), "not a readable image (unknown format or unreadable header)");
      header = header_from_image_io(path, *io);
    }
  } catch (const itk::ExceptionObject& e) {
    throw ImageError(path.string(), reason_of(e));
  }
  const bool nifti = is_nifti_file(path);
  if (nifti) detail::validate_nifti_header(path);
  validate_geometry(path, header.geometry, limits);
  if (nifti) detail::require_nifti_data_size(path);
  return header;
}

namespace {

// NIfTI voxels come through neurocohort's own reader (see nifti_voxels.hpp); every other
// format through ITK. Either way the geometry is ITK's.
ImageVolume read_float_volume(const fs::path& path, const ReadLimits& limits) {
  ImageVolume volume;
  if (const auto series = dicom::parse_series_reference(path)) {
    volume = dicom::read_series_voxels(series_layout(path, *series, limits));
  } else if (is_nifti_file(path)) {
    volume.geometry = read_image_header(path, limits).geometry;
    volume.voxels = detail::read_nifti_voxels(path, volume.geometry.voxel_count());
    return volume;
  } else {
    const auto image = read_itk<float>(path, limits);
    volume.geometry = geometry_of(*image);
    const float* data = image->GetBufferPointer();
    volume.voxels.assign(data, data + volume.geometry.voxel_count());
  }
  const auto non_finite = std::count_if(volume.voxels.begin(), volume.voxels.end(),
                                        [](float v) { return !std::isfinite(v); });
  if (non_finite > 0)
    throw ImageError(path.string(), "contains " + std::to_string(non_finite) + " NaN or infinite voxels");
  return volume;
}

}  // namespace

ImageVolume read_image(const fs::path& path, const ReadLimits& limits) { return read_float_volume(path, limits); }

LabelVolume read_label_image(const fs::path& path, const ReadLimits& limits) {
  if (!dicom::parse_series_reference(path) && is_nifti_file(path)) {
    LabelVolume direct;
    direct.geometry = read_image_header(path, limits).geometry;
    if (auto voxels = detail::read_nifti_labels(path, direct.geometry.voxel_count())) {
      direct.voxels = std::move(*voxels);
      return direct;
    }
  }
  // Read as float so that negative and fractional labels can be told apart from valid ones.
  const ImageVolume values = read_float_volume(path, limits);
  LabelVolume labels;
  labels.geometry = values.geometry;
  const float* data = values.voxels.data();
  labels.voxels = large_vector<std::uint16_t>(static_cast<std::size_t>(labels.geometry.voxel_count()));
  if (const auto bad = detail::to_labels(
          labels.voxels.size(), [data](std::size_t i) { return double(data[i]); }, labels.voxels.data()))
    throw ImageError(path.string(), detail::not_a_label_reason(*bad));
  return labels;
}

namespace {

// ITK 5.2 compresses NIfTI at zlib level 6 whatever it is told, which takes 13 s for a noisy
// 512×512×250 CT. So ITK writes the plain .nii (header and geometry stay ITK's) and neurocohort
// gzips it at level 1: 2 s, and only 3 % larger.
template <typename T>
void write_nifti_file(const Volume<T>& volume, const fs::path& path) {
  if (path.extension() != ".gz") return write_itk(volume, path);
  const fs::path plain = fs::path(path).concat(".partial.nii");
  write_itk(volume, plain);
  try {
    detail::gzip_file(plain, path, 1);
  } catch (...) {
    std::error_code ec;
    fs::remove(plain, ec);
    throw;
  }
  fs::remove(plain);
}

}  // namespace

void write_nifti(const ImageVolume& volume, const fs::path& path) { write_nifti_file(volume, path); }
void write_nifti(const LabelVolume& volume, const fs::path& path) { write_nifti_file(volume, path); }
void write_nifti(const Volume<std::uint8_t>& volume, const fs::path& path) { write_nifti_file(volume, path); }
void write_nifti(const Volume<std::int16_t>& volume, const fs::path& path) { write_nifti_file(volume, path); }

}  // namespace nc::io
