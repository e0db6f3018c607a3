#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "client/error_kind.hpp"
#include "client/latency_histogram.hpp"

#include <nlohmann/json.hpp>

namespace echod::client {

// The parts of the bench reports that TCP (bench_report.cpp) and UDP (udp_bench_report.cpp)
// runs write alike, so that both say the same thing the same way.

double micros(std::uint64_t ns);
double per_second(double count, double seconds);
// Client CPU microseconds per counted item (request, datagram); 0 when none was counted.
double cpu_us_per(double cpu_s, std::uint64_t count);

// "elapsed      1.00 s measured after 0.5 s warmup" (no warmup part when there was none).
void write_elapsed_line(std::ostream& out, double elapsed_s, std::chrono::nanoseconds warmup);
// "latency us   p50 ...  mean ...", from nanoseconds.
void write_latency_line(std::ostream& out, const LatencyHistogram& latency);
// "errors       none", or the total, the count of each kind seen and then the samples, one a line.
void write_error_lines(std::ostream& out, const ErrorCounts& errors,
                       const std::vector<std::string>& samples);

// {"min": ..., "p50": ..., "p90": ..., "p99": ..., "p999": ..., "max": ..., "mean": ...} in us.
nlohmann::ordered_json latency_json(const LatencyHistogram& latency);
// {"total": ..., then one field per error kind, all of them}.
nlohmann::ordered_json error_counts_json(const ErrorCounts& errors);

}  // namespace echod::client
