#pragma once

#include <functional>
#include <thread>

#include "sys/unique_fd.hpp"

namespace echod::client::testing {

// The thread a test server runs on, and how it is told to stop: its loop polls stop_fd() (an
// eventfd) along with its sockets and returns once that is readable. The destructor asks and
// waits, so a ServerThread declared after the sockets its loop uses stops before they close.
class ServerThread {
 public:
  ServerThread();
  ~ServerThread();
  ServerThread(const ServerThread&) = delete;
  ServerThread& operator=(const ServerThread&) = delete;

  void start(std::function<void()> loop);
  [[nodiscard]] int stop_fd() const { return stop_.get(); }

 private:
  UniqueFd stop_;
  std::thread thread_;
};

}  // namespace echod::client::testing
