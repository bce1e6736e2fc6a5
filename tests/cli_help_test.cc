// The CLI's manners: help for every command, --version, did-you-mean hints, one-line errors with
// one prefix, JSON errors under --json, and usage mistakes exiting 2.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <sstream>

#include "tests/support/cli_fixture.h"
#include "tests/support/cli_output.h"
#include "tests/support/cli_runner.h"
#include "tools/json.h"

namespace ckptdb::cli_tests {
namespace {

const std::vector<std::string> kCommands = {"import", "export", "import-hf", "export-hf", "log",   "show",
                                            "verify", "diff",   "du",        "tag",       "untag", "rm",
                                            "gc",     "policy", "rollback"};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

class CliHelpTest : public CliTest {};

TEST_F(CliHelpTest, EveryCommandPrintsItsUsageWithEveryFlagDescribedAndExits0) {
  for (const std::string& cmd : kCommands) {
    SCOPED_TRACE(cmd);
    const CliRun help = Cli({cmd, "--help"});
    ASSERT_EQ(help.code, 0) << help.err;
    EXPECT_EQ(help.err, "");
    EXPECT_NE(help.out.find("Usage: ckptdb " + cmd + " "), std::string::npos) << help.out;
    EXPECT_NE(help.out.find("STORE"), std::string::npos) << help.out;
    // The same page from -h and from `ckptdb help CMD`.
    EXPECT_EQ(Cli({cmd, "-h"}).out, help.out);
    EXPECT_EQ(Cli({"help", cmd}).out, help.out);
    EXPECT_EQ(Cli({"help", cmd}).code, 0);
    // Every flag the command accepts is on the page, on a line that also describes it.
    const CliRun flags = Cli({cmd, "__flags"});
    ASSERT_EQ(flags.code, 0);
    const std::vector<std::string> names = Lines(flags.out);
    ASSERT_FALSE(names.empty());
    for (const std::string& flag : names) {
      bool described = false;
      const std::vector<std::string> lines = Lines(help.out);
      for (size_t i = 0; i < lines.size(); ++i) {
        const std::string& line = lines[i];
        const size_t at = line.find(flag);
        const bool whole = at != std::string::npos &&
                           (at + flag.size() == line.size() || line[at + flag.size()] == ' ' ||
                            line[at + flag.size()] == ',');
        if (!whole) continue;
        // The description follows the flag's column, after two spaces, or (for a long flag) on the
        // next line, indented to that column.
        const size_t gap = line.find("  ", at);
        if (gap != std::string::npos && line.find_first_not_of(' ', gap) != std::string::npos) described = true;
        if (i + 1 < lines.size() && lines[i + 1].rfind("          ", 0) == 0 &&
            lines[i + 1].find_first_not_of(' ') != std::string::npos)
          described = true;
      }
      EXPECT_TRUE(described) << flag << " is not described in:\n" << help.out;
    }
  }
}

TEST_F(CliHelpTest, GeneralHelpListsEveryCommandAndVersionPrintsIt) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--help"}, {"-h"}, {"help"}}) {
    const CliRun r = Cli(args);
    EXPECT_EQ(r.code, 0);
    for (const std::string& cmd : kCommands) EXPECT_NE(r.out.find("  " + cmd + " "), std::string::npos) << cmd;
  }
  const CliRun v = Cli({"--version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_TRUE(std::regex_match(v.out, std::regex("ckptdb [0-9]+\\.[0-9]+\\.[0-9]+\n"))) << v.out;
  // The page help2man turns into the man page: the general usage, then every command's.
  const CliRun all = Cli({"--help-all"});
  EXPECT_EQ(all.code, 0);
  for (const std::string& cmd : kCommands) EXPECT_NE(all.out.find("Usage: ckptdb " + cmd + " "), std::string::npos);
}

TEST_F(CliHelpTest, MistypedCommandsAndFlagsGetASuggestionAndExit2) {
  const std::string store = StoreWithOneCheckpoint();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"lgo", store}, "did you mean 'log'?"},
      {{"verfiy", store}, "did you mean 'verify'?"},
      {{"help", "shwo"}, "did you mean 'show'?"},
      {{"import", store, "--stpe", "2", "x.safetensors"}, "did you mean '--step'?"},
      {{"log", store, "--jsn"}, "did you mean '--json'?"},
      {{"export", store, "--lastest", "-o", "x"}, "did you mean '--latest'?"},
      {{"rm", store, "--latest", "--dryrun"}, "did you mean '--dry-run'?"},
  };
  for (const auto& [args, hint] : cases) {
    SCOPED_TRACE(Describe(args));
    ExpectError(Cli(args), 2, {hint});
  }
  // Nothing close: no hint rather than a wild guess.
  const CliRun far = Cli({"frobnicate", store});
  ExpectError(far, 2, {"frobnicate"});
  EXPECT_EQ(far.err.find("did you mean"), std::string::npos) << far.err;
}

TEST_F(CliHelpTest, UnknownTagsAndMetricsGetASuggestionFromTheStore) {
  const std::string store = dir_.Join("s");
  ImportOk(store, 1, {Random("w", DType::kF32, {10}, 1)}, {"--tag", "final", "--metric", "loss=0.5"});
  ExpectError(Cli({"show", store, "--tag", "fnal"}), 1, {"'fnal'", "did you mean 'final'?"});
  ExpectError(Cli({"export", store, "--tag", "fianl", "-o", dir_.Join("x")}), 1, {"did you mean 'final'?"});
  ExpectError(Cli({"show", store, "--best", "los:min"}), 1, {"los", "did you mean 'loss'?"});
  ExpectError(Cli({"diff", store, "tag:finall", "1"}), 1, {"did you mean 'final'?"});
  ExpectError(Cli({"untag", store, "fina"}), 1, {"did you mean 'final'?"});
  const CliRun far = Cli({"show", store, "--tag", "release"});
  ExpectError(far, 1, {"'release'"});
  EXPECT_EQ(far.err.find("did you mean"), std::string::npos) << far.err;
}

TEST_F(CliHelpTest, ErrorsCarryTheirPrefixOnce) {
  const std::string store = StoreWithOneCheckpoint();
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"import", "--help-me"}, {"import", store, "--step", "x", "f"}, {"rm", store},
        {"show", store, "--step", "9"}, {"log"}, {"nope"}, {"tag", store, "--latest"}}) {
    SCOPED_TRACE(Describe(args));
    const CliRun r = Cli(args);
    EXPECT_NE(r.code, 0);
    EXPECT_EQ(Count(r.err, "ckptdb: error: "), 1u) << r.err;
    EXPECT_EQ(r.err.find("error: ckptdb"), std::string::npos) << r.err;
  }
}

TEST_F(CliHelpTest, CommandLineMistakesExit2) {
  const std::string store = StoreWithOneCheckpoint();
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("w", DType::kF32, {100}, 1)}));
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"import", store, "--step", "2", "--tag", "", f}, "--tag"},           // an empty tag
      {{"policy", store, "--max-to-keep", " -1"}, "--max-to-keep"},          // strtoull would wrap it
      {{"policy", store, "--max-to-keep", "-1"}, "--max-to-keep"},
      {{"policy", store, "--max-to-keep", "+3"}, "--max-to-keep"},
      {{"policy", store, "--keep-every-steps", "1 "}, "--keep-every-steps"},
      {{"log", store, "-n", "-2"}, "-n"},
      {{"log", store, "--reverse=yes"}, "--reverse"},
      {{"rm", store, "--latest", "--dry-run=1"}, "--dry-run"},
      {{"log", store, "--graph", "--reverse"}, "--reverse"},
  };
  const std::string before = Snapshot(store);
  for (const auto& [args, names] : cases) {
    SCOPED_TRACE(Describe(args));
    ExpectError(Cli(args), 2, {names});
  }
  EXPECT_EQ(Snapshot(store), before);
  const CliRun policy = Cli({"policy", store, "--json"});
  ASSERT_EQ(policy.code, 0);
  EXPECT_EQ(ParseJson(policy.out).find("max_to_keep")->as_uint64(), 0u);
}

TEST_F(CliHelpTest, WithJsonEveryErrorIsOneJsonObjectOnStderr) {
  const std::string store = StoreWithOneCheckpoint();
  struct Case {
    std::vector<std::string> args;
    int exit;
    std::string code;
  };
  const std::vector<Case> cases = {
      {{"show", dir_.Join("none"), "--latest", "--json"}, 1, "NotFound"},
      {{"show", store, "--step", "99", "--json"}, 1, "NotFound"},
      {{"log", store, "--json", "--bogus"}, 2, "InvalidArgument"},
      {{"tag", store, "--latest", "--json"}, 2, "InvalidArgument"},
      {{"rm", store, "--step", "5", "--json"}, 1, "NotFound"},
      {{"untag", store, "nope", "--json"}, 1, "NotFound"},
      {{"import", store, "--step", "2", dir_.Join("missing.safetensors"), "--json"}, 1, "NotFound"},
      {{"export", store, "--latest", "-o", dir_.Join("nodir/x"), "--json"}, 1, "IOError"},
      {{"verify", dir_.Join("none"), "--json"}, 1, "NotFound"},
      {{"gc", dir_.Join("none"), "--json"}, 1, "NotFound"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(Describe(c.args));
    const CliRun r = Cli(c.args);
    EXPECT_EQ(r.code, c.exit) << r.err;
    EXPECT_EQ(r.out, "");
    ASSERT_EQ(Count(r.err, "\n"), 1u) << r.err;
    auto v = json::Parse(r.err);
    ASSERT_TRUE(v.ok()) << r.err;
    ASSERT_NE(v->find("error"), nullptr) << r.err;
    EXPECT_EQ(v->find("error")->find("code")->as_string(), c.code) << r.err;
    EXPECT_FALSE(v->find("error")->find("message")->as_string().empty());
  }
  // Without --json the same failures are the plain line.
  const CliRun plain = Cli({"show", store, "--step", "99"});
  EXPECT_EQ(plain.err.rfind("ckptdb: error: ", 0), 0u) << plain.err;
}

}  // namespace
}  // namespace ckptdb::cli_tests
