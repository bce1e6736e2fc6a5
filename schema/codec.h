// The codec between FlatBuffers records and plain structs: pure functions, no I/O.
//
// Decoders accept bytes straight from disk: they reject anything over 2 GiB, copy into an aligned
// buffer, run the FlatBuffers verifier, and then check every field's meaning (dtype, shape against
// byte length, chunk count against chunk size, unique names). Any failure is Corruption, never a
// crash.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ckptdb/checkpoint.h"
#include "ckptdb/options.h"
#include "ckptdb/retention.h"
#include "ckptdb/status.h"

namespace ckptdb::schema {

// The store format this build writes (StoreMeta, summaries). It opens version 1 stores too and
// upgrades them in place (store/upgrade.cc). Manifest bodies did not change: they keep version 1.
constexpr uint32_t kFormatVersion = 2;
constexpr uint32_t kManifestVersion = 1;
constexpr uint64_t kMinChunkSize = 64ull << 10;
constexpr uint64_t kMaxChunkSize = 64ull << 20;
constexpr std::string_view kHashName = "blake3-256";

struct StoreMeta {
  uint32_t format_version = kFormatVersion;
  std::string hash{kHashName};
  uint64_t chunk_size = 0;
  int64_t created_ns = 0;
};


std::string EncodeManifest(const CheckpointManifest& m);
Result<CheckpointManifest> DecodeManifest(std::string_view bytes);

// A checkpoint's summary record (schema/summary.fbs): its CheckpointInfo, the part of a checkpoint
// that edits change (parent, tags). Decoding checks tags sorted, unique, UTF-8 and metric names unique.
std::string EncodeSummary(const CheckpointInfo& info);
Result<CheckpointInfo> DecodeSummary(std::string_view bytes);

// Decoding accepts format versions 1 and 2 (a version-1 store is upgraded when opened for writing).
std::string EncodeStoreMeta(const StoreMeta& meta);
Result<StoreMeta> DecodeStoreMeta(std::string_view bytes);

// REQUIRES for encoding: ValidateRetentionPolicy(policy).ok(). Decoding validates the same rules.
std::string EncodeRetentionPolicy(const RetentionPolicy& policy);
Result<RetentionPolicy> DecodeRetentionPolicy(std::string_view bytes);

}  // namespace ckptdb::schema
