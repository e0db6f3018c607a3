#include "client/bench_report.hpp"

#include <sys/socket.h>

#include <string>

#include <fmt/format.h>

#include "client/report_sections.hpp"

#include <nlohmann/json.hpp>

namespace echod::client {
namespace {

const char* mode_name(BenchMode mode) {
  switch (mode) {
    case BenchMode::kLoad:
      return "load";
    case BenchMode::kChurn:
      return "churn";
    case BenchMode::kIdle:
      return "idle";
  }
  return "?";
}

struct Rates {
  double requests_per_s;
  double mb_per_s;
  double cpu_us_per_request;
};

Rates rates(const BenchResult& result) {
  auto requests = static_cast<double>(result.requests);
  return {per_second(requests, result.elapsed_s),
          per_second(static_cast<double>(result.bytes), result.elapsed_s) / 1e6,
          cpu_us_per(result.user_cpu_s + result.system_cpu_s, result.requests)};
}

std::string fixed(double value, int decimals) { return fmt::format("{:.{}f}", value, decimals); }

// Refusals usually mean the server's per-address limits, not a fault: say so, and what to do.
std::string refused_advice(const BenchOptions& options, std::uint64_t refused) {
  std::string text = std::to_string(refused) +
                     " connection(s) refused: the server closed them before echoing anything. "
                     "Its per-address limits (echod: limits.max_connections_per_ip, "
                     "limits.accept_rate_per_ip) may be the cause; spread the connections over "
                     "more source addresses with --source-range";
  if (options.server.family() == AF_INET && options.server.is_loopback()) {
    text += ", e.g. --source-range 127.0.0.1-127.0.0.16";
  }
  return text;
}

}  // namespace

void write_summary(std::ostream& out, const BenchOptions& options, const BenchResult& result) {
  Rates r = rates(result);
  out << "echod-client bench: " << options.server.to_string() << ", " << mode_name(options.mode)
      << ", " << options.connections << " connections, " << options.threads
      << (options.threads == 1 ? " thread, " : " threads, ") << options.size
      << " B messages, pipeline " << options.pipeline
      << (result.interrupted ? " (interrupted)" : "") << "\n";
  write_elapsed_line(out, result.elapsed_s, options.warmup);
  bool churn = options.mode == BenchMode::kChurn;
  out << "requests     " << result.requests << (churn ? " connections (" : " requests (")
      << fixed(r.requests_per_s, 1) << (churn ? " connections/s)\n" : " req/s)\n");
  out << "throughput   " << fixed(r.mb_per_s, 2) << " MB/s echoed\n";
  write_latency_line(out, result.latency);
  out << "connections  " << result.connects << " established";
  if (options.mode == BenchMode::kIdle) out << ", " << result.idle_established << " held idle";
  out << "\n";
  write_error_lines(out, result.errors, result.error_samples);
  if (auto refused = result.errors.count(ErrorKind::kRefused); refused > 0) {
    out << refused_advice(options, refused) << "\n";
  }
  out << "client cpu   " << fixed(result.user_cpu_s, 2) << " s user, "
      << fixed(result.system_cpu_s, 2) << " s system (" << fixed(r.cpu_us_per_request, 2)
      << " us/request)\n";
}

void write_json(std::ostream& out, const BenchOptions& options, const BenchResult& result) {
  Rates r = rates(result);
  nlohmann::ordered_json json = {
      {"mode", mode_name(options.mode)},
      {"server", options.server.to_string()},
      {"connections", options.connections},
      {"threads", options.threads},
      {"size", options.size},
      {"pipeline", options.pipeline},
      {"seed", options.seed},
      {"warmup_s", std::chrono::duration<double>(options.warmup).count()},
      {"elapsed_s", result.elapsed_s},
      {"requests", result.requests},
      {"requests_per_s", r.requests_per_s},
      {"bytes", result.bytes},
      {"mb_per_s", r.mb_per_s},
      {"connections_established", result.connects},
      {"idle_established", result.idle_established},
      {"latency_us", latency_json(result.latency)},
      {"errors", error_counts_json(result.errors)},
      {"error_samples", result.error_samples},
      {"client_cpu",
       {{"user_s", result.user_cpu_s},
        {"system_s", result.system_cpu_s},
        {"us_per_request", r.cpu_us_per_request}}},
      {"interrupted", result.interrupted},
  };
  out << json.dump() << "\n";
}

}  // namespace echod::client
