// PackQueue: one thread that writes a save's pack runs (store/pack_run.h) one after another, so
// the save's workers go on hashing and gathering the next runs while the disk writes.
//
// Why (measured on the development VM, 2 cores, 2.1 GiB of fp32 state): with each worker writing
// its own runs, both workers sat in pwrite at once about half the time, the disk shared between
// two writers no faster than one, and nothing hashed meanwhile; the save took 1.8 s against 0.95 s
// for O_DIRECT writes of the same bytes, with the CPUs less than half busy. One writer at one
// write in flight is what this disk writes fastest (16 MiB pieces at ~2 GB/s), and hashing (two
// cores, ~4.8 GB/s) overlaps it almost for free.
//
// Thread safety: every method may be called from any thread. No Submit after Drain; Drain again
// (the destructor does) only returns the status.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "ckptdb/status.h"
#include "store/pack_file.h"
#include "store/staging_pool.h"

namespace ckptdb {

class PackQueue {
 public:
  // Starts the writer thread. `buffers` (the store's write buffers: pre-faulted once and reused
  // by every save, as the first touch of fresh pages runs near 1 GB/s here) must outlive this.
  explicit PackQueue(StagingPool& buffers);
  ~PackQueue();  // Drain(), ignoring its status
  PackQueue(const PackQueue&) = delete;
  PackQueue& operator=(const PackQueue&) = delete;

  StagingPool& buffers() { return buffers_; }

  // Queues a write of `len` bytes (a multiple of kPackAlign) from `src` at `offset` of `writer`,
  // waiting while kMaxQueued writes are queued. Once it is written, `written` runs on the writer
  // thread; then `buffer` (null when `src` is the caller's memory, which must stay readable until
  // then) goes back to buffers(). After a failed write nothing more is written or reported, and
  // every later buffer just goes back. Returns the first write's error, if one failed already.
  Status Submit(PackWriter* writer, uint64_t offset, const uint8_t* src, uint64_t len, uint8_t* buffer,
                std::function<void()> written);
  // Waits until every queued write is done and stops the thread; the first write's error, if any.
  Status Drain();
  Status status();

  static constexpr size_t kMaxQueued = 2;

 private:
  struct Write {
    PackWriter* writer;
    uint64_t offset;
    const uint8_t* src;
    uint64_t len;
    uint8_t* buffer;
    std::function<void()> written;
  };
  void Loop();

  StagingPool& buffers_;
  std::mutex mu_;
  std::condition_variable changed_;  // a write was queued or finished, or draining began
  std::deque<Write> queue_;
  bool draining_ = false;
  Status status_;
  std::thread thread_;
};

}  // namespace ckptdb
