// SaveFromSource and SaveAsyncFromSource (store/save_from_source.h), the seams the GPU path saves
// device memory through: the store hashes and writes from the source alone, never dereferences the
// tensors' data pointers, asks for host bytes only of the chunks it lacks, takes the digests a
// capture computed without hashing again, and refuses device tensors on its own paths.
#include "store/save_from_source.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "store/store_impl.h"
#include "tests/support/store_fixtures.h"

namespace ckptdb {
namespace {

using namespace store_tests;

// Serves each tensor's bytes from a copy the test keeps ("the device"), counting the bytes the
// store asks for in host memory.
class CopySource final : public ChunkSource {
 public:
  CopySource(const std::vector<Owned>& copies, std::span<const ChunkTask> tasks) : copies_(copies), tasks_(tasks) {}
  ChunkView View(size_t task) const override {
    const ChunkTask& t = tasks_[task];
    return {copies_[t.tensor].bytes.data() + t.offset, t.length};
  }
  Status WithHostBytes(size_t task, const ChunkView& view,
                       const std::function<Status(const ChunkView&)>& use) const override {
    to_host_ += view.length;
    calls_++;
    std::vector<uint8_t> host(view.data, view.data + view.length);  // as a device copy would
    return use({host.data(), host.size()});
  }
  static std::atomic<uint64_t> to_host_, calls_;

 private:
  const std::vector<Owned>& copies_;
  std::span<const ChunkTask> tasks_;
};
std::atomic<uint64_t> CopySource::to_host_{0}, CopySource::calls_{0};

// Memory that faults when read: the tensors' data pointers point here.
struct Unreadable {
  explicit Unreadable(size_t n) : size(n), p(::mmap(nullptr, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) {}
  ~Unreadable() { ::munmap(p, size); }
  size_t size;
  void* p;
};

TEST(SaveFromSource, WritesWhatTheSourceServesAndCopiesOnlyMissingChunks) {
  testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
  std::vector<Owned> state = {MakeBytes("a", 5 * kChunk + 100, 1), MakeBytes("b", 3 * kChunk, 2)};
  Unreadable poison(8 * kChunk + 4096);
  std::vector<TensorRef> refs;
  for (const Owned& t : state) {
    TensorRef r = t.ref();
    r.data = poison.p;  // the store must not read it
    refs.push_back(r);
  }
  auto make = [&](std::span<const ChunkTask> tasks) -> Result<std::unique_ptr<ChunkSource>> {
    return std::unique_ptr<ChunkSource>(new CopySource(state, tasks));
  };
  SaveOptions o;
  o.step = 1;
  CopySource::to_host_ = 0;
  auto first = SaveFromSource(*store, refs, o, make);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(CopySource::to_host_.load(), state[0].bytes.size() + state[1].bytes.size());
  auto back = store->Restore(Selector::Latest()).value();
  ASSERT_EQ(back.size(), 2u);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_EQ(0, std::memcmp(back[i].bytes.data(), state[i].bytes.data(), state[i].bytes.size())) << i;

  // One chunk of "b" changes: only it is asked for in host memory.
  state[1].bytes[kChunk + 7] ^= 0xFF;
  CopySource::to_host_ = 0;
  CopySource::calls_ = 0;
  o.step = 2;
  auto second = SaveFromSource(*store, refs, o, make);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(CopySource::calls_.load(), 1u);
  EXPECT_EQ(CopySource::to_host_.load(), kChunk);
  EXPECT_EQ(second->new_bytes, kChunk);
}

TEST(SaveFromSource, AFailingSourceSavesNothing) {
  testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
  std::vector<Owned> state = {MakeBytes("a", 2 * kChunk, 3)};
  std::vector<TensorRef> refs = {state[0].ref()};
  auto broken = [&](std::span<const ChunkTask>) -> Result<std::unique_ptr<ChunkSource>> {
    return Status::Internal("the device is gone");
  };
  SaveOptions o;
  o.step = 1;
  auto r = SaveFromSource(*store, refs, o, broken);
  EXPECT_EQ(r.status().code(), Code::kInternal) << r.status().ToString();
  EXPECT_NE(r.status().message().find("the device is gone"), std::string::npos);
  EXPECT_TRUE(store->List().value().empty());
}

// What an asynchronous capture makes: its own copy of every tensor (so the caller may change its
// tensors once the save returns), and, for the tasks it was told to, the digest it computed, as a
// device capture does on the GPU before it copies. Its hasher fails on any view it is handed for a
// digested task, so a test sees the pipeline hash again what it was given.
class CapturedCopy final : public ChunkSource, public ChunkHasher {
 public:
  CapturedCopy(std::span<const TensorRef> tensors, std::span<const ChunkTask> tasks, bool digest_all,
               bool drop_digested_bytes)
      : tasks_(tasks.begin(), tasks.end()), drop_(drop_digested_bytes) {
    for (const TensorRef& t : tensors) {
      const auto* p = static_cast<const uint8_t*>(t.data);
      copies_.emplace_back(p, p + t.size_bytes);
    }
    if (digest_all)
      for (const ChunkTask& t : tasks_) digests_.push_back(HashBytes(copies_[t.tensor].data() + t.offset, t.length));
  }
  ChunkView View(size_t task) const override {
    const ChunkTask& t = tasks_[task];
    return {copies_[t.tensor].data() + t.offset, t.length};
  }
  const Digest* Digested(size_t task) const override { return digests_.empty() ? nullptr : &digests_[task]; }
  const ChunkHasher* hasher() const override { return this; }
  Status WithHostBytes(size_t task, const ChunkView& view,
                       const std::function<Status(const ChunkView&)>& use) const override {
    if (drop_ && Digested(task))
      return Status::FailedPrecondition("chunk " + std::to_string(task) + " was not captured");
    return use(view);
  }
  Status Hash(std::span<const ChunkView> chunks, std::span<Digest> digests) const override {
    if (!digests_.empty() && !chunks.empty()) return Status::Internal("a digested task was hashed again");
    for (size_t i = 0; i < chunks.size(); ++i) digests[i] = HashBytes(chunks[i].data, chunks[i].length);
    return Status::OK();
  }
  size_t batch_chunks() const override { return 4; }

 private:
  std::vector<ChunkTask> tasks_;
  std::vector<std::vector<uint8_t>> copies_;
  std::vector<Digest> digests_;
  bool drop_;
};

MakeChunkSource Capture(std::span<const TensorRef> refs, bool digest_all, bool drop = false) {
  return [=](std::span<const ChunkTask> tasks) -> Result<std::unique_ptr<ChunkSource>> {
    return std::unique_ptr<ChunkSource>(new CapturedCopy(refs, tasks, digest_all, drop));
  };
}

TEST(SaveAsyncFromSource, SavesWhatWasCapturedThoughTheTensorsChangeAtOnce) {
  testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
  for (bool digest_all : {false, true}) {
    SCOPED_TRACE(digest_all ? "digests given by the capture" : "hashed by the persist");
    std::vector<Owned> state = {MakeBytes("a", 5 * kChunk + 100, digest_all ? 11 : 12), MakeBytes("b", 3 * kChunk, 2)};
    const std::vector<Owned> captured = state;
    std::vector<TensorRef> refs = {state[0].ref(), state[1].ref()};
    SaveOptions o;
    o.step = digest_all ? 2 : 1;
    auto handle = SaveAsyncFromSource(*store, refs, o, Capture(refs, digest_all));
    ASSERT_TRUE(handle.ok()) << handle.status().ToString();
    for (Owned& t : state) std::memset(t.bytes.data(), 0xEE, t.bytes.size());  // the trainer moves on
    auto saved = handle->Wait();
    ASSERT_TRUE(saved.ok()) << saved.status().ToString();
    auto back = store->Restore(Selector::Step(o.step)).value();
    ASSERT_EQ(back.size(), 2u);
    for (size_t i = 0; i < 2; ++i)
      EXPECT_EQ(0, std::memcmp(back[i].bytes.data(), captured[i].bytes.data(), captured[i].bytes.size())) << i;
  }
  EXPECT_TRUE(store->Verify().value().ok());
}

TEST(SaveAsyncFromSource, ACapturedDigestWhoseChunkIsGoneFailsTheSaveAndCommitsNothing) {
  testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
  std::vector<Owned> state = {MakeBytes("a", 2 * kChunk, 5)};
  std::vector<TensorRef> refs = {state[0].ref()};
  SaveOptions o;
  o.step = 1;
  // The capture digested the chunks but kept none of their bytes (it believed the store had them).
  auto handle = SaveAsyncFromSource(*store, refs, o, Capture(refs, true, /*drop=*/true));
  ASSERT_TRUE(handle.ok());
  auto r = handle->Wait();
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition) << r.status().ToString();
  EXPECT_TRUE(store->List().value().empty());
  // Reported once more, by the next save, which then goes ahead.
  EXPECT_FALSE(store->Save(refs, o).ok());
  EXPECT_TRUE(store->Save(refs, o).ok());
  EXPECT_EQ(store->List().value().size(), 1u);
}

TEST(SaveAsyncFromSource, AFailingCaptureQueuesNothingAndCommitsKeepSubmissionOrder) {
  testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
  std::vector<Owned> state = {MakeBytes("a", 3 * kChunk, 6)};
  std::vector<TensorRef> refs = {state[0].ref()};
  SaveOptions o;
  o.step = 1;
  auto broken = [](std::span<const ChunkTask>) -> Result<std::unique_ptr<ChunkSource>> {
    return Status::ResourceExhausted("no device memory for the snapshot");
  };
  auto failed = SaveAsyncFromSource(*store, refs, o, broken);
  ASSERT_EQ(failed.status().code(), Code::kResourceExhausted) << failed.status().ToString();
  EXPECT_NE(failed.status().message().find("capturing step 1"), std::string::npos) << failed.status().ToString();
  // Captured, store-staged and synchronous saves interleave; they commit in the order submitted.
  auto first = SaveAsyncFromSource(*store, refs, o, Capture(refs, true));
  ASSERT_TRUE(first.ok());
  o.step = 2;
  auto second = store->SaveAsync(refs, o);
  ASSERT_TRUE(second.ok());
  o.step = 3;
  ASSERT_TRUE(store->Save(refs, o).ok());
  o.step = 4;
  auto fourth = SaveAsyncFromSource(*store, refs, o, Capture(refs, false));
  ASSERT_TRUE(fourth.ok());
  ASSERT_TRUE(fourth->Wait().ok());
  std::vector<int64_t> steps;
  for (const CheckpointInfo& c : store->List().value()) steps.push_back(c.step);
  EXPECT_EQ(steps, (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_LT(first->Wait()->id, second->Wait()->id);
}

TEST(SaveFromSource, ChunksPresentSaysWhatTheIndexHolds) {
  testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
  std::vector<Owned> state = {MakeBytes("a", 2 * kChunk, 7)};
  std::vector<TensorRef> refs = {state[0].ref()};
  SaveOptions o;
  auto saved = store->Save(refs, o).value();
  std::vector<Digest> ask = saved.chunks[0];
  ask.push_back(HashBytes("not stored", 10));
  EXPECT_EQ(ChunksPresent(*store, ask).value(), (std::vector<bool>{true, true, false}));
  auto reader = Store::OpenReadOnly(dir.Join("s"));
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(ChunksPresent(**reader, ask).value(), (std::vector<bool>{true, true, false}));  // a reader may ask too
}

TEST(DeviceMemoryMarker, HostPathsRefuseDeviceTensorsWithoutReadingThem) {
  testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
  Unreadable poison(2 * kChunk);
  std::vector<Owned> state = {MakeBytes("weights", 2 * kChunk, 8)};
  TensorRef r = state[0].ref();
  r.data = poison.p;
  r.cuda_device = 0;
  SaveOptions o;
  for (int pass = 0; pass < 2; ++pass) {
    Status s = pass == 0 ? store->Save({&r, 1}, o).status() : store->SaveAsync({&r, 1}, o).status();
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find("tensor 'weights' is in the memory of CUDA device 0"), std::string::npos) << s.ToString();
  }
  EXPECT_TRUE(store->List().value().empty());
  r.cuda_device = -2;
  EXPECT_NE(ValidateTensorRef(r).message().find("cuda_device -2"), std::string::npos);

  ASSERT_TRUE(store->Save(std::vector<TensorRef>{state[0].ref()}, o).ok());
  Owned into = MakeBytes("weights", 2 * kChunk, 9);
  TensorBuffer b{into.name, into.dtype, into.shape, into.bytes.data(), into.bytes.size(), /*cuda_device=*/1};
  Status s = store->RestoreInto(Selector::Latest(), {&b, 1});
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("CUDA device 1"), std::string::npos) << s.ToString();
  EXPECT_EQ(into.bytes, MakeBytes("weights", 2 * kChunk, 9).bytes);  // nothing written
}

}  // namespace
}  // namespace ckptdb
