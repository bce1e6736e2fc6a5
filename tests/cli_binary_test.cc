// Specifies the real ckptdb executable: it runs every command like cli::Run and propagates exit codes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/cli_fixture.h"
#include "tests/support/cli_output.h"
#include "tests/support/cli_runner.h"
#include "tests/support/exported_safetensors.h"
#include "tests/support/safetensors_bytes.h"

namespace ckptdb {
namespace {

using namespace cli_tests;

TEST_F(CliTest, BinaryRunsCommandsAndPropagatesExitCodes) {
  const std::string store = dir_.Join("store");
  const std::vector<Src> t = {Random("w", DType::kF32, {1000}, 1), Random("b", DType::kI8, {3}, 2)};
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors(t, {{"k", "v"}}));
  CliRun r = Binary({"import", store, "--step", "3", "--chunk-size", "65536", "--tag", "t", f}, dir_.path());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("saved checkpoint 1"), std::string::npos) << r.out;

  r = Binary({"log", store, "--json"}, dir_.path());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ParseJson(r.out).as_array().size(), 1u);
  EXPECT_EQ(r.out, Cli({"log", store, "--json"}).out);  // the binary and the function agree

  const std::string out = dir_.Join("out.safetensors");
  r = Binary({"export", store, "--latest", "-o", out}, dir_.path());
  ASSERT_EQ(r.code, 0) << r.err;
  ExpectExported(out, t, {{"k", "v"}});

  r = Binary({"verify", store}, dir_.path());
  EXPECT_EQ(r.code, 0) << r.err;

  const std::string before = Snapshot(store);
  r = Binary({"show", store, "--step", "99"}, dir_.path());
  ExpectError(r, 1, {"step 99"});
  r = Binary({"frobnicate"}, dir_.path());
  ExpectError(r, 2, {"frobnicate"});
  r = Binary({"log", dir_.Join("missing")}, dir_.path());
  ExpectError(r, 1, {dir_.Join("missing")});
  r = Binary({"import", store, "--step", "4", dir_.Join("missing.safetensors")}, dir_.path());
  ExpectError(r, 1, {dir_.Join("missing.safetensors")});
  EXPECT_EQ(Snapshot(store), before);
}

}  // namespace
}  // namespace ckptdb
