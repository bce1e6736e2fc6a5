// Reader holds: how a process that reads a store another process writes keeps the writer's
// garbage collection from deleting pack files it may still read (schema/FORMAT.md, "Readers").
//
// Each read-only open creates one file in STORE/readers/, holds an open-file-description write lock
// on it (fcntl F_OFD_SETLK) for as long as the store is open, and names in the file's name the
// collection epoch (meta key `gc_epoch`) of the catalog state it reads: "pending.<pid>.<nonce>"
// until it knows, then "<epoch>.<pid>.<nonce>". Only a name is ever written, never file contents,
// so a hold can be taken on a full disk. The kernel drops the lock when the process dies, however
// it dies, so a killed reader's hold ends with it. The writer never waits for a reader: before
// deleting un-named packs it asks OldestReaderEpoch, and if a live reader is older than the current
// epoch it leaves the files for a later collection.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "ckptdb/status.h"

namespace ckptdb {

// The directory under the store that holds the reader holds. Writers create it (at creation and on
// every writable open), so a read-only open adds nothing to the store's tree.
inline constexpr char kReaderHoldsDir[] = "readers";

class ReaderHold {
 public:
  // Registers a pending hold in `store_dir`/readers/. Where the store cannot be written (a read-only
  // file system or copy) nothing could collect it either: returns an empty hold that holds nothing.
  static Result<std::unique_ptr<ReaderHold>> Take(const std::string& store_dir);
  ~ReaderHold();
  ReaderHold(const ReaderHold&) = delete;
  ReaderHold& operator=(const ReaderHold&) = delete;

  // Records that the catalog state this process reads from now on is of collection epoch `epoch`.
  Status Advance(uint64_t epoch);
  bool holds() const { return fd_ >= 0; }

 private:
  ReaderHold(std::string dir, std::string name, int fd) : dir_(std::move(dir)), name_(std::move(name)), fd_(fd) {}
  std::string dir_, name_, nonce_;
  int fd_;
};

// The writer's side: the oldest epoch held by a live reader process of the store (a pending hold
// counts as 0), or nullopt if none. Files of readers that died are removed on the way.
std::optional<uint64_t> OldestReaderEpoch(const std::string& store_dir);

}  // namespace ckptdb
