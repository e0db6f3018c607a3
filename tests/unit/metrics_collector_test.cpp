// MetricsCollector: the facts the supervisor publishes become the daemon's gauges.
#include "metrics/metrics_collector.hpp"

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace echod {
namespace {

std::optional<double> value_of(const MetricsCollector& collector, const std::string& name) {
  for (const prometheus::MetricFamily& family : collector.Collect()) {
    if (family.name == name && family.metric.size() == 1) return family.metric[0].gauge.value;
  }
  return std::nullopt;
}

TEST(MetricsCollectorTest, LastReloadState) {
  MetricsCollector collector;
  DaemonFacts facts;
  facts.started = std::chrono::system_clock::time_point(std::chrono::seconds(1000));
  facts.last_reload = facts.started;
  collector.publish(facts);
  EXPECT_EQ(value_of(collector, "echod_config_last_reload_successful"), 1);
  EXPECT_EQ(value_of(collector, "echod_config_last_reload_timestamp_seconds"), 1000);

  facts.last_reload_ok = false;
  facts.last_reload = std::chrono::system_clock::time_point(std::chrono::milliseconds(1500500));
  collector.publish(facts);
  EXPECT_EQ(value_of(collector, "echod_config_last_reload_successful"), 0);
  EXPECT_EQ(value_of(collector, "echod_config_last_reload_timestamp_seconds"), 1500.5);
}

}  // namespace
}  // namespace echod
