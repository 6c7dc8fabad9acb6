// `neurocohort bench coordinator`: the coordinator's assignment rate with zero-cost work items,
// through the same WorkQueue and MPI transport as `run` (docs/SCALING.md uses the number).
//   mpirun -np 2 neurocohort bench coordinator --items 200000
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <numeric>

#include "cli/commands.hpp"
#include "cluster/mpi_transport.hpp"
#include "core/error.hpp"

namespace nc::cli {
namespace {

struct CoordinatorBenchOptions {
  std::size_t items = 200000;
};

int bench_coordinator(const CoordinatorBenchOptions& options) {
#if NEUROCOHORT_MPI
  const auto mpi = cluster::MpiSession::start_if_launched();
  if (!mpi || mpi->size() < 2) throw UsageError("bench coordinator runs under mpirun with at least 2 ranks");
  if (mpi->rank() != 0) {
    // A worker whose scans cost nothing: ask, answer at once with an empty record.
    cluster::MpiWorkerTransport transport(*mpi);
    while (const auto row = transport.next_row()) {
      io::ScanRecord record;
      record.row = *row;
      record.ok = true;
      transport.deliver(std::move(record));
    }
    return kExitOk;
  }
  std::vector<std::size_t> rows(options.items);
  std::iota(rows.begin(), rows.end(), std::size_t{0});
  std::size_t received = 0;
  cluster::WorkQueue queue(std::move(rows), [&](io::ScanRecord) { ++received; });
  const auto start = std::chrono::steady_clock::now();
  cluster::serve_workers(*mpi, queue);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "{\"ranks\": " << mpi->size() << ", \"items\": " << received << ", \"seconds\": " << seconds
            << ", \"assignments_per_second\": " << double(received) / seconds << "}\n";
  return received == options.items ? kExitOk : kExitScansFailed;
#else
  (void)options;
  throw UsageError("this neurocohort was built without MPI (-DNEUROCOHORT_MPI=ON)");
#endif
}

}  // namespace

void add_bench_command(CLI::App& app, Action& action) {
  auto* bench = app.add_subcommand("bench", "Benchmarks of neurocohort's own machinery");
  bench->require_subcommand(1);
  auto options = std::make_shared<CoordinatorBenchOptions>();
  auto* coordinator = bench->add_subcommand(
      "coordinator", "Assignments per second of the MPI coordinator with zero-cost work items (run under mpirun)");
  coordinator->add_option("--items", options->items, "Work items to hand out")->capture_default_str();
  coordinator->callback([options, &action] { action = [options] { return bench_coordinator(*options); }; });
}

}  // namespace nc::cli
