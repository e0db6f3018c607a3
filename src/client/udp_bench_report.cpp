#include <string>

#include <fmt/format.h>

#include "client/udp_bench.hpp"

#include <nlohmann/json.hpp>

namespace echod::client {
namespace {

double micros(std::uint64_t ns) { return static_cast<double>(ns) / 1e3; }

double per_second(double count, double seconds) { return seconds > 0 ? count / seconds : 0.0; }

double percent(std::uint64_t part, std::uint64_t whole) {
  return whole > 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

std::string mode_name(const BenchOptions& options) {
  return options.rate ? "udp-rate" : "udp-pingpong";
}

}  // namespace

void write_udp_summary(std::ostream& out, const BenchOptions& options,
                       const UdpBenchResult& result) {
  const auto& h = result.latency;
  out << "echod-client bench: UDP " << options.server.to_string() << ", "
      << (options.rate ? fmt::format("open-loop {:g} datagrams/s", *options.rate)
                       : std::string("ping-pong"))
      << ", " << options.flows << (options.flows == 1 ? " flow, " : " flows, ") << options.threads
      << (options.threads == 1 ? " thread, " : " threads, ") << options.size << " B datagrams"
      << (result.interrupted ? " (interrupted)" : "") << "\n";
  out << fmt::format("elapsed      {:.2f} s measured", result.elapsed_s);
  if (options.warmup.count() > 0) {
    out << fmt::format(" after {:.1f} s warmup",
                       std::chrono::duration<double>(options.warmup).count());
  }
  out << "\n";
  out << fmt::format("datagrams    {} sent ({:.1f}/s), {} echoed ({:.1f}/s)\n", result.sent,
                     per_second(static_cast<double>(result.sent), result.elapsed_s),
                     result.received,
                     per_second(static_cast<double>(result.received), result.elapsed_s));
  out << fmt::format("throughput   {:.2f} MB/s echoed\n",
                     per_second(static_cast<double>(result.bytes), result.elapsed_s) / 1e6);
  out << fmt::format("loss         {} ({:.3f} %)", result.lost, percent(result.lost, result.sent));
  if (result.late > 0) out << ", " << result.late << " of them echoed late";
  out << "\n";
  out << fmt::format(
      "latency us   p50 {:.1f}  p90 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}  "
      "mean {:.1f}\n",
      micros(h.percentile(50)), micros(h.percentile(90)), micros(h.percentile(99)),
      micros(h.percentile(99.9)), micros(h.max()), h.mean() / 1e3);
  out << "errors       ";
  if (result.errors.total() == 0) {
    out << "none\n";
  } else {
    out << result.errors.total() << ":";
    const char* separator = " ";
    for (std::size_t i = 0; i < kErrorKindCount; ++i) {
      auto kind = static_cast<ErrorKind>(i);
      if (result.errors.count(kind) == 0) continue;
      out << separator << error_kind_name(kind) << " " << result.errors.count(kind);
      separator = ", ";
    }
    out << "\n";
    for (const auto& sample : result.error_samples) out << "  " << sample << "\n";
  }
  if (result.send_failures > 0) {
    out << "send         " << result.send_failures
        << " datagrams not sent: this client's socket buffers were full\n";
  }
  double cpu = result.user_cpu_s + result.system_cpu_s;
  out << fmt::format("client cpu   {:.2f} s user, {:.2f} s system ({:.2f} us/datagram)\n",
                     result.user_cpu_s, result.system_cpu_s,
                     result.received > 0 ? cpu / static_cast<double>(result.received) * 1e6 : 0.0);
}

void write_udp_json(std::ostream& out, const BenchOptions& options, const UdpBenchResult& result) {
  const auto& h = result.latency;
  nlohmann::ordered_json errors;
  errors["total"] = result.errors.total();
  for (std::size_t i = 0; i < kErrorKindCount; ++i) {
    auto kind = static_cast<ErrorKind>(i);
    errors[std::string(error_kind_name(kind))] = result.errors.count(kind);
  }
  double cpu = result.user_cpu_s + result.system_cpu_s;
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
      {"latency_us",
       {{"min", micros(h.min())},
        {"p50", micros(h.percentile(50))},
        {"p90", micros(h.percentile(90))},
        {"p99", micros(h.percentile(99))},
        {"p999", micros(h.percentile(99.9))},
        {"max", micros(h.max())},
        {"mean", h.mean() / 1e3}}},
      {"errors", errors},
      {"error_samples", result.error_samples},
      {"client_cpu",
       {{"user_s", result.user_cpu_s},
        {"system_s", result.system_cpu_s},
        {"us_per_request",
         result.received > 0 ? cpu / static_cast<double>(result.received) * 1e6 : 0.0}}},
      {"interrupted", result.interrupted},
  };
  out << json.dump() << "\n";
}

}  // namespace echod::client
