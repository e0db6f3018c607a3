#include <netinet/in.h>

#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "client/command_line.hpp"

namespace echod::client {
namespace {

Command parse(std::vector<const char*> args, bool terminal = false) {
  return parse_command_line(args, terminal);
}

TEST(ClientCommandLineTest, StreamModeDefaultsToLocalhostPort7) {
  auto command = parse({});
  auto* options = std::get_if<StreamOptions>(&command);
  ASSERT_NE(options, nullptr);
  EXPECT_EQ(options->server.to_string(), "127.0.0.1:7");
  EXPECT_EQ(options->timeout, std::chrono::seconds(10));
}

TEST(ClientCommandLineTest, StreamModeTakesHostPortAndIpv6WithoutBrackets) {
  auto command = parse({"::1", "7007", "--timeout", "0.5"});
  auto& options = std::get<StreamOptions>(command);
  EXPECT_EQ(options.server.to_string(), "[::1]:7007");
  EXPECT_EQ(options.timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(std::get<StreamOptions>(parse({"[::1]", "9"})).server.to_string(), "[::1]:9");
  EXPECT_EQ(std::get<StreamOptions>(parse({"localhost"})).server.to_string(), "127.0.0.1:7");
}

std::string server_of(std::vector<const char*> args) {
  auto command = parse(std::move(args));
  if (auto* stream = std::get_if<StreamOptions>(&command)) return stream->server.to_string();
  return std::get<BenchOptions>(command).server.to_string();
}

std::string usage_error(std::vector<const char*> args) {
  try {
    parse(std::move(args));
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ClientCommandLineTest, StreamModeTakesEchodAddressForms) {
  EXPECT_EQ(server_of({"127.0.0.1:7007"}), "127.0.0.1:7007");
  EXPECT_EQ(server_of({"[::1]:7007"}), "[::1]:7007");
  EXPECT_EQ(server_of({"localhost:7007"}), "127.0.0.1:7007");
  EXPECT_EQ(server_of({"[2001:db8::1]:9"}), "[2001:db8::1]:9");
  EXPECT_EQ(server_of({"127.0.0.1:7007", "--timeout", "1"}), "127.0.0.1:7007");
  EXPECT_EQ(server_of({"--host", "[::1]:7007"}), "[::1]:7007");
}

TEST(ClientCommandLineTest, StreamModeKeepsHostAndPortApart) {
  EXPECT_EQ(server_of({"127.0.0.2", "7007"}), "127.0.0.2:7007");
  EXPECT_EQ(server_of({"::1", "7007"}), "[::1]:7007");
  EXPECT_EQ(server_of({"[::1]", "7007"}), "[::1]:7007");
  EXPECT_EQ(server_of({"127.0.0.2"}), "127.0.0.2:7");
  EXPECT_EQ(server_of({"[::1]"}), "[::1]:7");
  // Bare IPv6 addresses alone where no port could be meant ("[:]:1" is no address).
  EXPECT_EQ(server_of({"::1"}), "[::1]:7");
  EXPECT_EQ(server_of({"fe80::a"}), "[fe80::a]:7");
  EXPECT_EQ(server_of({"bench", "--host", "::1"}), "[::1]:7");
  EXPECT_EQ(server_of({"--host", "::1", "--port", "8"}), "[::1]:8");
  EXPECT_EQ(server_of({"--port", "8"}), "127.0.0.1:8");
}

TEST(ClientCommandLineTest, BenchTakesEchodAddressForms) {
  EXPECT_EQ(server_of({"bench", "127.0.0.1:7007"}), "127.0.0.1:7007");
  EXPECT_EQ(server_of({"bench", "-c", "4", "[::1]:7007"}), "[::1]:7007");
  EXPECT_EQ(server_of({"bench", "--host", "127.0.0.3:7007"}), "127.0.0.3:7007");
  EXPECT_EQ(server_of({"bench", "--host", "[::1]:7007", "--json"}), "[::1]:7007");
  EXPECT_EQ(server_of({"bench", "-p", "7007"}), "127.0.0.1:7007");
  EXPECT_EQ(server_of({"bench", "--host", "::1", "-p", "7007"}), "[::1]:7007");
  EXPECT_EQ(server_of({"bench", "--host", "[::1]", "--port", "7007"}), "[::1]:7007");
  EXPECT_EQ(server_of({"bench", "::1", "7007"}), "[::1]:7007");
  EXPECT_EQ(server_of({"bench", "127.0.0.2", "-p", "7007"}), "127.0.0.2:7007");
  EXPECT_EQ(server_of({"bench"}), "127.0.0.1:7");
}

TEST(ClientCommandLineTest, BenchProxyHeaders) {
  const Command v2_command = parse({"bench", "--proxy", "v2"});
  const auto& v2 = std::get<BenchOptions>(v2_command);
  EXPECT_EQ(v2.proxy_version, 2);
  EXPECT_FALSE(v2.proxy_source.has_value());
  const Command v1_command = parse({"bench", "--proxy", "v1", "--proxy-source", "2001:db8::5"});
  const auto& v1 = std::get<BenchOptions>(v1_command);
  EXPECT_EQ(v1.proxy_version, 1);
  ASSERT_TRUE(v1.proxy_source.has_value());
  EXPECT_EQ(v1.proxy_source->to_string(), "[2001:db8::5]:0");
  EXPECT_EQ(std::get<BenchOptions>(parse({"bench"})).proxy_version, 0);
  EXPECT_EQ(usage_error({"bench", "--proxy", "v3"}), "--proxy: 'v3' is not v1 or v2");
  EXPECT_EQ(usage_error({"bench", "--proxy-source", "192.0.2.1"}),
            "--proxy-source needs --proxy v1 or v2");
  EXPECT_EQ(usage_error({"bench", "--udp", "--proxy", "v1"}), "--proxy applies to TCP only");
}

TEST(ClientCommandLineTest, AddressErrorsSayWhatIsWrong) {
  EXPECT_EQ(usage_error({"[::1:7"}), "'[::1:7': missing ']'");
  EXPECT_EQ(usage_error({"bench", "--host", "[::1:7", "-p", "7"}), "'[::1:7': missing ']'");
  EXPECT_EQ(usage_error({"[::1]7"}), "'[::1]7': expected ':PORT' after ']'");
  EXPECT_EQ(usage_error({"127.0.0.1:70000"}), "port 70000 is out of range 1-65535");
  EXPECT_EQ(usage_error({"127.0.0.1", "70000"}), "port 70000 is out of range 1-65535");
  EXPECT_EQ(usage_error({"bench", "-p", "70000"}), "port 70000 is out of range 1-65535");
  EXPECT_EQ(usage_error({"[::1]:0"}), "port 0 is out of range 1-65535");
  EXPECT_EQ(usage_error({"bench", "-p", "0"}), "port 0 is out of range 1-65535");
  EXPECT_EQ(usage_error({"127.0.0.1:echo"}), "port 'echo' is not a number");
  EXPECT_EQ(usage_error({"127.0.0.1:"}), "missing port after ':'");
  EXPECT_EQ(usage_error({"bench", "--port", ""}), "the port is empty");
  EXPECT_EQ(usage_error({":7"}), "':7': missing host before ':'");
  EXPECT_EQ(usage_error({"::1:7"}),
            "'::1:7': an IPv6 address with a port must be written [::1]:7, and one without a "
            "port [::1:7]");
  // Port 0 cannot be connected to, but it does not settle the form: still ambiguous.
  EXPECT_EQ(usage_error({"::1:0"}),
            "'::1:0': an IPv6 address with a port must be written [::1]:0, and one without a "
            "port [::1:0]");
  EXPECT_EQ(usage_error({"bench", "--host", "2001:db8::1:7"}),
            "'2001:db8::1:7': an IPv6 address with a port must be written [2001:db8::1]:7, and "
            "one without a port [2001:db8::1:7]");
  EXPECT_EQ(usage_error({"1:2:3:4:5:6:7:8:9"}),
            "'1:2:3:4:5:6:7:8:9': an IPv6 address with a port must be written [1:2:3:4:5:6:7:8]:9");
  EXPECT_EQ(usage_error({"::g"}), "'::g' is not a valid IPv6 address");
  EXPECT_EQ(usage_error({"[::1]", "x"}), "port 'x' is not a number");
  EXPECT_EQ(usage_error({"bench", "--source-range", "127.0.0.1:5"}),
            "--source-range: '127.0.0.1:5': give addresses without a port");
  EXPECT_EQ(usage_error({"no-such-host.example:7"}),
            "'no-such-host.example' is not a valid IPv4 address (host names other than "
            "localhost are not resolved)");
  EXPECT_EQ(usage_error({"[127.0.0.1]:7"}), "'127.0.0.1' is not a valid IPv6 address");
}

TEST(ClientCommandLineTest, APortInTheAddressAndOneApartIsAnError) {
  EXPECT_EQ(usage_error({"127.0.0.1:7007", "7008"}),
            "the port is given twice: in '127.0.0.1:7007' and as 7008");
  EXPECT_EQ(usage_error({"bench", "127.0.0.1:7007", "-p", "7007"}),
            "the port is given twice: in '127.0.0.1:7007' and as 7007");
  EXPECT_EQ(usage_error({"bench", "--host", "[::1]:7007", "--port", "7008"}),
            "the port is given twice: in '[::1]:7007' and as 7008");
  EXPECT_THROW(parse({"bench", "--host", "127.0.0.1", "127.0.0.2"}), UsageError);
}

TEST(ClientCommandLineTest, HelpWins) {
  EXPECT_TRUE(std::holds_alternative<HelpRequest>(parse({"--help"})));
  EXPECT_TRUE(std::holds_alternative<HelpRequest>(parse({"bench", "-h"})));
}

TEST(ClientCommandLineTest, BenchOptions) {
  auto command = parse(
      {"bench", "--host", "127.0.0.2", "--port",     "7777", "--connections", "1000", "--threads",
       "2",     "--size", "64K",       "--pipeline", "16",   "--messages",    "5000", "--warmup",
       "1.5",   "--json", "--seed",    "42"},
      true);
  auto& options = std::get<BenchOptions>(command);
  EXPECT_EQ(options.server.to_string(), "127.0.0.2:7777");
  EXPECT_EQ(options.mode, BenchMode::kLoad);
  EXPECT_EQ(options.connections, 1000u);
  EXPECT_EQ(options.threads, 2u);
  EXPECT_EQ(options.size, 65536u);
  EXPECT_EQ(options.pipeline, 16u);
  EXPECT_EQ(options.messages, 5000u);
  EXPECT_EQ(options.warmup, std::chrono::milliseconds(1500));
  EXPECT_EQ(options.seed, 42u);
  EXPECT_TRUE(options.json);
  EXPECT_FALSE(options.live);  // --json replaces the live line
}

TEST(ClientCommandLineTest, BenchLiveLineOnlyOnATerminal) {
  EXPECT_TRUE(std::get<BenchOptions>(parse({"bench"}, true)).live);
  EXPECT_FALSE(std::get<BenchOptions>(parse({"bench"}, false)).live);
  EXPECT_FALSE(std::get<BenchOptions>(parse({"bench", "--quiet"}, true)).live);
}

TEST(ClientCommandLineTest, BenchModes) {
  EXPECT_EQ(std::get<BenchOptions>(parse({"bench", "--churn"})).mode, BenchMode::kChurn);
  auto idle = std::get<BenchOptions>(parse({"bench", "--idle", "--duration", "3"}));
  EXPECT_EQ(idle.mode, BenchMode::kIdle);
  EXPECT_EQ(idle.duration, std::chrono::seconds(3));
}

TEST(ClientCommandLineTest, UsageErrors) {
  std::vector<std::vector<const char*>> bad = {
      {"bench", "--churn", "--idle"},
      {"bench", "--duration", "1", "--messages", "10"},
      {"bench", "--idle", "--messages", "10"},
      {"bench", "--churn", "--pipeline", "4"},
      {"bench", "--connections", "0"},
      {"bench", "--connections", "-5"},
      {"bench", "--size", "12X"},
      {"bench", "--size", "0"},
      {"bench", "--duration", "0"},
      {"bench", "--timeout", "-1"},
      {"bench", "--bogus"},
      {"bench", "extra"},
      {"bench", "127.0.0.1", "7", "extra"},
      {"bench", "--port", "70000"},
      {"bench", "--source-range", "127.0.0.9-127.0.0.1"},
      {"bench", "--source-range", "::1-::2"},
      {"bench", "--source-range", "::1"},  // IPv6 source for an IPv4 server
      {"no-such-host.example", "7"},
      {"127.0.0.1", "7", "extra"},
  };
  for (const auto& args : bad) {
    std::string joined;
    for (const char* arg : args) joined += std::string(arg) + " ";
    EXPECT_THROW(parse(args), UsageError) << joined;
  }
}

TEST(ClientCommandLineTest, SourceRangeExpands) {
  auto sources = parse_source_range("127.0.0.1-127.0.0.254");
  ASSERT_EQ(sources.size(), 254u);
  EXPECT_EQ(sources.front().host_string(), "127.0.0.1");
  EXPECT_EQ(sources.back().host_string(), "127.0.0.254");
  EXPECT_EQ(sources[0].port(), 0);
  auto list = parse_source_range("127.0.0.5, 127.1.0.255-127.1.1.1");
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(list[1].host_string(), "127.1.0.255");
  EXPECT_EQ(list[3].host_string(), "127.1.1.1");
  auto v6 = parse_source_range("::1");
  ASSERT_EQ(v6.size(), 1u);
  EXPECT_EQ(v6[0].family(), AF_INET6);
}

TEST(ClientCommandLineTest, SizeSuffixes) {
  EXPECT_EQ(parse_size("512"), 512u);
  EXPECT_EQ(parse_size("4K"), 4096u);
  EXPECT_EQ(parse_size("64KiB"), 65536u);
  EXPECT_EQ(parse_size("1M"), 1048576u);
  EXPECT_THROW(parse_size("K"), UsageError);
  EXPECT_THROW(parse_size("1G"), UsageError);
}

}  // namespace
}  // namespace echod::client

namespace echod::client {
namespace {

std::string udp_usage_error(std::vector<const char*> args) {
  try {
    parse_command_line(args, false);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ClientCommandLineUdpTest, StreamModeUdpHasAShortPerDatagramTimeout) {
  auto command = parse_command_line(std::vector<const char*>{"--udp", "127.0.0.1", "7007"}, false);
  auto& options = std::get<StreamOptions>(command);
  EXPECT_TRUE(options.udp);
  EXPECT_EQ(options.server.to_string(), "127.0.0.1:7007");
  EXPECT_EQ(options.timeout, kDefaultUdpTimeout);
  auto explicit_timeout = parse_command_line(std::vector<const char*>{"-u", "-t", "2.5"}, false);
  EXPECT_EQ(std::get<StreamOptions>(explicit_timeout).timeout, std::chrono::milliseconds(2500));
  EXPECT_FALSE(std::get<StreamOptions>(parse_command_line(std::vector<const char*>{}, false)).udp);
}

TEST(ClientCommandLineUdpTest, BenchUdpDefaults) {
  auto command = parse_command_line(std::vector<const char*>{"bench", "--udp"}, false);
  auto& options = std::get<BenchOptions>(command);
  EXPECT_TRUE(options.udp);
  EXPECT_EQ(options.flows, 8U);
  EXPECT_EQ(options.size, 64U);
  EXPECT_FALSE(options.rate);
  EXPECT_EQ(options.timeout, kDefaultUdpTimeout);
  EXPECT_EQ(options.threads, 1U);
}

TEST(ClientCommandLineUdpTest, BenchUdpOptions) {
  auto command =
      parse_command_line(std::vector<const char*>{"bench", "-u", "[::1]:7007", "--flows", "64",
                                                  "--rate", "50000", "--size", "1400", "--threads",
                                                  "100", "-n", "1000", "--timeout", "0.2"},
                         false);
  auto& options = std::get<BenchOptions>(command);
  EXPECT_EQ(options.server.to_string(), "[::1]:7007");
  EXPECT_EQ(options.flows, 64U);
  EXPECT_EQ(options.rate, 50000.0);
  EXPECT_EQ(options.size, 1400U);
  EXPECT_EQ(options.threads, 64U) << "no more threads than flows";
  EXPECT_EQ(options.messages, 1000U);
  EXPECT_EQ(options.timeout, std::chrono::milliseconds(200));
}

TEST(ClientCommandLineUdpTest, DatagramSizesFollowTheAddressFamily) {
  EXPECT_EQ(
      std::get<BenchOptions>(
          parse_command_line(std::vector<const char*>{"bench", "--udp", "-s", "65507"}, false))
          .size,
      65507U);
  EXPECT_EQ(udp_usage_error({"bench", "--udp", "-s", "65508"}),
            "--size with --udp must be between 16 bytes (a datagram carries its flow and sequence "
            "number) and 65507 bytes (the largest UDP payload over IPv4)");
  EXPECT_EQ(std::get<BenchOptions>(
                parse_command_line(
                    std::vector<const char*>{"bench", "--udp", "[::1]:7", "-s", "65527"}, false))
                .size,
            65527U);
  EXPECT_EQ(udp_usage_error({"bench", "--udp", "[::1]:7", "-s", "65528"}),
            "--size with --udp must be between 16 bytes (a datagram carries its flow and sequence "
            "number) and 65527 bytes (the largest UDP payload over IPv6)");
  EXPECT_NE(udp_usage_error({"bench", "--udp", "-s", "15"}), "(no error)");
}

TEST(ClientCommandLineUdpTest, TcpAndUdpOptionsDoNotMix) {
  EXPECT_EQ(udp_usage_error({"bench", "--udp", "-c", "10"}),
            "--connections applies to TCP only (with --udp: --flows)");
  EXPECT_EQ(udp_usage_error({"bench", "--udp", "--pipeline", "4"}),
            "--pipeline applies to TCP only");
  EXPECT_EQ(udp_usage_error({"bench", "--udp", "--churn"}), "--churn applies to TCP only");
  EXPECT_EQ(udp_usage_error({"bench", "--flows", "4"}), "--flows applies with --udp only");
  EXPECT_EQ(udp_usage_error({"bench", "--rate", "100"}), "--rate applies with --udp only");
  EXPECT_EQ(udp_usage_error({"bench", "--udp", "--rate", "0"}),
            "--rate must be a number of datagrams per second, > 0 and <= 1e8");
  EXPECT_EQ(udp_usage_error({"bench", "--udp", "--flows", "0"}),
            "--flows must be between 1 and 1024");
  EXPECT_EQ(udp_usage_error({"bench", "--udp", "--flows", "1025"}),
            "--flows must be between 1 and 1024");
}

}  // namespace
}  // namespace echod::client
