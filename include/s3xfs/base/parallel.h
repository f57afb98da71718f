// ParallelFor: runs fn(0..n-1) on a small fixed set of threads, the caller included.
//
// Used where one stream has independent CPU work (hashing the chunks of one buffer). Threads
// are created once and reused; Run() returns when every index is done.
//
// Thread-safety: Run() must not be called concurrently on one object.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "s3xfs/base/status.h"

namespace s3xfs {

// Runs fn(0..n-1) on up to `width` threads, the caller included (threads made for the call;
// when no more can be made, the ones running do the rest). Every call runs, whatever the
// others return; the result is the first error. For blocking work done in parallel: syncs
// (concurrent fdatasyncs share the disk's cache flushes), network requests.
Status RunEach(size_t n, size_t width, const std::function<Status(size_t)>& fn);

class ParallelFor {
 public:
  // `threads` counts the caller: 1 means no extra threads.
  explicit ParallelFor(unsigned threads);
  ~ParallelFor();
  ParallelFor(const ParallelFor&) = delete;
  ParallelFor& operator=(const ParallelFor&) = delete;

  void Run(size_t n, const std::function<void(size_t)>& fn);

 private:
  void Drain();
  void Worker();

  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  const std::function<void(size_t)>* fn_ = nullptr;  // GUARDED_BY(mu_) while posting
  size_t n_ = 0;
  std::atomic<size_t> next_{0};
  size_t busy_ = 0;       // workers still in the current round
  uint64_t round_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace s3xfs
