// Specifies `ckptdb verify`: OK on a sound store; a damaged chunk named with its tensor and checkpoints.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/cli_fixture.h"
#include "tests/support/cli_output.h"
#include "tests/support/cli_runner.h"
#include "tests/support/safetensors_bytes.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

namespace fs = std::filesystem;
using namespace cli_tests;

TEST_F(CliTest, VerifySaysOkOnASoundStore) {
  const std::string store = dir_.Join("store");
  ImportOk(store, 1, {Random("a", DType::kF32, {40000}, 1)});
  ImportOk(store, 2, {Random("a", DType::kF32, {40000}, 1), Random("b", DType::kF32, {10}, 2)});
  CliRun r = Cli({"verify", store});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("OK"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 checkpoints"), std::string::npos) << r.out;
}

TEST_F(CliTest, VerifyCountsOneInTheSingular) {
  const std::string store = dir_.Join("store");
  ImportOk(store, 1, {Random("b", DType::kF32, {10}, 2)});
  CliRun r = Cli({"verify", store});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("checked 1 checkpoint, 1 chunk, 40 B\n"), std::string::npos) << r.out;
}

// Flips one byte of stored chunk data on disk: whichever file under the store holds a distinctive
// 64-byte pattern of one tensor (a RocksDB *.blob file or a pack file, depending on the layout).
TEST_F(CliTest, VerifyNamesTheDamagedTensorAndCheckpoint) {
  const std::string store = dir_.Join("store");
  const Src damaged = Random("layers.0.weight", DType::kF32, {64 * 1024}, 77);  // 256 KiB: 4 chunks
  ImportOk(store, 5, {damaged, Random("layers.0.bias", DType::kF32, {64 * 1024}, 78)});
  ImportOk(store, 6, {Random("other", DType::kF32, {64 * 1024}, 79)});
  ImportOk(store, 7, {damaged});  // shares every chunk of layers.0.weight
  ASSERT_EQ(Cli({"verify", store}).code, 0);

  // A distinctive 64-byte pattern inside chunk 2 of layers.0.weight.
  const size_t offset = 2 * kChunk + 1000;
  const std::string pattern = damaged.bytes.substr(offset, 64);
  int hits = 0;
  for (const auto& e : fs::recursive_directory_iterator(store)) {
    if (!e.is_regular_file()) continue;
    std::string bytes = testing::ReadFileOrDie(e.path().string());
    for (size_t at = bytes.find(pattern); at != std::string::npos; at = bytes.find(pattern, at + 1)) {
      ++hits;
      std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(static_cast<std::streamoff>(at + 10));
      f.put(char(bytes[at + 10] ^ 0x20));
      ASSERT_TRUE(f.good());
    }
  }
  ASSERT_EQ(hits, 1) << "the pattern should be stored exactly once (deduplicated) in the store's files";

  CliRun r = Cli({"verify", store});
  EXPECT_EQ(r.code, 1);
  // Every stderr line is ckptdb's; exactly one is the error line, and it names the store.
  const std::vector<std::string> lines = Lines(r.err);
  int error_lines = 0;
  for (const std::string& line : lines) {
    EXPECT_EQ(line.rfind("ckptdb: ", 0), 0u) << line;
    if (line.rfind("ckptdb: error: ", 0) == 0) {
      ++error_lines;
      EXPECT_NE(line.find(store), std::string::npos) << line;
    }
  }
  EXPECT_EQ(error_lines, 1) << r.err;
  // The damaged tensor is named with both checkpoints that use it; nothing else is.
  EXPECT_NE(r.err.find("'layers.0.weight'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("checkpoint 1 (step 5)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("checkpoint 3 (step 7)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("chunk 2"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("layers.0.bias"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("checkpoint 2 "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("other"), std::string::npos) << r.err;

  // Exporting the damaged checkpoint fails too, naming the tensor; the sound one still exports.
  const std::string out = dir_.Join("x.safetensors");
  ExpectError(Cli({"export", store, "--id", "1", "-o", out}), 1, {"layers.0.weight"});
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(Cli({"export", store, "--id", "2", "-o", out}).code, 0);
}

// The catalog's own files are checked too: a byte flipped in a RocksDB table where no read of a
// checkpoint looks (the inline chunk of a removed checkpoint, before garbage collection) is damage
// that verify names, with the RocksDB file, and exits non-zero for.
TEST_F(CliTest, VerifyNamesACatalogFileThatFailsItsChecksum) {
  const std::string store = dir_.Join("store");
  const Src orphan = Random("orphan", DType::kF32, {5000}, 31);  // 20000 bytes: one chunk kept inline
  ImportOk(store, 1, {orphan});
  ImportOk(store, 2, {Random("live", DType::kF32, {100}, 32)});
  ASSERT_EQ(Cli({"rm", store, "--step", "1"}).code, 0);
  // Each run opens the store and flushes the previous run's log into tables.
  ASSERT_EQ(Cli({"verify", store}).code, 0);

  const std::string pattern = orphan.bytes.substr(8000, 64);
  int hits = 0;
  for (const auto& e : fs::directory_iterator(store + "/db")) {
    if (e.path().extension() != ".sst") continue;
    std::string bytes = testing::ReadFileOrDie(e.path().string());
    for (size_t at = bytes.find(pattern); at != std::string::npos; at = bytes.find(pattern, at + 1)) {
      ++hits;
      bytes[at + 10] ^= 0x20;
      testing::WriteFileOrDie(e.path().string(), bytes);
    }
  }
  ASSERT_EQ(hits, 1) << "the removed checkpoint's inline chunk should sit in exactly one table";

  CliRun r = Cli({"verify", store});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("catalog"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(".sst"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ckptdb: error: store " + store), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ckptdb
