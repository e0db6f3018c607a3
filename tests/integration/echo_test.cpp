// Echo correctness as a client sees it: sizes, concurrency, half-close, backpressure and memory.
#include <sys/socket.h>

#include <algorithm>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/daemon_process.hpp"
#include "support/net_client.hpp"
#include "support/test_data.hpp"

namespace echod::test {
namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * 1024;

class EchoSizeTest : public testing::TestWithParam<std::size_t> {};

TEST_P(EchoSizeTest, EchoesRandomBytesExactly) {
  DaemonProcess daemon(DaemonConfig{});
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd client = daemon.connect();
  ASSERT_TRUE(client.valid());

  std::string payload = random_bytes(GetParam(), GetParam());
  EXPECT_TRUE(same_bytes(payload, echo_exact(client.get(), payload)));
  // A second round on the same connection: no byte left over or lost between rounds.
  std::string again = random_bytes(GetParam(), GetParam() + 1);
  EXPECT_TRUE(same_bytes(again, echo_exact(client.get(), again)));
  EXPECT_TRUE(quiet_and_open(client.get())) << "more bytes than were sent came back";
}

INSTANTIATE_TEST_SUITE_P(Sizes, EchoSizeTest,
                         testing::Values(1, kKiB, kKiB + 1, 64 * kKiB, kMiB, 16 * kMiB),
                         [](const testing::TestParamInfo<std::size_t>& p) {
                           return std::to_string(p.param) + "Bytes";
                         });

TEST(EchoTest, TwoHundredConcurrentClientsAcrossFourWorkers) {
  DaemonConfig config;
  config.workers = 4;
  config.log_level = "debug";
  config.unlimited_clients();
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  EXPECT_NE(daemon.notifications().back().find("with 4 workers"), std::string::npos);

  constexpr std::size_t kClients = 200;
  std::vector<UniqueFd> clients;
  std::vector<std::string> payloads;
  std::vector<EchoSession> sessions;
  for (std::size_t i = 0; i < kClients; ++i) {
    clients.push_back(daemon.connect());
    ASSERT_TRUE(clients.back().valid()) << "client " << i;
    payloads.push_back(random_bytes(32 * kKiB + i * 97, 1000 + i));
  }
  for (std::size_t i = 0; i < kClients; ++i) sessions.push_back({clients[i].get(), payloads[i]});
  // Every client writes and reads at the same time.
  EXPECT_TRUE(run_echo_sessions(sessions, std::chrono::seconds(60)));
  for (std::size_t i = 0; i < kClients; ++i) {
    EXPECT_TRUE(same_bytes(payloads[i], sessions[i].received)) << "client " << i;
  }

  // SO_REUSEPORT spreads 200 connections over all four workers (the chance that one worker
  // gets none is about 4 * 0.75^200).
  ASSERT_TRUE(daemon.wait_for_log_count("accepted fd", kClients));
  for (int worker = 0; worker < 4; ++worker) {
    EXPECT_GT(daemon.log_count("worker " + std::to_string(worker) + ": accepted fd"), 0U)
        << "worker " << worker << " served no connection";
  }
}

TEST(EchoTest, HalfCloseReturnsTheWholeEchoThenEof) {
  DaemonProcess daemon(DaemonConfig{});
  ASSERT_TRUE(daemon.start_ready());
  std::string small = random_bytes(100, 7);
  std::string large = random_bytes(kMiB, 8);
  UniqueFd a = daemon.connect();
  UniqueFd b = daemon.connect();
  ASSERT_TRUE(a.valid() && b.valid());

  // a: everything is written and half-closed before a single byte is read.
  ASSERT_TRUE(send_all(a.get(), small));
  ASSERT_EQ(::shutdown(a.get(), SHUT_WR), 0);
  ReadResult echoed = read_until_eof(a.get());
  EXPECT_TRUE(same_bytes(small, echoed.data));
  EXPECT_TRUE(echoed.eof);
  EXPECT_EQ(echoed.error, 0);

  // b: a large payload, half-closed as soon as the last byte is written.
  EchoSession session{b.get(), large, true};
  EXPECT_TRUE(run_echo_sessions(std::span<EchoSession>(&session, 1)));
  EXPECT_TRUE(same_bytes(large, session.received));
  EXPECT_TRUE(session.eof);
}

TEST(BackpressureTest, SixtyFourMebibytesWrittenBeforeReadingComeBackWithBoundedMemory) {
  DaemonConfig config;
  config.max_pending_output = "64KiB";
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd client = daemon.connect();
  ASSERT_TRUE(client.valid());

  std::string payload = random_bytes(64 * kMiB, 64);
  std::size_t baseline = daemon.rss_bytes().value_or(0);
  std::size_t max_rss = baseline;
  auto sample = [&] { max_rss = std::max(max_rss, daemon.rss_bytes().value_or(0)); };

  // The client writes without reading until the connection stalls: echod has to stop reading
  // (and TCP flow control has to stop the client) instead of buffering what it cannot send.
  // The 300 ms stall window only decides when the client stops writing: a busy machine can end
  // it early (fewer bytes before reading), which cannot fail the checks below; an echod that
  // never pushes back still gets all 64 MiB through and fails the first one.
  std::size_t before_reading =
      send_until_stalled(client.get(), payload, std::chrono::milliseconds(300));
  sample();
  EXPECT_LT(before_reading, payload.size()) << "nothing pushed back on a client that never reads";

  EchoSession session{client.get(), payload};
  session.sent = before_reading;
  EXPECT_TRUE(
      run_echo_sessions(std::span<EchoSession>(&session, 1), std::chrono::seconds(120), sample));
  sample();
  EXPECT_TRUE(same_bytes(payload, session.received));

  // A sanitized echod's runtime has a large resident baseline of its own: bound the growth.
  const std::size_t limit = sanitized() ? baseline + 64 * kMiB : 64 * kMiB;
  EXPECT_LT(max_rss, limit) << "echod's VmRSS peaked at " << max_rss / kKiB << " KiB (baseline "
                            << baseline / kKiB << " KiB); " << before_reading
                            << " bytes were written before the client read";
}

TEST(EchoTest, ClosedConnectionsReleaseTheirDescriptors) {
  DaemonProcess daemon(DaemonConfig{}.unlimited_clients());
  ASSERT_TRUE(daemon.start_ready());
  auto baseline = daemon.fd_count();
  ASSERT_TRUE(baseline.has_value());

  constexpr std::size_t kClients = 100;
  std::vector<UniqueFd> clients;
  std::string payload = random_bytes(4 * kKiB, 3);
  for (std::size_t i = 0; i < kClients; ++i) {
    clients.push_back(daemon.connect());
    ASSERT_TRUE(clients.back().valid());
    // Once the echo is back, echod has accepted this connection.
    ASSERT_TRUE(same_bytes(payload, echo_exact(clients.back().get(), payload)));
  }
  EXPECT_GE(daemon.fd_count().value_or(0), *baseline + kClients);
  clients.clear();

  // /proc has no event to wait on: polled, with a generous deadline (a leak never gets there).
  auto deadline = Clock::now() + std::chrono::seconds(10);
  std::size_t now = daemon.fd_count().value_or(0);
  while (now != *baseline && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    now = daemon.fd_count().value_or(0);
  }
  EXPECT_EQ(now, *baseline) << "descriptors still open after every client closed";
}

TEST(EchoTest, Ipv6LoopbackAlongsideIpv4) {
  if (!address_available("::1")) GTEST_SKIP() << "::1 is not available on this machine";
  DaemonConfig config;
  config.listen = {"127.0.0.1:0", "[::1]:0"};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  ASSERT_TRUE(daemon.endpoint_for_host("127.0.0.1").has_value());
  auto v6 = daemon.endpoint_for_host("::1");
  ASSERT_TRUE(v6.has_value()) << daemon.notifications().back();
  EXPECT_NE(daemon.notifications().back().find("[::1]:" + std::to_string(v6->port)),
            std::string::npos);

  for (std::size_t i = 0; i < daemon.endpoints().size(); ++i) {
    UniqueFd client = daemon.connect(i);
    ASSERT_TRUE(client.valid());
    std::string payload = random_bytes(256 * kKiB, 60 + i);
    EXPECT_TRUE(same_bytes(payload, echo_exact(client.get(), payload)))
        << daemon.endpoints()[i].to_string();
  }
}

}  // namespace
}  // namespace echod::test
