// ImportSafetensors: files read whole (safetensors_file.h), merged, saved as one checkpoint.
#include <map>
#include <new>
#include <vector>

#include "ckptdb/safetensors.h"
#include "store/interop/safetensors_file.h"
#include "store/no_throw.h"

namespace ckptdb {

struct SafetensorsFiles::Rep {
  std::vector<SafetensorsFile> files;
  std::vector<TensorRef> tensors;
  std::vector<size_t> file_begin;  // where each file's tensors start in `tensors`
  std::map<std::string, std::string> metadata;
  std::map<std::string, std::string> metadata_source;  // key -> the first file that has it
};

SafetensorsFiles::SafetensorsFiles(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
SafetensorsFiles::SafetensorsFiles(SafetensorsFiles&&) noexcept = default;
SafetensorsFiles& SafetensorsFiles::operator=(SafetensorsFiles&&) noexcept = default;
SafetensorsFiles::~SafetensorsFiles() = default;

std::span<const TensorRef> SafetensorsFiles::tensors() const { return rep_->tensors; }
std::span<const TensorRef> SafetensorsFiles::tensors_of(size_t file) const {
  const size_t end = file + 1 < rep_->file_begin.size() ? rep_->file_begin[file + 1] : rep_->tensors.size();
  return std::span<const TensorRef>(rep_->tensors).subspan(rep_->file_begin[file], end - rep_->file_begin[file]);
}
const std::map<std::string, std::string>& SafetensorsFiles::metadata() const { return rep_->metadata; }

Result<SafetensorsFiles> SafetensorsFiles::Read(std::span<const std::string> files) {
  if (files.empty()) return Status::InvalidArgument("no safetensors files given to import");
  try {
    auto rep = std::make_unique<Rep>();
    for (const std::string& path : files) {
      auto f = SafetensorsFile::Open(path);
      if (!f.ok()) return f.status();
      rep->files.push_back(std::move(f).value());
    }
    std::map<std::string_view, const std::string*> name_source;
    for (const SafetensorsFile& f : rep->files) {
      rep->file_begin.push_back(rep->tensors.size());
      for (const SafetensorsEntry& e : f.tensors()) {
        if (auto [it, fresh] = name_source.emplace(e.name, &f.path()); !fresh)
          return Status::InvalidArgument("tensor '" + e.name + "' is in both " + *it->second + " and " + f.path());
        rep->tensors.push_back(f.ref(e));
      }
      for (const auto& [k, v] : f.metadata()) {
        auto [it, fresh] = rep->metadata.emplace(k, v);
        if (!fresh && it->second != v)
          return Status::InvalidArgument("metadata key '" + k + "' differs between " + rep->metadata_source[k] +
                                         " and " + f.path());
        rep->metadata_source.emplace(k, f.path());
      }
    }
    return SafetensorsFiles(std::move(rep));
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory reading safetensors files, the first " + files[0]);
  } catch (const std::length_error&) {
    return Status::ResourceExhausted("out of memory reading safetensors files, the first " + files[0]);
  }
}

Result<SavedCheckpoint> ImportSafetensors(Store& store, const SafetensorsFiles& files, const SaveOptions& options) {
  return NoThrow(store.path(), "importing safetensors files", [&]() -> Result<SavedCheckpoint> {
    SaveOptions merged = options;
    for (const auto& [k, v] : files.metadata()) {
      auto [it, fresh] = merged.metadata.emplace(k, v);
      if (!fresh && it->second != v)
        return Status::InvalidArgument("metadata key '" + k + "' is given a value that differs from the one in " +
                                       files.rep_->metadata_source.at(k));
    }
    return store.Save(files.tensors(), merged);
  });
}

Result<SavedCheckpoint> ImportSafetensors(Store& store, std::span<const std::string> files,
                                          const SaveOptions& options) {
  auto read = SafetensorsFiles::Read(files);
  if (!read.ok()) return read.status();
  return ImportSafetensors(store, *read, options);
}

}  // namespace ckptdb
