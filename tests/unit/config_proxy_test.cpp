// Listeners written as mappings, with the PROXY protocol options (docs/configuration.md).
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config_diff.hpp"
#include "config/config_loader.hpp"

namespace echod {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> lines(const std::vector<ConfigError>& errors) {
  std::vector<std::string> out;
  for (const ConfigError& error : errors) out.push_back(error.to_string());
  return out;
}

std::vector<std::string> errors_of(std::string_view text) {
  ConfigLoadResult result = parse_config(text, "t.yaml");
  EXPECT_FALSE(result.config) << text;
  return lines(result.errors);
}

Config parse_ok(std::string_view text) {
  ConfigLoadResult result = parse_config(text, "t.yaml");
  EXPECT_THAT(lines(result.errors), IsEmpty()) << text;
  EXPECT_THAT(lines(result.warnings), IsEmpty()) << text;
  return result.config.value_or(Config{});
}

Cidr network(std::string_view text) { return Cidr::parse(text).cidr.value(); }

TEST(ConfigProxyTest, ListenersAreStringsOrMappings) {
  const Config config = parse_ok(
      "listen:\n"
      "  - \"127.0.0.1:7\"\n"
      "  - {address: \"127.0.0.1:7007\", proxy_protocol: v2, trusted: [\"10.0.0.0/8\"]}\n"
      "  - address: \"[::1]:7008\"\n"
      "    proxy_protocol: any\n"
      "    trusted: [\"10.1.0.0/16\", \"2001:db8::/32\"]\n"
      "    header_timeout: 10s\n"
      "  - {address: \"127.0.0.1:7009\", proxy_protocol: off}\n"
      "  - {address: \"127.0.0.1:7010\", proxy_protocol: v1, trusted: [\"127.0.0.9\"]}\n");
  ASSERT_EQ(config.listen.size(), 5U);
  EXPECT_FALSE(config.listen[0].options.proxy());
  EXPECT_EQ(config.listen[1].options.proxy_protocol, ProxyProtocol::kV2);
  EXPECT_THAT(config.listen[1].options.trusted, ElementsAre(network("10.0.0.0/8")));
  EXPECT_EQ(config.listen[1].options.header_timeout, 5s);  // the default
  EXPECT_EQ(config.listen[2].address.to_string(), "[::1]:7008");
  EXPECT_EQ(config.listen[2].options.proxy_protocol, ProxyProtocol::kAny);
  EXPECT_EQ(config.listen[2].options.header_timeout, 10s);
  EXPECT_EQ(config.listen[3], ListenerConfig::tcp(config.listen[3].address));
  EXPECT_EQ(config.listen[4].options.proxy_protocol, ProxyProtocol::kV1);
}

TEST(ConfigProxyTest, FormattedConfigurationReadsBackEqual) {
  const Config config = parse_ok(
      "listen: [\"127.0.0.1:7\", {address: \"127.0.0.1:7007\", proxy_protocol: v2, "
      "trusted: [\"10.0.0.0/8\", \"::1\"], header_timeout: 4500ms}]\n");
  const std::string text = format_config(config);
  EXPECT_THAT(text,
              ::testing::HasSubstr("  - {address: \"127.0.0.1:7007\", proxy_protocol: v2, trusted: "
                                   "[\"10.0.0.0/8\", \"::1/128\"], header_timeout: 4500ms}\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("  - \"127.0.0.1:7\"\n"));
  EXPECT_EQ(parse_ok(text), config);
}

TEST(ConfigProxyTest, ProxyListenerWithoutTrustedIsRefused) {
  EXPECT_THAT(
      errors_of("listen:\n  - {address: \"0.0.0.0:7007\", proxy_protocol: v2}\n"),
      ElementsAre("t.yaml:2:47: listen[0].proxy_protocol: a PROXY listener needs 'trusted': the "
                  "networks of the balancers allowed to connect and name a client, e.g. "
                  "trusted: [\"10.0.0.0/24\"]"));
  EXPECT_THAT(errors_of("listen:\n  - address: \"0.0.0.0:7007\"\n    proxy_protocol: v1\n"
                        "    trusted: []\n"),
              ElementsAre("t.yaml:4:14: listen[0].trusted: the list is empty; a PROXY listener "
                          "needs the networks of the balancers allowed to connect, e.g. "
                          "[\"10.0.0.0/24\"]"));
  EXPECT_THAT(errors_of("listen:\n  - address: \"0.0.0.0:7007\"\n    proxy_protocol: v1\n"
                        "    trusted:\n"),
              ElementsAre(::testing::StartsWith("t.yaml:4:5: listen[0].trusted: the list is "
                                                "empty")));
}

TEST(ConfigProxyTest, EachBadValueIsReportedWhereItIs) {
  EXPECT_THAT(errors_of("listen: [{address: \"127.0.0.1:7\", proxy_protocol: v3}]\n"),
              ElementsAre("t.yaml:1:51: listen[0].proxy_protocol: 'v3' is not one of off, v1, "
                          "v2, any"));
  EXPECT_THAT(errors_of("listen: [{address: \"127.0.0.1:7\", proxy_protocol: v2, "
                        "trusted: [\"10.0.0.0/33\"]}]\n"),
              ElementsAre(::testing::StartsWith("t.yaml:1:65: listen[0].trusted[0]: ")));
  EXPECT_THAT(errors_of("listen: [{address: \"127.0.0.1:7\", proxy_protocol: v2, "
                        "trusted: [\"10.0.0.0/8\"], header_timeout: 500ms}]\n"),
              ElementsAre("t.yaml:1:96: listen[0].header_timeout: 500ms is out of range 1s-1m"));
  EXPECT_THAT(errors_of("listen: [{address: \"127.0.0.1:7\", proxy_protocol: v2, "
                        "trusted: [\"10.0.0.0/8\"], header_timeout: 61s}]\n"),
              ElementsAre("t.yaml:1:96: listen[0].header_timeout: 61s is out of range 1s-1m"));
  EXPECT_THAT(errors_of("listen: [{address: \"127.0.0.1:70000\"}]\n"),
              ElementsAre("t.yaml:1:20: listen[0].address: port 70000 is out of range 0-65535"));
  EXPECT_THAT(errors_of("listen: [{proxy_protocol: off}]\n"),
              ElementsAre("t.yaml:1:10: listen[0]: missing 'address', e.g. {address: "
                          "\"0.0.0.0:7007\"}"));
}

TEST(ConfigProxyTest, OptionsOfAProxyListenerNeedProxyProtocol) {
  EXPECT_THAT(errors_of("listen:\n  - address: \"127.0.0.1:7\"\n    trusted: [\"10.0.0.0/8\"]\n"
                        "    header_timeout: 2s\n"),
              ElementsAre("t.yaml:3:5: listen[0].trusted: only valid with proxy_protocol v1, v2 "
                          "or any",
                          "t.yaml:4:5: listen[0].header_timeout: only valid with proxy_protocol "
                          "v1, v2 or any"));
  EXPECT_THAT(errors_of("listen:\n  - address: \"127.0.0.1:7\"\n    proxy_protocol: off\n"
                        "    trusted: [\"10.0.0.0/8\"]\n"),
              ElementsAre("t.yaml:4:5: listen[0].trusted: only valid with proxy_protocol v1, v2 "
                          "or any"));
}

TEST(ConfigProxyTest, UnknownAndDuplicateKeysAndAddresses) {
  EXPECT_THAT(errors_of("listen:\n  - address: \"127.0.0.1:7\"\n    proxy_protocol: v2\n"
                        "    trustd: [\"10.0.0.0/8\"]\n"),
              ::testing::Contains("t.yaml:4:5: listen[0].trustd: unknown key; did you mean "
                                  "'trusted'?"));
  EXPECT_THAT(errors_of("listen:\n  - \"127.0.0.1:7\"\n  - {address: \"localhost:7\", "
                        "proxy_protocol: v1, trusted: [\"127.0.0.2\"]}\n"),
              ElementsAre("t.yaml:3:5: listen[1]: duplicate address 127.0.0.1:7 (also "
                          "listen[0])"));
}

TEST(ConfigProxyTest, TrustingEveryAddressIsAWarning) {
  ConfigLoadResult result = parse_config(
      "listen:\n  - address: \"0.0.0.0:7007\"\n    proxy_protocol: any\n"
      "    trusted: [\"10.0.0.0/8\", \"0.0.0.0/0\", \"::/0\"]\n    header_timeout: 2s\n",
      "t.yaml");
  ASSERT_TRUE(result.config);
  EXPECT_THAT(
      lines(result.warnings),
      ElementsAre("t.yaml:4:29: listen[0].trusted[1]: warning: 0.0.0.0/0 is every address: any "
                  "host that can connect can claim to be any client; list the balancers' "
                  "networks",
                  "t.yaml:4:42: listen[0].trusted[2]: warning: ::/0 is every address: any host "
                  "that can connect can claim to be any client; list the balancers' networks",
                  "t.yaml:5:21: listen[0].header_timeout: warning: below 3s, a header delayed "
                  "by one TCP retransmission is refused"));
}

TEST(ConfigProxyTest, ChangedOptionsAreOneChangeOfTheListener) {
  const Config before = parse_ok("listen: [\"127.0.0.1:7007\", \"127.0.0.1:8\"]\n");
  const Config after = parse_ok(
      "listen: [{address: \"127.0.0.1:7007\", proxy_protocol: v2, trusted: [\"10.0.0.0/8\"]}, "
      "\"127.0.0.1:9\"]\n");
  EXPECT_THAT(diff_configs(before, after).describe(before, after),
              ElementsAre("listen 127.0.0.1:7007 \"127.0.0.1:7007\" -> {address: "
                          "\"127.0.0.1:7007\", proxy_protocol: v2, trusted: [\"10.0.0.0/8\"], "
                          "header_timeout: 5s}",
                          "listen +127.0.0.1:9", "listen -127.0.0.1:8"));
}

}  // namespace
}  // namespace echod
