// `neurocohort bench coordinator|ingest`: the coordinator's own machinery under real mpirun,
// through the same WorkQueue, MPI transport, record codec and cohort store as `run`
// (docs/SCALING.md uses the numbers).
//   mpirun -np 2 neurocohort bench coordinator --items 200000
//   mpirun -np 9 neurocohort bench ingest --out ingest.h5 --ct-labels CT.nii.gz --mr-labels MR.nii.gz
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <numeric>
#include <optional>

#include "cli/commands.hpp"
#include "cluster/mpi_transport.hpp"
#include "cluster/record_codec.hpp"
#include "core/error.hpp"
#include "io/cohort_store.hpp"
#include "io/image_io.hpp"
#include "pipeline/scan_stages.hpp"

namespace nc::cli {
namespace {

struct CoordinatorBenchOptions {
  std::size_t items = 200000;
};

ExitCode bench_coordinator(const CoordinatorBenchOptions& options) {
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
    return ExitCode::Ok;
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
  return received == options.items ? ExitCode::Ok : ExitCode::ScansFailed;
}

struct IngestBenchOptions {
  std::filesystem::path out, ct_labels, mr_labels;
  std::string id_prefix = "ingest";
  std::size_t records = 400;
  double ct_share = 0.5;
};

// The records the workers replay: a CT and an MR label map in the store's form, with metrics
// for every region of the map, as a worker's pipeline would deliver them.
struct ReplayRecords {
  io::ScanRecord ct, mr;
  double ct_encode_seconds = 0, mr_encode_seconds = 0, ct_raw_mb = 0, mr_raw_mb = 0;
};

io::ScanRecord replay_record(const LabelVolume& labels, std::size_t regions, double& encode_seconds) {
  io::ScanRecord record;
  record.ok = true;
  record.icv_ml = 1500;
  record.seconds = 1;
  record.host = "bench";
  for (const auto& name : pipeline::metric_names()) record.metrics[name] = std::vector<double>(regions, 1.0);
  const auto start = std::chrono::steady_clock::now();
  record.labels = io::to_stored_form(labels);
  encode_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return record;
}

std::vector<io::Region> replay_regions(std::size_t count) {
  std::vector<io::Region> regions;
  for (std::size_t r = 0; r < count; ++r) regions.push_back({int(r + 1), "region_" + std::to_string(r + 1), "-"});
  return regions;
}

constexpr std::size_t kReplayRegions = 10;

ReplayRecords load_replay_records(const IngestBenchOptions& o) {
  ReplayRecords r;
  const LabelVolume ct = io::read_label_image(o.ct_labels), mr = io::read_label_image(o.mr_labels);
  r.ct_raw_mb = double(ct.voxels.size()) * 2 / 1e6;
  r.mr_raw_mb = double(mr.voxels.size()) * 2 / 1e6;
  r.ct = replay_record(ct, kReplayRegions, r.ct_encode_seconds);
  r.mr = replay_record(mr, kReplayRegions, r.mr_encode_seconds);
  return r;
}

bool is_ct_row(std::size_t row, double ct_share) {
  return std::floor(double(row + 1) * ct_share) > std::floor(double(row) * ct_share);
}

ExitCode bench_ingest(const IngestBenchOptions& o) {
  const auto mpi = cluster::MpiSession::start_if_launched();
  if (!mpi || mpi->size() < 2) throw UsageError("bench ingest runs under mpirun with at least 2 ranks");
  // Every rank loads and encodes the maps once, before the clock starts: the workers to replay
  // them, rank 0 to report their wire size.
  const ReplayRecords replay = load_replay_records(o);
  if (mpi->rank() != 0) {
    if (!mpi->coordinator_ready()) return ExitCode::Usage;
    cluster::MpiWorkerTransport transport(*mpi);
    while (const auto row = transport.next_row()) {
      io::ScanRecord record = is_ct_row(*row, o.ct_share) ? replay.ct : replay.mr;
      record.row = *row;
      record.rank = mpi->rank();
      transport.deliver(std::move(record));
    }
    return ExitCode::Ok;
  }
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < o.records; ++i) ids.push_back(o.id_prefix + "-" + std::to_string(i));
  std::optional<io::CohortStore> store;
  try {
    store.emplace(io::CohortStore::create(o.out, {{"scan_id", ids}}, replay_regions(kReplayRegions),
                                          pipeline::metric_names(), {{"tool", "neurocohort bench ingest"}}));
  } catch (...) {
    mpi->announce(cluster::MpiSession::StoreState::Failed);
    throw;
  }
  mpi->announce(cluster::MpiSession::StoreState::Open);
  std::vector<std::size_t> rows(o.records);
  std::iota(rows.begin(), rows.end(), std::size_t{0});
  double write_seconds = 0;
  std::size_t written = 0;
  cluster::WorkQueue queue(std::move(rows), [&](io::ScanRecord record) {
    const auto start = std::chrono::steady_clock::now();
    store->write(record);
    write_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++written;
  });
  const auto start = std::chrono::steady_clock::now();
  cluster::serve_workers(*mpi, queue);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto wire_mb = [](const io::ScanRecord& r) { return double(cluster::encode_record(r).size()) / 1e6; };
  spdlog::info("bench ingest: {} records from {} workers in {:.2f} s into {}", written, mpi->size() - 1, seconds,
               o.out.string());
  std::cout << fmt::format(
      "{{\"workers\": {}, \"records\": {}, \"seconds\": {:.3f}, \"records_per_second\": {:.1f}, "
      "\"writer_seconds_per_record\": {:.5f}, \"wire_mb_per_record\": {{\"ct\": {:.3f}, \"mr\": {:.3f}}}, "
      "\"raw_label_mb\": {{\"ct\": {:.1f}, \"mr\": {:.1f}}}, \"worker_encode_seconds\": {{\"ct\": {:.3f}, "
      "\"mr\": {:.3f}}}}}\n",
      mpi->size() - 1, written, seconds, double(written) / seconds,
      write_seconds / double(std::max<std::size_t>(written, 1)), wire_mb(replay.ct), wire_mb(replay.mr),
      replay.ct_raw_mb, replay.mr_raw_mb, replay.ct_encode_seconds, replay.mr_encode_seconds);
  return written == o.records ? ExitCode::Ok : ExitCode::ScansFailed;
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

  auto ingest_options = std::make_shared<IngestBenchOptions>();
  auto* ingest = bench->add_subcommand(
      "ingest",
      "Records per second rank 0 takes from workers replaying real label maps into a real results file "
      "(run under mpirun)");
  ingest->add_option("--out", ingest_options->out, "Results file to write (must not exist)")->required();
  ingest->add_option("--ct-labels", ingest_options->ct_labels, "A native-grid CT label map (NIfTI)")
      ->required()
      ->check(CLI::ExistingFile);
  ingest->add_option("--mr-labels", ingest_options->mr_labels, "A 1 mm MR label map (NIfTI)")
      ->required()
      ->check(CLI::ExistingFile);
  ingest->add_option("--records", ingest_options->records, "Records to ingest")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  ingest->add_option("--id-prefix", ingest_options->id_prefix, "scan_id prefix (distinct shards for merge)")
      ->capture_default_str();
  ingest->add_option("--ct-share", ingest_options->ct_share, "Share of the records that are CT")
      ->check(kFinite)
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  ingest->callback([ingest_options, &action] { action = [ingest_options] { return bench_ingest(*ingest_options); }; });
}

}  // namespace nc::cli
