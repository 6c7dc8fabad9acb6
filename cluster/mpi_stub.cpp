// The MPI transport of a build without MPI: no session ever starts, so nothing below the
// first function can be reached. A process started as one of several ranks is refused: each
// rank would otherwise run the whole cohort into the same results file.
#include <cstdlib>

#include "cluster/mpi_launch.hpp"
#include "cluster/mpi_transport.hpp"
#include "core/error.hpp"

namespace nc::cluster {
namespace {

[[noreturn]] void unreachable_without_mpi() {
  throw Error("MPI: this neurocohort was built without MPI", Cause::Runtime);
}

}  // namespace

std::unique_ptr<MpiSession> MpiSession::start_if_launched() {
  if (detail::launched_as_one_of_several())
    throw UsageError(
        "this neurocohort was built without MPI, but was started as one of several MPI ranks: rebuild with "
        "-DNEUROCOHORT_MPI=ON (an MPI library installed), or start one process");
  return nullptr;
}

MpiSession::~MpiSession() = default;
void MpiSession::announce(StoreState) const { unreachable_without_mpi(); }
bool MpiSession::coordinator_ready() const { unreachable_without_mpi(); }
bool MpiSession::on_every_rank(bool) const { unreachable_without_mpi(); }
int MpiSession::coordinator_value(int) const { unreachable_without_mpi(); }
void MpiSession::abort(int code) const { std::exit(code); }

void serve_workers(const MpiSession&, WorkQueue&) { unreachable_without_mpi(); }

struct MpiWorkerTransport::Impl {};
MpiWorkerTransport::MpiWorkerTransport(const MpiSession&) { unreachable_without_mpi(); }
MpiWorkerTransport::~MpiWorkerTransport() = default;
std::optional<std::size_t> MpiWorkerTransport::next_row() { unreachable_without_mpi(); }
void MpiWorkerTransport::deliver(io::ScanRecord) { unreachable_without_mpi(); }

}  // namespace nc::cluster
