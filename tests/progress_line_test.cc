// Specifies the terminal progress line: what it draws for given bytes and times (a fake clock),
// how often it redraws, that it erases itself at the end, and that disabled it writes nothing.
#include "tools/progress.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace ckptdb::cli {
namespace {

using namespace std::chrono_literals;
constexpr uint64_t kMiB = 1 << 20;
const std::string kErase = "\x1b[K";

// A clock the test moves by hand.
struct FakeClock {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};
  ProgressLine::Clock fn() {
    return [this] { return now; };
  }
};

TEST(ClockTime, ReadsLikeAClock) {
  EXPECT_EQ(ClockTime(0), "0:00");
  EXPECT_EQ(ClockTime(7), "0:07");
  EXPECT_EQ(ClockTime(12), "0:12");
  EXPECT_EQ(ClockTime(62), "1:02");
  EXPECT_EQ(ClockTime(754), "12:34");
  EXPECT_EQ(ClockTime(3599), "59:59");
  EXPECT_EQ(ClockTime(3600), "1:00:00");
  EXPECT_EQ(ClockTime(3723), "1:02:03");
  EXPECT_EQ(ClockTime(120 * 3600), "120:00:00");
}

TEST(ProgressLine, ShowsBytesPercentRateAndTimeLeft) {
  FakeClock clock;
  std::ostringstream err;
  ProgressLine line(err, true, "import", clock.fn());
  EXPECT_EQ(line.Text(0, 100 * kMiB, 0s), "import  0 B / 100 MiB  0%") << "no rate before any bytes";
  EXPECT_EQ(line.Text(12 * kMiB, 100 * kMiB, 3s), "import  12.0 MiB / 100 MiB  12%  4.00 MiB/s  0:22 left");
  EXPECT_EQ(line.Text(50 * kMiB, 100 * kMiB, 50s), "import  50.0 MiB / 100 MiB  50%  1.00 MiB/s  0:50 left");
  EXPECT_EQ(line.Text(1 * kMiB, 4000 * kMiB, 1s), "import  1.00 MiB / 3.91 GiB  0%  1.00 MiB/s  1:06:39 left");
  EXPECT_EQ(line.Text(100 * kMiB, 100 * kMiB, 10s), "import  100 MiB / 100 MiB  100%  10.0 MiB/s  0:00 left");
  // Percent rounds down, so 100% appears only when the work is done.
  EXPECT_EQ(line.Text(100 * kMiB - 1, 100 * kMiB, 10s).find("100%"), std::string::npos);
  // More done than announced (the total grew): capped, never past 100% or below 0:00.
  EXPECT_EQ(line.Text(120 * kMiB, 100 * kMiB, 10s), "import  120 MiB / 100 MiB  100%  12.0 MiB/s  0:00 left");
  // An unknown total: bytes and rate only.
  EXPECT_EQ(line.Text(3 * kMiB, 0, 2s), "import  3.00 MiB  1.50 MiB/s");
  // Within the first few milliseconds a rate would be noise.
  EXPECT_EQ(line.Text(1 * kMiB, 100 * kMiB, 10ms), "import  1.00 MiB / 100 MiB  1%");
}

TEST(ProgressLine, DrawsInPlaceAndErasesItselfAtTheEnd) {
  FakeClock clock;
  std::ostringstream err;
  ProgressLine line(err, true, "verify", clock.fn());
  line.Update(0, 8 * kMiB);
  EXPECT_EQ(err.str(), "\rverify  0 B / 8.00 MiB  0%" + kErase);
  clock.now += 1s;
  line.Update(2 * kMiB, 8 * kMiB);
  EXPECT_EQ(err.str(), "\rverify  0 B / 8.00 MiB  0%" + kErase + "\rverify  2.00 MiB / 8.00 MiB  25%  2.00 MiB/s  0:03 left" +
                           kErase);
  err.str("");
  line.Finish();
  EXPECT_EQ(err.str(), "\r" + kErase) << "the line is erased, leaving the cursor at its start";
  line.Finish();
  line.Update(8 * kMiB, 8 * kMiB);
  EXPECT_EQ(err.str(), "\r" + kErase) << "nothing after Finish";
}

TEST(ProgressLine, RedrawsAtMostTenTimesASecondButAlwaysShowsCompletion) {
  FakeClock clock;
  std::ostringstream err;
  ProgressLine line(err, true, "gc", clock.fn());
  line.Update(1, 1000 * kMiB);
  const std::string first = err.str();
  for (int i = 0; i < 9; ++i) {  // 90 ms of updates: none drawn
    clock.now += 10ms;
    line.Update(2 * kMiB + i, 1000 * kMiB);
  }
  EXPECT_EQ(err.str(), first);
  clock.now += 10ms;  // 100 ms after the first draw
  line.Update(3 * kMiB, 1000 * kMiB);
  EXPECT_NE(err.str(), first);
  EXPECT_NE(err.str().find("3.00 MiB / 1000 MiB"), std::string::npos) << err.str();
  const std::string second = err.str();
  clock.now += 1ms;
  line.Update(1000 * kMiB, 1000 * kMiB);  // done: drawn at once
  EXPECT_NE(err.str(), second);
  EXPECT_NE(err.str().find("100%"), std::string::npos) << err.str();

  // Over 10 s of updates every millisecond, about 100 draws.
  FakeClock c2;
  std::ostringstream e2;
  ProgressLine busy(e2, true, "export", c2.fn());
  for (int ms = 0; ms < 10000; ++ms, c2.now += 1ms) busy.Update(uint64_t(ms) * kMiB, 20000 * kMiB);
  size_t draws = 0;
  for (char ch : e2.str()) draws += ch == '\r';
  EXPECT_GE(draws, 95u);
  EXPECT_LE(draws, 101u);
}

TEST(ProgressLine, DisabledWritesNothingAtAll) {
  FakeClock clock;
  std::ostringstream err;
  {
    ProgressLine line(err, false, "import", clock.fn());
    for (int i = 0; i <= 10; ++i, clock.now += 1s) line.Update(i * kMiB, 10 * kMiB);
    line.Finish();
  }
  EXPECT_EQ(err.str(), "");
}

TEST(ProgressLine, NothingDrawnNothingErased) {
  std::ostringstream err;
  { ProgressLine line(err, true, "import"); }
  EXPECT_EQ(err.str(), "") << "a command that ended before any progress leaves stderr untouched";
}

TEST(ProgressLine, TheDestructorErasesALineLeftDrawn) {
  std::ostringstream err;
  {
    ProgressLine line(err, true, "import");
    line.Update(1, 2);
  }
  EXPECT_EQ(err.str().substr(err.str().size() - 4), "\r" + kErase);
}

// The label may be a file name: it cannot send terminal codes, and a long one is cut.
TEST(ProgressLine, TheLabelIsEscapedAndKeptShort) {
  FakeClock clock;
  std::ostringstream err;
  ProgressLine evil(err, true, "a\x1b]0;owned\x07\nb", clock.fn());
  EXPECT_EQ(evil.Text(0, 0, 0s), "a\\x1b]0;owned\\x07\\nb  0 B");
  ProgressLine long_name(err, true, std::string(100, 'n'), clock.fn());
  EXPECT_EQ(long_name.Text(0, 0, 0s), std::string(ProgressLine::kMaxLabel - 3, 'n') + "...  0 B");
  ProgressLine wide(err, true, "模型权重模型权重模型权重模型权重模型权重模型权重模型权重", clock.fn());  // 28 characters
  EXPECT_EQ(wide.Text(0, 0, 0s), "模型权重模型权重模型权重模型权重模型权重模...  0 B");
  ProgressLine fits(err, true, std::string(ProgressLine::kMaxLabel, 'f'), clock.fn());
  EXPECT_EQ(fits.Text(0, 0, 0s), std::string(ProgressLine::kMaxLabel, 'f') + "  0 B");
}

// Work reported from several threads draws whole lines, never interleaved pieces.
TEST(ProgressLine, UpdatesFromSeveralThreadsDrawWholeLines) {
  std::ostringstream err;
  {
    ProgressLine line(err, true, "import");
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&line, t] {
        for (int i = 0; i < 2000; ++i) line.Update(uint64_t(i) * 4 + t, 8000);
      });
    for (auto& t : threads) t.join();
  }
  const std::string out = err.str();
  ASSERT_FALSE(out.empty());
  for (size_t at = 0; (at = out.find('\r', at)) != std::string::npos; ++at) {
    const size_t end = out.find(kErase, at);
    ASSERT_NE(end, std::string::npos);
    const std::string text = out.substr(at + 1, end - at - 1);
    EXPECT_TRUE(text.empty() || text.rfind("import  ", 0) == 0) << text;
    EXPECT_EQ(text.find('\r'), std::string::npos) << text;
  }
}

TEST(IsTerminal, IsFalseForAPipeAndAFile) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  EXPECT_FALSE(IsTerminal(fds[0]));
  EXPECT_FALSE(IsTerminal(fds[1]));
  ::close(fds[0]);
  ::close(fds[1]);
  const int null = ::open("/dev/null", O_WRONLY);
  ASSERT_GE(null, 0);
  EXPECT_FALSE(IsTerminal(null));
  ::close(null);
  EXPECT_FALSE(IsTerminal(-1));
}

// A pseudo-terminal is a terminal: the case where progress is shown.
TEST(IsTerminal, IsTrueForAPseudoTerminal) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0) GTEST_SKIP() << "no pseudo-terminals here";
  ASSERT_EQ(::grantpt(master), 0);
  ASSERT_EQ(::unlockpt(master), 0);
  const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
  ASSERT_GE(slave, 0);
  EXPECT_TRUE(IsTerminal(slave));
  ::close(slave);
  ::close(master);
}

}  // namespace
}  // namespace ckptdb::cli
