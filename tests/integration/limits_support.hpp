// Client-side helpers shared by the limit tests (limits_test, limits_reload_test,
// slow_clients_test, fd_exhaustion_test).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/daemon_process.hpp"
#include "support/net_client.hpp"

namespace echod::test {

inline constexpr std::size_t kKiB = 1024;
inline constexpr std::size_t kMiB = 1024 * kKiB;

// `size` random bytes written to `fd` come back unchanged.
bool echoes(int fd, std::size_t size, std::uint64_t seed,
            Clock::duration timeout = std::chrono::seconds(5));

// Echoes one small payload on every connection at once; the number that came back whole.
std::size_t count_echoing(const std::vector<int>& fds, std::uint64_t seed);

// A refused client sees its connection end (EOF or reset) without one byte of echo, even after
// sending something.
testing::AssertionResult refused(int fd, Clock::duration timeout = std::chrono::seconds(5));

// A connection to the daemon's first address from the loopback address `source` (anything in
// 127.0.0.0/8 is local on Linux), so that one test process appears as several clients. On
// failure the test fails and the fd is invalid.
UniqueFd connect_from(const DaemonProcess& daemon, const std::string& source,
                      const ConnectOptions& options = {});

// A connection to the daemon's first (IPv4) address that advertises a maximum segment size of
// `mss` bytes, as a client across a real network does (1460 on Ethernet). On loopback the
// segment size is about 64 KiB, and Linux sizes a new socket's send buffer from it (twice the
// initial congestion window of 10 segments): each echod socket would buffer about 2 MiB that a
// client across a network could not make it buffer.
UniqueFd connect_with_mss(const DaemonProcess& daemon, int mss, const ConnectOptions& options);

// The peer ended the connection (FIN or RST has arrived), whatever unread data is queued.
// Does not read and does not wait.
bool peer_closed(int fd);

// Waits until the peer ends the connection, discarding any data that arrives. Returns when it
// was seen, or nullopt at the deadline.
std::optional<Clock::time_point> wait_peer_closed(int fd, Clock::time_point deadline);

// One connection of connect_and_watch().
struct WatchedConnection {
  UniqueFd fd;
  Clock::time_point connected_at;
  std::optional<Clock::time_point> closed_at;  // when the client saw echod end it
};

// Opens `count` connections from `source` one after another, sending nothing, and notes for
// each when echod ends it: after every connect() all of them are checked without waiting, and
// after the last one they are watched for `settle` more. A connection echod refuses is therefore
// seen closed within a connect() or so of the moment it happened.
std::vector<WatchedConnection> connect_and_watch(const DaemonProcess& daemon,
                                                 const std::string& source, std::size_t count,
                                                 Clock::duration settle);

// `count` round trips of `size` bytes, one at a time; the time of each.
std::vector<Clock::duration> ping_pong(int fd, std::size_t count, std::size_t size,
                                       Clock::duration timeout = std::chrono::seconds(5));

// The p-quantile (0 < p <= 1) by the nearest-rank method; zero for no samples.
Clock::duration percentile(std::vector<Clock::duration> samples, double p);

// "12.345 ms", for failure messages.
std::string to_ms(Clock::duration duration);

}  // namespace echod::test
