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
inline constexpr const char* kSummaryCf = "summaries";  // format version 2: id -> Summary fb

// Keys of the default (meta) column family.
inline constexpr std::string_view kStoreMeta = "meta";
inline constexpr std::string_view kNextId = "next_id";
inline constexpr std::string_view kHead = "head";
inline constexpr std::string_view kTagPrefix = "tag/";

inline constexpr std::string_view kNextPack = "next_pack";
inline constexpr std::string_view kPolicy = "policy";  // RetentionPolicy fb; absent: keep everything
// Collections that changed the chunk index so far (absent: 0); see FORMAT.md, "Readers".
inline constexpr std::string_view kGcEpoch = "gc_epoch";
// Bytes of chunk index entries (key + value) collections deleted since the chunk index was last
// compacted (absent: 0): what the index's files still hold for nothing.
inline constexpr std::string_view kIndexGarbage = "index_garbage";

// Chunk column family: 'i' + digest -> where the chunk's bytes are.
inline constexpr char kChunkIndex = 'i';
std::string ChunkIndexKey(const Digest& d);

// Chunks shorter than this live inline in their index value; longer ones in pack files. Tails of
// small tensors would otherwise cost a 4 KiB aligned slot each.
inline constexpr uint64_t kInlineChunkMax = 32 << 10;

// How a chunk's stored bytes encode its raw bytes. Written to disk: values never change meaning.
inline constexpr uint8_t kCodecNone = 0;  // stored bytes are the raw bytes

// An index value (FORMAT.md, "chunks column family"). Version 2 writes 'Q' + codec + pack id +
// offset + stored length + raw length (8 bytes big-endian each; 34 bytes), or 'W' + codec + raw
// length + the stored bytes. Version-1 values ('P' + pack + offset + length, 'V' + bytes) still
// decode, as codec none.
struct ChunkRef {
  bool is_inline = false;
  uint8_t codec = kCodecNone;
  uint64_t pack = 0, offset = 0;
  uint64_t length = 0;      // stored bytes (in the pack, or inline)
  uint64_t raw_length = 0;  // the chunk's own length once decoded
  std::string_view bytes;   // is_inline only; points into the decoded value
};
std::string EncodePackedChunk(uint64_t pack, uint64_t offset, uint64_t length);
std::string EncodeInlineChunk(const void* data, uint64_t length);
// Any codec byte decodes; readers refuse codecs they do not know (NotSupported).
std::optional<ChunkRef> DecodeChunkRef(std::string_view value);
std::optional<Digest> DigestFromChunkKey(std::string_view key);

// Big-endian, so that RocksDB's bytewise order is numeric order.
std::string EncodeU64(uint64_t v);
std::optional<uint64_t> DecodeU64(std::string_view bytes);

std::string TagKey(std::string_view tag);

}  // namespace ckptdb::keys
