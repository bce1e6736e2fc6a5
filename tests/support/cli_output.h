// Reading ckptdb output back in the CLI suites: JSON documents, object keys, lines (header-only: GoogleTest).
#pragma once

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "tools/json.h"

namespace ckptdb::cli_tests {

inline json::Value ParseJson(const std::string& text) {
  auto v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << v.status().ToString() << "\n" << text;
  return v.ok() ? *v : json::Value();
}

inline std::vector<std::string> Keys(const json::Value& v) {
  std::vector<std::string> keys;
  for (const auto& [k, unused] : v.as_object()) keys.push_back(k);
  return keys;
}

inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace ckptdb::cli_tests
