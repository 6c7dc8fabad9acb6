// Child process of the kill test: creates a store, writes `records` records (announcing each
// flush on stdout), then waits to be killed, so the SIGKILL lands between records.
#include <unistd.h>

#include <iostream>

#include "tests/support/store_fixture.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: store_writer_child STORE.h5 RECORDS\n";
    return 2;
  }
  const std::size_t records = std::stoul(argv[2]);
  auto store = nc::io::CohortStore::create(argv[1], nc::test::test_scan_table(records + 5), nc::test::test_regions(),
                                           nc::test::test_metrics(), {{"tool", "store_writer_child"}},
                                           nc::test::test_qc_layout());
  for (std::size_t row = 0; row < records; ++row) {
    store.write(nc::test::test_record(row));
    std::cout << "flushed " << row << std::endl;
  }
  while (true) pause();
}
