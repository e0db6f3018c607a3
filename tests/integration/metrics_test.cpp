// The Prometheus endpoint (metrics:): scraped while clients run, its numbers must be exactly what
// the test did; the output must pass promtool; the endpoint follows reloads.
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "integration/limits_support.hpp"
#include "support/daemon_process.hpp"
#include "support/net_client.hpp"
#include "support/test_data.hpp"

#include <nlohmann/json.hpp>

namespace echod::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kCommandTimeout = std::chrono::seconds(40);
constexpr std::string_view kServingPrefix = "serving metrics on http://127.0.0.1:";

// The port of the metrics endpoint, from the last "serving metrics on" log line.
std::optional<std::uint16_t> metrics_port(const DaemonProcess& daemon) {
  std::string log = daemon.log_text();
  std::size_t at = log.rfind(kServingPrefix);
  if (at == std::string::npos) return std::nullopt;
  return static_cast<std::uint16_t>(std::stoul(log.substr(at + kServingPrefix.size())));
}

// Starts `daemon` (its config enables metrics) and waits until the endpoint serves: the
// endpoint's port, or nothing when the daemon did not get ready or never served.
std::optional<std::uint16_t> start_serving_metrics(DaemonProcess& daemon) {
  if (!daemon.start_ready() || !daemon.wait_for_log(kServingPrefix)) return std::nullopt;
  return metrics_port(daemon);
}

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
Scrape scrape(std::uint16_t port) {
  Scrape result;
  UniqueFd fd = connect_tcp("127.0.0.1", port);
  if (!fd) return result;
  if (!send_all(fd.get(), "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", 5s)) return result;
  ReadResult response = read_until_eof(fd.get(), 10s);
  std::size_t header_end = response.data.find("\r\n\r\n");
  if (!response.eof || !response.data.starts_with("HTTP/1.1 200") ||
      header_end == std::string::npos) {
    return result;
  }
  result.body = response.data.substr(header_end + 4);
  std::size_t start = 0;
  while (start < result.body.size()) {
    std::size_t end = result.body.find('\n', start);
    if (end == std::string::npos) end = result.body.size();
    std::string line = result.body.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line.front() == '#') continue;
    std::size_t space = line.rfind(' ');
    if (space == std::string::npos) return result;
    result.samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  result.ok = true;
  return result;
}

// Scrapes until `done` holds for a scrape (the workers update their counters just after the
// client sees the effect, e.g. the FIN), at most 30 s (generous: only counters that never get
// there miss it). Returns the last scrape.
template <typename Done>
Scrape scrape_until(std::uint16_t port, Done done) {
  auto deadline = Clock::now() + 30s;
  Scrape last = scrape(port);
  while ((!last.ok || !done(last)) && Clock::now() < deadline) last = scrape(port);
  return last;
}

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
  for (const auto& [series, value] : after.samples) {
    if (series.starts_with("echod_connections_open{")) ++open_series;
  }
  EXPECT_EQ(open_series, 1U) << "one worker left to report open connections";

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
