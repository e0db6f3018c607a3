// echod-client bench against a real server: short runs, parsed from --json.

#include <chrono>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "bench_run.hpp"
#include "child_process.hpp"
#include "support/client_binary.hpp"
#include "test_echo_server.hpp"

#include <nlohmann/json.hpp>

namespace echod::client::testing {
namespace {

using Behaviour = TestEchoServer::Behaviour;
using nlohmann::json;

// Timing checks in these tests: a run must not end before what was asked of it (strict lower
// bound); the upper bound is loose, to catch only a hang, since a busy machine can be slow.
constexpr std::chrono::seconds kHang{30};

// `echod-client bench --json --timeout 5 ARGS...`, the server given by ARGS.
BenchRun run_bench_at(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {client_binary(), "bench", "--json", "--timeout", "5"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_json_bench(argv, std::chrono::seconds(60));
}

BenchRun run_bench(const TestEchoServer& server, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"--port", std::to_string(server.port())};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_bench_at(argv);
}

TEST(ClientBenchTest, PingPongMessagesAreCountedExactly) {
  TestEchoServer server;
  auto run = run_bench(server, {"--messages", "2000", "--connections", "20"});
  EXPECT_EQ(run.process.exit_code, 0) << run.process.err;
  EXPECT_EQ(run.report["requests"], 2000);
  EXPECT_EQ(run.report["bytes"], 2000 * 512);
  EXPECT_EQ(run.report["errors"]["total"], 0);
  EXPECT_EQ(run.report["connections_established"], 20);
  // The report's arithmetic, not the speed: whatever the rate, it is requests over elapsed time.
  auto elapsed = run.report["elapsed_s"].get<double>();
  ASSERT_GT(elapsed, 0.0);
  EXPECT_DOUBLE_EQ(run.report["requests_per_s"].get<double>(), 2000 / elapsed);
  const auto& latency = run.report["latency_us"];
  EXPECT_GT(latency["min"].get<double>(), 0.0);  // 2000 latencies were recorded
  EXPECT_LE(latency["min"].get<double>(), latency["p50"].get<double>());
  EXPECT_LE(latency["p50"].get<double>(), latency["p99"].get<double>());
  EXPECT_LE(latency["p99"].get<double>(), latency["max"].get<double>());
}

TEST(ClientBenchTest, PipelinedOnTwoThreadsForOneSecond) {
  TestEchoServer server;
  auto run = run_bench(server, {"--duration", "1", "--connections", "10", "--threads", "2",
                                "--pipeline", "8", "--size", "1000"});
  EXPECT_EQ(run.process.exit_code, 0) << run.process.err;
  EXPECT_GT(run.report["requests"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(run.report["errors"]["total"], 0);
  // Measured for the whole second asked for, however slow the machine; late only if it hangs.
  EXPECT_GE(run.report["elapsed_s"].get<double>(), 1.0);
  EXPECT_GE(run.process.wall, std::chrono::seconds(1));
  EXPECT_LT(run.process.wall, kHang);
}

TEST(ClientBenchTest, LargeMessagesWithWarmup) {
  TestEchoServer server;
  auto run = run_bench(
      server, {"--messages", "50", "--connections", "1", "--size", "1M", "--warmup", "0.2"});
  EXPECT_EQ(run.process.exit_code, 0) << run.process.err;
  EXPECT_EQ(run.report["requests"], 50);
  EXPECT_EQ(run.report["errors"]["total"], 0);
}

TEST(ClientBenchTest, ChurnCountsConnections) {
  TestEchoServer server;
  auto run = run_bench(server, {"--churn", "--messages", "200", "--connections", "4"});
  EXPECT_EQ(run.process.exit_code, 0) << run.process.err;
  EXPECT_EQ(run.report["requests"], 200);
  EXPECT_EQ(run.report["errors"]["total"], 0);
  EXPECT_GE(server.connections_accepted(), 200u);
}

TEST(ClientBenchTest, IdleAnnouncesWhenAllConnectionsAreUp) {
  TestEchoServer server;
  auto run = run_bench(server, {"--idle", "--connections", "100", "--duration", "0.2"});
  EXPECT_EQ(run.process.exit_code, 0) << run.process.err;
  EXPECT_NE(run.process.err.find("idle: 100 connections established\n"), std::string::npos)
      << run.process.err;
  EXPECT_EQ(run.report["idle_established"], 100);
  EXPECT_EQ(run.report["errors"]["total"], 0);
  EXPECT_GE(run.process.wall, std::chrono::milliseconds(200));  // held at least --duration
  EXPECT_LT(run.process.wall, kHang);
}

TEST(ClientBenchTest, SourceRangeBindsEachAddress) {
  TestEchoServer server;
  auto run = run_bench(
      server, {"--messages", "100", "--connections", "8", "--source-range", "127.0.0.1-127.0.0.4"});
  EXPECT_EQ(run.process.exit_code, 0) << run.process.err;
  EXPECT_EQ(run.report["errors"]["total"], 0);
}

TEST(ClientBenchTest, CorruptingServerIsCaught) {
  TestEchoServer server({.behaviour = Behaviour::kFlipByte, .fault_offset = 700});
  auto run = run_bench(server, {"--messages", "2000", "--connections", "5"});
  EXPECT_EQ(run.process.exit_code, 1);
  EXPECT_EQ(run.report["errors"]["corruption"], 5);
  EXPECT_EQ(run.report["errors"]["total"], 5);
  ASSERT_FALSE(run.report["error_samples"].empty());
  EXPECT_NE(run.report["error_samples"][0].get<std::string>().find("corruption at stream offset "
                                                                   "700"),
            std::string::npos);
}

TEST(ClientBenchTest, DuplicatingServerIsCaught) {
  TestEchoServer server({.behaviour = Behaviour::kDuplicate, .fault_offset = 2000});
  auto run = run_bench(server, {"--messages", "200", "--connections", "2"});
  EXPECT_EQ(run.process.exit_code, 1);
  EXPECT_EQ(run.report["errors"]["duplication"], 2);
}

TEST(ClientBenchTest, SilentServerTimesOut) {
  TestEchoServer server({.behaviour = Behaviour::kSilent});
  auto run =
      run_process({client_binary(), "bench", "--json", "--port", std::to_string(server.port()),
                   "--timeout", "0.3", "--messages", "10", "--connections", "2"},
                  "", std::chrono::seconds(30));
  EXPECT_EQ(run.exit_code, 1);
  auto report = json::parse(run.out);
  EXPECT_EQ(report["errors"]["timeout"], 2);
  EXPECT_GE(run.wall, std::chrono::milliseconds(300));  // --timeout must not fire early
  EXPECT_LT(run.wall, kHang);
}

TEST(ClientBenchTest, HostColonPortAddress) {
  TestEchoServer server;
  auto run = run_bench_at(
      {"127.0.0.1:" + std::to_string(server.port()), "--messages", "100", "--connections", "2"});
  EXPECT_EQ(run.process.exit_code, 0) << run.process.err;
  EXPECT_EQ(run.report["server"], "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(run.report["requests"], 100);
  EXPECT_EQ(run.report["errors"]["total"], 0);
}

TEST(ClientBenchTest, BracketedIpv6AddressWithPort) {
  std::unique_ptr<TestEchoServer> server;
  try {
    server = std::make_unique<TestEchoServer>(TestEchoServer::Options{.ipv6 = true});
  } catch (const std::system_error& e) {
    GTEST_SKIP() << "no IPv6 loopback: " << e.what();
  }
  std::string address = "[::1]:" + std::to_string(server->port());
  auto run = run_bench_at({"--host", address, "--messages", "100", "--connections", "2"});
  EXPECT_EQ(run.process.exit_code, 0) << run.process.err;
  EXPECT_EQ(run.report["server"], address);
  EXPECT_EQ(run.report["requests"], 100);
  EXPECT_EQ(run.report["errors"]["total"], 0);
}

TEST(ClientBenchTest, PortInTheAddressAndApartIsAUsageError) {
  auto run = run_process({client_binary(), "bench", "127.0.0.1:7007", "-p", "7008"}, "",
                         std::chrono::seconds(30));
  EXPECT_EQ(run.exit_code, 64);
  EXPECT_EQ(run.err,
            "echod-client: the port is given twice: in '127.0.0.1:7007' and as 7008\n"
            "Try 'echod-client --help'.\n");
}

// As echod turns away connections over its per-address limits: closed right after accept.
TEST(ClientBenchTest, ConnectionsClosedBeforeAnyEchoAreRefusedNotLost) {
  TestEchoServer server({.refuse_beyond = 4});
  auto run = run_bench(server, {"--messages", "2000", "--connections", "10"});
  EXPECT_EQ(run.process.exit_code, 1);
  EXPECT_EQ(server.connections_refused(), 6u);
  const auto& errors = run.report["errors"];
  EXPECT_EQ(errors["refused"], 6) << errors;
  EXPECT_EQ(errors["loss"], 0);
  EXPECT_EQ(errors["reset"], 0);
  EXPECT_EQ(errors["total"], 6);
  EXPECT_GT(run.report["requests"].get<std::uint64_t>(), 0u);  // the other 4 echoed
  ASSERT_FALSE(run.report["error_samples"].empty());
  EXPECT_NE(run.report["error_samples"][0].get<std::string>().find("before echoing anything"),
            std::string::npos)
      << run.report["error_samples"];
}

TEST(ClientBenchTest, ServerClosingAfterReadingButBeforeEchoingIsRefused) {
  TestEchoServer server({.behaviour = Behaviour::kCloseAtFault, .fault_offset = 1});
  auto run = run_bench(server, {"--messages", "100", "--connections", "3"});
  EXPECT_EQ(run.process.exit_code, 1);
  EXPECT_EQ(run.report["errors"]["refused"], 3);
  EXPECT_EQ(run.report["errors"]["total"], 3);
}

TEST(ClientBenchTest, ServerClosingAfterSomeEchoIsLoss) {
  // 512-byte ping-pong: the first message is echoed, the second ends the connection.
  TestEchoServer server({.behaviour = Behaviour::kCloseAtFault, .fault_offset = 1000});
  auto run = run_bench(server, {"--messages", "100", "--connections", "3"});
  EXPECT_EQ(run.process.exit_code, 1);
  EXPECT_EQ(run.report["errors"]["loss"], 3);
  EXPECT_EQ(run.report["errors"]["refused"], 0);
  EXPECT_EQ(run.report["errors"]["total"], 3);
}

TEST(ClientBenchTest, TextSummaryExplainsRefusals) {
  TestEchoServer server({.refuse_beyond = 2});
  auto run = run_process({client_binary(), "bench", "127.0.0.1:" + std::to_string(server.port()),
                          "--messages", "100", "--connections", "5", "--timeout", "5"},
                         "", std::chrono::seconds(60));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.out.find("\nerrors       3: refused 3\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("\n3 connection(s) refused: the server closed them before echoing "
                         "anything. Its per-address limits (echod: limits.max_connections_per_ip, "
                         "limits.accept_rate_per_ip) may be the cause; spread the connections "
                         "over more source addresses with --source-range, e.g. --source-range "
                         "127.0.0.1-127.0.0.16\n"),
            std::string::npos)
      << run.out;
}

TEST(ClientBenchTest, ClosedPortGivesConnectErrors) {
  std::uint16_t port = 0;
  {
    TestEchoServer gone;
    port = gone.port();
  }
  auto run = run_process({client_binary(), "bench", "--json", "--port", std::to_string(port),
                          "--messages", "10", "--connections", "3"},
                         "", std::chrono::seconds(30));
  EXPECT_EQ(run.exit_code, 1);
  auto report = json::parse(run.out);
  EXPECT_EQ(report["errors"]["connect"], 3);
  EXPECT_EQ(report["requests"], 0);
}

}  // namespace
}  // namespace echod::client::testing
