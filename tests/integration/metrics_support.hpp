// Scraping echod's metrics endpoint (metrics_test, watchdog_test).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/daemon_process.hpp"

namespace echod::test {

inline constexpr std::string_view kServingPrefix = "serving metrics on http://127.0.0.1:";

// The port of the metrics endpoint, from the last "serving metrics on" log line.
std::optional<std::uint16_t> metrics_port(const DaemonProcess& daemon);

// Starts `daemon` (its config enables metrics) and waits until the endpoint serves: the
// endpoint's port, or nothing when the daemon did not get ready or never served. `env` as for
// DaemonProcess::start().
std::optional<std::uint16_t> start_serving_metrics(DaemonProcess& daemon,
                                                   const std::vector<std::string>& env = {});

struct Scrape {
  bool ok = false;
  std::string body;
  std::map<std::string, double> samples;  // "name{labels}" -> value

  // The sample, or -1 when absent (every echod metric is >= 0).
  [[nodiscard]] double operator[](const std::string& series) const {
    auto it = samples.find(series);
    return it == samples.end() ? -1 : it->second;
  }
  // The sum of every sample of a metric (over its labels).
  [[nodiscard]] double sum(const std::string& name) const {
    double total = 0;
    for (const auto& [series, value] : samples) {
      if (series == name || series.starts_with(name + "{")) total += value;
    }
    return total;
  }
};

// GET /metrics over plain HTTP/1.0 (the server closes after the response).
Scrape scrape(std::uint16_t port);

// Scrapes until `done` holds for a scrape (the workers update their counters just after the
// client sees the effect, e.g. the FIN), at most `timeout`. Returns the last scrape.
template <typename Done>
Scrape scrape_until(std::uint16_t port, Done done, Clock::duration timeout = 10s) {
  auto deadline = Clock::now() + timeout;
  Scrape last = scrape(port);
  while ((!last.ok || !done(last)) && Clock::now() < deadline) last = scrape(port);
  return last;
}

}  // namespace echod::test
