// Shell completion: the tool's own answers (ckptdb __complete) and the bash script that asks for
// them (tools/completion/ckptdb.bash), run in a real bash with the real executable.
#include <gtest/gtest.h>

#include <sstream>

#include "tests/support/cli_fixture.h"
#include "tests/support/cli_runner.h"

namespace ckptdb::cli_tests {
namespace {

std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string w; std::getline(in, w);) words.push_back(w);
  return words;
}

class CliCompletionTest : public CliTest {
 protected:
  void SetUp() override {
    store_ = dir_.Join("store");
    ImportOk(store_, 100, {Random("w", DType::kF32, {8}, 1)}, {"--tag", "first", "--metric", "loss=1"});
    ImportOk(store_, 200, {Random("w", DType::kF32, {8}, 2)}, {"--tag", "final", "--metric", "acc=0.5"});
  }

  // The tool's answer for the command line `words`, completing word `index`.
  std::vector<std::string> Ask(size_t index, std::vector<std::string> words) {
    words.insert(words.begin(), {"__complete", std::to_string(index)});
    const CliRun r = Cli(words);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    return Words(r.out);
  }

  // What bash completes for `line` (the cursor at its end) with the installed script sourced.
  std::vector<std::string> Bash(const std::string& line) {
    const std::string script = std::string(CKPTDB_SOURCE_DIR) + "/tools/completion/ckptdb.bash";
    const std::string program =
        "source '" + script + "'\n" + "COMP_WORDBREAKS=$' \\t\\n\"\\'><=;|&(:'\n" + "COMP_LINE=\"$1\"; COMP_POINT=${#COMP_LINE}\n" +
        "_ckptdb\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n";
    std::string out;
    const int code = testing::RunProcess({"/bin/bash", "-c", program, "bash", testing::CliPath() + " " + line}, &out);
    EXPECT_EQ(code, 0) << out;
    std::vector<std::string> words = Words(out);
    if (words.size() == 1 && words[0].empty()) words.clear();
    return words;
  }

  std::string store_;
};

TEST_F(CliCompletionTest, CommandsAndFlags) {
  EXPECT_EQ(Ask(0, {"ex"}), (std::vector<std::string>{"export", "export-hf"}));
  EXPECT_EQ(Ask(0, {"ro"}), (std::vector<std::string>{"rollback"}));
  EXPECT_EQ(Ask(1, {"help", "un"}), (std::vector<std::string>{"untag"}));
  EXPECT_EQ(Ask(2, {"log", store_, "--re"}), (std::vector<std::string>{"--reverse"}));
  const std::vector<std::string> rm = Ask(2, {"rm", store_, "--"});
  for (const char* f : {"--step", "--id", "--latest", "--head", "--tag", "--at", "--best", "--dry-run", "--json"})
    EXPECT_NE(std::find(rm.begin(), rm.end(), f), rm.end()) << f;
  EXPECT_TRUE(Ask(0, {"zzz"}).empty());
  EXPECT_TRUE(Ask(2, {"nosuchcommand", store_, "--"}).empty());
}

TEST_F(CliCompletionTest, TagsStepsIdsAndMetricsOfTheStoreOnTheLine) {
  EXPECT_EQ(Ask(3, {"show", store_, "--tag", "fi"}), (std::vector<std::string>{"final", "first"}));
  EXPECT_EQ(Ask(3, {"show", store_, "--tag", ""}), (std::vector<std::string>{"final", "first"}));
  EXPECT_EQ(Ask(3, {"export", store_, "--step", ""}), (std::vector<std::string>{"200", "100"}));  // newest first
  EXPECT_EQ(Ask(3, {"rm", store_, "--id", "1"}), (std::vector<std::string>{"1"}));
  EXPECT_EQ(Ask(3, {"show", store_, "--best", "lo"}), (std::vector<std::string>{"loss:min", "loss:max"}));
  EXPECT_EQ(Ask(2, {"untag", store_, "fir"}), (std::vector<std::string>{"first"}));
  EXPECT_EQ(Ask(2, {"diff", store_, "tag:"}), (std::vector<std::string>{"tag:final", "tag:first"}));
  // A word the store does not answer (a file) gets nothing, so bash completes file names.
  EXPECT_EQ(Ask(3, {"import", store_, "--step", "1"}), (std::vector<std::string>{"100"}));
  EXPECT_TRUE(Ask(4, {"import", store_, "--step", "1", "f"}).empty());
  // A missing store completes nothing and prints no error into the shell.
  EXPECT_TRUE(Ask(3, {"show", dir_.Join("none"), "--tag", ""}).empty());
}

TEST_F(CliCompletionTest, TheBashScriptOffersTheToolsAnswers) {
  EXPECT_EQ(Bash("verif"), (std::vector<std::string>{"verify"}));
  EXPECT_EQ(Bash("log " + store_ + " --gr"), (std::vector<std::string>{"--graph"}));
  EXPECT_EQ(Bash("show " + store_ + " --tag fin"), (std::vector<std::string>{"final"}));
  EXPECT_EQ(Bash("show " + store_ + " --step "), (std::vector<std::string>{"200", "100"}));
  // Colons break words in bash: the script replaces only what follows the last one.
  EXPECT_EQ(Bash("diff " + store_ + " tag:fir"), (std::vector<std::string>{"first"}));
  EXPECT_EQ(Bash("show " + store_ + " --best acc:m"), (std::vector<std::string>{"min", "max"}));
}

}  // namespace
}  // namespace ckptdb::cli_tests
