// Human-facing formatting shared by the commands: sizes, times, counts, escaped names, aligned tables.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string_view>
#include <string>
#include <vector>

#include "ckptdb/checkpoint.h"
#include "store/human_text.h"

namespace ckptdb::cli {

// "0 B", "512 B", "1.5 KiB", "4.0 MiB", "2.00 GiB".
std::string HumanBytes(uint64_t bytes);
// RFC 3339 UTC with all nine fraction digits: "2026-11-23T01:36:00.123456789Z" (the library's
// FormatRfc3339 with TimeDigits::kNanoseconds).
std::string Rfc3339(int64_t unix_ns);
// Parses a time into UTC nanoseconds; nullopt if malformed. Accepts every form the commands print
// and the usual ways to type one:
//  - RFC 3339 with any fraction and zone, 'T'/'t' or ' ' between date and time, 'Z' or 'z':
//    "2026-11-23T01:36:00Z", "2026-11-23T03:36:00.5+02:00", "2026-11-23 01:36:00.123456789z";
//  - ShortTime's form as tables print it, "2026-11-23 01:36:00": UTC, and since tables cut the
//    fraction it stands for its whole second and parses to that second's last nanosecond, so that
//    `--at` with a time copied from a table selects the row it was copied from;
//  - a Unix timestamp in seconds, "1763861760" or "1763861760.25".
// A 'T' form without a zone is refused: it would be a local time, which RFC 3339 does not allow.
// Times outside what int64 nanoseconds can hold (before 1677, after 2262) clamp to its limits, which
// select the same checkpoints as the times themselves would.
std::optional<int64_t> ParseTime(std::string_view text);
// "2026-11-23 01:36:00" (UTC, the fraction cut), for tables.
std::string ShortTime(int64_t unix_ns);
// Plural(n, singular, plural = {}): "1 checkpoint", "3 checkpoints", "0 tensors"; the library's,
// declared in store/human_text.h, so that its messages and the commands' agree.
using ckptdb::Plural;
// `s` made safe to print where people read it, whole (never cut): a backslash becomes "\\", newline,
// tab and carriage return "\n", "\t", "\r", and every other byte of a control character (C0,
// DEL, and C1 U+0080..U+009F, whose UTF-8 bytes are escaped one by one) or of invalid UTF-8 "\xNN"
// (lowercase hex). Everything else, valid UTF-8 of any script or emoji, is unchanged. So a name
// read from a file cannot break a line, forge output, or send the terminal escape sequences, and
// reading the escapes back gives the original bytes.
std::string Escaped(std::string_view s);
// As Escaped, but a backslash stays as it is: for messages, whose names the library has already
// escaped (json::Printable), so that they are not escaped twice; control bytes still never pass.
std::string EscapedControls(std::string_view s);
// The checkpoints' ids in order, "4, 3, 1", for messages that name what a command changed.
std::string JoinIds(const std::vector<CheckpointInfo>& checkpoints);

// A table whose columns are padded to their widest cell; `right` marks right-aligned columns.
// Every cell, the header's too, is printed Escaped, so a name holding a newline or an escape code stays one cell.
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
