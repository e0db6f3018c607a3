#include "worker/pending_headers.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace echod {
namespace {

using Kind = PendingHeaders::Outcome::Kind;
using namespace std::chrono_literals;

// A connected stream pair: [0] is echod's end, [1] the balancer's.
struct Pair {
  UniqueFd ours;
  UniqueFd theirs;
};

Pair make_pair() {
  std::array<int, 2> fds{};
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds.data()), 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void write_text(int fd, std::string_view text) {
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
}

std::string read_rest(int fd) {
  std::array<char, 256> buffer{};
  const ssize_t n = ::read(fd, buffer.data(), buffer.size());
  return n > 0 ? std::string(buffer.data(), static_cast<std::size_t>(n)) : std::string();
}

const SocketAddress kPeer = *SocketAddress::parse("127.0.0.9:5000").address;

TEST(PendingHeadersTest, TakesTheHeaderAndLeavesThePayloadInTheSocket) {
  PendingHeaders table;
  Pair pair = make_pair();
  const int fd = pair.ours.get();
  const auto token =
      table.add(std::move(pair.ours), kPeer, 3, ProxyMode::kV1, PendingHeaders::Clock::now() + 5s);
  EXPECT_TRUE(PendingHeaders::is_token(token));
  EXPECT_FALSE(PendingHeaders::is_token(ConnectionTable::kTagBit | 3));

  EXPECT_EQ(table.on_ready(token).kind, Kind::kWaiting);  // nothing sent yet
  write_text(pair.theirs.get(), "PROXY TCP4 192.0.2.1 ");
  PendingHeaders::Outcome first = table.on_ready(token);
  EXPECT_EQ(first.kind, Kind::kWaiting);
  EXPECT_EQ(first.fd, fd);
  write_text(pair.theirs.get(), "127.0.0.1 40000 7\r\npayload");
  PendingHeaders::Outcome done = table.on_ready(token);
  ASSERT_EQ(done.kind, Kind::kComplete);
  ASSERT_TRUE(done.entry.has_value());
  EXPECT_EQ(done.entry->listener_id, 3U);
  EXPECT_EQ(done.entry->peer, kPeer);
  EXPECT_EQ(done.header.source.to_string(), "192.0.2.1:40000");
  EXPECT_EQ(table.size(), 0U);
  EXPECT_EQ(read_rest(done.entry->fd.get()), "payload");  // still in the socket, exactly once
}

TEST(PendingHeadersTest, RejectsBadHeadersAndPeersThatClose) {
  PendingHeaders table;
  Pair bad = make_pair();
  const auto bad_token =
      table.add(std::move(bad.ours), kPeer, 1, ProxyMode::kAny, PendingHeaders::Clock::now() + 5s);
  Pair gone = make_pair();
  const auto gone_token =
      table.add(std::move(gone.ours), kPeer, 1, ProxyMode::kAny, PendingHeaders::Clock::now() + 5s);
  write_text(bad.theirs.get(), "GET / HTTP/1.0\r\n");
  PendingHeaders::Outcome rejected = table.on_ready(bad_token);
  EXPECT_EQ(rejected.kind, Kind::kRejected);
  EXPECT_EQ(rejected.reason, ProxyReject::kNotProxy);
  gone.theirs.reset();
  PendingHeaders::Outcome closed = table.on_ready(gone_token);
  EXPECT_EQ(closed.kind, Kind::kRejected);
  EXPECT_EQ(closed.reason, ProxyReject::kClosed);
  EXPECT_EQ(table.size(), 0U);
  EXPECT_EQ(table.on_ready(gone_token).fd, -1);  // stale
}

TEST(PendingHeadersTest, ExpiresByDeadline) {
  PendingHeaders table;
  const auto now = PendingHeaders::Clock::now();
  Pair early = make_pair();
  Pair late = make_pair();
  table.add(std::move(early.ours), kPeer, 1, ProxyMode::kAny, now + 1s);
  table.add(std::move(late.ours), kPeer, 1, ProxyMode::kAny, now + 2s);
  EXPECT_EQ(table.next_deadline(), now + 1s);
  int expired = 0;
  table.expire(now + 1s, [&](PendingHeaders::Entry&&) { ++expired; });
  EXPECT_EQ(expired, 1);
  EXPECT_EQ(table.next_deadline(), now + 2s);
  table.take_all([&](PendingHeaders::Entry&&) { ++expired; });
  EXPECT_EQ(expired, 2);
  EXPECT_FALSE(table.next_deadline().has_value());
}

}  // namespace
}  // namespace echod
