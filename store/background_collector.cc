#include "store/background_collector.h"

#include <utility>

#include "store/thread_name.h"

namespace ckptdb {

BackgroundCollector::~BackgroundCollector() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BackgroundCollector::Request() {
  std::lock_guard<std::mutex> l(mu_);
  pending_ = true;
  if (!thread_.joinable()) {
    thread_ = std::thread([this] { Loop(); });
    NameThread(thread_, "ckptdb:gc");
  }
  cv_.notify_all();
}

Status BackgroundCollector::Wait() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return !pending_ && !running_; });
  return std::exchange(error_, Status::OK());
}

Status BackgroundCollector::TakeFinishedError() {
  std::lock_guard<std::mutex> l(mu_);
  return std::exchange(error_, Status::OK());
}

void BackgroundCollector::WaitIdle() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return !pending_ && !running_; });
}

void BackgroundCollector::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return pending_ || stop_; });
    if (!pending_) return;  // stopping with nothing left to do
    pending_ = false;
    running_ = true;
    l.unlock();
    Status s = collect_();
    l.lock();
    running_ = false;
    if (!s.ok() && error_.ok()) error_ = std::move(s);
    cv_.notify_all();
  }
}

}  // namespace ckptdb
