#pragma once
/// \file
/// The typed errors of neurocohort and the exit codes they map to. Library code throws them;
/// cli/ catches, prints one line and exits with exit_code_of() (an MPI rank aborts the job
/// with it).

#include <stdexcept>
#include <string>

namespace nc {

/// What an error says about the run: the user's input or configuration is wrong (exit code 2),
/// or the machine or a library failed while working — a full disk, an HDF5 or CUDA failure
/// (exit code 3, as for internal errors). docs/user-guide.md lists the exit codes.
enum class Cause { Input, Runtime };

/// Base of every error neurocohort raises on purpose.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, Cause cause = Cause::Input) : std::runtime_error(what), cause_(cause) {}
  Cause cause() const noexcept { return cause_; }

 private:
  Cause cause_;
};

/// A command-line or configuration mistake (exit code 2).
class UsageError : public Error {
 public:
  using Error::Error;
};

/// An image that cannot be used: carries the file and the reason separately, so that a
/// cohort run can record the reason against the scan.
class ImageError : public Error {
 public:
  ImageError(std::string path, std::string reason, Cause cause = Cause::Input)
      : Error(path + ": " + reason, cause), path_(std::move(path)), reason_(std::move(reason)) {}
  const std::string& path() const noexcept { return path_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string path_;
  std::string reason_;
};

/// A manifest that fails validation; what() lists every problem, one per line.
class ManifestError : public Error {
 public:
  using Error::Error;
};

/// The HDF5 cohort store cannot be created, opened or written.
class StoreError : public Error {
 public:
  using Error::Error;
};

/// The exit status of every command (docs/user-guide.md lists them); a run stopped by a signal
/// exits with 128 + the signal instead.
enum class ExitCode : int { Ok = 0, ScansFailed = 1, Usage = 2, Runtime = 3 };
constexpr int exit_status(ExitCode code) { return static_cast<int>(code); }

/// The exit code of a command that stopped on `error`: Usage for the input's fault, Runtime for
/// everything else (a library's failure, an internal error).
inline ExitCode exit_code_of(const std::exception& error) {
  const auto* known = dynamic_cast<const Error*>(&error);
  return known && known->cause() == Cause::Input ? ExitCode::Usage : ExitCode::Runtime;
}

}  // namespace nc
