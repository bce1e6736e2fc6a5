// PackRun: gathers the new chunks one save thread found into few large pack writes.
//
// Why: the development VM's virtual disk writes 16 MiB O_DIRECT pieces at 1.6-2x the rate of
// 4 MiB ones (2.0 against 1.2 GB/s at one write in flight, measured with 1 GiB of writes; two
// 4 MiB writers in parallel do no better than one), so writing each 4 MiB chunk on its own held
// a save to about 60% of the disk. A run reserves one extent of the pack for all its chunks and
// hands it to the save's PackQueue as one write: straight from the caller's memory when the
// chunks lie there as in the pack (page aligned, slot after slot: whole pages, or a capture's
// staging, which zeroes each chunk's padding), else gathered into one of the store's write buffers.
//
// Not thread-safe: one PackRun per thread and task group; Flush before it is dropped.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "ckptdb/digest.h"
#include "ckptdb/status.h"
#include "store/pack_file.h"
#include "store/pack_queue.h"
#include "store/save_stages.h"

namespace ckptdb {

// Bytes (chunks padded to kPackAlign) one run writes at most, unless a single chunk is larger.
inline constexpr uint64_t kPackRunBytes = 16 << 20;
// What one write buffer holds in a store of `chunk_size`: a run, or one chunk if that is larger.
inline constexpr uint64_t PackRunBufferBytes(uint64_t chunk_size) {
  return PackPadded(chunk_size > kPackRunBytes ? chunk_size : kPackRunBytes);
}

class PackRun {
 public:
  // `writer` gives the save's pack (creating it at the first call); `placed` is told, on the
  // queue's thread, where each chunk went once its run is written. `queue` outlives this.
  using GetWriter = std::function<Result<PackWriter*>()>;
  using Placed = std::function<void(const Digest& d, uint64_t offset, uint64_t length)>;
  PackRun(PackQueue& queue, GetWriter writer, Placed placed)
      : queue_(queue), writer_(std::move(writer)), placed_(std::move(placed)) {}
  ~PackRun();  // gives back a buffer a failed run still holds

  // Adds a chunk. `stable`: `host` stays readable until the queue is drained (the caller's or
  // staging memory); otherwise (a device source's temporary host copy) its bytes are copied before
  // this returns. May queue the run so far first. Errors: the pack's creation, a queued write's
  // (any earlier one of the save's); ResourceExhausted when memory for a buffer runs out;
  // InvalidArgument for a chunk larger than the queue's buffers.
  Status Add(const Digest& d, const ChunkView& host, bool stable);
  // Queues what was added since the last Flush; its chunks are reported to `placed` once written.
  Status Flush();

 private:
  struct Entry {
    Digest digest;
    const uint8_t* data;  // stable bytes, or null once copied into buffer_
    uint64_t length;
    uint64_t at;  // offset within the run
    bool zero_padded;  // `data` carries the slot's zero padding too (ChunkView::zero_padded)
  };
  // Every chunk stable, page aligned, and laid out in memory as in the pack (slot after slot, each
  // whole pages or carrying its zero padding): write in place.
  bool Contiguous() const;

  Status TakeBuffer();  // buffer_ for the run, if it has none

  PackQueue& queue_;
  GetWriter writer_;
  Placed placed_;
  std::vector<Entry> entries_;
  uint64_t bytes_ = 0;  // padded bytes added since the last Flush
  uint8_t* buffer_ = nullptr;  // taken from queue_.buffers() when the run needs one
};

}  // namespace ckptdb
