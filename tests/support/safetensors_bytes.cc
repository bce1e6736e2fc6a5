#include "tests/support/safetensors_bytes.h"

#include <cstdio>
#include <utility>

namespace ckptdb::cli_tests {

std::string RandomString(uint64_t seed, size_t n) {
  std::string s(n, '\0');
  testing::FillRandom(seed, s.data(), n);
  return s;
}

Src Random(std::string name, DType dtype, Shape shape, uint64_t seed) {
  const uint64_t n = *ExpectedBytes(dtype, shape);
  Src s{std::move(name), dtype, std::move(shape), RandomString(seed, n)};
  if (dtype == DType::kBool)
    for (char& c : s.bytes) c = char(c & 1);
  return s;
}

std::string Le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char(uint8_t(v >> (8 * i)));
  return s;
}

std::string Framed(const std::string& header, const std::string& data) { return Le64(header.size()) + header + data; }

std::string Quote(const std::string& s) {
  std::string q = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      q += '\\';
      q += char(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      q += buf;
    } else {
      q += char(c);
    }
  }
  return q + "\"";
}

std::string HeaderJson(const std::vector<Src>& tensors, const std::map<std::string, std::string>& metadata) {
  std::string h = "{";
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    for (const auto& [k, v] : metadata) h += Quote(k) + ":" + Quote(v) + ",";
    h.back() = '}';
    h += ",";
  }
  uint64_t off = 0;
  for (const auto& t : tensors) {
    h += Quote(t.name) + ":{\"dtype\":\"" + std::string(DTypeName(t.dtype)) + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) h += (i ? "," : "") + std::to_string(t.shape[i]);
    h += "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + t.bytes.size()) + "]},";
    off += t.bytes.size();
  }
  if (h.size() > 1) h.pop_back();
  return h + "}";
}

std::string Safetensors(const std::vector<Src>& tensors, const std::map<std::string, std::string>& metadata) {
  std::string h = HeaderJson(tensors, metadata);
  h.append((8 - h.size() % 8) % 8, ' ');
  std::string data;
  for (const auto& t : tensors) data += t.bytes;
  return Framed(h, data);
}

std::string WriteFile(const testing::ScratchDir& dir, const std::string& name, const std::string& bytes) {
  const std::string path = dir.Join(name);
  testing::WriteFileOrDie(path, bytes);
  return path;
}

}  // namespace ckptdb::cli_tests
