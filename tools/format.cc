#include "tools/format.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <ctime>

#include "ckptdb/tensor.h"  // IsValidUtf8

namespace ckptdb::cli {
namespace {

std::tm UtcTm(int64_t unix_ns, int64_t* sub_ns) {
  int64_t secs = unix_ns / 1'000'000'000;
  int64_t rem = unix_ns % 1'000'000'000;
  if (rem < 0) { rem += 1'000'000'000; --secs; }
  *sub_ns = rem;
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm;
}

// secs * 1e9 + frac_ns, clamped to the int64 range instead of overflowing.
int64_t ClampedNs(int64_t secs, int64_t frac_ns) {
  int64_t ns;
  if (__builtin_mul_overflow(secs, int64_t{1'000'000'000}, &ns) || __builtin_add_overflow(ns, frac_ns, &ns))
    return secs < 0 ? INT64_MIN : INT64_MAX;
  return ns;
}

// Whether s starts "YYYY-MM-DD?hh:mm:ss" with digits exactly where they belong ('?' is checked by
// the caller): sscanf's %d alone would also take signs and spaces.
bool HasDateTimeLayout(const std::string& s) {
  static constexpr std::string_view kLayout = "dddd-dd-dd?dd:dd:dd";
  if (s.size() < kLayout.size()) return false;
  for (size_t i = 0; i < kLayout.size(); ++i)
    if (kLayout[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(s[i])) : kLayout[i] != '?' && kLayout[i] != s[i])
      return false;
  return true;
}

// Display width: count UTF-8 lead bytes, so names with non-ASCII characters still align.
size_t Width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 5) { v /= 1024; ++u; }
  char buf[32];
  std::snprintf(buf, sizeof buf, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, kUnits[u]);
  return buf;
}

std::string Rfc3339(int64_t unix_ns) {
  // All nine digits: a time copied from the log into --at must not fall before its own commit.
  return FormatRfc3339(unix_ns, TimeDigits::kNanoseconds);
}

std::optional<int64_t> ParseTime(std::string_view text) {
  const std::string s(text);
  // A Unix timestamp: digits, optionally a fraction.
  if (!s.empty() && s.find_first_not_of("0123456789.") == std::string::npos) {
    const auto dot = s.find('.');
    if (s.find('.', dot == std::string::npos ? s.size() : dot + 1) != std::string::npos) return std::nullopt;
    const std::string whole = s.substr(0, dot), frac = dot == std::string::npos ? "" : s.substr(dot + 1);
    if (whole.empty() || whole.size() > 11 || frac.size() > 9) return std::nullopt;
    return ClampedNs(std::stoll(whole), frac.empty() ? 0 : std::stoll(frac + std::string(9 - frac.size(), '0')));
  }
  std::tm tm{};
  int consumed = 0;
  if (!HasDateTimeLayout(s)) return std::nullopt;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 || consumed != 19)
    return std::nullopt;
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  size_t i = 19;
  int64_t frac_ns = 0;
  if (i < s.size() && s[i] == '.') {
    size_t digits = 0;
    for (++i; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i, ++digits)
      if (digits < 9) frac_ns = frac_ns * 10 + (s[i] - '0');
    if (digits == 0) return std::nullopt;
    for (size_t d = std::min<size_t>(digits, 9); d < 9; ++d) frac_ns *= 10;
  }
  int64_t offset_s = 0;
  if (i == 19 && i == s.size() && s[10] == ' ') {
    // A table's time: UTC, its fraction cut, so it means its whole second (see format.h).
    frac_ns = 999'999'999;
  } else if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    const auto digit = [&](size_t k) { return s[i + k] - '0'; };
    for (size_t k : {1, 2, 4, 5})
      if (!std::isdigit(static_cast<unsigned char>(s[i + k]))) return std::nullopt;
    const int oh = digit(1) * 10 + digit(2), om = digit(4) * 10 + digit(5);
    if (oh > 23 || om > 59) return std::nullopt;
    offset_s = (s[i] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    i += 6;
  } else {
    return std::nullopt;  // RFC 3339 requires a zone; only a table's form may leave it out
  }
  if (i != s.size()) return std::nullopt;
  return ClampedNs(static_cast<int64_t>(timegm(&tm)) - offset_s, frac_ns);
}

std::string ShortTime(int64_t unix_ns) {
  int64_t sub = 0;
  std::tm tm = UtcTm(unix_ns, &sub);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

namespace {

std::string Escape(std::string_view s, bool backslash) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    // The length of the well-formed UTF-8 sequence at i (the library's rule), or 0.
    const size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    const bool valid = len != 0 && i + len <= s.size() && (len == 1 || IsValidUtf8(s.substr(i, len)));
    // C1 controls are U+0080..U+009F, in UTF-8 0xC2 followed by 0x80..0x9F; terminals obey some
    // (U+009B is CSI), so they are escaped like C0 ones.
    const bool c1 = valid && len == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0;
    if (valid && !c1 && c >= 0x20 && c != 0x7F && (c != '\\' || !backslash)) {
      out.append(s.substr(i, len));
      i += len;
      continue;
    }
    const size_t n = c1 ? 2 : 1;  // an invalid byte alone: the next may start a valid sequence
    for (size_t k = 0; k < n; ++k, ++i) {
      const unsigned char b = s[i];
      if (b == '\\') out += "\\\\";
      else if (b == '\n') out += "\\n";
      else if (b == '\t') out += "\\t";
      else if (b == '\r') out += "\\r";
      else out += {'\\', 'x', kHex[b >> 4], kHex[b & 0xF]};
    }
  }
  return out;
}

}  // namespace

std::string Escaped(std::string_view s) { return Escape(s, true); }
std::string EscapedControls(std::string_view s) { return Escape(s, false); }

std::string JoinIds(const std::vector<CheckpointInfo>& checkpoints) {
  std::string s;
  for (const CheckpointInfo& c : checkpoints) s += (s.empty() ? "" : ", ") + std::to_string(c.id);
  return s;
}

Table::Table(std::vector<std::string> header, std::vector<bool> right) : right_(std::move(right)) {
  right_.resize(header.size(), false);
  for (std::string& cell : header) cell = Escaped(cell);  // some tables' first row is data (diff, du)
  rows_.push_back(std::move(header));
}

void Table::Add(std::vector<std::string> row) {
  row.resize(rows_[0].size());
  for (std::string& cell : row) cell = Escaped(cell);  // names from files must not break the table
  rows_.push_back(std::move(row));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> w(rows_[0].size(), 0);
  for (const auto& r : rows_)
    for (size_t c = 0; c < r.size(); ++c) w[c] = std::max(w[c], Width(r[c]));
  for (const auto& r : rows_) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c) {
      const std::string pad(w[c] - Width(r[c]), ' ');
      if (c) line += "  ";
      line += right_[c] ? pad + r[c] : (c + 1 == r.size() ? r[c] : r[c] + pad);
    }
    out << line << "\n";
  }
}

}  // namespace ckptdb::cli
