// Restore: read chunks in parallel straight into the destination, checking each against its digest.
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>

#include "store/human_text.h"
#include "store/keys.h"
#include "store/store_impl.h"

namespace ckptdb {

Status StoreImpl::ReadChunk(const Digest& d, uint64_t length, uint8_t* dest, bool verify, const DbSnapshot* at) {
  auto value = db_->GetChunk(d, at);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return Status::Corruption("chunk " + d.ToHex() + " is missing");
  auto ref = keys::DecodeChunkRef(**value);
  // A packed offset must be one a writer could have produced; anything else would reach pread as
  // EINVAL and read as an I/O failure instead of the damage it is.
  if (!ref || (!ref->is_inline && (ref->offset % kPackAlign != 0 ||
                                   ref->offset > static_cast<uint64_t>(INT64_MAX) - ref->length)))
    return Status::Corruption("the index entry of chunk " + d.ToHex() + " is malformed");
  if (ref->codec != keys::kCodecNone)
    return Status::NotSupported("chunk " + d.ToHex() + " is stored with codec " + std::to_string(ref->codec) +
                                ", which this build of ckptdb does not know");
  if (ref->length != length || ref->raw_length != length)
    return Status::Corruption("chunk " + d.ToHex() + " holds " + Plural(ref->length, "byte") +
                              ", expected " + std::to_string(length));
  Digest got;  // what the bytes read hash to, when verifying
  if (ref->is_inline) {
    std::memcpy(dest, ref->bytes.data(), length);
    if (verify) got = HashBytes(dest, length);
  } else if (verify) {
    auto read = packs_.ReadHashed(ref->pack, ref->offset, length, dest);
    if (!read.ok()) return read.status().WithContext("chunk " + d.ToHex());
    got = *read;
  } else if (Status s = packs_.Read(ref->pack, ref->offset, length, dest); !s.ok()) {
    return s.WithContext("chunk " + d.ToHex());
  }
  if (verify && got != d) return Status::Corruption("chunk " + d.ToHex() + " does not match its digest");
  return Status::OK();
}

Status StoreImpl::ReadChunks(const CheckpointInfo& where, std::span<const ChunkRead> reads,
                             const ReadOptions& options, const DbSnapshot* at, ProgressReporter* progress) {
  std::mutex mu;
  Status first;
  std::atomic<bool> failed{false};
  read_pool_.ParallelFor(reads.size(), [&](size_t k) {
    if (failed.load(std::memory_order_relaxed)) return;
    if (progress && progress->failed()) return failed.store(true);
    const ChunkRead& r = reads[k];
    Status s = ReadChunk(r.tensor->chunks[r.index], r.length, r.dest, options.verify_chunks, at);
    if (s.ok()) {
      if (progress) progress->Add(r.length);
      return;
    }
    std::lock_guard<std::mutex> l(mu);
    if (!failed.exchange(true))
      first = s.WithContext(Where(where) + ", tensor '" + r.tensor->name + "', chunk " + std::to_string(r.index));
  });
  if (first.ok() && progress && progress->failed()) return progress->status().WithContext(Where(where));
  return first;
}

Status StoreImpl::ReadTensors(const CheckpointManifest& m, const std::vector<size_t>& which,
                              const std::vector<uint8_t*>& dest, const ReadOptions& options,
                              const DbSnapshot* at) {
  std::vector<uint64_t> sizes;
  uint64_t total = 0;
  for (size_t t : which) total += sizes.emplace_back(m.tensors[t].size_bytes);
  std::vector<ChunkRead> reads;
  for (const ChunkTask& task : PlanChunks(sizes, m.chunk_size))
    reads.push_back({&m.tensors[which[task.tensor]], task.index, task.length, dest[task.tensor] + task.offset});
  ProgressReporter progress(options.progress, total);
  if (Status s = ReadChunks(m.info, reads, options, at, &progress); !s.ok()) return s;
  return progress.Finish().WithContext(Where(m.info));
}

Result<std::vector<Tensor>> StoreImpl::Restore(const Selector& which, const ReadOptions& options) {
  Reading read = BeginRead();
  auto m = DescribeAt(which, read.at());
  if (!m.ok()) return m.status();
  std::vector<Tensor> out(m->tensors.size());
  std::vector<size_t> all(m->tensors.size());
  std::vector<uint8_t*> dest(m->tensors.size());
  for (size_t i = 0; i < out.size(); ++i) {
    const TensorInfo& t = m->tensors[i];
    out[i].name = t.name;
    out[i].dtype = t.dtype;
    out[i].shape = t.shape;
    all[i] = i;
  }
  // Faulting fresh pages in costs about as much as reading them on the development VM (pre-faulted:
  // ~0.8 GB/s on one core, ~1.9 GB/s on two), so every read thread allocates buffers at once. An
  // allocation failure (bad_alloc) is rethrown on this thread, as from a serial loop.
  read_pool_.ParallelFor(out.size(), [&](size_t i) { out[i].bytes = Buffer::Allocate(m->tensors[i].size_bytes); });
  for (size_t i = 0; i < out.size(); ++i) dest[i] = out[i].bytes.data();
  if (Status s = ReadTensors(*m, all, dest, options, read.at()); !s.ok()) return s;
  return out;
}

Status StoreImpl::RestoreInto(const Selector& which, std::span<const TensorBuffer> buffers,
                              const ReadOptions& options) {
  Reading read = BeginRead();
  auto m = DescribeAt(which, read.at());
  if (!m.ok()) return m.status();
  std::map<std::string_view, size_t> by_name;
  for (size_t i = 0; i < m->tensors.size(); ++i) by_name[m->tensors[i].name] = i;
  std::vector<size_t> picked;
  std::vector<uint8_t*> dest;
  for (const TensorBuffer& b : buffers) {
    if (b.cuda_device != kHostMemory)
      return Status::InvalidArgument("buffer for tensor '" + b.name + "' is in the memory of CUDA device " +
                                     std::to_string(b.cuda_device) +
                                     ": Store::RestoreInto writes host memory only; use gpu::RestoreIntoDevice");
    auto it = by_name.find(b.name);
    if (it == by_name.end())
      return Status::NotFound(Where(m->info) + " has no tensor '" + b.name + "'");
    const TensorInfo& t = m->tensors[it->second];
    if (b.dtype != t.dtype || b.shape != t.shape || b.size_bytes != t.size_bytes)
      return Status::InvalidArgument(
          Where(m->info) + ", tensor '" + t.name + "': saved as " + std::string(DTypeName(t.dtype)) +
          " " + ShapeToString(t.shape) + " (" + Plural(t.size_bytes, "byte") + "), buffer is " +
          std::string(DTypeName(b.dtype)) + " " + ShapeToString(b.shape) + " (" +
          Plural(b.size_bytes, "byte") + ")");
    if (b.size_bytes > 0 && b.data == nullptr)
      return Status::InvalidArgument("buffer for tensor '" + b.name + "' is null");
    picked.push_back(it->second);
    dest.push_back(static_cast<uint8_t*>(b.data));
  }
  return ReadTensors(*m, picked, dest, options, read.at());
}

}  // namespace ckptdb
