#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "log/reason_info.hpp"

namespace echod {

// Why a client was refused admission: the access filter (limits.access) or a limit of the
// shared admission budget. Such a connection is closed at once and counted by reason.
enum class RejectReason : std::uint8_t { kMaxConnections, kMaxPerIp, kAcceptRate, kAccessDenied };

// The log text and the label of each RejectReason.
template <>
struct ReasonTable<RejectReason> {
  static constexpr std::array kInfo{ReasonInfo{"max_connections", "max_connections"},
                                    ReasonInfo{"max_connections_per_ip", "max_connections_per_ip"},
                                    ReasonInfo{"accept_rate_per_ip", "accept_rate"},
                                    ReasonInfo{"access denied", "access_denied"}};
};
inline constexpr std::size_t kRejectReasonCount = kReasonCount<RejectReason>;

}  // namespace echod
