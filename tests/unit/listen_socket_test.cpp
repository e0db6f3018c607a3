#include "net/listen_socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <system_error>
#include <vector>

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

// How many connections are waiting in each socket's accept queue (accepting them all).
std::vector<int> accept_all(const std::vector<ListenSocket*>& sockets) {
  std::vector<int> counts;
  for (ListenSocket* socket : sockets) {
    int count = 0;
    while (UniqueFd(::accept4(socket->fd(), nullptr, nullptr, SOCK_CLOEXEC))) ++count;
    counts.push_back(count);
  }
  return counts;
}

std::vector<int> spread(const SocketAddress& address, const std::vector<ListenSocket*>& sockets,
                        int connections) {
  std::vector<UniqueFd> clients;
  clients.reserve(static_cast<std::size_t>(connections));
  for (int i = 0; i < connections; ++i) clients.push_back(connect_to(address));
  return accept_all(sockets);
}

// The kernel orders a reuseport group by the time each socket started listening, and a closing
// socket's slot is taken by the last one: steering to the first K holds while only sockets at
// index K or above close, and sockets that join later are not chosen until steering ends.
TEST(ListenSocketTest, SteeringSendsNewConnectionsOnlyToTheFirstSockets) {
  auto group = open_listen_group(loopback(0), 4);
  const SocketAddress address = group[0].address();
  std::vector<ListenSocket*> all{&group[0], &group[1], &group[2], &group[3]};
  group[3].steer_to_first(2);  // through any socket of the group

  auto counts = spread(address, all, 200);
  EXPECT_GT(counts[0], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_EQ(counts[2] + counts[3], 0) << counts[2] << " " << counts[3];

  // Socket 2 closes: socket 3 takes its slot; still at index 2 or above.
  { ListenSocket closing = std::move(group[2]); }
  std::vector<ListenSocket*> left{&group[0], &group[1], &group[3]};
  counts = spread(address, left, 200);
  EXPECT_GT(counts[0], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_EQ(counts[2], 0);

  // A socket that joins now is appended: not chosen while steering to the first 2.
  auto late = ListenSocket::open(address);
  left.push_back(&late);
  counts = spread(address, left, 200);
  EXPECT_EQ(counts[2] + counts[3], 0);

  group[0].steer_to_first(0);
  counts = spread(address, left, 400);
  for (std::size_t i = 0; i < counts.size(); ++i) EXPECT_GT(counts[i], 0) << "socket " << i;
}

TEST(ListenSocketTest, AdoptTakesAListeningTcpSocketAsInherited) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  SocketAddress address = loopback(0);
  ASSERT_EQ(::bind(fd.get(), address.data(), address.length()), 0);
  ASSERT_EQ(::listen(fd.get(), 8), 0);
  ListenSocket adopted = ListenSocket::adopt(std::move(fd));
  EXPECT_TRUE(adopted.inherited());
  EXPECT_NE(adopted.address().port(), 0);
}

TEST(ListenSocketTest, AdoptRefusesSocketsThatAreNotListeningStreams) {
  UniqueFd datagram(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  UniqueFd unlistened(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  for (UniqueFd* fd : {&datagram, &unlistened}) {
    try {
      ListenSocket::adopt(std::move(*fd));
      FAIL() << "adopted a socket that is not a listening stream socket";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code().value(), ENOTSOCK);
      EXPECT_NE(std::string(e.what()).find("is not a listening stream socket"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace echod
