#pragma once

#include "sys/unique_fd.hpp"

namespace echod {

// An eventfd used to wake a worker's epoll_wait(). notify() is safe to call from any thread;
// drain() must be called on the owning worker's thread.
class WakeupEvent {
 public:
  WakeupEvent();  // throws std::system_error

  void notify() noexcept;
  void drain() noexcept;
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }

 private:
  UniqueFd fd_;
};

}  // namespace echod
