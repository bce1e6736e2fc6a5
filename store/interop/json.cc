#include "store/interop/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <unordered_set>

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

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) return out.push_back(char(cp));
  const int tail = cp < 0x800 ? 1 : cp < 0x10000 ? 2 : 3;
  static constexpr unsigned char kLead[] = {0, 0xC0, 0xE0, 0xF0};
  out.push_back(char(kLead[tail] | (cp >> (6 * tail))));
  for (int i = tail - 1; i >= 0; --i) out.push_back(char(0x80 | ((cp >> (6 * i)) & 0x3F)));
}

std::string Hex2(unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02X", c);
  return buf;
}

// Recursive descent over the whole text. Every failure records one Status and unwinds with false.
class Parser {
 public:
  explicit Parser(std::string_view text) : t_(text) {}

  Result<Value> Run() {
    Value v;
    SkipWs();
    if (!ParseValue(v, 0)) return err_;
    SkipWs();
    if (pos_ != t_.size()) return Fail("unexpected " + Describe() + " after the JSON value"), err_;
    return v;
  }

 private:
  bool Fail(const std::string& what) {
    err_ = Status::InvalidArgument("JSON: " + what + " at byte " + std::to_string(pos_));
    return false;
  }
  bool AtEnd() const { return pos_ >= t_.size(); }
  // What sits at pos_, for messages: "end of input", "character '}'" or "byte 0xC3".
  std::string Describe() const {
    if (AtEnd()) return "end of input";
    unsigned char c = t_[pos_];
    if (c >= 0x20 && c < 0x7F) return std::string("character '") + char(c) + "'";
    return "byte 0x" + Hex2(c);
  }
  void SkipWs() {
    while (!AtEnd() && (t_[pos_] == ' ' || t_[pos_] == '\t' || t_[pos_] == '\n' || t_[pos_] == '\r'))
      ++pos_;
  }
  bool Expect(char c) {
    if (!AtEnd() && t_[pos_] == c) return ++pos_, true;
    return Fail(std::string("expected '") + c + "' but found " + Describe());
  }

  bool ParseValue(Value& out, int depth) {
    if (AtEnd()) return Fail("unexpected end of input, expected a value");
    char c = t_[pos_];
    if (c == '{') return ParseObject(out, depth + 1);
    if (c == '[') return ParseArray(out, depth + 1);
    if (c == '"') {
      std::string s;
      return ParseString(s) && (out = Value::String(std::move(s)), true);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
    for (auto [word, v] : {std::pair{"true", Value::Bool(true)}, std::pair{"false", Value::Bool(false)},
                           std::pair{"null", Value()}}) {
      std::string_view w(word);
      if (t_.substr(pos_, w.size()) == w) return pos_ += w.size(), out = v, true;
    }
    return Fail("unexpected " + Describe() + ", expected a value");
  }

  // Parses `[item (, item)*]` or the object equivalent from the opening bracket at pos_.
  template <typename ParseItem>
  bool ParseList(char close, const char* kind, int depth, ParseItem item) {
    if (depth > kMaxDepth) return Fail("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    ++pos_;
    SkipWs();
    if (!AtEnd() && t_[pos_] == close) return ++pos_, true;
    while (true) {
      if (!item()) return false;
      SkipWs();
      if (!AtEnd() && t_[pos_] == close) return ++pos_, true;
      if (AtEnd() || t_[pos_] != ',') return Fail(std::string("expected ',' or '") + close + "' but found " + Describe());
      ++pos_;
      SkipWs();
      if (!AtEnd() && t_[pos_] == close) return Fail(std::string("trailing comma in ") + kind);
    }
  }

  bool ParseObject(Value& out, int depth) {
    Value::Object members;
    std::unordered_set<std::string> seen;  // duplicates are an error, and headers can be large
    bool ok = ParseList('}', "object", depth, [&] {
      if (AtEnd() || t_[pos_] != '"') return Fail("expected '\"' to start an object key but found " + Describe());
      size_t key_pos = pos_;
      std::string key;
      if (!ParseString(key)) return false;
      if (!seen.insert(key).second) return pos_ = key_pos, Fail("duplicate key '" + Printable(key) + "'");
      SkipWs();
      if (!Expect(':')) return false;
      SkipWs();
      Value v;
      if (!ParseValue(v, depth)) return false;
      members.emplace_back(std::move(key), std::move(v));
      return true;
    });
    if (ok) out = Value::MakeObject(std::move(members));
    return ok;
  }

  bool ParseArray(Value& out, int depth) {
    Value::Array items;
    bool ok = ParseList(']', "array", depth, [&] {
      Value v;
      if (!ParseValue(v, depth)) return false;
      items.push_back(std::move(v));
      return true;
    });
    if (ok) out = Value::MakeArray(std::move(items));
    return ok;
  }

  // The four hex digits at `at` as a number, or -1.
  int32_t Hex4(size_t at) const {
    const char* b = t_.data() + std::min(at, t_.size());
    const char* e = t_.data() + std::min(at + 4, t_.size());
    uint16_t v;
    auto r = std::from_chars(b, e, v, 16);
    return r.ec == std::errc() && r.ptr == b + 4 ? v : -1;
  }

  bool ParseEscape(std::string& out) {
    if (pos_ + 1 >= t_.size()) return Fail("unterminated escape sequence");
    char e = t_[pos_ + 1];
    static constexpr std::string_view kFrom = "\"\\/bfnrt", kTo = "\"\\/\b\f\n\r\t";
    if (size_t k = kFrom.find(e); k != std::string_view::npos) return out += kTo[k], pos_ += 2, true;
    if (e != 'u') return ++pos_, Fail("invalid escape '\\" + Printable(std::string(1, e)) + "'");
    int32_t cp = Hex4(pos_ + 2);
    if (cp < 0) return Fail("\\u must be followed by four hex digits");
    if (cp >= 0xDC00 && cp <= 0xDFFF) return Fail("lone low surrogate \\u" + Hex2(cp >> 8) + Hex2(cp & 0xFF));
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      int32_t lo = t_.substr(pos_ + 6, 2) == "\\u" ? Hex4(pos_ + 8) : -1;
      if (lo < 0xDC00 || lo > 0xDFFF)
        return Fail("lone high surrogate \\u" + Hex2(cp >> 8) + Hex2(cp & 0xFF) + " (not followed by a low one)");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      pos_ += 6;
    }
    AppendUtf8(out, uint32_t(cp));
    pos_ += 6;
    return true;
  }

  bool ParseString(std::string& out) {
    ++pos_;  // the opening quote
    while (true) {
      size_t run = pos_;  // copy runs of plain ASCII at once: headers are mostly that
      while (run < t_.size() && t_[run] != '"' && t_[run] != '\\' && (unsigned char)t_[run] >= 0x20 &&
             (unsigned char)t_[run] < 0x80)
        ++run;
      out.append(t_.substr(pos_, run - pos_));
      pos_ = run;
      if (AtEnd()) return Fail("unterminated string");
      unsigned char c = t_[pos_];
      if (c == '"') return ++pos_, true;
      if (c == '\\') {
        if (!ParseEscape(out)) return false;
      } else if (c < 0x20) {
        return Fail("unescaped control character 0x" + Hex2(c) + " in string");
      } else {
        size_t len = Utf8Len(t_, pos_);
        if (len == 0) return Fail("invalid UTF-8");
        out.append(t_.substr(pos_, len));
        pos_ += len;
      }
    }
  }

  bool Digits(const char* what) {
    if (AtEnd() || t_[pos_] < '0' || t_[pos_] > '9') return Fail(std::string("expected a digit ") + what);
    while (!AtEnd() && t_[pos_] >= '0' && t_[pos_] <= '9') ++pos_;
    return true;
  }

  bool ParseNumber(Value& out) {
    const size_t start = pos_;
    const bool negative = t_[pos_] == '-';
    if (negative) ++pos_;
    if (!AtEnd() && t_[pos_] == '0') {
      ++pos_;
      if (!AtEnd() && t_[pos_] >= '0' && t_[pos_] <= '9') return Fail("leading zero in number");
    } else if (!Digits(negative ? "after '-'" : "")) {
      return false;
    }
    bool integral = true;
    if (!AtEnd() && t_[pos_] == '.') {
      ++pos_, integral = false;
      if (!Digits("after '.'")) return false;
    }
    if (!AtEnd() && (t_[pos_] == 'e' || t_[pos_] == 'E')) {
      ++pos_, integral = false;
      if (!AtEnd() && (t_[pos_] == '+' || t_[pos_] == '-')) ++pos_;
      if (!Digits("in exponent")) return false;
    }
    const char* b = t_.data() + start;
    const char* e = t_.data() + pos_;
    // "-0" is kept a double so its sign survives (serde_json, the reference reader, does the same).
    if (integral && t_.substr(start, pos_ - start) != "-0") {
      if (negative) {
        int64_t i;
        if (auto r = std::from_chars(b, e, i); r.ec == std::errc() && r.ptr == e) return out = Value::Int(i), true;
      } else {
        uint64_t u;
        if (auto r = std::from_chars(b, e, u); r.ec == std::errc() && r.ptr == e) return out = Value::Uint(u), true;
      }
    }
    double d;
    auto r = std::from_chars(b, e, d);
    if (r.ec != std::errc() || r.ptr != e) {
      pos_ = start;
      return Fail("number out of range");
    }
    out = Value::Double(d);
    return true;
  }

  std::string_view t_;
  size_t pos_ = 0;
  Status err_;
};

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

Result<Value> Parse(std::string_view text) { return Parser(text).Run(); }

// ---- Writer

void Writer::Newline() {
  if (pretty_) out_.append("\n").append(2 * stack_.size(), ' ');
}

void Writer::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (stack_.empty()) return;
  Frame& f = stack_.back();
  if (!f.empty) out_ += ',';
  f.empty = false;
  Newline();
}

void Writer::Close(char c) {
  if (stack_.empty()) return;  // unbalanced End: ignore rather than corrupt memory
  bool empty = stack_.back().empty;
  stack_.pop_back();
  if (!empty) Newline();
  out_ += c;
}

Writer& Writer::BeginObject() { return BeforeValue(), Raw("{"), stack_.push_back({true}), *this; }
Writer& Writer::EndObject() { return Close('}'), *this; }
Writer& Writer::BeginArray() { return BeforeValue(), Raw("["), stack_.push_back({false}), *this; }
Writer& Writer::EndArray() { return Close(']'), *this; }

Writer& Writer::Key(std::string_view key) {
  after_key_ = false;
  BeforeValue();
  Escaped(key);
  Raw(pretty_ ? ": " : ":");
  after_key_ = true;
  return *this;
}

Writer& Writer::String(std::string_view s) {
  BeforeValue();
  Escaped(s);
  return *this;
}

void Writer::Escaped(std::string_view s) {
  out_ += '"';
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    if (c == '"' || c == '\\') {
      out_.append({'\\', char(c)});
    } else if (c < 0x20) {
      static constexpr std::string_view kShort = "\b\f\n\r\t", kLetter = "bfnrt";
      size_t k = kShort.find(char(c));
      out_.append(k != std::string_view::npos ? std::string{'\\', kLetter[k]} : "\\u00" + Hex2(c));
    } else if (c < 0x80) {
      out_ += char(c);
    } else if (size_t len = Utf8Len(s, i)) {
      out_.append(s.substr(i, len));
      i += len;
      continue;
    } else {
      out_.append("\\ufffd");
    }
    ++i;
  }
  out_ += '"';
}

Writer& Writer::Int(int64_t i) { return BeforeValue(), Raw(std::to_string(i)), *this; }
Writer& Writer::Uint(uint64_t u) { return BeforeValue(), Raw(std::to_string(u)), *this; }
Writer& Writer::Bool(bool b) { return BeforeValue(), Raw(b ? "true" : "false"), *this; }
Writer& Writer::Null() { return BeforeValue(), Raw("null"), *this; }

Writer& Writer::Double(double d) {
  if (!std::isfinite(d)) return Null();
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);  // shortest form that round-trips
  std::string_view s(buf, r.ptr - buf);
  BeforeValue();
  Raw(s);
  if (s.find_first_of(".e") == std::string_view::npos) Raw(".0");
  return *this;
}

Writer& Writer::Write(const Value& v) {
  switch (v.type()) {
    case Value::Type::kNull: return Null();
    case Value::Type::kBool: return Bool(v.as_bool());
    case Value::Type::kNumber:
      if (!v.is_integer()) return Double(v.as_double());
      return v.is_uint64() ? Uint(v.as_uint64()) : Int(v.as_int64());
    case Value::Type::kString: return String(v.as_string());
    case Value::Type::kArray:
      BeginArray();
      for (const Value& item : v.as_array()) Write(item);
      return EndArray();
    case Value::Type::kObject:
      BeginObject();
      for (const auto& [k, item] : v.as_object()) Key(k).Write(item);
      return EndObject();
  }
  return *this;
}

std::string ToJson(const Value& v, bool pretty) {
  Writer w(pretty);
  w.Write(v);
  return w.str();
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
