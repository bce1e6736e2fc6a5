// A one-line progress display for long commands (import, export, verify, gc) on a terminal:
//
//   import  12.0 MiB / 100 MiB  12%  4.00 MiB/s  0:22 left
//
// redrawn in place with '\r' and erased when the work ends, so that what remains on the screen is
// the command's own output. Where stderr is not a terminal (a pipe, a log file, a test) or the user
// asked for --quiet, the caller passes enabled = false and nothing at all is written.
//
// Independent of how the work reports progress: the caller turns whatever it gets (a library
// callback, its own loop) into Update(done, total) calls.
//
// Thread safety: Update and Finish may be called from any thread; calls are serialised.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <ostream>
#include <string>

namespace ckptdb::cli {

// Whether `fd` is a terminal (isatty): decides whether progress is shown at all.
bool IsTerminal(int fd);

// Seconds as a clock reads: "0:07", "1:02", "12:34", "1:02:03", "120:00:00".
std::string ClockTime(uint64_t seconds);

class ProgressLine {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // At most this often the line is redrawn (about ten times a second): more is flicker and cost.
  static constexpr std::chrono::milliseconds kRedrawEvery{100};

  // Draws on `err` when `enabled`, else stays silent. `label` (what is being done: "import",
  // "verify") leads the line, escaped (tools/format.h Escaped) and cut to kMaxLabel characters, so
  // a file name cannot send terminal codes or push the line past 80 columns. `clock` is for tests;
  // by default the steady clock. The rate is measured from construction.
  ProgressLine(std::ostream& err, bool enabled, std::string label, Clock clock = {});
  // Finish().
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // `done` of `total` bytes (total 0: not known; then no percent or time left). Redraws when the
  // first update comes, when the work completes (done >= total > 0), and otherwise at most every
  // kRedrawEvery. Does nothing after Finish.
  void Update(uint64_t done, uint64_t total);
  // Erases the line if one was drawn ("\r", then ESC[K), so the next output starts on a clean line.
  // Call it before printing anything else to the same terminal. Idempotent.
  void Finish();

  // The text of the line for these numbers `elapsed` after the start, without '\r' or ESC[K.
  std::string Text(uint64_t done, uint64_t total, std::chrono::nanoseconds elapsed) const;

  static constexpr size_t kMaxLabel = 24;

 private:
  std::ostream& err_;
  const bool enabled_;
  const std::string label_;
  const Clock clock_;
  const std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  bool drawn_ = false;     // something is on the line
  bool finished_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
  std::string last_text_;
};

}  // namespace ckptdb::cli
