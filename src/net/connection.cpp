#include "net/connection.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cassert>
#include <cerrno>

namespace echod {
namespace {

bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

CloseReason classify(int error) {
  switch (error) {
    case ECONNRESET:
    case EPIPE:
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETUNREACH:
      return CloseReason::kReset;
    default:
      return CloseReason::kError;
  }
}

int pending_socket_error(int fd) {
  int error = 0;
  socklen_t length = sizeof(error);
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
  return error != 0 ? error : ECONNRESET;
}

// send() without SIGPIPE. Returns bytes written, 0 when the socket buffer is full, -1 on error.
ssize_t send_some(int fd, std::span<const std::byte> bytes, int& error) {
  ssize_t n = -1;
  do {
    n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n >= 0) return n;
  if (would_block(errno)) return 0;
  error = errno;
  return -1;
}

}  // namespace

CloseReason Connection::on_ready(std::uint32_t events, IoContext& io, int& error) {
  std::uint64_t received_before = io.bytes_received;
  std::uint64_t sent_before = io.bytes_sent;
  CloseReason reason = handle(events, io, error);
  if (io.bytes_received != received_before || io.bytes_sent != sent_before) last_active_ = io.now;
  if (pending_.empty()) {
    stalled_since_ = 0;
  } else if (io.bytes_sent != sent_before || stalled_since_ == 0) {
    stalled_since_ = std::max<Ticks>(io.now, 1);  // output moved (or just began to wait)
  }
  return reason;
}

CloseReason Connection::handle(std::uint32_t events, IoContext& io, int& error) {
  if ((events & EPOLLERR) != 0) {
    error = pending_socket_error(fd_.get());
    return classify(error);
  }
  if (CloseReason reason = flush(io, error); reason != CloseReason::kNone) return reason;

  switch (state_) {
    case State::kEchoing: {
      ReadResult result = read_and_echo(io, error);  // before after_read() reads `error`
      return after_read(result, error);
    }
    case State::kFlushing:
      return pending_.empty() ? CloseReason::kPeerClosed : CloseReason::kNone;
    case State::kDraining: {
      std::uint64_t received_before = io.bytes_received;
      ReadResult result = read_and_echo(io, error);
      // An empty socket is not enough to know the client is done: bytes it wrote while we held
      // it back can still be in its own send queue, and arrive once our window opens. Only a
      // connection that has been quiet for a while gets its FIN.
      bool quiet = io.bytes_received == received_before && io.now - last_active_ >= kDrainQuiet;
      if (result == ReadResult::kDrained && pending_.empty() && quiet) {
        // Everything the client sent is echoed: FIN after the last byte.
        ::shutdown(fd_.get(), SHUT_WR);
        set_state(State::kFinSent);
        result = read_and_discard(error);
      }
      return after_read(result, error);
    }
    case State::kFinSent: {
      ReadResult result = read_and_discard(error);
      return after_read(result, error);
    }
  }
  return CloseReason::kNone;
}

CloseReason Connection::after_read(ReadResult result, int error) {
  switch (result) {
    case ReadResult::kFailed:
      return classify(error);
    case ReadResult::kEof:
      if (state_ == State::kFinSent) return CloseReason::kShutdown;
      set_state(State::kFlushing);
      return pending_.empty() ? CloseReason::kPeerClosed : CloseReason::kNone;
    case ReadResult::kDrained:
    case ReadResult::kCapped:
    case ReadResult::kBackpressure:
      return CloseReason::kNone;
  }
  return CloseReason::kNone;
}

std::uint32_t Connection::wanted_events(std::size_t max_pending_output) const noexcept {
  std::uint32_t events = 0;
  switch (state_) {
    case State::kEchoing:
    case State::kDraining:
      if (pending_.readable() < max_pending_output)
        events |= EPOLLIN;  // over the cap: stop reading
      break;
    case State::kFinSent:
      events |= EPOLLIN;  // to see the client's FIN
      break;
    case State::kFlushing:
      break;
  }
  if (!pending_.empty()) events |= EPOLLOUT;  // pending bytes: ask to write
  return events;
}

void Connection::begin_drain() noexcept {
  if (state_ == State::kEchoing) set_state(State::kDraining);
}

CloseReason Connection::flush(IoContext& io, int& error) {
  while (!pending_.empty()) {
    ssize_t written = send_some(fd_.get(), pending_.readable_bytes(), error);
    if (written < 0) return classify(error);
    if (written == 0) break;
    auto count = static_cast<std::size_t>(written);
    io.bytes_sent += count;
    bool partial = count < pending_.readable();
    pending_.consume(count);
    if (partial) break;  // the socket buffer is full; EPOLLOUT will say when it has room
  }
  return CloseReason::kNone;
}

Connection::ReadResult Connection::read_and_echo(IoContext& io, int& error) {
  for (unsigned reads = 0; reads < io.max_reads_per_wakeup; ++reads) {
    if (pending_.readable() >= io.max_pending_output) return ReadResult::kBackpressure;
    // Behind unsent output, read no more than the cap leaves room for: what is held for one
    // connection stays within max(max_pending_output, io_buffer).
    std::size_t wanted = io.scratch.size();
    if (!pending_.empty()) wanted = std::min(wanted, io.max_pending_output - pending_.readable());
    ssize_t received = ::recv(fd_.get(), io.scratch.data(), wanted, 0);
    if (received == 0) return ReadResult::kEof;
    if (received < 0) {
      if (errno == EINTR) continue;
      if (would_block(errno)) return ReadResult::kDrained;
      error = errno;
      return ReadResult::kFailed;
    }
    auto count = static_cast<std::size_t>(received);
    io.bytes_received += count;
    auto data = io.scratch.first(count);
    std::size_t written = 0;
    if (pending_.empty()) {
      // The common case: straight back from the scratch buffer, no copy, no allocation.
      ssize_t sent = send_some(fd_.get(), data, error);
      if (sent < 0) return ReadResult::kFailed;
      written = static_cast<std::size_t>(sent);
      io.bytes_sent += written;
    }
    if (written < count) {
      pending_.append(data.subspan(written), std::max(io.max_pending_output, io.scratch.size()));
    }
    // A short read means the socket is empty now; asking again would only return EAGAIN.
    if (count < wanted) return ReadResult::kDrained;
  }
  return ReadResult::kCapped;
}

Connection::ReadResult Connection::read_and_discard(int& error) {
  std::byte sink[4096];
  for (unsigned reads = 0; reads < 16; ++reads) {
    ssize_t received = ::recv(fd_.get(), sink, sizeof(sink), 0);
    if (received == 0) return ReadResult::kEof;
    if (received < 0) {
      if (errno == EINTR) continue;
      if (would_block(errno)) return ReadResult::kDrained;
      error = errno;
      return ReadResult::kFailed;
    }
  }
  return ReadResult::kCapped;
}

void Connection::set_state(State next) noexcept {
  assert(next != state_);
  state_ = next;
}

}  // namespace echod
