#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "client/error_kind.hpp"
#include "client/latency_histogram.hpp"
#include "client/options.hpp"

namespace echod::client {

// What `bench --udp` measured. Counts are of datagrams sent in the measured interval (after
// --warmup); every one of them ends as one of received, lost or corrupted (an echo too damaged
// to tell which datagram it was is counted corrupted, and its datagram lost as well).
struct UdpBenchResult {
  LatencyHistogram latency;         // round trips, nanoseconds
  std::uint64_t sent = 0;           // datagrams sent
  std::uint64_t received = 0;       // first echoes, byte-exact
  std::uint64_t bytes = 0;          // payload bytes of those
  std::uint64_t lost = 0;           // no echo within --timeout (or pushed out of the window)
  std::uint64_t corrupted = 0;      // echoes that differ from what was sent
  std::uint64_t duplicates = 0;     // echoes of a datagram already echoed
  std::uint64_t reordered = 0;      // echoes arriving after an echo of a later datagram
  std::uint64_t late = 0;           // echoes arriving after their datagram was counted lost
  std::uint64_t send_failures = 0;  // sends the client's own kernel refused (ENOBUFS, EAGAIN)
  std::uint64_t refused = 0;        // ICMP port unreachable reports (ECONNREFUSED)
  ErrorCounts errors;               // loss, corruption, duplication, reordering, crossed, refused
  std::vector<std::string> error_samples;
  double elapsed_s = 0;
  double user_cpu_s = 0;
  double system_cpu_s = 0;
  bool interrupted = false;
};

// Runs `bench --udp` to completion on options.threads threads, each with its share of the
// flows. SIGINT/SIGTERM end the run early. Throws std::system_error when it cannot start.
UdpBenchResult run_udp_bench(const BenchOptions& options, std::ostream& live_out);

// Outstanding datagrams tracked per flow: with --rate, a datagram still unanswered when this
// many later ones were sent on its flow is counted lost.
inline constexpr std::uint64_t kUdpFlowWindow = 8192;

void write_udp_summary(std::ostream& out, const BenchOptions& options,
                       const UdpBenchResult& result);
void write_udp_json(std::ostream& out, const BenchOptions& options, const UdpBenchResult& result);

}  // namespace echod::client
