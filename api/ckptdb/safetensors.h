// Interchange with safetensors (huggingface/safetensors): import files as one checkpoint, export a
// checkpoint as one file or as a stream. The `ckptdb import` and `ckptdb export` commands are these functions.
//
// Files are read with the reference library's checks and stricter ones (duplicate keys, unknown
// fields, a non-object "__metadata__"), and written in the reference's exact layout: an 8-byte
// little-endian header length, a JSON header padded with spaces to a multiple of 8 bytes (so the
// data section is 8-aligned), then the tensors' bytes, contiguous, in the checkpoint's order. A
// file's "__metadata__" map is a checkpoint's metadata (SaveOptions::metadata) and back.
//
// Errors are one line naming the file (and, where one is at fault, the tensor or metadata key).
#pragma once

#include <cstdint>
#include <map>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>

#include "ckptdb/checkpoint.h"
#include "ckptdb/options.h"
#include "ckptdb/status.h"
#include "ckptdb/store.h"
#include "ckptdb/tensor.h"

namespace ckptdb {

// Safetensors files read into memory and checked, merged as one checkpoint: what ImportSafetensors
// saves. Reading them apart from saving lets a caller refuse bad input before it opens (or creates)
// a store. Move-only.
// Thread safety: Read may be called from any thread; a SafetensorsFiles may be read from several.
class SafetensorsFiles {
 public:
  // Reads and validates every file of `files` (at least one). A path that is not a regular file (a
  // FIFO, a directory, a device, a socket) is refused before it is opened for reading, so Read
  // never blocks on one. Files are read with pread, never mapped, so one truncated while it is
  // read is an error, never a signal.
  // Memory: every file's data section (its size less its header) until this object is destroyed.
  // Errors: InvalidArgument for an empty list; NotFound naming a missing file; InvalidArgument
  // naming a path that is not a regular file and what it is ("is a FIFO, not a regular file");
  // Corruption naming the file and its fault for malformed content; IOError naming the file when a
  // read fails, or "PATH: truncated while being read (...)" when it shrank meanwhile;
  // InvalidArgument naming the tensor and both files when a tensor name is in two of them, or the
  // key and both files when a "__metadata__" key has different values in two; ResourceExhausted
  // when memory runs out.
  static Result<SafetensorsFiles> Read(std::span<const std::string> files);

  SafetensorsFiles(SafetensorsFiles&&) noexcept;
  SafetensorsFiles& operator=(SafetensorsFiles&&) noexcept;
  ~SafetensorsFiles();

  // Every tensor: the files in the order given, each file's tensors in the order of their bytes
  // in it. Views into memory this object owns.
  std::span<const TensorRef> tensors() const;
  // The tensors of the `file`-th path given to Read (a slice of tensors()), so a caller can check
  // which file holds which tensor (an index of sharded files). REQUIRES: file < the paths given.
  std::span<const TensorRef> tensors_of(size_t file) const;
  // The files' "__metadata__" maps merged (a key the files share, once).
  const std::map<std::string, std::string>& metadata() const;

 private:
  friend Result<SavedCheckpoint> ImportSafetensors(Store&, const SafetensorsFiles&, const SaveOptions&);
  struct Rep;
  explicit SafetensorsFiles(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

// Saves `files` as one new checkpoint (Store::Save with options), its metadata options.metadata
// plus the files' merged "__metadata__". options.progress reports the save as Store::Save does
// (total: the files' tensor bytes).
// Errors: InvalidArgument naming the key and the first file that holds it when a metadata key of
// `options` has a different value in a file; as Store::Save otherwise (e.g. AlreadyExists for a
// tag in use). On any error nothing is saved.
// Thread safety: as Store::Save.
Result<SavedCheckpoint> ImportSafetensors(Store& store, const SafetensorsFiles& files, const SaveOptions& options);

// SafetensorsFiles::Read(files), then the ImportSafetensors above. Errors: theirs; when reading
// fails, the store is not touched.
Result<SavedCheckpoint> ImportSafetensors(Store& store, std::span<const std::string> files,
                                          const SaveOptions& options);

struct ExportOptions {
  // The most tensor bytes held in memory at once: the checkpoint is read and written through one
  // buffer this large (one chunk, if chunks are larger), never whole. Default: 64 MiB.
  uint64_t window_bytes = 64ull << 20;
  // Re-hash every chunk read and compare it with its digest. Default: true.
  bool verify_chunks = true;
  // Progress (see ProgressFn in options.h). total_bytes is the checkpoint's logical bytes (its
  // tensors' bytes, not the header); a window counts once it is written. Default: none.
  ProgressFn progress;
};

// Writes the checkpoint `which` selects to the safetensors file `path`: its tensors in saved order,
// its metadata as "__metadata__" (left out when empty). Atomic: written to PATH.tmp-XXXXXX beside
// it, fsynced, renamed over PATH, and the directory fsynced; on any error PATH is left as it was
// and no temporary remains. The checkpoint is read as one read of the store (one committed state
// throughout, as every read in store.h); read-only stores export too. Returns the exported
// checkpoint's summary.
// Memory: at most max(window_bytes, chunk size) bytes of tensor data, plus the manifest.
// REQUIRES: `store` was returned by Store::Open or Store::OpenReadOnly (InvalidArgument otherwise).
// Errors: NotFound naming the store and the selector; InvalidArgument naming PATH and the tensor
// when a tensor is called "__metadata__" (a name safetensors reserves); IOError naming PATH when
// the file cannot be created or written (e.g. its directory is missing); as Restore for the read
// (Corruption naming checkpoint, tensor and chunk).
// Aborted if options.progress threw (PATH is left as it was).
// Thread safety: may be called from any thread.
Result<CheckpointInfo> ExportSafetensors(Store& store, const Selector& which, const std::string& path,
                                         const ExportOptions& options = {});

// The same export as a stream, for `ckptdb export -o -`: exactly the bytes the file export writes,
// written to `out` as they are read (header first), then flushed. Not atomic, since a stream
// cannot be renamed into place: on any error `out` may hold a prefix of the file, and the caller
// must treat the export as failed. Memory, REQUIRES and thread safety as the file export; one
// thread at a time may write to `out`.
// SIGPIPE: the export blocks SIGPIPE on the calling thread while it writes, so a pipe whose
// reader has gone is an IOError, never the end of the process, whatever the process's SIGPIPE
// disposition (which is left untouched). That covers writes made on this thread only: an ostream
// whose buffer writes from another thread is the caller's to guard.
// Errors: IOError "the output stream: cannot write" (or "cannot flush"; with the reason where errno
// tells one) once `out` fails (badbit or failbit, e.g. a file stream on a full disk); otherwise as
// the file export. A stream already failed when called gets IOError and no chunk is read.
Result<CheckpointInfo> ExportSafetensors(Store& store, const Selector& which, std::ostream& out,
                                         const ExportOptions& options = {});

// The stream export to the open file descriptor `fd` (1 for standard output), written with write(2)
// without buffering. `fd` is neither closed nor synced (the caller owns it). As the ostream export
// otherwise. Errors: IOError "file descriptor 1 (standard output): cannot write: <reason>" (e.g.
// "Broken pipe" for a closed pipe, "No space left on device" for /dev/full, "Bad file descriptor").
Result<CheckpointInfo> ExportSafetensorsToFd(Store& store, const Selector& which, int fd,
                                             const ExportOptions& options = {});

}  // namespace ckptdb
