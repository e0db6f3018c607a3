// Client-side helpers shared by the limit tests (limits_test, slow_clients_test,
// fd_exhaustion_test, metrics_test).
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
// The timeouts of these helpers are generous (seconds): they catch a connection that is never
// served or never closed, not a slow one.
bool echoes(int fd, std::size_t size, std::uint64_t seed,
            Clock::duration timeout = std::chrono::seconds(10));

// Echoes one small payload on every connection at once; the number that came back whole.
std::size_t count_echoing(const std::vector<int>& fds, std::uint64_t seed);

// A refused client sees its connection end (EOF or reset) without one byte of echo, even after
// sending something.
testing::AssertionResult refused(int fd, Clock::duration timeout = std::chrono::seconds(10));

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

// What echod did with a new connection, as its client sees it.
enum class Admission {
  kServed,     // the byte sent on it came back
  kRefused,    // it ended (EOF or reset) without one byte of echo
  kUndecided,  // neither, by the deadline: left waiting in the accept queue, or accepted and
               // then neither served nor closed
};

struct SortedConnection {
  UniqueFd fd;
  Admission admission = Admission::kUndecided;
};

// Opens `count` connections from `source` one after another, sending nothing, and then sorts
// them (sort_out()). No time is measured: a connection is sorted by what echod did with it,
// however long that took; `timeout` (generous) only ends the wait for one that gets nothing.
std::vector<SortedConnection> connect_and_sort(const DaemonProcess& daemon,
                                               const std::string& source, std::size_t count,
                                               Clock::duration timeout = std::chrono::seconds(30));

// Sends one byte on every undecided connection and waits until each has either echoed it
// (kServed; the echo is consumed) or ended without echo (kRefused), `timeout` at most.
void sort_out(std::vector<SortedConnection>& connections,
              Clock::duration timeout = std::chrono::seconds(30));

// How many of `connections` echod treated so; their fds.
std::size_t count_of(const std::vector<SortedConnection>& connections, Admission admission);
std::vector<int> fds_of(const std::vector<SortedConnection>& connections, Admission admission);

// `count` round trips of `size` bytes, one at a time; the time of each (for failure messages:
// no test asserts a round trip's duration).
std::vector<Clock::duration> ping_pong(int fd, std::size_t count, std::size_t size,
                                       Clock::duration timeout = std::chrono::seconds(10));

// "12.345 ms", for failure messages.
std::string to_ms(Clock::duration duration);

}  // namespace echod::test
