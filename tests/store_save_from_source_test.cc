// SaveFromSource (store/save_from_source.h), the seam the GPU path saves device memory through:
// the store hashes and writes from the source alone, never dereferences the tensors' data
// pointers, and asks for host bytes only of the chunks it lacks.
#include "store/save_from_source.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <atomic>
#include <cstring>

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

}  // namespace
}  // namespace ckptdb
