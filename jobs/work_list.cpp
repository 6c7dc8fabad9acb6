#include "jobs/work_list.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "dicom/series_reference.hpp"
#include "jobs/crash_journal.hpp"

namespace nc::jobs {
namespace {

namespace fs = std::filesystem;

// The bytes of an image on disk: a file's size, or a DICOM folder's files summed (all its series); 0 when
// unreadable (file_size's error value would sort such a scan first).
std::uintmax_t image_bytes(const fs::path& path) {
  const auto series = dicom::parse_series_reference(path);
  const fs::path image = series ? series->folder : path;
  std::error_code ec;
  if (!fs::is_directory(image, ec)) {
    const auto bytes = fs::file_size(image, ec);
    return ec ? 0 : bytes;
  }
  std::uintmax_t total = 0;
  for (const auto& entry : fs::directory_iterator(image, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    const auto bytes = entry.file_size(ec);
    if (!ec) total += bytes;
  }
  return total;
}

}  // namespace

void fail_crashed_rows(io::CohortStore& store, const Manifest& manifest, const fs::path& results,
                       CrashedScans crashed) {
  const auto journal = read_crash_journals(results);
  const auto statuses = store.statuses();
  for (const auto& [row, signal] : journal) {
    if (row >= statuses.size() || statuses[row] == io::ScanStatus::Ok) continue;
    const std::string& id = manifest.scans[row].scan_id;
    if (crashed == CrashedScans::Retry) {
      spdlog::warn("run: {} crashed the process in an earlier run (signal {}); trying it again (--retry-crashed)", id,
                   signal);
      continue;
    }
    io::ScanRecord record;
    record.row = row;
    record.rank = -1;
    record.error =
        fmt::format("{} (signal {}, {}); --retry-crashed tries it again", kCrashedReason, signal, ::strsignal(signal));
    store.write(record);
    spdlog::error("run: {} failed: {}", id, record.error);
  }
  remove_crash_journals(results);
}

std::vector<std::size_t> rows_to_do(const io::CohortStore& store, CrashedScans crashed) {
  const auto statuses = store.statuses();
  const auto errors = store.read_text_column("error");
  std::vector<std::size_t> rows;
  for (std::size_t r = 0; r < statuses.size(); ++r) {
    if (statuses[r] == io::ScanStatus::Ok) continue;
    const bool crashed_before = errors[r].rfind(kCrashedReason, 0) == 0;
    if (!crashed_before || crashed == CrashedScans::Retry) rows.push_back(r);
  }
  return rows;
}

std::vector<std::size_t> order_rows(std::vector<std::size_t> rows, const Manifest& manifest, RowOrder order) {
  if (order == RowOrder::Manifest) return rows;
  std::vector<std::uintmax_t> bytes(manifest.scans.size());
  for (std::size_t r : rows) bytes[r] = image_bytes(manifest.scans[r].image);
  std::stable_sort(rows.begin(), rows.end(), [&](std::size_t a, std::size_t b) { return bytes[a] > bytes[b]; });
  return rows;
}

}  // namespace nc::jobs
