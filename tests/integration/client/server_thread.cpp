#include "server_thread.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <utility>

#include "sys/system_error.hpp"

namespace echod::client::testing {

ServerThread::ServerThread() : stop_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!stop_) throw_errno("eventfd");
}

ServerThread::~ServerThread() {
  if (!thread_.joinable()) return;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(stop_.get(), &one, sizeof(one));
  thread_.join();
}

void ServerThread::start(std::function<void()> loop) { thread_ = std::thread(std::move(loop)); }

}  // namespace echod::client::testing
