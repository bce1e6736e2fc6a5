#include "ckptdb/digest.h"

#include "store/blake3.h"

namespace ckptdb {
namespace {

// -1 for anything that is not a hex digit, so FromHex needs no separate validation pass.
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string Digest::ToHex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    s[2 * i] = kDigits[bytes[i] >> 4];
    s[2 * i + 1] = kDigits[bytes[i] & 0xF];
  }
  return s;
}

std::optional<Digest> Digest::FromHex(std::string_view hex) {
  Digest d;
  if (hex.size() != d.bytes.size() * 2) return std::nullopt;
  for (size_t i = 0; i < d.bytes.size(); ++i) {
    int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    d.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return d;
}

Digest HashBytes(const void* data, size_t len) {
  static_assert(sizeof(Digest::bytes) == blake3::kOutLen);
  Digest d;
  blake3::Hash(data, len, d.bytes.data());
  return d;
}

}  // namespace ckptdb
