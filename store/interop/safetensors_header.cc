#include "store/interop/safetensors_header.h"

#include <algorithm>
#include <unordered_set>

#include "store/interop/json.h"
#include "store/human_text.h"

namespace ckptdb {
namespace {

std::string Num(uint64_t v) { return std::to_string(v); }
// Built by appending: GCC 12 at -O3 misreads `"x" + std::string` as an overlapping copy (-Wrestrict).
std::string Quoted(std::string_view name) {
  std::string s(1, '\'');
  s.append(json::Printable(name)).push_back('\'');
  return s;
}
std::string Offsets(uint64_t b, uint64_t e) {
  std::string s(1, '[');
  s.append(Num(b)).append(", ").append(Num(e)).push_back(']');
  return s;
}

std::string_view TypeName(const json::Value& v) {
  static constexpr std::string_view kNames[] = {"null", "bool", "number", "string", "array", "object"};
  return kNames[static_cast<int>(v.type())];
}
// A JSON value as it would appear in the file, kept short for a one-line message.
std::string Show(const json::Value& v) { return json::Printable(json::ToJson(v), 40); }

// One tensor's header entry, checked on its own; `data_size` is the data section's length.
Result<SafetensorsEntry> ParseEntry(const std::string& name, const json::Value& v, uint64_t data_size) {
  const std::string who = "tensor " + Quoted(name);
  auto bad = [&](const std::string& what) { return Status::Corruption(who + ": " + what); };
  if (name.empty()) return Status::Corruption("a tensor has an empty name");
  if (!v.is_object()) return bad("entry is " + std::string(TypeName(v)) + ", not an object");
  for (const auto& [field, unused] : v.as_object())
    if (field != "dtype" && field != "shape" && field != "data_offsets") return bad("unexpected field " + Quoted(field));
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!v.find(field)) return bad(std::string("missing field '") + field + "'");

  SafetensorsEntry e;
  e.name = name;
  const json::Value& dtype = *v.find("dtype");
  if (!dtype.is_string()) return bad("dtype is " + Show(dtype) + ", not a string");
  auto parsed = ParseDType(dtype.as_string());
  if (!parsed) return Status::Corruption("unknown dtype " + Quoted(dtype.as_string()) + " for " + who);
  e.dtype = *parsed;

  const json::Value& shape = *v.find("shape");
  if (!shape.is_array()) return bad("shape is " + Show(shape) + ", not an array");
  for (const json::Value& d : shape.as_array()) {
    // Integer literals only: the reference reads usize and rejects 2.0 and -1 alike.
    if (!d.is_int64() || d.as_int64() < 0)
      return bad("shape " + Show(shape) + " has entry " + Show(d) + ", not a non-negative integer");
    e.shape.push_back(d.as_int64());
  }

  const json::Value& offsets = *v.find("data_offsets");
  const auto& o = offsets.as_array();
  if (o.size() != 2 || !o[0].is_uint64() || !o[1].is_uint64())
    return bad("data_offsets " + Show(offsets) + " is not [begin, end] with two non-negative integers");
  e.begin = o[0].as_uint64();
  e.end = o[1].as_uint64();
  const std::string where = "data_offsets " + Offsets(e.begin, e.end);
  if (e.end < e.begin) return bad(where + " end before they begin");
  const std::string what = "shape " + ShapeToString(e.shape) + " of " + std::string(DTypeName(e.dtype));
  auto need = ExpectedBytes(e.dtype, e.shape);
  if (!need) return bad(what + " has more than 2^64 bytes");
  if (e.end - e.begin != *need)
    return bad(where + " hold " + Plural(e.end - e.begin, "byte") + " but " + what + " needs " + Num(*need));
  if (e.end > data_size)
    return bad(where + " run past the end of the data section (" + Num(data_size) +
               " bytes; is the file truncated?)");
  return e;
}

}  // namespace

Result<uint64_t> ParseSafetensorsPrefix(const uint8_t prefix[8], uint64_t file_size) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | prefix[i];  // little-endian, whatever the host
  if (n > kSafetensorsMaxHeaderBytes)
    return Status::Corruption("header length " + Num(n) + " exceeds the " + Num(kSafetensorsMaxHeaderBytes) +
                              "-byte limit");
  if (n > file_size - 8)
    return Status::Corruption("header length " + Num(n) + " runs past the end of the file (" + Num(file_size) +
                              " bytes)");
  return n;
}

Result<SafetensorsHeader> ParseSafetensorsHeader(std::string_view text, uint64_t data_size) {
  // The reference requires '{' first; JSON alone would also allow leading whitespace.
  if (text.empty() || text[0] != '{') return Status::Corruption("header does not start with '{'");
  auto root = json::Parse(text);
  if (!root.ok()) {
    std::string msg = root.status().message();
    if (msg.rfind("JSON: ", 0) == 0) msg.erase(0, 6);
    return Status::Corruption("header is not valid JSON: " + msg + " of the header");
  }
  SafetensorsHeader out;
  for (const auto& [key, v] : root->as_object()) {
    if (key == kSafetensorsMetadataKey) {
      if (!v.is_object())
        return Status::Corruption("__metadata__ is " + std::string(TypeName(v)) + ", not an object");
      for (const auto& [mk, mv] : v.as_object()) {
        if (!mv.is_string())
          return Status::Corruption("__metadata__ value for key " + Quoted(mk) + " is " + Show(mv) +
                                    ", not a string");
        out.metadata.emplace(mk, mv.as_string());
      }
      continue;
    }
    auto entry = ParseEntry(key, v, data_size);
    if (!entry.ok()) return entry.status();
    out.tensors.push_back(std::move(entry).value());
  }

  // As the reference does: order by offsets, then demand an exact tiling of the data section.
  auto& t = out.tensors;
  std::stable_sort(t.begin(), t.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].begin > covered)
      return Status::Corruption("bytes [" + Num(covered) + ", " + Num(t[i].begin) + ")" +
                                " of the data section belong to no tensor (a hole before tensor " +
                                Quoted(t[i].name) + ")");
    if (t[i].begin < covered)
      return Status::Corruption("tensor " + Quoted(t[i].name) + " data_offsets " + Offsets(t[i].begin, t[i].end) +
                                " overlap tensor " + Quoted(t[i - 1].name) + " data_offsets " +
                                Offsets(t[i - 1].begin, t[i - 1].end));
    covered = t[i].end;
  }
  if (covered != data_size)
    return Status::Corruption("the data section is " + Plural(data_size, "byte") + " but the tensors cover only " +
                              Num(covered) + " (trailing bytes after the last tensor)");
  return out;
}

Result<std::string> EncodeSafetensorsHeader(std::span<const TensorRef> tensors,
                                            const std::map<std::string, std::string>& metadata) {
  std::unordered_set<std::string_view> names;
  for (const TensorRef& t : tensors) {
    if (t.name.empty()) return Status::InvalidArgument("tensor name is empty");
    // The reference would read "__metadata__" as the metadata map, and keep one of two duplicates.
    if (t.name == kSafetensorsMetadataKey)
      return Status::InvalidArgument("tensor name '__metadata__' is reserved for the metadata map");
    if (!names.insert(t.name).second) return Status::InvalidArgument("duplicate tensor name " + Quoted(t.name));
    // The offsets written are the sizes summed, so a size that disagrees would misplace every later tensor.
    if (ExpectedBytes(t.dtype, t.shape) != t.size_bytes)
      return Status::InvalidArgument("tensor " + Quoted(t.name) + ": " + Plural(t.size_bytes, "byte") +
                                     (t.size_bytes == 1 ? " does" : " do") + " not fit shape " +
                                     ShapeToString(t.shape) + " of " +
                                     std::string(DTypeName(t.dtype)));
  }
  for (const auto& [k, v] : metadata)
    if (!IsValidUtf8(k) || !IsValidUtf8(v))
      return Status::InvalidArgument("metadata key " + Quoted(k) + " or its value is not valid UTF-8");

  json::Writer w;
  w.BeginObject();
  if (!metadata.empty()) {
    w.Key(kSafetensorsMetadataKey).BeginObject();
    for (const auto& [k, v] : metadata) w.Key(k).String(v);
    w.EndObject();
  }
  uint64_t offset = 0;
  for (const TensorRef& t : tensors) {
    w.Key(t.name).BeginObject().Key("dtype").String(DTypeName(t.dtype)).Key("shape").BeginArray();
    for (int64_t d : t.shape) w.Int(d);
    uint64_t end;
    if (__builtin_add_overflow(offset, t.size_bytes, &end))
      return Status::InvalidArgument("tensors total more than 2^64 bytes");
    w.EndArray().Key("data_offsets").BeginArray().Uint(offset).Uint(end).EndArray().EndObject();
    offset = end;
  }
  w.EndObject();
  std::string header = w.str();
  header.append((8 - header.size() % 8) % 8, ' ');  // spaces are JSON whitespace: aligns the data
  if (header.size() > kSafetensorsMaxHeaderBytes)
    return Status::InvalidArgument("header would be " + Num(header.size()) + " bytes, over the " +
                                   Num(kSafetensorsMaxHeaderBytes) + "-byte limit readers enforce");
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = char(uint8_t(uint64_t(header.size()) >> (8 * i)));
  out.append(header);
  return out;
}

}  // namespace ckptdb
