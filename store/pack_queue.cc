#include "store/pack_queue.h"

#include "store/thread_name.h"

namespace ckptdb {

PackQueue::PackQueue(StagingPool& buffers) : buffers_(buffers), thread_([this] { Loop(); }) {
  NameThread(thread_, "ckptdb:writer");
}

PackQueue::~PackQueue() {
  // A caller that returns early has its failure already; what is queued must still end here.
  (void)Drain();
}

Status PackQueue::Submit(PackWriter* writer, uint64_t offset, const uint8_t* src, uint64_t len, uint8_t* buffer,
                         std::function<void()> written) {
  std::unique_lock<std::mutex> l(mu_);
  changed_.wait(l, [&] { return queue_.size() < kMaxQueued; });
  queue_.push_back(Write{writer, offset, src, len, buffer, std::move(written)});
  Status s = status_;
  l.unlock();
  changed_.notify_all();
  return s;
}

void PackQueue::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    changed_.wait(l, [&] { return !queue_.empty() || draining_; });
    if (queue_.empty()) return;  // draining, and nothing left
    Write w = std::move(queue_.front());
    const bool write = status_.ok();
    l.unlock();
    // Leave the write in the queue's count until it is done, so at most kMaxQueued are pending.
    Status s = write ? w.writer->Write(w.offset, w.src, w.len) : Status::OK();
    if (s.ok() && write) w.written();
    l.lock();
    if (status_.ok()) status_ = s;
    // The failure is recorded before the buffer goes back, so a submit that waited for it sees it.
    if (w.buffer) buffers_.Give(w.buffer);
    queue_.pop_front();
    changed_.notify_all();
  }
}

Status PackQueue::Drain() {
  {
    std::lock_guard<std::mutex> l(mu_);
    draining_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
  return status();
}

Status PackQueue::status() {
  std::lock_guard<std::mutex> l(mu_);
  return status_;
}

}  // namespace ckptdb
