// The CLI on a store it cannot write: a read-only bind mount, and a full ext4 file system. Every
// read command works (Store::OpenReadOnly writes nothing), every write command fails with one clear
// error line and never aborts, and the store is unharmed. Needs root and mount permission (and
// loop devices for the full disk): each suite skips, saying why, where the mount is refused.
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tests/support/cli_runner.h"
#include "tests/support/exported_safetensors.h"
#include "tests/support/reader_fixtures.h"
#include "tests/support/store_fixtures.h"

namespace ckptdb::cli_tests {
namespace {

using reader_tests::StepSources;
using reader_tests::StepTensors;
using store_tests::AtStep;
using store_tests::MustOpen;
using store_tests::MustSave;
using store_tests::SmallChunks;

// Every regular file under `dir` and its bytes.
std::map<std::string, std::string> FileBytes(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[e.path().string().substr(dir.size())] = testing::ReadFileOrDie(e.path().string());
  return out;
}

// A closed store with steps 1, 2, 3 (reader_fixtures.h StepTensors), step 1 tagged "first".
void MakeStore(const std::string& store) {
  auto s = MustOpen(store, SmallChunks(2));
  ASSERT_TRUE(s);
  SaveOptions first = AtStep(1);
  first.tags = {"first"};
  MustSave(*s, StepTensors(1), first);
  MustSave(*s, StepTensors(2), AtStep(2));
  MustSave(*s, StepTensors(3), AtStep(3));
  ASSERT_TRUE(s->Close().ok());
}

int Sh(const std::vector<std::string>& argv, std::string* output = nullptr) {
  std::string ignored;
  return testing::RunProcess(argv, output ? output : &ignored);
}

// A mount made by the test, unmounted when it dies.
struct Mount {
  std::string at;
  ~Mount() {
    if (!at.empty()) Sh({"/bin/umount", at});
  }
};

// Runs every read command on `store` and checks its exit code and output.
void ExpectReadCommandsWork(const std::string& store, const std::string& out) {
  const std::vector<std::vector<std::string>> reads = {
      {"log", store},          {"log", store, "--json"}, {"show", store, "--latest"},
      {"verify", store},       {"du", store},            {"diff", store, "1", "3"},
      {"policy", store},       {"show", store, "--tag", "first", "--json"}};
  for (const auto& args : reads) {
    CliRun r = Binary(args, out);
    EXPECT_EQ(r.code, 0) << Describe(args) << ": " << r.err;
    EXPECT_EQ(r.err, "") << Describe(args);
    EXPECT_NE(r.out, "") << Describe(args);
  }
  const std::string file = out + "/step2.safetensors";
  CliRun r = Binary({"export", store, "--step", "2", "-o", file, "--force"}, out);  // run twice per test
  ASSERT_EQ(r.code, 0) << r.err;
  ExpectExported(file, StepSources(2), {});
  r = Binary({"export", store, "--tag", "first", "-o", file, "--force"}, out);  // replaces step 2's
  ASSERT_EQ(r.code, 0) << r.err;
  ExpectExported(file, StepSources(1), {});
}

// The write commands, each of which must fail without changing the store.
std::vector<std::vector<std::string>> WriteCommands(const std::string& store, const std::string& import_file) {
  return {{"import", store, "--step", "9", import_file},
          {"tag", store, "--step", "2", "second"},
          {"untag", store, "first"},
          {"rm", store, "--step", "2"},
          {"gc", store},
          {"policy", store, "--max-to-keep", "3"},
          {"rollback", store, "--step", "1"}};
}

TEST(CliReadOnlyFs, ReadCommandsWorkAndWritesFailOnAReadOnlyBindMount) {
  testing::ScratchDir src, mnt, out;
  MakeStore(src.Join("store"));
  if (::testing::Test::HasFatalFailure()) return;
  Mount m;
  std::string why;
  if (Sh({"/bin/mount", "--bind", src.path(), mnt.path()}, &why) != 0)
    GTEST_SKIP() << "cannot bind-mount (needs root and mount permission): " << why;
  m.at = mnt.path();
  if (Sh({"/bin/mount", "-o", "remount,ro,bind", mnt.path()}, &why) != 0)
    GTEST_SKIP() << "cannot remount read-only (needs root and mount permission): " << why;
  ASSERT_NE(access(mnt.Join("store").c_str(), W_OK), 0) << "the mount is still writable";
  const std::string store = mnt.Join("store");
  const auto before = FileBytes(src.Join("store"));

  ExpectReadCommandsWork(store, out.path());
  const std::string import_file = WriteFile(out, "in.safetensors", Safetensors(StepSources(9)));
  for (const auto& args : WriteCommands(store, import_file)) {
    SCOPED_TRACE(Describe(args));
    ExpectError(Binary(args, out.path()), 1, {store, "read-only file system"});
  }
  EXPECT_EQ(FileBytes(src.Join("store")), before) << "a command changed the store's files";
}

// Writes `path` until the file system holding it has no free block left.
void FillUp(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  std::vector<char> block(1 << 20, 'x');
  for (int pass = 0; pass < 2; ++pass) {  // again after fsync, which may free reservations
    for (size_t n = block.size(); n > 0;)
      if (::write(fd, block.data(), n) < 0) n /= 2;
    ::fsync(fd);
  }
  ::close(fd);
}

// What statvfs says is available to write (ext4 keeps a few clusters of its own that no write gets).
uint64_t FreeBytes(const std::string& path) {
  struct statvfs st;
  if (statvfs(path.c_str(), &st) != 0) return ~0ull;
  return uint64_t(st.f_bavail) * st.f_frsize;
}

TEST(CliFullDisk, ReadCommandsWorkAndWritesFailCleanlyOnAFullFileSystem) {
  testing::ScratchDir dir, out;
  const std::string image = dir.Join("disk.img"), mnt = dir.Join("mnt");
  std::filesystem::create_directory(mnt);
  std::string why;
  // 32 MiB of ext4 with no blocks reserved for root, so "full" means 0 bytes free for everyone.
  if (Sh({"/bin/dd", "if=/dev/zero", "of=" + image, "bs=1M", "count=32", "status=none"}, &why) != 0 ||
      Sh({"/sbin/mkfs.ext4", "-q", "-F", "-m", "0", image}, &why) != 0)
    GTEST_SKIP() << "cannot make an ext4 image: " << why;
  Mount m;
  if (Sh({"/bin/mount", "-o", "loop", image, mnt}, &why) != 0)
    GTEST_SKIP() << "cannot loop-mount an ext4 image (needs root and loop devices): " << why;
  m.at = mnt;
  const std::string store = mnt + "/store", filler = mnt + "/filler";
  MakeStore(store);
  if (::testing::Test::HasFatalFailure()) return;
  const std::string log_before = Binary({"log", store, "--json"}, out.path()).out;
  FillUp(filler);
  ASSERT_EQ(FreeBytes(mnt), 0u) << "the file system is not full";

  ExpectReadCommandsWork(store, out.path());
  const std::string import_file = WriteFile(out, "in.safetensors", Safetensors(StepSources(9)));
  for (const auto& args : WriteCommands(store, import_file)) {
    SCOPED_TRACE(Describe(args));
    CliRun r = Binary(args, out.path());
    EXPECT_NE(r.code, 0);
    EXPECT_LT(r.code, 128) << "it died of a signal";
    ExpectError(r, 1, {store, "No space left on device"});
    std::cout << Describe(args) << " -> " << r.err;
  }
  EXPECT_EQ(Binary({"log", store, "--json"}, out.path()).out, log_before) << "a failed write changed the store";

  ASSERT_EQ(::unlink(filler.c_str()), 0);
  CliRun v = Binary({"verify", store}, out.path());
  EXPECT_EQ(v.code, 0) << v.out << v.err;
  EXPECT_EQ(Binary({"log", store, "--json"}, out.path()).out, log_before);
  ExpectReadCommandsWork(store, out.path());
  // And with space again, writing works.
  CliRun tag = Binary({"tag", store, "--step", "2", "second"}, out.path());
  EXPECT_EQ(tag.code, 0) << tag.err;
}

}  // namespace
}  // namespace ckptdb::cli_tests
