// One wake-up of a real UDP socket on 127.0.0.1, without a worker.

#include <poll.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sys/socket_address.hpp"
#include "sys/system_error.hpp"
#include "sys/unique_fd.hpp"
#include "udp/echo_pass.hpp"

#include <net/if.h>

namespace echod::udp {
namespace {

using Clock = RateTable::Clock;

UniqueFd udp_socket(const char* address, bool nonblocking) {
  auto bind_to = *SocketAddress::parse(address).address;
  int flags = SOCK_DGRAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
  UniqueFd fd(::socket(bind_to.family(), flags, 0));
  if (!fd) throw_errno("socket");
  if (::bind(fd.get(), bind_to.data(), bind_to.length()) != 0) throw_errno("bind");
  return fd;
}

class UdpEchoPassTest : public ::testing::Test {
 protected:
  UdpEchoPassTest()
      : server_(udp_socket("127.0.0.1:0", true)),
        client_(udp_socket("127.0.0.1:0", false)),
        server_address_(SocketAddress::local_of(server_.get())),
        guard_(GuardConfig{}) {
    enable_receive_options(server_.get(), AF_INET);
    context_.guard = &guard_;
    context_.loopback_ifindex = ::if_nametoindex("lo");
    timeval timeout{5, 0};  // a hang guard only: every reply awaited is already sent
    ::setsockopt(client_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  }

  void send(const std::string& payload) {
    ASSERT_EQ(::sendto(client_.get(), payload.data(), payload.size(), 0, server_address_.data(),
                       server_address_.length()),
              static_cast<ssize_t>(payload.size()));
  }

  // Waits until the server socket has something to read (its queue is filled by the kernel
  // synchronously on loopback; this only makes the test independent of that).
  void wait_readable() {
    pollfd pfd{server_.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&pfd, 1, 5000), 1);
  }

  // The next reply, or nothing once the client's queue is empty.
  std::optional<std::string> reply() {
    std::string buffer(70000, '\0');
    ssize_t n = ::recv(client_.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    buffer.resize(static_cast<std::size_t>(n));
    return buffer;
  }

  std::string reply_blocking() {
    std::string buffer(70000, '\0');
    ssize_t n = ::recv(client_.get(), buffer.data(), buffer.size(), 0);
    EXPECT_GE(n, 0) << errno_text(errno);
    buffer.resize(static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
    return buffer;
  }

  UniqueFd server_;
  UniqueFd client_;
  SocketAddress server_address_;
  Guard guard_;
  EchoPassContext context_;
  EchoPassCounters counters_;
};

TEST_F(UdpEchoPassTest, EchoesEverySizeExactlyOnceAndDropsOversize) {
  DatagramBatch batch(8192);
  std::vector<std::string> payloads = {"", "x", std::string(1472, 'a'), std::string(1473, 'b'),
                                       std::string(8192, 'c')};
  for (const auto& p : payloads) send(p);
  send(std::string(8193, 'd'));   // max_datagram + 1: fits the buffer, still too long
  send(std::string(20000, 'e'));  // truncated by the kernel
  wait_readable();
  auto result = run_echo_pass(server_.get(), batch, context_, counters_, Clock::now());
  EXPECT_EQ(result.end, EchoPassEnd::kDrained);
  for (const auto& p : payloads) EXPECT_EQ(reply_blocking(), p);
  EXPECT_EQ(reply(), std::nullopt) << "nothing for the oversize datagrams";
  EXPECT_EQ(counters_.received, 7U);
  EXPECT_EQ(counters_.sent, 5U);
  EXPECT_EQ(counters_.drops.count(DropReason::kOversize), 2U);
  EXPECT_EQ(counters_.received, counters_.sent + counters_.drops.total());
  EXPECT_EQ(counters_.sent_bytes, 1U + 1472 + 1473 + 8192);
  // The kernel sends SO_RXQ_OVFL only once the socket has dropped something.
  EXPECT_EQ(counters_.receive_queue_drops.value_or(0), 0U);
}

TEST_F(UdpEchoPassTest, GuardAndRateLimitsDropAndCount) {
  DatagramBatch batch(1500);
  // The client's own port is one echod serves: an echo loop, refused.
  GuardConfig config;
  config.own_ports = {SocketAddress::local_of(client_.get()).port()};
  Guard guard(config);
  context_.guard = &guard;
  send("loop?");
  wait_readable();
  run_echo_pass(server_.get(), batch, context_, counters_, Clock::now());
  EXPECT_EQ(counters_.drops.count(DropReason::kOwnPort), 1U);
  EXPECT_EQ(counters_.sent, 0U);

  // Rate limits, with loopback not exempt: 3 of 10 pass.
  context_.guard = &guard_;
  RateLimits limits;
  limits.datagrams_per_source = 1;
  limits.datagram_burst_per_source = 3;
  RateTable table(1024, limits);
  RateExemption nobody(std::vector<Cidr>{});
  context_.rates = &table;
  context_.exempt = &nobody;
  for (int i = 0; i < 10; ++i) send("d" + std::to_string(i));
  wait_readable();
  auto now = Clock::now();
  while (run_echo_pass(server_.get(), batch, context_, counters_, now).end !=
         EchoPassEnd::kDrained) {
  }
  EXPECT_EQ(counters_.sent, 3U);
  EXPECT_EQ(counters_.drops.count(DropReason::kRateLimitedSource), 7U);
  EXPECT_EQ(reply_blocking(), "d0");
  EXPECT_EQ(reply_blocking(), "d1");
  EXPECT_EQ(reply_blocking(), "d2");

  // Loopback exempt (the default): all pass.
  RateExemption loopback;
  context_.exempt = &loopback;
  for (int i = 0; i < 10; ++i) send("e" + std::to_string(i));
  wait_readable();
  while (run_echo_pass(server_.get(), batch, context_, counters_, now).end !=
         EchoPassEnd::kDrained) {
  }
  EXPECT_EQ(counters_.sent, 13U);
  EXPECT_EQ(counters_.received, counters_.sent + counters_.drops.total());
}

TEST_F(UdpEchoPassTest, BudgetBoundsOnePass) {
  DatagramBatch batch(64);
  context_.max_batches = 2;
  for (int i = 0; i < 100; ++i) send("m" + std::to_string(i));
  wait_readable();
  auto result = run_echo_pass(server_.get(), batch, context_, counters_, Clock::now());
  EXPECT_EQ(result.end, EchoPassEnd::kBudgetSpent);
  EXPECT_EQ(counters_.received, 2 * DatagramBatch::kMaxDatagrams);
  EXPECT_EQ(counters_.receive_calls, 2U);
  EXPECT_EQ(counters_.send_calls, 2U) << "one sendmmsg per batch";
  while (run_echo_pass(server_.get(), batch, context_, counters_, Clock::now()).end !=
         EchoPassEnd::kDrained) {
  }
  EXPECT_EQ(counters_.received, 100U);
  EXPECT_EQ(counters_.sent, 100U);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(reply_blocking(), "m" + std::to_string(i));
}

TEST_F(UdpEchoPassTest, RepliesComeFromTheAddressTheRequestWasSentTo) {
  // A wildcard bind, asked at 127.0.0.2: the reply must come from 127.0.0.2, not 127.0.0.1.
  UniqueFd wildcard = udp_socket("0.0.0.0:0", true);
  enable_receive_options(wildcard.get(), AF_INET);
  auto port = SocketAddress::local_of(wildcard.get()).port();
  auto target = *SocketAddress::parse("127.0.0.2:" + std::to_string(port)).address;
  ASSERT_EQ(::sendto(client_.get(), "hi", 2, 0, target.data(), target.length()), 2);
  pollfd pfd{wildcard.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 5000), 1);
  DatagramBatch batch(64);
  run_echo_pass(wildcard.get(), batch, context_, counters_, Clock::now());
  sockaddr_storage from{};
  socklen_t length = sizeof(from);
  char buffer[8];
  ASSERT_EQ(::recvfrom(client_.get(), buffer, sizeof(buffer), 0, reinterpret_cast<sockaddr*>(&from),
                       &length),  // NOLINT
            2);
  EXPECT_EQ(SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&from), length)  // NOLINT
                .to_string(),
            target.to_string());
}

}  // namespace
}  // namespace echod::udp
