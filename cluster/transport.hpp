#pragma once
/// \file
/// The coordinator/worker split of `neurocohort run` (docs/architecture.md): the coordinator owns
/// the cohort store and hands out scan rows; workers ask for rows, read the scans themselves
/// from the shared filesystem, and send back records. A worker sees only WorkerTransport, so
/// the one-process run and the MPI run share every stage; they differ in the transport.

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "io/cohort_store.hpp"

namespace nc::cluster {

class WorkerTransport {
 public:
  virtual ~WorkerTransport() = default;
  /// The next manifest row to process; nullopt when the coordinator has no more work.
  virtual std::optional<std::size_t> next_row() = 0;
  /// Sends a finished scan's record (ok or failed) to the coordinator.
  virtual void deliver(io::ScanRecord record) = 0;
};

/// The coordinator's side, whatever the transport: the rows still to hand out, and what to
/// do with each finished record (write it to the store). Thread-safe; records are handled
/// one at a time. After `stop` is set no further rows are handed out.
class WorkQueue {
 public:
  WorkQueue(std::vector<std::size_t> rows, std::function<void(io::ScanRecord)> on_record,
            const std::atomic<bool>* stop = nullptr)
      : rows_(std::move(rows)), on_record_(std::move(on_record)), stop_(stop) {}

  std::optional<std::size_t> next() {
    const std::lock_guard lock(mutex_);
    if (next_ == rows_.size() || (stop_ && stop_->load())) return std::nullopt;
    return rows_[next_++];
  }

  /// True when `row` was handed out by this queue (a record for any other row is not trusted).
  bool was_handed_out(std::size_t row) const {
    const std::lock_guard lock(mutex_);
    return std::find(rows_.begin(), rows_.begin() + std::ptrdiff_t(next_), row) !=
           rows_.begin() + std::ptrdiff_t(next_);
  }

  void complete(io::ScanRecord record) {
    const std::lock_guard lock(record_mutex_);
    on_record_(std::move(record));
  }

 private:
  mutable std::mutex mutex_;
  std::mutex record_mutex_;
  std::vector<std::size_t> rows_;
  std::size_t next_ = 0;
  std::function<void(io::ScanRecord)> on_record_;
  const std::atomic<bool>* stop_;
};

/// The in-process transport: a worker in the coordinator's own process.
class LocalTransport final : public WorkerTransport {
 public:
  explicit LocalTransport(WorkQueue& queue) : queue_(queue) {}
  std::optional<std::size_t> next_row() override { return queue_.next(); }
  void deliver(io::ScanRecord record) override { queue_.complete(std::move(record)); }

 private:
  WorkQueue& queue_;
};

}  // namespace nc::cluster
