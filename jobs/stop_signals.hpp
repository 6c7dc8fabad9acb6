#pragma once
/// \file
/// Graceful stop: the first SIGINT, SIGTERM or SIGUSR1 (Slurm's warning before the time
/// limit) sets a flag that the run polls between scans; scans in flight finish and are
/// flushed, and the run exits resumable. A second signal of the same kind acts as usual
/// (kills the process).

#include <atomic>

namespace nc::jobs {

/// Installs the handlers (once) and returns the flag they set.
const std::atomic<bool>& install_stop_handlers();

/// The signal that set the flag, or 0.
int stop_signal();

}  // namespace nc::jobs
