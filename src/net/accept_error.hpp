#pragma once

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "log/reason_info.hpp"

namespace echod {

// accept() failures by errno class: the process or system ran out of fds (EMFILE, ENFILE), out
// of memory (ENOBUFS, ENOMEM), the client gave up before accept (ECONNABORTED), anything else.
enum class AcceptErrorClass : std::uint8_t { kFdLimit, kMemory, kAborted, kOther };

// The log text and the label of each AcceptErrorClass.
template <>
struct ReasonTable<AcceptErrorClass> {
  static constexpr std::array kInfo{
      ReasonInfo{"out of file descriptors", "fd_limit"}, ReasonInfo{"out of memory", "memory"},
      ReasonInfo{"aborted by the client", "aborted"}, ReasonInfo{"failed", "other"}};
};
inline constexpr std::size_t kAcceptErrorClassCount = kReasonCount<AcceptErrorClass>;

// The class of an accept() errno (not EAGAIN or EINTR, which are no failures).
constexpr AcceptErrorClass classify_accept_error(int error) noexcept {
  switch (error) {
    case EMFILE:
    case ENFILE:
      return AcceptErrorClass::kFdLimit;
    case ENOBUFS:
    case ENOMEM:
      return AcceptErrorClass::kMemory;
    case ECONNABORTED:
      return AcceptErrorClass::kAborted;
    default:
      return AcceptErrorClass::kOther;
  }
}

}  // namespace echod
