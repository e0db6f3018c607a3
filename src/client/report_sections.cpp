#include "client/report_sections.hpp"

#include <fmt/format.h>

namespace echod::client {

double micros(std::uint64_t ns) { return static_cast<double>(ns) / 1e3; }

double per_second(double count, double seconds) { return seconds > 0 ? count / seconds : 0.0; }

double cpu_us_per(double cpu_s, std::uint64_t count) {
  return count > 0 ? cpu_s / static_cast<double>(count) * 1e6 : 0.0;
}

void write_elapsed_line(std::ostream& out, double elapsed_s, std::chrono::nanoseconds warmup) {
  out << fmt::format("elapsed      {:.2f} s measured", elapsed_s);
  if (warmup.count() > 0) {
    out << fmt::format(" after {:.1f} s warmup", std::chrono::duration<double>(warmup).count());
  }
  out << "\n";
}

void write_latency_line(std::ostream& out, const LatencyHistogram& latency) {
  const auto& h = latency;
  out << fmt::format(
      "latency us   p50 {:.1f}  p90 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}  "
      "mean {:.1f}\n",
      micros(h.percentile(50)), micros(h.percentile(90)), micros(h.percentile(99)),
      micros(h.percentile(99.9)), micros(h.max()), h.mean() / 1e3);
}

void write_error_lines(std::ostream& out, const ErrorCounts& errors,
                       const std::vector<std::string>& samples) {
  out << "errors       ";
  if (errors.total() == 0) {
    out << "none\n";
    return;
  }
  out << errors.total() << ":";
  const char* separator = " ";
  for (std::size_t i = 0; i < kErrorKindCount; ++i) {
    auto kind = static_cast<ErrorKind>(i);
    if (errors.count(kind) == 0) continue;
    out << separator << error_kind_name(kind) << " " << errors.count(kind);
    separator = ", ";
  }
  out << "\n";
  for (const auto& sample : samples) out << "  " << sample << "\n";
}

nlohmann::ordered_json latency_json(const LatencyHistogram& latency) {
  const auto& h = latency;
  return {{"min", micros(h.min())},
          {"p50", micros(h.percentile(50))},
          {"p90", micros(h.percentile(90))},
          {"p99", micros(h.percentile(99))},
          {"p999", micros(h.percentile(99.9))},
          {"max", micros(h.max())},
          {"mean", h.mean() / 1e3}};
}

nlohmann::ordered_json error_counts_json(const ErrorCounts& errors) {
  nlohmann::ordered_json json;
  json["total"] = errors.total();
  for (std::size_t i = 0; i < kErrorKindCount; ++i) {
    auto kind = static_cast<ErrorKind>(i);
    json[std::string(error_kind_name(kind))] = errors.count(kind);
  }
  return json;
}

}  // namespace echod::client
