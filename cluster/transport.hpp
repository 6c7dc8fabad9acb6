#pragma once
/// \file
/// The coordinator/worker split of `neurocohort run` (ARCHITECTURE.md): the coordinator owns
/// the cohort store and hands out scan rows; workers ask for rows, read the scans themselves
/// from the shared filesystem, and send back records. A worker sees only this interface, so the
/// one-process run and the MPI run share every stage; they differ in the transport.

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

/// The in-process transport: rows from a list, records to the coordinator's callback.
class LocalTransport final : public WorkerTransport {
 public:
  LocalTransport(std::vector<std::size_t> rows, std::function<void(io::ScanRecord)> on_record)
      : rows_(std::move(rows)), on_record_(std::move(on_record)) {}

  std::optional<std::size_t> next_row() override {
    const std::lock_guard lock(mutex_);
    if (next_ == rows_.size()) return std::nullopt;
    return rows_[next_++];
  }

  void deliver(io::ScanRecord record) override {
    const std::lock_guard lock(mutex_);
    on_record_(std::move(record));
  }

 private:
  std::mutex mutex_;
  std::vector<std::size_t> rows_;
  std::size_t next_ = 0;
  std::function<void(io::ScanRecord)> on_record_;
};

}  // namespace nc::cluster
