#include "cli/install_paths.hpp"

namespace nc::cli {
namespace {

namespace fs = std::filesystem;

// The running executable, links resolved; the prefix is the folder above its own.
fs::path prefix() {
  std::error_code ec;
  const fs::path exe = fs::canonical("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path().parent_path();
}

}  // namespace

fs::path default_model_path() { return prefix() / "share" / "neurocohort" / "models" / "resunet333.pt"; }

}  // namespace nc::cli
