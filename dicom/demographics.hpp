#pragma once
/// \file
/// Age, sex and site from DICOM headers, never guessed: PatientSex M or F; age from
/// PatientBirthDate and StudyDate (to the day) or else from PatientAge (`018M`, `002Y`, `030D`,
/// `004W`, taken as the completed units it states); a site from a header field or a mapping of
/// its values. Missing or contradictory values become problems that name the field.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dicom/slice_header.hpp"

namespace nc::dicom {

/// PatientAge (DICOM AS, "nnnD|W|M|Y") in years; nullopt when malformed.
std::optional<double> parse_patient_age(const std::string& text);

/// A DICOM date (DA, YYYYMMDD) as days since 1970-01-01; nullopt when malformed or impossible.
std::optional<long> parse_dicom_date(const std::string& text);

struct Demographics {
  std::optional<double> age_years;
  std::string sex;                    ///< "M" or "F"; empty when unknown
  std::string site;                   ///< empty when the field is empty
  std::vector<std::string> problems;  ///< why a value is missing or not trusted
};

/// Site values mapped to site names (a two-column TSV: header value, site).
using SiteMap = std::map<std::string, std::string>;
SiteMap read_site_map(const std::filesystem::path& path);

/// The demographics of one study from its files' headers (all of them must agree).
Demographics study_demographics(const std::vector<const SliceHeader*>& slices, const SiteMap* site_map);

}  // namespace nc::dicom
