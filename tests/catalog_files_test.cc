// The catalog's file count stays bounded however many times a store is opened and closed: each
// writer open and close flushes a small table file, and without compaction (Db::CompactIfFragmented,
// kMaxCatalogFiles) a store of a thousand checkpoints held thousands, and its read commands -- which
// open every table file (a RocksDB secondary instance) -- failed under a 1,024 open-file limit.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <string>

#include "store/db.h"
#include "store/store_impl.h"
#include "tests/support/exported_safetensors.h"
#include "tests/support/reader_fixtures.h"
#include "tests/support/store_fixtures.h"

namespace ckptdb::store_tests {
namespace {

using reader_tests::StepSources;
using reader_tests::StepTensors;

uint64_t CatalogTableFiles(const std::string& store) {
  DbOptions o;
  o.read_only = true;
  o.create_if_missing = false;
  auto db = Db::Open(store + "/db", store, o);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  if (!db.ok()) return 0;
  auto n = (*db)->TableFileCount();
  EXPECT_TRUE(n.ok());
  return n.ok() ? *n : 0;
}

// Opens the store, saves one checkpoint at `step`, closes it: one reopen cycle of a training job.
void SaveInItsOwnOpen(const std::string& store, int64_t step) {
  auto s = MustOpen(store, SmallChunks(1));
  ASSERT_TRUE(s);
  MustSave(*s, StepTensors(step), AtStep(step));
  ASSERT_TRUE(s->Close().ok());
}

// The most table files the catalog may hold: each of its three column families is compacted once
// it holds more than kMaxCatalogFiles, and a few flushes may land between checks.
constexpr uint64_t kBound = 3 * kMaxCatalogFiles + 6;

// CI makes 300 checkpoints (~30 s) and runs the read commands -- which open every table file of
// the catalog at once -- under a limit of 256 descriptors (without compaction the catalog holds
// ~3 files per cycle); CKPTDB_LONG_TESTS=1 makes the full 1,100 and runs them under 1,024.
TEST(CatalogFiles, ReopeningAStoreHundredsOfTimesKeepsTheCatalogSmallEnoughForReadCommands) {
  testing::ScratchDir dir, out;
  const std::string store = dir.Join("store");
  const bool long_run = testing::LongTests();
  const int cycles = long_run ? 1100 : 300;
  const rlim_t limit = long_run ? 1024 : 256;
  uint64_t most = 0;
  for (int i = 1; i <= cycles; ++i) {
    SaveInItsOwnOpen(store, i);
    if (::testing::Test::HasFatalFailure()) return;
    if (i % 25 == 0) {
      const uint64_t n = CatalogTableFiles(store);
      most = std::max(most, n);
      ASSERT_LE(n, kBound) << "after " << i << " open/save/close cycles";
    }
  }
  std::cout << cycles << " cycles: at most " << most << " table files\n";

  std::string output;
  EXPECT_EQ(reader_tests::RunCliWithFileLimit({"log", store, "--json"}, limit, out.Join("log.out"), &output), 0)
      << output.substr(0, 2000);
  size_t listed = 0;
  for (size_t at = output.find("\"step\""); at != std::string::npos; at = output.find("\"step\"", at + 1)) ++listed;
  EXPECT_EQ(listed, size_t(cycles)) << output.substr(0, 2000);
  const std::string file = out.Join("exported.safetensors");
  EXPECT_EQ(reader_tests::RunCliWithFileLimit({"export", store, "--step", "1", "-o", file}, limit,
                                              out.Join("export.out"), &output),
            0)
      << output;
  cli_tests::ExpectExported(file, StepSources(1), {});
  EXPECT_EQ(reader_tests::RunCliWithFileLimit({"export", store, "--latest", "-o", file, "--force"}, limit,
                                              out.Join("export.out"), &output),
            0)
      << output;
  cli_tests::ExpectExported(file, StepSources(cycles), {});

  auto s = MustOpen(store, SmallChunks(1));
  ASSERT_TRUE(s);
  EXPECT_EQ(MustList(*s).size(), size_t(cycles));
  ExpectRestores(*s, Selector::Step(cycles / 2), StepTensors(cycles / 2));
}

}  // namespace
}  // namespace ckptdb::store_tests
