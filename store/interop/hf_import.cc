// ImportHf: a save_pretrained directory -> one checkpoint. The index is checked against the shards
// as read (not only against their names), so a weight_map that disagrees with its files is refused
// before anything is saved.
#include <set>
#include <sys/stat.h>

#include "ckptdb/hf_layout.h"
#include "store/interop/hf_files.h"
#include "store/interop/json.h"
#include "store/no_throw.h"

namespace ckptdb {
namespace {

constexpr char kWeights[] = "model.safetensors";
constexpr char kIndex[] = "model.safetensors.index.json";
constexpr uint64_t kJsonLimit = 100'000'000;  // as safetensors' header limit: far above any real config or index

// Built by appending: GCC 12 at -O3 misreads `"x" + std::string` as an overlapping copy (-Wrestrict).
std::string Q(std::string_view s) {
  std::string q(1, '\'');
  q.append(json::Printable(s)).push_back('\'');
  return q;
}

// The JSON file `path` as its exact bytes, checked to be JSON. NotFound when absent.
Result<std::string> ReadJsonFile(const std::string& path) {
  auto text = hf::ReadSmallFile(path, kJsonLimit);
  if (!text.ok()) return text.status();
  if (auto v = json::Parse(*text); !v.ok()) return Status::Corruption(path + ": not valid JSON: " + v.status().message());
  return text;
}

// A weight_map's file name must name a file in the directory itself.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

// The shards the index at `path` names (sorted, each once) and its weight_map.
Status ReadIndex(const std::string& path, std::vector<std::string>& shards, std::map<std::string, std::string>& map) {
  auto text = hf::ReadSmallFile(path, kJsonLimit);
  if (!text.ok()) return text.status();
  auto root = json::Parse(*text);
  if (!root.ok()) return Status::Corruption(path + ": not valid JSON: " + root.status().message());
  const json::Value* wm = root->find("weight_map");
  if (!wm || !wm->is_object()) return Status::Corruption(path + ": has no \"weight_map\" object");
  std::set<std::string> files;
  for (const auto& [tensor, file] : wm->as_object()) {
    if (!file.is_string() || !IsPlainFileName(file.as_string()))
      return Status::Corruption(path + ": weight_map gives tensor " + Q(tensor) +
                                " something other than a file name in the directory");
    map.emplace(tensor, file.as_string());
    files.insert(file.as_string());
  }
  if (files.empty()) return Status::Corruption(path + ": weight_map is empty");
  shards.assign(files.begin(), files.end());
  return Status::OK();
}

// Every tensor of every shard is where the weight_map says, and the weight_map names no other.
Status CheckWeightMap(const std::string& index, const std::vector<std::string>& shards, const SafetensorsFiles& files,
                      const std::map<std::string, std::string>& map) {
  size_t seen = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    for (const TensorRef& t : files.tensors_of(i)) {
      auto it = map.find(t.name);
      if (it == map.end())
        return Status::Corruption(index + ": shard " + shards[i] + " holds tensor " + Q(t.name) +
                                  " that the weight_map does not name");
      if (it->second != shards[i])
        return Status::Corruption(index + ": weight_map puts tensor " + Q(t.name) + " in " + it->second +
                                  " but it is in " + shards[i]);
      ++seen;
    }
  }
  if (seen == map.size()) return Status::OK();
  for (const auto& [tensor, file] : map) {
    bool found = false;
    for (size_t i = 0; i < shards.size() && !found; ++i)
      if (shards[i] == file)
        for (const TensorRef& t : files.tensors_of(i)) found = found || t.name == tensor;
    if (!found) return Status::Corruption(index + ": weight_map names tensor " + Q(tensor) + " but shard " + file + " lacks it");
  }
  return Status::Internal(index + ": weight_map and shards disagree");
}

}  // namespace

Result<HfModelDir> HfModelDir::ReadUnguarded(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return Status::NotFound(dir + ": no such directory");
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument(dir + ": not a directory (give a save_pretrained directory)");
  const std::string weights = dir + "/" + kWeights, index = dir + "/" + kIndex;
  std::vector<std::string> shards;
  std::map<std::string, std::string> weight_map;
  const bool sharded = !hf::Exists(weights);
  if (sharded) {
    if (!hf::Exists(index))
      return Status::NotFound(dir + ": has neither " + kWeights + " nor " + kIndex + " (not a save_pretrained directory)");
    if (Status s = ReadIndex(index, shards, weight_map); !s.ok()) return s;
  } else {
    shards = {kWeights};
  }
  std::vector<std::string> paths;
  for (const std::string& s : shards) paths.push_back(dir + "/" + s);
  auto files = SafetensorsFiles::Read(paths);
  if (!files.ok()) return files.status();
  if (sharded)
    if (Status s = CheckWeightMap(index, shards, *files, weight_map); !s.ok()) return s;
  std::map<std::string, std::string> metadata;
  for (const auto& [key, name] : {std::pair{kHfConfigKey, "config.json"}, {kHfGenerationConfigKey, "generation_config.json"}}) {
    auto text = ReadJsonFile(dir + "/" + name);
    if (text.ok()) metadata.emplace(key, std::move(text).value());
    else if (text.status().code() != Code::kNotFound) return text.status();
  }
  return HfModelDir(std::move(files).value(), std::move(metadata), std::move(paths));
}

Result<HfModelDir> HfModelDir::Read(const std::string& dir) {
  try {
    return ReadUnguarded(dir);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(dir + ": out of memory reading the model directory");
  } catch (const std::length_error&) {
    return Status::ResourceExhausted(dir + ": out of memory reading the model directory");
  }
}

Result<SavedCheckpoint> ImportHf(Store& store, const HfModelDir& dir, const SaveOptions& options) {
  return NoThrow(store.path(), "importing a Hugging Face model directory", [&]() -> Result<SavedCheckpoint> {
    SaveOptions merged = options;
    for (const auto& [k, v] : dir.metadata()) {
      auto [it, fresh] = merged.metadata.emplace(k, v);
      if (!fresh && it->second != v)
        return Status::InvalidArgument("metadata key '" + k + "' is given a value that differs from the directory's file");
    }
    return ImportSafetensors(store, dir.files(), merged);
  });
}

Result<SavedCheckpoint> ImportHf(Store& store, const std::string& dir, const SaveOptions& options) {
  auto read = HfModelDir::Read(dir);
  if (!read.ok()) return read.status();
  return ImportHf(store, *read, options);
}

}  // namespace ckptdb
