#include "config/config_loader.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace echod {
namespace {

using namespace std::chrono_literals;
using namespace std::string_view_literals;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

const std::string kFixtures = std::string(ECHOD_TEST_FIXTURES) + "/config/";

SocketAddress address(std::string_view text) { return SocketAddress::parse(text).address.value(); }
Cidr network(std::string_view text) { return Cidr::parse(text).cidr.value(); }
ListenerConfig tcp(std::string_view text) { return ListenerConfig::tcp(address(text)); }

std::vector<std::string> lines_of(const ConfigLoadResult& result) {
  std::vector<std::string> lines;
  for (const ConfigError& error : result.errors) lines.push_back(error.to_string());
  return lines;
}

// The errors for a fixture, with the fixture directory (checked) cut from the front.
std::vector<std::string> fixture_errors(const std::string& name) {
  ConfigLoadResult result = load_config_file(kFixtures + name);
  EXPECT_FALSE(result.config) << name << " loaded";
  std::vector<std::string> lines;
  for (const std::string& line : lines_of(result)) {
    EXPECT_TRUE(line.starts_with(kFixtures)) << line;
    lines.push_back(line.substr(kFixtures.size()));
  }
  return lines;
}

Config load_fixture(const std::string& name) {
  ConfigLoadResult result = load_config_file(kFixtures + name);
  EXPECT_THAT(lines_of(result), IsEmpty());
  return result.config.value_or(Config{});
}

Config parse_ok(std::string_view text) {
  ConfigLoadResult result = parse_config(text, "t.yaml");
  EXPECT_THAT(lines_of(result), IsEmpty()) << text;
  return result.config.value_or(Config{});
}

std::vector<std::string> errors_of(std::string_view text) {
  ConfigLoadResult result = parse_config(text, "t.yaml");
  EXPECT_FALSE(result.config) << text;
  return lines_of(result);
}

TEST(ConfigLoaderTest, FullFixtureSetsEverySetting) {
  Config config = load_fixture("full.yaml");
  EXPECT_THAT(config.listen,
              ElementsAre(tcp("0.0.0.0:7007"), tcp("[::]:7007"), tcp("127.0.0.1:7008")));
  EXPECT_FALSE(config.workers.automatic);
  EXPECT_EQ(config.workers.count, 4U);
  EXPECT_EQ(config.log.level, LogLevel::kDebug);
  EXPECT_EQ(config.log.target, LogTarget::kStderr);
  EXPECT_EQ(config.limits.io_buffer, 32U * 1024);
  EXPECT_EQ(config.limits.max_pending_output, 1024U * 1024);
  EXPECT_EQ(config.limits.max_connections, 500U);
  EXPECT_EQ(config.limits.max_connections_per_ip, 0U);
  EXPECT_EQ(config.limits.accept_rate_per_ip, 10U);
  EXPECT_EQ(config.limits.accept_burst_per_ip, 20U);
  EXPECT_THAT(config.limits.exempt, ElementsAre(network("127.0.0.1"), network("192.0.2.0/24")));
  EXPECT_EQ(config.limits.idle_timeout, 5min);
  EXPECT_EQ(config.limits.send_stall_timeout, 1500ms);
  EXPECT_THAT(config.limits.access.allow,
              ElementsAre(network("10.0.0.0/8"), network("2001:db8::/32")));
  EXPECT_THAT(config.limits.access.deny, ElementsAre(network("10.1.2.3")));
  EXPECT_TRUE(config.metrics.enabled);
  EXPECT_EQ(config.metrics.listen, address("127.0.0.1:9100"));
  EXPECT_EQ(config.shutdown_timeout, 1h);
}

TEST(ConfigLoaderTest, MetricsAreOffUnlessEnabledOrGivenAnAddress) {
  EXPECT_FALSE(Config{}.metrics.enabled);
  EXPECT_EQ(Config{}.metrics.listen, address("127.0.0.1:9707"));
  Config enabled = parse_ok("metrics:\n  enabled: true\n");
  EXPECT_TRUE(enabled.metrics.enabled);
  EXPECT_EQ(enabled.metrics.listen, address("127.0.0.1:9707"));
  Config listen = parse_ok("metrics: {listen: \"127.0.0.1:0\"}\n");
  EXPECT_TRUE(listen.metrics.enabled);
  EXPECT_EQ(listen.metrics.listen, address("127.0.0.1:0"));
  Config off = parse_ok("metrics:\n  listen: \"127.0.0.1:9100\"\n  enabled: false\n");
  EXPECT_FALSE(off.metrics.enabled);
  EXPECT_FALSE(parse_ok("metrics:\n").metrics.enabled);
}

TEST(ConfigLoaderTest, BadMetricsFixture) {
  EXPECT_THAT(
      fixture_errors("bad_metrics.yaml"),
      ElementsAre("bad_metrics.yaml:3:12: metrics.enabled: 'yes please' is not true or false",
                  "bad_metrics.yaml:4:11: metrics.listen: port 70000 is out of range 0-65535"));
}

TEST(ConfigLoaderTest, MetricsAddressMustBeIpv4AndApartFromTheEchoPorts) {
  EXPECT_THAT(lines_of(parse_config("metrics:\n  listen: \"[::1]:9707\"\n", "t.yaml")),
              ElementsAre("t.yaml:2:11: metrics.listen: '[::1]:9707': the metrics endpoint needs "
                          "an IPv4 address, e.g. \"127.0.0.1:9707\""));
  // listen: comes after metrics: here; the check runs once the whole file is read.
  EXPECT_THAT(lines_of(parse_config("metrics: {listen: \"*:9707\"}\nlisten: [\"127.0.0.1:9707\"]\n",
                                    "t.yaml")),
              ElementsAre("t.yaml:1:19: metrics.listen: 0.0.0.0:9707 overlaps listen address "
                          "127.0.0.1:9707; choose another port"));
  EXPECT_THAT(lines_of(parse_config("metrics: [\"127.0.0.1:9707\"]\n", "t.yaml")),
              ElementsAre("t.yaml:1:10: metrics: expected a mapping with the keys enabled, listen, "
                          "not a list"));
  // Port 0 never overlaps, and an IPv6 echo listener is IPv6-only.
  EXPECT_TRUE(parse_ok("listen: [\"127.0.0.1:0\", \"[::]:9707\"]\nmetrics: {listen: "
                       "\"127.0.0.1:9707\"}\n")
                  .metrics.enabled);
}

TEST(ConfigLoaderTest, UdpIsOffUnlessListenNamesAnAddress) {
  EXPECT_FALSE(Config{}.udp.enabled());
  EXPECT_FALSE(parse_ok("udp:\n  listen: []\n").udp.enabled());
  EXPECT_FALSE(parse_ok("udp:\n  listen:\n  max_datagram: 1472\n").udp.enabled());
  Config config = parse_ok("udp:\n  listen: [\"127.0.0.1:7\", \"[::1]:7\"]\n");
  EXPECT_THAT(config.udp.listen, ElementsAre(ListenerConfig::udp(address("127.0.0.1:7")),
                                             ListenerConfig::udp(address("[::1]:7"))));
  // TCP and UDP on one address are two listeners.
  EXPECT_EQ(config.all_listeners().size(), 4U);
}

TEST(ConfigLoaderTest, UdpValuesAreCheckedWithTheirPositions) {
  EXPECT_THAT(errors_of("udp:\n  max_datagram: 65528\n  deny_source_ports: [2049, 0, 2049]\n"
                        "  burst_per_source: 0\n  allow_unlimited_public: yes\n"),
              ElementsAre("t.yaml:2:17: udp.max_datagram: 65528 is out of range 1-65527",
                          "t.yaml:3:29: udp.deny_source_ports[1]: 0 is out of range 1-65535",
                          "t.yaml:3:32: udp.deny_source_ports[2]: duplicate port 2049 (also "
                          "udp.deny_source_ports[0])",
                          "t.yaml:4:21: udp.burst_per_source: 0 is out of range 1-10000000",
                          "t.yaml:5:27: udp.allow_unlimited_public: 'yes' is not true or false"));
}

TEST(ConfigLoaderTest, PublicUdpListenerNeedsRateLimitsUnlessAllowedExplicitly) {
  EXPECT_THAT(errors_of("udp:\n  listen: [\"127.0.0.1:7\", \"192.0.2.1:7\"]\n"
                        "  rate_per_source: 0\n"),
              ElementsAre("t.yaml:2:11: udp.listen: 192.0.2.1:7 is not a loopback address and "
                          "udp.rate_per_source is 0 (no limit): anyone could use echod to "
                          "reflect traffic; set a rate, or udp.allow_unlimited_public: true if "
                          "that is intended"));
  EXPECT_THAT(errors_of("udp: {listen: [\"*:7\"], rate_global: 0}\n"),
              ElementsAre(::testing::HasSubstr("udp.listen: 0.0.0.0:7 is not a loopback address "
                                               "and udp.rate_global is 0")));
  // Loopback only, or said explicitly: accepted.
  EXPECT_EQ(parse_ok("udp: {listen: [\"127.0.0.1:7\", \"[::1]:7\"], rate_per_source: 0}\n")
                .udp.rate_per_source,
            0U);
  EXPECT_TRUE(parse_ok("udp: {listen: [\"192.0.2.1:7\"], bytes_per_source: 0,\n"
                       "      allow_unlimited_public: true}\n")
                  .udp.allow_unlimited_public);
}

TEST(ConfigLoaderTest, MinimalFixtureKeepsEveryOtherDefault) {
  Config expected;
  expected.workers = WorkerCount{false, 2};
  EXPECT_EQ(load_fixture("minimal.yaml"), expected);
}

TEST(ConfigLoaderTest, EmptyOrCommentOnlyFilesGiveTheDefaults) {
  EXPECT_EQ(load_fixture("empty.yaml"), Config{});
  EXPECT_EQ(load_fixture("comments_only.yaml"), Config{});
  EXPECT_EQ(parse_ok(""), Config{});
  EXPECT_EQ(parse_ok("---\n"), Config{});
  EXPECT_EQ(parse_ok("\n\n   \n# nothing\n"), Config{});
}

TEST(ConfigLoaderTest, ShippedConfigurationIsTheBuiltInDefaults) {
  ConfigLoadResult result = load_config_file(ECHOD_TEST_FIXTURES "/../../config/echod.yaml");
  ASSERT_THAT(lines_of(result), IsEmpty());
  EXPECT_EQ(*result.config, Config{});
}

TEST(ConfigLoaderTest, SectionsWithEverythingCommentedOutGiveTheDefaults) {
  EXPECT_EQ(parse_ok("log:\nlimits:\n  access:\n    allow:\n    deny:\n"), Config{});
}

TEST(ConfigLoaderTest, AcceptsQuotedValuesCrLfAndAByteOrderMark) {
  Config expected;
  expected.workers = WorkerCount{false, 4};
  expected.log.level = LogLevel::kWarn;
  EXPECT_EQ(parse_ok("workers: \"4\"\nlog: {level: 'warn'}\n"), expected);
  EXPECT_EQ(parse_ok("workers: 4\r\nlog:\r\n  level: warn\r\n"), expected);
  EXPECT_EQ(parse_ok("\xef\xbb\xbfworkers: 4\nlog: {level: warn}\n"), expected);
}

TEST(ConfigLoaderTest, AcceptsTheBoundsOfEveryRange) {
  Config low = parse_ok(
      "workers: 1\nlimits: {io_buffer: 1KiB, max_pending_output: 1024, max_connections: 1,\n"
      "  max_connections_per_ip: 0, accept_rate_per_ip: 0, accept_burst_per_ip: 1,\n"
      "  idle_timeout: 0s, send_stall_timeout: 0ms}\nshutdown_timeout: 0s\n");
  EXPECT_EQ(low.workers.count, 1U);
  EXPECT_EQ(low.limits.io_buffer, 1024U);
  EXPECT_EQ(low.limits.max_pending_output, 1024U);
  EXPECT_EQ(low.limits.max_connections, 1U);
  EXPECT_EQ(low.limits.accept_burst_per_ip, 1U);
  EXPECT_EQ(low.limits.idle_timeout, 0ms);
  EXPECT_EQ(low.shutdown_timeout, 0ms);

  Config high = parse_ok(
      "workers: 256\nlimits: {io_buffer: 1MiB, max_pending_output: 64MiB,\n"
      "  max_connections: 1048576, max_connections_per_ip: 1048576,\n"
      "  accept_rate_per_ip: 1000000, accept_burst_per_ip: 1000000,\n"
      "  idle_timeout: 24h, send_stall_timeout: 1440m}\nshutdown_timeout: 3600s\n");
  EXPECT_EQ(high.workers.count, 256U);
  EXPECT_EQ(high.limits.io_buffer, 1024U * 1024);
  EXPECT_EQ(high.limits.max_pending_output, 64U * 1024 * 1024);
  EXPECT_EQ(high.limits.max_connections, 1048576U);
  EXPECT_EQ(high.limits.accept_rate_per_ip, 1000000U);
  EXPECT_EQ(high.limits.send_stall_timeout, 24h);
  EXPECT_EQ(high.shutdown_timeout, 1h);
}

TEST(ConfigLoaderTest, RejectsJustOutsideEveryRange) {
  EXPECT_THAT(
      errors_of("workers: 257\n"
                "limits:\n"
                "  io_buffer: 1023\n"
                "  max_pending_output: 65537KiB\n"
                "  max_connections: 0\n"
                "  max_connections_per_ip: 1048577\n"
                "  accept_rate_per_ip: 1000001\n"
                "  accept_burst_per_ip: 0\n"
                "  idle_timeout: 1441m\n"
                "  send_stall_timeout: 86400001ms\n"
                "shutdown_timeout: 61m\n"),
      ElementsAre("t.yaml:1:10: workers: 257 is out of range 1-256",
                  "t.yaml:3:14: limits.io_buffer: 1023 is out of range 1KiB-1MiB",
                  "t.yaml:4:23: limits.max_pending_output: 65537KiB is out of range 1KiB-64MiB",
                  "t.yaml:5:20: limits.max_connections: 0 is out of range 1-1048576",
                  "t.yaml:6:27: limits.max_connections_per_ip: 1048577 is out of range 0-1048576",
                  "t.yaml:7:23: limits.accept_rate_per_ip: 1000001 is out of range 0-1000000",
                  "t.yaml:8:24: limits.accept_burst_per_ip: 0 is out of range 1-1000000",
                  "t.yaml:9:17: limits.idle_timeout: 1441m is out of range 0s-24h",
                  "t.yaml:10:23: limits.send_stall_timeout: 86400001ms is out of range 0s-24h",
                  "t.yaml:11:19: shutdown_timeout: 61m is out of range 0s-1h"));
}

TEST(ConfigLoaderTest, AcceptsEveryLogLevelAndTarget) {
  for (std::string_view level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    Config config = parse_ok("log: {level: " + std::string(level) + ", target: journal}\n");
    EXPECT_EQ(to_string(config.log.level), level);
    EXPECT_EQ(config.log.target, LogTarget::kJournal);
  }
}

TEST(ConfigLoaderTest, BadPortFixture) {
  EXPECT_THAT(fixture_errors("bad_port.yaml"),
              ElementsAre("bad_port.yaml:4:5: listen[2]: port 70000 is out of range 0-65535"));
}

TEST(ConfigLoaderTest, UnknownKeyFixtureSuggestsTheKeyMeant) {
  EXPECT_THAT(fixture_errors("unknown_key.yaml"),
              ElementsAre("unknown_key.yaml:2:3: limits.io_bufer: unknown key; did you mean "
                          "'io_buffer'?"));
}

TEST(ConfigLoaderTest, WrongTypesFixture) {
  EXPECT_THAT(
      fixture_errors("wrong_types.yaml"),
      ElementsAre(
          R"(wrong_types.yaml:2:3: listen: expected a list of HOST:PORT strings, e.g. ["127.0.0.1:7", "[::1]:7"])",
          "wrong_types.yaml:3:10: workers: expected 'auto' or a number 1-256, not a list",
          "wrong_types.yaml:4:6: log: expected a mapping with the keys level, target, not 'debug'",
          "wrong_types.yaml:6:3: limits: expected a mapping with the keys io_buffer, "
          "max_pending_output, max_connections, max_connections_per_ip, accept_rate_per_ip, "
          "accept_burst_per_ip, exempt, idle_timeout, send_stall_timeout, access, not a list",
          "wrong_types.yaml:7:19: shutdown_timeout: expected a duration (0s-1h, e.g. 10s), not a "
          "mapping"));
}

TEST(ConfigLoaderTest, BadUnitsFixture) {
  const std::string binary = " (sizes use binary units: 1KiB = 1024 bytes)";
  EXPECT_THAT(
      fixture_errors("bad_units.yaml"),
      ElementsAre("bad_units.yaml:2:14: limits.io_buffer: '16K': unknown unit 'K'; did you mean "
                  "'16KiB'?" +
                      binary,
                  "bad_units.yaml:3:23: limits.max_pending_output: '16KB': unknown unit 'KB'; did "
                  "you mean '16KiB'?" +
                      binary,
                  "bad_units.yaml:4:17: limits.idle_timeout: '30' has no unit; durations need one "
                  "of ms, s, m, h, e.g. '30s'",
                  "bad_units.yaml:5:23: limits.send_stall_timeout: '30sec': unknown unit 'sec'; "
                  "did you mean '30s'?",
                  "bad_units.yaml:6:19: shutdown_timeout: '1.5s': fractions are not supported; use "
                  "a whole number of a smaller unit"));
}

TEST(ConfigLoaderTest, MultipleErrorsFixtureReportsEveryErrorInFileOrder) {
  EXPECT_THAT(
      fixture_errors("multiple_errors.yaml"),
      ElementsAre(
          "multiple_errors.yaml:5:5: listen[2]: duplicate address 127.0.0.1:7 (also listen[0])",
          "multiple_errors.yaml:6:5: listen[3]: '::1:8': an IPv6 address with a port must be "
          "written [::1]:8",
          "multiple_errors.yaml:7:10: workers: 0 is out of range 1-256",
          "multiple_errors.yaml:9:10: log.level: unknown log level 'verbose'; expected one of "
          "trace, debug, info, warn, error, critical, off",
          "multiple_errors.yaml:10:11: log.target: unknown log target 'syslog'; expected one of "
          "auto, journal, stderr",
          "multiple_errors.yaml:12:14: limits.io_buffer: 2MiB is out of range 1KiB-1MiB",
          "multiple_errors.yaml:13:23: limits.max_pending_output: '16kb': unknown unit 'kb'; did "
          "you mean '16KiB'? (sizes use binary units: 1KiB = 1024 bytes)",
          "multiple_errors.yaml:14:20: limits.max_connections: -1 is out of range 1-1048576",
          "multiple_errors.yaml:15:3: limits.acces: unknown key; did you mean 'access'?",
          "multiple_errors.yaml:17:19: shutdown_timeout: '10' has no unit; durations need one of "
          "ms, s, m, h, e.g. '10s'",
          "multiple_errors.yaml:18:1: threads: unknown key; expected one of listen, workers, log, "
          "limits, metrics, udp, shutdown_timeout"));
}

TEST(ConfigLoaderTest, SyntaxErrorFixture) {
  EXPECT_THAT(fixture_errors("syntax_error.yaml"),
              ElementsAre("syntax_error.yaml:5:1: YAML syntax error: end of map flow not found; "
                          "is a '{' not closed?"));
}

TEST(ConfigLoaderTest, DuplicateKeyFixture) {
  EXPECT_THAT(fixture_errors("duplicate_key.yaml"),
              ElementsAre("duplicate_key.yaml:4:3: log.level: duplicate key (first set on line 3)",
                          "duplicate_key.yaml:5:1: workers: duplicate key (first set on line 1)"));
}

TEST(ConfigLoaderTest, AnchorsFixture) {
  EXPECT_THAT(fixture_errors("anchors.yaml"),
              ElementsAre("anchors.yaml:2:17: anchors and aliases are not supported (&timeout)",
                          "anchors.yaml:3:23: anchors and aliases are not supported (*timeout)"));
}

TEST(ConfigLoaderTest, EmptyListenFixture) {
  EXPECT_THAT(fixture_errors("empty_listen.yaml"),
              ElementsAre("empty_listen.yaml:1:9: listen: the list is empty; echod needs at least "
                          "one address to listen on"));
}

TEST(ConfigLoaderTest, UnquotedIpv6FixtureHintsAtQuotes) {
  EXPECT_THAT(fixture_errors("unquoted_ipv6.yaml"),
              ElementsAre("unquoted_ipv6.yaml:3:10: YAML syntax error: end of sequence not found; "
                          "quote addresses in brackets, e.g. \"[::1]:7\""));
}

TEST(ConfigLoaderTest, SuggestsKeysFromOtherSections) {
  EXPECT_THAT(errors_of("level: debug\nio_buffer: 4KiB\nlog_level: info\nlimits: {idle: 5s}\n"),
              ElementsAre("t.yaml:1:1: level: unknown key; did you mean 'log.level'?",
                          "t.yaml:2:1: io_buffer: unknown key; did you mean 'limits.io_buffer'?",
                          "t.yaml:3:1: log_level: unknown key; did you mean 'log.level'?",
                          "t.yaml:4:10: limits.idle: unknown key; did you mean 'idle_timeout'?"));
}

TEST(ConfigLoaderTest, MissingValuesPointAtTheKey) {
  EXPECT_THAT(
      errors_of("workers:\nlisten:\nlog:\n  level:\nshutdown_timeout: ~\n"),
      ElementsAre(
          "t.yaml:1:1: workers: missing value; expected 'auto' or a number 1-256",
          R"(t.yaml:2:1: listen: missing value; expected a list of HOST:PORT strings, e.g. ["127.0.0.1:7", "[::1]:7"])",
          "t.yaml:4:3: log.level: missing value; expected one of trace, debug, info, "
          "warn, error, critical, off",
          "t.yaml:5:1: shutdown_timeout: missing value; expected a duration (0s-1h, e.g. "
          "10s)"));
}

TEST(ConfigLoaderTest, EmptyListItemsPointAtTheirDash) {
  EXPECT_THAT(errors_of("listen:\n  - 127.0.0.1:7\n  -\n  -   # later\n\n  # c\n  - \"[::1]:7\"\n"),
              ElementsAre("t.yaml:3:3: listen[1]: missing value; expected a HOST:PORT string",
                          "t.yaml:4:3: listen[2]: missing value; expected a HOST:PORT string"));
}

TEST(ConfigLoaderTest, ExplainsListenGivenAsOneString) {
  EXPECT_THAT(errors_of("listen: 127.0.0.1:7\n"),
              ElementsAre("t.yaml:1:9: listen: expected a list of HOST:PORT strings; for one "
                          "write [\"127.0.0.1:7\"]"));
  EXPECT_THAT(errors_of("listen: [[\"::1\"], {a: b}]\n"),
              ElementsAre("t.yaml:1:10: listen[0]: expected a HOST:PORT string, not a list; quote "
                          "IPv6 addresses, e.g. \"[::1]:7\"",
                          "t.yaml:1:20: listen[1].a: unknown key; expected one of address, "
                          "proxy_protocol, trusted, header_timeout"));
}

TEST(ConfigLoaderTest, DuplicateListenAddressesAreComparedAsAddresses) {
  EXPECT_THAT(errors_of("listen: [\"localhost:7\", \"127.0.0.1:7\"]\n"),
              ElementsAre("t.yaml:1:25: listen[1]: duplicate address 127.0.0.1:7 (also "
                          "listen[0])"));
}

TEST(ConfigLoaderTest, ChecksAccessNetworks) {
  EXPECT_THAT(
      errors_of("limits:\n  access:\n    allow: [10.0.0.0/33, 1.2.3.4, 1.2.3.4/32, nonsense]\n"
                "    deny: 10.0.0.0/8\n    permit: []\n"),
      ElementsAre("t.yaml:3:13: limits.access.allow[0]: '10.0.0.0/33': prefix length must be 0-32",
                  "t.yaml:3:35: limits.access.allow[2]: duplicate network 1.2.3.4/32 (also "
                  "limits.access.allow[1])",
                  "t.yaml:3:47: limits.access.allow[3]: 'nonsense' is not an IPv4 or IPv6 network "
                  "(write e.g. 10.0.0.0/8 or 2001:db8::/32)",
                  "t.yaml:4:11: limits.access.deny: expected a list of network strings; for one "
                  "write [\"10.0.0.0/8\"]",
                  "t.yaml:5:5: limits.access.permit: unknown key; expected one of allow, deny"));
}

TEST(ConfigLoaderTest, ExemptDefaultsToLoopback) {
  const LimitsConfig limits = Config{}.limits;
  EXPECT_THAT(limits.exempt, ElementsAre(network("127.0.0.0/8"), network("::1/128")));
  EXPECT_TRUE(limits.is_exempt(address("127.0.0.1:5000")));
  EXPECT_TRUE(limits.is_exempt(address("127.255.0.9:1")));
  EXPECT_TRUE(limits.is_exempt(address("[::1]:5000")));
  EXPECT_FALSE(limits.is_exempt(address("192.0.2.1:5000")));
  EXPECT_FALSE(limits.is_exempt(address("[::2]:5000")));
  EXPECT_FALSE(limits.is_exempt(address("[::ffff:127.0.0.1]:5000")));
  // Other limits keys leave it alone.
  EXPECT_EQ(parse_ok("limits:\n  max_connections_per_ip: 4\n").limits.exempt, limits.exempt);
}

TEST(ConfigLoaderTest, ExemptTakesAListOfNetworks) {
  const LimitsConfig limits =
      parse_ok("limits:\n  exempt: [\"127.0.0.2/32\", \"10.0.0.0/8\", \"2001:db8::1\"]\n").limits;
  EXPECT_THAT(limits.exempt, ElementsAre(network("127.0.0.2/32"), network("10.0.0.0/8"),
                                         network("2001:db8::1/128")));
  EXPECT_TRUE(limits.is_exempt(address("127.0.0.2:1")));
  EXPECT_FALSE(limits.is_exempt(address("127.0.0.1:1"))) << "the list replaces the default";
  EXPECT_TRUE(limits.is_exempt(address("10.200.0.1:1")));
}

// An empty list, or every entry commented out, exempts nobody (as an empty access list
// denies nobody).
TEST(ConfigLoaderTest, EmptyExemptListExemptsNobody) {
  for (std::string_view text : {"limits:\n  exempt: []\n"sv, "limits:\n  exempt:\n"sv,
                                "limits:\n  exempt:\n  #  - \"127.0.0.0/8\"\n"sv}) {
    const LimitsConfig limits = parse_ok(text).limits;
    EXPECT_THAT(limits.exempt, IsEmpty()) << text;
    EXPECT_FALSE(limits.is_exempt(address("127.0.0.1:1"))) << text;
  }
}

TEST(ConfigLoaderTest, ChecksExemptNetworks) {
  EXPECT_THAT(
      errors_of("limits:\n  exempt: [\"127.0.0.1/33\", 127.0.0.1, \"127.0.0.1/32\", [::1]]\n"),
      ElementsAre("t.yaml:2:12: limits.exempt[0]: '127.0.0.1/33': prefix length must be 0-32",
                  "t.yaml:2:39: limits.exempt[2]: duplicate network 127.0.0.1/32 (also "
                  "limits.exempt[1])",
                  "t.yaml:2:55: limits.exempt[3]: expected a network string, not a list"));
  EXPECT_THAT(errors_of("limits:\n  exempt: 127.0.0.0/8\n"),
              ElementsAre("t.yaml:2:11: limits.exempt: expected a list of network strings; for "
                          "one write [\"127.0.0.0/8\"]"));
  EXPECT_THAT(errors_of("limits:\n  exempt:\n    loopback: 127.0.0.0/8\n"),
              ElementsAre("t.yaml:3:5: limits.exempt: expected a list of network strings, e.g. "
                          "[\"10.0.0.0/8\", \"2001:db8::/32\"]"));
  EXPECT_THAT(errors_of("exempt: []\n"),
              ElementsAre("t.yaml:1:1: exempt: unknown key; did you mean 'limits.exempt'?"));
}

// Every limit key with a value that cannot work: negative, zero where no limit would mean
// refusing everything, not a whole number, the wrong type, and malformed networks.
TEST(ConfigLoaderTest, BadLimitsFixture) {
  const std::string not_a_network =
      " is not an IPv4 or IPv6 network (write e.g. 10.0.0.0/8 or 2001:db8::/32)";
  EXPECT_THAT(
      fixture_errors("bad_limits.yaml"),
      ElementsAre(
          "bad_limits.yaml:4:14: limits.io_buffer: 0 is out of range 1KiB-1MiB",
          "bad_limits.yaml:5:23: limits.max_pending_output: '-1KiB': a size cannot be negative",
          "bad_limits.yaml:6:20: limits.max_connections: 'many' is not a whole number",
          "bad_limits.yaml:7:27: limits.max_connections_per_ip: -1 is out of range 0-1048576",
          "bad_limits.yaml:8:23: limits.accept_rate_per_ip: -100 is out of range 0-1000000",
          "bad_limits.yaml:9:24: limits.accept_burst_per_ip: '1.5' is not a whole number",
          "bad_limits.yaml:10:17: limits.idle_timeout: '-1s': a duration cannot be negative",
          "bad_limits.yaml:11:23: limits.send_stall_timeout: expected a duration (0s-24h, e.g. "
          "10s), not a list",
          "bad_limits.yaml:13:13: limits.access.allow[0]: '10.0.0.0/8/8': prefix length must be "
          "0-32",
          "bad_limits.yaml:13:29: limits.access.allow[1]: '10.0.0.0/-1': prefix length must be "
          "0-32",
          "bad_limits.yaml:14:12: limits.access.deny[0]: '::1/129': prefix length must be 0-128",
          "bad_limits.yaml:14:23: limits.access.deny[1]: '300.1.2.3'" + not_a_network,
          "bad_limits.yaml:14:36: limits.access.deny[2]: 'fe80::1%eth0/64'" + not_a_network,
          "bad_limits.yaml:14:55: limits.access.deny[3]: ''" + not_a_network,
          "bad_limits.yaml:15:12: limits.exempt[0]: '127.0.0.0/33': prefix length must be 0-32",
          "bad_limits.yaml:15:28: limits.exempt[1]: 'localhost'" + not_a_network));
}

TEST(ConfigLoaderTest, RejectsControlCharactersFromEscapes) {
  EXPECT_THAT(
      errors_of("workers: \"4\\0\"\nlisten: [\"127.0.0.1:7\\0junk\"]\n"),
      ElementsAre("t.yaml:1:10: workers: '4\\x00' contains a control character",
                  "t.yaml:2:10: listen[0]: '127.0.0.1:7\\x00junk' contains a control character"));
}

TEST(ConfigLoaderTest, TopLevelMustBeAMapping) {
  EXPECT_THAT(
      errors_of("hello\n"),
      ElementsAre("t.yaml:1:1: expected settings as 'key: value' lines, e.g. 'workers: 4'"));
  EXPECT_THAT(
      errors_of("- workers: 4\n"),
      ElementsAre("t.yaml:1:1: expected settings as 'key: value' lines, e.g. 'workers: 4'"));
  EXPECT_THAT(errors_of("? [a]\n: 1\n"),
              ElementsAre("t.yaml:1:3: expected a key name, not a list"));
}

TEST(ConfigLoaderTest, RejectsASecondDocument) {
  EXPECT_THAT(
      errors_of("workers: 2\n---\nworkers: 3\n---\nworkers: 4\n"),
      ElementsAre("t.yaml:2:1: only one YAML document is allowed; remove the second '---'"));
}

// yaml-cpp 0.7 never consumes a ',' outside a flow collection; the loader must not loop forever
// or take the file for an empty (default) configuration.
TEST(ConfigLoaderTest, StrayCommaIsASyntaxError) {
  EXPECT_THAT(errors_of(","), ElementsAre("t.yaml:1:1: YAML syntax error: unexpected ','"));
  EXPECT_THAT(errors_of("[a],\n"), ElementsAre("t.yaml:1:4: YAML syntax error: unexpected ','"));
  EXPECT_THAT(errors_of("workers: 2\n...\n,\n"),
              ElementsAre("t.yaml:3:1: YAML syntax error: unexpected ','"));
}

TEST(ConfigLoaderTest, SyntaxErrorHints) {
  EXPECT_THAT(errors_of("listen:\n  - *:7\n"),
              ElementsAre("t.yaml:2:5: YAML syntax error: the referenced anchor is not defined; "
                          "quote values that start with '*', e.g. \"*:7\""));
  EXPECT_THAT(errors_of("log:\n\tlevel: debug\n"),
              ElementsAre("t.yaml:2:7: YAML syntax error: illegal map value; indent with spaces, "
                          "not tabs"));
  EXPECT_THAT(errors_of("workers: [1\n"),
              ElementsAre("t.yaml:2:1: YAML syntax error: end of sequence flow not found; is a '[' "
                          "not closed?"));
}

TEST(ConfigLoaderTest, RejectsNulAndOtherControlBytes) {
  EXPECT_THAT(
      errors_of("workers: 4\0\n"sv),
      ElementsAre("t.yaml:1:11: control character 0x00 (NUL); the file must be UTF-8 text"));
  EXPECT_THAT(errors_of("workers: 4\n\x04\x01\0"sv),
              ElementsAre("t.yaml:2:1: control character 0x04; the file must be UTF-8 text (and 2 "
                          "more)"));
  EXPECT_THAT(errors_of("log:\n  level: caf\xe9\n"),
              ElementsAre("t.yaml:2:13: invalid UTF-8 byte 0xe9; the file must be UTF-8 text"));
  EXPECT_THAT(errors_of(std::string(1000, '\0')),
              ElementsAre("t.yaml:1:1: control character 0x00 (NUL); the file must be UTF-8 text "
                          "(and 999 more)"));
}

TEST(ConfigLoaderTest, DeepNestingIsRefusedWithoutCrashing) {
  const std::string message = "nesting is deeper than 64 levels";
  for (const std::string& text : {std::string(10000, '['), std::string(100000, '{'), [] {
                                    std::string dashes;
                                    for (int i = 0; i < 100000; ++i) dashes += "- ";
                                    return dashes;
                                  }()}) {
    std::vector<std::string> errors = errors_of(text);
    ASSERT_EQ(errors.size(), 1U) << text.substr(0, 10);
    EXPECT_TRUE(errors[0].starts_with("t.yaml:1:")) << errors[0];
    EXPECT_TRUE(errors[0].ends_with(": " + message)) << errors[0];
  }
}

TEST(ConfigLoaderTest, NestingLimitIsExactly64Levels) {
  // The top-level mapping is one level; listen's list is the second.
  const std::string ok = "listen: " + std::string(63, '[') + std::string(63, ']') + "\n";
  EXPECT_THAT(errors_of(ok), ElementsAre("t.yaml:1:10: listen[0]: expected a HOST:PORT string, not "
                                         "a list; quote IPv6 addresses, e.g. \"[::1]:7\""));
  const std::string deep = "listen: " + std::string(64, '[') + std::string(64, ']') + "\n";
  EXPECT_THAT(errors_of(deep), ElementsAre("t.yaml:1:72: nesting is deeper than 64 levels"));
}

// A file that is not a configuration at all gives the first errors and a count of the rest,
// quickly (duplicate checks and suggestions must not be quadratic).
TEST(ConfigLoaderTest, ListsTheFirstHundredErrorsAndCountsTheRest) {
  std::string text;
  for (int i = 0; text.size() < kMaxConfigFileBytes - 100; ++i) {
    text += "key_number_" + std::to_string(i) + "_with_a_long_name: value\n";
  }
  ConfigLoadResult result = parse_config(text, "t.yaml");
  ASSERT_EQ(result.errors.size(), kMaxConfigErrors + 1);
  EXPECT_EQ(result.errors[0].to_string(),
            "t.yaml:1:1: key_number_0_with_a_long_name: unknown key; expected one of listen, "
            "workers, log, limits, metrics, udp, shutdown_timeout");
  EXPECT_EQ(result.errors[99].line, 100);
  EXPECT_THAT(result.errors.back().to_string(),
              ::testing::MatchesRegex("t.yaml: [0-9]+ more errors not shown"));
}

TEST(ConfigLoaderTest, LongListsAreCheckedForDuplicates) {
  std::string text = "listen:\n";
  for (int i = 0; i < 40000; ++i) {
    text += "  - \"10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ":7\"\n";
  }
  text += "  - \"10.0.0.0:7\"\n";
  EXPECT_THAT(errors_of(text), ElementsAre("t.yaml:40002:5: listen[40000]: duplicate address "
                                           "10.0.0.0:7 (also listen[0])"));
}

TEST(ConfigLoaderTest, TextOverTheLimitIsRefusedBeforeParsing) {
  const std::string text = "# " + std::string(kMaxConfigFileBytes, 'x');
  EXPECT_THAT(errors_of(text), ElementsAre("t.yaml: file is 1048578 bytes; the limit is 1 MiB"));
}

// Mutated copies of a valid file: whatever the bytes, the loader answers with a Config or with
// errors (never both, never neither), each error on one line.
TEST(ConfigLoaderTest, MutatedInputNeverCrashes) {
  std::ifstream in(kFixtures + "full.yaml");
  const std::string original((std::istreambuf_iterator<char>(in)), {});
  ASSERT_FALSE(original.empty());
  std::mt19937 random(862);
  constexpr std::string_view kInteresting = "\0\x04\n\r\t :-[]{}&*!|>'\"#%@`?,\xff\xc3"sv;
  for (int round = 0; round < 2000; ++round) {
    std::string text = original;
    const int edits = 1 + static_cast<int>(random() % 8);
    for (int i = 0; i < edits && !text.empty(); ++i) {
      const std::size_t at = random() % text.size();
      switch (random() % 4) {
        case 0:
          text[at] = kInteresting[random() % kInteresting.size()];
          break;
        case 1:
          text.erase(at, 1 + random() % 8);
          break;
        case 2:
          text.insert(at, 1, kInteresting[random() % kInteresting.size()]);
          break;
        default:
          text.insert(at, text.substr(random() % text.size(), random() % 40));
          break;
      }
    }
    ConfigLoadResult result = parse_config(text, "t.yaml");
    EXPECT_NE(result.config.has_value(), !result.errors.empty()) << text;
    for (const std::string& line : lines_of(result)) {
      EXPECT_EQ(line.find('\n'), std::string::npos) << line;
      EXPECT_TRUE(line.starts_with("t.yaml")) << line;
    }
  }
}

TEST(ConfigErrorTest, FormatsWithAndWithoutPositionAndKey) {
  EXPECT_EQ((ConfigError{"/etc/echod.yaml", 4, 11, "listen[1]", "port 70000 is out of range"})
                .to_string(),
            "/etc/echod.yaml:4:11: listen[1]: port 70000 is out of range");
  EXPECT_EQ((ConfigError{"f.yaml", 2, 5, "", "YAML syntax error: x"}).to_string(),
            "f.yaml:2:5: YAML syntax error: x");
  EXPECT_EQ((ConfigError{"f.yaml", 0, 0, "", "cannot open: No such file or directory"}).to_string(),
            "f.yaml: cannot open: No such file or directory");
  EXPECT_EQ((ConfigError{"f.yaml", 3, 1, "a\nb", "bad\rvalue"}).to_string(),
            "f.yaml:3:1: a\\x0ab: bad\\x0dvalue");
}

TEST(FormatConfigTest, DefaultsAsYaml) {
  EXPECT_EQ(format_config(Config{}),
            "listen:\n"
            "  - \"127.0.0.1:7\"\n"
            "  - \"[::1]:7\"\n"
            "workers: auto\n"
            "log:\n"
            "  level: info\n"
            "  target: auto\n"
            "limits:\n"
            "  io_buffer: 64KiB\n"
            "  max_pending_output: 64KiB\n"
            "  max_connections: 10000\n"
            "  max_connections_per_ip: 32\n"
            "  accept_rate_per_ip: 100\n"
            "  accept_burst_per_ip: 200\n"
            "  exempt:\n"
            "    - \"127.0.0.0/8\"\n"
            "    - \"::1/128\"\n"
            "  idle_timeout: 1m\n"
            "  send_stall_timeout: 30s\n"
            "  access:\n"
            "    allow: []\n"
            "    deny: []\n"
            "metrics:\n"
            "  enabled: false\n"
            "  listen: \"127.0.0.1:9707\"\n"
            "udp:\n"
            "  listen: []\n"
            "  max_datagram: 65527\n"
            "  min_source_port: 1024\n"
            "  deny_source_ports:\n"
            "    - 1900\n"
            "    - 2049\n"
            "    - 3702\n"
            "    - 5353\n"
            "    - 5683\n"
            "    - 11211\n"
            "    - 27960\n"
            "  rate_per_source: 200\n"
            "  burst_per_source: 400\n"
            "  bytes_per_source: 256KiB\n"
            "  rate_global: 20000\n"
            "  rate_limit_exempt:\n"
            "    - \"127.0.0.0/8\"\n"
            "    - \"::1/128\"\n"
            "  allow_unlimited_public: false\n"
            "  access:\n"
            "    allow: []\n"
            "    deny: []\n"
            "shutdown_timeout: 10s\n");
}

TEST(FormatConfigTest, RoundTrips) {
  Config odd;
  odd.listen = {tcp("[fe80::1]:0"), tcp("192.0.2.1:65535")};
  odd.workers = WorkerCount{false, 256};
  odd.log = {LogLevel::kOff, LogTarget::kJournal};
  odd.limits.io_buffer = 1025;
  odd.limits.max_pending_output = 3 * 1024 * 1024;
  odd.limits.idle_timeout = 1ms;
  odd.limits.send_stall_timeout = 0ms;
  odd.limits.access.deny = {network("::/0"), network("192.0.2.0/24")};
  odd.limits.exempt = {};
  odd.shutdown_timeout = 61s;
  odd.metrics = {true, address("0.0.0.0:0")};
  for (const Config& config : {Config{}, load_fixture("full.yaml"), odd}) {
    const std::string text = format_config(config);
    ConfigLoadResult result = parse_config(text, "formatted");
    ASSERT_THAT(lines_of(result), IsEmpty()) << text;
    EXPECT_EQ(*result.config, config) << text;
  }
}

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "echod-config-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  std::string dir_;
};

TEST_F(ConfigFileTest, MissingFile) {
  const std::string path = dir_ + "/absent.yaml";
  EXPECT_THAT(lines_of(load_config_file(path)),
              ElementsAre(path + ": cannot open: No such file or directory"));
}

TEST_F(ConfigFileTest, Directory) {
  EXPECT_THAT(lines_of(load_config_file(dir_)),
              ElementsAre(dir_ + ": is a directory, not a configuration file"));
}

TEST_F(ConfigFileTest, FifoIsRefusedWithoutBlocking) {
  const std::string path = dir_ + "/fifo";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  EXPECT_THAT(lines_of(load_config_file(path)), ElementsAre(path + ": not a regular file"));
}

TEST_F(ConfigFileTest, UnreadableFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  const std::string path = write("secret.yaml", "workers: 2\n");
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  EXPECT_THAT(lines_of(load_config_file(path)),
              ElementsAre(path + ": cannot open: Permission denied"));
}

TEST_F(ConfigFileTest, TooLargeFileIsRefused) {
  const std::string path = write("big.yaml", std::string(kMaxConfigFileBytes + 1, '#'));
  EXPECT_THAT(lines_of(load_config_file(path)),
              ElementsAre(path + ": file is 1048577 bytes; the limit is 1 MiB"));
}

TEST_F(ConfigFileTest, FileOfExactlyTheLimitIsRead) {
  std::string text = "workers: 3\n#";
  text.resize(kMaxConfigFileBytes, 'x');
  ConfigLoadResult result = load_config_file(write("limit.yaml", text));
  ASSERT_THAT(lines_of(result), IsEmpty());
  EXPECT_EQ(result.config->workers.count, 3U);
}

TEST_F(ConfigFileTest, ErrorsNameTheFile) {
  const std::string path = write("bad.yaml", "workers: many\n");
  EXPECT_THAT(lines_of(load_config_file(path)),
              ElementsAre(path + ":1:10: workers: 'many' is not a number or 'auto'"));
}

TEST(ConfigLoaderTest, PerAddressLimitCannotExceedTheTotal) {
  EXPECT_THAT(fixture_errors("per_ip_over_total.yaml"),
              ElementsAre("per_ip_over_total.yaml:3:27: limits.max_connections_per_ip: 200 is "
                          "more than limits.max_connections (100)"));
  // Equal is fine, and so is 0 (no per-address limit).
  parse_ok("limits: {max_connections: 100, max_connections_per_ip: 100}\n");
  parse_ok("limits: {max_connections: 100, max_connections_per_ip: 0}\n");
}

}  // namespace
}  // namespace echod
