// Verify: read and re-hash every distinct chunk once, then report every tensor that uses a bad one.
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>

#include "store/store_impl.h"

namespace ckptdb {

Result<VerifyReport> StoreImpl::Verify(const VerifyOptions& options) {
  Reading read = BeginRead();
  auto raws = db_->ScanManifests(read.at());
  if (!raws.ok()) return raws.status();
  VerifyReport report;
  report.checkpoints = raws->size();
  // The catalog's own files can rot where no read above or below looks (an orphan index entry, an
  // old version): their checksums are checked whole. Damage there is reported, not an error.
  if (Status s = db_->VerifyCatalogChecksums(); s.code() == Code::kCorruption)
    report.damage.push_back({0, 0, "", 0, Digest{}, "catalog (RocksDB files in db/): " + s.message()});
  else if (!s.ok())
    return s;
  // A manifest that does not decode is damage to report, not a reason to stop checking the rest.
  std::vector<CheckpointManifest> all;
  for (const auto& [id, bytes] : *raws) {
    auto m = DecodeStored(id, bytes);
    if (m.ok()) all.push_back(std::move(m).value());
    else report.damage.push_back({id, 0, "", 0, Digest{}, m.status().message()});
  }

  std::map<Digest, uint64_t> lengths;  // each distinct chunk and the length its users expect
  for (const auto& m : all)
    for (const auto& t : m.tensors)
      for (size_t i = 0; i < t.chunks.size(); ++i)
        lengths.emplace(t.chunks[i], ChunkLength(t.size_bytes, i, m.chunk_size));
  std::vector<std::pair<Digest, uint64_t>> chunks(lengths.begin(), lengths.end());
  uint64_t total = 0;
  for (const auto& [d, length] : chunks) total += length;
  ProgressReporter progress(options.progress, total);

  std::mutex mu;
  std::map<Digest, std::string> problems;
  std::atomic<uint64_t> bytes{0};
  read_pool_.ParallelFor(chunks.size(), [&](size_t k) {
    if (progress.failed()) return;
    const auto& [d, length] = chunks[k];
    thread_local Buffer scratch;  // page-aligned, so pack reads land in it directly
    if (scratch.size() < length) scratch = Buffer::Allocate(length);
    Status s = ReadChunk(d, length, scratch.data(), /*verify=*/true, read.at());
    progress.Add(length);
    if (s.ok()) bytes.fetch_add(length);
    if (s.ok()) return;
    std::lock_guard<std::mutex> l(mu);
    problems[d] = s.message();
  });
  if (Status s = progress.Finish(); !s.ok()) return s.WithContext("store " + path_ + ", verifying");
  report.chunks_checked = chunks.size();
  report.bytes_checked = bytes.load();

  for (const auto& m : all)
    for (const auto& t : m.tensors)
      for (size_t i = 0; i < t.chunks.size(); ++i)
        if (auto it = problems.find(t.chunks[i]); it != problems.end())
          report.damage.push_back({m.info.id, m.info.step, t.name, i, t.chunks[i], it->second});
  return report;
}

}  // namespace ckptdb
