#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "event/wakeup_event.hpp"
#include "sys/mutex.hpp"

namespace echod {

// The only channel into a worker: a mutex-guarded list of typed commands plus an eventfd that
// wakes the worker's epoll_wait(). push() is safe from any thread; take_all() and wakeup_fd()
// belong to the consuming thread.
template <typename Command>
class CommandQueue {
 public:
  // Returns the command's sequence number: 1 for the first command pushed, then 2, 3, ...
  // The consumer has processed command N once it has processed N commands in all.
  std::uint64_t push(Command command) {
    std::uint64_t sequence = 0;
    {
      MutexLock lock(mutex_);
      commands_.push_back(std::move(command));
      sequence = ++pushed_;
    }
    wakeup_.notify();
    return sequence;
  }

  // Returns every command pushed so far, in push order.
  std::vector<Command> take_all() {
    wakeup_.drain();
    std::vector<Command> taken;
    MutexLock lock(mutex_);
    taken.swap(commands_);
    return taken;
  }

  [[nodiscard]] int wakeup_fd() const noexcept { return wakeup_.fd(); }

 private:
  WakeupEvent wakeup_;
  Mutex mutex_;
  std::vector<Command> commands_ ECHOD_GUARDED_BY(mutex_);
  std::uint64_t pushed_ ECHOD_GUARDED_BY(mutex_) = 0;
};

}  // namespace echod
