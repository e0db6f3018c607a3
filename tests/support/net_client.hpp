#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "support/child_process.hpp"
#include "sys/unique_fd.hpp"

namespace echod::test {

// Default bound for one client operation (connect, a whole echo).
inline constexpr Clock::duration kIoTimeout = std::chrono::seconds(30);

struct ConnectOptions {
  int receive_buffer = 0;  // SO_RCVBUF before connect(); 0 keeps the default
  int send_buffer = 0;     // SO_SNDBUF before connect(); 0 keeps the default
};

// Connects to a numeric IPv4 or IPv6 address. The socket returned is non-blocking. On failure
// returns an invalid fd and stores the errno in `*error` (if given).
UniqueFd connect_tcp(const std::string& host, std::uint16_t port,
                     const ConnectOptions& options = {},
                     Clock::duration timeout = std::chrono::seconds(5), int* error = nullptr);

// connect_tcp() from the numeric local address `source_host` (bound before connect(); the port
// is still the kernel's choice), e.g. "127.0.0.2" to appear as another client on loopback.
UniqueFd connect_tcp_from(const std::string& source_host, const std::string& host,
                          std::uint16_t port, const ConnectOptions& options = {},
                          Clock::duration timeout = std::chrono::seconds(5), int* error = nullptr);

// A listening TCP socket on host:port (port 0: any), without SO_REUSEPORT. Invalid on failure.
UniqueFd listen_tcp(const std::string& host, std::uint16_t port = 0, int* error = nullptr,
                    int backlog = 16);
std::uint16_t local_port(int fd);

void set_buffer_sizes(int fd, int receive_buffer, int send_buffer);
// SO_LINGER {on, 0}: close() then sends RST instead of FIN.
void set_reset_on_close(int fd);

// One client echo in progress; run_echo_sessions() drives many of them at once. The fd is
// not owned.
struct EchoSession {
  EchoSession(int client_fd, std::string_view bytes, bool half_close = false)
      : fd(client_fd), payload(bytes), shutdown_after_send(half_close) {}

  int fd = -1;
  std::string_view payload;
  bool shutdown_after_send = false;  // half-close once everything is sent, then expect EOF
  // Stop driving the session once this many bytes came back (0: never), e.g. to reset the
  // connection mid-stream.
  std::size_t abandon_after = 0;

  std::size_t sent = 0;
  std::string received;
  bool eof = false;
  int error = 0;

  // Every byte came back (and, after a half-close, the EOF too), or the connection failed.
  [[nodiscard]] bool finished() const noexcept;
  [[nodiscard]] bool complete() const noexcept;
};

// Writes each payload and reads the echo concurrently (poll), until every session finished or
// the timeout passes. `tick` (optional) runs about every 20 ms. True when every session
// completed.
bool run_echo_sessions(std::span<EchoSession> sessions, Clock::duration timeout = kIoTimeout,
                       const std::function<void()>& tick = {});

// Writes `data` while reading concurrently; returns what came back (short on failure).
std::string echo_exact(int fd, std::string_view data, Clock::duration timeout = kIoTimeout);

// Sends as much of `data` as the connection takes without reading anything, until the socket
// has not become writable for `stall` (or all is sent). Returns the number of bytes sent.
std::size_t send_until_stalled(int fd, std::string_view data, Clock::duration stall,
                               Clock::duration timeout = kIoTimeout);
bool send_all(int fd, std::string_view data, Clock::duration timeout = kIoTimeout);

struct ReadResult {
  std::string data;
  bool eof = false;
  int error = 0;  // errno when the connection failed (e.g. ECONNRESET)
};
// Reads until `count` bytes arrived, EOF, an error or the timeout.
ReadResult read_exact(int fd, std::size_t count, Clock::duration timeout = kIoTimeout);
// Reads until EOF, an error or the timeout.
ReadResult read_until_eof(int fd, Clock::duration timeout = kIoTimeout);

// True when the connection is open and nothing (neither data nor EOF/RST) is waiting on it.
bool quiet_and_open(int fd);

// Whether a socket can be bound to this numeric address on this machine (e.g. "::1").
bool address_available(const std::string& host);

}  // namespace echod::test
