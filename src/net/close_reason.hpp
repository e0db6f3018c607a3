#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "log/reason_info.hpp"

namespace echod {

// Why a connection closed (or kNone: it stays open). The connection decides; the worker logs
// and counts it.
enum class CloseReason : std::uint8_t {
  kNone,             // keep the connection
  kPeerClosed,       // the client sent FIN and got every echoed byte back
  kReset,            // ECONNRESET, EPIPE, ETIMEDOUT: the client went away
  kError,            // any other socket error
  kShutdown,         // graceful stop: every byte echoed, FIN exchanged
  kShutdownTimeout,  // graceful stop ran out of time
  kStopped,          // immediate stop
  kIdleTimeout,      // no byte in either direction for limits.idle_timeout
  kSendStall,        // pending output could not be written for limits.send_stall_timeout
};

// The log text and the label of each CloseReason. closed_by_reason[kNone] is never counted.
template <>
struct ReasonTable<CloseReason> {
  static constexpr std::array kInfo{ReasonInfo{"open", "none"},
                                    ReasonInfo{"client closed", "client_close"},
                                    ReasonInfo{"reset", "reset"},
                                    ReasonInfo{"error", "error"},
                                    ReasonInfo{"shutdown", "shutdown"},
                                    ReasonInfo{"shutdown timeout", "shutdown_timeout"},
                                    ReasonInfo{"stopped", "stopped"},
                                    ReasonInfo{"idle timeout", "idle_timeout"},
                                    ReasonInfo{"send stall", "send_stall"}};
};
inline constexpr std::size_t kCloseReasonCount = kReasonCount<CloseReason>;

}  // namespace echod
