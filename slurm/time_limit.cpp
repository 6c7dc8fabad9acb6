#include "slurm/time_limit.hpp"

#include <charconv>
#include <vector>

#include "core/error.hpp"
#include "core/text.hpp"

namespace nc::slurm {
namespace {

[[noreturn]] void malformed(const std::string& text) {
  throw UsageError("--time '" + text +
                   "' is not a Slurm time limit (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)");
}

long number(const std::string& part, const std::string& text) {
  long value = -1;
  const auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
  if (part.empty() || ec != std::errc() || ptr != part.data() + part.size() || value < 0) malformed(text);
  return value;
}

}  // namespace

long parse_time_limit(const std::string& text) {
  const auto dash = text.find('-');
  long seconds = 0;
  std::string clock = text;
  if (dash != std::string::npos) {
    seconds = number(text.substr(0, dash), text) * 86400;
    clock = text.substr(dash + 1);
  }
  if (text.size() > 32) malformed(text);  // also keeps the products below far from overflow
  const auto parts = split(clock, ':');
  if (parts.size() > 3) malformed(text);
  std::vector<long> v;
  for (const auto& p : parts) v.push_back(number(p, text));
  // Every field after the leading one is bounded by the next unit (hours < 24 after a day,
  // minutes and seconds < 60); Slurm itself would reject 1-25:99:99 only at submission.
  const auto bounded = [&](std::size_t i, long limit) {
    if (v[i] >= limit) malformed(text);
    return v[i];
  };
  if (dash != std::string::npos) {  // D-H, D-H:M, D-H:M:S
    const long factors[3] = {3600, 60, 1}, limits[3] = {24, 60, 60};
    for (std::size_t i = 0; i < v.size(); ++i) seconds += bounded(i, limits[i]) * factors[i];
  } else if (v.size() == 1) {  // M
    seconds = v[0] * 60;
  } else if (v.size() == 2) {  // M:S
    seconds = v[0] * 60 + bounded(1, 60);
  } else {  // H:M:S
    seconds = v[0] * 3600 + bounded(1, 60) * 60 + bounded(2, 60);
  }
  if (seconds <= 0) malformed(text);
  return seconds;
}

}  // namespace nc::slurm
