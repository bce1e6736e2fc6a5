// Specifies how Store rejects bad input: malformed tensors, tags, metrics, metadata and RestoreInto buffers.
#include "ckptdb/ckptdb.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/checkpoint_expect.h"
#include "tests/support/fresh_process.h"
#include "tests/support/store_fixtures.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using namespace store_tests;
using testing::ExpectSameInfo;
using testing::ScratchDir;

// Saving `ts` fails with InvalidArgument whose message contains every string in `must_name`, and
// nothing is committed.
void ExpectSaveRejected(Store& store, const std::vector<TensorRef>& ts, const std::vector<std::string>& must_name,
                        const std::string& what) {
  SCOPED_TRACE(what);
  const auto before = MustList(store);
  auto r = store.Save(ts, AtStep(77));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
  for (const auto& s : must_name) EXPECT_TRUE(Contains(r.status().message(), s)) << r.status().ToString();
  const auto after = MustList(store);
  ASSERT_EQ(after.size(), before.size()) << "a failed save committed a checkpoint";
  for (size_t i = 0; i < before.size(); ++i) ExpectSameInfo(after[i], before[i]);
}

TEST(StoreErrors, SaveRejectsMalformedTensorsNamingThemAndCommitsNothing) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> good = {MakeBytes("good", 2 * kChunk, 1)};
  CheckpointInfo first = MustSave(*store, good, AtStep(1));
  std::vector<uint8_t> data(64, 1);
  const TensorRef ok = good[0].ref();

  ExpectSaveRejected(*store, {ok, {"dup", DType::kU8, {4}, data.data(), 4}, {"dup", DType::kU8, {4}, data.data(), 4}},
                     {"'dup'", dir.path()}, "duplicate names");
  ExpectSaveRejected(*store, {ok, {"short", DType::kF32, {4}, data.data(), 15}}, {"'short'", "16", "15"},
                     "size one byte short");
  ExpectSaveRejected(*store, {ok, {"long", DType::kF32, {4}, data.data(), 17}}, {"'long'"}, "size one byte over");
  ExpectSaveRejected(*store, {ok, {"f64_size_of_f32", DType::kF64, {4}, data.data(), 16}},
                     {"'f64_size_of_f32'", "F64", "32"}, "dtype disagrees with size");
  ExpectSaveRejected(*store, {ok, {"shape", DType::kU8, {2, 3}, data.data(), 5}}, {"'shape'", "[2, 3]"},
                     "shape disagrees with size");
  ExpectSaveRejected(*store, {ok, {"neg", DType::kU8, {-4}, data.data(), 4}}, {"'neg'"}, "negative dimension");
  ExpectSaveRejected(*store, {ok, {"overflow", DType::kU8, {int64_t(1) << 62, 8}, data.data(), 0}}, {"'overflow'"},
                     "element count overflows");
  ExpectSaveRejected(*store, {ok, {"bad_dtype", static_cast<DType>(0), {4}, data.data(), 4}}, {"'bad_dtype'"},
                     "dtype 0");
  ExpectSaveRejected(*store, {ok, {"bad_dtype", static_cast<DType>(99), {4}, data.data(), 4}}, {"'bad_dtype'"},
                     "dtype 99");
  ExpectSaveRejected(*store, {ok, {"", DType::kU8, {4}, data.data(), 4}}, {"name", "empty"}, "empty name");
  ExpectSaveRejected(*store, {ok, {"bad\xff\xfename", DType::kU8, {4}, data.data(), 4}}, {"name", "UTF-8"},
                     "invalid UTF-8 name");
  ExpectSaveRejected(*store, {ok, {"\xed\xa0\x80", DType::kU8, {4}, data.data(), 4}}, {"UTF-8"},
                     "surrogate code point in name");
  ExpectSaveRejected(*store, {ok, {"null_data", DType::kU8, {4}, nullptr, 4}}, {"'null_data'", "null"},
                     "null data");

  // The failures consumed nothing: the next save is checkpoint 2 with checkpoint 1 as parent.
  CheckpointInfo next = MustSave(*store, good, AtStep(2));
  EXPECT_EQ(next.id, first.id + 1);
  EXPECT_EQ(next.parent, std::optional<CheckpointId>(first.id));
}

TEST(StoreErrors, SaveRejectsBadTagsMetricsAndMetadataAndCommitsNothing) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeBytes("w", 10, 1)};
  auto rejected = [&](SaveOptions o, const std::string& what) {
    SCOPED_TRACE(what);
    auto r = store->Save(Refs(ts), o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
    EXPECT_TRUE(MustList(*store).empty());
  };
  SaveOptions o;
  o.tags = {"a", "a"};
  rejected(o, "tag given twice");
  o.tags = {""};
  rejected(o, "empty tag");
  o.tags = {"\xff"};
  rejected(o, "non-UTF-8 tag");
  o = {};
  o.metrics = {{"", 1.0}};
  rejected(o, "empty metric name");
  o = {};
  o.metadata = {{"", "x"}};
  rejected(o, "empty metadata key");
  o.metadata = {{"k", "\xc0\xaf"}};
  rejected(o, "non-UTF-8 metadata value");
}

TEST(StoreErrors, TagAlreadyInUseIsAlreadyExistsAndSavesNothing) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  SaveOptions o = AtStep(1);
  o.tags = {"best"};
  CheckpointInfo first = MustSave(*store, {MakeBytes("w", 10, 1)}, o);

  std::vector<Owned> second_state = {MakeBytes("w", 3 * kChunk, 2)};
  SaveOptions again = AtStep(2);
  again.tags = {"new", "best"};
  auto r = store->Save(Refs(second_state), again);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kAlreadyExists) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), "'best'")) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), dir.path())) << r.status().ToString();

  auto list = MustList(*store);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].tags, std::vector<std::string>{"best"});
  // Nothing was saved: not the tag "new", and not the chunks -- saving that state now adds them all.
  SaveOptions retry = AtStep(3);
  retry.tags = {"new"};
  CheckpointInfo third = MustSave(*store, second_state, retry);
  EXPECT_EQ(third.id, first.id + 1);
  EXPECT_EQ(third.parent, std::optional<CheckpointId>(first.id));
  EXPECT_EQ(third.new_bytes, 3 * kChunk);
  list = MustList(*store);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].tags, std::vector<std::string>{"best"});
  EXPECT_EQ(list[1].tags, std::vector<std::string>{"new"});
}

TEST(StoreErrors, RestoreIntoRejectsMismatchedBuffersNamingTheTensor) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeTensor("w", DType::kF32, {2, 8}, 1), MakeBytes("other", 5, 2)};
  MustSave(*store, ts);
  std::vector<uint8_t> buf(64, 0);
  struct Case {
    TensorBuffer b;
    Code code;
    const char* what;
  };
  const Case cases[] = {
      {{"w", DType::kI32, {2, 8}, buf.data(), 64}, Code::kInvalidArgument, "wrong dtype, same size"},
      {{"w", DType::kF16, {2, 8}, buf.data(), 32}, Code::kInvalidArgument, "wrong dtype and size"},
      {{"w", DType::kF32, {8, 2}, buf.data(), 64}, Code::kInvalidArgument, "transposed shape"},
      {{"w", DType::kF32, {16}, buf.data(), 64}, Code::kInvalidArgument, "flattened shape"},
      {{"w", DType::kF32, {2, 8}, buf.data(), 60}, Code::kInvalidArgument, "short buffer"},
      {{"w", DType::kF32, {2, 8}, nullptr, 64}, Code::kInvalidArgument, "null data"},
      {{"missing", DType::kF32, {2, 8}, buf.data(), 64}, Code::kNotFound, "unknown name"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::vector<uint8_t> other(5);
    std::vector<TensorBuffer> bufs = {{"other", DType::kU8, {5}, other.data(), 5}, c.b};
    Status s = store->RestoreInto(Selector::Latest(), bufs);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), c.code) << s.ToString();
    EXPECT_TRUE(Contains(s.message(), "'" + c.b.name + "'")) << s.ToString();
  }
}

// This process's address space in bytes (VmSize).
uint64_t AddressSpaceBytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmSize:", 0) == 0) return std::stoull(line.substr(7)) << 10;  // "VmSize:   1234 kB"
  return 0;
}

// A restore whose buffers cannot be allocated returns ResourceExhausted naming the store; the
// std::bad_alloc underneath never escapes (it would terminate the trainer). The child process runs
// under an address-space limit too small for the tensor.
TEST(StoreErrors, ARestoreThatRunsOutOfMemoryIsResourceExhaustedNotACrash) {
  ScratchDir dir;
  constexpr uint64_t kBig = 512ull << 20;  // zeros: one distinct chunk on disk, 512 MiB to restore
  {
    auto store = MustOpen(dir.path());
    ASSERT_TRUE(store);
    // Untouched anonymous pages read as zeros without taking memory.
    void* zeros = ::mmap(nullptr, kBig, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(zeros, MAP_FAILED);
    TensorRef t{"big", DType::kU8, {int64_t(kBig)}, zeros, kBig};
    auto saved = store->Save({&t, 1}, AtStep(1));
    ::munmap(zeros, kBig);
    ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  }
  const std::string got = testing::InFreshProcess([&] {
    auto store = Store::Open(dir.path(), SmallChunks());
    if (!store.ok()) return "open: " + store.status().ToString();
    const rlimit limit{AddressSpaceBytes() + (128 << 20), RLIM_INFINITY};
    if (::setrlimit(RLIMIT_AS, &limit) != 0) return std::string("cannot set RLIMIT_AS");
    auto back = (*store)->Restore(Selector::Latest());
    if (back.ok()) return std::string("restored");
    // Checked here: the fresh process's store is in a scratch directory of its own.
    const std::string e = back.status().ToString();
    return Contains(e, "Resource exhausted: store " + dir.path() + ", restoring: out of memory") ? std::string("ok") : e;
  });
  EXPECT_EQ(got, "ok");
}

}  // namespace
}  // namespace ckptdb
