#include "cluster/worker.hpp"

#include <tbb/parallel_pipeline.h>

#include <exception>
#include <memory>
#include <mutex>
#include <optional>

#include "core/clock.hpp"

namespace nc::cluster {

StageTotals run_worker(WorkerTransport& transport, const jobs::Manifest& manifest,
                       const pipeline::SegmentationModel& model, const pipeline::RunSettings& settings,
                       const WorkerOptions& options) {
  using pipeline::ScanWork;
  using Work = ScanWork*;
  StageTotals totals;
  // A failure of the transport (or of the writer behind it) must not cancel the pipeline: the
  // cancellation would reach the oneTBB loops inside the stages of the scans in flight, whose
  // partial results the stages would then use (an HD95 over no distances crashed the process).
  // It stops the intake instead, the scans in flight finish, and it is rethrown afterwards.
  std::mutex failure_mutex;
  std::exception_ptr failure;
  const auto fail = [&] {
    const std::lock_guard lock(failure_mutex);
    if (!failure) failure = std::current_exception();
  };
  const auto failed = [&] {
    const std::lock_guard lock(failure_mutex);
    return failure != nullptr;
  };
  const auto take = [&](tbb::flow_control& fc) -> Work {
    std::optional<std::size_t> row;
    try {
      if (!failed()) row = transport.next_row();
    } catch (...) {
      fail();
    }
    if (!row) {
      fc.stop();
      return nullptr;
    }
    auto work = std::make_unique<ScanWork>();
    work->row = *row;
    work->scan = manifest.scans.at(*row);
    work->started_at = now_unix_seconds();
    return work.release();
  };
  const auto parallel = tbb::filter_mode::parallel;
  tbb::parallel_pipeline(std::size_t(std::max(options.in_flight, 1)),
                         tbb::make_filter<void, Work>(tbb::filter_mode::serial_in_order, take) &
                             tbb::make_filter<Work, Work>(parallel,
                                                          [&](Work w) {
                                                            pipeline::read_stage(*w, settings);
                                                            return w;
                                                          }) &
                             tbb::make_filter<Work, Work>(parallel,
                                                          [&](Work w) {
                                                            pipeline::preprocess_stage(*w, settings);
                                                            return w;
                                                          }) &
                             tbb::make_filter<Work, Work>(tbb::filter_mode::serial_out_of_order,
                                                          [&](Work w) {
                                                            pipeline::infer_stage(*w, model, settings);
                                                            return w;
                                                          }) &
                             tbb::make_filter<Work, Work>(parallel,
                                                          [&](Work w) {
                                                            pipeline::measure_stage(*w, model, settings);
                                                            return w;
                                                          }) &
                             tbb::make_filter<Work, void>(tbb::filter_mode::serial_out_of_order, [&](Work w) {
                               const std::unique_ptr<ScanWork> owned(w);
                               for (std::size_t s = 0; s < totals.seconds.size(); ++s)
                                 totals.seconds[s] += w->seconds[s];
                               totals.transfers += w->transfers;
                               ++totals.scans;
                               if (failed()) return;
                               try {
                                 transport.deliver(pipeline::make_record(*w, options.host, options.rank));
                               } catch (...) {
                                 fail();
                               }
                             }));
  if (failure) std::rethrow_exception(failure);
  return totals;
}

}  // namespace nc::cluster
