// The fixture of the CLI suites: a scratch directory, imports that must succeed, and a store with one
// checkpoint for error cases that must leave it unchanged (header-only: GoogleTest).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tests/support/cli_runner.h"
#include "tests/support/safetensors_bytes.h"
#include "tests/support/test_support.h"

namespace ckptdb::cli_tests {

inline constexpr uint64_t kChunk = 64 << 10;  // the smallest chunk size, so small tensors span chunks

class CliTest : public ::testing::Test {
 protected:
  // Imports `tensors` (written as one file) at `step`; returns the file's path.
  std::string ImportOk(const std::string& store, int64_t step, const std::vector<Src>& tensors,
                       std::vector<std::string> extra = {}, const std::map<std::string, std::string>& metadata = {}) {
    const std::string file = WriteFile(dir_, "in" + std::to_string(files_++) + ".safetensors", Safetensors(tensors, metadata));
    std::vector<std::string> args = {"import", store, "--step", std::to_string(step)};
    if (!std::filesystem::exists(store)) extra.insert(extra.begin(), {"--chunk-size", std::to_string(kChunk)});
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(file);
    CliRun r = Cli(args);
    EXPECT_EQ(r.code, 0) << Describe(args) << "\n" << r.err;
    EXPECT_EQ(r.err, "");
    return file;
  }

  // A store with one checkpoint (step 1), for error cases that must leave it unchanged.
  std::string StoreWithOneCheckpoint() {
    const std::string store = dir_.Join("existing");
    ImportOk(store, 1, {Random("w", DType::kF32, {100}, 1)});
    return store;
  }

  testing::ScratchDir dir_;
  int files_ = 0;
};

}  // namespace ckptdb::cli_tests
