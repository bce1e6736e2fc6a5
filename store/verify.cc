// Verify: read and re-hash every distinct chunk once, then report every tensor that uses a bad one.
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>

#include "store/store_impl.h"

namespace ckptdb {

Result<VerifyReport> StoreImpl::Verify() {
  auto all = LoadAll();
  if (!all.ok()) return all.status();
  VerifyReport report;
  report.checkpoints = all->size();

  std::map<Digest, uint64_t> lengths;  // each distinct chunk and the length its users expect
  for (const auto& m : *all)
    for (const auto& t : m.tensors)
      for (size_t i = 0; i < t.chunks.size(); ++i)
        lengths.emplace(t.chunks[i], std::min(m.chunk_size, t.size_bytes - i * m.chunk_size));
  std::vector<std::pair<Digest, uint64_t>> chunks(lengths.begin(), lengths.end());

  std::mutex mu;
  std::map<Digest, std::string> problems;
  std::atomic<uint64_t> bytes{0};
  pool_.ParallelFor(chunks.size(), [&](size_t k) {
    const auto& [d, length] = chunks[k];
    Status s = db_->ReadChunk(d, /*verify_checksum=*/true, [&](std::string_view data) {
      bytes.fetch_add(data.size());
      if (data.size() != length)
        return Status::Corruption("length " + std::to_string(data.size()) + " != " + std::to_string(length));
      if (HashBytes(data.data(), data.size()) != d) return Status::Corruption("digest mismatch");
      return Status::OK();
    });
    if (s.ok()) return;
    std::lock_guard<std::mutex> l(mu);
    problems[d] = s.code() == Code::kNotFound ? "missing" : s.message();
  });
  report.chunks_checked = chunks.size();
  report.bytes_checked = bytes.load();

  for (const auto& m : *all)
    for (const auto& t : m.tensors)
      for (size_t i = 0; i < t.chunks.size(); ++i)
        if (auto it = problems.find(t.chunks[i]); it != problems.end())
          report.damage.push_back({m.info.id, m.info.step, t.name, i, t.chunks[i], it->second});
  return report;
}

}  // namespace ckptdb
