#include "store/human_text.h"

#include <cstdio>
#include <ctime>

namespace ckptdb {

std::string FormatRfc3339(int64_t unix_ns, TimeDigits digits) {
  // Floor division, so a time before 1970 keeps a non-negative fraction of its second.
  int64_t secs = unix_ns / 1'000'000'000;
  int64_t frac = unix_ns % 1'000'000'000;
  if (frac < 0) frac += 1'000'000'000, --secs;
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string out(buf, n);
  if (frac != 0 || digits == TimeDigits::kNanoseconds) {
    n = std::snprintf(buf, sizeof buf, ".%09lld", static_cast<long long>(frac));
    if (digits == TimeDigits::kShortest)
      while (buf[n - 1] == '0') --n;
    out.append(buf, n);
  }
  return out + "Z";
}

std::string Plural(uint64_t n, std::string_view singular, std::string_view plural) {
  std::string out = std::to_string(n) + " ";
  if (n == 1) return out.append(singular);
  if (plural.empty()) return out.append(singular).append("s");
  return out.append(plural);
}

}  // namespace ckptdb
