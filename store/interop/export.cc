// ExportSafetensors: the header from the manifest, then the bytes one window of chunks at a time
// (store/stream_read.h) into an atomic writer, so memory stays bounded by the window.
#include <optional>
#include <vector>

#include "ckptdb/safetensors.h"
#include "store/interop/safetensors_writer.h"
#include "store/no_throw.h"
#include "store/stream_read.h"

namespace ckptdb {

Result<CheckpointInfo> ExportSafetensors(Store& store, const Selector& which, const std::string& path,
                                         const ExportOptions& options) {
  const std::string doing = "exporting a checkpoint to " + path;
  return NoThrow(store.path(), doing, [&]() -> Result<CheckpointInfo> {
    CheckpointInfo info;
    std::optional<SafetensorsWriter> writer;
    auto begin = [&](const CheckpointManifest& m) -> Status {
      info = m.info;
      std::vector<TensorRef> layout;  // the header needs names, dtypes, shapes and sizes only
      for (const TensorInfo& t : m.tensors) layout.push_back({t.name, t.dtype, t.shape, nullptr, t.size_bytes});
      auto w = SafetensorsWriter::Create(path, layout, m.metadata);
      if (!w.ok()) return w.status();
      writer.emplace(std::move(w).value());
      return Status::OK();
    };
    auto write = [&](std::span<const uint8_t> bytes) { return writer->Append(bytes.data(), bytes.size()); };
    ReadOptions read;
    read.verify_chunks = options.verify_chunks;
    if (Status s = StreamCheckpoint(store, which, options.window_bytes, read, begin, write); !s.ok()) return s;
    if (Status s = writer->Finish(); !s.ok()) return s;
    return info;
  });
}

}  // namespace ckptdb
