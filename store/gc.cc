// Garbage collection: mark the digests the manifests reference, then sweep the chunk index and the
// pack files. The order makes it crash-safe: (1) live chunks of mostly-dead packs are copied into a
// new pack and synced; (2) one synced batch deletes dead index entries and re-points moved ones;
// (3) only then are pack files that no index entry names deleted. A kill before (2) leaves an
// unreferenced new pack; after it, unreferenced old packs; the next run deletes either.
#include <algorithm>
#include <map>
#include <set>
#include <unordered_set>

#include "store/keys.h"
#include "store/store_impl.h"

namespace ckptdb {
namespace {

struct PackUse {
  uint64_t live = 0, dead = 0;  // padded live bytes; allocated bytes that are not live
  std::vector<std::pair<Digest, keys::ChunkRef>> live_chunks;
};

// Which partly live packs to rewrite: greedily the most-garbage ones first (the most space back per
// byte copied), until the garbage left is at most `budget` x the live bytes. Collecting after every
// rotation then copies only when garbage has built up, not every pack past a fixed fraction.
std::set<uint64_t> PacksToRewrite(const std::map<uint64_t, PackUse>& packs, double budget) {
  uint64_t live = 0, dead = 0;
  std::vector<std::pair<double, uint64_t>> by_garbage;  // (garbage fraction, pack id)
  for (const auto& [id, use] : packs) {
    if (use.live == 0) continue;  // deleted outright, at no copying cost
    live += use.live;
    dead += use.dead;
    if (use.dead > 0) by_garbage.emplace_back(double(use.dead) / double(use.live + use.dead), id);
  }
  std::sort(by_garbage.rbegin(), by_garbage.rend());
  std::set<uint64_t> out;
  for (const auto& [fraction, id] : by_garbage) {
    if (double(dead) <= budget * double(live)) break;
    out.insert(id);
    dead -= packs.at(id).dead;
  }
  return out;
}

uint64_t Padded(uint64_t n) { return (n + kPackAlign - 1) / kPackAlign * kPackAlign; }

// Pack files on disk: id -> allocated bytes.
std::map<uint64_t, uint64_t> PacksOnDisk(io::FileSystem& fs, const std::string& dir) {
  std::map<uint64_t, uint64_t> out;
  auto names = fs.ListDir(dir);
  if (!names.ok()) return out;
  for (const std::string& name : *names) {
    if (name.size() != 25 || name.substr(20) != ".pack" || name.find_first_not_of("0123456789") != 20) continue;
    if (auto bytes = fs.AllocatedBytes(dir + "/" + name); bytes.ok()) out[std::stoull(name.substr(0, 20))] = *bytes;
  }
  return out;
}

uint64_t Sum(const std::map<uint64_t, uint64_t>& m) {
  uint64_t n = 0;
  for (const auto& [id, bytes] : m) n += bytes;
  return n;
}

}  // namespace

Result<GcReport> StoreImpl::Collect(double garbage_budget) {
  std::lock_guard<std::mutex> lock(save_mu_);
  const std::string where = "store " + path_ + ", collecting garbage";
  GcReport report;
  // No save runs while this holds save_mu_, so the packs on disk stay as listed until the sweep.
  const std::map<uint64_t, uint64_t> on_disk = PacksOnDisk(*fs_, packs_dir_);
  const uint64_t disk_before = Sum(on_disk);

  // Retire what the policy no longer keeps, in its own durable batch before anything is swept: a
  // kill after it leaves only unreferenced chunks, which this sweep (or the next) reclaims.
  auto all = LoadAll();
  if (!all.ok()) return all.status();
  auto policy = GetRetention();
  if (!policy.ok()) return policy.status().WithContext(where);
  auto head = Head();
  if (!head.ok()) return head.status();
  if (policy->max_to_keep > 0 && *head) {
    CommitBatch retire;
    report.checkpoints_removed = RetireInto(*policy, *all, **head, retire);
    if (!report.checkpoints_removed.empty())
      if (Status s = db_->Commit(retire); !s.ok()) return s.WithContext(where + ", applying the retention policy");
  }

  // Mark.
  std::unordered_set<Digest, DigestHash> live;
  for (const auto& m : *all)
    for (const auto& t : m.tensors)
      live.insert(t.chunks.begin(), t.chunks.end());

  // Sweep the index: drop dead entries, account pack usage.
  auto index = db_->ScanChunks();
  if (!index.ok()) return index.status();
  CommitBatch batch;
  std::map<uint64_t, PackUse> packs;
  for (const auto& [d, value] : *index) {
    auto ref = keys::DecodeChunkRef(value);
    if (!ref) return Status::Corruption(where + ": the index entry of chunk " + d.ToHex() + " is malformed");
    const bool is_live = live.count(d) > 0;
    if (is_live) report.live_bytes += ref->length;
    if (!is_live) {
      batch.chunk_deletes.push_back(keys::ChunkIndexKey(d));
      ++report.chunks_deleted;
    }
    if (ref->is_inline || !is_live) continue;
    PackUse& use = packs[ref->pack];
    use.live += Padded(ref->length);
    use.live_chunks.emplace_back(d, *ref);
  }
  // Garbage is what a pack occupies beyond its live chunks: that also counts the chunks an earlier
  // collection dropped from the index without rewriting their pack, which the index no longer shows.
  for (const auto& [id, allocated] : on_disk)
    if (auto it = packs.find(id); it != packs.end()) it->second.dead = allocated - std::min(allocated, it->second.live);
  const std::set<uint64_t> rewrite = PacksToRewrite(packs, garbage_budget);

  // Copy the live chunks of mostly-dead packs into one new pack.
  auto next_pack = db_->GetMeta(keys::kNextPack);
  if (!next_pack.ok()) return next_pack.status();
  const auto new_id = next_pack->has_value() ? keys::DecodeU64(**next_pack) : std::optional<uint64_t>(1);
  if (!new_id) return Status::Corruption(where + ": next_pack is malformed");
  std::unique_ptr<PackWriter> writer;
  auto copy_live = [&]() -> Status {
    for (auto& [id, use] : packs) {
      if (!rewrite.count(id)) continue;
      if (!writer) {
        auto created = PackWriter::Create(*fs_, packs_dir_, *new_id, direct_io_);
        if (!created.ok()) return created.status();
        writer = std::move(created).value();
      }
      for (const auto& [d, ref] : use.live_chunks) {
        uint8_t* buf = ThreadScratch(Padded(ref.length));
        if (!buf) return Status::IOError("out of memory for a copy buffer");
        if (Status s = packs_.Read(ref.pack, ref.offset, ref.length, buf); !s.ok()) return s;
        // Never copy damage into a fresh pack where it would look like a sound chunk.
        if (HashBytes(buf, ref.length) != d)
          return Status::Corruption("live chunk " + d.ToHex() + " in pack " + std::to_string(id) +
                                    " does not match its digest; nothing was moved (run verify)");
        const uint64_t offset = writer->Reserve(ref.length);
        if (Status s = writer->Write(offset, buf, ref.length); !s.ok()) return s;
        batch.chunk_puts.emplace_back(keys::ChunkIndexKey(d), keys::EncodePackedChunk(*new_id, offset, ref.length));
      }
      ++report.packs_rewritten;
    }
    return writer ? writer->Finish() : Status::OK();
  };
  if (Status s = copy_live(); !s.ok()) {
    if (writer) {  // nothing names the new pack yet: take it away again
      writer.reset();
      fs_->Remove(PackPath(packs_dir_, *new_id)).IgnoreError();
    }
    return s.WithContext(where);
  }
  if (writer) batch.meta_puts.emplace_back(std::string(keys::kNextPack), keys::EncodeU64(*new_id + 1));
  if (!batch.chunk_deletes.empty() || !batch.chunk_puts.empty())
    if (Status s = db_->Commit(batch); !s.ok()) return s.WithContext(where);

  // Delete every pack file the committed index no longer names (including leftovers of crashed
  // saves and of earlier interrupted collections).
  auto after = db_->ScanChunks();
  if (!after.ok()) return after.status();
  std::set<uint64_t> named;
  for (const auto& [d, value] : *after)
    if (auto ref = keys::DecodeChunkRef(value); ref && !ref->is_inline) named.insert(ref->pack);
  {
    std::unique_lock<std::shared_mutex> files(files_mu_);
    for (const auto& [id, bytes] : PacksOnDisk(*fs_, packs_dir_)) {
      if (named.count(id)) continue;
      packs_.Evict(id);
      if (Status s = fs_->Remove(PackPath(packs_dir_, id)); !s.ok() && s.code() != Code::kNotFound)
        return s.WithContext(where);
      ++report.packs_deleted;
    }
  }
  if (report.chunks_deleted > 0)
    if (Status s = db_->CompactChunks(); !s.ok()) return s.WithContext(where);
  const uint64_t disk_after = Sum(PacksOnDisk(*fs_, packs_dir_));
  report.reclaimed_bytes = disk_before > disk_after ? disk_before - disk_after : 0;
  return report;
}

}  // namespace ckptdb
