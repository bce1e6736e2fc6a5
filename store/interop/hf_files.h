// File chores of the Hugging Face layout (hf_import.cc, hf_export.cc): reading the small JSON files
// of a model directory without ever blocking on a FIFO, and writing files and a directory durably.
// Errors are one line starting with the path.
#pragma once

#include <cstdint>
#include <string>

#include "ckptdb/status.h"

namespace ckptdb::hf {

// True when `path` exists (as anything; a dangling symlink counts as absent).
bool Exists(const std::string& path);

// The whole of the regular file `path`, at most `limit` bytes. NotFound when missing;
// InvalidArgument when it is not a regular file (refused before it is opened); Corruption when
// larger than `limit`; IOError when reading fails.
Result<std::string> ReadSmallFile(const std::string& path, uint64_t limit);

// Writes `bytes` to the new file `path` and fsyncs it. IOError naming the path.
Status WriteNewFile(const std::string& path, const std::string& bytes);

// fsyncs the directory `dir`, making the entries created or renamed in it durable.
Status SyncDir(const std::string& dir);

// `path`'s parent directory ("." for a bare name) and last component, ignoring trailing slashes.
std::string ParentOf(const std::string& path);
std::string BaseOf(const std::string& path);

}  // namespace ckptdb::hf
