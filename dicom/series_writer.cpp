#include "dicom/series_writer.hpp"

#include <gdcmDataSet.h>
#include <gdcmFile.h>
#include <gdcmFileMetaInformation.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmSmartPointer.h>
#include <gdcmWriter.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "core/error.hpp"

namespace nc::dicom {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCtImageStorage = "1.2.840.10008.5.1.4.1.1.2";
constexpr const char* kMrImageStorage = "1.2.840.10008.5.1.4.1.1.4";
constexpr int kCtIntercept = -1024;

void put(gdcm::DataSet& ds, std::uint16_t group, std::uint16_t element, gdcm::VR vr, std::string value) {
  if (value.size() % 2) value += vr == gdcm::VR::UI ? '\0' : ' ';
  gdcm::DataElement de(gdcm::Tag(group, element));
  de.SetVR(vr);
  de.SetByteValue(value.data(), std::uint32_t(value.size()));
  ds.Replace(de);
}

void put_us(gdcm::DataSet& ds, std::uint16_t group, std::uint16_t element, std::uint16_t value) {
  const char bytes[2] = {char(value & 0xff), char(value >> 8)};
  gdcm::DataElement de(gdcm::Tag(group, element));
  de.SetVR(gdcm::VR::US);
  de.SetByteValue(bytes, 2);
  ds.Replace(de);
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

void write_file(gdcm::File& file, const fs::path& path) {
  file.GetHeader().SetDataSetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
  gdcm::Writer writer;
  writer.SetFile(file);
  writer.SetFileName(path.string().c_str());
  writer.CheckFileMetaInformationOn();
  if (!writer.Write()) throw Error(path.string() + ": GDCM cannot write the file", Cause::Runtime);
}

// The tags every slice of the series shares.
void put_series_tags(gdcm::DataSet& ds, const SeriesTags& t, const SlicePlacement& p) {
  const bool ct = t.modality == "CT";
  put(ds, 0x0008, 0x0008, gdcm::VR::CS, t.image_type);
  put(ds, 0x0008, 0x0016, gdcm::VR::UI, ct ? kCtImageStorage : kMrImageStorage);
  put(ds, 0x0008, 0x0020, gdcm::VR::DA, t.study_date);
  put(ds, 0x0008, 0x0060, gdcm::VR::CS, t.modality);
  put(ds, 0x0008, 0x0080, gdcm::VR::LO, t.institution);
  put(ds, 0x0008, 0x103e, gdcm::VR::LO, t.description);
  put(ds, 0x0010, 0x0010, gdcm::VR::PN, t.patient_name);
  put(ds, 0x0010, 0x0020, gdcm::VR::LO, t.patient_id);
  if (!t.birth_date.empty()) put(ds, 0x0010, 0x0030, gdcm::VR::DA, t.birth_date);
  put(ds, 0x0010, 0x0040, gdcm::VR::CS, t.patient_sex);
  if (!t.patient_age.empty()) put(ds, 0x0010, 0x1010, gdcm::VR::AS, t.patient_age);
  put(ds, 0x0018, 0x0050, gdcm::VR::DS, decimal(p.slice_thickness_mm));
  if (ct) {
    put(ds, 0x0018, 0x1120, gdcm::VR::DS, decimal(t.gantry_tilt_degrees));
    put(ds, 0x0018, 0x1210, gdcm::VR::SH, t.kernel);
  } else {
    put(ds, 0x0018, 0x0020, gdcm::VR::CS, t.scanning_sequence);
    put(ds, 0x0018, 0x0023, gdcm::VR::CS, t.mr_acquisition_type);
    put(ds, 0x0018, 0x0080, gdcm::VR::DS, decimal(t.repetition_time_ms));
    put(ds, 0x0018, 0x0081, gdcm::VR::DS, decimal(t.echo_time_ms));
  }
  put(ds, 0x0020, 0x000d, gdcm::VR::UI, t.study_uid);
  put(ds, 0x0020, 0x000e, gdcm::VR::UI, t.series_uid);
  put(ds, 0x0020, 0x0011, gdcm::VR::IS, std::to_string(t.series_number));
  put(ds, 0x0020, 0x0037, gdcm::VR::DS,
      decimals({p.row[0], p.row[1], p.row[2], p.column[0], p.column[1], p.column[2]}));
  put_us(ds, 0x0028, 0x0002, 1);
  put(ds, 0x0028, 0x0004, gdcm::VR::CS, "MONOCHROME2");
  put(ds, 0x0028, 0x0030, gdcm::VR::DS, decimals({p.column_spacing_mm, p.row_spacing_mm}));
  put_us(ds, 0x0028, 0x0100, 16);
  put_us(ds, 0x0028, 0x0101, 16);
  put_us(ds, 0x0028, 0x0102, 15);
  put_us(ds, 0x0028, 0x0103, ct ? 1 : 0);
  if (ct) {
    put(ds, 0x0028, 0x1052, gdcm::VR::DS, std::to_string(kCtIntercept));
    put(ds, 0x0028, 0x1053, gdcm::VR::DS, "1");
  }
}

}  // namespace

std::string uid_from(std::uint64_t value) { return "2.25." + std::to_string(value); }

void write_series(const Volume<std::int16_t>& stack, const SlicePlacement& p, const SeriesTags& tags,
                  const fs::path& folder, std::uint64_t uid_seed) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw Error(folder.string() + ": cannot create folder: " + ec.message(), Cause::Runtime);
  const std::int64_t nx = stack.geometry.size[0], ny = stack.geometry.size[1], nz = stack.geometry.size[2];
  const bool ct = tags.modality == "CT";
  // GDCM's writer holds its file by an intrusive smart pointer: the file must live on the heap.
  const gdcm::SmartPointer<gdcm::File> file = new gdcm::File;
  gdcm::DataSet& ds = file->GetDataSet();
  put_series_tags(ds, tags, p);
  put_us(ds, 0x0028, 0x0010, std::uint16_t(ny));
  put_us(ds, 0x0028, 0x0011, std::uint16_t(nx));
  std::vector<std::int16_t> pixels(std::size_t(nx * ny));
  for (std::int64_t k = 0; k < nz; ++k) {
    const std::string sop = uid_from(uid_seed * 100003ULL + std::uint64_t(k) + 1);
    put(ds, 0x0008, 0x0018, gdcm::VR::UI, sop);
    put(ds, 0x0020, 0x0013, gdcm::VR::IS, std::to_string(k + 1));
    const auto& o = p.first_position_mm;
    const auto& a = p.advance_mm;
    put(ds, 0x0020, 0x0032, gdcm::VR::DS, decimals({o[0] + double(k) * a[0], o[1] + double(k) * a[1], o[2] + double(k) * a[2]}));
    const std::int16_t* slice = stack.voxels.data() + k * nx * ny;
    for (std::size_t n = 0; n < pixels.size(); ++n)
      pixels[n] = ct ? std::int16_t(std::clamp(int(slice[n]) - kCtIntercept, -32768, 32767)) : std::int16_t(std::max<int>(slice[n], 0));
    gdcm::DataElement data(gdcm::Tag(0x7fe0, 0x0010));
    data.SetVR(gdcm::VR::OW);
    data.SetByteValue(reinterpret_cast<const char*>(pixels.data()), std::uint32_t(pixels.size() * 2));
    ds.Replace(data);
    char name[32];
    std::snprintf(name, sizeof name, "IM%05lld", static_cast<long long>(k + 1));
    write_file(*file, folder / name);
  }
}

void write_directory_stub(const fs::path& path) {
  const gdcm::SmartPointer<gdcm::File> file = new gdcm::File;
  gdcm::DataSet& ds = file->GetDataSet();
  put(ds, 0x0004, 0x1130, gdcm::VR::CS, "SYNTH");
  const std::uint32_t zero = 0;
  for (const std::uint16_t offset : {0x1200, 0x1202}) {
    gdcm::DataElement de(gdcm::Tag(0x0004, offset));
    de.SetVR(gdcm::VR::UL);
    de.SetByteValue(reinterpret_cast<const char*>(&zero), 4);
    ds.Replace(de);
  }
  put_us(ds, 0x0004, 0x1212, 0);
  // An empty Directory Record Sequence: a file set that lists nothing.
  const gdcm::SmartPointer<gdcm::SequenceOfItems> records = new gdcm::SequenceOfItems;
  gdcm::DataElement sequence(gdcm::Tag(0x0004, 0x1220));
  sequence.SetVR(gdcm::VR::SQ);
  sequence.SetValue(*records);
  sequence.SetVLToUndefined();
  ds.Replace(sequence);
  put(ds, 0x0008, 0x0016, gdcm::VR::UI, "1.2.840.10008.1.3.10");  // Media Storage Directory
  put(ds, 0x0008, 0x0018, gdcm::VR::UI, uid_from(0xD1C0D1ULL));
  write_file(*file, path);
}

}  // namespace nc::dicom
