#pragma once
/// \file
/// Small text helpers shared by the parsers of tables, image headers and program output, and
/// the HTML pages.

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace nc {

/// `s` without leading and trailing characters of `blanks`.
inline std::string trim(const std::string& s, const char* blanks = " \t\r\n") {
  const auto first = s.find_first_not_of(blanks);
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(blanks) - first + 1);
}

/// The fields of `text` between `separator`s, empty ones kept: "a::b" has three fields and ""
/// one, so that a parser sees a missing field (a trailing "1:" of a time limit) as an empty one.
inline std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  for (auto end = text.find(separator); end != std::string::npos; end = text.find(separator, start)) {
    fields.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  fields.push_back(text.substr(start));
  return fields;
}

/// ASCII lower case.
inline std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

/// ASCII upper case.
inline std::string uppercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::toupper(c)); });
  return s;
}

/// Text safe inside HTML elements and double-quoted attributes.
inline std::string escape_html(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

}  // namespace nc
