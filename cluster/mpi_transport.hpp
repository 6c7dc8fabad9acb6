#pragma once
/// \file
/// The MPI transport: rank 0 coordinates (serve_workers), every other rank is a worker
/// (MpiWorkerTransport). Workers ask for work with a small request and get one manifest row
/// back (dynamic sharding: fast ranks simply ask more often); they send each finished record
/// to rank 0, the only writer of RESULTS.h5. No MPI headers here, and no build switch for the
/// callers: a build without MPI links mpi_stub.cpp, where no session ever starts (a process
/// launched as one of several ranks is refused) and the rest is unreachable.

#include <memory>
#include <optional>

#include "cluster/transport.hpp"

namespace nc::cluster {

/// MPI for the length of a run, when the process was started by mpirun or srun (MPI is not
/// initialised in a plain run). Requests MPI_THREAD_SERIALIZED: a worker's pipeline threads
/// take turns through a mutex.
class MpiSession {
 public:
  /// The session when launched under MPI with more than one rank, else null.
  /// \throws UsageError in a build without MPI that was launched as one of several ranks.
  static std::unique_ptr<MpiSession> start_if_launched();
  ~MpiSession();
  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }  ///< rank among the ranks of this node
  /// Whether rank 0 could open the results file, which every worker waits to hear.
  enum class StoreState { Open, Failed };
  /// Rank 0: tells the workers.
  void announce(StoreState state) const;
  /// A worker: false when rank 0 could not open the store (the worker then exits quietly:
  /// rank 0 reports the error).
  bool coordinator_ready() const;
  /// Every rank, together: whether `holds` is true on every rank.
  bool on_every_rank(bool holds) const;
  /// Every rank, together: rank 0's `value`.
  int coordinator_value(int value) const;
  /// Ends the whole job at once (an error on one rank must not leave the others waiting).
  [[noreturn]] void abort(int code) const;

 private:
  MpiSession() = default;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

/// Rank 0: answers work requests from `queue` and hands records to it, until every worker has
/// been told there is no more work and every assigned record has arrived. The coordinator may
/// run its own worker on the same queue in another thread (`--coordinator-works`).
void serve_workers(const MpiSession& session, WorkQueue& queue);

class MpiWorkerTransport final : public WorkerTransport {
 public:
  explicit MpiWorkerTransport(const MpiSession& session);
  ~MpiWorkerTransport() override;
  std::optional<std::size_t> next_row() override;
  void deliver(io::ScanRecord record) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nc::cluster
