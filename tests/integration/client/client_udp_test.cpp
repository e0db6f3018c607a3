// echod-client --udp and bench --udp against a small UDP echo server, correct or faulty: each
// kind of error the bench reports is produced on purpose and must be counted as such.

#include <sys/socket.h>

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bench_run.hpp"
#include "child_process.hpp"
#include "support/client_binary.hpp"
#include "sys/socket_address.hpp"
#include "sys/unique_fd.hpp"
#include "test_udp_echo_server.hpp"

#include <nlohmann/json.hpp>

namespace echod::client::testing {
namespace {

using Behaviour = TestUdpEchoServer::Behaviour;
using nlohmann::json;
constexpr std::chrono::seconds kHang{60};

ProcessResult run_client(const std::vector<std::string>& args, std::string_view input) {
  std::vector<std::string> argv = {client_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, input, kHang);
}

BenchRun run_bench(const TestUdpEchoServer& server, const std::vector<std::string>& args,
                   const char* host = "127.0.0.1") {
  std::string port = std::to_string(server.port());
  std::vector<std::string> argv = {client_binary(), "bench", "--udp", "--json", host, port};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_json_bench(argv, kHang);
}

// Every datagram sent in the measured interval ends as one of these.
void expect_accounted(const json& report) {
  EXPECT_EQ(report["sent"].get<std::uint64_t>(), report["requests"].get<std::uint64_t>() +
                                                     report["lost"].get<std::uint64_t>() +
                                                     report["corrupted"].get<std::uint64_t>())
      << report.dump();
}

TEST(ClientUdpTest, EachLineIsOneDatagramEchoedExactly) {
  TestUdpEchoServer server;
  std::string input("first line\nsecond\0line\n\n\xff\x80 last, without newline", 44);
  auto result = run_client({"--udp", "127.0.0.1", std::to_string(server.port())}, input);
  ASSERT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, input);
  EXPECT_EQ(result.err, "");
  EXPECT_EQ(server.received(), 4U) << "one datagram per line, the empty line included";
}

TEST(ClientUdpTest, EmptyInputSendsNothing) {
  TestUdpEchoServer server;
  auto result = run_client({"--udp", "127.0.0.1", std::to_string(server.port())}, "");
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(server.received(), 0U);
}

TEST(ClientUdpTest, LongLinesAreSplitAtTheLargestPayload) {
  TestUdpEchoServer server({Behaviour::kEcho, 0, true});
  std::string input(65527 + 10, 'x');
  input += '\n';
  auto result = run_client({"-u", "[::1]:" + std::to_string(server.port())}, input);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, input);
  EXPECT_EQ(server.received(), 2U);
}

TEST(ClientUdpTest, NoEchoTimesOutPerDatagram) {
  TestUdpEchoServer server({Behaviour::kSilent});
  auto result =
      run_client({"--udp", "--timeout", "0.3", "127.0.0.1", std::to_string(server.port())}, "a\n");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("no echo of datagram 1 (2 bytes, from input byte offset 0) within "
                            "0.3 s"),
            std::string::npos)
      << result.err;
  EXPECT_GE(result.wall, std::chrono::milliseconds(300)) << "not before the timeout";
}

TEST(ClientUdpTest, ADifferentEchoIsReported) {
  TestUdpEchoServer server({Behaviour::kCorrupt, 2});
  auto result = run_client({"--udp", "127.0.0.1", std::to_string(server.port())}, "abc\nabcd\n");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "abc\n") << "what was verified before the error";
  EXPECT_NE(result.err.find("echo of datagram 2 (input byte offset 4) differs: first difference "
                            "at byte 2 (sent 0x63, received 0x43)"),
            std::string::npos)
      << result.err;
}

TEST(ClientUdpTest, NothingListeningIsAPortUnreachable) {
  // A bound UDP port that nobody reads from would swallow datagrams; a closed one answers ICMP.
  std::uint16_t port = 0;
  {
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    auto any = *SocketAddress::parse("127.0.0.1:0").address;
    ASSERT_EQ(::bind(fd.get(), any.data(), any.length()), 0);
    port = SocketAddress::local_of(fd.get()).port();
  }
  auto result = run_client({"--udp", "127.0.0.1", std::to_string(port)}, "a\n");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("port unreachable"), std::string::npos) << result.err;
}

TEST(ClientUdpBenchTest, PingPongCountsExactly) {
  TestUdpEchoServer server;
  auto run = run_bench(server, {"--messages", "2000", "--flows", "4"});
  EXPECT_EQ(run.process.exit_code, 0) << run.process.err;
  EXPECT_EQ(run.report["mode"], "udp-pingpong");
  EXPECT_EQ(run.report["sent"], 2000);
  EXPECT_EQ(run.report["requests"], 2000);
  EXPECT_EQ(run.report["bytes"], 2000 * 64);
  EXPECT_EQ(run.report["errors"]["total"], 0);
  EXPECT_EQ(server.received(), 2000U);
  const auto& latency = run.report["latency_us"];
  EXPECT_GT(latency["min"].get<double>(), 0.0);
  EXPECT_LE(latency["p50"].get<double>(), latency["p99"].get<double>());
}

TEST(ClientUdpBenchTest, OpenLoopOnTwoThreadsOverIpv6) {
  TestUdpEchoServer server({Behaviour::kEcho, 0, true});
  auto run = run_bench(
      server,
      {"--rate", "2000", "--messages", "600", "--flows", "6", "--threads", "2", "--size", "1000"},
      "::1");
  EXPECT_EQ(run.process.exit_code, 0) << run.process.err;
  EXPECT_EQ(run.report["mode"], "udp-rate");
  EXPECT_EQ(run.report["sent"], 600);
  EXPECT_EQ(run.report["requests"], 600);
  EXPECT_EQ(run.report["errors"]["total"], 0);
  // 600 datagrams at 2000/s take 0.3 s at least, whatever the machine.
  EXPECT_GE(run.process.wall, std::chrono::milliseconds(290));
}

TEST(ClientUdpBenchTest, LossIsCounted) {
  TestUdpEchoServer server({Behaviour::kDrop, 10});
  auto run = run_bench(server, {"--messages", "500", "--flows", "10", "--timeout", "0.5"});
  EXPECT_EQ(run.process.exit_code, 1);
  EXPECT_EQ(server.received(), 500U);
  // 50 were dropped; a busy machine can make more late, never fewer.
  EXPECT_GE(run.report["lost"].get<std::uint64_t>(), 50U);
  EXPECT_EQ(run.report["errors"]["loss"], run.report["lost"]);
  EXPECT_EQ(run.report["corrupted"], 0);
  EXPECT_EQ(run.report["duplicates"], 0);
  expect_accounted(run.report);
}

TEST(ClientUdpBenchTest, DuplicatesAreCounted) {
  TestUdpEchoServer server({Behaviour::kDuplicate, 10});
  auto run = run_bench(server, {"--messages", "500", "--flows", "5"});
  EXPECT_EQ(run.process.exit_code, 1);
  EXPECT_EQ(run.report["requests"], 500);
  EXPECT_EQ(run.report["lost"], 0);
  // 50 were doubled; the last ones may arrive after the client has finished.
  EXPECT_GE(run.report["duplicates"].get<std::uint64_t>(), 1U);
  EXPECT_LE(run.report["duplicates"].get<std::uint64_t>(), 50U);
  EXPECT_EQ(run.report["errors"]["duplication"], run.report["duplicates"]);
  EXPECT_NE(run.report["error_samples"][0].get<std::string>().find("echoed twice"),
            std::string::npos);
  expect_accounted(run.report);
}

TEST(ClientUdpBenchTest, CorruptionIsCountedAndAttributed) {
  TestUdpEchoServer server({Behaviour::kCorrupt, 10});
  auto run = run_bench(server, {"--messages", "500", "--flows", "5", "--size", "100"});
  EXPECT_EQ(run.process.exit_code, 1);
  EXPECT_EQ(run.report["corrupted"], 50) << "each corrupted echo is still told apart";
  EXPECT_EQ(run.report["requests"], 450);
  EXPECT_EQ(run.report["lost"], 0);
  EXPECT_EQ(run.report["errors"]["corruption"], 50);
  EXPECT_NE(run.report["error_samples"][0].get<std::string>().find("echoed with byte 50 changed"),
            std::string::npos)
      << run.report["error_samples"];
  expect_accounted(run.report);
}

TEST(ClientUdpBenchTest, ReorderingIsCounted) {
  TestUdpEchoServer server({Behaviour::kReorder, 10});
  auto run = run_bench(server, {"--rate", "1000", "--messages", "200", "--flows", "1"});
  EXPECT_EQ(run.process.exit_code, 1);
  EXPECT_EQ(run.report["requests"], 200);
  EXPECT_EQ(run.report["lost"], 0);
  EXPECT_GE(run.report["reordered"].get<std::uint64_t>(), 1U);
  EXPECT_LE(run.report["reordered"].get<std::uint64_t>(), 20U);
  EXPECT_EQ(run.report["errors"]["reordering"], run.report["reordered"]);
  expect_accounted(run.report);
}

TEST(ClientUdpBenchTest, HumanSummaryNamesTheProtocol) {
  TestUdpEchoServer server;
  auto result = run_client(
      {"bench", "--udp", "-n", "100", "-p", std::to_string(server.port()), "--quiet"}, "");
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("echod-client bench: UDP 127.0.0.1:"), std::string::npos);
  EXPECT_NE(result.out.find("ping-pong, 8 flows, 1 thread, 64 B datagrams"), std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("loss         0 (0.000 %)"), std::string::npos) << result.out;
}

}  // namespace
}  // namespace echod::client::testing
