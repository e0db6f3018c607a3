#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "support/child_process.hpp"

namespace echod::test {

// What a churn run saw. Every counter but `completed` is a failure.
struct ChurnTotals {
  std::uint64_t completed = 0;       // exchanges echoed byte-exact, then closed by the client
  std::uint64_t connect_errors = 0;  // connect() failed (refused, timed out, reset)
  std::uint64_t resets = 0;          // ECONNRESET/EPIPE after the connection was up
  std::uint64_t corrupt = 0;         // a byte came back different from what was sent
  std::uint64_t early_eof = 0;       // echod closed before echoing everything
  std::uint64_t timeouts = 0;        // an exchange took longer than the per-exchange bound
  std::uint64_t other_errors = 0;
  std::string first_failure;  // what went wrong first, for the test's message
  double seconds = 0;         // from start() to the end of stop()

  [[nodiscard]] std::uint64_t failures() const noexcept {
    return connect_errors + resets + corrupt + early_eof + timeouts + other_errors;
  }
  [[nodiscard]] double connections_per_second() const noexcept {
    return seconds > 0 ? static_cast<double>(completed) / seconds : 0;
  }
  [[nodiscard]] std::string summary() const;
};

// `clients` concurrent loopback clients that each, in a loop, connect, send one message of a
// random size (1 B to 64 KiB) while reading the echo, check every byte, and close. Driven by a
// few threads with one poll() loop each.
//
// Thread contract: start(), stop() and wait_completed() from the test's thread; completed()
// from any thread.
class ChurnClients {
 public:
  ChurnClients(std::string host, std::uint16_t port, unsigned clients, unsigned threads = 4);
  ChurnClients(const ChurnClients&) = delete;
  ChurnClients& operator=(const ChurnClients&) = delete;
  ~ChurnClients();

  void start();
  // Starts no new exchange, lets the ones in progress finish (bounded), joins the threads and
  // returns the totals.
  ChurnTotals stop();
  [[nodiscard]] std::uint64_t completed() const noexcept { return completed_.load(); }
  // Waits until `count` exchanges completed in all (a sign of progress); false on timeout.
  bool wait_completed(std::uint64_t count, Clock::duration timeout) const;

 private:
  void run(unsigned sessions, std::uint64_t seed, ChurnTotals& totals);

  std::string host_;
  std::uint16_t port_;
  unsigned clients_;
  unsigned thread_count_;
  std::string pool_;  // random bytes; each message is a slice of it
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> completed_{0};
  std::vector<ChurnTotals> totals_;
  std::vector<std::thread> threads_;
  Clock::time_point started_{};
};

}  // namespace echod::test
