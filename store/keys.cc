#include "store/keys.h"

namespace ckptdb::keys {
namespace {

std::string PrefixedDigest(char prefix, const Digest& d) {
  std::string k(1 + d.bytes.size(), prefix);
  for (size_t i = 0; i < d.bytes.size(); ++i) k[1 + i] = static_cast<char>(d.bytes[i]);
  return k;
}

}  // namespace

std::string ChunkIndexKey(const Digest& d) { return PrefixedDigest(kChunkIndex, d); }

std::optional<Digest> DigestFromChunkKey(std::string_view key) {
  Digest d;
  if (key.size() != 1 + d.bytes.size()) return std::nullopt;
  for (size_t i = 0; i < d.bytes.size(); ++i) d.bytes[i] = static_cast<uint8_t>(key[1 + i]);
  return d;
}

std::string EncodeU64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) s[i] = static_cast<char>(v & 0xff);
  return s;
}

std::optional<uint64_t> DecodeU64(std::string_view b) {
  if (b.size() != 8) return std::nullopt;
  uint64_t v = 0;
  for (char c : b) v = (v << 8) | static_cast<uint8_t>(c);
  return v;
}

std::string EncodePackedChunk(uint64_t pack, uint64_t offset, uint64_t length) {
  std::string v;
  v.reserve(34);
  v.push_back('Q');
  v.push_back(static_cast<char>(kCodecNone));
  v.append(EncodeU64(pack)).append(EncodeU64(offset)).append(EncodeU64(length)).append(EncodeU64(length));
  return v;
}

std::string EncodeInlineChunk(const void* data, uint64_t length) {
  std::string v;
  v.reserve(10 + length);
  v.push_back('W');
  v.push_back(static_cast<char>(kCodecNone));
  v.append(EncodeU64(length));
  v.append(static_cast<const char*>(data), length);
  return v;
}

std::optional<ChunkRef> DecodeChunkRef(std::string_view v) {
  ChunkRef r;
  if (v.empty()) return std::nullopt;
  switch (v[0]) {
    case 'V':  // version 1 inline
      r.is_inline = true;
      r.bytes = v.substr(1);
      r.length = r.raw_length = r.bytes.size();
      return r;
    case 'W':
      if (v.size() < 10) return std::nullopt;
      r.is_inline = true;
      r.codec = static_cast<uint8_t>(v[1]);
      r.raw_length = *DecodeU64(v.substr(2, 8));
      r.bytes = v.substr(10);
      r.length = r.bytes.size();
      return r;
    case 'P':  // version 1 packed
      if (v.size() != 25) return std::nullopt;
      r.pack = *DecodeU64(v.substr(1, 8));
      r.offset = *DecodeU64(v.substr(9, 8));
      r.length = r.raw_length = *DecodeU64(v.substr(17, 8));
      return r;
    case 'Q':
      if (v.size() != 34) return std::nullopt;
      r.codec = static_cast<uint8_t>(v[1]);
      r.pack = *DecodeU64(v.substr(2, 8));
      r.offset = *DecodeU64(v.substr(10, 8));
      r.length = *DecodeU64(v.substr(18, 8));
      r.raw_length = *DecodeU64(v.substr(26, 8));
      return r;
    default:
      return std::nullopt;
  }
}

std::string TagKey(std::string_view tag) {
  std::string k(kTagPrefix);
  k.append(tag);
  return k;
}

}  // namespace ckptdb::keys
