#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

namespace echod::client {

// Thread t's share of `total` split over `threads` threads as evenly as it goes: the first
// total % threads threads take one more.
template <std::unsigned_integral T>
constexpr T even_share(T total, std::uint32_t threads, std::uint32_t t) {
  return static_cast<T>(total / threads + (t < total % threads ? 1 : 0));
}

// Runs every worker's run() on a thread of its own, from construction. A worker that throws sets
// `stop_others` (so that the rest finish early) and its exception is rethrown by join().
template <typename Worker>
class WorkerThreads {
 public:
  using Result = decltype(std::declval<Worker&>().run());

  WorkerThreads(const std::vector<std::unique_ptr<Worker>>& workers, std::atomic<bool>& stop_others)
      : stop_others_(stop_others), results_(workers.size()), failures_(workers.size()) {
    threads_.reserve(workers.size());
    for (std::size_t t = 0; t < workers.size(); ++t) {
      threads_.emplace_back([this, worker = workers[t].get(), t] {
        try {
          results_[t] = worker->run();
        } catch (...) {
          failures_[t] = std::current_exception();
          stop_others_ = true;
        }
        finished_.fetch_add(1);
      });
    }
  }

  // Left without join() (an exception on the way): stop the workers and wait for them.
  ~WorkerThreads() {
    for (auto& thread : threads_) {
      if (!thread.joinable()) continue;
      stop_others_ = true;
      thread.join();
    }
  }

  WorkerThreads(const WorkerThreads&) = delete;
  WorkerThreads& operator=(const WorkerThreads&) = delete;

  [[nodiscard]] bool running() const { return finished_.load() < threads_.size(); }

  // Waits for every worker; rethrows the first failure, or returns the results in worker order.
  std::vector<Result> join() {
    for (auto& thread : threads_) thread.join();
    for (const auto& failure : failures_) {
      if (failure) std::rethrow_exception(failure);
    }
    return std::move(results_);
  }

 private:
  std::atomic<bool>& stop_others_;
  std::vector<Result> results_;
  std::vector<std::exception_ptr> failures_;
  std::atomic<std::size_t> finished_{0};
  std::vector<std::thread> threads_;
};

}  // namespace echod::client
