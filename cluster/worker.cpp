#include "cluster/worker.hpp"

#include <tbb/parallel_pipeline.h>

#include <memory>

#include "core/clock.hpp"

namespace nc::cluster {

StageTotals run_worker(WorkerTransport& transport, const jobs::Manifest& manifest,
                       const pipeline::SegmentationModel& model, const pipeline::RunSettings& settings,
                       const WorkerOptions& options) {
  using pipeline::ScanWork;
  using Work = ScanWork*;
  StageTotals totals;
  const auto take = [&](tbb::flow_control& fc) -> Work {
    const auto row = transport.next_row();
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
                               transport.deliver(pipeline::make_record(*w, options.host, options.rank));
                             }));
  return totals;
}

}  // namespace nc::cluster
