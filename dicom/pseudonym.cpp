#include "dicom/pseudonym.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fstream>
#include <iterator>

#include "core/error.hpp"

namespace nc::dicom {

Pseudonymizer::Pseudonymizer(std::string key) : key_(std::move(key)) {
  if (key_.size() < 8) throw UsageError("the pseudonym key must be at least 8 characters (--salt or --salt-file)");
}

std::string Pseudonymizer::digest(const std::string& domain, const std::string& message) const {
  // The domain keeps a study's pseudonym from equalling a series' or a patient's.
  const std::string text = domain + '\0' + message;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!HMAC(EVP_sha256(), key_.data(), int(key_.size()), reinterpret_cast<const unsigned char*>(text.data()),
            text.size(), out, &length))
    throw Error("HMAC-SHA-256 failed", Cause::Runtime);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned n = 0; n < 8 && n < length; ++n) {
    hex += kHex[out[n] >> 4];
    hex += kHex[out[n] & 15];
  }
  return hex;
}

std::string Pseudonymizer::scan_id(const std::string& study_uid, const std::string& series_uid) const {
  return "s-" + digest("series", study_uid + '\0' + series_uid);
}

std::string Pseudonymizer::study_id(const std::string& study_uid) const { return "st-" + digest("study", study_uid); }

std::string Pseudonymizer::subject_id(const std::string& patient_id) const {
  return patient_id.empty() ? std::string() : "p-" + digest("patient", patient_id);
}

std::string read_key_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(path.string() + ": cannot read the key file");
  std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  if (key.empty()) throw UsageError(path.string() + ": the key file is empty");
  return key;
}

}  // namespace nc::dicom
