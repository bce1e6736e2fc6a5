// Garbage collection: mark the digests the manifests reference, then sweep the chunk index and the
// pack files. The order makes it crash-safe: (1) live chunks of mostly-dead packs are copied into a
// new pack and synced; (2) one synced batch deletes dead index entries and re-points moved ones;
// (3) only then are pack files that no index entry names deleted. A kill before (2) leaves an
// unreferenced new pack; after it, unreferenced old packs; the next run deletes either.
//
// It runs beside saves and reads: (1) marks and copies under a snapshot of the catalog, without the
// save lock; (2) takes the save lock only to commit, and first keeps alive every chunk a checkpoint
// committed since the snapshot references (a save may have deduplicated against a chunk that looked
// dead); (3) deletes files only when no read, in this process or a reader process, began before the
// commit (read_views.h, reader_holds.h), and never a pack a save is still writing (PackIds).
//
// A dry run (GcOptions::dry_run) runs the same planning: retention judged in memory, the same
// mark, the same choice of packs to rewrite; then it predicts the sweep from that plan and
// returns, before anything is copied, committed or deleted.
#include <algorithm>
#include <charconv>
#include <functional>
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

// Pack files on disk: id -> allocated bytes. A name of 20 digits that does not fit 64 bits (a stray
// file) is no pack of ours: it is neither counted nor deleted.
std::map<uint64_t, uint64_t> PacksOnDisk(io::FileSystem& fs, const std::string& dir) {
  std::map<uint64_t, uint64_t> out;
  auto names = fs.ListDir(dir);
  if (!names.ok()) return out;
  for (const std::string& name : *names) {
    if (name.size() != 25 || name.substr(20) != ".pack" || name.find_first_not_of("0123456789") != 20) continue;
    uint64_t id = 0;
    auto [ptr, err] = std::from_chars(name.data(), name.data() + 20, id);
    if (err != std::errc() || ptr != name.data() + 20) continue;
    if (auto bytes = fs.AllocatedBytes(dir + "/" + name); bytes.ok()) out[id] = *bytes;
  }
  return out;
}

// Checks an index entry the way ReadChunk does before the collection trusts its pack, offset and
// length: a corrupt entry must read as Corruption, not as a huge copy or an I/O error.
bool PlausibleRef(const keys::ChunkRef& ref) {
  if (ref.raw_length != ref.length) return false;  // codec none: stored bytes are the raw bytes
  if (ref.is_inline) return ref.length < keys::kInlineChunkMax;
  return ref.length >= keys::kInlineChunkMax && ref.length <= schema::kMaxChunkSize && ref.offset % kPackAlign == 0 &&
         ref.offset <= static_cast<uint64_t>(INT64_MAX) - ref.length;
}

uint64_t Sum(const std::map<uint64_t, uint64_t>& m) {
  uint64_t n = 0;
  for (const auto& [id, bytes] : m) n += bytes;
  return n;
}

// The dry run's sweep: the packs a collection of this plan would delete, and the bytes that gives
// back. It deletes every pack on disk (not still being written) that the committed index would no
// longer name, those with no live chunk and those rewritten, and adds one pack holding the
// copies, each padded to the pack alignment.
void PredictSweep(const std::map<uint64_t, PackUse>& packs, const std::set<uint64_t>& rewrite,
                  const std::map<uint64_t, uint64_t>& on_disk, const std::function<bool(uint64_t)>& in_flight,
                  GcReport& report) {
  uint64_t freed = 0, added = 0;
  for (const auto& [id, allocated] : on_disk)
    if ((!packs.count(id) || rewrite.count(id)) && !in_flight(id)) ++report.packs_deleted, freed += allocated;
  for (uint64_t id : rewrite)
    for (const auto& [d, ref] : packs.at(id).live_chunks) added += PackPadded(ref.length);
  report.reclaimed_bytes = freed > added ? freed - added : 0;
}

}  // namespace

Result<GcReport> StoreImpl::Collect(double garbage_budget, const GcOptions& options) {
  const bool dry_run = options.dry_run;
  if (!dry_run) {
    if (Status s = CheckWritable(); !s.ok()) return s;
    if (!next_pack_error_.ok()) return next_pack_error_;
  }
  std::lock_guard<std::mutex> gc_lock(gc_mu_);
  const std::string where = "store " + path_ + (dry_run ? ", planning a garbage collection" : ", collecting garbage");
  GcReport report;
  const uint64_t disk_before = Sum(PacksOnDisk(*fs_, packs_dir_));
  std::set<CheckpointId> retiring;  // dry run: the checkpoints retention would delete, still stored

  // Retire what the policy no longer keeps, in its own durable batch before anything is swept: a
  // kill after it leaves only unreferenced chunks, which this sweep (or the next) reclaims.
  {
    std::lock_guard<std::mutex> lock(save_mu_);
    auto policy = RetentionAt(nullptr);
    if (!policy.ok()) return policy.status().WithContext(where);
    auto head = HeadAt(nullptr);
    if (!head.ok()) return head.status();
    // A tracker matching the stored policy and head means the last save already judged the whole
    // history under it: there is nothing to retire, and no need to read every summary to see so.
    if (policy->max_to_keep > 0 && *head && !(retention_ && retention_->Matches(*policy, *head) && retention_->settled())) {
      if (!dry_run) retention_.reset();
      auto all = LoadSummaries();
      if (!all.ok()) return all.status();
      CommitBatch retire;
      report.checkpoints_removed = RetireInto(*policy, *all, **head, retire);
      if (dry_run) {
        for (const CheckpointInfo& c : report.checkpoints_removed) retiring.insert(c.id);
      } else if (!report.checkpoints_removed.empty()) {
        if (Status s = db_->Commit(retire); !s.ok()) return s.WithContext(where + ", applying the retention policy");
        NoteCommit();
      }
      if (!dry_run) retention_ = std::make_unique<RetentionTracker>(*policy, std::move(*all), **head);
    }
  }

  // Mark, under a snapshot: saves go on meanwhile.
  std::optional<Reading> read(BeginRead());
  auto all = LoadAll(read->at());
  if (!all.ok()) return all.status();
  auto next_id = db_->GetMeta(keys::kNextId, read->at());
  if (!next_id.ok()) return next_id.status();
  const uint64_t marked_below = next_id->has_value() ? keys::DecodeU64(**next_id).value_or(0) : 1;
  std::unordered_set<Digest, DigestHash> live;
  for (const auto& m : *all)
    if (!retiring.count(m.info.id))
      for (const auto& t : m.tensors) live.insert(t.chunks.begin(), t.chunks.end());

  // Sweep the index: find dead entries, account pack usage.
  auto index = db_->ScanChunks(read->at());
  if (!index.ok()) return index.status();
  struct Dead {
    Digest digest;
    uint64_t length;       // the chunk's
    uint64_t entry_bytes;  // its index entry's, key + value
  };
  std::vector<Dead> dead;
  std::map<uint64_t, PackUse> packs;
  uint64_t live_entry_bytes = 0;  // chunk index entries, key + value
  for (const auto& [d, value] : *index) {
    auto ref = keys::DecodeChunkRef(value);
    if (ref && ref->codec != keys::kCodecNone)
      return Status::NotSupported(where + ": chunk " + d.ToHex() + " is stored with codec " +
                                  std::to_string(ref->codec) + ", which this build of ckptdb does not know");
    if (!ref || !PlausibleRef(*ref))
      return Status::Corruption(where + ": the index entry of chunk " + d.ToHex() + " is malformed (run verify)");
    const bool is_live = live.count(d) > 0;
    const uint64_t entry_bytes = keys::ChunkIndexKey(d).size() + value.size();
    if (is_live) report.live_bytes += ref->length, live_entry_bytes += entry_bytes;
    if (!is_live) dead.push_back({d, ref->length, entry_bytes});
    if (ref->is_inline || !is_live) continue;
    PackUse& use = packs[ref->pack];
    use.live += PackPadded(ref->length);
    use.live_chunks.emplace_back(d, *ref);
  }
  // Garbage is what a pack occupies beyond its live chunks: that also counts the chunks an earlier
  // collection dropped from the index without rewriting their pack, which the index no longer shows.
  const std::map<uint64_t, uint64_t> on_disk = PacksOnDisk(*fs_, packs_dir_);
  for (const auto& [id, allocated] : on_disk)
    if (auto it = packs.find(id); it != packs.end()) it->second.dead = allocated - std::min(allocated, it->second.live);
  const std::set<uint64_t> rewrite = PacksToRewrite(packs, garbage_budget);
  uint64_t to_copy = 0;
  for (uint64_t id : rewrite)
    for (const auto& [d, ref] : packs.at(id).live_chunks) to_copy += ref.length;
  if (dry_run) {
    ProgressReporter progress(options.progress, 0);
    read.reset();
    report.chunks_deleted = dead.size();
    report.packs_rewritten = rewrite.size();
    report.bytes_copied = to_copy;
    auto ids = pack_ids_.Lock();
    PredictSweep(packs, rewrite, on_disk, [&](uint64_t id) { return pack_ids_.InFlight(id); }, report);
    progress.Finish().IgnoreError();  // the work is done: the final call cannot change the report
    return report;
  }
  ProgressReporter progress(options.progress, to_copy);

  // Copy the live chunks of mostly-dead packs into one new pack.
  CommitBatch batch;
  std::optional<uint64_t> new_id;
  std::unique_ptr<PackWriter> writer;
  auto copy_live = [&]() -> Status {
    for (auto& [id, use] : packs) {
      if (!rewrite.count(id)) continue;
      if (!writer) {
        new_id = pack_ids_.Allocate();
        auto created = PackWriter::Create(*fs_, packs_dir_, *new_id, direct_io_);
        if (!created.ok()) return created.status();
        writer = std::move(created).value();
      }
      for (const auto& [d, ref] : use.live_chunks) {
        if (progress.failed()) return progress.status();
        uint8_t* buf = ThreadScratch(PackPadded(ref.length));
        if (!buf) return Status::IOError("out of memory for a copy buffer");
        auto read = packs_.ReadHashed(ref.pack, ref.offset, ref.length, buf);
        if (!read.ok()) return read.status();
        // Never copy damage into a fresh pack where it would look like a sound chunk.
        if (*read != d)
          return Status::Corruption("live chunk " + d.ToHex() + " in pack " + std::to_string(id) +
                                    " does not match its digest; nothing was moved (run verify)");
        const uint64_t offset = writer->Reserve(ref.length);
        if (Status s = writer->Write(offset, buf, ref.length); !s.ok()) return s;
        batch.chunk_puts.emplace_back(keys::ChunkIndexKey(d), keys::EncodePackedChunk(*new_id, offset, ref.length));
        report.bytes_copied += ref.length;
        progress.Add(ref.length);
      }
      ++report.packs_rewritten;
    }
    // The last report of the loop may have thrown: stop before anything commits.
    if (progress.failed()) return progress.status();
    return writer ? writer->Finish() : Status::OK();
  };
  Status copied = copy_live();
  read.reset();  // this collection's own view must not keep its sweep from deleting files
  if (!copied.ok()) {
    if (writer) {  // nothing names the new pack yet: take it away again
      writer.reset();
      fs_->Remove(PackPath(packs_dir_, *new_id)).IgnoreError();
    }
    if (new_id) pack_ids_.Release(*new_id);
    return copied.WithContext(where);
  }

  uint64_t index_garbage = 0;
  bool compact_index = false;
  // Commit, under the save lock. Checkpoints committed since the snapshot may reference chunks that
  // looked dead in it (their saves found the entries and did not write the bytes again): keep those.
  {
    std::lock_guard<std::mutex> lock(save_mu_);
    auto newer = db_->ScanManifests(nullptr, marked_below);
    Status s = newer.status();
    std::unordered_set<Digest, DigestHash> revived;
    if (s.ok())
      for (const auto& [id, bytes] : *newer) {
        auto m = DecodeStored(id, bytes);
        if (!m.ok()) {
          s = m.status();
          break;
        }
        for (const auto& t : m->tensors) revived.insert(t.chunks.begin(), t.chunks.end());
      }
    uint64_t deleted_entry_bytes = 0;
    if (s.ok()) {
      for (const Dead& x : dead) {
        if (revived.count(x.digest)) {
          report.live_bytes += x.length;
          live_entry_bytes += x.entry_bytes;
          continue;
        }
        batch.chunk_deletes.push_back(keys::ChunkIndexKey(x.digest));
        deleted_entry_bytes += x.entry_bytes;
        ++report.chunks_deleted;
      }
      // The index's files keep deleted entries until a compaction rewrites them. Rewriting the whole
      // index at every collection costs O(index) (13 s at 100,000 small checkpoints, whose chunks are
      // all inline); so it is compacted only once what it holds for nothing exceeds the same budget
      // the packs keep, counted across collections so that many small deletions add up.
      auto garbage = db_->GetMeta(keys::kIndexGarbage);
      s = garbage.status();
      if (s.ok()) {
        const uint64_t before = garbage->has_value() ? keys::DecodeU64(**garbage).value_or(0) : 0;
        index_garbage = before + deleted_entry_bytes;
        compact_index = deleted_entry_bytes > 0 && double(index_garbage) > garbage_budget * double(live_entry_bytes);
        if (deleted_entry_bytes > 0)
          batch.meta_puts.emplace_back(std::string(keys::kIndexGarbage), keys::EncodeU64(index_garbage));
      }
    }
    if (s.ok()) {
      if (writer) batch.meta_puts.emplace_back(std::string(keys::kNextPack), keys::EncodeU64(pack_ids_.next()));
      if (!batch.chunk_deletes.empty() || !batch.chunk_puts.empty()) {
        batch.meta_puts.emplace_back(std::string(keys::kGcEpoch), keys::EncodeU64(views_.epoch() + 1));
        s = views_.CommitAdvancing([&] { return db_->Commit(batch); });
        if (s.ok()) NoteCommit();
      }
    }
    if (new_id) pack_ids_.Release(*new_id);
    if (!s.ok()) return s.WithContext(where);
  }

  if (Status s = SweepPacks(where, report); !s.ok()) return s;
  if (compact_index) {
    if (Status s = db_->CompactChunks(); !s.ok()) return s.WithContext(where);
    // A crash before this commit leaves the count high: the next collection compacts again.
    CommitBatch reset;
    reset.meta_deletes.push_back(std::string(keys::kIndexGarbage));
    if (Status s = db_->Commit(reset); !s.ok()) return s.WithContext(where);
  }
  const uint64_t disk_after = Sum(PacksOnDisk(*fs_, packs_dir_));
  report.reclaimed_bytes = disk_before > disk_after ? disk_before - disk_after : 0;
  progress.Finish().IgnoreError();  // the collection is committed: the final call cannot undo it
  return report;
}

Status StoreImpl::SweepPacks(const std::string& where, GcReport& report) {
  // Holding the allocator: a save that commits a new pack either committed before the index is
  // scanned below (so the scan names it) or is still in flight (so it is skipped).
  auto ids = pack_ids_.Lock();
  auto index = db_->ScanChunks();
  if (!index.ok()) return index.status();
  std::set<uint64_t> named;
  for (const auto& [d, value] : *index)
    if (auto ref = keys::DecodeChunkRef(value); ref && !ref->is_inline) named.insert(ref->pack);
  std::vector<uint64_t> unnamed;
  for (const auto& [id, bytes] : PacksOnDisk(*fs_, packs_dir_))
    if (!named.count(id) && !pack_ids_.InFlight(id)) unnamed.push_back(id);
  if (unnamed.empty()) return Status::OK();

  // A read that began before the latest collection's commit may still read a pack it un-named.
  const uint64_t epoch = views_.epoch();
  const auto oldest_here = views_.Oldest();
  const auto oldest_reader = OldestReaderEpoch(path_);
  if ((oldest_here && *oldest_here < epoch) || (oldest_reader && *oldest_reader < epoch)) {
    report.packs_deferred = unnamed.size();
    if (oldest_here && *oldest_here < epoch) views_.NoteDeferred();
    return Status::OK();
  }
  for (uint64_t id : unnamed) {
    packs_.Evict(id);
    if (Status s = fs_->Remove(PackPath(packs_dir_, id)); !s.ok() && s.code() != Code::kNotFound)
      return s.WithContext(where);
    ++report.packs_deleted;
  }
  return Status::OK();
}

}  // namespace ckptdb
