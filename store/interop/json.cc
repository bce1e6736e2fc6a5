// json::Value's accessors and json::Printable. Parsing is in json_parse.cc, writing in
// json_write.cc.
#include "store/interop/json.h"

#include <cstdio>
#include <limits>

#include "ckptdb/tensor.h"  // IsValidUtf8

namespace ckptdb::json {
namespace {

// The length of the well-formed UTF-8 sequence starting at s[i], or 0 if it is not one.
size_t Utf8Len(std::string_view s, size_t i) {
  unsigned char c = s[i];
  size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (len == 0 || i + len > s.size() || !IsValidUtf8(s.substr(i, len))) return 0;
  return len;
}

std::string Hex2(unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02X", c);
  return buf;
}

}  // namespace

Value Value::Int(int64_t i) { return i >= 0 ? Value(Rep(uint64_t(i))) : Value(Rep(i)); }

Value::Type Value::type() const {
  static constexpr Type kByIndex[] = {Type::kNull,   Type::kBool,   Type::kNumber, Type::kNumber,
                                      Type::kNumber, Type::kString, Type::kArray,  Type::kObject};
  return kByIndex[rep_.index()];
}

bool Value::is_integer() const { return std::holds_alternative<int64_t>(rep_) || is_uint64(); }
bool Value::is_int64() const {
  if (auto* u = std::get_if<uint64_t>(&rep_)) return *u <= uint64_t(std::numeric_limits<int64_t>::max());
  return std::holds_alternative<int64_t>(rep_);
}
bool Value::is_uint64() const { return std::holds_alternative<uint64_t>(rep_); }

bool Value::as_bool() const { return std::holds_alternative<bool>(rep_) && std::get<bool>(rep_); }
int64_t Value::as_int64() const {
  if (auto* i = std::get_if<int64_t>(&rep_)) return *i;
  return is_int64() ? int64_t(std::get<uint64_t>(rep_)) : 0;
}
uint64_t Value::as_uint64() const { return is_uint64() ? std::get<uint64_t>(rep_) : 0; }
double Value::as_double() const {
  if (auto* i = std::get_if<int64_t>(&rep_)) return double(*i);
  if (auto* u = std::get_if<uint64_t>(&rep_)) return double(*u);
  if (auto* d = std::get_if<double>(&rep_)) return *d;
  return 0.0;
}
const std::string& Value::as_string() const {
  static const std::string kEmpty;
  auto* s = std::get_if<std::string>(&rep_);
  return s ? *s : kEmpty;
}
const Value::Array& Value::as_array() const {
  static const Array kEmpty;
  auto* a = std::get_if<Array>(&rep_);
  return a ? *a : kEmpty;
}
const Value::Object& Value::as_object() const {
  static const Object kEmpty;
  auto* o = std::get_if<Object>(&rep_);
  return o ? *o : kEmpty;
}
const Value* Value::find(std::string_view key) const {
  for (const auto& [k, v] : as_object())
    if (k == key) return &v;
  return nullptr;
}

std::string Printable(std::string_view s, size_t max_bytes) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (out.size() >= max_bytes) return out + "...";
    unsigned char c = s[i];
    size_t len = c >= 0x80 ? Utf8Len(s, i) : 1;
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c == 0x7F || len == 0) out += "\\x" + Hex2(c);
    else out.append(s.substr(i, len));
    i += len ? len : 1;
  }
  return out;
}

}  // namespace ckptdb::json
