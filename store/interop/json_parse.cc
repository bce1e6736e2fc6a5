// json::Parse: nlohmann-json lexes and parses; a SAX handler builds the Value tree and adds the
// checks nlohmann leaves out (duplicate keys, depth, underflow, a byte-order mark, a NUL byte),
// and turns nlohmann's errors into this library's one-line messages with byte offsets.
#include <algorithm>
#include <cstdio>
#include <iterator>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "store/interop/json.h"

namespace ckptdb::json {
namespace {

using nlohmann::ordered_json;

// The iterator nlohmann reads the text through: a pointer that also publishes how far the lexer has
// read. nlohmann tells only parse_error where it is, and the SAX checks need offsets too.
class TrackedChars {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  TrackedChars(const char* p, const char** read_to) : p_(p), read_to_(read_to) {}
  reference operator*() const { return *p_; }
  TrackedChars& operator++() {
    *read_to_ = ++p_;
    return *this;
  }
  TrackedChars operator++(int) {
    TrackedChars before = *this;
    ++*this;
    return before;
  }
  bool operator==(const TrackedChars& other) const { return p_ == other.p_; }

 private:
  const char* p_;
  const char** read_to_;
};

std::string_view After(std::string_view s, std::string_view marker) {
  size_t at = s.find(marker);
  return at == std::string_view::npos ? std::string_view() : s.substr(at + marker.size());
}

// Builds the Value as nlohmann reports it. Every failure records one Status and returns false,
// which makes nlohmann stop.
class Builder {
 public:
  explicit Builder(std::string_view text) : text_(text), read_to_(text.data()) { stack_.reserve(kMaxDepth); }

  TrackedChars begin() { return TrackedChars(text_.data(), &read_to_); }
  TrackedChars end() { return TrackedChars(text_.data() + text_.size(), &read_to_); }
  // After nlohmann gave up: the error recorded.
  Result<Value> Take() { return err_.ok() ? Status::InvalidArgument("JSON: parser stopped without an error") : err_; }
  // After nlohmann succeeded: the value, unless nlohmann stopped on a NUL byte, which it takes for
  // the end of the text (the last byte it read, as nothing valid contains one).
  Result<Value> TakeWhole() {
    if (ReadTo() > 0 && text_[ReadTo() - 1] == '\0')
      return Fail("unexpected byte 0x00 after the JSON value", ReadTo() - 1), err_;
    return std::move(root_);
  }

  // ---- the SAX interface nlohmann::ordered_json::sax_parse calls
  bool null() { return Add(Value()); }
  bool boolean(bool b) { return Add(Value::Bool(b)); }
  // nlohmann reports only negative integers here, and "-0" as 0: kept a double so its sign survives
  // (serde_json, the reference reader, does the same).
  bool number_integer(int64_t i) { return Add(i == 0 ? Value::Double(-0.0) : Value::Int(i)); }
  bool number_unsigned(uint64_t u) { return Add(Value::Uint(u)); }
  bool number_float(double d, const std::string& literal) {
    // nlohmann rejects overflow to infinity itself but lets underflow become zero.
    if (d == 0 && literal.substr(0, literal.find_first_of("eE")).find_first_of("123456789") != std::string::npos)
      return Fail("number out of range", NumberStart(literal));
    return Add(Value::Double(d));
  }
  // Strings and keys are copied, not moved, out of nlohmann's token buffer: moving would take its
  // capacity, and regrowing it for every string cost a 50 MB header parse about 5% more CPU.
  bool string(std::string& s) { return Add(Value::String(s)); }
  bool binary(ordered_json::binary_t&) { return false; }  // JSON text has none
  bool start_object(size_t) { return Open(true); }
  bool start_array(size_t) { return Open(false); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool key(std::string& k) {
    Frame& f = stack_.back();
    if (IsDuplicate(f, k)) return Fail("duplicate key '" + Printable(k) + "'", KeyStart());
    f.key = k;
    return true;
  }
  bool parse_error(size_t position, const std::string& last_token, const ordered_json::exception& e);

 private:
  struct Frame {
    bool is_object;
    Value::Array items;
    Value::Object members;
    std::string key;                          // of the member whose value comes next
    std::unordered_set<std::string> index;    // the keys, once the object is too big to scan
  };
  static constexpr size_t kScanKeysBelow = 16;  // headers are mostly small objects

  size_t ReadTo() const { return size_t(read_to_ - text_.data()); }

  bool Fail(const std::string& what, size_t at) {
    err_ = Status::InvalidArgument("JSON: " + what + " at byte " + std::to_string(at));
    return false;
  }

  bool Add(Value v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      done_ = true;
      return true;
    }
    Frame& f = stack_.back();
    if (f.is_object) f.members.emplace_back(std::move(f.key), std::move(v));
    else f.items.push_back(std::move(v));
    return true;
  }
  bool Open(bool is_object) {
    // nlohmann's parser does not recurse, but destroying a Value does; the bracket was just read.
    if (stack_.size() >= size_t(kMaxDepth))
      return Fail("nesting deeper than " + std::to_string(kMaxDepth) + " levels", ReadTo() - 1);
    stack_.push_back(Frame{is_object, {}, {}, {}, {}});
    return true;
  }
  bool Close() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    return Add(f.is_object ? Value::MakeObject(std::move(f.members)) : Value::MakeArray(std::move(f.items)));
  }
  bool IsDuplicate(Frame& f, const std::string& k) {
    if (f.members.size() < kScanKeysBelow)
      return std::any_of(f.members.begin(), f.members.end(), [&](const auto& m) { return m.first == k; });
    if (f.index.empty())
      for (const auto& m : f.members) f.index.insert(m.first);
    return !f.index.insert(k).second;
  }

  // key() comes right after the key's closing quote is read: its opening quote is the nearest
  // earlier '"' not escaped by an odd run of backslashes.
  size_t KeyStart() const {
    for (size_t i = ReadTo() - 1; i-- > 0;) {
      if (text_[i] != '"') continue;
      size_t b = i;
      while (b > 0 && text_[b - 1] == '\\') --b;
      if ((i - b) % 2 == 0) return i;
    }
    return 0;
  }
  // number_float() comes after nlohmann read one byte past the number (unless the text ended
  // there); a number always ends in a digit and that byte is never one.
  size_t NumberStart(const std::string& literal) const {
    size_t end = ReadTo();
    if (end > 0 && !(text_[end - 1] >= '0' && text_[end - 1] <= '9')) --end;
    return end - std::min(end, literal.size());
  }

  // Where the token nlohmann stopped on starts. `position` counts the bytes read, plus one for
  // reading past the end; a misplaced token is then just behind it. nlohmann's copy of the token
  // is exact only for strings and numbers (it restarts it there), so the others are measured here.
  size_t MisplacedTokenStart(size_t position, const std::string& token) const {
    if (position > text_.size()) return text_.size();  // the end of input
    const size_t last = position - std::min<size_t>(position, 1);
    const char c = text_[last];
    if (c == '"' || (c >= '0' && c <= '9')) return position - std::min(position, token.size());
    if (c == 'e' || c == 'l') {  // true, false or null
      const size_t length = c == 'l' || (last >= 3 && text_.compare(last - 3, 4, "true") == 0) ? 4 : 5;
      return position - std::min(position, length);
    }
    return last;  // a structural character, or a NUL byte (which nlohmann takes for the end)
  }
  // nlohmann says "invalid literal" on the byte it could not continue a true/false/null with, or on
  // one no value starts with: where that literal (or byte) starts.
  size_t InvalidLiteralStart(size_t at) const {
    for (std::string_view literal : {"false", "true", "null"})
      for (size_t n = literal.size() - 1; n > 0; --n)
        if (at >= n && text_.substr(at - n, n) == literal.substr(0, n)) return at - n;
    return at;
  }
  // What sits at `at`, for messages: "end of input", "character '}'" or "byte 0xC3".
  std::string Describe(size_t at) const {
    if (at >= text_.size()) return "end of input";
    unsigned char c = text_[at];
    if (c >= 0x20 && c < 0x7F) return std::string("character '") + char(c) + "'";
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", c);
    return std::string("byte ") + hex;
  }
  std::string LexerError(std::string_view what, size_t at) const;

  std::string_view text_;
  const char* read_to_;
  std::vector<Frame> stack_;
  Value root_;
  bool done_ = false;  // the top-level value is complete
  Status err_;
};

// nlohmann's message for a malformed string or number, in this library's words.
std::string Builder::LexerError(std::string_view what, size_t at) const {
  static constexpr std::pair<std::string_view, std::string_view> kWords[] = {
      {"invalid string: missing closing quote", "unterminated string"},
      {"invalid string: '\\u' must be followed by 4 hex digits", "\\u must be followed by four hex digits"},
      {"invalid string: surrogate U+D800..U+DBFF", "lone high surrogate (not followed by a low one)"},
      {"invalid string: surrogate U+DC00..U+DFFF", "lone low surrogate (not preceded by a high one)"},
      {"invalid string: ill-formed UTF-8 byte", "invalid UTF-8"},
      {"invalid number; expected digit after '-'", "expected a digit after '-'"},
      {"invalid number; expected digit after '.'", "expected a digit after '.'"},
      {"invalid number; expected '+', '-', or digit after exponent", "expected a digit in exponent"},
      {"invalid number; expected digit after exponent sign", "expected a digit in exponent"},
  };
  for (auto [theirs, ours] : kWords) {
    if (what.substr(0, theirs.size()) != theirs) continue;
    std::string m(ours);
    return ours.substr(0, 9) == "expected " ? m + " but found " + Describe(at) : m;
  }
  if (at >= text_.size()) return "unterminated string";  // nlohmann: a backslash, then the end
  if (what.substr(0, 35) == "invalid string: forbidden character")
    return "invalid escape '\\" + Printable(text_.substr(at, 1)) + "'";
  if (what.substr(0, 33) == "invalid string: control character") {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", (unsigned char)text_[at]);
    return std::string("unescaped control character ") + hex + " in string";
  }
  return std::string(what);  // none other is known to reach here; nlohmann's words still name it
}

// nlohmann reports a misplaced token as "syntax error while parsing <context> - unexpected <token>;
// expected <token>", and a malformed one as "... - <lexer message>; last read: '<token>'".
bool Builder::parse_error(size_t position, const std::string& last_token, const ordered_json::exception& e) {
  // The byte nlohmann stopped on, or the end of the text.
  const size_t at = position > text_.size() ? text_.size() : position - std::min<size_t>(position, 1);
  if (e.id == 406) return Fail("number out of range", MisplacedTokenStart(position, last_token));  // overflow

  const std::string_view what = e.what();
  const std::string_view detail = After(After(what, "syntax error "), " - ");
  const std::string_view context = After(what, "while parsing ").substr(0, After(what, "while parsing ").find(" - "));
  const size_t lexer_note = detail.find("; last read: '");
  size_t start;
  if (lexer_note == std::string_view::npos) {
    start = MisplacedTokenStart(position, last_token);
  } else if (detail.substr(0, lexer_note) == "invalid literal") {
    start = InvalidLiteralStart(at);
  } else {
    return Fail(LexerError(detail.substr(0, lexer_note), at), at);
  }

  // A token that is well-formed but misplaced, or no token at all.
  const std::string found = Describe(start);
  auto digit = [&](size_t i) { return i < text_.size() && text_[i] >= '0' && text_[i] <= '9'; };
  if (start > 0 && digit(start) && digit(start - 1)) return Fail("leading zero in number", start);
  if (done_) return Fail("unexpected " + found + " after the JSON value", start);
  if (context == "object key") {
    if (found == "character '}'") return Fail("trailing comma in object", start);  // "{}" is fine
    return Fail("expected '\"' to start an object key but found " + found, start);
  }
  if (context == "object separator") return Fail("expected ':' but found " + found, start);
  if (context == "array") return Fail("expected ',' or ']' but found " + found, start);
  if (context == "object") return Fail("expected ',' or '}' but found " + found, start);
  size_t before = start;
  while (before > 0 && std::string_view(" \t\n\r").find(text_[before - 1]) != std::string_view::npos) --before;
  if (found == "character ']'" && before > 0 && text_[before - 1] == ',') return Fail("trailing comma in array", start);
  return Fail("unexpected " + found + ", expected a value", start);
}

}  // namespace

Result<Value> Parse(std::string_view text) {
  // RFC 8259 forbids writing a byte-order mark; nlohmann skips one, serde_json (the reference
  // safetensors reader) rejects it, and so does this library.
  if (!text.empty() && (unsigned char)text[0] == 0xEF)
    return Status::InvalidArgument("JSON: unexpected byte 0xEF, expected a value at byte 0");
  Builder b(text);
  if (!ordered_json::sax_parse(b.begin(), b.end(), &b, ordered_json::input_format_t::json, /*strict=*/true,
                               /*ignore_comments=*/false))
    return b.Take();
  return b.TakeWhole();
}

}  // namespace ckptdb::json
