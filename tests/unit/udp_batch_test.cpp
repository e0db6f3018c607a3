#include <arpa/inet.h>

#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "sys/socket_address.hpp"
#include "udp/datagram_batch.hpp"

namespace echod::udp {
namespace {

// Appends a control message to the header's control buffer, as the kernel would.
template <typename T>
void append_cmsg(msghdr& header, std::size_t& used, int level, int type, const T& value) {
  ASSERT_LE(used + CMSG_SPACE(sizeof(T)), kReceiveControlSpace);
  header.msg_controllen = used + CMSG_SPACE(sizeof(T));
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): cmsghdr over the buffer.
  auto* cmsg = reinterpret_cast<cmsghdr*>(static_cast<unsigned char*>(header.msg_control) + used);
  cmsg->cmsg_level = level;
  cmsg->cmsg_type = type;
  cmsg->cmsg_len = CMSG_LEN(sizeof(T));
  std::memcpy(CMSG_DATA(cmsg), &value, sizeof(T));
  used += CMSG_SPACE(sizeof(T));
}

// Fills slot `i` as recvmmsg() would with a datagram from `source` of `payload`.
void receive(DatagramBatch& batch, std::size_t i, const std::string& source,
             const std::string& payload, int flags = 0) {
  mmsghdr& slot = batch.receive_header(i);
  auto from = *SocketAddress::parse(source).address;
  std::memcpy(slot.msg_hdr.msg_name, from.data(), from.length());
  slot.msg_hdr.msg_namelen = from.length();
  std::memcpy(slot.msg_hdr.msg_iov[0].iov_base, payload.data(), payload.size());
  slot.msg_len = static_cast<unsigned>(payload.size());
  slot.msg_hdr.msg_flags = flags;
  slot.msg_hdr.msg_controllen = 0;
}

in_pktinfo ipv4_info(const char* destination, int ifindex) {
  in_pktinfo info{};
  ::inet_pton(AF_INET, destination, &info.ipi_addr);
  ::inet_pton(AF_INET, "192.0.2.99", &info.ipi_spec_dst);  // what routing would pick: not used
  info.ipi_ifindex = ifindex;
  return info;
}

TEST(UdpBatchTest, ReadsIpv4PacketInfoAndQueueDrops) {
  DatagramBatch batch(1500);
  auto headers = batch.prepare_receive();
  ASSERT_EQ(headers.size(), DatagramBatch::kMaxDatagrams);
  receive(batch, 0, "198.51.100.1:40000", "hello");
  std::size_t used = 0;
  std::uint32_t drops = 17;
  append_cmsg(batch.receive_header(0).msg_hdr, used, SOL_SOCKET, SO_RXQ_OVFL, drops);
  append_cmsg(batch.receive_header(0).msg_hdr, used, IPPROTO_IP, IP_PKTINFO,
              ipv4_info("192.0.2.7", 3));
  auto datagram = batch.datagram(0);
  EXPECT_EQ(datagram.length, 5U);
  EXPECT_EQ(std::string(datagram.payload.begin(), datagram.payload.end()), "hello");
  EXPECT_FALSE(datagram.truncated);
  ASSERT_TRUE(datagram.arrival);
  EXPECT_EQ(datagram.arrival->family, AF_INET);
  EXPECT_EQ(datagram.arrival->ifindex, 3U);
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &datagram.arrival->v4, text, sizeof(text));
  EXPECT_STREQ(text, "192.0.2.7") << "the header's destination, not ipi_spec_dst";
  EXPECT_EQ(datagram.receive_queue_drops, 17U);
  EXPECT_EQ(SocketAddress::from_sockaddr(datagram.source, datagram.source_length).to_string(),
            "198.51.100.1:40000");
}

TEST(UdpBatchTest, ReplyLeavesFromTheArrivalAddressWithInterfaceZero) {
  DatagramBatch batch(1500);
  batch.prepare_receive();
  receive(batch, 0, "198.51.100.1:40000", "first");
  receive(batch, 1, "[2001:db8::1]:40001", "second!");
  std::size_t used = 0;
  append_cmsg(batch.receive_header(0).msg_hdr, used, IPPROTO_IP, IP_PKTINFO,
              ipv4_info("192.0.2.7", 3));
  in6_pktinfo info6{};
  ::inet_pton(AF_INET6, "2001:db8::7", &info6.ipi6_addr);
  info6.ipi6_ifindex = 4;
  used = 0;
  append_cmsg(batch.receive_header(1).msg_hdr, used, IPPROTO_IPV6, IPV6_PKTINFO, info6);
  batch.add_reply(1);
  batch.add_reply(0);
  auto replies = batch.replies();
  ASSERT_EQ(replies.size(), 2U);
  EXPECT_EQ(batch.reply_source(0), 1U);
  EXPECT_EQ(batch.reply_source(1), 0U);

  // Reply 0 echoes datagram 1 over IPv6.
  msghdr& v6 = replies[0].msg_hdr;
  EXPECT_EQ(v6.msg_iov[0].iov_len, 7U);
  EXPECT_EQ(std::memcmp(v6.msg_iov[0].iov_base, "second!", 7), 0);
  EXPECT_EQ(SocketAddress::from_sockaddr(static_cast<const sockaddr*>(v6.msg_name), v6.msg_namelen)
                .to_string(),
            "[2001:db8::1]:40001");
  cmsghdr* cmsg = CMSG_FIRSTHDR(&v6);
  ASSERT_NE(cmsg, nullptr);
  EXPECT_EQ(cmsg->cmsg_level, IPPROTO_IPV6);
  EXPECT_EQ(cmsg->cmsg_type, IPV6_PKTINFO);
  in6_pktinfo sent6{};
  std::memcpy(&sent6, CMSG_DATA(cmsg), sizeof(sent6));
  EXPECT_EQ(sent6.ipi6_ifindex, 0U);
  EXPECT_EQ(std::memcmp(&sent6.ipi6_addr, &info6.ipi6_addr, sizeof(in6_addr)), 0);
  EXPECT_EQ(CMSG_NXTHDR(&v6, cmsg), nullptr);

  // Reply 1 echoes datagram 0 over IPv4.
  msghdr& v4 = replies[1].msg_hdr;
  EXPECT_EQ(v4.msg_iov[0].iov_len, 5U);
  cmsg = CMSG_FIRSTHDR(&v4);
  ASSERT_NE(cmsg, nullptr);
  EXPECT_EQ(cmsg->cmsg_level, IPPROTO_IP);
  EXPECT_EQ(cmsg->cmsg_type, IP_PKTINFO);
  in_pktinfo sent{};
  std::memcpy(&sent, CMSG_DATA(cmsg), sizeof(sent));
  EXPECT_EQ(sent.ipi_ifindex, 0);
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &sent.ipi_spec_dst, text, sizeof(text));
  EXPECT_STREQ(text, "192.0.2.7");
}

TEST(UdpBatchTest, WithoutPacketInfoTheReplyHasNoControlMessage) {
  DatagramBatch batch(1500);
  batch.prepare_receive();
  receive(batch, 0, "198.51.100.1:40000", "");
  EXPECT_FALSE(batch.datagram(0).arrival);
  EXPECT_FALSE(batch.datagram(0).receive_queue_drops);
  batch.add_reply(0);
  EXPECT_EQ(batch.replies()[0].msg_hdr.msg_controllen, 0U);
  EXPECT_EQ(batch.replies()[0].msg_hdr.msg_iov[0].iov_len, 0U) << "0 bytes in, 0 bytes out";
}

TEST(UdpBatchTest, OversizeAndTruncatedDatagramsAreFlagged) {
  DatagramBatch batch(100);
  batch.prepare_receive();
  receive(batch, 0, "198.51.100.1:40000", std::string(100, 'a'));
  receive(batch, 1, "198.51.100.1:40000", std::string(101, 'b'));
  receive(batch, 2, "198.51.100.1:40000", std::string(50, 'c'), MSG_TRUNC);
  EXPECT_FALSE(batch.oversize(0));
  EXPECT_TRUE(batch.oversize(1)) << "max_datagram + 1 fits the buffer and is still too long";
  EXPECT_TRUE(batch.oversize(2));
  EXPECT_TRUE(batch.datagram(2).truncated);
}

TEST(UdpBatchTest, PrepareReceiveResetsSlotsAndReplies) {
  DatagramBatch batch(1500);
  batch.prepare_receive();
  receive(batch, 0, "198.51.100.1:40000", "x");
  batch.add_reply(0);
  auto headers = batch.prepare_receive(4);
  EXPECT_EQ(headers.size(), 4U);
  EXPECT_EQ(batch.reply_count(), 0U);
  EXPECT_EQ(headers[0].msg_hdr.msg_namelen, sizeof(sockaddr_storage));
  EXPECT_EQ(headers[0].msg_hdr.msg_controllen, kReceiveControlSpace);
  EXPECT_EQ(headers[0].msg_hdr.msg_iov[0].iov_len, 1501U);
  EXPECT_EQ(batch.prepare_receive(1000).size(), DatagramBatch::kMaxDatagrams);
}

TEST(UdpBatchTest, ReplyControlNeedsRoom) {
  PacketInfo info;
  info.family = AF_INET6;
  alignas(cmsghdr) std::array<unsigned char, 8> tiny{};
  EXPECT_EQ(write_reply_control(info, tiny), 0U);
  EXPECT_EQ(write_reply_control(PacketInfo{}, tiny), 0U) << "no family, no message";
}

TEST(UdpBatchTest, ShortOrForeignControlMessagesAreIgnored) {
  DatagramBatch batch(1500);
  batch.prepare_receive();
  receive(batch, 0, "198.51.100.1:40000", "x");
  std::size_t used = 0;
  int tos = 0x10;
  append_cmsg(batch.receive_header(0).msg_hdr, used, IPPROTO_IP, IP_TOS, tos);
  std::uint16_t short_info = 1;  // an IP_PKTINFO too short to hold one
  append_cmsg(batch.receive_header(0).msg_hdr, used, IPPROTO_IP, IP_PKTINFO, short_info);
  EXPECT_FALSE(batch.datagram(0).arrival);
}

}  // namespace
}  // namespace echod::udp
