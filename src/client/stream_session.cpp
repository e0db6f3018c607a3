#include "client/stream_session.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <span>
#include <vector>

#include <fmt/format.h>

#include "client/session_io.hpp"
#include "sys/system_error.hpp"
#include "sys/unique_fd.hpp"

namespace echod::client {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kChunk = 64 * 1024;
// Input read ahead of its echo. Bounds memory; the server's buffers hold the rest.
constexpr std::size_t kMaxInFlight = 1024 * 1024;
// Longest wait for the server's FIN after ours, once everything was echoed.
constexpr Nanoseconds kCloseGrace = std::chrono::seconds(2);

// Bytes read from input and not yet echoed: [0, sent_) went to the server, the rest waits.
class InFlight {
 public:
  [[nodiscard]] bool empty() const { return size() == 0; }
  [[nodiscard]] std::size_t size() const { return data_.size() - head_; }
  [[nodiscard]] std::size_t sent() const { return sent_; }
  [[nodiscard]] std::span<const unsigned char> unsent() const {
    return {data_.data() + head_ + sent_, size() - sent_};
  }
  [[nodiscard]] std::span<const unsigned char> awaiting_echo() const {
    return {data_.data() + head_, sent_};
  }
  void append(std::span<const unsigned char> bytes) {
    data_.insert(data_.end(), bytes.begin(), bytes.end());
  }
  void mark_sent(std::size_t n) { sent_ += n; }
  void consume_echoed(std::size_t n) {
    head_ += n;
    sent_ -= n;
    if (head_ == data_.size()) {
      data_.clear();
      head_ = 0;
    } else if (head_ >= kChunk && head_ * 2 >= data_.size()) {
      data_.erase(data_.begin(), data_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

 private:
  std::vector<unsigned char> data_;
  std::size_t head_ = 0;
  std::size_t sent_ = 0;
};

// Each step returns an outcome when the session ends there, and nothing to go on.
class Session {
 public:
  Session(const StreamOptions& options, int in_fd, int out_fd, bool line_mode)
      : options_(options), in_fd_(in_fd), out_fd_(out_fd), line_mode_(line_mode) {}

  SessionOutcome run() {
    if (auto outcome = connect()) return *outcome;
    std::vector<unsigned char> buffer(kChunk);
    for (;;) {
      if (input_done_ && in_flight_.empty()) {
        if (!half_closed_) {
          // Everything came back. Send our FIN and wait briefly for the server's: bytes arriving
          // now are excess; no FIN in time is no error (RFC 862 does not require one).
          if (::shutdown(socket_.get(), SHUT_WR) != 0) return {};
          half_closed_ = true;
          close_deadline_ = Clock::now() + std::min<Nanoseconds>(options_.timeout, kCloseGrace);
        }
        if (Clock::now() >= close_deadline_) return {};
      }
      bool want_input =
          !input_done_ && (line_mode_ ? in_flight_.empty() : in_flight_.size() < kMaxInFlight);
      pollfd fds[2] = {
          {want_input ? in_fd_ : -1, POLLIN, 0},
          {socket_.get(), static_cast<short>(POLLIN | (in_flight_.unsent().empty() ? 0 : POLLOUT)),
           0},
      };
      int timeout_ms = -1;
      if (half_closed_) {
        timeout_ms = poll_timeout_ms(close_deadline_, Clock::now());
      } else if (!in_flight_.empty()) {
        auto now = Clock::now();
        if (now >= last_progress_ + options_.timeout) return timed_out();
        timeout_ms = poll_timeout_ms(last_progress_ + options_.timeout, now);
      }
      if (::poll(fds, 2, timeout_ms) < 0) {
        if (errno == EINTR) continue;
        return {kExitSystemError, "poll: " + errno_text(errno)};
      }
      if (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) {
        if (auto outcome = receive(buffer)) return *outcome;
      }
      if (fds[1].revents & POLLOUT) {
        if (auto outcome = send()) return *outcome;
      }
      if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) {
        if (auto outcome = read_input(buffer)) return *outcome;
      }
    }
  }

 private:
  std::optional<SessionOutcome> connect() {
    const auto& server = options_.server;
    socket_ = UniqueFd(::socket(server.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!socket_) return SessionOutcome{kExitSystemError, "socket: " + errno_text(errno)};
    int one = 1;
    ::setsockopt(socket_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (::connect(socket_.get(), server.data(), server.length()) != 0 && errno != EINPROGRESS) {
      return connect_failed(errno);
    }
    auto deadline = Clock::now() + options_.timeout;
    for (;;) {
      pollfd pfd{socket_.get(), POLLOUT, 0};
      int ready = ::poll(&pfd, 1, poll_timeout_ms(deadline, Clock::now()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return SessionOutcome{kExitSystemError, "poll: " + errno_text(errno)};
      if (ready == 0) return connect_failed(ETIMEDOUT);
      break;
    }
    int error = 0;
    socklen_t length = sizeof(error);
    ::getsockopt(socket_.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return connect_failed(error);
    return std::nullopt;
  }

  [[nodiscard]] SessionOutcome connect_failed(int error) const {
    return {kExitSystemError,
            "connect to " + options_.server.to_string() + ": " + errno_text(error)};
  }

  [[nodiscard]] SessionOutcome timed_out() const {
    auto seconds = std::chrono::duration<double>(options_.timeout).count();
    return {kExitEchoError, fmt::format("timed out after {:g} s waiting for the echo of {} bytes "
                                        "at byte offset {}",
                                        seconds, in_flight_.size(), echoed_)};
  }

  std::optional<SessionOutcome> receive(std::span<unsigned char> buffer) {
    ssize_t n = ::recv(socket_.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return std::nullopt;
      return SessionOutcome{kExitEchoError, "connection to " + options_.server.to_string() + ": " +
                                                errno_text(errno) + " after " +
                                                std::to_string(echoed_) + " bytes echoed"};
    }
    if (n == 0) {
      if (half_closed_) return SessionOutcome{};
      std::string text = "connection closed by " + options_.server.to_string();
      if (!in_flight_.empty()) {
        text += " with " + std::to_string(in_flight_.size()) +
                " bytes not echoed, from byte offset " + std::to_string(echoed_);
      }
      return SessionOutcome{kExitEchoError, text};
    }
    auto got = buffer.first(static_cast<std::size_t>(n));
    auto expected = in_flight_.awaiting_echo();
    std::size_t common = std::min(got.size(), expected.size());
    auto [mismatch, ignored] = std::mismatch(
        got.begin(), got.begin() + static_cast<std::ptrdiff_t>(common), expected.begin());
    auto good = static_cast<std::size_t>(mismatch - got.begin());
    if (auto outcome = deliver(got.first(good))) return outcome;
    if (good < common) {
      return SessionOutcome{kExitEchoError, "echo differs from what was sent at byte offset " +
                                                std::to_string(echoed_) + " (sent " +
                                                hex_byte(expected[good]) + ", received " +
                                                hex_byte(got[good]) + ")"};
    }
    if (got.size() > expected.size()) {
      return SessionOutcome{kExitEchoError, "received " +
                                                std::to_string(got.size() - expected.size()) +
                                                " bytes more than were sent, at byte offset " +
                                                std::to_string(echoed_)};
    }
    return std::nullopt;
  }

  // Passes verified echo on: at once when streaming, per completed input chunk in line mode.
  std::optional<SessionOutcome> deliver(std::span<const unsigned char> bytes) {
    if (bytes.empty()) return std::nullopt;
    in_flight_.consume_echoed(bytes.size());
    echoed_ += bytes.size();
    last_progress_ = Clock::now();
    std::span<const unsigned char> out = bytes;
    if (line_mode_) {
      held_.insert(held_.end(), bytes.begin(), bytes.end());
      if (!in_flight_.empty()) return std::nullopt;
      out = held_;
    }
    int error = 0;
    bool ok = write_all(out_fd_, out, error);
    held_.clear();
    if (!ok)
      return SessionOutcome{kExitSystemError, "write to standard output: " + errno_text(error)};
    return std::nullopt;
  }

  std::optional<SessionOutcome> send() {
    auto unsent = in_flight_.unsent();
    ssize_t n = ::send(socket_.get(), unsent.data(), unsent.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return std::nullopt;
      return SessionOutcome{kExitEchoError, "connection to " + options_.server.to_string() + ": " +
                                                errno_text(errno) + " after " +
                                                std::to_string(echoed_) + " bytes echoed"};
    }
    in_flight_.mark_sent(static_cast<std::size_t>(n));
    last_progress_ = Clock::now();
    return std::nullopt;
  }

  std::optional<SessionOutcome> read_input(std::span<unsigned char> buffer) {
    ssize_t n = ::read(in_fd_, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return std::nullopt;
      return SessionOutcome{kExitSystemError, "read standard input: " + errno_text(errno)};
    }
    if (n == 0) {
      input_done_ = true;
      return std::nullopt;
    }
    if (in_flight_.empty()) last_progress_ = Clock::now();
    in_flight_.append(buffer.first(static_cast<std::size_t>(n)));
    return std::nullopt;
  }

  const StreamOptions& options_;
  int in_fd_;
  int out_fd_;
  bool line_mode_;
  UniqueFd socket_;
  InFlight in_flight_;
  std::vector<unsigned char> held_;
  std::uint64_t echoed_ = 0;
  bool input_done_ = false;
  bool half_closed_ = false;
  Clock::time_point close_deadline_;
  Clock::time_point last_progress_ = Clock::now();
};

}  // namespace

SessionOutcome run_stream_session(const StreamOptions& options, int in_fd, int out_fd,
                                  bool line_mode) {
  return Session(options, in_fd, out_fd, line_mode).run();
}

}  // namespace echod::client
