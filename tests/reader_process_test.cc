// Reader processes beside a live writer process (Store::OpenReadOnly, the CLI's read commands):
// they always succeed with exact bytes, and their reader holds keep the writer's collections from
// deleting packs they may read -- until they refresh, close or die (store/reader_holds.h).
#include <signal.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

#include "tests/support/cli_runner.h"
#include "tests/support/exported_safetensors.h"
#include "tests/support/reader_fixtures.h"
#include "tests/support/store_fixtures.h"

namespace ckptdb::reader_tests {
namespace {

using namespace store_tests;

size_t ReaderFiles(const std::string& store) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(store + "/readers", ec); !ec && it != std::filesystem::end(it);
       it.increment(ec))
    ++n;
  return n;
}

TEST(ReaderProcesses, CliReadCommandsBesideALiveWriterAlwaysSucceedBitExact) {
  testing::ScratchDir dir, out;
  const std::string store = dir.Join("store"), stop = out.Join("stop");
  constexpr int kMinSaves = 200, kMinCommands = 200;
  Child writer([&](Child& self) -> int {
    StoreOptions options = SmallChunks(2);
    options.background_gc = true;
    auto s = Store::Open(store, options);
    if (!s.ok()) {
      self.Send("open failed: " + s.status().ToString());
      return 1;
    }
    RetentionPolicy keep3;
    keep3.max_to_keep = 3;
    if (!(*s)->SetRetention(keep3).ok()) return 1;
    int saves = 0;
    for (int64_t step = 1; saves < kMinSaves || !std::filesystem::exists(stop); ++step) {
      auto saved = (*s)->Save(Refs(StepTensors(step)), AtStep(step));
      if (!saved.ok()) {
        std::cerr << "writer: save of step " << step << ": " << saved.status().ToString() << "\n";
        return 1;
      }
      if (++saves == 1) self.Send("ready");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (Status c = (*s)->Close(); !c.ok()) {
      std::cerr << "writer: close: " << c.ToString() << "\n";
      return 1;
    }
    self.Send("saved " + std::to_string(saves));
    return 0;
  });
  ASSERT_EQ(writer.Receive(), "ready");

  int commands = 0, exports = 0;
  const std::string file = out.Join("latest.safetensors");
  while (commands < kMinCommands) {
    cli_tests::CliRun log = cli_tests::Binary({"log", store}, out.path());
    ASSERT_EQ(log.code, 0) << log.err;
    EXPECT_TRUE(Contains(log.out, "STEP")) << log.out;
    cli_tests::CliRun exported = cli_tests::Binary({"export", store, "--latest", "-o", file, "--force"}, out.path());
    ASSERT_EQ(exported.code, 0) << exported.err;
    const size_t at = exported.out.find("(step ");
    ASSERT_NE(at, std::string::npos) << exported.out;
    const int64_t step = std::stoll(exported.out.substr(at + 6));
    cli_tests::ExpectExported(file, StepSources(step), {});
    ++exports;
    cli_tests::CliRun verify = cli_tests::Binary({"verify", store}, out.path());
    ASSERT_EQ(verify.code, 0) << verify.out << verify.err;
    commands += 3;
    if (::testing::Test::HasFailure()) break;
  }
  testing::WriteFileOrDie(stop, "");
  const std::string saved = writer.Receive();
  const int status = writer.Wait();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writer wait status " << status;
  ASSERT_EQ(saved.rfind("saved ", 0), 0u) << saved;
  EXPECT_GE(std::stoi(saved.substr(6)), kMinSaves);
  std::cout << commands << " commands (" << exports << " exports) beside " << saved << "\n";
  // Each command's hold went with it.
  EXPECT_EQ(ReaderFiles(store), 0u);
}

// A store with checkpoint step 1 ("a", 4 chunks) and step 2 ("b", 4 chunks), in packs of their own.
void MakeTwoCheckpoints(const std::string& store) {
  auto s = MustOpen(store, SmallChunks(2));
  ASSERT_TRUE(s);
  MustSave(*s, {MakeBytes("a", 4 * kChunk, 1)}, AtStep(1));
  MustSave(*s, {MakeBytes("b", 4 * kChunk, 2)}, AtStep(2));
  ASSERT_TRUE(s->Close().ok());
}

StoreOptions NoBackgroundGc() {
  StoreOptions o = SmallChunks(2);
  o.background_gc = false;
  return o;
}

TEST(ReaderProcesses, AReaderKilledBySigkillReleasesItsHold) {
  testing::ScratchDir dir;
  const std::string store = dir.Join("store");
  MakeTwoCheckpoints(store);
  Child reader([&](Child& self) -> int {
    auto s = Store::OpenReadOnly(store);
    self.Send(s.ok() ? "open" : s.status().ToString());
    self.Receive();  // blocks until killed
    return 0;
  });
  ASSERT_EQ(reader.Receive(), "open");
  EXPECT_EQ(ReaderFiles(store), 1u);

  auto writer = MustOpen(store, NoBackgroundGc());
  ASSERT_TRUE(writer);
  ASSERT_TRUE(writer->Remove(Selector::Step(1)).ok());
  const size_t packs = PackFiles(store);
  const uint64_t bytes = testing::AllocatedBytes(store + "/packs");
  auto held = writer->CollectGarbage();
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  EXPECT_GT(held->packs_deferred, 0u);
  EXPECT_EQ(held->packs_deleted, 0u);
  EXPECT_EQ(PackFiles(store), packs) << "a pack the live reader may read was deleted";

  kill(reader.pid(), SIGKILL);
  const int status = reader.Wait();
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  auto freed = writer->CollectGarbage();
  ASSERT_TRUE(freed.ok()) << freed.status().ToString();
  EXPECT_EQ(freed->packs_deferred, 0u);
  EXPECT_GT(freed->packs_deleted, 0u);
  EXPECT_GT(freed->reclaimed_bytes, 0u);
  EXPECT_LT(PackFiles(store), packs);
  EXPECT_LT(testing::AllocatedBytes(store + "/packs"), bytes);
  EXPECT_EQ(ReaderFiles(store), 0u) << "the dead reader's hold file was not removed";
  auto v = writer->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->ok());
  ExpectRestores(*writer, Selector::Step(2), {MakeBytes("b", 4 * kChunk, 2)});
}

TEST(ReaderProcesses, RefreshSeesNewCheckpointsAndAdvancesTheHold) {
  testing::ScratchDir dir;
  const std::string store = dir.Join("store");
  MakeTwoCheckpoints(store);
  const std::vector<Owned> third = {MakeBytes("c", 3 * kChunk + 9, 3)};
  Child reader([&](Child& self) -> int {
    auto s = Store::OpenReadOnly(store);
    if (!s.ok()) {
      self.Send(s.status().ToString());
      return 1;
    }
    auto steps = [&] {
      std::string out;
      auto list = (*s)->List();
      if (!list.ok()) return list.status().ToString();
      for (const auto& c : *list) out += std::to_string(c.step) + ",";
      return out;
    };
    self.Send(steps());
    if (self.Receive() != "refresh") return 1;
    Status r = (*s)->Refresh();
    std::string reply = r.ok() ? steps() : r.ToString();
    auto got = (*s)->Restore(Selector::Step(3));
    const bool exact = got.ok() && got->size() == 1 && (*got)[0].bytes.size() == third[0].bytes.size() &&
                       std::memcmp((*got)[0].bytes.data(), third[0].bytes.data(), third[0].bytes.size()) == 0;
    self.Send(reply + (exact ? " exact" : " restore failed"));
    return self.Receive() == "exit" ? 0 : 1;
  });
  ASSERT_EQ(reader.Receive(), "1,2,");

  auto writer = MustOpen(store, NoBackgroundGc());
  ASSERT_TRUE(writer);
  MustSave(*writer, third, AtStep(3));
  ASSERT_TRUE(writer->Remove(Selector::Step(1)).ok());
  auto held = writer->CollectGarbage();
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  EXPECT_GT(held->packs_deferred, 0u) << "the reader still reads the state with step 1";
  const size_t packs = PackFiles(store);

  reader.Send("refresh");
  EXPECT_EQ(reader.Receive(), "2,3, exact");
  auto freed = writer->CollectGarbage();
  ASSERT_TRUE(freed.ok()) << freed.status().ToString();
  EXPECT_EQ(kill(reader.pid(), 0), 0) << "the reader should still be alive";
  EXPECT_EQ(freed->packs_deferred, 0u) << "the refreshed reader's hold still keeps the old packs";
  EXPECT_GT(freed->packs_deleted, 0u);
  EXPECT_LT(PackFiles(store), packs);
  EXPECT_EQ(ReaderFiles(store), 1u);
  reader.Send("exit");
  const int status = reader.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  auto v = writer->Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok());
}

}  // namespace
}  // namespace ckptdb::reader_tests
