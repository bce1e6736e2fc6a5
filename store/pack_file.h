// Pack files: append-only files of chunk bytes under STORE/packs/. Every chunk starts at a
// 4 KiB-aligned offset so that it can be written and read with O_DIRECT straight from and into
// aligned caller memory. The RocksDB index (see FORMAT.md) says which chunk lives where; bytes in a
// pack that no index entry names are garbage.
//
// Why not RocksDB's BlobDB (measured in bench/store_main.cc on the development VM): BlobDB copies
// every chunk into freshly allocated memtables (page faults there run at ~0.3 GB/s) and its flush
// writes blob files in serial 1 MiB writes with software CRC32C; a 2 GiB save took 55-67 s against
// 2 s for plain O_DIRECT writes of the same bytes.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "ckptdb/status.h"

namespace ckptdb {

inline constexpr uint64_t kPackAlign = 4096;

// "DIR/00000000000000000042.pack"
std::string PackPath(const std::string& dir, uint64_t pack_id);

// Writes one pack. Reserve and Write are thread-safe; Finish is called once after all writes.
class PackWriter {
 public:
  // Creates (or truncates: a pack id is only reused after a crash left the file unreferenced) the
  // pack file. Uses O_DIRECT when `direct_io` and the filesystem allows it.
  static Result<std::unique_ptr<PackWriter>> Create(const std::string& dir, uint64_t pack_id, bool direct_io);
  ~PackWriter();

  // Room for `len` bytes; returns its offset, a multiple of kPackAlign.
  uint64_t Reserve(uint64_t len);
  // Writes `len` bytes at an offset from Reserve.
  Status Write(uint64_t offset, const void* data, uint64_t len);
  // Makes every byte written durable (fdatasync, then fsync of the directory for the new name).
  Status Finish();

 private:
  PackWriter(std::string path, std::string dir, int fd, bool direct);
  const std::string path_, dir_;
  const int fd_;
  const bool direct_;
  std::atomic<uint64_t> end_{0};
};

// Reads chunks from any pack of a store. Thread-safe; keeps one descriptor per pack open.
class PackReader {
 public:
  PackReader(std::string dir, bool direct_io) : dir_(std::move(dir)), direct_io_(direct_io) {}
  ~PackReader();
  // Reads `len` bytes at `offset` of pack `pack_id` into `dest`. Corruption if the pack is missing
  // or too short.
  Status Read(uint64_t pack_id, uint64_t offset, uint64_t len, uint8_t* dest);

  // Closes the cached descriptor of a pack about to be deleted, so its space really returns.
  void Evict(uint64_t pack_id);

 private:
  Result<std::pair<int, bool>> Descriptor(uint64_t pack_id);  // fd, is O_DIRECT
  const std::string dir_;
  const bool direct_io_;
  std::mutex mu_;
  std::map<uint64_t, std::pair<int, bool>> fds_;
};

// A per-thread, page-aligned, pre-faulted buffer of at least `size` bytes, reused across calls.
uint8_t* ThreadScratch(uint64_t size);

}  // namespace ckptdb
