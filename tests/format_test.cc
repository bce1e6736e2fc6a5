// Human-facing formatting of the CLI: sizes, RFC 3339 times both ways, time parsing edge cases,
// counted nouns, and escaping names for the terminal.
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

// What `log` and `show` print goes back into --at: the table's "YYYY-MM-DD hh:mm:ss" and the
// nine-digit RFC 3339 of show and --json.
TEST(ParseTime, AcceptsEveryFormTheCommandsPrint) {
  const int64_t t = 1795397760 * kSec + 123456789;
  EXPECT_EQ(ShortTime(t), "2026-11-23 01:36:00");
  EXPECT_EQ(ParseTime(Rfc3339(t)), t);
  for (int64_t when : {int64_t{0}, -kSec / 2, 1795397760 * kSec, t, INT64_MAX, INT64_MIN})
    EXPECT_EQ(ParseTime(Rfc3339(when)), when) << Rfc3339(when);
  EXPECT_EQ(ParseTime("2026-11-23t01:36:00.123456789z"), t) << "RFC 3339 5.6 allows lowercase t and z";
  EXPECT_EQ(ParseTime("2026-11-23 01:36:00.123456789Z"), t);
  EXPECT_EQ(ParseTime("2026-11-23T01:36:00.123456789+00:00"), t);
}

// A table cuts the fraction, so its time stands for the whole second: a checkpoint committed at
// 01:36:00.9 shows as 01:36:00, and `--at "2026-11-23 01:36:00"` must still select it.
TEST(ParseTime, ATablesTimeIsUtcAndMeansItsWholeSecond) {
  const int64_t second = 1795397760 * kSec;
  EXPECT_EQ(ParseTime("2026-11-23 01:36:00"), second + kSec - 1);
  EXPECT_EQ(ParseTime("2026-12-01 19:57:53"), ParseTime("2026-12-01T19:57:53.999999999Z"));
  for (int64_t commit : {second, second + 1, second + 900'000'000, second + kSec - 1}) {
    ASSERT_EQ(ShortTime(commit), "2026-11-23 01:36:00");
    EXPECT_GE(*ParseTime(ShortTime(commit)), commit) << "the copied time falls before its own commit";
    EXPECT_LT(*ParseTime(ShortTime(commit)), second + kSec) << "the copied time reaches the next second";
  }
  // The same text with an explicit zone is the instant it names, as RFC 3339 says.
  EXPECT_EQ(ParseTime("2026-11-23 01:36:00Z"), second);
  EXPECT_EQ(ParseTime("9999-12-31 23:59:59"), INT64_MAX);
}

TEST(ParseTime, TimesBeyondTheNanosecondRangeClamp) {
  EXPECT_EQ(ParseTime("2999-01-01T00:00:00Z"), INT64_MAX);
  EXPECT_EQ(ParseTime("99999999999"), INT64_MAX);
  EXPECT_EQ(ParseTime("1600-01-01T00:00:00Z"), INT64_MIN);
}

TEST(ParseTime, RejectsMalformedTimes) {
  for (const char* bad : {"", "yesterday", "2026-11-23", "2026-11-23T01:36:00", "2026-13-01T00:00:00Z",
                          "2026-11-23T25:00:00Z", "2026-11-23T01:36:00.Z", "2026-11-23T01:36:00+2:00",
                          "2026-11-23T01:36:00Zjunk", "1.2.3", ".5", "-5", "123456789012345", "1.0123456789",
                          // no zone: only the table's exact form may leave it out
                          "2026-11-23t01:36:00", "2026-11-23 01:36:00.5", "2026-11-23 01:36", "2026-11-23 01:36:00 ",
                          "2026-11-23_01:36:00Z",
                          // digits only where the layout has them (sscanf's %d would take these)
                          "2026-11-23 1:36:00Z", "2026-11-23 +1:36:00Z", "+026-11-23 01:36:00", "2026-1-23 01:36:00",
                          "2026-11-23T01:36:00+ 2:00", "2026-11-23T01:36:00+02:+0", "2026-11-23T01:36:00+0a:00"})
    EXPECT_FALSE(ParseTime(bad).has_value()) << bad;
}

TEST(HumanBytes, UsesBinaryUnitsWithThreeSignificantDigits) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1536), "1.50 KiB");
  EXPECT_EQ(HumanBytes(4ull << 20), "4.00 MiB");
  EXPECT_EQ(HumanBytes(300ull << 30), "300 GiB");
}

TEST(Rfc3339, PrintsNineDigitsAlwaysInUtc) {
  EXPECT_EQ(Rfc3339(0), "1970-01-01T00:00:00.000000000Z");
  EXPECT_EQ(Rfc3339(1795397760 * kSec + kSec / 2), "2026-11-23T01:36:00.500000000Z");
  EXPECT_EQ(Rfc3339(-1), "1969-12-31T23:59:59.999999999Z") << "before 1970 the fraction stays positive";
  EXPECT_EQ(Rfc3339(INT64_MAX), "2262-04-11T23:47:16.854775807Z");
  EXPECT_EQ(Rfc3339(INT64_MIN), "1677-09-21T00:12:43.145224192Z");
}

TEST(Plural, UsesTheSingularForOneOnly) {
  EXPECT_EQ(Plural(1, "checkpoint"), "1 checkpoint");
  EXPECT_EQ(Plural(3, "checkpoint"), "3 checkpoints");
  EXPECT_EQ(Plural(0, "tensor"), "0 tensors");
  EXPECT_EQ(Plural(1, "entry", "entries"), "1 entry");
  EXPECT_EQ(Plural(2, "entry", "entries"), "2 entries");
  EXPECT_EQ(Plural(UINT64_MAX, "byte"), "18446744073709551615 bytes");
}

TEST(Escaped, LeavesPrintableTextOfEveryScriptAlone) {
  for (const char* same : {"", "layers.0.weight", "model/embed tokens: 1 + 2 = 3", "权重.层", "\u00e9t\u00e9",
                           "caf\u00e9", "emoji \U0001F600 \U0001F44D\U0001F3FD", "\u00a0nbsp \u00ff \u0100",
                           "\U0010FFFF"})
    EXPECT_EQ(Escaped(same), same);
}

TEST(Escaped, EscapesControlsBackslashesAndInvalidBytes) {
  EXPECT_EQ(Escaped("a\nb"), "a\\nb");
  EXPECT_EQ(Escaped("a\tb\rc"), "a\\tb\\rc");
  EXPECT_EQ(Escaped("C:\\dir"), "C:\\\\dir") << "a backslash is escaped, so escapes cannot be forged";
  EXPECT_EQ(Escaped("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
  EXPECT_EQ(Escaped(std::string("nul\0here", 8)), "nul\\x00here");
  EXPECT_EQ(Escaped("\x7f \x01 \x1f"), "\\x7f \\x01 \\x1f");
  // C1 controls, valid UTF-8 that terminals obey (U+009B is CSI); U+00A0 just past them stays.
  EXPECT_EQ(Escaped("\u0080|\u009b31m|\u009f|\u00a0"), "\\xc2\\x80|\\xc2\\x9b31m|\\xc2\\x9f|\u00a0");
  // Invalid UTF-8: a stray continuation, a truncated sequence, an overlong form, a surrogate,
  // a lead byte past U+10FFFF; each bad byte alone, and the valid text after it kept.
  EXPECT_EQ(Escaped("\x80x"), "\\x80x");
  EXPECT_EQ(Escaped("ab\xe6\x9d"), "ab\\xe6\\x9d");
  EXPECT_EQ(Escaped("\xe6\x9d\xe6\x9d\x83"), "\\xe6\\x9d\u6743");
  EXPECT_EQ(Escaped("\xc0\xaf"), "\\xc0\\xaf");
  EXPECT_EQ(Escaped("\xed\xa0\x80"), "\\xed\\xa0\\x80");
  EXPECT_EQ(Escaped("\xf8\x88\x80\x80\x80"), "\\xf8\\x88\\x80\\x80\\x80");
  EXPECT_EQ(Escaped("\xff"), "\\xff");
}

// Escaping never cuts (unlike json::Printable's 80 bytes): the whole name is shown.
TEST(Escaped, KeepsLongNamesWhole) {
  const std::string longname(1000, 'n');
  EXPECT_EQ(Escaped(longname), longname);
  EXPECT_EQ(Escaped(longname + "\n").size(), 1002u);
}

}  // namespace
}  // namespace ckptdb::cli
