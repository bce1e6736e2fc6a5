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
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "ckptdb/digest.h"
#include "ckptdb/status.h"
#include "store/io/file_system.h"

namespace ckptdb {

inline constexpr uint64_t kPackAlign = 4096;
// `n` rounded up to kPackAlign: what a chunk of n bytes takes in a pack.
inline constexpr uint64_t PackPadded(uint64_t n) { return (n + kPackAlign - 1) / kPackAlign * kPackAlign; }

// "DIR/00000000000000000042.pack"
std::string PackPath(const std::string& dir, uint64_t pack_id);

// Writes one pack. Reserve and Write are thread-safe; Finish is called once after all writes.
class PackWriter {
 public:
  // Creates (or truncates: a pack id is only reused after a crash left the file unreferenced) the
  // pack file in `dir` of `fs`. Uses O_DIRECT when `direct_io` and the filesystem allows it.
  static Result<std::unique_ptr<PackWriter>> Create(io::FileSystem& fs, const std::string& dir, uint64_t pack_id,
                                                    bool direct_io);

  // Room for `len` bytes; returns its offset, a multiple of kPackAlign.
  uint64_t Reserve(uint64_t len);
  // Writes `len` bytes at an offset from Reserve.
  Status Write(uint64_t offset, const void* data, uint64_t len);
  // Makes every byte written durable (fdatasync, then fsync of the directory for the new name).
  Status Finish();

 private:
  PackWriter(io::FileSystem& fs, std::string dir, std::unique_ptr<io::WritableFile> file);
  io::FileSystem& fs_;
  const std::string dir_;
  const std::unique_ptr<io::WritableFile> file_;
  std::atomic<uint64_t> end_{0};
};

// Reads chunks from any pack of a store. Thread-safe. Keeps the descriptors of the `max_open` packs
// read most recently open: a store of thousands of packs must not run the process out of
// descriptors. A descriptor dropped from the cache closes only once no read still uses it.
class PackReader {
 public:
  static constexpr size_t kDefaultMaxOpen = 64;
  PackReader(std::shared_ptr<io::FileSystem> fs, std::string dir, bool direct_io, size_t max_open = kDefaultMaxOpen)
      : fs_(std::move(fs)), dir_(std::move(dir)), direct_io_(direct_io), max_open_(max_open) {}
  // Reads `len` bytes at `offset` of pack `pack_id` into `dest`. Corruption if the pack is missing
  // or too short.
  Status Read(uint64_t pack_id, uint64_t offset, uint64_t len, uint8_t* dest);
  // As Read, and returns the BLAKE3 digest of the bytes read. Buffered reads land and are hashed
  // piece by piece (blake3::HashFilled), each piece while still in cache; O_DIRECT reads, which
  // want the whole length in one request, are read first and hashed after.
  Result<Digest> ReadHashed(uint64_t pack_id, uint64_t offset, uint64_t len, uint8_t* dest);

  // Closes the cached descriptor of a pack about to be deleted, so its space really returns.
  void Evict(uint64_t pack_id);

 private:
  Result<std::shared_ptr<io::ReadableFile>> File(uint64_t pack_id);
  Status Read(io::ReadableFile& file, uint64_t pack_id, uint64_t offset, uint64_t len, uint8_t* dest);
  Status ShortRead(uint64_t pack_id, uint64_t end) const;
  struct Cached {
    std::shared_ptr<io::ReadableFile> file;
    std::list<uint64_t>::iterator lru;  // its place in lru_
  };
  const std::shared_ptr<io::FileSystem> fs_;
  const std::string dir_;
  const bool direct_io_;
  const size_t max_open_;
  std::mutex mu_;
  std::map<uint64_t, Cached> open_;
  std::list<uint64_t> lru_;  // pack ids in open_, most recently read first
};

// A per-thread, page-aligned, pre-faulted buffer of at least `size` bytes, reused across calls.
uint8_t* ThreadScratch(uint64_t size);

}  // namespace ckptdb
