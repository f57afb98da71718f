#include "s3xfs/base/parallel.h"

#include <algorithm>
#include <system_error>

namespace s3xfs {

Status RunEach(size_t n, size_t width, const std::function<Status(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status first;
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) {
      Status st = fn(i);
      if (!st.ok()) {
        std::lock_guard<std::mutex> l(mu);
        if (first.ok()) first = std::move(st);
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 1; t < std::min(n, width); ++t) {
    try {
      threads.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // no more threads: the ones running (and this one) do the rest
    }
  }
  work();
  for (std::thread& t : threads) t.join();
  return first;
}

ParallelFor::ParallelFor(unsigned threads) {
  for (unsigned i = 1; i < threads; ++i) threads_.emplace_back([this] { Worker(); });
}

ParallelFor::~ParallelFor() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ParallelFor::Drain() {
  for (size_t i; (i = next_.fetch_add(1, std::memory_order_relaxed)) < n_;) (*fn_)(i);
}

void ParallelFor::Run(size_t n, const std::function<void(size_t)>& fn) {
  if (threads_.empty() || n < 2) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    fn_ = &fn;
    n_ = n;
    next_.store(0, std::memory_order_relaxed);
    busy_ = threads_.size();
    ++round_;
  }
  start_cv_.notify_all();
  Drain();
  std::unique_lock<std::mutex> l(mu_);
  done_cv_.wait(l, [&] { return busy_ == 0; });
  fn_ = nullptr;
}

void ParallelFor::Worker() {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> l(mu_);
      start_cv_.wait(l, [&] { return stop_ || round_ != seen; });
      if (stop_) return;
      seen = round_;
    }
    Drain();
    std::lock_guard<std::mutex> l(mu_);
    if (--busy_ == 0) done_cv_.notify_one();
  }
}

}  // namespace s3xfs
