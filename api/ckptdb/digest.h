// Digest: the BLAKE3-256 content address of a chunk.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ckptdb {

struct Digest {
  std::array<uint8_t, 32> bytes{};

  // 64 lowercase hex characters.
  std::string ToHex() const;
  // Parses 64 hex characters (either case); nullopt otherwise.
  static std::optional<Digest> FromHex(std::string_view hex);

  friend bool operator==(const Digest&, const Digest&) = default;
  friend auto operator<=>(const Digest&, const Digest&) = default;
};

// The BLAKE3-256 digest of `len` bytes at `data` (hash mode, no key). Thread-safe.
Digest HashBytes(const void* data, size_t len);

}  // namespace ckptdb
