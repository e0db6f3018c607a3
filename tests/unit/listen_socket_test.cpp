#include "net/listen_socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <system_error>

#include <gtest/gtest.h>

namespace echod {
namespace {

SocketAddress loopback(std::uint16_t port) {
  auto address = *SocketAddress::parse("127.0.0.1:0").address;
  address.set_port(port);
  return address;
}

UniqueFd connect_to(const SocketAddress& address) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_EQ(::connect(fd.get(), address.data(), address.length()), 0);
  return fd;
}

TEST(ListenSocketTest, PortZeroGroupSharesOnePort) {
  auto group = open_listen_group(loopback(0), 3);
  ASSERT_EQ(group.size(), 3U);
  EXPECT_NE(group[0].address().port(), 0);
  for (const auto& socket : group) EXPECT_EQ(socket.address(), group[0].address());
}

TEST(ListenSocketTest, AcceptedSocketsHaveNagleOff) {
  auto group = open_listen_group(loopback(0), 1);
  UniqueFd client = connect_to(group[0].address());
  pollfd ready{group[0].fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&ready, 1, 5000), 1);
  UniqueFd accepted(::accept4(group[0].fd(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted);
  int nodelay = 0;
  socklen_t length = sizeof(nodelay);
  ASSERT_EQ(::getsockopt(accepted.get(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &length), 0);
  EXPECT_NE(nodelay, 0) << "inherited from the listener";
}

TEST(ListenSocketTest, RefusesAPortHeldByAnotherSocketEvenWithReusePort) {
  auto first = open_listen_group(loopback(0), 1);
  std::uint16_t port = first[0].address().port();
  try {
    open_listen_group(loopback(port), 2);
    FAIL() << "joined a port that another listener holds";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EADDRINUSE);
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos);
  }
}

}  // namespace
}  // namespace echod
