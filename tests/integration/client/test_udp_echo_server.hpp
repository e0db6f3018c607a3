#pragma once

#include <atomic>
#include <cstdint>

#include "server_thread.hpp"
#include "sys/unique_fd.hpp"

namespace echod::client::testing {

// A small UDP echo server on a thread of the test, on 127.0.0.1 (or ::1) with an ephemeral
// port, with faults to inject: every `nth` datagram received (counting from 1, across all
// sources) is dropped, echoed twice, held back until the next one has been echoed, or echoed
// with a byte flipped.
class TestUdpEchoServer {
 public:
  enum class Behaviour {
    kEcho,       // a correct echo server
    kDrop,       // no echo for every nth datagram
    kDuplicate,  // every nth datagram echoed twice
    kReorder,    // every nth datagram echoed after the next one (or after 50 ms of quiet)
    kCorrupt,    // every nth datagram echoed with its middle byte flipped
    kSilent,     // reads and never answers
  };

  struct Options {
    Behaviour behaviour = Behaviour::kEcho;
    std::uint64_t nth = 10;
    bool ipv6 = false;
  };

  explicit TestUdpEchoServer(Options options);
  TestUdpEchoServer() : TestUdpEchoServer(Options{}) {}
  TestUdpEchoServer(const TestUdpEchoServer&) = delete;
  TestUdpEchoServer& operator=(const TestUdpEchoServer&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] std::uint64_t received() const { return received_.load(); }

 private:
  void run();

  Options options_;
  UniqueFd socket_;
  std::uint16_t port_ = 0;
  std::atomic<std::uint64_t> received_{0};
  ServerThread thread_;  // last: stops before the sockets above close
};

}  // namespace echod::client::testing
