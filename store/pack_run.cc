#include "store/pack_run.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

namespace ckptdb {
namespace {

bool PageAligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % kPackAlign == 0; }

// Copies `len` bytes to `dst` and zeroes the padding up to the next kPackAlign, so a pack never
// carries stale memory between chunks.
void CopyPadded(uint8_t* dst, const uint8_t* src, uint64_t len) {
  std::memcpy(dst, src, len);
  std::memset(dst + len, 0, PackPadded(len) - len);
}

}  // namespace

PackRun::~PackRun() {
  if (buffer_) queue_.buffers().Give(buffer_);
}

Status PackRun::TakeBuffer() {
  if (buffer_) return Status::OK();
  auto b = queue_.buffers().Take();
  if (!b.ok()) return b.status();
  buffer_ = *b;
  return Status::OK();
}

Status PackRun::Add(const Digest& d, const ChunkView& host, bool stable) {
  const uint64_t padded = PackPadded(host.length);
  // A buffer holds a run or one of the store's largest chunks (PackRunBufferBytes).
  if (padded > queue_.buffers().block_bytes())
    return Status::InvalidArgument("a " + std::to_string(host.length) + "-byte chunk is larger than the " +
                                   std::to_string(queue_.buffers().block_bytes()) + "-byte write buffers");
  if (bytes_ > 0 && bytes_ + padded > queue_.buffers().block_bytes())
    if (Status s = Flush(); !s.ok()) return s;
  Entry e{d, host.data, host.length, bytes_, stable && host.zero_padded};
  if (!stable) {
    if (Status s = TakeBuffer(); !s.ok()) return s;
    CopyPadded(buffer_ + e.at, host.data, host.length);
    e.data = nullptr;
  }
  entries_.push_back(e);
  bytes_ += padded;
  return Status::OK();
}

bool PackRun::Contiguous() const {
  if (!entries_.front().data || !PageAligned(entries_.front().data)) return false;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (!e.data || (e.length % kPackAlign != 0 && !e.zero_padded)) return false;
    if (i > 0 && e.data != entries_[i - 1].data + PackPadded(entries_[i - 1].length)) return false;
  }
  return true;
}

Status PackRun::Flush() {
  if (entries_.empty()) return Status::OK();
  auto writer = writer_();
  if (!writer.ok()) return writer.status();
  const uint8_t* src;
  if (Contiguous()) {
    src = entries_.front().data;
  } else {
    if (Status s = TakeBuffer(); !s.ok()) return s;
    for (const Entry& e : entries_)
      if (e.data) CopyPadded(buffer_ + e.at, e.data, e.length);
    src = buffer_;
  }
  // One extent for the whole run: every chunk keeps its kPackAlign-aligned place in it.
  const uint64_t len = std::exchange(bytes_, 0);
  const uint64_t base = (*writer)->Reserve(len);
  std::vector<Entry> entries = std::move(entries_);
  entries_.clear();
  // The write may finish after this run is gone: the report takes its own copies.
  return queue_.Submit(*writer, base, src, len, std::exchange(buffer_, nullptr),
                       [placed = placed_, base, entries = std::move(entries)] {
                         for (const Entry& e : entries) placed(e.digest, base + e.at, e.length);
                       });
}

}  // namespace ckptdb
