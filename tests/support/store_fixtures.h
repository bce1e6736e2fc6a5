// Fixtures shared by the ckptdb::Store suites: small-chunk options, tensors the test owns, stores
// opened and saved with expectations, and exact-restore checks (header-only: GoogleTest macros).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/test_support.h"

namespace ckptdb::store_tests {

inline constexpr uint64_t kChunk = 64ull << 10;  // the smallest chunk size keeps test data small

inline StoreOptions SmallChunks(int threads = 4) {
  StoreOptions o;
  o.chunk_size = kChunk;
  o.threads = threads;
  return o;
}

// A tensor the test owns: its bytes outlive every Save that views them.
struct Owned {
  std::string name;
  DType dtype = DType::kU8;
  Shape shape;
  std::vector<uint8_t> bytes;

  TensorRef ref() const { return {name, dtype, shape, bytes.empty() ? nullptr : bytes.data(), bytes.size()}; }
};

inline Owned MakeTensor(std::string name, DType dtype, Shape shape, uint64_t seed) {
  Owned t{std::move(name), dtype, std::move(shape), {}};
  auto n = ExpectedBytes(t.dtype, t.shape);
  EXPECT_TRUE(n.has_value());
  // RandomBytes(s + 1) is RandomBytes(s) shifted by 8 bytes (splitmix64 streams of consecutive
  // seeds overlap), so spread the seeds: tensors made here share no runs of bytes below 8 MB.
  t.bytes = testing::RandomBytes(seed * 1'000'003 + 12345, static_cast<size_t>(n.value_or(0)));
  return t;
}

inline Owned MakeBytes(std::string name, uint64_t size, uint64_t seed) {
  return MakeTensor(std::move(name), DType::kU8, {static_cast<int64_t>(size)}, seed);
}

inline std::vector<TensorRef> Refs(const std::vector<Owned>& ts) {
  std::vector<TensorRef> refs;
  for (const auto& t : ts) refs.push_back(t.ref());
  return refs;
}

inline std::unique_ptr<Store> MustOpen(const std::string& path, const StoreOptions& options = SmallChunks()) {
  auto r = Store::Open(path, options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

inline CheckpointInfo MustSave(Store& store, const std::vector<Owned>& ts, SaveOptions options = {}) {
  auto r = store.Save(Refs(ts), options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r.value() : CheckpointInfo{};
}

// An asynchronous save, waited for: what its handle's Wait returns.
inline CheckpointInfo MustSaveAsync(Store& store, const std::vector<Owned>& ts, SaveOptions options = {}) {
  auto h = store.SaveAsync(Refs(ts), options);
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  if (!h.ok()) return CheckpointInfo{};
  auto r = h->Wait();
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? CheckpointInfo(*r) : CheckpointInfo{};
}

inline SaveOptions AtStep(int64_t step) {
  SaveOptions o;
  o.step = step;
  return o;
}

inline std::vector<CheckpointInfo> MustList(Store& store) {
  auto r = store.List();
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r.value() : std::vector<CheckpointInfo>{};
}

inline bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

inline void ExpectSameBytes(const uint8_t* got, uint64_t got_size, const std::vector<uint8_t>& want,
                            const std::string& name) {
  ASSERT_EQ(got_size, want.size()) << name;
  if (want.empty()) return;
  if (std::memcmp(got, want.data(), want.size()) == 0) return;
  size_t i = 0;
  while (got[i] == want[i]) ++i;
  ADD_FAILURE() << name << ": first differing byte at offset " << i;
}

// `got` must be exactly `want`, in order: names, dtypes, shapes and bytes.
inline void ExpectRestored(const std::vector<Tensor>& got, const std::vector<Owned>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("tensor " + std::to_string(i) + " '" + want[i].name + "'");
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_EQ(got[i].dtype, want[i].dtype);
    EXPECT_EQ(got[i].shape, want[i].shape);
    ExpectSameBytes(got[i].bytes.data(), got[i].bytes.size(), want[i].bytes, want[i].name);
  }
}

inline void ExpectRestores(Store& store, const Selector& which, const std::vector<Owned>& want) {
  auto r = store.Restore(which);
  ASSERT_TRUE(r.ok()) << which.ToString() << ": " << r.status().ToString();
  ExpectRestored(*r, want);
}

// Restores every tensor of `want` with RestoreInto, into buffers that start filled with 0xAB.
inline void ExpectRestoresInto(Store& store, const Selector& which, const std::vector<Owned>& want) {
  std::vector<std::vector<uint8_t>> storage;
  std::vector<TensorBuffer> buffers;
  for (const auto& t : want) storage.emplace_back(t.bytes.size(), 0xAB);
  for (size_t i = 0; i < want.size(); ++i)
    buffers.push_back({want[i].name, want[i].dtype, want[i].shape,
                       storage[i].empty() ? nullptr : storage[i].data(), storage[i].size()});
  Status s = store.RestoreInto(which, buffers);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (size_t i = 0; i < want.size(); ++i)
    ExpectSameBytes(storage[i].data(), storage[i].size(), want[i].bytes, want[i].name);
}

// A closed store at dir.path() with checkpoint 1 (step 10: "a", one chunk and 3 bytes) and
// checkpoint 2 (step 20: "b", 100 bytes, inline).
struct TwoCheckpointStore {
  testing::ScratchDir dir;
  std::vector<Owned> first = {MakeBytes("a", kChunk + 3, 1)};
  std::vector<Owned> second = {MakeBytes("b", 100, 2)};

  TwoCheckpointStore() {
    auto store = MustOpen(dir.path());
    if (!store) return;
    MustSave(*store, first, AtStep(10));
    MustSave(*store, second, AtStep(20));
  }
};

// Saves two checkpoints that both use the one chunk of "victim", closes the store, and returns
// that chunk's digest.
inline Digest SaveTwoCheckpointsSharingAChunk(const std::string& path, const std::vector<Owned>& ts) {
  auto store = MustOpen(path);
  if (!store) return {};
  MustSave(*store, ts, AtStep(100));
  MustSave(*store, {ts[0], MakeBytes("bystander", 2 * kChunk, 3)}, AtStep(200));
  return HashBytes(ts[0].bytes.data(), ts[0].bytes.size());
}

// For crash suites' checkers, which report in strings: verifies `store`, then restores every
// checkpoint and compares its tensors (names, sizes, bytes) with content(its step). "" when all
// hold, else one line naming the first thing that does not.
inline std::string CheckEveryCheckpoint(Store& store, const std::function<std::vector<Owned>(int64_t)>& content) {
  auto v = store.Verify();
  if (!v.ok()) return "verify: " + v.status().ToString();
  if (!v->damage.empty()) return "damage in checkpoint " + std::to_string(v->damage[0].id);
  auto all = store.List();
  if (!all.ok()) return "list: " + all.status().ToString();
  for (const CheckpointInfo& c : *all) {
    auto r = store.Restore(Selector::Id(c.id));
    if (!r.ok()) return "restore: " + r.status().ToString();
    const std::vector<Owned> want = content(c.step);
    if (r->size() != want.size()) return "checkpoint " + std::to_string(c.id) + " has the wrong tensors";
    for (size_t i = 0; i < want.size(); ++i)
      if ((*r)[i].name != want[i].name || (*r)[i].bytes.size() != want[i].bytes.size() ||
          std::memcmp((*r)[i].bytes.data(), want[i].bytes.data(), want[i].bytes.size()) != 0)
        return "checkpoint " + std::to_string(c.id) + " (step " + std::to_string(c.step) + "): tensor " +
               want[i].name + " differs";
  }
  return "";
}

}  // namespace ckptdb::store_tests
