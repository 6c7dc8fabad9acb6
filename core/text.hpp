#pragma once
/// \file
/// Small text helpers shared by the parsers of tables and image headers.

#include <algorithm>
#include <cctype>
#include <string>

namespace nc {

/// `s` without leading and trailing characters of `blanks`.
inline std::string trim(const std::string& s, const char* blanks = " \t\r") {
  const auto first = s.find_first_not_of(blanks);
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(blanks) - first + 1);
}

/// ASCII lower case.
inline std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

}  // namespace nc
