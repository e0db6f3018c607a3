// MetricsCollector: the per-worker series (echod_connections_open, echod_worker_responsive)
// follow the workers the supervisor publishes, and a retired worker's series end.
#include "metrics/metrics_collector.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace echod {
namespace {

// The samples of one family, by the value of their `worker` label.
std::map<std::string, double> by_worker(const MetricsCollector& collector,
                                        const std::string& name) {
  std::map<std::string, double> samples;
  for (const prometheus::MetricFamily& family : collector.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        if (label.name == "worker") samples[label.value] = metric.gauge.value;
      }
    }
  }
  return samples;
}

std::optional<double> value_of(const MetricsCollector& collector, const std::string& name) {
  for (const prometheus::MetricFamily& family : collector.Collect()) {
    if (family.name == name && family.metric.size() == 1) return family.metric[0].gauge.value;
  }
  return std::nullopt;
}

using Samples = std::map<std::string, double>;

TEST(MetricsCollectorTest, WorkerResponsiveFollowsTheSupervisorAndEndsWithTheWorker) {
  WorkerStatus first;
  WorkerStatus second;
  MetricsCollector collector;
  collector.set_workers({{0, &first, true}, {1, &second, true}});
  EXPECT_EQ(by_worker(collector, "echod_worker_responsive"), (Samples{{"0", 1}, {"1", 1}}));

  collector.set_responsive(second, false);
  EXPECT_EQ(by_worker(collector, "echod_worker_responsive"), (Samples{{"0", 1}, {"1", 0}}));
  collector.set_responsive(second, true);
  EXPECT_EQ(by_worker(collector, "echod_worker_responsive"), (Samples{{"0", 1}, {"1", 1}}));

  // Published again (the workers changed): the state comes with the view.
  WorkerStatus third;
  collector.set_workers({{0, &first, false}, {1, &second, true}, {2, &third, true}});
  EXPECT_EQ(by_worker(collector, "echod_worker_responsive"),
            (Samples{{"0", 0}, {"1", 1}, {"2", 1}}));

  // Retired: its series end, in both per-worker families.
  collector.retire(first);
  EXPECT_EQ(by_worker(collector, "echod_worker_responsive"), (Samples{{"1", 1}, {"2", 1}}));
  EXPECT_EQ(by_worker(collector, "echod_connections_open"), (Samples{{"1", 0}, {"2", 0}}));
  // A worker no longer read is not brought back.
  collector.set_responsive(first, true);
  EXPECT_EQ(by_worker(collector, "echod_worker_responsive"), (Samples{{"1", 1}, {"2", 1}}));
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
