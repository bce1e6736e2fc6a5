#include "tools/values.h"

#include <charconv>
#include <cmath>
#include <system_error>

#include "tools/format.h"

namespace ckptdb::cli {
namespace {

// True when from_chars consumed all of `text` (which must not be empty) without error.
template <typename T, typename... Extra>
bool ParseWhole(const std::string& text, T& value, Extra... extra) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value, extra...);
  return !text.empty() && ec == std::errc() && ptr == end;
}

}  // namespace

Result<int64_t> ParseInt64(const std::string& flag, const std::string& text) {
  int64_t v = 0;
  if (!ParseWhole(text, v)) return Status::InvalidArgument(flag + " needs an integer, got '" + text + "'");
  return v;
}

Result<uint64_t> ParseUint64(const std::string& flag, const std::string& text) {
  uint64_t v = 0;
  // from_chars reads no sign for unsigned types, so "-1" fails here rather than wrapping around.
  if (!ParseWhole(text, v)) return Status::InvalidArgument(flag + " needs a non-negative integer, got '" + text + "'");
  return v;
}

Result<double> ParseDouble(const std::string& flag, const std::string& text) {
  double v = 0;
  if (!ParseWhole(text, v, std::chars_format::general) || !std::isfinite(v))
    return Status::InvalidArgument(flag + " needs a finite number, got '" + text + "'");
  return v;
}

Result<Selector> ParseBest(const std::string& what, const std::string& text) {
  const auto colon = text.rfind(':');
  const std::string dir = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (colon == 0 || colon == std::string::npos || (dir != "min" && dir != "max"))
    return Status::InvalidArgument(what + " needs METRIC:min or METRIC:max, got '" + text + "'");
  return Selector::Best(text.substr(0, colon), dir == "max");
}

Result<Selector> ParseAt(const std::string& what, const std::string& text) {
  auto t = ParseTime(text);
  if (!t)
    return Status::InvalidArgument(what + " needs a time as log and show print it (2026-11-23 01:36:00, UTC), "
                                   "RFC 3339 (2026-11-23T01:36:00Z) or Unix seconds, got '" + text + "'");
  return Selector::At(*t);
}

Result<Selector> ParseSelectorSpec(const std::string& spec) {
  auto bad = [&](const std::string& why) { return Status::InvalidArgument("checkpoint '" + spec + "': " + why); };
  if (spec == "latest") return Selector::Latest();
  if (spec == "head") return Selector::Head();
  const auto colon = spec.find(':');
  if (colon == std::string::npos) {
    if (auto step = ParseInt64("step", spec); step.ok()) return Selector::Step(*step);
    return bad("give a step number, id:ID, tag:NAME, latest, head, at:TIME or best:METRIC:min|max");
  }
  // Only the first colon separates the kind: times and best specs contain colons of their own.
  const std::string kind = spec.substr(0, colon), value = spec.substr(colon + 1);
  if (kind == "id") {
    auto id = ParseUint64("id:", value);
    if (!id.ok()) return bad(id.status().message());
    return Selector::Id(*id);
  }
  if (kind == "tag") {
    if (value.empty()) return bad("tag: needs a non-empty name");
    return Selector::Tag(value);
  }
  if (kind == "at") {
    auto at = ParseAt("at:", value);
    if (!at.ok()) return bad(at.status().message());
    return at;
  }
  if (kind == "best") {
    auto best = ParseBest("best:", value);
    if (!best.ok()) return bad(best.status().message());
    return best;
  }
  return bad("unknown kind '" + kind + "' (give a step number, id:ID, tag:NAME, latest, head, at:TIME or best:METRIC:min|max)");
}

}  // namespace ckptdb::cli
