#include "tools/format.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

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
  int64_t sub = 0;
  std::tm tm = UtcTm(unix_ns, &sub);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(sub / 1000));
  return buf;
}

std::string ShortTime(int64_t unix_ns) {
  int64_t sub = 0;
  std::tm tm = UtcTm(unix_ns, &sub);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

Table::Table(std::vector<std::string> header, std::vector<bool> right) : right_(std::move(right)) {
  right_.resize(header.size(), false);
  rows_.push_back(std::move(header));
}

void Table::Add(std::vector<std::string> row) {
  row.resize(rows_[0].size());
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
