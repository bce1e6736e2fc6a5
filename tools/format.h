// Human-facing formatting shared by the commands: sizes, times, aligned tables.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string_view>
#include <string>
#include <vector>

#include "ckptdb/checkpoint.h"

namespace ckptdb::cli {

// "1 checkpoint", "3 checkpoints": `n` and the noun, plural unless n is 1 (`plural` defaults to
// singular + "s").
std::string Plural(uint64_t n, std::string_view singular, std::string_view plural = {});
// "0 B", "512 B", "1.5 KiB", "4.0 MiB", "2.00 GiB".
std::string HumanBytes(uint64_t bytes);
// RFC 3339 UTC with nanoseconds: "2026-11-23T01:36:00.123456789Z".
std::string Rfc3339(int64_t unix_ns);
// Parses an RFC 3339 time ("2026-11-23T01:36:00Z", "2026-11-23T03:36:00.5+02:00") or a Unix
// timestamp in seconds ("1763861760", "1763861760.25") into UTC nanoseconds; nullopt if malformed.
// Times outside what int64 nanoseconds can hold (before 1677, after 2262) clamp to its limits, which
// select the same checkpoints as the times themselves would.
std::optional<int64_t> ParseTime(std::string_view text);
// "2026-11-23 01:36:00" (UTC), for tables.
std::string ShortTime(int64_t unix_ns);
// The checkpoints' ids in order, "4, 3, 1", for messages that name what a command changed.
std::string JoinIds(const std::vector<CheckpointInfo>& checkpoints);

// A table whose columns are padded to their widest cell; `right` marks right-aligned columns.
class Table {
 public:
  explicit Table(std::vector<std::string> header, std::vector<bool> right = {});
  void Add(std::vector<std::string> row);
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> right_;
};

}  // namespace ckptdb::cli
