#include "dicom/series_reference.hpp"

namespace nc::dicom {

namespace fs = std::filesystem;

bool is_valid_uid(const std::string& uid) {
  if (uid.empty() || uid.size() > 64 || uid.front() == '.' || uid.back() == '.') return false;
  for (std::size_t n = 0; n < uid.size(); ++n) {
    if (uid[n] == '.' && uid[n + 1] == '.') return false;
    if (uid[n] != '.' && (uid[n] < '0' || uid[n] > '9')) return false;
  }
  return true;
}

std::optional<SeriesReference> parse_series_reference(const fs::path& path) {
  const std::string text = path.string();
  const auto hash = text.rfind('#');
  if (hash == std::string::npos || hash == 0) return std::nullopt;
  std::error_code ec;
  if (fs::exists(path, ec)) return std::nullopt;
  const std::string uid = text.substr(hash + 1);
  if (!is_valid_uid(uid)) return std::nullopt;
  return SeriesReference{fs::path(text.substr(0, hash)), uid};
}

fs::path series_reference_path(const fs::path& folder, const std::string& uid) {
  return fs::path(folder.string() + "#" + uid);
}

}  // namespace nc::dicom
