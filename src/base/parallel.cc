#include "s3xfs/base/parallel.h"

namespace s3xfs {

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
