// Specifies `ckptdb import-hf` and `ckptdb export-hf`: save_pretrained directories (model.safetensors,
// or shards and model.safetensors.index.json, with config.json) to one checkpoint and back, sharded by
// huggingface_hub's rule, and bad directories refused with the store unchanged. Directories are
// written byte by byte here, not with the code under test.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/cli_fixture.h"
#include "tests/support/cli_output.h"
#include "tests/support/cli_runner.h"
#include "tests/support/exported_safetensors.h"
#include "tests/support/safetensors_bytes.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

namespace fs = std::filesystem;
using namespace cli_tests;

const std::map<std::string, std::string> kPt = {{"format", "pt"}};
// Odd spacing on purpose: the files must come back byte for byte, not re-serialised.
const std::string kConfig = "{\n  \"model_type\": \"gpt2\",\n  \"n_layer\":  2\n}\n";
const std::string kGenConfig = "{\"bos_token_id\": 0}";

std::vector<std::string> Listing(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The index json as save_pretrained writes it (json.dumps(indent=2, sort_keys=True) + "\n").
std::string IndexJson(uint64_t total, const std::map<std::string, std::string>& weight_map) {
  std::string s = "{\n  \"metadata\": {\n    \"total_size\": " + std::to_string(total) + "\n  },\n  \"weight_map\": {";
  bool first = true;
  for (const auto& [t, f] : weight_map) {
    s += std::string(first ? "" : ",") + "\n    " + Quote(t) + ": " + Quote(f);
    first = false;
  }
  return s + "\n  }\n}\n";
}

class CliHfTest : public CliTest {
 protected:
  void SetUp() override { store_ = dir_.Join("store"); }

  // A save_pretrained directory: one shard per entry of `shards` (model.safetensors for one).
  std::string ModelDir(const std::string& name, const std::vector<std::vector<Src>>& shards, bool configs = true) {
    const std::string d = dir_.Join(name);
    fs::create_directories(d);
    std::map<std::string, std::string> map;
    uint64_t total = 0;
    for (size_t i = 0; i < shards.size(); ++i) {
      char file[64];
      std::snprintf(file, sizeof file, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
      const std::string f = shards.size() == 1 ? "model.safetensors" : file;
      testing::WriteFileOrDie(d + "/" + f, Safetensors(shards[i], kPt));
      for (const Src& t : shards[i]) {
        map[t.name] = f;
        total += t.bytes.size();
      }
    }
    if (shards.size() > 1) testing::WriteFileOrDie(d + "/model.safetensors.index.json", IndexJson(total, map));
    if (configs) {
      testing::WriteFileOrDie(d + "/config.json", kConfig);
      testing::WriteFileOrDie(d + "/generation_config.json", kGenConfig);
    }
    return d;
  }

  void ImportHfOk(const std::string& dir, int64_t step = 1) {
    CliRun r = Cli({"import-hf", store_, dir, "--step", std::to_string(step), "--chunk-size", std::to_string(kChunk)});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
  }

  std::string store_;
  // 40,000 bytes each: with --max-shard-size 100000, two fit a shard and a third does not.
  const std::vector<Src> model_ = {Random("wte.weight", DType::kF32, {100, 100}, 1), Random("h.0.w", DType::kF32, {10000}, 2),
                                   Random("h.0.b", DType::kBF16, {20000}, 3), Random("h.1.w", DType::kF32, {10000}, 4),
                                   Random("ln_f", DType::kF32, {10000}, 5)};
};

TEST_F(CliHfTest, UnshardedDirectoryRoundTripsWithConfigsByteForByte) {
  ImportHfOk(ModelDir("in", {model_}));
  CliRun show = Cli({"show", store_, "--latest", "--json"});
  ASSERT_EQ(show.code, 0);
  const json::Value meta = *ParseJson(show.out).find("metadata");
  EXPECT_EQ(meta.find("hf.config.json")->as_string(), kConfig);
  EXPECT_EQ(meta.find("hf.generation_config.json")->as_string(), kGenConfig);

  const std::string out = dir_.Join("out");
  CliRun r = Cli({"export-hf", store_, "--latest", out});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("5 tensors"), std::string::npos) << r.out;
  EXPECT_EQ(Listing(out), (std::vector<std::string>{"config.json", "generation_config.json", "model.safetensors"}));
  EXPECT_EQ(testing::ReadFileOrDie(out + "/config.json"), kConfig);
  EXPECT_EQ(testing::ReadFileOrDie(out + "/generation_config.json"), kGenConfig);
  // The shard's __metadata__ is the checkpoint's less the hf.* keys: {"format": "pt"}.
  ExpectExported(out + "/model.safetensors", model_, kPt);
  EXPECT_EQ(Listing(dir_.path()), (std::vector<std::string>{"in", "out", "store"})) << "a temporary was left behind";
  EXPECT_EQ(fs::status(out).permissions() & fs::perms::all,
            fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                fs::perms::others_exec);
}

TEST_F(CliHfTest, ShardedDirectoryImportsAsOneCheckpointAndReexportsSharded) {
  ImportHfOk(ModelDir("in", {{model_[0], model_[1]}, {model_[2], model_[3]}, {model_[4]}}));
  CliRun show = Cli({"show", store_, "--latest", "--json"});
  ASSERT_EQ(show.code, 0);
  EXPECT_EQ(ParseJson(show.out).find("tensors")->as_array().size(), 5u);

  const std::string out = dir_.Join("out");
  ASSERT_EQ(Cli({"export-hf", store_, "--step", "1", out, "--max-shard-size", "100000"}).code, 0);
  const std::vector<std::string> shards = {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                           "model-00003-of-00003.safetensors"};
  EXPECT_EQ(Listing(out), (std::vector<std::string>{"config.json", "generation_config.json", shards[0], shards[1],
                                                    shards[2], "model.safetensors.index.json"}));
  ExpectExported(out + "/" + shards[0], {model_[0], model_[1]}, kPt);
  ExpectExported(out + "/" + shards[1], {model_[2], model_[3]}, kPt);
  ExpectExported(out + "/" + shards[2], {model_[4]}, kPt);
  std::map<std::string, std::string> map;
  for (int i = 0; i < 5; ++i) map[model_[i].name] = shards[i / 2];
  EXPECT_EQ(testing::ReadFileOrDie(out + "/model.safetensors.index.json"), IndexJson(200000, map));

  // And the export imports again to the very same tensors.
  const std::string again = dir_.Join("again");
  ASSERT_EQ(Cli({"import-hf", again, out, "--step", "1", "--tag", "hf", "--metric", "loss=0.5"}).code, 0);
  CliRun a = Cli({"show", store_, "--latest", "--json"}), b = Cli({"show", again, "--latest", "--json"});
  EXPECT_EQ(*ParseJson(a.out).find("tensors"), *ParseJson(b.out).find("tensors"));
  EXPECT_EQ(*ParseJson(a.out).find("metadata"), *ParseJson(b.out).find("metadata"));
  EXPECT_EQ(ParseJson(b.out).find("tags")->as_array().at(0).as_string(), "hf");  // import's flags apply
  EXPECT_EQ(ParseJson(b.out).find("metrics")->find("loss")->as_double(), 0.5);
}

TEST_F(CliHfTest, ShardsFollowHuggingfaceHubsSplitRule) {
  // huggingface_hub: a tensor over the limit becomes a shard of its own at once, while the shard
  // being filled goes on; so [40k, 150k, 40k, 40k] at 100k is [150k], [40k, 40k], [40k].
  const std::vector<Src> t = {model_[0], Random("big", DType::kU8, {150000}, 9), model_[1], model_[3]};
  ImportHfOk(ModelDir("in", {t}));
  const std::string out = dir_.Join("out");
  ASSERT_EQ(Cli({"export-hf", store_, "--latest", out, "--max-shard-size=100000"}).code, 0);
  ExpectExported(out + "/model-00001-of-00003.safetensors", {t[1]}, kPt);
  ExpectExported(out + "/model-00002-of-00003.safetensors", {t[0], t[2]}, kPt);
  ExpectExported(out + "/model-00003-of-00003.safetensors", {t[3]}, kPt);
}

TEST_F(CliHfTest, TrainingStateExportsOnlyTheModelWithThePrefixStripped) {
  std::vector<Src> state;
  for (const Src& t : model_) state.push_back({"model." + t.name, t.dtype, t.shape, t.bytes});
  state.push_back(Random("optimizer.state.0.exp_avg", DType::kF32, {100}, 7));
  state.push_back(Random("rng.torch", DType::kU8, {16}, 8));
  ImportOk(store_, 5, state, {}, {{"hf.config.json", kConfig}});

  const std::string out = dir_.Join("auto");
  CliRun r = Cli({"export-hf", store_, "--step", "5", out});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("model."), std::string::npos) << r.out;
  EXPECT_EQ(Listing(out), (std::vector<std::string>{"config.json", "model.safetensors"}));
  EXPECT_EQ(testing::ReadFileOrDie(out + "/config.json"), kConfig);
  ExpectExported(out + "/model.safetensors", model_, kPt);

  ASSERT_EQ(Cli({"export-hf", store_, "--step", "5", dir_.Join("explicit"), "--prefix", "model."}).code, 0);
  ExpectExported(dir_.Join("explicit/model.safetensors"), model_, kPt);
  ASSERT_EQ(Cli({"export-hf", store_, "--step", "5", dir_.Join("all"), "--prefix="}).code, 0);
  ExpectExported(dir_.Join("all/model.safetensors"), state, kPt);
  ExpectError(Cli({"export-hf", store_, "--step", "5", dir_.Join("none"), "--prefix", "encoder."}), 1, {"encoder."});
  EXPECT_FALSE(fs::exists(dir_.Join("none")));
}

TEST_F(CliHfTest, ModelTensorsWithoutAnOptimizerAreExportedAsTheyAre) {
  // An HF model's own names may start with model. (Llama's model.layers...): no optimizer, no stripping.
  const std::vector<Src> llama = {Random("model.embed_tokens.weight", DType::kF32, {64}, 1),
                                  Random("lm_head.weight", DType::kF32, {64}, 2)};
  ImportHfOk(ModelDir("in", {llama}));
  ASSERT_EQ(Cli({"export-hf", store_, "--latest", dir_.Join("out")}).code, 0);
  ExpectExported(dir_.Join("out/model.safetensors"), llama, kPt);
}

TEST_F(CliHfTest, ExportIntoAnEmptyDirectoryWorksButNotIntoAFullOneOrAFile) {
  ImportHfOk(ModelDir("in", {model_}));
  const std::string empty = dir_.Join("empty");
  fs::create_directories(empty);
  ASSERT_EQ(Cli({"export-hf", store_, "--latest", empty}).code, 0);
  EXPECT_EQ(Listing(empty).size(), 3u);

  const std::string full = dir_.Join("full");
  fs::create_directories(full);
  testing::WriteFileOrDie(full + "/keep.txt", "mine");
  ExpectError(Cli({"export-hf", store_, "--latest", full}), 2, {full, "not empty"});
  EXPECT_EQ(Listing(full), std::vector<std::string>{"keep.txt"});
  const std::string file = dir_.Join("file");
  testing::WriteFileOrDie(file, "x");
  ExpectError(Cli({"export-hf", store_, "--latest", file}), 2, {file, "not a directory"});
  EXPECT_EQ(testing::ReadFileOrDie(file), "x");
  EXPECT_EQ(Listing(dir_.path()), (std::vector<std::string>{"empty", "file", "full", "in", "store"}));
}

TEST_F(CliHfTest, ExportFailuresLeaveNoDirectory) {
  ImportOk(store_, 1, model_);  // no hf.config.json: from_pretrained could not load the result
  ExpectError(Cli({"export-hf", store_, "--latest", dir_.Join("out")}), 1, {"hf.config.json"});
  ExpectError(Cli({"export-hf", store_, "--step", "99", dir_.Join("out")}), 1, {"step 99"});
  ImportOk(store_, 2, model_, {}, {{"hf.config.json", kConfig}});
  ExpectError(Cli({"export-hf", store_, "--step", "2", dir_.Join("missing/out")}), 1, {"missing/out"});
  ExpectError(Cli({"export-hf", dir_.Join("nostore"), "--latest", dir_.Join("out")}), 1, {"nostore"});
  EXPECT_EQ(Listing(dir_.path()), (std::vector<std::string>{"in0.safetensors", "in1.safetensors", "store"}));
}

TEST_F(CliHfTest, UsageMistakesExitTwo) {
  const std::string in = ModelDir("in", {model_});
  ExpectError(Cli({"import-hf", store_, in}), 2, {"--step"});
  ExpectError(Cli({"import-hf", store_, "--step", "1"}), 2, {"DIR"});
  ExpectError(Cli({"import-hf", store_, in, in, "--step", "1"}), 2, {"DIR"});
  ExpectError(Cli({"export-hf", store_, dir_.Join("o")}), 2, {"--step"});
  ExpectError(Cli({"export-hf", store_, "--latest"}), 2, {"DIR"});
  ExpectError(Cli({"export-hf", store_, "--latest", dir_.Join("o"), "--max-shard-size", "0"}), 2, {"--max-shard-size"});
  ExpectError(Cli({"export-hf", store_, "--latest", dir_.Join("o"), "--max-shard-size", "5GB"}), 2, {"--max-shard-size"});
  EXPECT_FALSE(fs::exists(store_));
  EXPECT_FALSE(fs::exists(dir_.Join("o")));
}

class CliHfBadInputTest : public CliHfTest {
 protected:
  // Expects import-hf of `dir` to fail with one line naming `names`, leaving an existing store and
  // a path where no store is yet exactly as they were.
  void ExpectRefused(const std::string& dir, const std::vector<std::string>& names) {
    SCOPED_TRACE(dir);
    const std::string existing = StoreWithOneCheckpoint(), before = Snapshot(existing);
    ExpectError(Cli({"import-hf", existing, dir, "--step", "2"}), 1, names);
    EXPECT_EQ(Snapshot(existing), before);
    ExpectError(Cli({"import-hf", store_, dir, "--step", "2"}), 1, names);
    EXPECT_FALSE(fs::exists(store_));
  }
  std::string Sharded(const std::string& name) { return ModelDir(name, {{model_[0], model_[1]}, {model_[2]}}); }
};

TEST_F(CliHfBadInputTest, DirectoryWithoutWeightsOrMissing) {
  fs::create_directories(dir_.Join("empty"));
  ExpectRefused(dir_.Join("empty"), {"empty", "model.safetensors"});
  ExpectRefused(dir_.Join("nothere"), {"nothere"});
}

TEST_F(CliHfBadInputTest, CorruptIndex) {
  const std::string d = Sharded("bad");
  testing::WriteFileOrDie(d + "/model.safetensors.index.json", "{\"weight_map\": {\"a\": ");
  ExpectRefused(d, {"model.safetensors.index.json", "JSON"});
  testing::WriteFileOrDie(d + "/model.safetensors.index.json", "{\"metadata\": {}}");
  ExpectRefused(d, {"model.safetensors.index.json", "weight_map"});
  testing::WriteFileOrDie(d + "/model.safetensors.index.json", "{\"weight_map\": {\"wte.weight\": \"../x.safetensors\"}}");
  ExpectRefused(d, {"model.safetensors.index.json", "wte.weight"});
}

TEST_F(CliHfBadInputTest, MissingShard) {
  const std::string d = Sharded("bad");
  fs::remove(d + "/model-00002-of-00002.safetensors");
  ExpectRefused(d, {"model-00002-of-00002.safetensors"});
}

TEST_F(CliHfBadInputTest, WeightMapDisagreesWithTheShards) {
  const std::string d = Sharded("bad");
  const std::string f1 = "model-00001-of-00002.safetensors", f2 = "model-00002-of-00002.safetensors";
  // A tensor the weight_map names in a shard that lacks it.
  testing::WriteFileOrDie(d + "/model.safetensors.index.json",
                          IndexJson(0, {{"wte.weight", f1}, {"h.0.w", f1}, {"h.0.b", f2}, {"ghost", f2}}));
  ExpectRefused(d, {"ghost", f2});
  // A tensor the weight_map places in the wrong shard.
  testing::WriteFileOrDie(d + "/model.safetensors.index.json", IndexJson(0, {{"wte.weight", f1}, {"h.0.w", f2}, {"h.0.b", f2}}));
  ExpectRefused(d, {"h.0.w", f1});
  // A shard holding a tensor the weight_map does not name.
  testing::WriteFileOrDie(d + "/model.safetensors.index.json", IndexJson(0, {{"wte.weight", f1}, {"h.0.b", f2}}));
  ExpectRefused(d, {"h.0.w"});
}

TEST_F(CliHfBadInputTest, TruncatedShardOrCorruptConfig) {
  const std::string d = Sharded("bad");
  const std::string shard = d + "/model-00001-of-00002.safetensors";
  const std::string bytes = testing::ReadFileOrDie(shard);
  testing::WriteFileOrDie(shard, bytes.substr(0, bytes.size() - 100));
  ExpectRefused(d, {"model-00001-of-00002.safetensors"});
  testing::WriteFileOrDie(shard, bytes);
  testing::WriteFileOrDie(d + "/config.json", "{\"n_layer\": 2,}");
  ExpectRefused(d, {"config.json", "JSON"});
}

TEST_F(CliHfBadInputTest, TheRealBinaryReportsOneLine) {
  fs::create_directories(dir_.Join("empty"));
  CliRun r = Binary({"import-hf", store_, dir_.Join("empty"), "--step", "1"}, dir_.path());
  ExpectError(r, 1, {"model.safetensors.index.json"});
  EXPECT_FALSE(fs::exists(store_));
}

}  // namespace
}  // namespace ckptdb
