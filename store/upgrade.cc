#include "store/upgrade.h"

#include "store/keys.h"

namespace ckptdb {

Result<schema::StoreMeta> UpgradeToVersion2(Db& db, const std::string& path, schema::StoreMeta meta) {
  const std::string where = "store " + path + ", upgrading from format version 1";
  CommitBatch batch;
  auto manifests = db.ScanManifests();
  if (!manifests.ok()) return manifests.status().WithContext(where);
  for (const auto& [id, bytes] : *manifests) {
    auto m = schema::DecodeManifest(bytes);
    if (!m.ok()) return m.status().WithContext(where + ", checkpoint " + std::to_string(id));
    if (m->info.id != id)
      return Status::Corruption(where + ": manifest under id " + std::to_string(id) + " says it is checkpoint " +
                                std::to_string(m->info.id));
    // In version 1 the manifest itself carried the current parent and tags.
    batch.summary_puts.emplace_back(keys::EncodeU64(id), schema::EncodeSummary(m->info));
  }
  auto chunks = db.ScanChunks();
  if (!chunks.ok()) return chunks.status().WithContext(where);
  for (const auto& [d, value] : *chunks) {
    auto ref = keys::DecodeChunkRef(value);
    if (!ref) return Status::Corruption(where + ": the index entry of chunk " + d.ToHex() + " is malformed");
    if (value[0] != 'P' && value[0] != 'V') continue;  // already version 2
    batch.chunk_puts.emplace_back(keys::ChunkIndexKey(d),
                                  ref->is_inline ? keys::EncodeInlineChunk(ref->bytes.data(), ref->length)
                                                 : keys::EncodePackedChunk(ref->pack, ref->offset, ref->length));
  }
  meta.format_version = 2;
  batch.meta_puts.emplace_back(std::string(keys::kStoreMeta), schema::EncodeStoreMeta(meta));
  if (Status s = db.Commit(batch); !s.ok()) return s.WithContext(where);
  return meta;
}

}  // namespace ckptdb
