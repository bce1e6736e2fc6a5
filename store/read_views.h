// ReadViews: the reads running in this process, and the point in the catalog's history each began
// at, so garbage collection never deletes a pack file a running read may still need.
//
// Every read (List, Describe, Restore, Verify, Space, ...) begins a View: a RocksDB snapshot, so it
// sees one committed state from start to end, plus the collection epoch that state belongs to. A
// collection commits the index change that un-names pack files with CommitAdvancing, which bumps the
// epoch; it then deletes un-named packs only if no view (here or, see reader_holds.h, in a reader
// process) is older than the current epoch. A read therefore never waits for a collection, and a
// collection never waits for a read: at worst it leaves the files for the next collection.
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

#include "ckptdb/status.h"
#include "store/db.h"

namespace ckptdb {

class ReadViews {
 public:
  explicit ReadViews(uint64_t epoch) : epoch_(epoch) {}

  class View {
   public:
    View(View&& o) noexcept
        : owner_(std::exchange(o.owner_, nullptr)), snap_(std::move(o.snap_)), epoch_(o.epoch_), it_(o.it_) {}
    View& operator=(View&&) = delete;
    ~View();
    const DbSnapshot* at() const { return snap_.get(); }
    uint64_t epoch() const { return epoch_; }

   private:
    friend class ReadViews;
    View(ReadViews* owner, std::shared_ptr<const DbSnapshot> snap, uint64_t epoch, std::multiset<uint64_t>::iterator it)
        : owner_(owner), snap_(std::move(snap)), epoch_(epoch), it_(it) {}
    ReadViews* owner_;  // null once moved from
    std::shared_ptr<const DbSnapshot> snap_;
    uint64_t epoch_;
    std::multiset<uint64_t>::iterator it_;
  };

  // A snapshot of `db` as committed now, registered until the View is destroyed.
  View Begin(Db& db);

  // Runs `commit` with no view beginning meanwhile, and on success advances the epoch, so that every
  // view older than the new epoch may have seen the state before the commit.
  Status CommitAdvancing(const std::function<Status()>& commit);

  uint64_t epoch() const;
  // The oldest epoch a live view began at, or nullopt when no read runs.
  std::optional<uint64_t> Oldest() const;

  // A collection left packs for later because views were running: `on_idle` (see SetOnIdle) runs
  // once, on the thread that ends the last view, so the space returns without waiting for another
  // rotating save.
  void NoteDeferred();
  // REQUIRES: called once, before any view begins.
  void SetOnIdle(std::function<void()> on_idle) { on_idle_ = std::move(on_idle); }

 private:
  mutable std::mutex mu_;
  uint64_t epoch_;
  std::multiset<uint64_t> live_;
  bool deferred_ = false;
  std::function<void()> on_idle_;
};

}  // namespace ckptdb
