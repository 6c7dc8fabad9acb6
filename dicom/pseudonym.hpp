#pragma once
/// \file
/// Stable pseudonyms: a keyed hash (HMAC-SHA-256) of DICOM identifiers, so the same study and
/// series get the same scan_id in every index made with the same key, and nobody without the
/// key can tell which patient a scan_id belongs to, or test a guess.

#include <filesystem>
#include <string>

namespace nc::dicom {

class Pseudonymizer {
 public:
  /// \throws UsageError when the key is shorter than 8 bytes.
  explicit Pseudonymizer(std::string key);

  std::string scan_id(const std::string& study_uid, const std::string& series_uid) const;  ///< "s-" + 16 hex
  std::string study_id(const std::string& study_uid) const;                                ///< "st-" + 16 hex
  std::string subject_id(const std::string& patient_id) const;                             ///< "p-" + 16 hex

 private:
  std::string digest(const std::string& domain, const std::string& message) const;
  std::string key_;
};

/// A key file's bytes, trailing newlines removed. \throws UsageError when unreadable or empty.
std::string read_key_file(const std::filesystem::path& path);

}  // namespace nc::dicom
