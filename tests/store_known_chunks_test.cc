// Specifies TensorRef::known_chunks: a save that reuses a previous save's chunk list for a tensor
// the caller knows is unchanged, without reading or hashing it, and refuses a stale list.
#include "ckptdb/ckptdb.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/store_fixtures.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using namespace store_tests;
using testing::ScratchDir;

TEST(StoreKnownChunks, SaveReturnsEachTensorsChunksAndAKnownListIsRecordedWithoutReadingTheBytes) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeBytes("big", 3 * kChunk + 7, 1), MakeBytes("empty", 0, 2), MakeBytes("small", 9, 3)};
  auto first = store->Save(Refs(ts), AtStep(1));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->chunks.size(), 3u);
  EXPECT_EQ(first->chunks[0].size(), 4u);
  EXPECT_EQ(first->chunks[1].size(), 0u);
  EXPECT_EQ(first->chunks[2].size(), 1u);
  auto m1 = store->Describe(Selector::Id(first->id));
  ASSERT_TRUE(m1.ok());
  for (size_t i = 0; i < ts.size(); ++i) EXPECT_EQ(first->chunks[i], m1->tensors[i].chunks) << i;

  // data is null: the store cannot have read it, yet the checkpoint restores the saved bytes.
  std::vector<TensorRef> refs = Refs(ts);
  refs[0].data = nullptr;
  refs[0].known_chunks = first->chunks[0];
  refs[2].data = nullptr;
  refs[2].known_chunks = first->chunks[2];
  auto second = store->Save(refs, AtStep(2));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->new_bytes, 0u);
  EXPECT_EQ(second->chunks, first->chunks);
  ExpectRestores(*store, Selector::Id(second->id), ts);
}

TEST(StoreKnownChunks, AListOfTheWrongLengthIsInvalidArgumentNamingTheTensor) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeBytes("w", 2 * kChunk, 1)};
  auto first = store->Save(Refs(ts), AtStep(1));
  ASSERT_TRUE(first.ok());
  std::vector<Digest> one = {first->chunks[0][0]};
  std::vector<TensorRef> refs = Refs(ts);
  refs[0].known_chunks = one;
  auto r = store->Save(refs, AtStep(2));
  ASSERT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Contains(r.status().message(), "tensor 'w': 1 known chunk given, but its 131072 bytes make 2"))
      << r.status().ToString();
  // Counts of one read in the singular.
  std::vector<Owned> tiny = {MakeBytes("b", 1, 2)};
  std::vector<TensorRef> tiny_refs = Refs(tiny);
  const std::vector<Digest> two = {first->chunks[0][0], first->chunks[0][1]};
  tiny_refs[0].known_chunks = two;
  r = store->Save(tiny_refs, AtStep(2));
  ASSERT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Contains(r.status().message(), "tensor 'b': 2 known chunks given, but its 1 byte makes 1"))
      << r.status().ToString();
  EXPECT_EQ(MustList(*store).size(), 1u);
}

TEST(StoreKnownChunks, ChunksCollectedSinceAreFailedPreconditionAndNothingIsSaved) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  // One chunk, so the message names it whichever read thread meets it first.
  std::vector<Owned> old_state = {MakeBytes("w", kChunk, 1)};
  auto first = store->Save(Refs(old_state), AtStep(1));
  ASSERT_TRUE(first.ok());
  MustSave(*store, {MakeBytes("other", 10, 2)}, AtStep(2));
  ASSERT_TRUE(store->Remove(Selector::Id(first->id)).ok());
  ASSERT_TRUE(store->CollectGarbage().ok());

  std::vector<TensorRef> refs = Refs(old_state);
  refs[0].known_chunks = first->chunks[0];
  auto r = store->Save(refs, AtStep(3));
  ASSERT_EQ(r.status().code(), Code::kFailedPrecondition) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), "tensor 'w': known chunk 0 (" + first->chunks[0][0].ToHex() +
                                                 ") is no longer in the store; save it without the hint"))
      << r.status().ToString();
  EXPECT_EQ(MustList(*store).size(), 1u);
  // Without the hint the same save succeeds.
  refs[0].known_chunks = {};
  EXPECT_TRUE(store->Save(refs, AtStep(3)).ok());
}

TEST(StoreKnownChunks, AChunkOfAnotherLengthIsFailedPrecondition) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  // Both tensors have one chunk, of different lengths: "a"'s digest cannot stand for "b"'s chunk.
  std::vector<Owned> ts = {MakeBytes("a", 100, 1), MakeBytes("b", 200, 2)};
  auto first = store->Save(Refs(ts), AtStep(1));
  ASSERT_TRUE(first.ok());
  std::vector<TensorRef> refs = Refs(ts);
  refs[1].known_chunks = first->chunks[0];
  auto r = store->Save(refs, AtStep(2));
  ASSERT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(Contains(r.status().message(), "is not a chunk of 200 bytes")) << r.status().ToString();
  EXPECT_EQ(MustList(*store).size(), 1u);
}

}  // namespace
}  // namespace ckptdb
