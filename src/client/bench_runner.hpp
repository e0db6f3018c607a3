#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "client/error_kind.hpp"
#include "client/latency_histogram.hpp"
#include "client/options.hpp"

namespace echod::client {

struct BenchResult {
  LatencyHistogram latency;  // nanoseconds
  std::uint64_t requests = 0;
  std::uint64_t bytes = 0;
  std::uint64_t connects = 0;
  std::uint32_t idle_established = 0;  // --idle: connections that echoed once
  ErrorCounts errors;
  std::vector<std::string> error_samples;
  double elapsed_s = 0;  // the measured interval
  double user_cpu_s = 0;
  double system_cpu_s = 0;
  bool interrupted = false;  // stopped early by SIGINT or SIGTERM
};

// Runs a bench to completion on options.threads threads. Live progress (options.live) goes to
// `live_out` once a second; the --idle "established" line goes to `status_out`. SIGINT/SIGTERM
// end the run early (a second one closes everything at once). Throws std::system_error or
// std::runtime_error when the run cannot start.
BenchResult run_bench(const BenchOptions& options, std::ostream& live_out,
                      std::ostream& status_out);

}  // namespace echod::client
