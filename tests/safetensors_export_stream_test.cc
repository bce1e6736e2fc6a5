// Specifies the stream exports of api/ckptdb/safetensors.h (ExportSafetensors to an ostream,
// ExportSafetensorsToFd): the very bytes the file export writes, and an IOError, never a crash,
// when the stream fails (a full disk, a pipe whose reader has gone, a closed descriptor).
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "ckptdb/ckptdb.h"
#include "ckptdb/safetensors.h"
#include "tests/support/fresh_process.h"
#include "tests/support/store_fixtures.h"

namespace ckptdb {
namespace {

using namespace store_tests;

class ExportStream : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = MustOpen(dir_.Join("store"));
    SaveOptions o;
    o.metadata = {{"format", "pt"}, {"note", "stream"}};
    MustSave(*store_, state_, o);
    ASSERT_TRUE(ExportSafetensors(*store_, Selector::Latest(), file_, Small()).ok());
    want_ = testing::ReadFileOrDie(file_);
  }
  // Windows smaller than the data, so the stream is written in many pieces.
  static ExportOptions Small() {
    ExportOptions o;
    o.window_bytes = 2 * kChunk;
    return o;
  }

  testing::ScratchDir dir_;
  std::unique_ptr<Store> store_;
  std::vector<Owned> state_ = {MakeTensor("w", DType::kF32, {3, kChunk / 2 + 7}, 1), MakeBytes("empty", 0, 2),
                               MakeTensor("b", DType::kBF16, {9}, 3)};
  const std::string file_ = dir_.Join("want.safetensors");
  std::string want_;
};

void ExpectIoError(const Status& s, const std::vector<std::string>& names) {
  EXPECT_EQ(s.code(), Code::kIOError) << s.ToString();
  for (const auto& n : names) EXPECT_NE(s.message().find(n), std::string::npos) << s.ToString();
}

TEST_F(ExportStream, AnOstreamGetsTheFileExportsBytes) {
  std::ostringstream out;
  auto info = ExportSafetensors(*store_, Selector::Latest(), out, Small());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->id, 1u);
  EXPECT_TRUE(out.str() == want_) << "stream " << out.str().size() << " bytes, file " << want_.size();
}

TEST_F(ExportStream, AFileDescriptorGetsTheFileExportsBytesAndStaysOpen) {
  const std::string path = dir_.Join("by_fd");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  auto info = ExportSafetensorsToFd(*store_, Selector::Latest(), fd, Small());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(::write(fd, "", 0), 0) << "the descriptor was closed";
  ::close(fd);
  EXPECT_TRUE(testing::ReadFileOrDie(path) == want_);
}

TEST_F(ExportStream, APipeWithAReaderGetsTheFileExportsBytes) {
  // Far more than a pipe buffers (64 KiB), so the export blocks on the reader as `export -o - | x` does.
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  std::string got;
  std::thread reader([&] {
    char buf[1 << 16];
    for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) got.append(buf, size_t(n));
  });
  auto info = ExportSafetensorsToFd(*store_, Selector::Latest(), p[1], Small());
  ::close(p[1]);
  reader.join();
  ::close(p[0]);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_TRUE(got == want_);
}

TEST_F(ExportStream, AFullDiskIsAnIoError) {
  const int fd = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ExpectIoError(ExportSafetensorsToFd(*store_, Selector::Latest(), fd).status(),
                {"file descriptor " + std::to_string(fd), "cannot write", "No space left on device"});
  ::close(fd);
  std::ofstream full("/dev/full", std::ios::binary);
  ASSERT_TRUE(full.is_open());
  ExpectIoError(ExportSafetensors(*store_, Selector::Latest(), full).status(), {"the output stream", "cannot"});
}

TEST_F(ExportStream, AClosedDescriptorAndAFailedStreamAreIoErrors) {
  const int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ::close(fd);
  ExpectIoError(ExportSafetensorsToFd(*store_, Selector::Latest(), fd).status(), {"Bad file descriptor"});
  std::ostringstream failed;
  failed.setstate(std::ios::badbit);
  ExpectIoError(ExportSafetensors(*store_, Selector::Latest(), failed).status(), {"the output stream: cannot write"});
  EXPECT_TRUE(failed.str().empty());
}

TEST_F(ExportStream, ToStandardOutputTheErrorNamesIt) {
  // The descriptor is named as the CLI's users know it; 1 is replaced by /dev/full for the test.
  const std::string got = testing::InFreshProcess([&] {
    const int full = ::open("/dev/full", O_WRONLY);
    if (full < 0 || ::dup2(full, 1) != 1) return std::string("cannot redirect stdout");
    return ExportSafetensorsToFd(*store_, Selector::Latest(), 1).status().ToString();
  });
  EXPECT_NE(got.find("file descriptor 1 (standard output): cannot write: No space left on device"), std::string::npos)
      << got;
}

TEST_F(ExportStream, APipeWhoseReaderHasGoneIsAnIoErrorNotTheEndOfTheProcess) {
  // In a child, with SIGPIPE at its default action (which ends a process): the export must
  // survive, return Broken pipe, and leave the thread's signal mask and pending set as they were.
  const std::string got = testing::InFreshProcess([&] {
    signal(SIGPIPE, SIG_DFL);
    int p[2];
    if (::pipe(p) != 0) return std::string("no pipe");
    ::close(p[0]);
    std::string out = ExportSafetensorsToFd(*store_, Selector::Latest(), p[1]).status().ToString();
    ::close(p[1]);
    sigset_t mask, pending;
    pthread_sigmask(SIG_SETMASK, nullptr, &mask);
    sigpending(&pending);
    if (sigismember(&mask, SIGPIPE)) out += " [SIGPIPE left blocked]";
    if (sigismember(&pending, SIGPIPE)) out += " [SIGPIPE left pending]";
    return out;
  });
  EXPECT_NE(got.find("IO error"), std::string::npos) << got;
  EXPECT_NE(got.find("Broken pipe"), std::string::npos) << got;
  EXPECT_EQ(got.find("["), std::string::npos) << got;
}

TEST_F(ExportStream, TheFileExportStaysAtomic) {
  // A failed read leaves PATH as it was; the stream exports share the reader, not the writer.
  testing::WriteFileOrDie(file_, "the old file");
  auto missing = ExportSafetensors(*store_, Selector::Id(99), file_);
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(testing::ReadFileOrDie(file_), "the old file");
  std::ostringstream out;
  EXPECT_EQ(ExportSafetensors(*store_, Selector::Id(99), out).status().code(), Code::kNotFound);
  EXPECT_TRUE(out.str().empty()) << "nothing is written before the checkpoint is found";
}

}  // namespace
}  // namespace ckptdb
