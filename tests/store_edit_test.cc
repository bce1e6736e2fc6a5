// Editing history through the library: tag, untag and remove, each one durable step.
#include <gtest/gtest.h>

#include <cstring>
#include <deque>

#include "ckptdb/ckptdb.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

class StoreEditTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    store_.reset();
    auto s = Store::Open(dir_.Join("store"));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  // A one-tensor checkpoint whose bytes are the step.
  CheckpointInfo Save(int64_t step, std::vector<std::string> tags = {}) {
    steps_.push_back(step);
    TensorRef t{"step", DType::kI64, {}, &steps_.back(), 8};
    SaveOptions o;
    o.step = step;
    o.tags = std::move(tags);
    auto info = store_->Save({&t, 1}, o);
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return info.ok() ? *info : CheckpointInfo{};
  }
  std::vector<CheckpointId> Ids() {
    std::vector<CheckpointId> ids;
    for (const auto& c : store_->List().value()) ids.push_back(c.id);
    return ids;
  }
  std::vector<std::string> TagsOf(CheckpointId id) { return store_->Describe(Selector::Id(id))->info.tags; }

  testing::ScratchDir dir_;
  std::unique_ptr<Store> store_;
  std::deque<int64_t> steps_;
};

TEST_F(StoreEditTest, TagNamesTheCheckpointDurably) {
  const auto a = Save(10);
  Save(20);
  ASSERT_TRUE(store_->Tag(Selector::Id(a.id), "best").ok());
  Reopen();
  EXPECT_EQ(TagsOf(a.id), std::vector<std::string>{"best"});
  EXPECT_EQ(store_->Describe(Selector::Tag("best"))->info.id, a.id);
  EXPECT_EQ(store_->List()->front().tags, std::vector<std::string>{"best"});
}

TEST_F(StoreEditTest, TaggingTheSameCheckpointAgainIsANoOp) {
  const auto a = Save(10, {"x"});
  EXPECT_TRUE(store_->Tag(Selector::Id(a.id), "x").ok());
  EXPECT_EQ(TagsOf(a.id), std::vector<std::string>{"x"});
}

TEST_F(StoreEditTest, ATagOnAnotherCheckpointIsAlreadyExistsAndChangesNothing) {
  const auto a = Save(10, {"x"});
  const auto b = Save(20);
  Status s = store_->Tag(Selector::Id(b.id), "x");
  EXPECT_EQ(s.code(), Code::kAlreadyExists) << s.ToString();
  EXPECT_NE(s.message().find("checkpoint " + std::to_string(a.id)), std::string::npos) << s.ToString();
  EXPECT_EQ(TagsOf(a.id), std::vector<std::string>{"x"});
  EXPECT_TRUE(TagsOf(b.id).empty());
}

TEST_F(StoreEditTest, BadTagNamesAndUnknownCheckpointsAreRefused) {
  Save(10);
  EXPECT_EQ(store_->Tag(Selector::Latest(), "").code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->Tag(Selector::Latest(), std::string("\xff", 1)).code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->Tag(Selector::Step(99), "t").code(), Code::kNotFound);
}

TEST_F(StoreEditTest, UntagDropsTheNameFromIndexAndManifest) {
  const auto a = Save(10, {"keep", "x"});
  ASSERT_TRUE(store_->Untag("x").ok());
  Reopen();
  EXPECT_EQ(TagsOf(a.id), std::vector<std::string>{"keep"});
  EXPECT_EQ(store_->Describe(Selector::Tag("x")).status().code(), Code::kNotFound);
  // The name is free again.
  const auto b = Save(20, {"x"});
  EXPECT_EQ(store_->Describe(Selector::Tag("x"))->info.id, b.id);
}

TEST_F(StoreEditTest, UntagOfAnUnknownNameIsNotFound) {
  Save(10);
  Status s = store_->Untag("nope");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_NE(s.message().find("'nope'"), std::string::npos);
}

TEST_F(StoreEditTest, RemoveDeletesTheCheckpointAndItsTagsDurably) {
  const auto a = Save(10);
  const auto b = Save(20, {"mid"});
  const auto c = Save(30);
  auto removed = store_->Remove(Selector::Id(b.id));
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(removed->id, b.id);
  EXPECT_EQ(removed->tags, std::vector<std::string>{"mid"});
  Reopen();
  EXPECT_EQ(Ids(), (std::vector<CheckpointId>{a.id, c.id}));
  EXPECT_EQ(store_->Describe(Selector::Tag("mid")).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Describe(Selector::Step(20)).status().code(), Code::kNotFound);
  // The others still restore and verify; the child now names the removed one's parent.
  EXPECT_EQ(store_->Describe(Selector::Id(c.id))->info.parent, a.id);
  EXPECT_TRUE(store_->Verify()->ok());
  // The tag name can be reused.
  EXPECT_TRUE(store_->Tag(Selector::Id(a.id), "mid").ok());
}

TEST_F(StoreEditTest, RemovingTheHeadMakesItsParentTheNextParent) {
  Save(10);
  const auto b = Save(20);
  Save(30);
  ASSERT_TRUE(store_->Remove(Selector::Latest()).ok());
  EXPECT_EQ(Save(40).parent, b.id);
}

TEST_F(StoreEditTest, RemovingTheHeadWhoseAncestorsAreGoneFallsBackToTheNewest) {
  const auto a = Save(10);
  const auto b = Save(20);
  ASSERT_TRUE(store_->Remove(Selector::Id(a.id)).ok());
  ASSERT_TRUE(store_->Remove(Selector::Id(b.id)).ok());  // head, and its parent is gone
  EXPECT_TRUE(Ids().empty());
  EXPECT_FALSE(Save(30).parent.has_value());
}

TEST_F(StoreEditTest, IdsAreNeverReusedAfterRemove) {
  Save(10);
  const auto b = Save(20);
  ASSERT_TRUE(store_->Remove(Selector::Id(b.id)).ok());
  EXPECT_EQ(Save(30).id, b.id + 1);
}

TEST_F(StoreEditTest, RemoveOfAnUnknownCheckpointIsNotFoundAndChangesNothing) {
  Save(10);
  auto r = store_->Remove(Selector::Step(99));
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(Ids().size(), 1u);
}

TEST_F(StoreEditTest, SharedChunksSurviveRemovingOneUser) {
  // Both checkpoints hold the same bytes: removing one must leave the other whole.
  std::vector<uint8_t> big = testing::RandomBytes(7, 1 << 20);
  TensorRef t{"w", DType::kU8, {int64_t(big.size())}, big.data(), big.size()};
  SaveOptions o;
  ASSERT_TRUE(store_->Save({&t, 1}, o).ok());
  ASSERT_TRUE(store_->Save({&t, 1}, o).ok());
  ASSERT_TRUE(store_->Remove(Selector::Id(1)).ok());
  auto back = store_->Restore(Selector::Latest());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(std::memcmp((*back)[0].bytes.data(), big.data(), big.size()), 0);
}

}  // namespace
}  // namespace ckptdb
