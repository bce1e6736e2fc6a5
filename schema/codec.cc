#include "schema/codec.h"

#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "schema/manifest_generated.h"
#include "schema/policy_generated.h"
#include "schema/store_meta_generated.h"

namespace ckptdb {

bool IsValidChunkSize(uint64_t c) {
  return c >= schema::kMinChunkSize && c <= schema::kMaxChunkSize && (c & (c - 1)) == 0;
}

}  // namespace ckptdb

namespace ckptdb::schema {
namespace {

constexpr uint64_t kMaxBufferBytes = 2ull << 30;  // FlatBuffers offsets are 32-bit
// A 100k-tensor manifest has ~100k tables; leave room for far more.
constexpr flatbuffers::uoffset_t kMaxTables = 50'000'000;

// FlatBuffers needs aligned input; RocksDB values come with no alignment promise.
struct AlignedCopy {
  std::unique_ptr<uint64_t[]> words;
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(words.get()); }
};

Result<AlignedCopy> CopyForVerify(std::string_view bytes, const char* what) {
  if (bytes.size() > kMaxBufferBytes)
    return Status::Corruption(std::string(what) + " is " + std::to_string(bytes.size()) +
                              " bytes, over the 2 GiB limit");
  AlignedCopy copy{std::make_unique<uint64_t[]>(bytes.size() / 8 + 1)};
  std::memcpy(copy.words.get(), bytes.data(), bytes.size());
  return copy;
}

Status Bad(const std::string& what) { return Status::Corruption("manifest: " + what); }

// The values of a [long] vector. FlatBuffers 2.0.8's verifier checks only that a vector's length
// word is 4-byte aligned, so a hostile buffer can place 8-byte elements off their alignment; the
// generated accessors would then load through a misaligned pointer (undefined behaviour). Copying
// each element's bytes is valid at any address. Every other 8-byte value in the schema is a table
// field, which the verifier does check for alignment; Digest is a struct of bytes.
std::vector<int64_t> ReadLongs(const flatbuffers::Vector<int64_t>& v) {
  std::vector<int64_t> out(v.size());
  const uint8_t* p = v.Data();
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t x;
    std::memcpy(&x, p + i * sizeof x, sizeof x);
    out[i] = flatbuffers::EndianScalar(x);
  }
  return out;
}

Result<TensorInfo> DecodeTensor(const fb::Tensor& t, uint64_t chunk_size) {
  TensorInfo out;
  out.name = t.name()->str();
  if (out.name.empty() || !IsValidUtf8(out.name)) return Bad("a tensor has an empty or non-UTF-8 name");
  const std::string who = "tensor '" + out.name + "'";
  if (!IsValidDType(t.dtype())) return Bad(who + " has unknown dtype " + std::to_string(t.dtype()));
  out.dtype = static_cast<DType>(t.dtype());
  if (t.shape()) out.shape = ReadLongs(*t.shape());
  out.size_bytes = t.size_bytes();
  auto expected = ExpectedBytes(out.dtype, out.shape);
  if (!expected || *expected != out.size_bytes)
    return Bad(who + " records " + std::to_string(out.size_bytes) + " bytes for shape " +
               ShapeToString(out.shape) + " of " + std::string(DTypeName(out.dtype)));
  // Written so that sizes near 2^64 cannot wrap to zero chunks.
  const uint64_t want_chunks = out.size_bytes / chunk_size + (out.size_bytes % chunk_size != 0);
  const uint64_t have_chunks = t.chunks() ? t.chunks()->size() : 0;
  if (have_chunks != want_chunks)
    return Bad(who + " has " + std::to_string(have_chunks) + " chunk digests, expected " +
               std::to_string(want_chunks));
  out.chunks.resize(have_chunks);
  for (uint64_t i = 0; i < have_chunks; ++i) {
    const auto* bytes = t.chunks()->Get(i)->bytes();
    std::memcpy(out.chunks[i].bytes.data(), bytes->data(), 32);
  }
  return out;
}

}  // namespace


std::string EncodeManifest(const CheckpointManifest& m) {
  flatbuffers::FlatBufferBuilder b(1024 + m.tensors.size() * 256);
  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  tensors.reserve(m.tensors.size());
  for (const auto& t : m.tensors) {
    std::vector<fb::Digest> digests;
    digests.reserve(t.chunks.size());
    for (const auto& d : t.chunks) digests.emplace_back(flatbuffers::span<const uint8_t, 32>(d.bytes));
    auto name = b.CreateString(t.name);
    auto shape = b.CreateVector(t.shape);
    auto chunks = b.CreateVectorOfStructs(digests);
    tensors.push_back(fb::CreateTensor(b, name, static_cast<uint8_t>(t.dtype), shape, t.size_bytes, chunks));
  }
  std::vector<flatbuffers::Offset<fb::StringPair>> metadata;
  for (const auto& [k, v] : m.metadata)
    metadata.push_back(fb::CreateStringPair(b, b.CreateString(k), b.CreateString(v)));
  std::vector<flatbuffers::Offset<fb::Metric>> metrics;
  for (const auto& [k, v] : m.info.metrics) metrics.push_back(fb::CreateMetric(b, b.CreateString(k), v));
  const auto& i = m.info;
  std::vector<std::string> tags = i.tags;
  std::sort(tags.begin(), tags.end());
  auto root = fb::CreateManifest(b, kManifestVersion, i.id, i.step, i.parent.has_value(), i.parent.value_or(0),
                                 i.commit_time_ns, m.chunk_size, b.CreateVector(tensors),
                                 b.CreateVector(metadata), b.CreateVector(metrics), i.logical_bytes, i.new_bytes,
                                 b.CreateVectorOfStrings(tags),
                                 m.structure.empty() ? 0
                                                     : b.CreateVector(reinterpret_cast<const uint8_t*>(m.structure.data()),
                                                                      m.structure.size()));
  fb::FinishManifestBuffer(b, root);
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

Result<CheckpointManifest> DecodeManifest(std::string_view bytes) {
  auto copy = CopyForVerify(bytes, "manifest");
  if (!copy.ok()) return copy.status();
  flatbuffers::Verifier::Options vo;
  vo.max_tables = kMaxTables;
  flatbuffers::Verifier verifier(copy->data(), bytes.size(), vo);
  if (!fb::VerifyManifestBuffer(verifier)) return Bad("fails FlatBuffers verification");
  const fb::Manifest* f = fb::GetManifest(copy->data());
  if (f->format_version() != kManifestVersion)
    return Bad("format version " + std::to_string(f->format_version()) + " is not " +
               std::to_string(kManifestVersion));
  if (!IsValidChunkSize(f->chunk_size())) return Bad("chunk size " + std::to_string(f->chunk_size()) + " is invalid");

  CheckpointManifest m;
  m.chunk_size = f->chunk_size();
  m.info.id = f->id();
  m.info.step = f->step();
  if (f->has_parent()) m.info.parent = f->parent();
  m.info.commit_time_ns = f->commit_time_ns();
  m.info.logical_bytes = f->logical_bytes();
  m.info.new_bytes = f->new_bytes();
  std::set<std::string_view> names;
  uint64_t logical = 0;
  if (f->tensors()) {
    m.tensors.reserve(f->tensors()->size());
    for (const fb::Tensor* t : *f->tensors()) {
      auto tensor = DecodeTensor(*t, m.chunk_size);
      if (!tensor.ok()) return tensor.status();
      if (!names.insert(t->name()->string_view()).second)
        return Bad("tensor name '" + tensor->name + "' appears twice");
      logical += tensor->size_bytes;
      m.tensors.push_back(std::move(tensor).value());
    }
  }
  if (logical != m.info.logical_bytes) return Bad("logical_bytes disagrees with its tensors");
  m.info.tensor_count = m.tensors.size();
  if (f->metadata())
    for (const fb::StringPair* p : *f->metadata())
      if (!m.metadata.emplace(p->key()->str(), p->value()->str()).second)
        return Bad("metadata key '" + p->key()->str() + "' appears twice");
  if (f->metrics())
    for (const fb::Metric* p : *f->metrics())
      if (!m.info.metrics.emplace(p->name()->str(), p->value()).second)
        return Bad("metric '" + p->name()->str() + "' appears twice");
  if (f->structure()) m.structure.assign(reinterpret_cast<const char*>(f->structure()->data()), f->structure()->size());
  if (f->tags())
    for (const flatbuffers::String* t : *f->tags()) {
      if (t->size() == 0 || !IsValidUtf8(t->string_view())) return Bad("a tag is empty or not UTF-8");
      if (!m.info.tags.empty() && m.info.tags.back() >= t->string_view()) return Bad("tags are not sorted and unique");
      m.info.tags.push_back(t->str());
    }
  return m;
}

std::string EncodeStoreMeta(const StoreMeta& meta) {
  flatbuffers::FlatBufferBuilder b(128);
  auto root = fb::CreateStoreMeta(b, meta.format_version, b.CreateString(meta.hash), meta.chunk_size, meta.created_ns);
  fb::FinishStoreMetaBuffer(b, root);
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

Result<StoreMeta> DecodeStoreMeta(std::string_view bytes) {
  auto copy = CopyForVerify(bytes, "store metadata");
  if (!copy.ok()) return copy.status();
  flatbuffers::Verifier verifier(copy->data(), bytes.size());
  if (!fb::VerifyStoreMetaBuffer(verifier))
    return Status::Corruption("store metadata fails FlatBuffers verification");
  const fb::StoreMeta* f = fb::GetStoreMeta(copy->data());
  StoreMeta meta;
  meta.format_version = f->format_version();
  meta.hash = f->hash() ? f->hash()->str() : "";
  meta.chunk_size = f->chunk_size();
  meta.created_ns = f->created_ns();
  if (meta.format_version != 1 && meta.format_version != kFormatVersion)
    return Status::Corruption("store format version " + std::to_string(meta.format_version) +
                              " is not supported (this build reads " + std::to_string(kFormatVersion) + ")");
  if (meta.hash != kHashName) return Status::Corruption("store uses unknown hash '" + meta.hash + "'");
  if (!IsValidChunkSize(meta.chunk_size))
    return Status::Corruption("store chunk size " + std::to_string(meta.chunk_size) + " is invalid");
  return meta;
}

std::string EncodeRetentionPolicy(const RetentionPolicy& p) {
  flatbuffers::FlatBufferBuilder b(128);
  flatbuffers::Offset<fb::KeepBest> best;
  if (p.keep_best)
    best = fb::CreateKeepBest(b, b.CreateString(p.keep_best->metric), p.keep_best->maximize, p.keep_best->count);
  auto root = fb::CreateRetentionPolicy(b, p.max_to_keep, p.keep_every_steps, p.keep_every_hours, best);
  fb::FinishRetentionPolicyBuffer(b, root);
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

Result<RetentionPolicy> DecodeRetentionPolicy(std::string_view bytes) {
  auto copy = CopyForVerify(bytes, "retention policy");
  if (!copy.ok()) return copy.status();
  flatbuffers::Verifier verifier(copy->data(), bytes.size());
  if (!fb::VerifyRetentionPolicyBuffer(verifier))
    return Status::Corruption("retention policy fails FlatBuffers verification");
  const fb::RetentionPolicy* f = fb::GetRetentionPolicy(copy->data());
  RetentionPolicy p;
  p.max_to_keep = f->max_to_keep();
  p.keep_every_steps = f->keep_every_steps();
  p.keep_every_hours = f->keep_every_hours();
  if (const fb::KeepBest* best = f->keep_best())
    p.keep_best = KeepBest{best->metric()->str(), best->maximize(), best->count()};
  if (Status s = ValidateRetentionPolicy(p); !s.ok())
    return Status::Corruption("stored retention policy is invalid: " + s.message());
  return p;
}

}  // namespace ckptdb::schema
