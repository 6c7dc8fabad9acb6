#pragma once
// Writes test inputs through ITK directly (formats and shapes that neurocohort itself never
// writes: NRRD, MetaImage, DICOM series, 2-D and 4-D images).

#include <itkGDCMImageIO.h>
#include <itkImage.h>
#include <itkImageFileWriter.h>
#include <itkImageSeriesWriter.h>
#include <itkMetaDataObject.h>
#include <itkMetaImageIOFactory.h>
#include <itkNiftiImageIOFactory.h>
#include <itkNrrdImageIOFactory.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/volume.hpp"

namespace nc::test {

inline void register_test_io() {
  static const bool once = [] {
    itk::NiftiImageIOFactory::RegisterOneFactory();
    itk::NrrdImageIOFactory::RegisterOneFactory();
    itk::MetaImageIOFactory::RegisterOneFactory();
    return true;
  }();
  (void)once;
}

template <typename T>
typename itk::Image<T, 3>::Pointer to_itk(const Volume<T>& v) {
  auto image = itk::Image<T, 3>::New();
  typename itk::Image<T, 3>::SizeType size;
  typename itk::Image<T, 3>::SpacingType spacing;
  typename itk::Image<T, 3>::PointType origin;
  typename itk::Image<T, 3>::DirectionType direction;
  for (unsigned a = 0; a < 3; ++a) {
    size[a] = itk::SizeValueType(v.geometry.size[a]);
    spacing[a] = v.geometry.spacing_mm[a];
    origin[a] = v.geometry.origin_mm[a];
    for (unsigned c = 0; c < 3; ++c) direction(a, c) = v.geometry.direction[a * 3 + c];
  }
  image->SetRegions(typename itk::Image<T, 3>::RegionType(size));
  image->SetSpacing(spacing);
  image->SetOrigin(origin);
  image->SetDirection(direction);
  image->Allocate();
  std::copy(v.voxels.begin(), v.voxels.end(), image->GetBufferPointer());
  return image;
}

template <typename ImageType>
void write_itk_image(const typename ImageType::Pointer& image, const std::filesystem::path& path) {
  register_test_io();
  auto writer = itk::ImageFileWriter<ImageType>::New();
  writer->SetFileName(path.string());
  writer->SetInput(image);
  writer->SetUseCompression(path.extension() == ".gz");
  writer->Update();
}

/// A blank N-D float image of the given size (for the 2-D and 4-D refusal tests).
template <unsigned N>
void write_blank_image(const std::array<unsigned, N>& dims, const std::filesystem::path& path) {
  using ImageType = itk::Image<float, N>;
  auto image = ImageType::New();
  typename ImageType::SizeType size;
  for (unsigned a = 0; a < N; ++a) size[a] = dims[a];
  image->SetRegions(typename ImageType::RegionType(size));
  image->Allocate();
  image->FillBuffer(1.0f);
  write_itk_image<ImageType>(image, path);
}

/// Writes an axial DICOM series (one file per k slice) with explicit positions, spacing and
/// orientation per slice, as a scanner would.
inline void write_dicom_series(const Volume<std::int16_t>& v, const std::filesystem::path& folder) {
  using Image3 = itk::Image<std::int16_t, 3>;
  using Image2 = itk::Image<std::int16_t, 2>;
  std::filesystem::create_directories(folder);
  auto io = itk::GDCMImageIO::New();
  io->KeepOriginalUIDOn();
  auto writer = itk::ImageSeriesWriter<Image3, Image2>::New();
  writer->SetInput(to_itk(v));
  writer->SetImageIO(io);
  std::vector<std::string> names;
  auto dictionaries = std::make_unique<std::vector<itk::MetaDataDictionary*>>();
  std::vector<std::unique_ptr<itk::MetaDataDictionary>> owned;
  const auto& g = v.geometry;
  char text[256];
  for (std::int64_t k = 0; k < g.size[2]; ++k) {
    names.push_back((folder / ("slice" + std::to_string(1000 + k) + ".dcm")).string());
    auto dict = std::make_unique<itk::MetaDataDictionary>();
    const Vec3 p = index_to_physical(g, {0, 0, double(k)});
    std::snprintf(text, sizeof text, "%.6f\\%.6f\\%.6f", p[0], p[1], p[2]);
    itk::EncapsulateMetaData<std::string>(*dict, "0020|0032", text);
    std::snprintf(text, sizeof text, "%.6f\\%.6f\\%.6f\\%.6f\\%.6f\\%.6f", g.direction[0], g.direction[3],
                  g.direction[6], g.direction[1], g.direction[4], g.direction[7]);
    itk::EncapsulateMetaData<std::string>(*dict, "0020|0037", text);
    std::snprintf(text, sizeof text, "%.6f\\%.6f", g.spacing_mm[1], g.spacing_mm[0]);
    itk::EncapsulateMetaData<std::string>(*dict, "0028|0030", text);
    std::snprintf(text, sizeof text, "%.6f", g.spacing_mm[2]);
    itk::EncapsulateMetaData<std::string>(*dict, "0018|0050", text);
    itk::EncapsulateMetaData<std::string>(*dict, "0020|0013", std::to_string(k + 1));
    itk::EncapsulateMetaData<std::string>(*dict, "0020|000e", "1.2.826.0.1.3680043.2.1125.1.1");
    itk::EncapsulateMetaData<std::string>(*dict, "0020|000d", "1.2.826.0.1.3680043.2.1125.1.2");
    itk::EncapsulateMetaData<std::string>(*dict, "0008|0060", "CT");
    dictionaries->push_back(dict.get());
    owned.push_back(std::move(dict));
  }
  writer->SetFileNames(names);
  writer->SetMetaDataDictionaryArray(dictionaries.get());
  writer->Update();
}

}  // namespace nc::test
