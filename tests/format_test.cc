// Human-facing formatting of the CLI: sizes, RFC 3339 times both ways, and time parsing edge cases.
#include <gtest/gtest.h>

#include "tools/format.h"

namespace ckptdb::cli {
namespace {

constexpr int64_t kSec = 1'000'000'000;

TEST(ParseTime, AcceptsRfc3339InUtcWithAndWithoutFraction) {
  EXPECT_EQ(ParseTime("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseTime("2026-11-23T01:36:00Z"), 1795397760 * kSec);
  EXPECT_EQ(ParseTime("2026-11-23T01:36:00.5Z"), 1795397760 * kSec + kSec / 2);
  EXPECT_EQ(ParseTime("2026-11-23T01:36:00.123456789Z"), 1795397760 * kSec + 123456789);
  EXPECT_EQ(ParseTime("2026-11-23 01:36:00z"), 1795397760 * kSec);
}

TEST(ParseTime, AppliesTheZoneOffset) {
  EXPECT_EQ(ParseTime("2026-11-23T03:36:00+02:00"), 1795397760 * kSec);
  EXPECT_EQ(ParseTime("2026-11-22T23:06:00-02:30"), 1795397760 * kSec);
}

TEST(ParseTime, AcceptsUnixTimestampsInSeconds) {
  EXPECT_EQ(ParseTime("1795397760"), 1795397760 * kSec);
  EXPECT_EQ(ParseTime("1795397760.25"), 1795397760 * kSec + kSec / 4);
  EXPECT_EQ(ParseTime("0"), 0);
}

TEST(ParseTime, RoundTripsWhatTheLogPrintsToTheNanosecond) {
  const int64_t t = 1795397760 * kSec + 123456789;
  EXPECT_EQ(Rfc3339(t), "2026-11-23T01:36:00.123456789Z");
  EXPECT_EQ(ParseTime(Rfc3339(t)), t);
}

TEST(ParseTime, TimesBeyondTheNanosecondRangeClamp) {
  EXPECT_EQ(ParseTime("2999-01-01T00:00:00Z"), INT64_MAX);
  EXPECT_EQ(ParseTime("99999999999"), INT64_MAX);
  EXPECT_EQ(ParseTime("1600-01-01T00:00:00Z"), INT64_MIN);
}

TEST(ParseTime, RejectsMalformedTimes) {
  for (const char* bad : {"", "yesterday", "2026-11-23", "2026-11-23T01:36:00", "2026-13-01T00:00:00Z",
                          "2026-11-23T25:00:00Z", "2026-11-23T01:36:00.Z", "2026-11-23T01:36:00+2:00",
                          "2026-11-23T01:36:00Zjunk", "1.2.3", ".5", "-5", "123456789012345", "1.0123456789"})
    EXPECT_FALSE(ParseTime(bad).has_value()) << bad;
}

TEST(HumanBytes, UsesBinaryUnitsWithThreeSignificantDigits) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1536), "1.50 KiB");
  EXPECT_EQ(HumanBytes(4ull << 20), "4.00 MiB");
  EXPECT_EQ(HumanBytes(300ull << 30), "300 GiB");
}

}  // namespace
}  // namespace ckptdb::cli
