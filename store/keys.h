// RocksDB key encoding (see schema/FORMAT.md for the full layout). Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ckptdb/digest.h"

namespace ckptdb::keys {

// Column families.
inline constexpr const char* kMetaCf = "default";
inline constexpr const char* kManifestCf = "manifests";
inline constexpr const char* kChunkCf = "chunks";

// Keys of the default (meta) column family.
inline constexpr std::string_view kStoreMeta = "meta";
inline constexpr std::string_view kNextId = "next_id";
inline constexpr std::string_view kHead = "head";
inline constexpr std::string_view kTagPrefix = "tag/";

// Chunk column family: 'c' + digest holds the bytes, 'i' + digest the 8-byte length (the index
// that enumerates chunks without reading blob values).
inline constexpr char kChunkData = 'c';
inline constexpr char kChunkIndex = 'i';

std::string ChunkDataKey(const Digest& d);
std::string ChunkIndexKey(const Digest& d);
std::optional<Digest> DigestFromChunkKey(std::string_view key);

// Big-endian, so that RocksDB's bytewise order is numeric order.
std::string EncodeU64(uint64_t v);
std::optional<uint64_t> DecodeU64(std::string_view bytes);

std::string TagKey(std::string_view tag);

}  // namespace ckptdb::keys
