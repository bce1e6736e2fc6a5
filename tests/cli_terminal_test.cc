// What the CLI prints for a person at a terminal, with the real executable: a progress line on
// stderr when it is a terminal (through `script`, which gives the command a pseudo-terminal) and
// nothing extra on a pipe or with --quiet; names that cannot break the output or send terminal
// codes; export to standard output.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/cli_fixture.h"
#include "tests/support/cli_output.h"
#include "tests/support/cli_runner.h"
#include "tools/json.h"

namespace ckptdb::cli_tests {
namespace {

namespace fs = std::filesystem;

// Runs `args` through `script` so that the command's stdin, stdout and stderr are a terminal;
// returns what the terminal received (stdout and stderr together).
std::string OnATerminal(const std::vector<std::string>& args, int* code) {
  std::string line = "'" + testing::CliPath() + "'";
  for (const std::string& a : args) line += " '" + a + "'";
  std::string output;
  *code = testing::RunProcess({"/usr/bin/script", "-qefc", line, "/dev/null"}, &output);
  return output;
}

class CliTerminalTest : public CliTest {
 protected:
  void SetUp() override {
    big_ = WriteFile(dir_, "big.safetensors", Safetensors({Random("w", DType::kF32, {1 << 20}, 1)}));
    store_ = dir_.Join("store");
  }
  std::string big_, store_;
};

TEST_F(CliTerminalTest, LongCommandsShowProgressOnATerminalOnly) {
  int code = -1;
  std::string tty = OnATerminal({"import", store_, "--step", "1", big_}, &code);
  ASSERT_EQ(code, 0) << tty;
  // The line is drawn with '\r', ends with erase-to-end-of-line, and names the work and the total.
  EXPECT_NE(tty.find("\rimport"), std::string::npos) << tty;
  EXPECT_NE(tty.find("4.00 MiB"), std::string::npos) << tty;
  EXPECT_NE(tty.find("\x1b[K"), std::string::npos) << tty;
  EXPECT_NE(tty.find("saved checkpoint 1"), std::string::npos) << tty;

  const std::string out = dir_.Join("x.safetensors");
  tty = OnATerminal({"export", store_, "--latest", "-o", out}, &code);
  ASSERT_EQ(code, 0) << tty;
  EXPECT_NE(tty.find("\rexport"), std::string::npos) << tty;
  tty = OnATerminal({"verify", store_}, &code);
  ASSERT_EQ(code, 0) << tty;
  EXPECT_NE(tty.find("\rverify"), std::string::npos) << tty;

  // --quiet: the same commands on the same terminal draw nothing.
  tty = OnATerminal({"verify", store_, "--quiet"}, &code);
  ASSERT_EQ(code, 0) << tty;
  EXPECT_EQ(tty.find('\r' + std::string("verify")), std::string::npos) << tty;
  EXPECT_EQ(tty.find("\x1b"), std::string::npos) << tty;
  tty = OnATerminal({"import", store_, "--step", "2", big_, "-q"}, &code);
  ASSERT_EQ(code, 0) << tty;
  EXPECT_EQ(tty.find("\x1b"), std::string::npos) << tty;

  // A pipe (or a file) gets the result lines and nothing else.
  CliRun r = Binary({"import", store_, "--step", "3", big_}, dir_.path());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out.find('\r'), std::string::npos) << r.out;
  r = Binary({"verify", store_}, dir_.path());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
}

TEST_F(CliTerminalTest, ExportToStandardOutputWritesTheFileAndNothingElse) {
  ASSERT_EQ(Cli({"import", store_, "--step", "1", big_}).code, 0);
  const std::string file = dir_.Join("x.safetensors");
  ASSERT_EQ(Cli({"export", store_, "--latest", "-o", file}).code, 0);
  const CliRun r = Binary({"export", store_, "--latest", "-o", "-"}, dir_.path());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(r.out == testing::ReadFileOrDie(file)) << "stdout differs from the file export";
  EXPECT_FALSE(fs::exists(dir_.Join("-"))) << "-o - created a file named '-'";
  // In-process the same bytes go to the command's output stream.
  EXPECT_TRUE(Cli({"export", store_, "--latest", "-o", "-"}).out == r.out);
  // --json cannot share standard output with the file.
  ExpectError(Cli({"export", store_, "--latest", "-o", "-", "--json"}), 2, {"-o -"});
}

TEST_F(CliTerminalTest, NamesWithControlCharactersCannotBreakOrColourTheOutput) {
  // A tensor whose name holds a newline and an ANSI escape, and a tag with one.
  const std::string evil = "x\n\x1b[31mred";
  const std::string f = WriteFile(dir_, "evil.safetensors",
                                  Safetensors({Random(evil, DType::kF32, {4}, 1), Random("ok", DType::kF32, {4}, 2)}));
  const std::string f2 = WriteFile(dir_, "evil2.safetensors", Safetensors({Random("ok", DType::kF32, {4}, 3)}));
  ASSERT_EQ(Cli({"import", store_, "--step", "1", f, "--tag", "t\x1b]0;owned\x07"}).code, 0);
  ASSERT_EQ(Cli({"import", store_, "--step", "2", f2}).code, 0);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"show", store_, "--step", "1"}, {"diff", store_, "1", "2"}, {"log", store_},
        {"log", store_, "--graph"}, {"tag", store_, "--step", "2", "z\x1b[2J"}, {"show", store_, "--tag", "q\x1bx"}}) {
    SCOPED_TRACE(Describe(args));
    const CliRun r = Cli(args);
    const std::string all = r.out + r.err;
    EXPECT_EQ(all.find('\x1b'), std::string::npos) << all;
    EXPECT_EQ(all.find('\x07'), std::string::npos) << all;
    EXPECT_EQ(all.find("\nred"), std::string::npos) << "the name's newline split a line:\n" << all;
  }
  const CliRun show = Cli({"show", store_, "--step", "1"});
  EXPECT_NE(show.out.find("x\\n\\x1b[31mred"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("t\\x1b]0;owned\\x07"), std::string::npos) << show.out;
  // Escaped once, in the table and in the graph: a backslash shows as one, never doubled.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"log", store_}, std::vector<std::string>{"log", store_, "--graph"}}) {
    const CliRun log = Cli(args);
    EXPECT_NE(log.out.find("t\\x1b]0;owned\\x07"), std::string::npos) << log.out;
    EXPECT_EQ(log.out.find("\\\\"), std::string::npos) << "escaped twice:\n" << log.out;
  }
  // An error quoting the name escapes its control bytes once as well.
  const CliRun missing = Cli({"show", store_, "--tag", "a\\b\x1b"});
  EXPECT_NE(missing.err.find("'a\\b\\x1b'"), std::string::npos) << missing.err;
  const CliRun diff = Cli({"diff", store_, "1", "2"});
  EXPECT_NE(diff.out.find("- x\\n\\x1b[31mred"), std::string::npos) << diff.out;
  // JSON keeps the exact name (JSON escapes it), so scripts still get the real bytes.
  const json::Value v = ParseJson(Cli({"show", store_, "--step", "1", "--json"}).out);
  EXPECT_EQ(v.find("tensors")->as_array()[0].find("name")->as_string(), evil);
}

TEST_F(CliTerminalTest, GcDryRunPredictsTheCollectionAndChangesNothing) {
  ASSERT_EQ(Cli({"import", store_, "--step", "1", big_}).code, 0);
  const std::string small = WriteFile(dir_, "s.safetensors", Safetensors({Random("w", DType::kF32, {16}, 5)}));
  ASSERT_EQ(Cli({"import", store_, "--step", "2", small}).code, 0);
  ASSERT_EQ(Cli({"rm", store_, "--step", "1"}).code, 0);
  const std::string before = Snapshot(store_);
  const uint64_t bytes_before = testing::DirectoryBytes(store_);
  CliRun dry = Cli({"gc", store_, "--dry-run", "--json"});
  ASSERT_EQ(dry.code, 0) << dry.err;
  const json::Value plan = ParseJson(dry.out);
  EXPECT_TRUE(plan.find("dry_run")->as_bool());
  EXPECT_GT(plan.find("reclaimed_bytes")->as_uint64(), 0u) << dry.out;
  EXPECT_EQ(Snapshot(store_), before);
  EXPECT_EQ(testing::DirectoryBytes(store_), bytes_before);
  const CliRun text = Cli({"gc", store_, "-n"});
  EXPECT_NE(text.out.find("would reclaim"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("dry run: nothing changed"), std::string::npos) << text.out;
  const CliRun real = Cli({"gc", store_, "--json"});
  ASSERT_EQ(real.code, 0) << real.err;
  const json::Value done = ParseJson(real.out);
  for (const char* key : {"reclaimed_bytes", "chunks_deleted", "packs_deleted", "packs_rewritten", "live_bytes"})
    EXPECT_EQ(*done.find(key), *plan.find(key)) << key;
}

}  // namespace
}  // namespace ckptdb::cli_tests
