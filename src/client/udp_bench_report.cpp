#include <string>

#include <fmt/format.h>

#include "client/report_sections.hpp"
#include "client/udp_bench.hpp"

#include <nlohmann/json.hpp>

namespace echod::client {
namespace {

double percent(std::uint64_t part, std::uint64_t whole) {
  return whole > 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

std::string mode_name(const BenchOptions& options) {
  return options.rate ? "udp-rate" : "udp-pingpong";
}

}  // namespace

void write_udp_summary(std::ostream& out, const BenchOptions& options,
                       const UdpBenchResult& result) {
  out << "echod-client bench: UDP " << options.server.to_string() << ", "
      << (options.rate ? fmt::format("open-loop {:g} datagrams/s", *options.rate)
                       : std::string("ping-pong"))
      << ", " << options.flows << (options.flows == 1 ? " flow, " : " flows, ") << options.threads
      << (options.threads == 1 ? " thread, " : " threads, ") << options.size << " B datagrams"
      << (result.interrupted ? " (interrupted)" : "") << "\n";
  write_elapsed_line(out, result.elapsed_s, options.warmup);
  out << fmt::format("datagrams    {} sent ({:.1f}/s), {} echoed ({:.1f}/s)\n", result.sent,
                     per_second(static_cast<double>(result.sent), result.elapsed_s),
                     result.received,
                     per_second(static_cast<double>(result.received), result.elapsed_s));
  out << fmt::format("throughput   {:.2f} MB/s echoed\n",
                     per_second(static_cast<double>(result.bytes), result.elapsed_s) / 1e6);
  out << fmt::format("loss         {} ({:.3f} %)", result.lost, percent(result.lost, result.sent));
  if (result.late > 0) out << ", " << result.late << " of them echoed late";
  out << "\n";
  write_latency_line(out, result.latency);
  write_error_lines(out, result.errors, result.error_samples);
  if (result.send_failures > 0) {
    out << "send         " << result.send_failures
        << " datagrams not sent: this client's socket buffers were full\n";
  }
  out << fmt::format("client cpu   {:.2f} s user, {:.2f} s system ({:.2f} us/datagram)\n",
                     result.user_cpu_s, result.system_cpu_s,
                     cpu_us_per(result.user_cpu_s + result.system_cpu_s, result.received));
}

void write_udp_json(std::ostream& out, const BenchOptions& options, const UdpBenchResult& result) {
  nlohmann::ordered_json json = {
      {"mode", mode_name(options)},
      {"protocol", "udp"},
      {"server", options.server.to_string()},
      {"flows", options.flows},
      {"threads", options.threads},
      {"size", options.size},
      {"rate", options.rate ? nlohmann::ordered_json(*options.rate) : nlohmann::ordered_json()},
      {"seed", options.seed},
      {"timeout_s", std::chrono::duration<double>(options.timeout).count()},
      {"warmup_s", std::chrono::duration<double>(options.warmup).count()},
      {"elapsed_s", result.elapsed_s},
      {"sent", result.sent},
      {"sent_per_s", per_second(static_cast<double>(result.sent), result.elapsed_s)},
      {"requests", result.received},
      {"requests_per_s", per_second(static_cast<double>(result.received), result.elapsed_s)},
      {"bytes", result.bytes},
      {"mb_per_s", per_second(static_cast<double>(result.bytes), result.elapsed_s) / 1e6},
      {"lost", result.lost},
      {"loss_percent", percent(result.lost, result.sent)},
      {"late", result.late},
      {"corrupted", result.corrupted},
      {"duplicates", result.duplicates},
      {"reordered", result.reordered},
      {"refused", result.refused},
      {"send_failures", result.send_failures},
      {"latency_us", latency_json(result.latency)},
      {"errors", error_counts_json(result.errors)},
      {"error_samples", result.error_samples},
      {"client_cpu",
       {{"user_s", result.user_cpu_s},
        {"system_s", result.system_cpu_s},
        {"us_per_request", cpu_us_per(result.user_cpu_s + result.system_cpu_s, result.received)}}},
      {"interrupted", result.interrupted},
  };
  out << json.dump() << "\n";
}

}  // namespace echod::client
