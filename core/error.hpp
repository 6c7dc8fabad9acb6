#pragma once
/// \file
/// The typed errors of neurocohort. Library code throws them; only cli/ catches, prints one
/// line and chooses the exit code.

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

}  // namespace nc
