#include "jobs/stop_signals.hpp"

#include <csignal>

namespace nc::jobs {
namespace {

std::atomic<bool> g_stop{false};
volatile std::sig_atomic_t g_signal = 0;
static_assert(std::atomic<bool>::is_always_lock_free, "the flag is set from a signal handler");

extern "C" void on_stop_signal(int signal) {
  g_signal = signal;
  g_stop.store(true);
}

}  // namespace

const std::atomic<bool>& install_stop_handlers() {
  static const bool installed = [] {
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    action.sa_flags = SA_RESETHAND;  // the second signal gets the default action
    sigemptyset(&action.sa_mask);
    for (int s : {SIGINT, SIGTERM, SIGUSR1}) sigaction(s, &action, nullptr);
    return true;
  }();
  (void)installed;
  return g_stop;
}

int stop_signal() { return g_signal; }

}  // namespace nc::jobs
