// echod-client without 'bench': standard input through a real server and back, checked.

#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <system_error>

#include <gtest/gtest.h>

#include "child_process.hpp"
#include "support/client_binary.hpp"
#include "sys/socket_address.hpp"
#include "sys/unique_fd.hpp"
#include "test_echo_server.hpp"

namespace echod::client::testing {
namespace {

using Behaviour = TestEchoServer::Behaviour;
constexpr std::chrono::seconds kTimeout{30};

ProcessResult run_client(const std::vector<std::string>& args, std::string_view input) {
  std::vector<std::string> argv = {client_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, input, kTimeout);
}

std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 random(seed);
  std::string bytes(size, '\0');
  for (auto& byte : bytes) byte = static_cast<char>(random());
  return bytes;
}

// A port on which nothing listens: bound, never listened to, so connect() is refused.
struct ClosedPort {
  UniqueFd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  std::uint16_t port = 0;
  ClosedPort() {
    auto address = *SocketAddress::parse("127.0.0.1:0").address;
    if (::bind(fd.get(), address.data(), address.length()) == 0) {
      port = SocketAddress::local_of(fd.get()).port();
    }
  }
};

TEST(ClientPipeTest, BinaryDataWithNulBytesComesBackUntouched) {
  TestEchoServer server;
  std::string input("abc\0def\n\0\xff\x80 \r\n", 15);
  input += random_bytes(1000, 1);
  auto result = run_client({"127.0.0.1", std::to_string(server.port())}, input);
  ASSERT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, input);
  EXPECT_EQ(result.err, "");
}

TEST(ClientPipeTest, FourMebibytesStreamWithoutDeadlock) {
  TestEchoServer server;
  std::string input = random_bytes(4 * 1024 * 1024, 2);
  auto result = run_client({"127.0.0.1", std::to_string(server.port())}, input);
  ASSERT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out.size(), input.size());
  EXPECT_TRUE(result.out == input);
}

TEST(ClientPipeTest, EmptyInputSucceedsWithNoOutput) {
  TestEchoServer server;
  auto result = run_client({"127.0.0.1", std::to_string(server.port())}, "");
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "");
}

TEST(ClientPipeTest, Ipv6Loopback) {
  std::unique_ptr<TestEchoServer> server;
  try {
    server = std::make_unique<TestEchoServer>(TestEchoServer::Options{.ipv6 = true});
  } catch (const std::system_error& e) {
    GTEST_SKIP() << "no IPv6 loopback: " << e.what();
  }
  auto result = run_client({"::1", std::to_string(server->port())}, "hello over ipv6\n");
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "hello over ipv6\n");
}

TEST(ClientPipeTest, HostColonPortAddress) {
  TestEchoServer server;
  auto result = run_client({"127.0.0.1:" + std::to_string(server.port())}, "host:port\n");
  ASSERT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "host:port\n");
}

TEST(ClientPipeTest, BracketedIpv6AddressWithPort) {
  std::unique_ptr<TestEchoServer> server;
  try {
    server = std::make_unique<TestEchoServer>(TestEchoServer::Options{.ipv6 = true});
  } catch (const std::system_error& e) {
    GTEST_SKIP() << "no IPv6 loopback: " << e.what();
  }
  auto result = run_client({"[::1]:" + std::to_string(server->port())}, "[v6]:port\n");
  ASSERT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "[v6]:port\n");
}

TEST(ClientPipeTest, FlippedByteIsReportedWithItsOffset) {
  TestEchoServer server({.behaviour = Behaviour::kFlipByte, .fault_offset = 12345});
  auto result = run_client({"127.0.0.1", std::to_string(server.port())}, random_bytes(50000, 3));
  ASSERT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("echod-client: echo differs from what was sent at byte offset 12345"),
            std::string::npos)
      << result.err;
  EXPECT_LE(result.out.size(), 12345u);  // nothing unverified reaches stdout
}

TEST(ClientPipeTest, ExtraBytesAreReported) {
  TestEchoServer server({.behaviour = Behaviour::kDuplicate, .fault_offset = 100});
  auto result = run_client({"127.0.0.1", std::to_string(server.port())}, random_bytes(100, 4));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("more than were sent"), std::string::npos) << result.err;
}

TEST(ClientPipeTest, ServerClosingEarlyIsAnError) {
  TestEchoServer server({.behaviour = Behaviour::kCloseAtFault, .fault_offset = 1});
  auto result = run_client({"127.0.0.1", std::to_string(server.port())}, random_bytes(5000, 5));
  ASSERT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err.rfind("echod-client: connection ", 0), 0u) << result.err;
}

TEST(ClientPipeTest, SilentServerTimesOut) {
  TestEchoServer server({.behaviour = Behaviour::kSilent});
  auto result = run_client({"127.0.0.1", std::to_string(server.port()), "--timeout", "0.3"},
                           "anyone there?\n");
  ASSERT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("timed out after 0.3 s waiting for the echo of 14 bytes"),
            std::string::npos)
      << result.err;
  // --timeout must not fire early; the upper bound is loose, to catch only a hang.
  EXPECT_GE(result.wall, std::chrono::milliseconds(300));
  EXPECT_LT(result.wall, kTimeout);
}

TEST(ClientPipeTest, RefusedConnectionNamesAddressAndErrno) {
  ClosedPort closed;
  ASSERT_NE(closed.port, 0);
  auto result = run_client({"127.0.0.1", std::to_string(closed.port)}, "x");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.err, "echod-client: connect to 127.0.0.1:" + std::to_string(closed.port) +
                            ": Connection refused\n");
}

TEST(ClientPipeTest, UsageErrorsExit64) {
  EXPECT_EQ(run_client({"127.0.0.1", "notaport"}, "").exit_code, 64);
  EXPECT_EQ(run_client({"--no-such-option"}, "").exit_code, 64);
  auto ambiguous = run_client({"::1:7007"}, "");
  EXPECT_EQ(ambiguous.exit_code, 64);
  EXPECT_EQ(ambiguous.err,
            "echod-client: '::1:7007': an IPv6 address with a port must be written [::1]:7007, "
            "and one without a port [::1:7007]\nTry 'echod-client --help'.\n");
  auto help = run_client({"--help"}, "");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("Usage: echod-client"), std::string::npos);
}

}  // namespace
}  // namespace echod::client::testing
