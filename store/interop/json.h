// Strict JSON for the library: a DOM parser for safetensors headers and a writer for safetensors
// headers and the CLI's `--json` output. Internal to the library (not in api/): the CLI reaches it
// through tools/json.h, so there is one copy.
//
// Lexing, parsing, UTF-8 validation, escapes and number formatting are nlohmann-json's
// (json_parse.cc and json_write.cc drive nlohmann::ordered_json; this header keeps nlohmann out of
// its includers). nlohmann follows RFC 8259 strictly: the text must be valid UTF-8, every escape is
// checked (a lone \uXXXX surrogate is an error), no trailing commas, nothing but whitespace after the
// value. Parse adds what nlohmann does not check: a byte-order mark and a NUL byte are rejected
// (nlohmann would skip the one and take the other for the end), at most kMaxDepth nested
// arrays/objects, and duplicate object keys are rejected (RFC 8259 leaves them undefined; for a
// safetensors header a duplicate tensor name is corruption).
// Numbers that are written as integers and fit int64 or uint64 are kept exactly (safetensors offsets
// are u64 and may exceed 2^53); every other number is a double, and one too large or too small
// (non-zero but below the smallest subnormal) for a double is rejected, as RFC 8259 section 9
// allows, rather than silently turned into infinity or zero.
//
// Value is this library's own tree rather than an ordered_json: find() hands out pointers to Values
// and as_array()/as_object() references to vectors of them, which an ordered_json (whose children
// are ordered_jsons) cannot provide.
//
// Thread safety: values; distinct objects may be used from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "ckptdb/status.h"

namespace ckptdb::json {

// Arrays and objects nested deeper than this are rejected, so parsing (and destroying) a value
// never recurses without bound on hostile input.
inline constexpr int kMaxDepth = 128;

class Value {
 public:
  enum class Type : uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };
  using Array = std::vector<Value>;
  // Members in the order they were written (insertion order); keys are unique after Parse.
  using Object = std::vector<std::pair<std::string, Value>>;

  Value() = default;  // null
  static Value Bool(bool b) { return Value(Rep(b)); }
  static Value Int(int64_t i);  // a non-negative value is stored as uint64 so equal numbers compare equal
  static Value Uint(uint64_t u) { return Value(Rep(u)); }
  static Value Double(double d) { return Value(Rep(d)); }
  static Value String(std::string s) { return Value(Rep(std::move(s))); }
  static Value MakeArray(Array a = {}) { return Value(Rep(std::move(a))); }
  static Value MakeObject(Object o = {}) { return Value(Rep(std::move(o))); }

  Type type() const;
  bool is_null() const { return type() == Type::kNull; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_number() const { return type() == Type::kNumber; }
  bool is_string() const { return type() == Type::kString; }
  bool is_array() const { return type() == Type::kArray; }
  bool is_object() const { return type() == Type::kObject; }
  // True for a number written as an integer literal that fit 64 bits (never for a double).
  bool is_integer() const;
  // True when the number is an integer that as_int64() / as_uint64() return exactly.
  bool is_int64() const;
  bool is_uint64() const;

  // The accessors never crash: on the wrong type they return false, 0, 0.0 or an empty
  // string/array/object. Check with is_*() first when the difference matters.
  bool as_bool() const;
  int64_t as_int64() const;
  uint64_t as_uint64() const;
  double as_double() const;  // any number; a large integer is rounded to the nearest double
  const std::string& as_string() const;
  const Array& as_array() const;
  const Object& as_object() const;

  // The value of member `key` of an object, or nullptr if absent or this is not an object. Linear.
  const Value* find(std::string_view key) const;

  // Structural equality; numbers compare equal only when stored the same way (int vs double).
  bool operator==(const Value& other) const = default;

 private:
  using Rep = std::variant<std::monostate, bool, int64_t, uint64_t, double, std::string, Array, Object>;
  explicit Value(Rep rep) : rep_(std::move(rep)) {}
  Rep rep_;
};

// Parses one JSON text. Errors are InvalidArgument (the caller handed us malformed text; callers
// reading files re-label them Corruption) with a one-line message naming the problem and the
// 0-based byte offset where it was found: "JSON: expected ':' but found character '1' at byte 17".
// The offset is where the offending token starts (a misplaced token, a duplicate key, a number out of
// range, a bracket too deep) or, inside a string or number, the first byte that cannot continue it.
Result<Value> Parse(std::string_view text);

// Builds one JSON value call by call and writes it with nlohmann's serialiser. Calls must form one
// well-nested JSON value: inside an object, every value is preceded by Key(). Misuse (an End
// without its Begin, a value without its Key, a second top-level value) never crashes, but what it
// writes is unspecified. Pretty output puts every member and element on its own line indented by
// 2 spaces per level; empty containers stay "{}" and "[]".
// Strings are escaped: '"' and '\\', control characters as \b \f \n \r \t or \u00XX, and any
// invalid UTF-8 sequence is replaced by \ufffd so the output is always valid JSON (a genuine U+FFFD is
// written as \ufffd too: the same JSON).
// Doubles use a short form that reads back to the same double (nlohmann's Grisu2: almost always the
// shortest), with ".0" added when that form looks like an integer so a reader keeps it a double;
// NaN and infinities, which JSON cannot express, are written as null.
// Thread safety: one Writer is used by one thread at a time. A moved-from Writer may only be
// destroyed or assigned to.
class Writer {
 public:
  explicit Writer(bool pretty = false);
  ~Writer();
  Writer(const Writer& other);
  Writer& operator=(const Writer& other);
  Writer(Writer&&) noexcept;
  Writer& operator=(Writer&&) noexcept;

  Writer& BeginObject();
  Writer& EndObject();
  Writer& BeginArray();
  Writer& EndArray();
  Writer& Key(std::string_view key);
  Writer& String(std::string_view s);
  Writer& Int(int64_t i);
  Writer& Uint(uint64_t u);
  Writer& Double(double d);
  Writer& Bool(bool b);
  Writer& Null();
  // Writes a whole parsed value.
  Writer& Write(const Value& v);

  // The document, once every Begin has its End (before that: "null", or the last top-level value
  // completed). Serialised on each call; the reference is valid until the next call.
  const std::string& str() const;

 private:
  struct Doc;  // the nlohmann::ordered_json under construction (json.cc)

  bool pretty_;
  std::unique_ptr<Doc> doc_;
  mutable std::string out_;
};

// Serialises a value (compact unless pretty).
std::string ToJson(const Value& v, bool pretty = false);

// `s` made safe for a one-line error message: control characters and invalid UTF-8 bytes escaped
// (\n, \xNN), cut to `max_bytes` with "..." appended. Used to quote names taken from files.
std::string Printable(std::string_view s, size_t max_bytes = 80);

}  // namespace ckptdb::json
