#include "dicom/dicom_index.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <tbb/parallel_for.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <map>
#include <mutex>
#include <sstream>

#include "core/error.hpp"
#include "dicom/series_reference.hpp"

namespace nc::dicom {
namespace {

namespace fs = std::filesystem;

// Every regular file under the roots, in a stable order; anything else is listed as skipped.
std::vector<fs::path> walk(const std::vector<fs::path>& roots, std::vector<SkippedFile>& skipped) {
  std::vector<fs::path> files;
  for (const auto& root : roots) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) throw UsageError(root.string() + ": not a folder");
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      const auto status = it->status(ec);
      if (ec) {
        skipped.push_back({it->path(), "cannot stat (" + ec.message() + ")"});
        ec.clear();
        continue;
      }
      if (fs::is_directory(status)) continue;
      if (fs::is_regular_file(status))
        files.push_back(it->path());
      else
        skipped.push_back({it->path(), "not a regular file"});
    }
    if (ec) skipped.push_back({root, "the walk stopped: " + ec.message()});
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<SliceHeader> read_headers(const std::vector<fs::path>& files, Tag site_tag,
                                      std::vector<SkippedFile>& skipped,
                                      const std::function<void(const IndexProgress&)>& progress) {
  std::vector<std::variant<SliceHeader, SkippedFile>> read(files.size());
  std::atomic<std::size_t> done{0};
  std::mutex report;
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, files.size(), 64),
                    [&](const tbb::blocked_range<std::size_t>& range) {
                      for (std::size_t n = range.begin(); n != range.end(); ++n)
                        read[n] = read_slice_header(files[n], site_tag);
                      const std::size_t now = done += range.size();
                      if (progress && now / 5000 != (now - range.size()) / 5000) {
                        std::lock_guard lock(report);
                        progress({now, files.size()});
                      }
                    });
  std::vector<SliceHeader> headers;
  for (auto& r : read) {
    if (auto* h = std::get_if<SliceHeader>(&r))
      headers.push_back(std::move(*h));
    else
      skipped.push_back(std::move(std::get<SkippedFile>(r)));
  }
  return headers;
}

std::string joined(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : separator) + p;
  return out;
}

// Free text from headers must not break the TSV.
std::string tsv_safe(std::string text) {
  for (auto& c : text)
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  return text;
}

std::string age_text(double years) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(4) << years;
  return s.str();
}

// The image path as the manifest writes it: relative where the folder lies under the manifest's.
std::string manifest_path(const fs::path& image, const fs::path& manifest_folder) {
  const fs::path absolute = fs::absolute(image).lexically_normal();
  const fs::path relative = absolute.lexically_relative(manifest_folder);
  if (!relative.empty() && *relative.begin() != "..") return relative.string();
  return absolute.string();
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.flush();
  if (!out) throw Error(path.string() + ": cannot write", Cause::Runtime);
}

}  // namespace

IndexResult index_dicom(const IndexOptions& options, const Pseudonymizer& names,
                        const std::function<void(const IndexProgress&)>& progress) {
  IndexResult result;
  const auto files = walk(options.roots, result.skipped);
  result.files = files.size();
  auto all_series = group_series(read_headers(files, options.site_tag, result.skipped, progress));
  tbb::parallel_for(std::size_t{0}, all_series.size(), [&](std::size_t n) { check_stack(all_series[n]); });
  result.series = all_series.size();

  std::map<std::string, std::vector<const Series*>> studies;
  for (const auto& s : all_series) studies[s.study_uid].push_back(&s);
  result.studies = studies.size();
  for (const auto& [study_uid, members] : studies) {
    const std::string study = names.study_id(study_uid);
    std::vector<const SliceHeader*> study_slices;
    for (const Series* s : members)
      for (const auto& slice : s->slices) study_slices.push_back(&slice);
    const Demographics demographics = study_demographics(study_slices, options.site_map ? &*options.site_map : nullptr);
    for (const auto& d : select_series(members, options.rules)) {
      const Series& s = *d.series;
      ReportRow row{study,
                    names.scan_id(study_uid, s.series_uid),
                    s.first().modality,
                    s.first().series_number ? std::to_string(*s.first().series_number) : std::string(),
                    tsv_safe(s.first().series_description),
                    s.slices.size(),
                    decision_name(d.decision),
                    tsv_safe(d.reason)};
      // Age and sex are present exactly when no problem was found; both are checked anyway.
      const bool complete = demographics.problems.empty() && demographics.age_years && !demographics.sex.empty();
      if (d.decision == Decision::Chosen && !complete) {
        row.decision = "left_out";
        row.reason = "chosen (" + row.reason +
                     ") but left out of the manifest: " + tsv_safe(joined(demographics.problems, "; "));
      } else if (d.decision == Decision::Chosen) {
        result.scans.push_back({row.scan_id, study, names.subject_id(s.first().patient_id),
                                series_reference_path(s.first().path.parent_path(), s.series_uid), s.first().modality,
                                demographics.sex, demographics.site, *demographics.age_years, study_uid, s.series_uid,
                                s.first().patient_id});
      }
      result.report.push_back(std::move(row));
    }
  }
  return result;
}

void write_index(const IndexResult& result, const fs::path& manifest, Identifiers identifiers) {
  const fs::path folder = fs::absolute(manifest).lexically_normal().parent_path();
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw Error(folder.string() + ": cannot create the manifest's folder: " + ec.message(), Cause::Runtime);
  const bool kept = identifiers == Identifiers::Kept;
  std::ostringstream m;
  m << "scan_id\timage\tmodality\tage\tsex\tgroup\tsite\tsubject" << (kept ? "\tpatient_id\tstudy_uid\tseries_uid" : "")
    << '\n';
  for (const auto& s : result.scans) {
    m << s.scan_id << '\t' << manifest_path(s.image, folder) << '\t' << s.modality << '\t' << age_text(s.age_years)
      << '\t' << s.sex << "\t\t" << tsv_safe(s.site) << '\t' << s.subject;
    if (kept) m << '\t' << tsv_safe(s.patient_id) << '\t' << s.study_uid << '\t' << s.series_uid;
    m << '\n';
  }
  write_text(manifest, m.str());

  std::ostringstream r;
  r << "study\tscan_id\tmodality\tseries_number\tdescription\tfiles\tdecision\treason\n";
  for (const auto& row : result.report)
    r << row.study << '\t' << row.scan_id << '\t' << tsv_safe(row.modality) << '\t' << row.series_number << '\t'
      << row.description << '\t' << row.files << '\t' << row.decision << '\t' << row.reason << '\n';
  write_text(folder / "index_report.tsv", r.str());

  std::ostringstream k;
  k << "path\treason\n";
  for (const auto& s : result.skipped) k << tsv_safe(s.path.string()) << '\t' << tsv_safe(s.reason) << '\n';
  write_text(folder / "index_skipped.tsv", k.str());
}

void write_key_file(const IndexResult& result, const fs::path& path) {
  std::ostringstream text;
  text << "scan_id\tstudy\tsubject\tstudy_uid\tseries_uid\tpatient_id\n";
  for (const auto& s : result.scans)
    text << s.scan_id << '\t' << s.study << '\t' << s.subject << '\t' << s.study_uid << '\t' << s.series_uid << '\t'
         << tsv_safe(s.patient_id) << '\n';
  // Created owner-only and never over an existing file: the key links pseudonyms to patients.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, S_IRUSR | S_IWUSR);
  if (fd < 0) throw Error(path.string() + ": cannot create the key file (" + std::strerror(errno) + ")");
  const std::string bytes = text.str();
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n <= 0 && errno != EINTR) break;
    if (n > 0) written += std::size_t(n);
  }
  const bool closed = ::close(fd) == 0;
  if (written != bytes.size() || !closed) throw Error(path.string() + ": writing the key file failed", Cause::Runtime);
}

}  // namespace nc::dicom
