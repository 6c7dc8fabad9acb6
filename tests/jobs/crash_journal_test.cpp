// The crash journal: a fatal signal while a thread works on a scan leaves "ROW SIGNAL" for
// the next run, written from the signal handler; a process that ends otherwise leaves nothing.
#include "jobs/crash_journal.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <thread>

#include "tests/support/temp_dir.hpp"

namespace nc::jobs {
namespace {

using test::TempDir;

TEST(CrashJournal, SegfaultWhileOnAScanNamesTheRow) {
  TempDir dir;
  const auto results = dir / "r.h5";
  EXPECT_EXIT(
      {
        record_crashes_in(crash_journal_path(results, 3));
        std::thread worker([] {
          const ScanInFlight in_flight(41);
          ::raise(SIGSEGV);
        });
        worker.join();
      },
      ::testing::KilledBySignal(SIGSEGV), "");
  const auto crashed = read_crash_journals(results);
  ASSERT_EQ(crashed.size(), 1u);
  EXPECT_EQ(crashed.at(41), SIGSEGV);
  remove_crash_journals(results);
  EXPECT_TRUE(read_crash_journals(results).empty());
}

TEST(CrashJournal, ACrashOutsideAnyScanLeavesNoEntry) {
  TempDir dir;
  const auto results = dir / "r.h5";
  EXPECT_EXIT(
      {
        record_crashes_in(crash_journal_path(results, 0));
        { const ScanInFlight finished(7); }
        ::abort();
      },
      ::testing::KilledBySignal(SIGABRT), "");
  EXPECT_TRUE(read_crash_journals(results).empty());
}

TEST(CrashJournal, JournalsOfEveryRankAreRead) {
  TempDir dir;
  const auto results = dir / "r.h5";
  for (int rank : {1, 2}) {
    std::ofstream(crash_journal_path(results, rank)) << 10 * rank << " 11\n";
  }
  std::ofstream(dir / "other.h5.crash-0") << "5 11\n";  // another results file's journal
  const auto crashed = read_crash_journals(results);
  EXPECT_EQ(crashed, (std::map<std::size_t, int>{{10, 11}, {20, 11}}));
}

}  // namespace
}  // namespace nc::jobs
