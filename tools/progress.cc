#include "tools/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "tools/format.h"

namespace ckptdb::cli {
namespace {

// ESC[K erases from the cursor to the end of the line: what a longer earlier line left behind.
constexpr const char* kEraseToEnd = "\x1b[K";

// `label` escaped and cut to `max` characters (UTF-8 code points), "..." marking a cut.
std::string ShortLabel(const std::string& label, size_t max) {
  const std::string s = Escaped(label);
  std::vector<size_t> starts;  // where each character begins
  for (size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) starts.push_back(i);
  if (starts.size() <= max) return s;
  return s.substr(0, starts[max - 3]) + "...";
}

}  // namespace

bool IsTerminal(int fd) { return ::isatty(fd) == 1; }

std::string ClockTime(uint64_t seconds) {
  char buf[48];
  const uint64_t h = seconds / 3600, m = seconds / 60 % 60, s = seconds % 60;
  if (h > 0)
    std::snprintf(buf, sizeof buf, "%llu:%02llu:%02llu", static_cast<unsigned long long>(h),
                  static_cast<unsigned long long>(m), static_cast<unsigned long long>(s));
  else
    std::snprintf(buf, sizeof buf, "%llu:%02llu", static_cast<unsigned long long>(m),
                  static_cast<unsigned long long>(s));
  return buf;
}

ProgressLine::ProgressLine(std::ostream& err, bool enabled, std::string label, Clock clock)
    : err_(err),
      enabled_(enabled),
      label_(ShortLabel(label, kMaxLabel)),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })),
      start_(clock_()) {}

ProgressLine::~ProgressLine() { Finish(); }

std::string ProgressLine::Text(uint64_t done, uint64_t total, std::chrono::nanoseconds elapsed) const {
  std::string text = label_ + "  " + HumanBytes(done);
  if (total > 0) {
    const uint64_t shown = std::min(done, total);
    // Whole percent, rounded down, so 100% means done.
    const unsigned percent = static_cast<unsigned>(static_cast<double>(shown) * 100 / static_cast<double>(total));
    text += " / " + HumanBytes(total) + "  " + std::to_string(percent) + "%";
  }
  const double secs = std::chrono::duration<double>(elapsed).count();
  // Only once there is something to measure: a rate from the first few milliseconds is noise.
  if (done > 0 && secs >= 0.05) {
    const double rate = static_cast<double>(done) / secs;
    text += "  " + HumanBytes(static_cast<uint64_t>(rate)) + "/s";
    const double left = static_cast<double>(total - std::min(done, total)) / rate;
    if (total > 0) text += "  " + ClockTime(static_cast<uint64_t>(left + 0.5)) + " left";
  }
  return text;
}

void ProgressLine::Update(uint64_t done, uint64_t total) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> l(mu_);
  if (finished_) return;
  const auto now = clock_();
  const bool complete = total > 0 && done >= total;
  if (drawn_ && !complete && now - last_draw_ < kRedrawEvery) return;
  std::string text = Text(done, total, now - start_);
  last_draw_ = now;
  if (drawn_ && text == last_text_) return;
  err_ << '\r' << text << kEraseToEnd << std::flush;
  drawn_ = true;
  last_text_ = std::move(text);
}

void ProgressLine::Finish() {
  std::lock_guard<std::mutex> l(mu_);
  if (finished_) return;
  finished_ = true;
  if (drawn_) err_ << '\r' << kEraseToEnd << std::flush;
}

}  // namespace ckptdb::cli
