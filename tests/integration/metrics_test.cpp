// The Prometheus endpoint (metrics:): scraped while clients run, its numbers must be exactly what
// the test did; the output must pass promtool; the endpoint follows reloads; the example alert
// rules use only metrics it serves.
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "integration/limits_support.hpp"
#include "integration/metrics_support.hpp"
#include "support/daemon_process.hpp"
#include "support/net_client.hpp"
#include "support/test_data.hpp"

#include <nlohmann/json.hpp>

namespace echod::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kCommandTimeout = std::chrono::seconds(40);
CommandResult status_json(const DaemonProcess& daemon) {
  return run_command(
      {echod_binary(), "--control-socket", daemon.control_socket_path(), "--status", "--json"},
      clean_environment(), kCommandTimeout);
}

DaemonConfig metrics_config() {
  DaemonConfig config;
  config.unlimited_clients();
  config.metrics_listen = "127.0.0.1:0";
  return config;
}

TEST(MetricsTest, ScrapeDuringLoadAgreesWithWhatTheClientsDid) {
  constexpr std::size_t kMax = 20;
  constexpr std::size_t kOverLimit = 7;
  constexpr std::size_t kPayload = 1024 * 1024;
  // Metric values are doubles; these counts are exact in a double.
  constexpr auto kMaxD = static_cast<double>(kMax);
  constexpr auto kOverLimitD = static_cast<double>(kOverLimit);
  constexpr auto kBytesD = static_cast<double>(kMax * kPayload + kMax);
  DaemonConfig config = metrics_config();
  config.extra_limits.emplace_back("max_connections: " + std::to_string(kMax));
  DaemonProcess daemon(config);
  std::optional<std::uint16_t> port = start_serving_metrics(daemon);
  ASSERT_TRUE(port) << daemon.log_text();

  // Load: kMax clients each echo kPayload bytes and half-close; scrape all the while.
  std::string payload = random_bytes(kPayload, 7);
  std::vector<UniqueFd> clients;
  std::vector<EchoSession> sessions;
  for (std::size_t i = 0; i < kMax; ++i) {
    clients.push_back(daemon.connect());
    ASSERT_TRUE(clients.back().valid());
    sessions.emplace_back(clients.back().get(), payload, true);
  }
  std::size_t scrapes = 0;
  std::size_t failed_scrapes = 0;
  double max_open = 0;
  ASSERT_TRUE(run_echo_sessions(sessions, 60s, [&] {
    Scrape during = scrape(*port);
    ++scrapes;
    if (!during.ok) {
      ++failed_scrapes;
      return;
    }
    max_open = std::max(max_open, during.sum("echod_connections_open"));
  }));
  EXPECT_GT(scrapes, 0U);
  EXPECT_EQ(failed_scrapes, 0U);
  EXPECT_LE(max_open, kMaxD);
  clients.clear();

  // Hold kMax connections open (each proven admitted by a 1-byte echo), then kOverLimit more
  // are refused.
  for (std::size_t i = 0; i < kMax; ++i) {
    clients.push_back(daemon.connect());
    ASSERT_TRUE(clients.back().valid());
    ASSERT_EQ(echo_exact(clients.back().get(), "x"), "x");
  }
  for (std::size_t i = 0; i < kOverLimit; ++i) {
    UniqueFd extra = daemon.connect();
    ASSERT_TRUE(extra.valid());
    EXPECT_TRUE(refused(extra.get()));
  }

  const std::string rejected_max = R"(echod_connections_rejected_total{reason="max_connections"})";
  Scrape after = scrape_until(*port, [&](const Scrape& s) {
    return s[R"(echod_connections_closed_total{reason="client_close"})"] == kMaxD &&
           s[rejected_max] == kOverLimitD;
  });
  ASSERT_TRUE(after.ok);
  EXPECT_EQ(after["echod_connections_accepted_total"], 2 * kMaxD);
  EXPECT_EQ(after.sum("echod_connections_open"), kMaxD);
  EXPECT_EQ(after[R"(echod_connections_closed_total{reason="client_close"})"], kMaxD);
  EXPECT_EQ(after.sum("echod_connections_closed_total"), kMaxD);
  EXPECT_EQ(after[rejected_max], kOverLimitD);
  EXPECT_EQ(after.sum("echod_connections_rejected_total"), kOverLimitD);
  EXPECT_EQ(after["echod_received_bytes_total"], kBytesD);
  EXPECT_EQ(after["echod_sent_bytes_total"], kBytesD);
  EXPECT_EQ(after.sum("echod_accept_errors_total"), 0);
  EXPECT_EQ(after["echod_workers"], 2);
  EXPECT_EQ(after["echod_listeners"], 1);
  EXPECT_EQ(after["echod_max_connections"], kMaxD);
  EXPECT_EQ(after["echod_config_generation"], 1);
  EXPECT_EQ(after.sum("echod_build_info"), 1);

  // echod --status reads the same counters.
  CommandResult status = status_json(daemon);
  ASSERT_EQ(status.exit_code, 0) << status.err;
  auto json = nlohmann::json::parse(status.out);
  EXPECT_EQ(json.at("rejected_by_reason").at("max_connections").get<std::size_t>(), kOverLimit);
  EXPECT_EQ(json.at("closed_by_reason").at("client_close").get<std::size_t>(), kMax);
  EXPECT_EQ(json.at("metrics").get<std::string>(), "127.0.0.1:" + std::to_string(*port));
}

// The log lines about refusals of one reason: how many, and the suppressed counts they carry.
struct RefusalLines {
  std::size_t lines = 0;
  std::uint64_t suppressed = 0;
};
RefusalLines refusal_lines(const DaemonProcess& daemon) {
  static const std::regex kLine(
      R"(refused a connection from [^:]+: access denied \(suppressed (\d+)\))");
  RefusalLines result;
  std::string log = daemon.log_text();
  for (auto it = std::sregex_iterator(log.begin(), log.end(), kLine); it != std::sregex_iterator();
       ++it) {
    ++result.lines;
    result.suppressed += std::stoull((*it)[1].str());
  }
  return result;
}

// A flood of refused connections over every worker gives about one log line a second for the
// whole process; the "suppressed N" counts account for every refusal.
TEST(MetricsTest, RefusalFloodLogsOneLineASecondAndCountsTheRest) {
  constexpr std::size_t kFlood = 300;
  DaemonConfig config = metrics_config();
  config.workers = 4;
  config.extra_limits.emplace_back("access: {deny: [\"127.0.0.0/8\"]}");
  DaemonProcess daemon(config);
  std::optional<std::uint16_t> port = start_serving_metrics(daemon);
  ASSERT_TRUE(port) << daemon.log_text();

  auto start = Clock::now();
  for (std::size_t i = 0; i < kFlood; ++i) {
    UniqueFd client = daemon.connect();
    ASSERT_TRUE(client.valid());
  }
  const std::string denied = R"(echod_connections_rejected_total{reason="access_denied"})";
  Scrape flood = scrape_until(
      *port, [&](const Scrape& s) { return s[denied] == static_cast<double>(kFlood); });
  ASSERT_EQ(flood[denied], static_cast<double>(kFlood));
  // The lines are read first, then the time since before the first refusal: every line counted
  // was logged within that time, however long the flood took on this machine, and one a second
  // allows at most whole seconds + 1 of them.
  RefusalLines during = refusal_lines(daemon);
  auto elapsed = Clock::now() - start;
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(elapsed).count();
  EXPECT_GE(during.lines, 1U);
  EXPECT_LE(during.lines, static_cast<std::size_t>(seconds) + 1) << daemon.log_text();

  // The interval is what is tested here: once it has passed since the last line (which was
  // logged before the lines were read above), one more refusal is logged with the count of
  // everything held back. The sleep measures the interval; a slow machine only lengthens it.
  std::this_thread::sleep_for(1100ms);
  UniqueFd last = daemon.connect();
  ASSERT_TRUE(last.valid());
  ASSERT_TRUE(daemon.wait_for_log_count("access denied (suppressed", during.lines + 1));
  RefusalLines after = refusal_lines(daemon);
  EXPECT_EQ(after.lines + after.suppressed, kFlood + 1) << daemon.log_text();
}

TEST(MetricsTest, OutputPassesPromtool) {
  std::string promtool = find_program("promtool");
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool not installed (Debian package 'prometheus'; scripts/setup-deps "
                    "installs it)";
  }
  DaemonProcess daemon(metrics_config());
  daemon.allow_log_error("reload failed");
  daemon.allow_log_error("unknown key");
  std::optional<std::uint16_t> port = start_serving_metrics(daemon);
  ASSERT_TRUE(port) << daemon.log_text();
  UniqueFd client = daemon.connect();
  ASSERT_EQ(echo_exact(client.get(), "hello"), "hello");
  // One reload that works and one that does not.
  DaemonConfig config = metrics_config();
  config.metrics_listen = "127.0.0.1:" + std::to_string(*port);
  ASSERT_TRUE(daemon.reload(config.yaml()));
  ASSERT_TRUE(daemon.reload(config.yaml() + "bogus: 1\n"));

  Scrape result = scrape_until(
      *port, [](const Scrape& s) { return s[R"(echod_reloads_total{result="failed"})"] == 1; });
  ASSERT_TRUE(result.ok);
  EXPECT_EQ(result[R"(echod_reloads_total{result="ok"})"], 1);
  EXPECT_EQ(result["echod_config_generation"], 2);
  EXPECT_EQ(result["echod_received_bytes_total"], 5);

  std::string file = (daemon.dir() / "metrics.txt").string();
  {
    std::ofstream out(file);
    out << result.body;
  }
  CommandResult check = run_command({"/bin/sh", "-c", promtool + " check metrics < " + file},
                                    clean_environment(), kCommandTimeout);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err << "\n" << result.body;
}

// echod_max_connections is the limit in force: limits.max_connections lowered to what the
// open-file limit allows at start, the new value after a reload.
TEST(MetricsTest, MaxConnectionsIsTheLimitInForce) {
  constexpr std::string_view kClamped =
      "limits.max_connections 10000 is more than the open-file limit 256 allows; using ";
  std::string prlimit = find_program("prlimit");
  if (prlimit.empty()) GTEST_SKIP() << "prlimit (util-linux) is not installed";
  DaemonConfig config = metrics_config();
  DaemonProcess daemon(config);
  daemon.set_launcher({prlimit, "--nofile=256:256", "--"});
  std::optional<std::uint16_t> port = start_serving_metrics(daemon);
  ASSERT_TRUE(port) << daemon.log_text();
  ASSERT_TRUE(daemon.wait_for_log(kClamped));
  std::string log = daemon.log_text();
  double usable = std::stod(log.substr(log.find(kClamped) + kClamped.size()));
  ASSERT_GT(usable, 0);
  ASSERT_LT(usable, 256);
  Scrape at_start = scrape(*port);
  ASSERT_TRUE(at_start.ok);
  EXPECT_EQ(at_start["echod_max_connections"], usable);

  // The reload's READY=1 comes after the new facts are published.
  config.metrics_listen = "127.0.0.1:" + std::to_string(*port);
  config.extra_limits.emplace_back("max_connections: 50");
  ASSERT_TRUE(daemon.reload(config.yaml()));
  Scrape reloaded = scrape(*port);
  ASSERT_TRUE(reloaded.ok);
  EXPECT_EQ(reloaded["echod_config_generation"], 2);
  EXPECT_EQ(reloaded["echod_max_connections"], 50);
}

// echod_config_last_reload_successful is 1 at start, 0 while a rejected configuration is the
// last one tried, 1 again once a reload succeeds; echod_config_last_reload_timestamp_seconds
// is the start, then the time of each attempt.
TEST(MetricsTest, LastReloadSuccessfulFollowsTheReloads) {
  const std::string kSuccessful = "echod_config_last_reload_successful";
  const std::string kAttempted = "echod_config_last_reload_timestamp_seconds";
  DaemonConfig config = metrics_config();
  DaemonProcess daemon(config);
  daemon.allow_log_error(daemon.config_path() + ":");
  daemon.allow_log_error("reload failed with");
  std::optional<std::uint16_t> port = start_serving_metrics(daemon);
  ASSERT_TRUE(port) << daemon.log_text();
  Scrape at_start = scrape(*port);
  ASSERT_TRUE(at_start.ok);
  EXPECT_EQ(at_start[kSuccessful], 1);
  EXPECT_EQ(at_start[kAttempted], at_start["echod_start_time_seconds"]);

  // A syntax error: rejected. Its READY=1 comes after the facts are published.
  ASSERT_TRUE(daemon.reload("listen: [\"127.0.0.1:0\"\n"));
  ASSERT_TRUE(daemon.wait_for_log("reload failed with"));
  Scrape failed = scrape(*port);
  ASSERT_TRUE(failed.ok);
  EXPECT_EQ(failed[kSuccessful], 0);
  EXPECT_EQ(failed[R"(echod_reloads_total{result="failed"})"], 1);
  EXPECT_EQ(failed["echod_config_generation"], 1);
  EXPECT_GE(failed[kAttempted], at_start[kAttempted]);
  EXPECT_EQ(failed["echod_config_load_timestamp_seconds"],
            at_start["echod_config_load_timestamp_seconds"]);

  // Fixed (the same endpoint): 1 again.
  config.metrics_listen = "127.0.0.1:" + std::to_string(*port);
  ASSERT_TRUE(daemon.reload(config.yaml()));
  ASSERT_TRUE(daemon.wait_for_log("configuration reloaded (generation 2)"));
  Scrape fixed = scrape(*port);
  ASSERT_TRUE(fixed.ok);
  EXPECT_EQ(fixed[kSuccessful], 1);
  EXPECT_EQ(fixed[R"(echod_reloads_total{result="ok"})"], 1);
  EXPECT_EQ(fixed["echod_config_generation"], 2);
  EXPECT_GE(fixed[kAttempted], failed[kAttempted]);
  EXPECT_LE(fixed[kAttempted], fixed["echod_config_load_timestamp_seconds"]);
}

// Every echod_* metric that config/prometheus/echod-alerts.yml refers to is one echod serves
// (with no traffic yet: every labelled counter has its series from the start).
TEST(MetricsTest, AlertRulesUseOnlyMetricsEchodServes) {
  std::ifstream file(ECHOD_ALERT_RULES);
  ASSERT_TRUE(file) << "cannot read " << ECHOD_ALERT_RULES;
  std::stringstream rules;
  rules << file.rdbuf();
  const std::string text = rules.str();
  static const std::regex kName(R"((^|[^A-Za-z0-9_:])(echod_[A-Za-z0-9_:]+))");
  std::set<std::string> used;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kName);
       it != std::sregex_iterator(); ++it) {
    used.insert((*it)[2].str());
  }
  // The rules use at least the start time, the reload state, refusals, connections, their
  // limit, accept pauses and worker liveness: fewer names means the extraction broke.
  ASSERT_GE(used.size(), 7U) << text;

  DaemonProcess daemon(metrics_config());
  std::optional<std::uint16_t> port = start_serving_metrics(daemon);
  ASSERT_TRUE(port) << daemon.log_text();
  Scrape served = scrape(*port);
  ASSERT_TRUE(served.ok);
  std::set<std::string> names;
  for (const auto& [series, value] : served.samples)
    names.insert(series.substr(0, series.find('{')));
  for (const std::string& name : used) {
    EXPECT_TRUE(names.contains(name))
        << ECHOD_ALERT_RULES << " uses " << name << ", which echod does not serve:\n"
        << served.body;
  }
}

TEST(MetricsTest, EndpointFollowsReload) {
  DaemonConfig config;
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  EXPECT_EQ(daemon.log_count("serving metrics"), 0U);

  // Off -> on.
  config.metrics_listen = "127.0.0.1:0";
  ASSERT_TRUE(daemon.reload(config.yaml()));
  ASSERT_TRUE(daemon.wait_for_log(kServingPrefix));
  std::optional<std::uint16_t> first = metrics_port(daemon);
  ASSERT_TRUE(first);
  Scrape on = scrape(*first);
  ASSERT_TRUE(on.ok);
  EXPECT_EQ(on["echod_config_generation"], 2);

  // Moved: a new port serves, the old one is closed.
  UniqueFd holder = listen_tcp("127.0.0.1");
  ASSERT_TRUE(holder.valid());
  std::uint16_t free_port = local_port(holder.get());
  holder.reset();
  config.metrics_listen = "127.0.0.1:" + std::to_string(free_port);
  ASSERT_TRUE(daemon.reload(config.yaml()));
  ASSERT_TRUE(daemon.wait_for_log_count(kServingPrefix, 2));
  ASSERT_EQ(metrics_port(daemon).value_or(0), free_port);
  EXPECT_EQ(scrape(free_port)["echod_config_generation"], 3);
  EXPECT_FALSE(connect_tcp("127.0.0.1", *first).valid());

  // On -> off.
  config.metrics_listen.clear();
  ASSERT_TRUE(daemon.reload(config.yaml()));
  EXPECT_TRUE(daemon.wait_for_log("metrics endpoint stopped"));
  EXPECT_FALSE(connect_tcp("127.0.0.1", free_port).valid());
}

// Workers that retire take their counts with them into the totals: a counter never goes back.
TEST(MetricsTest, CountersSurviveWorkersRetiring) {
  constexpr std::size_t kClients = 40;
  constexpr auto kClientsD = static_cast<double>(kClients);
  DaemonConfig config = metrics_config();
  config.workers = 4;
  DaemonProcess daemon(config);
  std::optional<std::uint16_t> port = start_serving_metrics(daemon);
  ASSERT_TRUE(port) << daemon.log_text();

  // Connections spread over the four workers, each echoes once and closes.
  for (std::size_t i = 0; i < kClients; ++i) {
    UniqueFd client = daemon.connect();
    ASSERT_TRUE(client.valid());
    ASSERT_EQ(echo_exact(client.get(), "x"), "x");
  }
  const std::string closed = R"(echod_connections_closed_total{reason="client_close"})";
  Scrape before = scrape_until(*port, [&](const Scrape& s) { return s[closed] == kClientsD; });
  ASSERT_TRUE(before.ok);
  EXPECT_EQ(before["echod_workers"], 4);
  EXPECT_EQ(before["echod_connections_accepted_total"], kClientsD);
  EXPECT_EQ(before.sum("echod_worker_responsive"), 4) << before.body;

  config.workers = 1;
  ASSERT_TRUE(daemon.reload(config.yaml()));
  ASSERT_TRUE(daemon.wait_for_log_count("retired after serving", 3));
  Scrape after = scrape_until(*port, [](const Scrape& s) {
    return s.sum("echod_connections_open") == 0 && s["echod_workers"] == 1;
  });
  ASSERT_TRUE(after.ok);
  EXPECT_EQ(after["echod_workers"], 1);
  EXPECT_EQ(after["echod_connections_accepted_total"], kClientsD);
  EXPECT_EQ(after[closed], kClientsD);
  EXPECT_EQ(after["echod_received_bytes_total"], kClientsD);
  EXPECT_EQ(after["echod_sent_bytes_total"], kClientsD);
  std::size_t open_series = 0;
  std::size_t responsive_series = 0;
  for (const auto& [series, value] : after.samples) {
    if (series.starts_with("echod_connections_open{")) ++open_series;
    if (series.starts_with("echod_worker_responsive{")) ++responsive_series;
  }
  EXPECT_EQ(open_series, 1U) << "one worker left to report open connections";
  EXPECT_EQ(responsive_series, 1U) << "one worker left to report its liveness";

  // `echod --status` keeps the same totals.
  CommandResult status = status_json(daemon);
  ASSERT_EQ(status.exit_code, 0) << status.err;
  auto json = nlohmann::json::parse(status.out);
  EXPECT_EQ(json.at("closed_by_reason").at("client_close").get<std::size_t>(), kClients);
}

TEST(MetricsTest, ReloadToABusyAddressIsRejectedAndTheOldEndpointStays) {
  DaemonProcess daemon(metrics_config());
  daemon.allow_log_error("cannot serve metrics on");
  daemon.allow_log_error("reload failed");
  std::optional<std::uint16_t> port = start_serving_metrics(daemon);
  ASSERT_TRUE(port) << daemon.log_text();
  UniqueFd busy = listen_tcp("127.0.0.1");
  ASSERT_TRUE(busy.valid());
  std::string busy_address = "127.0.0.1:" + std::to_string(local_port(busy.get()));
  DaemonConfig config = metrics_config();
  config.metrics_listen = busy_address;
  ASSERT_TRUE(daemon.reload(config.yaml()));
  EXPECT_TRUE(daemon.wait_for_log("cannot serve metrics on " + busy_address + ": bind " +
                                  busy_address + ": Address already in use"));
  Scrape still = scrape_until(
      *port, [](const Scrape& s) { return s[R"(echod_reloads_total{result="failed"})"] == 1; });
  EXPECT_TRUE(still.ok);
  EXPECT_EQ(still["echod_config_generation"], 1);
}

TEST(MetricsTest, BusyAddressAtStartIsAClearError) {
  UniqueFd busy = listen_tcp("127.0.0.1");
  ASSERT_TRUE(busy.valid());
  std::string address = "127.0.0.1:" + std::to_string(local_port(busy.get()));
  DaemonConfig config;
  config.metrics_listen = address;
  DaemonProcess daemon(config);
  daemon.expect_log_errors();
  daemon.start();
  EXPECT_EQ(daemon.wait_exit(), 1);
  EXPECT_NE(daemon.log_text().find("cannot serve metrics on " + address + ": bind " + address +
                                   ": Address already in use; another process is using this "
                                   "address; choose another port in 'metrics.listen'"),
            std::string::npos)
      << daemon.log_text();
}

}  // namespace
}  // namespace echod::test
