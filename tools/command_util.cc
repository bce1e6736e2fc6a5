#include "tools/command_util.h"

#include <set>

#include "tools/suggest.h"

namespace ckptdb::cli {

Result<std::unique_ptr<Store>> OpenExisting(const std::string& path) {
  StoreOptions options;
  options.create_if_missing = false;
  return Store::Open(path, options);
}

Result<std::unique_ptr<Store>> OpenForReading(const std::string& path) { return Store::OpenReadOnly(path); }

Status WithSuggestion(Store& store, const Selector& which, Status status) {
  if (status.code() != Code::kNotFound) return status;
  if (which.kind() != Selector::Kind::kTag && which.kind() != Selector::Kind::kBest) return status;
  auto list = store.List();
  if (!list.ok()) return status;
  std::set<std::string> names;
  for (const CheckpointInfo& c : *list) {
    if (which.kind() == Selector::Kind::kTag) names.insert(c.tags.begin(), c.tags.end());
    else
      for (const auto& [metric, value] : c.metrics) names.insert(metric);
  }
  const std::string hint = DidYouMean(which.name(), std::vector<std::string>(names.begin(), names.end()));
  if (hint.empty()) return status;
  return Status(status.code(), status.message() + hint);
}

}  // namespace ckptdb::cli
