// Specifies the ckptdb command-line tool (tools/cli.h): every command, every bad-input case.
//
// Commands run in-process through ckptdb::cli::Run (fast); a few run through the real executable to
// prove the binary works and its exit codes propagate. Safetensors inputs are written byte by byte
// here, not with the code under test, so malformed files can be made on purpose.
//
// The error contract checked for every failure: exit 1 when the command ran and failed, 2 when the
// command line is wrong; stderr is exactly one line starting with "ckptdb: error: " that names what
// is wrong; and the store is unchanged (same `ckptdb log --json`, or still absent).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/test_support.h"
#include "tools/cli.h"
#include "tools/json.h"
#include "tools/safetensors.h"

extern char** environ;

namespace ckptdb {
namespace {

namespace fs = std::filesystem;
using json::Value;

constexpr uint64_t kChunk = 64 << 10;  // the smallest chunk size, so small tensors span chunks

// ---------------------------------------------------------------------------------------------
// Running commands.

struct CliRun {
  int code = -1;
  std::string out, err;
};

CliRun Cli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  CliRun r;
  r.code = cli::Run(args, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

std::string Describe(const std::vector<std::string>& args) {
  std::string s = "ckptdb";
  for (const auto& a : args) s += " " + a;
  return s;
}

// The real executable: exit code and both streams.
CliRun Binary(const std::vector<std::string>& args, const std::string& scratch) {
  const std::string out_path = scratch + "/binary.out", err_path = scratch + "/binary.err";
  std::vector<std::string> argv = {testing::CliPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargs;
  for (auto& a : argv) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, cargs.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  CliRun r;
  if (rc != 0) {
    ADD_FAILURE() << "cannot run " << argv[0] << ": " << std::strerror(rc);
    return r;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = testing::ReadFileOrDie(out_path);
  r.err = testing::ReadFileOrDie(err_path);
  return r;
}

// What a command must do on failure: exit `code`, nothing on stdout, and exactly one stderr line
// "ckptdb: error: ..." that contains every string in `names`.
void ExpectError(const CliRun& r, int code, const std::vector<std::string>& names) {
  EXPECT_EQ(r.code, code) << "stderr: " << r.err;
  EXPECT_EQ(r.out, "") << "a failing command printed to stdout";
  EXPECT_EQ(r.err.rfind("ckptdb: error: ", 0), 0u) << "stderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr is not exactly one line: " << r.err;
  EXPECT_TRUE(!r.err.empty() && r.err.back() == '\n') << "stderr: " << r.err;
  for (const auto& n : names) EXPECT_NE(r.err.find(n), std::string::npos) << "stderr does not name '" << n << "': " << r.err;
}

// The store as the user sees it: `ckptdb log --json`, or a marker when there is no directory.
std::string Snapshot(const std::string& store) {
  if (!fs::exists(store)) return "<no directory>";
  CliRun r = Cli({"log", store, "--json"});
  return std::to_string(r.code) + "\n" + r.out + r.err;
}

// ---------------------------------------------------------------------------------------------
// Writing safetensors files by hand.

struct Src {
  std::string name;
  DType dtype;
  Shape shape;
  std::string bytes;
};

std::string RandomString(uint64_t seed, size_t n) {
  std::string s(n, '\0');
  testing::FillRandom(seed, s.data(), n);
  return s;
}

Src Random(std::string name, DType dtype, Shape shape, uint64_t seed) {
  const uint64_t n = *ExpectedBytes(dtype, shape);
  Src s{std::move(name), dtype, std::move(shape), RandomString(seed, n)};
  if (dtype == DType::kBool)
    for (char& c : s.bytes) c = char(c & 1);
  return s;
}

std::string Le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char(uint8_t(v >> (8 * i)));
  return s;
}

// 8-byte little-endian length of `header`, the header, then `data`.
std::string Framed(const std::string& header, const std::string& data) { return Le64(header.size()) + header + data; }

// A JSON string literal: quotes, backslashes and control characters escaped, UTF-8 kept as is.
std::string Quote(const std::string& s) {
  std::string q = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      q += '\\';
      q += char(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      q += buf;
    } else {
      q += char(c);
    }
  }
  return q + "\"";
}

std::string HeaderJson(const std::vector<Src>& tensors, const std::map<std::string, std::string>& metadata) {
  std::string h = "{";
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    for (const auto& [k, v] : metadata) h += Quote(k) + ":" + Quote(v) + ",";
    h.back() = '}';
    h += ",";
  }
  uint64_t off = 0;
  for (const auto& t : tensors) {
    h += Quote(t.name) + ":{\"dtype\":\"" + std::string(DTypeName(t.dtype)) + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) h += (i ? "," : "") + std::to_string(t.shape[i]);
    h += "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + t.bytes.size()) + "]},";
    off += t.bytes.size();
  }
  if (h.size() > 1) h.pop_back();
  return h + "}";
}

std::string Safetensors(const std::vector<Src>& tensors, const std::map<std::string, std::string>& metadata = {}) {
  std::string h = HeaderJson(tensors, metadata);
  h.append((8 - h.size() % 8) % 8, ' ');
  std::string data;
  for (const auto& t : tensors) data += t.bytes;
  return Framed(h, data);
}

std::string WriteFile(const testing::ScratchDir& dir, const std::string& name, const std::string& bytes) {
  const std::string path = dir.Join(name);
  testing::WriteFileOrDie(path, bytes);
  return path;
}

// ---------------------------------------------------------------------------------------------
// Reading results back.

Value ParseJson(const std::string& text) {
  auto v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << v.status().ToString() << "\n" << text;
  return v.ok() ? *v : Value();
}

std::vector<std::string> Keys(const Value& v) {
  std::vector<std::string> keys;
  for (const auto& [k, unused] : v.as_object()) keys.push_back(k);
  return keys;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

Result<std::unique_ptr<Store>> OpenExisting(const std::string& path) {
  StoreOptions o;
  o.create_if_missing = false;
  return Store::Open(path, o);
}

// Restores checkpoint `which` of `store` and compares it with `want` (order, dtype, shape, bytes).
void ExpectCheckpointHolds(const std::string& store, const Selector& which, const std::vector<Src>& want) {
  auto s = OpenExisting(store);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto r = (*s)->Restore(which);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ((*r)[i].name, want[i].name);
    EXPECT_EQ((*r)[i].dtype, want[i].dtype) << want[i].name;
    EXPECT_EQ((*r)[i].shape, want[i].shape) << want[i].name;
    ASSERT_EQ((*r)[i].bytes.size(), want[i].bytes.size()) << want[i].name;
    EXPECT_TRUE(want[i].bytes.empty() ||
                std::memcmp((*r)[i].bytes.data(), want[i].bytes.data(), want[i].bytes.size()) == 0)
        << want[i].name << " restored with different bytes";
  }
}

// "2026-11-23 01:36:00" for a commit time, computed here (not with tools/format).
std::string Utc(int64_t ns, const char* fmt) {
  std::time_t t = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}

// ---------------------------------------------------------------------------------------------

void ExpectExported(const std::string& path, const std::vector<Src>& want, const std::map<std::string, std::string>& metadata);

class CliTest : public ::testing::Test {
 protected:
  // Imports `tensors` (written as one file) at `step`; returns the file's path.
  std::string ImportOk(const std::string& store, int64_t step, const std::vector<Src>& tensors,
                       std::vector<std::string> extra = {}, const std::map<std::string, std::string>& metadata = {}) {
    const std::string file = WriteFile(dir_, "in" + std::to_string(files_++) + ".safetensors", Safetensors(tensors, metadata));
    std::vector<std::string> args = {"import", store, "--step", std::to_string(step)};
    if (!fs::exists(store)) extra.insert(extra.begin(), {"--chunk-size", std::to_string(kChunk)});
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

// ---------------------------------------------------------------------------------------------
// import

TEST_F(CliTest, ImportCreatesStoreAndRecordsChunkSizeTagsMetricsMetadata) {
  const std::string store = dir_.Join("new/nested/store");
  const std::vector<Src> a = {Random("embed", DType::kF32, {64, 1024}, 1), Random("norm", DType::kBF16, {3}, 2)};
  const std::vector<Src> b = {Random("head.weight", DType::kI64, {100, 100}, 3), Random("mask", DType::kBool, {5}, 4),
                              Random("scalar", DType::kF64, {}, 5), Random("empty", DType::kF32, {0, 3}, 6)};
  const std::string fa = WriteFile(dir_, "a.safetensors", Safetensors(a, {{"format", "pt"}, {"from_a", "1"}}));
  const std::string fb = WriteFile(dir_, "b.safetensors", Safetensors(b, {{"format", "pt"}, {"from_b", "two"}}));
  ASSERT_FALSE(fs::exists(store));

  CliRun r = Cli({"import", store, "--step", "42", "--chunk-size", "131072", "--tag", "best", "--tag", "alpha",
                  "--metric", "loss=0.25", "--metric=acc=0.875", fa, fb});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("checkpoint 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("step 42"), std::string::npos) << r.out;

  auto s = OpenExisting(store);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->chunk_size(), 131072u);
  auto list = (*s)->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);  // several files became one checkpoint
  const CheckpointInfo& c = list->front();
  EXPECT_EQ(c.step, 42);
  EXPECT_EQ(c.parent, std::nullopt);
  EXPECT_EQ(c.tensor_count, 6u);
  EXPECT_EQ(c.tags, (std::vector<std::string>{"alpha", "best"}));
  EXPECT_EQ(c.metrics, (std::map<std::string, double>{{"acc", 0.875}, {"loss", 0.25}}));
  auto m = (*s)->Describe(Selector::Latest());
  ASSERT_TRUE(m.ok());
  // Each file's __metadata__ is kept (the shared key once).
  EXPECT_EQ(m->metadata, (std::map<std::string, std::string>{{"format", "pt"}, {"from_a", "1"}, {"from_b", "two"}}));
  s->reset();
  std::vector<Src> all = a;
  all.insert(all.end(), b.begin(), b.end());
  ExpectCheckpointHolds(store, Selector::Id(1), all);
}

TEST_F(CliTest, ImportIntoExistingStoreChainsParentsAndDedups) {
  const std::string store = dir_.Join("store");
  const std::vector<Src> t = {Random("w", DType::kF16, {300, 300}, 7)};
  ImportOk(store, 1, t);
  ImportOk(store, 2, t);
  auto s = OpenExisting(store);
  ASSERT_TRUE(s.ok());
  auto list = (*s)->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ(list->at(1).parent, std::optional<CheckpointId>(1));
  EXPECT_EQ(list->at(0).new_bytes, 180000u);
  EXPECT_EQ(list->at(1).new_bytes, 0u);  // every chunk was already stored
  EXPECT_EQ((*s)->chunk_size(), kChunk);
}

TEST_F(CliTest, ImportWithTheStoresOwnChunkSizeIsAccepted) {
  const std::string store = StoreWithOneCheckpoint();
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("x", DType::kU8, {10}, 9)}));
  CliRun r = Cli({"import", store, "--step", "2", "--chunk-size", std::to_string(kChunk), f});
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(CliTest, ImportTensorInTwoFilesIsAnError) {
  const std::string f1 = WriteFile(dir_, "one.safetensors", Safetensors({Random("shared.w", DType::kF32, {4}, 1)}));
  const std::string f2 = WriteFile(dir_, "two.safetensors",
                                   Safetensors({Random("other", DType::kF32, {4}, 2), Random("shared.w", DType::kF32, {4}, 3)}));
  // Into a missing store: nothing is created.
  const std::string fresh = dir_.Join("fresh");
  ExpectError(Cli({"import", fresh, "--step", "1", f1, f2}), 1, {"shared.w", f1, f2});
  EXPECT_FALSE(fs::exists(fresh));
  // Into an existing store: its history is unchanged.
  const std::string store = StoreWithOneCheckpoint();
  const std::string before = Snapshot(store);
  ExpectError(Cli({"import", store, "--step", "2", f1, f2}), 1, {"shared.w", f1, f2});
  EXPECT_EQ(Snapshot(store), before);
}

TEST_F(CliTest, ImportMetadataKeyThatDiffersBetweenFilesIsAnError) {
  const std::string f1 = WriteFile(dir_, "one.safetensors", Safetensors({Random("a", DType::kF32, {4}, 1)}, {{"epoch", "1"}}));
  const std::string f2 = WriteFile(dir_, "two.safetensors", Safetensors({Random("b", DType::kF32, {4}, 2)}, {{"epoch", "2"}}));
  const std::string store = StoreWithOneCheckpoint();
  const std::string before = Snapshot(store);
  ExpectError(Cli({"import", store, "--step", "2", f1, f2}), 1, {"epoch", f1, f2});
  EXPECT_EQ(Snapshot(store), before);
}

TEST_F(CliTest, ImportChunkSizeDifferentFromTheStoresIsAnError) {
  const std::string store = StoreWithOneCheckpoint();  // chunk size 64 KiB
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("x", DType::kF32, {10}, 9)}));
  const std::string before = Snapshot(store);
  ExpectError(Cli({"import", store, "--step", "2", "--chunk-size", "1048576", f}), 1, {store, "--chunk-size", "65536"});
  EXPECT_EQ(Snapshot(store), before);
}

TEST_F(CliTest, ImportTagInUseIsAnError) {
  const std::string store = dir_.Join("store");
  ImportOk(store, 1, {Random("w", DType::kF32, {8}, 1)}, {"--tag", "release"});
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("w", DType::kF32, {8}, 2)}));
  const std::string before = Snapshot(store);
  ExpectError(Cli({"import", store, "--step", "2", "--tag", "release", f}), 1, {"release"});
  EXPECT_EQ(Snapshot(store), before);
}

TEST_F(CliTest, ImportWithoutStepIsAUsageError) {
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("x", DType::kF32, {10}, 9)}));
  const std::string fresh = dir_.Join("fresh");
  ExpectError(Cli({"import", fresh, f}), 2, {"--step"});
  EXPECT_FALSE(fs::exists(fresh));
  const std::string store = StoreWithOneCheckpoint();
  const std::string before = Snapshot(store);
  ExpectError(Cli({"import", store, f}), 2, {"--step"});
  ExpectError(Cli({"import", store, f, "--step"}), 2, {"--step"});  // flag without its value
  EXPECT_EQ(Snapshot(store), before);
}

// A step that is not an integer is a bad value on the command line: exit 2 (tools/cli.h).
TEST_F(CliTest, ImportNonIntegerStepIsAUsageError) {
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("x", DType::kF32, {10}, 9)}));
  const std::string store = StoreWithOneCheckpoint();
  const std::string before = Snapshot(store);
  for (const std::string step : {"abc", "1.5", "12x", "", "99999999999999999999"}) {
    SCOPED_TRACE("--step '" + step + "'");
    ExpectError(Cli({"import", store, "--step", step, f}), 2, {"--step", "'" + step + "'"});
    const std::string fresh = dir_.Join("fresh");
    ExpectError(Cli({"import", fresh, "--step", step, f}), 2, {"--step"});
    EXPECT_FALSE(fs::exists(fresh));
  }
  EXPECT_EQ(Snapshot(store), before);
}

// The other malformed flag values of import are command-line errors too: exit 2.
TEST_F(CliTest, ImportMalformedFlagValuesAreUsageErrors) {
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("x", DType::kF32, {10}, 9)}));
  const std::string fresh = dir_.Join("fresh");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--metric", "loss"}, "loss"},                 // no '='
      {{"--metric", "=0.5"}, "=0.5"},                 // no name
      {{"--metric", "loss=abc"}, "loss"},             // not a number
      {{"--metric", "loss=1", "--metric", "loss=2"}, "loss"},  // same metric twice
      {{"--chunk-size", "big"}, "--chunk-size"},
      {{"--chunk-size", "-65536"}, "--chunk-size"},
      {{"--chunk-size", "1000"}, "1000"},             // not a power of two in [64 KiB, 64 MiB]
  };
  for (const auto& [flags, names] : cases) {
    std::vector<std::string> args = {"import", fresh, "--step", "1"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back(f);
    SCOPED_TRACE(Describe(args));
    ExpectError(Cli(args), 2, {names});
    EXPECT_FALSE(fs::exists(fresh));
  }
}

TEST_F(CliTest, ImportWithoutFilesIsAUsageError) {
  const std::string fresh = dir_.Join("fresh");
  ExpectError(Cli({"import", fresh, "--step", "1"}), 2, {"import"});
  ExpectError(Cli({"import", "--step", "1"}), 2, {"import"});
  EXPECT_FALSE(fs::exists(fresh));
}

TEST_F(CliTest, ImportLeavesADirectoryThatIsNotAStoreAlone) {
  const std::string notstore = dir_.Join("photos");
  fs::create_directories(notstore);
  WriteFile(dir_, "photos/cat.jpg", "meow");
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("x", DType::kF32, {10}, 9)}));
  ExpectError(Cli({"import", notstore, "--step", "1", f}), 1, {notstore});
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(notstore)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"cat.jpg"});
}

TEST_F(CliTest, ImportAcceptsNegativeAndExtremeSteps) {
  const std::string store = dir_.Join("store");
  const std::vector<Src> t = {Random("w", DType::kF32, {10}, 1)};
  ImportOk(store, -5, t);
  ImportOk(store, std::numeric_limits<int64_t>::max(), t, {"--metric", "loss=-1e-300"});
  CliRun r = Cli({"show", store, "--step", "-5", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ParseJson(r.out).find("step")->as_int64(), -5);
  r = Cli({"show", store, "--step=9223372036854775807", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ParseJson(r.out).find("step")->as_int64(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(ParseJson(r.out).find("metrics")->find("loss")->as_double(), -1e-300);
  const std::string out = dir_.Join("x.safetensors");
  ASSERT_EQ(Cli({"export", store, "--step=-5", "-o", out}).code, 0);
  ExpectExported(out, t, {});
}

TEST_F(CliTest, ImportOfAFileWithoutTensors) {
  const std::string store = dir_.Join("store");
  const std::string f = WriteFile(dir_, "none.safetensors", Safetensors({}, {{"only", "metadata"}}));
  CliRun r = Cli({"import", store, "--step", "1", f});
  ASSERT_EQ(r.code, 0) << r.err;
  r = Cli({"show", store, "--latest", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const Value v = ParseJson(r.out);
  EXPECT_TRUE(v.find("tensors")->as_array().empty());
  EXPECT_EQ(v.find("metadata")->find("only")->as_string(), "metadata");
  const std::string out = dir_.Join("x.safetensors");
  ASSERT_EQ(Cli({"export", store, "--latest", "-o", out}).code, 0);
  ExpectExported(out, {}, {{"only", "metadata"}});
}

// Names and metadata with quotes, control characters and non-ASCII text survive import, show and
// export, and never break the one-line-per-item text output.
TEST_F(CliTest, OddNamesAndMetadataRoundTrip) {
  const std::string store = dir_.Join("store");
  const std::vector<Src> t = {Random("módulo.peso", DType::kF32, {70000}, 1), Random("say \"hi\"\\now", DType::kU8, {5}, 2),
                              Random("tab\there", DType::kI16, {3}, 3)};
  const std::map<std::string, std::string> meta = {{"note", "line1\nline2 \"q\" é ✓"}, {"empty", ""}};
  ImportOk(store, 1, t, {}, meta);
  CliRun r = Cli({"show", store, "--latest", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const Value v = ParseJson(r.out);
  ASSERT_EQ(v.find("tensors")->as_array().size(), 3u);
  for (size_t i = 0; i < t.size(); ++i) EXPECT_EQ(v.find("tensors")->as_array()[i].find("name")->as_string(), t[i].name);
  EXPECT_EQ(v.find("metadata")->find("note")->as_string(), meta.at("note"));
  EXPECT_EQ(v.find("metadata")->find("empty")->as_string(), "");

  r = Cli({"show", store, "--latest"});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const std::string& line : Lines(r.out)) {
    if (line.find("line1") != std::string::npos) {
      EXPECT_NE(line.find("line2"), std::string::npos) << "the metadata value's newline split the output:\n" << r.out;
    }
    EXPECT_NE(line.rfind("line2", 0), 0u) << "the metadata value's newline split the output:\n" << r.out;
  }
  EXPECT_NE(r.out.find("módulo.peso"), std::string::npos) << r.out;

  const std::string out = dir_.Join("x.safetensors");
  ASSERT_EQ(Cli({"export", store, "--latest", "-o", out}).code, 0);
  ExpectExported(out, t, meta);
}

// Another process holding the store: the real executable reports it and changes nothing.
TEST_F(CliTest, StoreOpenElsewhereIsReportedNamingTheStore) {
  const std::string store = StoreWithOneCheckpoint();
  const std::string before = Snapshot(store);
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("x", DType::kF32, {10}, 9)}));
  {
    auto held = OpenExisting(store);
    ASSERT_TRUE(held.ok()) << held.status().ToString();
    ExpectError(Binary({"import", store, "--step", "2", f}, dir_.path()), 1, {store});
    ExpectError(Binary({"log", store}, dir_.path()), 1, {store});
  }
  EXPECT_EQ(Snapshot(store), before);
}

// ---------------------------------------------------------------------------------------------
// import of malformed safetensors files: one case per way a file can be wrong.

struct BadFile {
  std::string label;
  std::string bytes;                // the file's content ("" with missing: no file at all)
  std::vector<std::string> names;   // what stderr must name besides the file's path
  bool missing = false;
};

std::vector<BadFile> BadFiles() {
  const Src a = Random("layer.a", DType::kF32, {16}, 1);  // 64 bytes
  const Src b = Random("layer.b", DType::kF32, {16}, 2);  // 64 bytes
  const std::string good = Safetensors({a, b}, {{"format", "pt"}});
  const uint64_t n = good.size() - 8 - 128;  // header length
  const std::string data = a.bytes + b.bytes;
  auto tensor = [](const std::string& name, const std::string& dtype, const std::string& shape, uint64_t b, uint64_t e) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
           std::to_string(b) + "," + std::to_string(e) + "]}";
  };
  std::vector<BadFile> v;
  v.push_back({"empty file", "", {"0 bytes"}});
  v.push_back({"5 bytes", good.substr(0, 5), {}});
  v.push_back({"7 bytes", good.substr(0, 7), {}});
  v.push_back({"only the length", good.substr(0, 8), {"header length"}});
  v.push_back({"cut mid-header", good.substr(0, 8 + n / 2), {"header length"}});
  v.push_back({"cut one byte into the data", good.substr(0, 8 + n + 1), {"layer.a"}});
  v.push_back({"cut mid-data (in the second tensor)", good.substr(0, good.size() - 32), {"layer.b"}});
  v.push_back({"cut one byte short", good.substr(0, good.size() - 1), {"layer.b"}});
  v.push_back({"garbled header (not JSON)", Framed("{\"layer.a\": {dtype: F32} ]]  ", data), {"JSON"}});
  v.push_back({"header is a JSON array", Framed("[1, 2, 3]", data), {}});
  v.push_back({"header is not UTF-8", Framed("{\"\xff\xfe\": 1}", data), {}});
  v.push_back({"header length past the end of the file", Le64(4096) + good.substr(8), {"4096"}});
  v.push_back({"header length over the 100 MB limit", Le64(200'000'000) + good.substr(8), {"200000000"}});
  v.push_back({"data_offsets past the end",
               Framed("{" + tensor("layer.a", "F32", "[16]", 0, 64) + "," + tensor("layer.b", "F32", "[16]", 96, 160) + "}", data),
               {"layer.b"}});
  v.push_back({"overlapping data_offsets",
               Framed("{" + tensor("layer.a", "F32", "[16]", 0, 64) + "," + tensor("layer.b", "F32", "[16]", 32, 96) + "}",
                      data.substr(0, 96)),
               {"layer.a", "layer.b"}});
  v.push_back({"a hole between tensors",
               Framed("{" + tensor("layer.a", "F32", "[8]", 0, 32) + "," + tensor("layer.b", "F32", "[16]", 64, 128) + "}", data),
               {"layer.b"}});
  v.push_back({"trailing bytes after the last tensor",
               Framed("{" + tensor("layer.a", "F32", "[16]", 0, 64) + "}", data), {"64"}});
  v.push_back({"unknown dtype F33",
               Framed("{" + tensor("layer.a", "F32", "[16]", 0, 64) + "," + tensor("layer.b", "F33", "[16]", 64, 128) + "}", data),
               {"layer.b", "F33"}});
  v.push_back({"shape disagrees with the byte length",
               Framed("{" + tensor("layer.a", "F32", "[16]", 0, 64) + "," + tensor("layer.b", "F32", "[4,5]", 64, 128) + "}", data),
               {"layer.b"}});
  v.push_back({"negative shape entry",
               Framed("{" + tensor("layer.a", "F32", "[16]", 0, 64) + "," + tensor("layer.b", "F32", "[-16]", 64, 128) + "}", data),
               {"layer.b"}});
  v.push_back({"non-string metadata value",
               Framed("{\"__metadata__\":{\"format\":\"pt\",\"epoch\":3}," + tensor("layer.a", "F32", "[16]", 0, 64) + "," +
                          tensor("layer.b", "F32", "[16]", 64, 128) + "}",
                      data),
               {"epoch"}});
  v.push_back({"metadata is not an object",
               Framed("{\"__metadata__\":[\"pt\"]," + tensor("layer.a", "F32", "[32]", 0, 128) + "}", data),
               {"__metadata__"}});
  v.push_back({"missing data_offsets",
               Framed("{\"layer.a\":{\"dtype\":\"F32\",\"shape\":[32]}}", data), {"layer.a", "data_offsets"}});
  v.push_back({"duplicate tensor name",
               Framed("{" + tensor("layer.a", "F32", "[16]", 0, 64) + "," + tensor("layer.a", "F32", "[16]", 64, 128) + "}", data),
               {"layer.a"}});
  v.push_back({"nonexistent file", "", {}, true});
  return v;
}

class CliBadSafetensorsTest : public CliTest, public ::testing::WithParamInterface<BadFile> {};

TEST_P(CliBadSafetensorsTest, ImportFailsNamingTheFileAndCreatesNothing) {
  const BadFile& bad = GetParam();
  const std::string path = dir_.Join("bad.safetensors");
  if (!bad.missing) testing::WriteFileOrDie(path, bad.bytes);
  std::vector<std::string> names = bad.names;
  names.push_back(path);
  const std::string good = WriteFile(dir_, "good.safetensors", Safetensors({Random("ok", DType::kF32, {4}, 5)}));

  // No store yet: the import fails before creating anything, even after a good file.
  const std::string fresh = dir_.Join("fresh");
  {
    SCOPED_TRACE("into a missing store");
    ExpectError(Cli({"import", fresh, "--step", "1", "--chunk-size", "65536", path}), 1, names);
    EXPECT_FALSE(fs::exists(fresh)) << "a failed import created the store directory";
    ExpectError(Cli({"import", fresh, "--step", "1", good, path}), 1, names);
    EXPECT_FALSE(fs::exists(fresh)) << "a failed import created the store directory";
  }
  // An existing store keeps its history.
  const std::string store = StoreWithOneCheckpoint();
  const std::string before = Snapshot(store);
  {
    SCOPED_TRACE("into an existing store");
    ExpectError(Cli({"import", store, "--step", "2", path}), 1, names);
    ExpectError(Cli({"import", store, "--step", "2", good, path}), 1, names);
  }
  EXPECT_EQ(Snapshot(store), before);
}

INSTANTIATE_TEST_SUITE_P(Files, CliBadSafetensorsTest, ::testing::ValuesIn(BadFiles()),
                         [](const ::testing::TestParamInfo<BadFile>& info) {
                           std::string s;
                           for (char c : info.param.label) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return s;
                         });

// ---------------------------------------------------------------------------------------------
// export

// Checks the byte-level layout of a safetensors file as the reference library writes it, without
// the code under test: 8-byte LE header length, a JSON object padded to a multiple of 8 bytes,
// data_offsets that tile the data section from 0 in header order. Returns the parsed header.
Value CheckReferenceLayout(const std::string& bytes) {
  EXPECT_GE(bytes.size(), 8u);
  if (bytes.size() < 8) return Value();
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[i]);
  EXPECT_LE(8 + n, bytes.size()) << "header length " << n;
  if (8 + n > bytes.size()) return Value();
  EXPECT_EQ(n % 8, 0u) << "header length " << n << " is not a multiple of 8";
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.front(), '{');
  Value h = ParseJson(header);
  EXPECT_TRUE(h.is_object());
  uint64_t expect_begin = 0;
  for (const auto& [name, entry] : h.as_object()) {
    if (name == "__metadata__") {
      EXPECT_TRUE(entry.is_object());
      for (const auto& [k, v] : entry.as_object()) EXPECT_TRUE(v.is_string()) << "metadata " << k;
      continue;
    }
    EXPECT_EQ(Keys(entry), (std::vector<std::string>{"dtype", "shape", "data_offsets"})) << name;
    const Value* off = entry.find("data_offsets");
    if (!off || off->as_array().size() != 2) {
      ADD_FAILURE() << name << " has no [begin, end]";
      continue;
    }
    EXPECT_EQ(off->as_array()[0].as_uint64(), expect_begin) << name << " does not start where the previous ended";
    EXPECT_GE(off->as_array()[1].as_uint64(), off->as_array()[0].as_uint64()) << name;
    expect_begin = off->as_array()[1].as_uint64();
  }
  EXPECT_EQ(8 + n + expect_begin, bytes.size()) << "the tensors do not cover the data section exactly";
  return h;
}

// Compares an exported file with the tensors and metadata that went in.
void ExpectExported(const std::string& path, const std::vector<Src>& want, const std::map<std::string, std::string>& metadata) {
  SCOPED_TRACE(path);
  const std::string bytes = testing::ReadFileOrDie(path);
  const Value header = CheckReferenceLayout(bytes);
  const Value* meta = header.find("__metadata__");
  EXPECT_EQ(meta != nullptr, !metadata.empty());
  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->metadata(), metadata);
  ASSERT_EQ(f->tensors().size(), want.size());
  for (const Src& t : want) {
    const SafetensorsEntry* e = f->find(t.name);
    ASSERT_NE(e, nullptr) << t.name;
    EXPECT_EQ(e->dtype, t.dtype) << t.name;
    EXPECT_EQ(e->shape, t.shape) << t.name;
    ASSERT_EQ(e->end - e->begin, t.bytes.size()) << t.name;
    EXPECT_TRUE(t.bytes.empty() || std::memcmp(f->data(*e), t.bytes.data(), t.bytes.size()) == 0)
        << t.name << " exported with different bytes";
    // And the header entry as text: the safetensors dtype spelling and the shape.
    const Value* entry = header.find(t.name);
    ASSERT_NE(entry, nullptr) << t.name;
    EXPECT_EQ(entry->find("dtype")->as_string(), DTypeName(t.dtype)) << t.name;
    std::vector<int64_t> shape;
    for (const Value& d : entry->find("shape")->as_array()) shape.push_back(d.as_int64());
    EXPECT_EQ(shape, t.shape) << t.name;
  }
  // Exported in the saved order.
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(f->tensors()[i].name, want[i].name);
}

class CliExportTest : public CliTest {
 protected:
  // Four checkpoints: ids 1..4 at steps 10, 20, 10, 40, each with different bytes.
  void SetUp() override {
    store_ = dir_.Join("store");
    for (int i = 0; i < 4; ++i) {
      const uint64_t seed = 100 * (i + 1);
      ckpts_.push_back({Random("embed", DType::kF32, {64, 1024}, seed), Random("norm", DType::kBF16, {3}, seed + 1),
                        Random("scalar", DType::kF64, {}, seed + 2), Random("mask", DType::kBool, {7}, seed + 3),
                        Random("q8", DType::kF8_E4M3, {100}, seed + 4), Random("empty", DType::kF32, {0, 3}, seed + 5),
                        Random("ids", DType::kI64, {100, 100}, seed + 6), Random("u16", DType::kU16, {33}, seed + 7)});
      meta_.push_back({{"format", "pt"}, {"index", std::to_string(i)}});
      ImportOk(store_, steps_[i], ckpts_[i], {}, meta_[i]);
    }
  }
  std::string store_;
  const int64_t steps_[4] = {10, 20, 10, 40};
  std::vector<std::vector<Src>> ckpts_;
  std::vector<std::map<std::string, std::string>> meta_;
};

TEST_F(CliExportTest, ExportsTheSelectedCheckpoint) {
  struct Case {
    std::vector<std::string> selector;
    size_t index;  // into ckpts_
  };
  const std::vector<Case> cases = {{{"--step", "10"}, 2},  // the newest checkpoint at step 10
                                   {{"--step", "20"}, 1},
                                   {{"--step=40"}, 3},
                                   {{"--id", "1"}, 0},
                                   {{"--id=3"}, 2},
                                   {{"--latest"}, 3}};
  int n = 0;
  for (const Case& c : cases) {
    const std::string out = dir_.Join("export" + std::to_string(n++) + ".safetensors");
    std::vector<std::string> args = {"export", store_};
    args.insert(args.end(), c.selector.begin(), c.selector.end());
    args.insert(args.end(), {"-o", out});
    SCOPED_TRACE(Describe(args));
    CliRun r = Cli(args);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_NE(r.out.find(out), std::string::npos) << r.out;
    ExpectExported(out, ckpts_[c.index], meta_[c.index]);
  }
  // --output is the long form of -o.
  const std::string out = dir_.Join("long.safetensors");
  ASSERT_EQ(Cli({"export", store_, "--id", "2", "--output", out}).code, 0);
  ExpectExported(out, ckpts_[1], meta_[1]);
}

TEST_F(CliExportTest, ExportedFileReimportsToTheSameChunks) {
  const std::string out = dir_.Join("e.safetensors");
  ASSERT_EQ(Cli({"export", store_, "--id", "2", "-o", out}).code, 0);
  const std::string again = dir_.Join("again");
  ASSERT_EQ(Cli({"import", again, "--step", "20", "--chunk-size", "65536", out}).code, 0);
  CliRun a = Cli({"show", store_, "--id", "2", "--json"}), b = Cli({"show", again, "--latest", "--json"});
  ASSERT_EQ(a.code, 0);
  ASSERT_EQ(b.code, 0);
  EXPECT_EQ(*ParseJson(a.out).find("tensors"), *ParseJson(b.out).find("tensors"));
  EXPECT_EQ(*ParseJson(a.out).find("metadata"), *ParseJson(b.out).find("metadata"));
}

TEST_F(CliExportTest, ExportOverwritesAnExistingFileAndLeavesNoTemporaries) {
  const std::string out = dir_.Join("out/x.safetensors");
  fs::create_directories(dir_.Join("out"));
  testing::WriteFileOrDie(out, "old contents");
  ASSERT_EQ(Cli({"export", store_, "--latest", "-o", out}).code, 0);
  ExpectExported(out, ckpts_[3], meta_[3]);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_.Join("out"))) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"x.safetensors"});
}

TEST_F(CliExportTest, UnknownStepOrIdFailsNamingIt) {
  const std::string before = Snapshot(store_);
  const std::string out = dir_.Join("none.safetensors");
  ExpectError(Cli({"export", store_, "--step", "99", "-o", out}), 1, {"step 99", store_});
  ExpectError(Cli({"export", store_, "--id", "17", "-o", out}), 1, {"17", store_});
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(Snapshot(store_), before);
}

TEST_F(CliExportTest, SelectorAndOutputMistakesAreUsageErrors) {
  const std::string before = Snapshot(store_);
  const std::string out = dir_.Join("none.safetensors");
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
      {{"export", store_, "-o", out}, {"--step", "--id", "--latest"}},                    // no selector
      {{"export", store_, "--step", "10", "--latest", "-o", out}, {"--step", "--latest"}},  // two
      {{"export", store_, "--step", "10", "--id", "1", "-o", out}, {"--step", "--id"}},
      {{"export", store_, "--id", "1", "--latest", "-o", out}, {"--id", "--latest"}},
      {{"export", store_, "--latest"}, {"-o"}},                                            // no -o
      {{"export", store_, "--latest", "-o"}, {"-o"}},                                      // -o without value
      {{"export", store_, "--latest", "-o", out, "-o", out}, {"-o"}},                      // -o twice
      {{"export", store_, "--step", "ten", "-o", out}, {"--step", "ten"}},
      {{"export", store_, "--id", "-1", "-o", out}, {"--id"}},
      {{"export", store_, "--latest", "--frobnicate", "-o", out}, {"--frobnicate"}},
      {{"export", "--latest", "-o", out}, {"STORE"}},                                       // no store
  };
  for (const auto& [args, names] : cases) {
    SCOPED_TRACE(Describe(args));
    ExpectError(Cli(args), 2, names);
  }
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(Snapshot(store_), before);
}

TEST_F(CliExportTest, UnwritableOutputFailsNamingIt) {
  const std::string out = dir_.Join("no/such/dir/x.safetensors");
  ExpectError(Cli({"export", store_, "--latest", "-o", out}), 1, {out});
}

// ---------------------------------------------------------------------------------------------
// log

class CliLogTest : public CliTest {
 protected:
  // Three checkpoints with sizes that print in B, KiB and MiB.
  void SetUp() override {
    store_ = dir_.Join("store");
    const Src big = Random("big", DType::kU8, {1536 * 1024}, 1);  // 1.50 MiB
    ImportOk(store_, 100, {big});
    ImportOk(store_, 2500, {big, Random("small", DType::kF32, {768}, 2)}, {"--tag", "bäst", "--tag", "v1", "--metric",
                                                                             "loss=0.25", "--metric", "acc=0.5"});
    ImportOk(store_, 7, {Random("tiny", DType::kU8, {512}, 3)}, {"--metric", "loss=1.5"});
    auto s = OpenExisting(store_);
    ASSERT_TRUE(s.ok());
    auto list = (*s)->List();
    ASSERT_TRUE(list.ok());
    list_ = *list;
    ASSERT_EQ(list_.size(), 3u);
  }
  std::string store_;
  std::vector<CheckpointInfo> list_;
};

TEST_F(CliLogTest, TableIsAlignedWithHumanSizes) {
  CliRun r = Cli({"log", store_});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  // Every cell, in order; "" for an empty one.
  const std::vector<std::vector<std::string>> cells = {
      {"ID", "STEP", "PARENT", "TIME (UTC)", "TENSORS", "SIZE", "NEW", "TAGS", "METRICS"},
      {"1", "100", "-", Utc(list_[0].commit_time_ns, "%Y-%m-%d %H:%M:%S"), "1", "1.50 MiB", "1.50 MiB", "", ""},
      {"2", "2500", "1", Utc(list_[1].commit_time_ns, "%Y-%m-%d %H:%M:%S"), "2", "1.50 MiB", "3.00 KiB", "bäst,v1",
       "acc=0.5 loss=0.25"},
      {"3", "7", "2", Utc(list_[2].commit_time_ns, "%Y-%m-%d %H:%M:%S"), "1", "512 B", "512 B", "", "loss=1.5"},
  };
  // Locate each cell: columns are separated by at least two spaces.
  std::vector<std::vector<std::pair<size_t, size_t>>> spans(cells[0].size());  // per column: [begin, end)
  for (size_t row = 0; row < lines.size(); ++row) {
    SCOPED_TRACE("line: '" + lines[row] + "'");
    size_t pos = 0;
    for (size_t col = 0; col < cells[row].size(); ++col) {
      const std::string& want = cells[row][col];
      if (want.empty()) continue;
      const size_t start = pos;
      while (pos < lines[row].size() && lines[row][pos] == ' ') ++pos;
      if (col > 0) {
        EXPECT_GE(pos - start, 2u) << "less than two spaces before '" << want << "'";
      }
      ASSERT_EQ(lines[row].compare(pos, want.size(), want), 0) << "expected '" << want << "' at column " << pos;
      // Offsets in characters, not bytes: a UTF-8 tag must not shift the columns after it.
      const auto chars = [&](size_t bytes) {
        return size_t(std::count_if(lines[row].begin(), lines[row].begin() + bytes,
                                    [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
      };
      spans[col].push_back({chars(pos), chars(pos + want.size())});
      pos += want.size();
    }
    EXPECT_EQ(lines[row].find_first_not_of(' ', pos), std::string::npos) << "unexpected text after the last cell";
  }
  // A column is aligned when all its cells start at one offset (left-aligned) or end at one
  // offset (right-aligned).
  for (size_t col = 0; col < spans.size(); ++col) {
    std::set<size_t> begins, ends;
    for (auto [b, e] : spans[col]) {
      begins.insert(b);
      ends.insert(e);
    }
    EXPECT_TRUE(begins.size() == 1 || ends.size() == 1) << "column " << cells[0][col] << " is not aligned:\n" << r.out;
  }
}

TEST_F(CliLogTest, JsonHasExactlyTheDocumentedKeysOldestFirst) {
  CliRun r = Cli({"log", store_, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const Value v = ParseJson(r.out);
  ASSERT_TRUE(v.is_array());
  ASSERT_EQ(v.as_array().size(), 3u);
  const std::regex rfc3339(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z)");
  const std::vector<std::string> keys = {"id", "step", "parent", "time", "tensors", "logical_bytes", "new_bytes", "tags", "metrics"};
  for (size_t i = 0; i < 3; ++i) {
    const Value& c = v.as_array()[i];
    const CheckpointInfo& want = list_[i];
    SCOPED_TRACE("entry " + std::to_string(i));
    std::vector<std::string> got = Keys(c), sorted_keys = keys;
    std::sort(got.begin(), got.end());
    std::sort(sorted_keys.begin(), sorted_keys.end());
    EXPECT_EQ(got, sorted_keys);
    EXPECT_TRUE(c.find("id")->is_integer());
    EXPECT_EQ(c.find("id")->as_uint64(), i + 1);  // oldest first
    EXPECT_EQ(c.find("step")->as_int64(), want.step);
    if (i == 0) {
      EXPECT_TRUE(c.find("parent")->is_null());
    } else {
      EXPECT_EQ(c.find("parent")->as_uint64(), i);
    }
    const std::string time = c.find("time")->as_string();
    EXPECT_TRUE(std::regex_match(time, rfc3339)) << time;
    EXPECT_EQ(time.substr(0, 19), Utc(want.commit_time_ns, "%Y-%m-%dT%H:%M:%S"));
    EXPECT_EQ(c.find("tensors")->as_uint64(), want.tensor_count);
    EXPECT_EQ(c.find("logical_bytes")->as_uint64(), want.logical_bytes);
    EXPECT_EQ(c.find("new_bytes")->as_uint64(), want.new_bytes);
    ASSERT_TRUE(c.find("tags")->is_array());
    std::vector<std::string> tags;
    for (const Value& t : c.find("tags")->as_array()) tags.push_back(t.as_string());
    EXPECT_EQ(tags, want.tags);
    ASSERT_TRUE(c.find("metrics")->is_object());
    std::map<std::string, double> metrics;
    for (const auto& [k, m] : c.find("metrics")->as_object()) {
      EXPECT_TRUE(m.is_number()) << k;
      metrics[k] = m.as_double();
    }
    EXPECT_EQ(metrics, want.metrics);
  }
  EXPECT_EQ(v.as_array()[1].find("tags")->as_array().size(), 2u);
  EXPECT_EQ(v.as_array()[0].find("logical_bytes")->as_uint64(), 1536u * 1024);
  EXPECT_EQ(v.as_array()[1].find("new_bytes")->as_uint64(), 3072u);
}

TEST_F(CliTest, LogOfAStoreWithoutCheckpoints) {
  const std::string store = dir_.Join("empty");
  {
    auto s = Store::Open(store);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
  }
  CliRun r = Cli({"log", store, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const Value v = ParseJson(r.out);
  EXPECT_TRUE(v.is_array());
  EXPECT_TRUE(v.as_array().empty());
  r = Cli({"log", store});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Lines(r.out).size(), 1u) << r.out;  // just the header
}

// ---------------------------------------------------------------------------------------------
// show

class CliShowTest : public CliTest {
 protected:
  void SetUp() override {
    store_ = dir_.Join("store");
    first_ = {Random("w", DType::kF32, {10}, 1)};
    ImportOk(store_, 5, first_);
    second_ = {Random("model.embed", DType::kBF16, {300, 500}, 2),  // 300000 bytes: 5 chunks, the last short
               Random("model.bias", DType::kF16, {7}, 3), Random("flags", DType::kBool, {3}, 4),
               Random("q", DType::kF8_E5M2, {2, 2}, 5), Random("empty", DType::kI32, {0}, 6),
               Random("scalar", DType::kU64, {}, 7), Random("tied", DType::kU8, {65536 * 2}, 8)};
    second_.back().bytes.replace(0, 65536, second_[0].bytes.substr(0, 65536));  // a chunk shared with model.embed
    ImportOk(store_, 6, second_, {"--tag", "best", "--metric", "loss=0.125"}, {{"format", "pt"}, {"note", "hello"}});
  }
  std::string store_;
  std::vector<Src> first_, second_;
};

TEST_F(CliShowTest, JsonDescribesTheCheckpointWithChunkDigests) {
  for (const std::vector<std::string>& sel : {std::vector<std::string>{"--latest"}, {"--step", "6"}, {"--id", "2"}}) {
    std::vector<std::string> args = {"show", store_, "--json"};
    args.insert(args.end(), sel.begin(), sel.end());
    SCOPED_TRACE(Describe(args));
    CliRun r = Cli(args);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    const Value v = ParseJson(r.out);
    std::vector<std::string> keys = Keys(v);
    std::sort(keys.begin(), keys.end());
    EXPECT_EQ(keys, (std::vector<std::string>{"chunk_size", "id", "metadata", "metrics", "parent", "step", "tags", "tensors",
                                              "time"}));
    EXPECT_EQ(v.find("id")->as_uint64(), 2u);
    EXPECT_EQ(v.find("step")->as_int64(), 6);
    EXPECT_EQ(v.find("parent")->as_uint64(), 1u);
    EXPECT_TRUE(std::regex_match(v.find("time")->as_string(), std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z)")))
        << v.find("time")->as_string();
    EXPECT_EQ(v.find("chunk_size")->as_uint64(), kChunk);
    EXPECT_EQ(json::ToJson(*v.find("metadata")), R"({"format":"pt","note":"hello"})");
    ASSERT_NE(v.find("metrics")->find("loss"), nullptr);
    EXPECT_EQ(v.find("metrics")->find("loss")->as_double(), 0.125);
    ASSERT_EQ(v.find("tags")->as_array().size(), 1u);
    EXPECT_EQ(v.find("tags")->as_array()[0].as_string(), "best");
    const auto& tensors = v.find("tensors")->as_array();
    ASSERT_EQ(tensors.size(), second_.size());
    const std::regex hex64("[0-9a-f]{64}");
    for (size_t i = 0; i < second_.size(); ++i) {
      const Src& want = second_[i];
      const Value& t = tensors[i];
      SCOPED_TRACE(want.name);
      std::vector<std::string> tkeys = Keys(t);
      std::sort(tkeys.begin(), tkeys.end());
      EXPECT_EQ(tkeys, (std::vector<std::string>{"bytes", "chunks", "dtype", "name", "shape"}));
      EXPECT_EQ(t.find("name")->as_string(), want.name);
      EXPECT_EQ(t.find("dtype")->as_string(), DTypeName(want.dtype));
      std::vector<int64_t> shape;
      for (const Value& d : t.find("shape")->as_array()) shape.push_back(d.as_int64());
      EXPECT_EQ(shape, want.shape);
      EXPECT_EQ(t.find("bytes")->as_uint64(), want.bytes.size());
      const auto& chunks = t.find("chunks")->as_array();
      ASSERT_EQ(chunks.size(), (want.bytes.size() + kChunk - 1) / kChunk);
      for (size_t c = 0; c < chunks.size(); ++c) {
        const std::string& hex = chunks[c].as_string();
        EXPECT_TRUE(std::regex_match(hex, hex64)) << hex;
        const size_t off = c * kChunk, len = std::min<size_t>(kChunk, want.bytes.size() - off);
        EXPECT_EQ(hex, HashBytes(want.bytes.data() + off, len).ToHex()) << "chunk " << c;
      }
    }
    // The dtype spellings are safetensors'.
    EXPECT_EQ(tensors[0].find("dtype")->as_string(), "BF16");
    EXPECT_EQ(tensors[2].find("dtype")->as_string(), "BOOL");
    EXPECT_EQ(tensors[3].find("dtype")->as_string(), "F8_E5M2");
    EXPECT_EQ(tensors[6].find("chunks")->as_array()[0], tensors[0].find("chunks")->as_array()[0]);
  }
  // The first checkpoint has a null parent and empty objects.
  CliRun r = Cli({"show", store_, "--step", "5", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const Value v = ParseJson(r.out);
  EXPECT_TRUE(v.find("parent")->is_null());
  EXPECT_TRUE(v.find("metadata")->is_object() && v.find("metadata")->as_object().empty());
  EXPECT_TRUE(v.find("metrics")->is_object() && v.find("metrics")->as_object().empty());
  EXPECT_TRUE(v.find("tags")->is_array() && v.find("tags")->as_array().empty());
}

TEST_F(CliShowTest, TextNamesEveryTensor) {
  CliRun r = Cli({"show", store_, "--id", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out.rfind("checkpoint 2", 0), 0u) << r.out;
  for (const std::string s : {"step 6", "parent 1", "best", "loss", "note", "hello", "[300, 500]", "BF16", "F8_E5M2", "BOOL",
                              "model.embed", "model.bias", "293 KiB", "128 KiB", "64.0 KiB"})
    EXPECT_NE(r.out.find(s), std::string::npos) << "show does not print '" << s << "':\n" << r.out;
  // Each tensor row names its tensor, dtype and chunk count.
  for (const Src& t : second_) {
    bool found = false;
    for (const std::string& line : Lines(r.out))
      if (line.rfind(t.name + " ", 0) == 0) {
        found = true;
        EXPECT_NE(line.find(std::string(DTypeName(t.dtype))), std::string::npos) << line;
        const std::string chunks = std::to_string((t.bytes.size() + kChunk - 1) / kChunk);
        EXPECT_EQ(line.substr(line.find_last_not_of(' ') + 1 - chunks.size()), chunks) << line;
      }
    EXPECT_TRUE(found) << "no row for " << t.name << ":\n" << r.out;
  }
}

TEST_F(CliShowTest, SelectorErrors) {
  const std::string before = Snapshot(store_);
  ExpectError(Cli({"show", store_, "--step", "99"}), 1, {"step 99", store_});
  ExpectError(Cli({"show", store_, "--id", "3", "--json"}), 1, {"3", store_});
  ExpectError(Cli({"show", store_}), 2, {"--step", "--id", "--latest"});
  ExpectError(Cli({"show", store_, "--latest", "--step", "5"}), 2, {"--step", "--latest"});
  ExpectError(Cli({"show", store_, "--step"}), 2, {"--step"});
  ExpectError(Cli({"show", store_, "--json=yes", "--latest"}), 2, {"--json"});
  ExpectError(Cli({"show", store_, store_, "--latest"}), 2, {"STORE"});
  EXPECT_EQ(Snapshot(store_), before);
}

// ---------------------------------------------------------------------------------------------
// verify

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

// ---------------------------------------------------------------------------------------------
// Command-line and store-path errors common to every command.

TEST_F(CliTest, MissingStoreFailsNamingThePathForEveryReadCommand) {
  const std::string missing = dir_.Join("no-such-store");
  const std::string out = dir_.Join("x.safetensors");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"log", missing}, {"log", missing, "--json"}, {"show", missing, "--latest"},
        {"show", missing, "--step", "1", "--json"}, {"export", missing, "--latest", "-o", out}, {"verify", missing}}) {
    SCOPED_TRACE(Describe(args));
    ExpectError(Cli(args), 1, {missing});
    EXPECT_FALSE(fs::exists(missing)) << "a read command created the store";
  }
  EXPECT_FALSE(fs::exists(out));
  // An empty directory is not a store either, and stays empty.
  const std::string empty = dir_.Join("empty-dir");
  fs::create_directories(empty);
  ExpectError(Cli({"log", empty}), 1, {empty});
  ExpectError(Cli({"verify", empty}), 1, {empty});
  EXPECT_TRUE(fs::is_empty(empty));
  // A regular file is not a store.
  const std::string file = WriteFile(dir_, "file", "x");
  ExpectError(Cli({"show", file, "--latest"}), 1, {file});
}

TEST_F(CliTest, UnknownCommandUnknownFlagAndMissingValueAreUsageErrors) {
  const std::string store = StoreWithOneCheckpoint();
  const std::string before = Snapshot(store);
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("x", DType::kF32, {10}, 9)}));
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
      {{"frobnicate", store}, {"frobnicate"}},
      {{"Log", store}, {"Log"}},
      {{"log", store, "--verbose"}, {"--verbose"}},
      {{"log", store, "-v"}, {"-v"}},
      {{"log", store, "--json=1"}, {"--json"}},
      {{"log"}, {"STORE"}},
      {{"show", store, "--latest", "--all"}, {"--all"}},
      {{"show", store, "--id"}, {"--id"}},
      {{"export", store, "--latest", "--format", "pt", "-o", dir_.Join("x")}, {"--format"}},
      {{"export", store, "--step"}, {"--step"}},
      {{"verify", store, "--deep"}, {"--deep"}},
      {{"verify", store, store}, {"STORE"}},
      {{"verify"}, {"STORE"}},
      {{"import", store, "--step", "2", "--force", f}, {"--force"}},
      {{"import", store, "--step", "2", "--tag"}, {"--tag"}},
      {{"import", store, "--step", "2", f, "--metric"}, {"--metric"}},
      {{"import", store, "--step", "2", "--step", "3", f}, {"--step"}},
  };
  for (const auto& [args, names] : cases) {
    SCOPED_TRACE(Describe(args));
    ExpectError(Cli(args), 2, names);
  }
  EXPECT_EQ(Snapshot(store), before);
  EXPECT_FALSE(fs::exists(dir_.Join("x")));
}

TEST_F(CliTest, NoArgumentsPrintsUsageAndExits2HelpExits0) {
  CliRun r = Cli({});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("usage: ckptdb"), std::string::npos) << r.err;
  r = Cli({"help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("usage: ckptdb"), std::string::npos) << r.out;
  for (const std::string cmd : {"import", "export", "log", "show", "verify"})
    EXPECT_NE(r.out.find("  " + cmd + " "), std::string::npos) << cmd;
}

// ---------------------------------------------------------------------------------------------
// The real executable.

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
