#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

#include "server_thread.hpp"
#include "sys/unique_fd.hpp"

namespace echod::client::testing {

// A small echo server on a thread of the test, on 127.0.0.1 (or ::1) with an ephemeral port,
// with faults to inject. Every connection counts its own stream offsets; a fault happens on
// each connection whose stream reaches `fault_offset`.
class TestEchoServer {
 public:
  enum class Behaviour {
    kEcho,          // a correct echo server, half-close aware
    kFlipByte,      // flips the byte at fault_offset
    kDuplicate,     // after byte fault_offset - 1, echoes the 64 bytes up to it again
    kSilent,        // reads and never answers
    kCloseAtFault,  // closes the connection once fault_offset bytes have arrived, echoing none
  };

  struct Options {
    Behaviour behaviour = Behaviour::kEcho;
    std::uint64_t fault_offset = 1000;
    bool ipv6 = false;
    // Connections accepted after the first `refuse_beyond` are closed right after accept, unread,
    // as echod closes connections over its per-address limits.
    std::optional<std::uint64_t> refuse_beyond = std::nullopt;
  };

  explicit TestEchoServer(Options options);
  TestEchoServer() : TestEchoServer(Options{}) {}
  TestEchoServer(const TestEchoServer&) = delete;
  TestEchoServer& operator=(const TestEchoServer&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] std::uint64_t connections_accepted() const { return accepted_.load(); }
  [[nodiscard]] std::uint64_t connections_refused() const { return refused_.load(); }

 private:
  void run();

  Options options_;
  UniqueFd listener_;
  std::uint16_t port_ = 0;
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> refused_{0};
  ServerThread thread_;  // last: stops before the sockets above close
};

}  // namespace echod::client::testing
