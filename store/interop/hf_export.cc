// ExportHf: one checkpoint -> a from_pretrained directory, built in a temporary sibling and renamed
// into place so a failed export leaves no half directory. Tensors are read with ReadTensorRange,
// chunk-aligned windows at a time, so an optimizer state beside the model is never read.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <vector>

#include "ckptdb/hf_layout.h"
#include "store/interop/hf_files.h"
#include "store/interop/json.h"
#include "store/interop/safetensors_writer.h"
#include "store/no_throw.h"

namespace ckptdb {
namespace {

struct Picked {
  const TensorInfo* info;
  std::string name;  // as written: the prefix stripped
};

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// HfExportOptions::prefix's auto rule: a training state has both model.* and optimizer.* tensors.
std::string ChoosePrefix(const CheckpointManifest& m, const std::optional<std::string>& given) {
  if (given) return *given;
  bool model = false, optimizer = false;
  for (const TensorInfo& t : m.tensors) {
    model = model || StartsWith(t.name, "model.");
    optimizer = optimizer || StartsWith(t.name, "optimizer.");
  }
  return model && optimizer ? "model." : "";
}

// huggingface_hub's split_state_dict_into_shards_factory, exactly: in order, a tensor larger than
// the limit becomes a shard of its own at once (the shard being filled goes on); otherwise it joins
// the current shard unless it would tip it over the limit.
std::vector<std::vector<const Picked*>> Split(const std::vector<Picked>& tensors, uint64_t max) {
  std::vector<std::vector<const Picked*>> shards;
  std::vector<const Picked*> current;
  uint64_t size = 0;
  for (const Picked& t : tensors) {
    const uint64_t n = t.info->size_bytes;
    if (n > max) {
      shards.push_back({&t});
      continue;
    }
    if (size + n > max) {
      shards.push_back(std::move(current));
      current.clear();
      size = 0;
    }
    current.push_back(&t);
    size += n;
  }
  if (!current.empty()) shards.push_back(std::move(current));
  return shards;
}

// save_pretrained's names: model.safetensors alone, or model-00001-of-00003.safetensors, ...
std::string ShardName(size_t i, size_t n) {
  if (n == 1) return "model.safetensors";
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}

// What DIR must be: absent, or an empty directory (which the rename replaces).
Status CheckTarget(const std::string& dir) {
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::OK();
    return Status::IOError(dir + ": cannot stat: " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return Status::AlreadyExists(dir + ": exists and is not a directory (give a new or empty directory)");
  std::error_code ec;
  if (!std::filesystem::is_empty(dir, ec) || ec)
    return Status::AlreadyExists(dir + ": exists and is not empty (give a new or empty directory)");
  return Status::OK();
}

// The temporary directory: removed with everything in it unless it was renamed into place.
struct TempDir {
  std::string path;
  bool keep = false;
  ~TempDir() {
    std::error_code ec;
    if (!keep && !path.empty()) std::filesystem::remove_all(path, ec);
  }
};

// The index json as save_pretrained writes it: json.dumps(index, indent=2, sort_keys=True) + "\n"
// (its "total_parameters" left out: that counts parameters, which a checkpoint does not tell apart
// from buffers).
std::string IndexJson(uint64_t total, std::vector<std::pair<std::string, std::string>> map) {
  std::sort(map.begin(), map.end());
  json::Writer w(/*pretty=*/true);
  w.BeginObject().Key("metadata").BeginObject().Key("total_size").Uint(total).EndObject();
  w.Key("weight_map").BeginObject();
  for (const auto& [tensor, file] : map) w.Key(tensor).String(file);
  w.EndObject().EndObject();
  return w.str() + "\n";
}

// Copies `t`'s bytes into `writer`, one chunk-aligned window at a time.
Status CopyTensor(Store& store, const Selector& id, const TensorInfo& t, std::vector<uint8_t>& window,
                  const ReadOptions& read, SafetensorsWriter& writer) {
  for (uint64_t off = 0; off < t.size_bytes; off += window.size()) {
    const uint64_t n = std::min<uint64_t>(window.size(), t.size_bytes - off);
    auto r = store.ReadTensorRange(id, t.name, off, std::span<uint8_t>(window.data(), n), read);
    if (!r.ok()) return r.status();
    if (Status s = writer.Append(window.data(), n); !s.ok()) return s;
  }
  return Status::OK();
}

Result<HfExport> Export(Store& store, const Selector& which, const std::string& dir, const HfExportOptions& options) {
  if (options.max_shard_size == 0) return Status::InvalidArgument("max_shard_size must be at least 1 byte");
  if (Status s = CheckTarget(dir); !s.ok()) return s;
  auto manifest = store.Describe(which);
  if (!manifest.ok()) return manifest.status();
  const CheckpointManifest& m = *manifest;
  const Selector id = Selector::Id(m.info.id);  // every read below reads this checkpoint, whatever is saved meanwhile
  const std::string who = "checkpoint " + std::to_string(m.info.id) + " (step " + std::to_string(m.info.step) + ")";
  auto config = m.metadata.find(kHfConfigKey);
  if (config == m.metadata.end())
    return Status::FailedPrecondition(who + " has no metadata '" + kHfConfigKey +
                                      "' to write config.json from (import-hf keeps it; or save it as metadata)");

  HfExport out;
  out.info = m.info;
  out.prefix = ChoosePrefix(m, options.prefix);
  std::vector<Picked> picked;
  for (const TensorInfo& t : m.tensors) {
    if (!StartsWith(t.name, out.prefix)) continue;
    picked.push_back({&t, t.name.substr(out.prefix.size())});
    if (picked.back().name.empty())
      return Status::InvalidArgument(who + ": prefix '" + out.prefix + "' leaves tensor '" + t.name + "' without a name");
    out.total_size += t.size_bytes;
  }
  if (picked.empty())
    return Status::InvalidArgument(who + " has no tensor named '" + out.prefix + "...' to export");
  out.tensor_count = picked.size();

  // The shards' __metadata__: what the checkpoint carries besides this layout's own files.
  std::map<std::string, std::string> shard_meta;
  for (const auto& [k, v] : m.metadata)
    if (!StartsWith(k, kHfMetadataPrefix)) shard_meta.emplace(k, v);
  shard_meta.emplace("format", "pt");  // transformers writes it; kept when the checkpoint has its own

  TempDir tmp;
  std::string templ = hf::ParentOf(dir) + "/." + hf::BaseOf(dir) + ".tmp-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr)
    return Status::IOError(dir + ": cannot create a temporary directory beside it: " + std::strerror(errno));
  tmp.path = templ;
  // mkdtemp makes it 0700; a model directory should be as readable as save_pretrained's.
  if (::chmod(tmp.path.c_str(), 0755) != 0)
    return Status::IOError(dir + ": cannot chmod " + tmp.path + ": " + std::strerror(errno));

  const uint64_t chunk = std::max<uint64_t>(m.chunk_size, 1);
  std::vector<uint8_t> window(std::max<uint64_t>(options.io.window_bytes / chunk, 1) * chunk);
  ReadOptions read;
  read.verify_chunks = options.io.verify_chunks;
  const auto shards = Split(picked, options.max_shard_size);
  std::vector<std::pair<std::string, std::string>> weight_map;
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name = ShardName(i, shards.size());
    std::vector<TensorRef> layout;
    for (const Picked* p : shards[i]) {
      layout.push_back({p->name, p->info->dtype, p->info->shape, nullptr, p->info->size_bytes});
      weight_map.emplace_back(p->name, name);
    }
    auto writer = SafetensorsWriter::Create(tmp.path + "/" + name, layout, shard_meta);
    if (!writer.ok()) return writer.status();
    for (const Picked* p : shards[i])
      if (Status s = CopyTensor(store, id, *p->info, window, read, *writer); !s.ok()) return s;
    if (Status s = writer->Finish(); !s.ok()) return s;
    out.files.push_back(name);
  }
  std::vector<std::pair<std::string, std::string>> extra = {{"config.json", config->second}};
  if (auto g = m.metadata.find(kHfGenerationConfigKey); g != m.metadata.end())
    extra.emplace_back("generation_config.json", g->second);
  if (shards.size() > 1) extra.emplace_back("model.safetensors.index.json", IndexJson(out.total_size, weight_map));
  for (const auto& [name, bytes] : extra) {
    if (Status s = hf::WriteNewFile(tmp.path + "/" + name, bytes); !s.ok()) return s;
    out.files.push_back(name);
  }
  std::sort(out.files.begin(), out.files.end());
  if (Status s = hf::SyncDir(tmp.path); !s.ok()) return s;
  // rename(2) replaces DIR only if it is an empty directory: one filled meanwhile is never touched.
  if (::rename(tmp.path.c_str(), dir.c_str()) != 0) {
    if (errno == ENOTEMPTY || errno == EEXIST || errno == ENOTDIR || errno == EISDIR)
      return Status::AlreadyExists(dir + ": became a non-empty directory or a file during the export; nothing written");
    return Status::IOError(dir + ": cannot rename " + tmp.path + " to it: " + std::strerror(errno));
  }
  tmp.keep = true;
  if (Status s = hf::SyncDir(hf::ParentOf(dir)); !s.ok()) return s;
  return out;
}

}  // namespace

Result<HfExport> ExportHf(Store& store, const Selector& which, const std::string& dir, const HfExportOptions& options) {
  return NoThrow(store.path(), "exporting a checkpoint to " + dir,
                 [&]() -> Result<HfExport> { return Export(store, which, dir, options); });
}

}  // namespace ckptdb
