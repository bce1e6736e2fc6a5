// json::Writer and json::ToJson: the document is built as an nlohmann::ordered_json and written by
// nlohmann's serialiser (escaping, UTF-8 replacement, number formatting, indentation).
#include <cctype>
#include <nlohmann/json.hpp>
#include <utility>

#include "store/interop/json.h"

namespace ckptdb::json {
namespace {

using nlohmann::ordered_json;

// An object's members as the vector they are stored in. Appending there keeps a duplicate key
// where ordered_json's own insert would search the object for it (quadratic for a header with many
// tensors) and overwrite it.
ordered_json::object_t::Container& Members(ordered_json& object) {
  return object.get_ref<ordered_json::object_t&>();
}

ordered_json ToNlohmann(const Value& v) {
  switch (v.type()) {
    case Value::Type::kNull: return nullptr;
    case Value::Type::kBool: return v.as_bool();
    case Value::Type::kNumber:
      if (!v.is_integer()) return v.as_double();
      return v.is_uint64() ? ordered_json(v.as_uint64()) : ordered_json(v.as_int64());
    case Value::Type::kString: return v.as_string();
    case Value::Type::kArray: {
      ordered_json a = ordered_json::array();
      auto& items = a.get_ref<ordered_json::array_t&>();
      items.reserve(v.as_array().size());
      for (const Value& item : v.as_array()) items.push_back(ToNlohmann(item));
      return a;
    }
    case Value::Type::kObject: {
      ordered_json o = ordered_json::object();
      auto& members = Members(o);
      members.reserve(v.as_object().size());
      for (const auto& [k, item] : v.as_object()) members.emplace_back(k, ToNlohmann(item));
      return o;
    }
  }
  return nullptr;
}

// nlohmann writes the replacement for invalid UTF-8 as the raw character U+FFFD and control
// characters as "\u001f"; this library has always written "\ufffd" and "\u001F", which its users
// and tests compare byte for byte. Both spellings are the same JSON, so this changes no meaning.
std::string Respell(std::string s) {
  if (s.find_first_of("\\\xEF") == std::string::npos) return s;
  std::string out;
  out.reserve(s.size() + 16);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 3, "\xEF\xBF\xBD") == 0) {
      out += "\\ufffd";
      i += 2;
    } else if (s[i] == '\\' && i + 1 < s.size()) {  // an escape nlohmann wrote: "\x" or "\u00xx"
      const size_t n = s[i + 1] == 'u' ? 6 : 2;
      for (size_t k = 0; k < n && i + k < s.size(); ++k) out += k < 2 ? s[i + k] : char(std::toupper((unsigned char)s[i + k]));
      i += n - 1;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

// The value under construction: containers not yet ended are kept on a stack and moved into their
// parent when they end, so a Writer copies like a value.
struct Writer::Doc {
  struct Open {
    ordered_json container;
    std::string key;  // for the next member, when the container is an object
  };
  std::vector<Open> open;
  ordered_json root;

  void Add(ordered_json v) {
    if (open.empty()) {
      root = std::move(v);
    } else if (Open& top = open.back(); top.container.is_object()) {
      Members(top.container).emplace_back(std::move(top.key), std::move(v));
      top.key.clear();
    } else {
      top.container.get_ref<ordered_json::array_t&>().push_back(std::move(v));
    }
  }
  void End() {
    if (open.empty()) return;  // an End without its Begin: ignored
    ordered_json done = std::move(open.back().container);
    open.pop_back();
    Add(std::move(done));
  }
};

Writer::Writer(bool pretty) : pretty_(pretty), doc_(std::make_unique<Doc>()) {}
Writer::~Writer() = default;
Writer::Writer(const Writer& other) : pretty_(other.pretty_), doc_(std::make_unique<Doc>(*other.doc_)) {}
Writer& Writer::operator=(const Writer& other) {
  if (this != &other) *this = Writer(other);
  return *this;
}
Writer::Writer(Writer&&) noexcept = default;
Writer& Writer::operator=(Writer&&) noexcept = default;

Writer& Writer::BeginObject() { return doc_->open.push_back({ordered_json::object(), {}}), *this; }
Writer& Writer::BeginArray() { return doc_->open.push_back({ordered_json::array(), {}}), *this; }
Writer& Writer::EndObject() { return doc_->End(), *this; }
Writer& Writer::EndArray() { return doc_->End(), *this; }
Writer& Writer::Key(std::string_view key) {
  if (!doc_->open.empty()) doc_->open.back().key = key;
  return *this;
}
Writer& Writer::String(std::string_view s) { return doc_->Add(std::string(s)), *this; }
Writer& Writer::Int(int64_t i) { return doc_->Add(i), *this; }
Writer& Writer::Uint(uint64_t u) { return doc_->Add(u), *this; }
Writer& Writer::Double(double d) { return doc_->Add(d), *this; }  // nlohmann writes NaN, inf as null
Writer& Writer::Bool(bool b) { return doc_->Add(b), *this; }
Writer& Writer::Null() { return doc_->Add(nullptr), *this; }
Writer& Writer::Write(const Value& v) { return doc_->Add(ToNlohmann(v)), *this; }

const std::string& Writer::str() const {
  out_ = Respell(doc_->root.dump(pretty_ ? 2 : -1, ' ', /*ensure_ascii=*/false, ordered_json::error_handler_t::replace));
  return out_;
}

std::string ToJson(const Value& v, bool pretty) {
  Writer w(pretty);
  w.Write(v);
  return w.str();
}

}  // namespace ckptdb::json
