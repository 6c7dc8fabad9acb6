#include "jobs/run_account.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <utility>

#include "core/text.hpp"

namespace nc::jobs {
namespace {

std::vector<FailureGroup> group_failures(const io::CohortStore& store, const std::vector<io::ScanStatus>& statuses) {
  if (!store.has_scan_column("error")) return {};
  const auto errors = store.read_text_column("error");
  std::map<std::string, FailureGroup> groups;
  for (std::size_t r = 0; r < statuses.size(); ++r) {
    if (statuses[r] != io::ScanStatus::Failed) continue;
    const std::string reason = failure_reason(errors[r]);
    FailureGroup& group = groups[reason];
    if (group.scans == 0) group = {reason, 0, store.scan_ids()[r], errors[r]};  // the first is the example
    ++group.scans;
  }
  std::vector<FailureGroup> sorted;
  for (auto& [reason, group] : groups) sorted.push_back(std::move(group));
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.scans > b.scans; });
  return sorted;
}

// Rows with both times: the scans a worker delivered (a crashed scan's row has none).
std::vector<std::size_t> timed_rows(const std::vector<double>& started, const std::vector<double>& finished) {
  std::vector<std::size_t> rows;
  for (std::size_t r = 0; r < started.size(); ++r)
    if (std::isfinite(started[r]) && std::isfinite(finished[r])) rows.push_back(r);
  return rows;
}

void add_timing(const io::CohortStore& store, std::size_t bins, RunAccount& account) {
  const auto started = store.read_timing("started_at"), finished = store.read_timing("finished_at");
  const auto stage_seconds = store.read_timing("stage_seconds");
  const auto rows = timed_rows(started, finished);
  account.stage_names = store.stage_names();
  account.timed_scans = rows.size();
  if (rows.empty()) return;
  const std::size_t stages = account.stage_names.size();
  account.first_start = started[rows.front()];
  account.last_end = finished[rows.front()];
  account.mean_stage_seconds.assign(stages, 0.0);
  for (std::size_t r : rows) {
    account.first_start = std::min(account.first_start, started[r]);
    account.last_end = std::max(account.last_end, finished[r]);
    for (std::size_t s = 0; s < stages; ++s) account.mean_stage_seconds[s] += stage_seconds[r * stages + s];
  }
  for (double& s : account.mean_stage_seconds) s /= double(rows.size());

  bins = std::max<std::size_t>(bins, 1);
  account.bin_seconds = std::max(account.last_end - account.first_start, 1e-3) / double(bins);
  const auto hosts =
      store.has_scan_column("host") ? store.read_text_column("host") : std::vector<std::string>(store.scan_count());
  const auto ranks =
      store.has_scan_column("rank") ? store.read_number_column("rank") : std::vector<double>(store.scan_count(), 0.0);
  std::map<std::pair<std::string, int>, WorkerThroughput> workers;
  for (std::size_t r : rows) {
    const std::pair key{hosts[r], int(ranks[r])};
    WorkerThroughput& w = workers[key];
    if (w.per_bin.empty()) {
      w.host = key.first;
      w.rank = key.second;
      w.per_bin.assign(bins, 0);
    }
    ++w.scans;
    w.busy_seconds += finished[r] - started[r];
    const auto bin = std::size_t((finished[r] - account.first_start) / account.bin_seconds);
    ++w.per_bin[std::min(bin, bins - 1)];
  }
  for (auto& [key, w] : workers) account.workers.push_back(std::move(w));
}

}  // namespace

std::string failure_reason(const std::string& error) {
  const auto is_digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  std::string reason;
  const std::vector<std::string> words = split(error, ' ');
  for (std::size_t w = 0; w < words.size(); ++w) {
    const std::string& word = words[w];
    if (w > 0) reason += ' ';
    if (word.find('/') != std::string::npos) {
      reason += word.back() == ':' ? "…:" : "…";  // "PATH: reason"
      continue;
    }
    for (std::size_t i = 0; i < word.size(); ++i)
      if (!is_digit(word[i]))
        reason += word[i];
      else if (i == 0 || !is_digit(word[i - 1]))
        reason += '#';
  }
  return reason;
}

RunAccount account_of(const io::CohortStore& store, std::size_t bins) {
  RunAccount account;
  const auto statuses = store.statuses();
  account.scans = statuses.size();
  account.counts = io::count_statuses(statuses);
  account.failures = group_failures(store, statuses);
  if (!store.stage_names().empty()) add_timing(store, bins, account);
  return account;
}

}  // namespace nc::jobs
