#include "client/udp_session.hpp"

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

constexpr std::size_t kReadChunk = 64 * 1024;

class UdpSession {
 public:
  UdpSession(const StreamOptions& options, int in_fd, int out_fd)
      : options_(options),
        in_fd_(in_fd),
        out_fd_(out_fd),
        max_payload_(options.server.family() == AF_INET6 ? kMaxUdpPayloadIpv6 : kMaxUdpPayloadIpv4),
        reply_(max_payload_ + 1) {}

  SessionOutcome run() {
    socket_ = UniqueFd(::socket(options_.server.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!socket_) return {kExitSystemError, "socket: " + errno_text(errno)};
    // Connected: the kernel passes on only the server's datagrams, and reports its ICMP
    // "port unreachable" as ECONNREFUSED.
    if (::connect(socket_.get(), options_.server.data(), options_.server.length()) != 0) {
      return {kExitSystemError,
              "connect to UDP " + options_.server.to_string() + ": " + errno_text(errno)};
    }
    for (;;) {
      auto datagram = next_datagram();
      if (!datagram) return read_error_.empty() ? SessionOutcome{} : outcome(kExitSystemError);
      if (auto result = echo(*datagram)) return *result;
      input_.erase(input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(datagram->size()));
    }
  }

 private:
  // The next datagram: a line of input, or what is left at EOF. Empty at EOF or on an error.
  std::optional<std::span<const unsigned char>> next_datagram() {
    std::vector<unsigned char> chunk(kReadChunk);
    for (;;) {
      auto newline = std::find(input_.begin(), input_.end(), '\n');
      if (newline != input_.end() || input_.size() >= max_payload_ ||
          (input_done_ && !input_.empty())) {
        auto length = newline != input_.end()
                          ? static_cast<std::size_t>(newline - input_.begin()) + 1
                          : input_.size();
        return std::span<const unsigned char>(input_).first(std::min(length, max_payload_));
      }
      if (input_done_) return std::nullopt;
      ssize_t n = ::read(in_fd_, chunk.data(), chunk.size());
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        read_error_ = "read standard input: " + errno_text(errno);
        return std::nullopt;
      }
      if (n == 0) {
        input_done_ = true;
      } else {
        input_.insert(input_.end(), chunk.begin(), chunk.begin() + n);
      }
    }
  }

  std::optional<SessionOutcome> echo(std::span<const unsigned char> datagram) {
    ++number_;
    if (::send(socket_.get(), datagram.data(), datagram.size(), 0) < 0) {
      return failed("send");
    }
    const auto deadline = Clock::now() + options_.timeout;
    for (;;) {
      auto now = Clock::now();
      if (now >= deadline) {
        return SessionOutcome{
            kExitEchoError,
            fmt::format("no echo of datagram {} ({} bytes, from input byte offset {}) within "
                        "{:g} s",
                        number_, datagram.size(), offset_,
                        std::chrono::duration<double>(options_.timeout).count())};
      }
      pollfd pfd{socket_.get(), POLLIN, 0};
      int ready = ::poll(&pfd, 1, poll_timeout_ms(deadline, now));
      if (ready < 0 && errno != EINTR) return failed("poll");
      if (ready <= 0) continue;
      ssize_t n = ::recv(socket_.get(), reply_.data(), reply_.size(), MSG_DONTWAIT | MSG_TRUNC);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return failed("receive");
      }
      auto got = std::span<const unsigned char>(reply_).first(
          std::min(static_cast<std::size_t>(n), reply_.size()));
      if (!std::equal(got.begin(), got.end(), datagram.begin(), datagram.end()) ||
          static_cast<std::size_t>(n) != datagram.size()) {
        return SessionOutcome{kExitEchoError, mismatch(datagram, got, static_cast<std::size_t>(n))};
      }
      int error = 0;
      if (!write_all(out_fd_, got, error)) {
        return SessionOutcome{kExitSystemError, "write to standard output: " + errno_text(error)};
      }
      offset_ += datagram.size();
      previous_.assign(datagram.begin(), datagram.end());
      return std::nullopt;
    }
  }

  [[nodiscard]] std::string mismatch(std::span<const unsigned char> sent,
                                     std::span<const unsigned char> got, std::size_t length) const {
    if (number_ > 1 && std::equal(got.begin(), got.end(), previous_.begin(), previous_.end()) &&
        length == previous_.size()) {
      return fmt::format(
          "received the echo of datagram {} a second time while waiting for the "
          "echo of datagram {}",
          number_ - 1, number_);
    }
    std::string text =
        fmt::format("echo of datagram {} (input byte offset {}) differs: ", number_, offset_);
    if (length != sent.size()) {
      text += fmt::format("sent {} bytes, received {}", sent.size(), length);
    }
    auto common = std::min(sent.size(), got.size());
    auto [a, b] = std::mismatch(sent.begin(), sent.begin() + static_cast<std::ptrdiff_t>(common),
                                got.begin());
    if (a != sent.begin() + static_cast<std::ptrdiff_t>(common)) {
      auto at = static_cast<std::size_t>(a - sent.begin());
      if (length != sent.size()) text += "; ";
      text += fmt::format("first difference at byte {} (sent {}, received {})", at, hex_byte(*a),
                          hex_byte(*b));
    }
    return text;
  }

  SessionOutcome failed(const char* what) const {
    int error = errno;
    if (error == ECONNREFUSED) {
      return {kExitSystemError,
              "UDP " + options_.server.to_string() + ": port unreachable (nothing listens there)"};
    }
    return {kExitSystemError,
            std::string(what) + " UDP " + options_.server.to_string() + ": " + errno_text(error)};
  }

  [[nodiscard]] SessionOutcome outcome(int code) const { return {code, read_error_}; }

  const StreamOptions& options_;
  int in_fd_;
  int out_fd_;
  std::size_t max_payload_;
  UniqueFd socket_;
  std::vector<unsigned char> input_;
  std::vector<unsigned char> reply_;
  std::vector<unsigned char> previous_;
  std::string read_error_;
  bool input_done_ = false;
  std::uint64_t number_ = 0;  // of the datagram in flight, from 1
  std::uint64_t offset_ = 0;  // input byte offset of the datagram in flight
};

}  // namespace

SessionOutcome run_udp_stream_session(const StreamOptions& options, int in_fd, int out_fd) {
  return UdpSession(options, in_fd, out_fd).run();
}

}  // namespace echod::client
