#include "cluster/mpi_transport.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "cluster/mpi_launch.hpp"
#include "cluster/record_codec.hpp"
#include "core/error.hpp"

namespace nc::cluster {
namespace {

constexpr int kCoordinator = 0;
// Message tags: a worker's request, the coordinator's answer, a finished record.
enum class Tag : int { Request = 1, Assign = 2, Result = 3 };
constexpr int tag(Tag t) { return static_cast<int>(t); }
constexpr std::int64_t kNoMoreWork = -1;

void check(int code, const char* what) {
  if (code != MPI_SUCCESS) throw Error(std::string("MPI: ") + what + " failed");
}

}  // namespace

std::unique_ptr<MpiSession> MpiSession::start_if_launched() {
  if (!detail::launched_by_mpi()) return nullptr;
  int provided = 0;
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
  std::unique_ptr<MpiSession> session(new MpiSession());
  MPI_Comm_rank(MPI_COMM_WORLD, &session->rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &session->size_);
  if (provided < MPI_THREAD_SERIALIZED) session->abort(2);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, session->rank_, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &session->local_rank_);
  MPI_Comm_free(&node);
  return session;
}

MpiSession::~MpiSession() { MPI_Finalize(); }

void MpiSession::announce(StoreState state) const {
  int open = state == StoreState::Open ? 1 : 0;
  MPI_Bcast(&open, 1, MPI_INT, kCoordinator, MPI_COMM_WORLD);
}

bool MpiSession::coordinator_ready() const {
  int open = 0;
  MPI_Bcast(&open, 1, MPI_INT, kCoordinator, MPI_COMM_WORLD);
  return open == 1;
}

bool MpiSession::on_every_rank(bool holds) const {
  int mine = holds ? 1 : 0, all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  return all != 0;
}

int MpiSession::coordinator_value(int value) const {
  MPI_Bcast(&value, 1, MPI_INT, kCoordinator, MPI_COMM_WORLD);
  return value;
}

void MpiSession::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::abort();
}

namespace {

// The next message, without spinning a core: Open MPI's blocking MPI_Probe polls without
// pause, taking the core that the coordinator's own worker or another rank on the node needs
// (np = 2 on 2 cores ran slower than np = 1). Hot while messages keep coming, then sleeping
// up to a millisecond between polls — nothing next to seconds per scan.
MPI_Status wait_for_message() {
  MPI_Status status;
  for (int idle = 0;; ++idle) {
    int arrived = 0;
    check(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &arrived, &status), "MPI_Iprobe");
    if (arrived) return status;
    if (idle > 1000) std::this_thread::sleep_for(std::chrono::microseconds(std::min(1000, idle - 1000)));
  }
}

// A record as it arrived. A damaged one that still names its row becomes that scan's failed
// row (the cohort goes on); one that names no row ends the job, naming the rank.
io::ScanRecord record_from(const std::vector<char>& bytes, int rank, const WorkQueue& queue) {
  try {
    return decode_record(bytes);
  } catch (const RecordError& e) {
    if (!e.row() || !queue.was_handed_out(*e.row()))
      throw Error("MPI: the record from rank " + std::to_string(rank) + " is damaged: " + e.what());
    io::ScanRecord failed;
    failed.row = *e.row();
    failed.rank = rank;
    failed.error = "the record from rank " + std::to_string(rank) + " arrived damaged: " + e.what();
    return failed;
  }
}

}  // namespace

void serve_workers(const MpiSession& session, WorkQueue& queue) {
  int active = session.size() - 1;  // workers not yet told that the work is done
  std::int64_t outstanding = 0;     // rows assigned whose records have not arrived
  std::vector<char> buffer;
  while (active > 0 || outstanding > 0) {
    const MPI_Status status = wait_for_message();
    if (status.MPI_TAG == tag(Tag::Request)) {
      int ignored = 0;
      MPI_Recv(&ignored, 1, MPI_INT, status.MPI_SOURCE, tag(Tag::Request), MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      const auto row = queue.next();
      const std::int64_t answer = row ? std::int64_t(*row) : kNoMoreWork;
      check(MPI_Send(&answer, 1, MPI_INT64_T, status.MPI_SOURCE, tag(Tag::Assign), MPI_COMM_WORLD), "MPI_Send");
      if (row) ++outstanding;
      else --active;
    } else if (status.MPI_TAG == tag(Tag::Result)) {
      int bytes = 0;
      MPI_Get_count(&status, MPI_BYTE, &bytes);
      buffer.resize(std::size_t(bytes));
      check(MPI_Recv(buffer.data(), bytes, MPI_BYTE, status.MPI_SOURCE, tag(Tag::Result), MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE),
            "MPI_Recv");
      queue.complete(record_from(buffer, status.MPI_SOURCE, queue));
      --outstanding;
    } else {
      throw Error("MPI: unexpected message tag " + std::to_string(status.MPI_TAG));
    }
  }
}

struct MpiWorkerTransport::Impl {
  std::mutex mutex;  // MPI_THREAD_SERIALIZED: one pipeline thread in MPI at a time
};

MpiWorkerTransport::MpiWorkerTransport(const MpiSession&) : impl_(std::make_unique<Impl>()) {}
MpiWorkerTransport::~MpiWorkerTransport() = default;

std::optional<std::size_t> MpiWorkerTransport::next_row() {
  const std::lock_guard lock(impl_->mutex);
  const int request = 0;
  check(MPI_Send(&request, 1, MPI_INT, kCoordinator, tag(Tag::Request), MPI_COMM_WORLD), "MPI_Send");
  std::int64_t row = kNoMoreWork;
  check(MPI_Recv(&row, 1, MPI_INT64_T, kCoordinator, tag(Tag::Assign), MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
  if (row == kNoMoreWork) return std::nullopt;
  return std::size_t(row);
}

void MpiWorkerTransport::deliver(io::ScanRecord record) {
  const std::vector<char> bytes = encode_record(record);
  if (bytes.size() > std::size_t(INT_MAX)) throw Error("MPI: a record of over 2 GiB cannot be sent");
  const std::lock_guard lock(impl_->mutex);
  check(MPI_Send(bytes.data(), int(bytes.size()), MPI_BYTE, kCoordinator, tag(Tag::Result), MPI_COMM_WORLD),
        "MPI_Send");
}

}  // namespace nc::cluster
