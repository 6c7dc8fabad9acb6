#include "dicom/series_writer.hpp"

#include <dcmtk/config/osconfig.h>  // first, as DCMTK requires
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "core/error.hpp"
#include "dicom/dcmtk_setup.hpp"

namespace nc::dicom {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCtImageStorage = "1.2.840.10008.5.1.4.1.1.2";
constexpr const char* kMrImageStorage = "1.2.840.10008.5.1.4.1.1.4";
constexpr int kCtIntercept = -1024;

void put(DcmDataset& ds, const DcmTagKey& tag, const std::string& value) {
  if (ds.putAndInsertString(tag, value.c_str()).bad())
    throw Error("DCMTK refused the value of " + std::string(DcmTag(tag).getTagName()), Cause::Runtime);
}

void put_us(DcmDataset& ds, const DcmTagKey& tag, std::uint16_t value) {
  if (ds.putAndInsertUint16(tag, value).bad())
    throw Error("DCMTK refused the value of " + std::string(DcmTag(tag).getTagName()), Cause::Runtime);
}

std::string decimal(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.10g", v);  // at most 16 characters, the DS limit
  return text;
}

std::string decimals(std::initializer_list<double> values) {
  std::string out;
  for (const double v : values) {
    if (!out.empty()) out += '\\';
    out += decimal(v);
  }
  return out;
}

void write_file(DcmFileFormat& file, const fs::path& path) {
  // The meta header (SOP class and instance, transfer syntax) is made from the dataset.
  if (file.saveFile(path.c_str(), EXS_LittleEndianExplicit).bad())
    throw Error(path.string() + ": DCMTK cannot write the file", Cause::Runtime);
}

// The tags every slice of the series shares.
void put_series_tags(DcmDataset& ds, const SeriesTags& t, const SlicePlacement& p) {
  const bool ct = t.modality == "CT";
  put(ds, DCM_ImageType, t.image_type);
  put(ds, DCM_SOPClassUID, ct ? UID_CTImageStorage : UID_MRImageStorage);
  put(ds, DCM_StudyDate, t.study_date);
  put(ds, DCM_Modality, t.modality);
  put(ds, DCM_InstitutionName, t.institution);
  put(ds, DCM_SeriesDescription, t.description);
  put(ds, DCM_PatientName, t.patient_name);
  put(ds, DCM_PatientID, t.patient_id);
  if (!t.birth_date.empty()) put(ds, DCM_PatientBirthDate, t.birth_date);
  put(ds, DCM_PatientSex, t.patient_sex);
  if (!t.patient_age.empty()) put(ds, DCM_PatientAge, t.patient_age);
  put(ds, DCM_SliceThickness, decimal(p.slice_thickness_mm));
  if (ct) {
    put(ds, DCM_GantryDetectorTilt, decimal(t.gantry_tilt_degrees));
    put(ds, DCM_ConvolutionKernel, t.kernel);
  } else {
    put(ds, DCM_ScanningSequence, t.scanning_sequence);
    put(ds, DCM_MRAcquisitionType, t.mr_acquisition_type);
    put(ds, DCM_RepetitionTime, decimal(t.repetition_time_ms));
    put(ds, DCM_EchoTime, decimal(t.echo_time_ms));
  }
  put(ds, DCM_StudyInstanceUID, t.study_uid);
  put(ds, DCM_SeriesInstanceUID, t.series_uid);
  put(ds, DCM_SeriesNumber, std::to_string(t.series_number));
  put(ds, DCM_ImageOrientationPatient, decimals({p.row[0], p.row[1], p.row[2], p.column[0], p.column[1], p.column[2]}));
  put_us(ds, DCM_SamplesPerPixel, 1);
  put(ds, DCM_PhotometricInterpretation, "MONOCHROME2");
  put(ds, DCM_PixelSpacing, decimals({p.column_spacing_mm, p.row_spacing_mm}));
  put_us(ds, DCM_BitsAllocated, 16);
  put_us(ds, DCM_BitsStored, 16);
  put_us(ds, DCM_HighBit, 15);
  put_us(ds, DCM_PixelRepresentation, ct ? 1 : 0);
  if (ct) {
    put(ds, DCM_RescaleIntercept, std::to_string(kCtIntercept));
    put(ds, DCM_RescaleSlope, "1");
  }
}

}  // namespace

std::string uid_from(std::uint64_t value) { return "2.25." + std::to_string(value); }

void write_series(const Volume<std::int16_t>& stack, const SlicePlacement& p, const SeriesTags& tags,
                  const fs::path& folder, std::uint64_t uid_seed) {
  initialise_dcmtk();
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw Error(folder.string() + ": cannot create folder: " + ec.message(), Cause::Runtime);
  const std::int64_t nx = stack.geometry.size[0], ny = stack.geometry.size[1], nz = stack.geometry.size[2];
  const bool ct = tags.modality == "CT";
  DcmFileFormat file;
  DcmDataset& ds = *file.getDataset();
  put_series_tags(ds, tags, p);
  put_us(ds, DCM_Rows, std::uint16_t(ny));
  put_us(ds, DCM_Columns, std::uint16_t(nx));
  std::vector<Uint16> pixels(std::size_t(nx * ny));
  for (std::int64_t k = 0; k < nz; ++k) {
    put(ds, DCM_SOPInstanceUID, uid_from(uid_seed * 100003ULL + std::uint64_t(k) + 1));
    put(ds, DCM_InstanceNumber, std::to_string(k + 1));
    const auto& o = p.first_position_mm;
    const auto& a = p.advance_mm;
    put(ds, DCM_ImagePositionPatient,
        decimals({o[0] + double(k) * a[0], o[1] + double(k) * a[1], o[2] + double(k) * a[2]}));
    const std::int16_t* slice = stack.voxels.data() + k * nx * ny;
    // CT: stored = HU − intercept, as signed 16-bit; MR: the value, unsigned.
    for (std::size_t n = 0; n < pixels.size(); ++n)
      pixels[n] = ct ? Uint16(std::int16_t(std::clamp(int(slice[n]) - kCtIntercept, -32768, 32767)))
                     : Uint16(std::max<int>(slice[n], 0));
    if (ds.putAndInsertUint16Array(DCM_PixelData, pixels.data(), static_cast<unsigned long>(pixels.size())).bad())
      throw Error("DCMTK refused the pixel data", Cause::Runtime);
    char name[32];
    std::snprintf(name, sizeof name, "IM%05lld", static_cast<long long>(k + 1));
    write_file(file, folder / name);
  }
}

void write_directory_stub(const fs::path& path) {
  initialise_dcmtk();
  DcmFileFormat file;
  DcmDataset& ds = *file.getDataset();
  put(ds, DCM_FileSetID, "SYNTH");
  put(ds, DCM_SOPClassUID, UID_MediaStorageDirectoryStorage);
  put(ds, DCM_SOPInstanceUID, uid_from(0xD1C0D1ULL));
  ds.putAndInsertUint32(DCM_OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity, 0);
  ds.putAndInsertUint32(DCM_OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity, 0);
  put_us(ds, DCM_FileSetConsistencyFlag, 0);
  // An empty Directory Record Sequence: a file set that lists nothing.
  ds.insert(new DcmSequenceOfItems(DCM_DirectoryRecordSequence));
  write_file(file, path);
}

}  // namespace nc::dicom
