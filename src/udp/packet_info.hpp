#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace echod::udp {

// Where a datagram arrived: the destination address of its IP header and the index of the
// interface it came in on, from the IP_PKTINFO / IPV6_PKTINFO control message (which a socket
// receives once IP_PKTINFO / IPV6_RECVPKTINFO is set on it).
struct PacketInfo {
  sa_family_t family = AF_UNSPEC;  // AF_INET: `v4` is set; AF_INET6: `v6` is set
  in_addr v4{};
  in6_addr v6{};
  unsigned ifindex = 0;
};

// Space for the control messages a received datagram can carry: IP_PKTINFO or IPV6_PKTINFO,
// SO_RXQ_OVFL, and room for one more (UDP_GRO, IP_TOS) so that a socket option added later
// does not set MSG_CTRUNC on every datagram.
inline constexpr std::size_t kReceiveControlSpace = 128;
// Space for the reply's control message: one IP_PKTINFO or IPV6_PKTINFO.
inline constexpr std::size_t kReplyControlSpace = 64;

// The PKTINFO control message of a received datagram, if it carries one. Reads only the
// control buffer that `message` points to (msg_control, msg_controllen), as recvmsg left it.
std::optional<PacketInfo> read_packet_info(const msghdr& message);

// The SO_RXQ_OVFL control message: the socket's cumulative count of datagrams the kernel
// dropped because its receive queue was full (wraps at 2^32; take differences). The kernel
// attaches it only once that count is above 0: no message means no drop yet.
std::optional<std::uint32_t> read_receive_queue_drops(const msghdr& message);

// Writes into `control` the control message that makes a reply leave from the address the
// request arrived at: IP_PKTINFO with ipi_spec_dst = the arrival address, or IPV6_PKTINFO with
// ipi6_addr = the arrival address, and interface index 0 so that the routing table, not the
// arrival interface, picks the way out (the arrival interface is wrong on asymmetric routes).
// Returns the msg_controllen to use: 0 when `arrival` has no address family, or `control` is
// too small (the reply then leaves from whatever address the kernel picks).
// `control` must be aligned for cmsghdr.
std::size_t write_reply_control(const PacketInfo& arrival, std::span<unsigned char> control);

}  // namespace echod::udp
