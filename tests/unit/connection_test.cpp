// Connection logic over a socketpair: echo, partial writes, backpressure, half-close and the
// graceful-stop sequence, without any listener or epoll.
#include "net/connection.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <numeric>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

namespace echod {
namespace {

class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    connection_.emplace(UniqueFd(fds[0]), AdmissionTicket{}, 0);
    peer_.reset(fds[1]);
    scratch_.resize(1024);
    io_.scratch = scratch_;
    io_.max_pending_output = 4096;
  }

  void shrink_buffers() {
    int size = 4096;
    ASSERT_EQ(::setsockopt(connection_->fd(), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
    ASSERT_EQ(::setsockopt(peer_.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)), 0);
  }

  // Writes as much of `data` as the peer socket takes; returns how much.
  std::size_t peer_send(const std::vector<std::byte>& data, std::size_t offset = 0) {
    ssize_t n = ::send(peer_.get(), data.data() + offset, data.size() - offset, MSG_NOSIGNAL);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }

  std::vector<std::byte> peer_receive_available() {
    std::vector<std::byte> out;
    std::byte chunk[65536];
    for (;;) {
      ssize_t n = ::recv(peer_.get(), chunk, sizeof(chunk), 0);
      if (n <= 0) break;
      out.insert(out.end(), chunk, chunk + n);
    }
    return out;
  }

  // 0 on EOF, 1 on would-block/data.
  bool peer_sees_eof() {
    std::byte b;
    return ::recv(peer_.get(), &b, 1, 0) == 0;
  }

  CloseReason ready(std::uint32_t events) {
    error_ = 0;
    return connection_->on_ready(events, io_, error_);
  }

  static std::vector<std::byte> pattern(std::size_t size) {
    std::vector<std::byte> data(size);
    for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<std::byte>((i * 131 + 7) % 251);
    return data;
  }

  std::optional<Connection> connection_;
  UniqueFd peer_;
  std::vector<std::byte> scratch_;
  IoContext io_;
  int error_ = 0;
};

TEST_F(ConnectionTest, EchoesSmallMessageAndAsksForMoreInput) {
  auto data = pattern(5);
  ASSERT_EQ(peer_send(data), 5U);
  EXPECT_EQ(ready(EPOLLIN), CloseReason::kNone);
  EXPECT_EQ(peer_receive_available(), data);
  EXPECT_EQ(connection_->wanted_events(io_.max_pending_output), std::uint32_t{EPOLLIN});
  EXPECT_EQ(connection_->pending_capacity(), 0U) << "a drained connection holds no buffer";
  EXPECT_EQ(io_.bytes_received, 5U);
  EXPECT_EQ(io_.bytes_sent, 5U);
}

TEST_F(ConnectionTest, ReadExactlyScratchSizeIsEchoedWhole) {
  // The seed example wrote one byte past its buffer after a full read.
  auto data = pattern(scratch_.size());
  ASSERT_EQ(peer_send(data), data.size());
  EXPECT_EQ(ready(EPOLLIN), CloseReason::kNone);
  EXPECT_EQ(peer_receive_available(), data);
}

TEST_F(ConnectionTest, MoreThanOneBufferArrivingAtOnceIsEchoedInOneEvent) {
  // The seed example read once per edge and stalled with more than its buffer pending.
  auto data = pattern(5 * scratch_.size() + 17);
  ASSERT_EQ(peer_send(data), data.size());
  EXPECT_EQ(ready(EPOLLIN), CloseReason::kNone);
  EXPECT_EQ(peer_receive_available(), data);
}

TEST_F(ConnectionTest, PartialWritesAreKeptAndBackpressureStopsReading) {
  shrink_buffers();
  auto data = pattern(256 * 1024);
  std::size_t sent = 0;
  std::vector<std::byte> echoed;
  bool saw_backpressure = false;
  for (int round = 0; round < 10'000 && echoed.size() < data.size(); ++round) {
    sent += peer_send(data, sent);
    std::uint32_t events = connection_->wanted_events(io_.max_pending_output);
    ASSERT_NE(events, 0U);
    ASSERT_EQ(ready(events), CloseReason::kNone);
    // Behind pending output a read takes only the room left below the cap.
    EXPECT_LE(connection_->pending_bytes(), std::max(io_.max_pending_output, scratch_.size()));
    if ((connection_->wanted_events(io_.max_pending_output) & EPOLLIN) == 0) {
      saw_backpressure = true;
      EXPECT_NE(connection_->wanted_events(io_.max_pending_output) & EPOLLOUT, 0U);
    }
    // Read slowly: a little at a time, so that the server side keeps hitting a full buffer.
    if (round % 4 == 0) {
      auto more = peer_receive_available();
      echoed.insert(echoed.end(), more.begin(), more.end());
    }
  }
  EXPECT_TRUE(saw_backpressure);
  ASSERT_EQ(echoed.size(), data.size());
  EXPECT_EQ(echoed, data);
  EXPECT_EQ(connection_->pending_capacity(), 0U);
}

TEST_F(ConnectionTest, PendingOutputStopsExactlyAtTheCap) {
  // A cap that is not a multiple of the read size: a full read on top of what is pending would
  // overshoot it by up to a whole scratch buffer.
  io_.max_pending_output = 4 * scratch_.size() + scratch_.size() / 2;
  shrink_buffers();
  auto data = pattern(64 * 1024);
  std::size_t sent = peer_send(data);
  ASSERT_GT(sent, io_.max_pending_output * 2) << "the test needs input beyond what can be held";
  for (int round = 0; round < 100; ++round) {
    ASSERT_EQ(ready(EPOLLIN), CloseReason::kNone);
    if ((connection_->wanted_events(io_.max_pending_output) & EPOLLIN) == 0) break;
  }
  EXPECT_EQ(connection_->wanted_events(io_.max_pending_output) & EPOLLIN, 0U)
      << "the peer reads nothing: reading must stop";
  EXPECT_EQ(connection_->pending_bytes(), io_.max_pending_output);
  // Everything read is still echoed, in order, once the peer reads.
  std::vector<std::byte> echoed;
  for (int round = 0; round < 10'000 && echoed.size() < sent; ++round) {
    auto more = peer_receive_available();
    echoed.insert(echoed.end(), more.begin(), more.end());
    ASSERT_EQ(ready(connection_->wanted_events(io_.max_pending_output)), CloseReason::kNone);
  }
  ASSERT_EQ(echoed.size(), sent);
  EXPECT_TRUE(std::equal(echoed.begin(), echoed.end(), data.begin()));
}

TEST_F(ConnectionTest, HalfCloseEchoesThenCloses) {
  auto data = pattern(3000);
  ASSERT_EQ(peer_send(data), data.size());
  ASSERT_EQ(::shutdown(peer_.get(), SHUT_WR), 0);
  // A short read ends an event without probing further, so EOF may need one more event (the
  // level-triggered re-arm delivers it).
  CloseReason reason = CloseReason::kNone;
  for (int i = 0; i < 3 && reason == CloseReason::kNone; ++i) reason = ready(EPOLLIN);
  EXPECT_EQ(reason, CloseReason::kPeerClosed);
  EXPECT_EQ(peer_receive_available(), data);
}

TEST_F(ConnectionTest, HalfCloseWithPendingOutputFlushesFirst) {
  shrink_buffers();
  auto data = pattern(64 * 1024);
  std::size_t sent = 0;
  std::vector<std::byte> echoed;
  CloseReason reason = CloseReason::kNone;
  bool shut = false;
  for (int round = 0; round < 10'000 && reason == CloseReason::kNone; ++round) {
    if (!shut) {
      sent += peer_send(data, sent);
      if (sent == data.size()) {
        ASSERT_EQ(::shutdown(peer_.get(), SHUT_WR), 0);
        shut = true;
      }
    }
    reason = ready(connection_->wanted_events(io_.max_pending_output) | EPOLLIN);
    if (round % 3 == 0 || reason != CloseReason::kNone) {
      auto more = peer_receive_available();
      echoed.insert(echoed.end(), more.begin(), more.end());
    }
    if (shut && reason == CloseReason::kNone &&
        connection_->state() == Connection::State::kFlushing) {
      EXPECT_EQ(connection_->wanted_events(io_.max_pending_output), std::uint32_t{EPOLLOUT});
    }
  }
  EXPECT_EQ(reason, CloseReason::kPeerClosed);
  auto rest = peer_receive_available();
  echoed.insert(echoed.end(), rest.begin(), rest.end());
  EXPECT_EQ(echoed, data);
}

TEST_F(ConnectionTest, PeerGoneWhileWritingIsAResetNotACrash) {
  shrink_buffers();
  auto data = pattern(64 * 1024);
  peer_send(data);
  ASSERT_EQ(ready(EPOLLIN), CloseReason::kNone);
  ASSERT_GT(connection_->pending_bytes(), 0U);
  peer_.reset();  // unread data: the next write fails with EPIPE/ECONNRESET, not SIGPIPE
  CloseReason reason = CloseReason::kNone;
  for (int i = 0; i < 10 && reason == CloseReason::kNone; ++i) reason = ready(EPOLLOUT);
  EXPECT_EQ(reason, CloseReason::kReset);
  EXPECT_TRUE(error_ == EPIPE || error_ == ECONNRESET) << error_;
}

TEST_F(ConnectionTest, EpollErrClosesWithTheSocketError) {
  peer_.reset();
  EXPECT_NE(ready(EPOLLERR), CloseReason::kNone);
}

TEST_F(ConnectionTest, DrainEchoesWhatArrivedThenSendsFinOnceTheClientIsQuiet) {
  auto data = pattern(2500);
  ASSERT_EQ(peer_send(data), data.size());
  connection_->begin_drain();
  EXPECT_EQ(connection_->state(), Connection::State::kDraining);
  io_.now = 50;
  EXPECT_EQ(ready(EPOLLIN | EPOLLOUT), CloseReason::kNone);
  EXPECT_EQ(peer_receive_available(), data);
  // Bytes just arrived: more may still be on their way, so no FIN yet.
  EXPECT_EQ(connection_->state(), Connection::State::kDraining);
  EXPECT_TRUE(connection_->waiting_for_quiet());
  io_.now += 1;
  EXPECT_EQ(ready(EPOLLIN | EPOLLOUT), CloseReason::kNone);
  EXPECT_EQ(connection_->state(), Connection::State::kDraining) << "not quiet for long enough";
  io_.now += Connection::kDrainQuiet;
  EXPECT_EQ(ready(EPOLLIN | EPOLLOUT), CloseReason::kNone);
  EXPECT_EQ(connection_->state(), Connection::State::kFinSent);
  EXPECT_TRUE(peer_sees_eof()) << "FIN after the last echoed byte";
  EXPECT_EQ(connection_->wanted_events(io_.max_pending_output), std::uint32_t{EPOLLIN});
  ASSERT_EQ(::shutdown(peer_.get(), SHUT_WR), 0);
  EXPECT_EQ(ready(EPOLLIN), CloseReason::kShutdown);
}

TEST_F(ConnectionTest, DrainOfLongIdleConnectionSendsFinAtOnce) {
  connection_->begin_drain();
  io_.now = 100;
  EXPECT_EQ(ready(EPOLLOUT), CloseReason::kNone);
  EXPECT_EQ(connection_->state(), Connection::State::kFinSent);
  EXPECT_TRUE(peer_sees_eof());
}

TEST_F(ConnectionTest, TracksActivityAndOutputStalls) {
  shrink_buffers();
  io_.now = 7;
  auto data = pattern(64 * 1024);
  peer_send(data);
  ASSERT_EQ(ready(EPOLLIN), CloseReason::kNone);
  EXPECT_EQ(connection_->last_active(), 7U);
  ASSERT_GT(connection_->pending_bytes(), 0U) << "the peer reads nothing: output waits";
  EXPECT_EQ(connection_->stalled_since(), 7U);
  io_.now = 9;
  ASSERT_EQ(ready(EPOLLOUT), CloseReason::kNone);  // nothing can be written
  EXPECT_EQ(connection_->stalled_since(), 7U) << "no progress: the stall clock keeps running";
  std::size_t echoed = 0;
  for (int i = 0; i < 1000 && connection_->pending_bytes() > 0; ++i) {
    echoed += peer_receive_available().size();
    io_.now = 12;
    ASSERT_EQ(ready(EPOLLOUT | EPOLLIN), CloseReason::kNone);
  }
  EXPECT_EQ(connection_->pending_bytes(), 0U);
  EXPECT_EQ(connection_->stalled_since(), 0U) << "nothing pending: not stalled";
  EXPECT_EQ(connection_->last_active(), 12U);
}

}  // namespace
}  // namespace echod
