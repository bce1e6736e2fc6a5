#include "store/pack_queue.h"

#include <sys/mman.h>

#include <string>

namespace ckptdb {

WriteBuffers::~WriteBuffers() {
  for (uint8_t* b : all_) ::munmap(b, bytes_);
}

Result<uint8_t*> WriteBuffers::Take() {
  std::unique_lock<std::mutex> l(mu_);
  freed_.wait(l, [&] { return !free_.empty() || all_.size() < max_; });
  if (!free_.empty()) {
    uint8_t* b = free_.back();
    free_.pop_back();
    return b;
  }
  // MAP_POPULATE: pre-faulting in the kernel is ~20x faster here than touching page by page.
  void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) return Status::IOError("out of memory for a " + std::to_string(bytes_) + "-byte write buffer");
  all_.push_back(static_cast<uint8_t*>(p));
  return all_.back();
}

void WriteBuffers::Give(uint8_t* buffer) {
  {
    std::lock_guard<std::mutex> l(mu_);
    free_.push_back(buffer);
  }
  freed_.notify_one();
}

size_t WriteBuffers::allocated() {
  std::lock_guard<std::mutex> l(mu_);
  return all_.size();
}

PackQueue::PackQueue(WriteBuffers& buffers) : buffers_(buffers), thread_([this] { Loop(); }) {}

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
