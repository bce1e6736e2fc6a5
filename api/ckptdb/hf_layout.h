// Interchange with the Hugging Face model layout: the directory transformers' save_pretrained
// writes and from_pretrained loads. `ckptdb import-hf` and `ckptdb export-hf` are these functions.
//
// The layout: config.json (and generation_config.json), then either model.safetensors, or shards
// model-00001-of-0000N.safetensors plus model.safetensors.index.json, {"metadata": {"total_size":
// N}, "weight_map": {tensor: shard}}. The JSON files are kept as checkpoint metadata, byte for byte,
// under the keys below, so an export writes back exactly what was imported.
//
// Errors are one line naming the file (and the tensor, where one is at fault).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ckptdb/checkpoint.h"
#include "ckptdb/options.h"
#include "ckptdb/safetensors.h"
#include "ckptdb/status.h"
#include "ckptdb/store.h"

namespace ckptdb {

// Checkpoint metadata keys that hold a model directory's JSON files. Every key starting with
// kHfMetadataPrefix belongs to this layout and is kept out of the shards' "__metadata__".
inline constexpr char kHfMetadataPrefix[] = "hf.";
inline constexpr char kHfConfigKey[] = "hf.config.json";
inline constexpr char kHfGenerationConfigKey[] = "hf.generation_config.json";

// A model directory read into memory and checked: what ImportHf saves. Reading it apart from saving
// lets a caller refuse bad input before it opens (or creates) a store. Move-only.
// Thread safety: Read may be called from any thread; an HfModelDir may be read from several.
class HfModelDir {
 public:
  // Reads `dir`: model.safetensors when it exists (as from_pretrained prefers it), else the index
  // and every shard it names, each once, in file-name order. config.json and
  // generation_config.json, when present, must be JSON; they are optional (weights alone import,
  // but ExportHf needs a config).
  // Memory: every tensor's bytes (as SafetensorsFiles::Read), plus the JSON files.
  // Errors: NotFound naming DIR when it has neither model.safetensors nor the index, or naming a
  // missing shard; Corruption naming the index when it is not JSON, lacks a "weight_map" object of
  // file names, names a file with a '/' in it, names a tensor its shard lacks, or a shard holds a
  // tensor the weight_map does not name (or names with another shard); Corruption naming
  // config.json when it is not JSON; as SafetensorsFiles::Read for the shards.
  static Result<HfModelDir> Read(const std::string& dir);

  const SafetensorsFiles& files() const { return files_; }
  // kHfConfigKey / kHfGenerationConfigKey -> the files' exact bytes, for those present.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The safetensors files read, in the order their tensors are saved.
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  // Read without its guard, which turns what the containers throw into ResourceExhausted.
  static Result<HfModelDir> ReadUnguarded(const std::string& dir);
  HfModelDir(SafetensorsFiles files, std::map<std::string, std::string> metadata, std::vector<std::string> paths)
      : files_(std::move(files)), metadata_(std::move(metadata)), paths_(std::move(paths)) {}
  SafetensorsFiles files_;
  std::map<std::string, std::string> metadata_;
  std::vector<std::string> paths_;
};

// Saves `dir` as one new checkpoint (Store::Save with options): every shard's tensors, its metadata
// options.metadata plus the shards' "__metadata__" plus dir.metadata().
// Errors: InvalidArgument naming the key when options.metadata gives a key of the directory's a
// different value; as ImportSafetensors otherwise. On any error nothing is saved.
// Thread safety: as Store::Save.
Result<SavedCheckpoint> ImportHf(Store& store, const HfModelDir& dir, const SaveOptions& options);
// HfModelDir::Read(dir), then the ImportHf above; when reading fails, the store is not touched.
Result<SavedCheckpoint> ImportHf(Store& store, const std::string& dir, const SaveOptions& options);

struct HfExportOptions {
  // The most tensor bytes per shard, as save_pretrained's max_shard_size (huggingface_hub's rule:
  // tensors in saved order fill a shard until the next would exceed it; a tensor larger than this
  // gets a shard of its own). Default 5 GB (5 * 10^9, "5GB"). REQUIRES: >= 1.
  uint64_t max_shard_size = 5'000'000'000ull;
  // Which tensors are the model's: those named PREFIX..., written with PREFIX stripped; "" for all.
  // nullopt (default) decides: "model." when the checkpoint has tensors named both model.* and
  // optimizer.* (a training state, as ckptdb.torch.save_training_state saves), else "".
  std::optional<std::string> prefix;
  ExportOptions io;  // the read window and chunk verification
};

struct HfExport {
  CheckpointInfo info;             // the exported checkpoint
  std::string prefix;              // the prefix applied ("" for none)
  std::vector<std::string> files;  // every file written, by name within the directory, sorted
  uint64_t tensor_count = 0;       // tensors written
  uint64_t total_size = 0;         // their bytes
};

// Writes the checkpoint `which` selects as a directory `dir` that from_pretrained loads: the
// selected tensors (see HfExportOptions::prefix) in saved order, sharded as above, each shard's
// "__metadata__" the checkpoint's metadata less the hf.* keys, with "format": "pt" unless the
// metadata sets "format"; config.json and generation_config.json from kHfConfigKey and
// kHfGenerationConfigKey. Atomic: written into a temporary DIR.tmp-XXXXXX beside DIR, every file
// fsynced, then renamed to DIR; on any error DIR is left as it was and the temporary is removed.
// The checkpoint is resolved once, so later saves never change what is exported.
// Memory: one read window (ExportOptions::window_bytes, at least a chunk), plus the manifest.
// REQUIRES: `store` was returned by Store::Open or Store::OpenReadOnly.
// Errors: AlreadyExists naming DIR when it exists and is not an empty directory (checked before
// anything is read; only this error has that code); NotFound for the selector; FailedPrecondition
// when the checkpoint has no kHfConfigKey metadata; InvalidArgument when the prefix selects no
// tensor, max_shard_size is 0, or the prefix leaves a tensor name empty or a tensor is called
// "__metadata__"; IOError naming the file when writing fails (e.g. DIR's parent is missing); as
// Store::ReadTensorRange for the reads.
// Thread safety: may be called from any thread.
Result<HfExport> ExportHf(Store& store, const Selector& which, const std::string& dir,
                          const HfExportOptions& options = {});

}  // namespace ckptdb
