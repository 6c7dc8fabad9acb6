#pragma once
/// \file
/// A per-process temporary file that a fuzz target rewrites with each input, for the readers
/// that take a path. Created once (mkstemps keeps the suffix the reader dispatches on) and
/// removed at exit.

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace nc::fuzz {

class TempFile {
 public:
  explicit TempFile(const std::string& suffix) {
    std::string pattern = "/tmp/nc_fuzz_" + std::to_string(::getpid()) + "_XXXXXX" + suffix;
    const int fd = ::mkstemps(pattern.data(), int(suffix.size()));
    if (fd < 0) {
      std::perror("mkstemps");
      std::abort();
    }
    ::close(fd);
    path_ = pattern;
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  /// Replaces the file's contents with `data` and returns its path.
  const std::string& write(const std::uint8_t* data, std::size_t size) const {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_TRUNC);
    if (fd < 0) std::abort();
    for (std::size_t done = 0; done < size;) {
      const ssize_t n = ::write(fd, data + done, size - done);
      if (n <= 0) std::abort();
      done += std::size_t(n);
    }
    ::close(fd);
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace nc::fuzz
