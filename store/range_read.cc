// ReadTensorRange: part of one tensor, reading only the chunks that overlap the range.
#include <algorithm>
#include <cstring>
#include <vector>

#include "store/human_text.h"
#include "store/store_impl.h"

namespace ckptdb {

Result<RangeReadReport> StoreImpl::ReadTensorRange(const Selector& which, const std::string& name, uint64_t offset,
                                                   std::span<uint8_t> dst, const ReadOptions& options) {
  Reading read = BeginRead();
  auto m = DescribeAt(which, read.at());
  if (!m.ok()) return m.status();
  auto t = std::find_if(m->tensors.begin(), m->tensors.end(), [&](const TensorInfo& x) { return x.name == name; });
  if (t == m->tensors.end()) return Status::NotFound(Where(m->info) + " has no tensor '" + name + "'");
  // Written so that an offset near 2^64 cannot wrap past the check.
  if (offset > t->size_bytes || dst.size() > t->size_bytes - offset)
    return Status::InvalidArgument(Where(m->info) + ", tensor '" + name + "': " + Plural(dst.size(), "byte") +
                                   " at offset " + std::to_string(offset) + (dst.size() == 1 ? " exceeds" : " exceed") +
                                   " its " + Plural(t->size_bytes, "byte"));
  RangeReadReport report;
  if (dst.empty()) return report;

  const uint64_t cs = m->chunk_size, end = offset + dst.size();
  // A chunk wholly inside the range is read straight into dst. One cut by an edge of the range (at
  // most the first and the last) must still be read whole to check its digest, so it goes to a
  // scratch buffer and only its covered part is copied.
  struct Edge {
    uint64_t start;
    Buffer bytes;
  };
  std::vector<Edge> edges;
  std::vector<ChunkRead> reads;
  for (uint64_t i = offset / cs; i <= (end - 1) / cs; ++i) {
    const uint64_t start = i * cs, length = ChunkLength(t->size_bytes, i, cs);
    uint8_t* dest;
    if (start >= offset && start + length <= end) {
      dest = dst.data() + (start - offset);
    } else {
      edges.push_back({start, Buffer::Allocate(length)});
      dest = edges.back().bytes.data();
    }
    reads.push_back({&*t, i, length, dest});
    ++report.chunks_read;
    report.bytes_read += length;
  }
  if (Status s = ReadChunks(m->info, reads, options, read.at()); !s.ok()) return s;
  for (const Edge& e : edges) {
    const uint64_t lo = std::max(e.start, offset), hi = std::min(e.start + e.bytes.size(), end);
    std::memcpy(dst.data() + (lo - offset), e.bytes.data() + (lo - e.start), hi - lo);
  }
  return report;
}

}  // namespace ckptdb
