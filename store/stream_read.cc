// StreamCheckpoint: a restore of one window of chunks at a time, under one read.
#include "store/stream_read.h"

#include <algorithm>
#include <atomic>
#include <mutex>

#include "store/guarded_store.h"
#include "store/store_impl.h"

namespace ckptdb {

namespace {
const Status kNotOpened =
    Status::InvalidArgument("streaming a checkpoint needs a store opened with Store::Open or Store::OpenReadOnly");
}  // namespace

Status StreamCheckpoint(Store& store, const Selector& which, uint64_t window_bytes, const ReadOptions& options,
                        const StreamBegin& begin, const StreamWrite& write) {
  auto* guarded = dynamic_cast<GuardedStore*>(&store);
  if (guarded == nullptr) return kNotOpened;
  return guarded->StreamCheckpoint(which, window_bytes, options, begin, write);
}

Status StreamCheckpoint(Store& store, const Selector& which, const StreamWindows& windows, const ReadOptions& options,
                        const StreamBegin& begin, const StreamWrite& write) {
  auto* guarded = dynamic_cast<GuardedStore*>(&store);
  if (guarded == nullptr) return kNotOpened;
  if (windows.buffers.empty() || windows.bytes < store.chunk_size())
    return Status::InvalidArgument("streaming a checkpoint needs at least one window of at least the chunk size (" +
                                   std::to_string(store.chunk_size()) + " bytes)");
  return guarded->StreamCheckpoint(which, windows.bytes, options, begin, write, &windows);
}

Status StoreImpl::StreamCheckpoint(const Selector& which, uint64_t window_bytes, const ReadOptions& options,
                                   const StreamBegin& begin, const StreamWrite& write, const StreamWindows* windows) {
  Reading read = BeginRead();
  auto m = DescribeAt(which, read.at());
  if (!m.ok()) return m.status();
  if (Status s = begin(*m); !s.ok()) return s;
  std::vector<uint64_t> sizes;
  uint64_t total = 0;
  for (const TensorInfo& t : m->tensors) {
    sizes.push_back(t.size_bytes);
    total += t.size_bytes;
  }
  const std::vector<ChunkTask> tasks = PlanChunks(sizes, m->chunk_size);
  const uint64_t window = std::max(window_bytes, m->chunk_size);
  Buffer own = windows ? Buffer() : Buffer::Allocate(std::min(window, total));

  std::vector<uint64_t> at;  // where each chunk of the window goes in the buffer
  for (size_t first = 0, piece = 0; first < tasks.size(); ++piece) {
    uint8_t* buffer = own.data();
    if (windows) {
      const size_t w = piece % windows->buffers.size();
      if (piece >= windows->buffers.size() && windows->reuse)
        if (Status s = windows->reuse(w); !s.ok()) return s;
      buffer = windows->buffers[w];
    }
    size_t end = first;
    uint64_t fill = 0;
    at.clear();
    for (; end < tasks.size() && fill + tasks[end].length <= window; fill += tasks[end++].length) at.push_back(fill);
    std::mutex mu;
    Status failure;
    std::atomic<bool> failed{false};
    read_pool_.ParallelFor(end - first, [&](size_t k) {
      if (failed.load(std::memory_order_relaxed)) return;
      const ChunkTask& task = tasks[first + k];
      const TensorInfo& tensor = m->tensors[task.tensor];
      Status s = ReadChunk(tensor.chunks[task.index], task.length, buffer + at[k], options.verify_chunks,
                           read.at());
      if (s.ok()) return;
      std::lock_guard<std::mutex> l(mu);
      if (!failed.exchange(true))
        failure = s.WithContext(Where(m->info) + ", tensor '" + tensor.name + "', chunk " + std::to_string(task.index));
    });
    if (!failure.ok()) return failure;
    if (Status s = write(std::span<const uint8_t>(buffer, fill)); !s.ok()) return s;
    first = end;
  }
  return Status::OK();
}

}  // namespace ckptdb
