#include "udp/packet_info.hpp"

#include <cstring>

namespace echod::udp {
namespace {

// CMSG_NXTHDR takes a non-const msghdr; walking the buffer does not write to it.
msghdr* mutable_header(const msghdr& message) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast): CMSG_NXTHDR only reads through it.
  return const_cast<msghdr*>(&message);
}

template <typename Fn>
void for_each_control_message(const msghdr& message, Fn&& fn) {
  if (message.msg_control == nullptr || message.msg_controllen < sizeof(cmsghdr)) return;
  msghdr* header = mutable_header(message);
  const auto* end = static_cast<const unsigned char*>(message.msg_control) + message.msg_controllen;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(header); cmsg != nullptr; cmsg = CMSG_NXTHDR(header, cmsg)) {
    // A header whose data would run past the buffer ends the walk: the kernel never writes one,
    // but CMSG_FIRSTHDR does not check the first header's length.
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): a cmsghdr is msg_control bytes.
    const auto* at = reinterpret_cast<const unsigned char*>(cmsg);
    if (cmsg->cmsg_len > static_cast<std::size_t>(end - at)) return;
    if (!fn(*cmsg)) return;
  }
}

// The payload of `cmsg` copied into `out`, when the message holds at least sizeof(T) bytes.
template <typename T>
bool payload(const cmsghdr& cmsg, T& out) {
  if (cmsg.cmsg_len < CMSG_LEN(sizeof(T))) return false;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast): CMSG_DATA takes a non-const header.
  std::memcpy(&out, CMSG_DATA(const_cast<cmsghdr*>(&cmsg)), sizeof(T));
  return true;
}

}  // namespace

std::optional<PacketInfo> read_packet_info(const msghdr& message) {
  std::optional<PacketInfo> result;
  for_each_control_message(message, [&result](const cmsghdr& cmsg) {
    if (cmsg.cmsg_level == IPPROTO_IP && cmsg.cmsg_type == IP_PKTINFO) {
      in_pktinfo info{};
      if (!payload(cmsg, info)) return true;
      PacketInfo packet;
      packet.family = AF_INET;
      packet.v4 = info.ipi_addr;  // the header's destination (ipi_spec_dst is a route's idea)
      packet.ifindex = static_cast<unsigned>(info.ipi_ifindex);
      result = packet;
      return false;
    }
    if (cmsg.cmsg_level == IPPROTO_IPV6 && cmsg.cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo info{};
      if (!payload(cmsg, info)) return true;
      PacketInfo packet;
      packet.family = AF_INET6;
      packet.v6 = info.ipi6_addr;
      packet.ifindex = info.ipi6_ifindex;
      result = packet;
      return false;
    }
    return true;
  });
  return result;
}

std::optional<std::uint32_t> read_receive_queue_drops(const msghdr& message) {
  std::optional<std::uint32_t> result;
  for_each_control_message(message, [&result](const cmsghdr& cmsg) {
    if (cmsg.cmsg_level != SOL_SOCKET || cmsg.cmsg_type != SO_RXQ_OVFL) return true;
    std::uint32_t drops = 0;
    if (payload(cmsg, drops)) result = drops;
    return false;
  });
  return result;
}

std::size_t write_reply_control(const PacketInfo& arrival, std::span<unsigned char> control) {
  // NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): cmsghdr over a byte buffer.
  auto write = [&control](int level, int type, const auto& info) -> std::size_t {
    const std::size_t space = CMSG_SPACE(sizeof(info));
    if (control.size() < space) return 0;
    std::memset(control.data(), 0, space);
    auto* cmsg = reinterpret_cast<cmsghdr*>(control.data());
    cmsg->cmsg_level = level;
    cmsg->cmsg_type = type;
    cmsg->cmsg_len = CMSG_LEN(sizeof(info));
    std::memcpy(CMSG_DATA(cmsg), &info, sizeof(info));
    return space;
  };
  // NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)
  if (arrival.family == AF_INET) {
    in_pktinfo info{};
    info.ipi_ifindex = 0;
    info.ipi_spec_dst = arrival.v4;  // the reply's source address
    return write(IPPROTO_IP, IP_PKTINFO, info);
  }
  if (arrival.family == AF_INET6) {
    in6_pktinfo info{};
    info.ipi6_ifindex = 0;
    info.ipi6_addr = arrival.v6;
    return write(IPPROTO_IPV6, IPV6_PKTINFO, info);
  }
  return 0;
}

}  // namespace echod::udp
