#include "event/wakeup_event.hpp"

#include <sys/eventfd.h>

#include <cstdint>

#include "sys/system_error.hpp"

namespace echod {

WakeupEvent::WakeupEvent() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!fd_) throw_errno("eventfd");
}

void WakeupEvent::notify() noexcept {
  // A full counter (EAGAIN) still means the reader will wake: nothing is lost by ignoring it.
  std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(fd_.get(), &one, sizeof(one));
}

void WakeupEvent::drain() noexcept {
  std::uint64_t value = 0;
  [[maybe_unused]] auto got = ::read(fd_.get(), &value, sizeof(value));
}

}  // namespace echod
