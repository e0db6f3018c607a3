// One regression test per defect of the seed example (docs: /work/shared/seed/README.md), each
// named after the defect it guards against.
#include <sys/socket.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/daemon_process.hpp"
#include "support/net_client.hpp"
#include "support/test_data.hpp"

namespace echod::test {
namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * 1024;

// Defect 1: `buf[bytes] = 0` after a read that filled the whole buffer. Reads of exactly the
// buffer size (io_buffer) and of the seed's 1024 bytes must echo exactly, over and over.
class BufferSizedReadTest : public testing::TestWithParam<std::size_t> {};

TEST_P(BufferSizedReadTest, D1_ExactlyBufferSizedMessagesEchoExactly) {
  const std::size_t io_buffer = GetParam();
  DaemonConfig config;
  config.workers = 1;
  config.io_buffer = std::to_string(io_buffer / kKiB) + "KiB";
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd client = daemon.connect();
  ASSERT_TRUE(client.valid());

  // One message at a time, each echoed before the next is written, so that each of echod's
  // reads returns exactly the message.
  std::uint64_t seed = 1;
  for (std::size_t size :
       {io_buffer, std::size_t{1024}, io_buffer, io_buffer - 1, io_buffer + 1, 2 * io_buffer}) {
    for (int round = 0; round < 4; ++round) {
      std::string message = random_bytes(size, seed++);
      ASSERT_TRUE(same_bytes(message, echo_exact(client.get(), message)))
          << size << "-byte message, round " << round;
    }
  }
  EXPECT_TRUE(daemon.running());
}

INSTANTIATE_TEST_SUITE_P(IoBuffers, BufferSizedReadTest, testing::Values(4 * kKiB, 16 * kKiB),
                         [](const testing::TestParamInfo<std::size_t>& p) {
                           return std::to_string(p.param / kKiB) + "KiB";
                         });

// Defect 2: one read per edge-triggered event stalled the connection when more than the buffer
// arrived at once. The whole burst must come back without the client sending anything more.
TEST(SeedRegression, D2_BurstLargerThanTheBufferIsEchoedWithoutMoreInput) {
  DaemonConfig config;
  config.workers = 1;
  config.io_buffer = "4KiB";
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());

  for (std::size_t size : {std::size_t{1025}, 8 * kKiB, 200 * kKiB}) {
    UniqueFd client = daemon.connect();
    ASSERT_TRUE(client.valid());
    std::string burst = random_bytes(size, size);
    ASSERT_TRUE(send_all(client.get(), burst));
    // Nothing more is sent: the echo must complete on its own.
    ReadResult echoed = read_exact(client.get(), burst.size(), std::chrono::seconds(10));
    EXPECT_TRUE(same_bytes(burst, echoed.data)) << size << "-byte burst";
  }
}

// Defect 3: write() results were ignored. A client with a tiny receive buffer that sends a lot
// before reading forces partial writes and EAGAIN on echod's side; nothing may be lost.
TEST(SeedRegression, D3_PartialWritesToASlowReaderLoseNothing) {
  DaemonProcess daemon(DaemonConfig{});
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd client = daemon.connect(0, ConnectOptions{4096, 4096});
  ASSERT_TRUE(client.valid());

  std::string payload = random_bytes(4 * kMiB, 33);
  // The client stops writing once the connection has not taken a byte for a whole second: long
  // enough that a busy machine's scheduler (echod not getting to read for a moment) does not
  // end it before echod's buffers are full.
  std::size_t before_reading = send_until_stalled(client.get(), payload, std::chrono::seconds(1));
  EXPECT_GT(before_reading, 64 * kKiB) << "the client could not even fill echod's buffers";
  EchoSession session{client.get(), payload};
  session.sent = before_reading;
  EXPECT_TRUE(run_echo_sessions(std::span<EchoSession>(&session, 1)));
  EXPECT_TRUE(same_bytes(payload, session.received));
}

// Defect 4: read() failing with EAGAIN was taken for a disconnect. A client that pauses
// mid-stream keeps its connection.
TEST(SeedRegression, D4_ClientPausingMidStreamKeepsItsConnection) {
  DaemonConfig config;
  config.workers = 1;
  config.io_buffer = "4KiB";
  config.log_level = "debug";
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd client = daemon.connect();
  ASSERT_TRUE(client.valid());

  // Exactly one buffer: echod reads again and gets EAGAIN.
  std::string first = random_bytes(4 * kKiB, 41);
  ASSERT_TRUE(same_bytes(first, echo_exact(client.get(), first)));

  // The pause: another client's whole connection comes and goes on the same worker meanwhile.
  {
    UniqueFd other = daemon.connect();
    ASSERT_TRUE(other.valid());
    std::string ping = random_bytes(1000, 42);
    ASSERT_TRUE(same_bytes(ping, echo_exact(other.get(), ping)));
  }
  ASSERT_TRUE(daemon.wait_for_log("client closed"));
  EXPECT_TRUE(quiet_and_open(client.get())) << "echod closed the paused client";

  std::string second = random_bytes(4 * kKiB + 100, 43);
  EXPECT_TRUE(same_bytes(second, echo_exact(client.get(), second)));
  EXPECT_EQ(daemon.log_count("closing fd"), 1U) << "only the other client may have been closed";
}

// Defect 5: no SIGPIPE handling, so one client resetting while the server wrote to it killed
// the server. Clients reset (SO_LINGER 0) while echod has unsent echo for them.
TEST(SeedRegression, D5_ClientsResettingWhileEchodWritesDoNotKillIt) {
  DaemonConfig config;
  config.log_level = "debug";
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd bystander = daemon.connect();
  ASSERT_TRUE(bystander.valid());
  std::string before = random_bytes(64 * kKiB, 50);
  ASSERT_TRUE(same_bytes(before, echo_exact(bystander.get(), before)));

  // Some stop reading until echod has unsent echo for them; the others reset in the middle of
  // a busy two-way stream, while echod is reading from and writing to them.
  constexpr int kResetters = 16;
  std::string flood = random_bytes(4 * kMiB, 51);
  for (int i = 0; i < kResetters; ++i) {
    bool stall = i % 4 == 0;
    UniqueFd client = daemon.connect(0, ConnectOptions{stall ? 4096 : 0, 0});
    ASSERT_TRUE(client.valid());
    if (stall) {
      // The window only sizes the unsent echo; the first bytes always fit, on any machine.
      EXPECT_GT(send_until_stalled(client.get(), flood, std::chrono::milliseconds(50)), 0U);
    } else {
      EchoSession session(client.get(), flood);
      session.abandon_after = 512 * kKiB;
      run_echo_sessions(std::span<EchoSession>(&session, 1));
      EXPECT_TRUE(
          same_bytes(std::string_view(flood).substr(0, session.received.size()), session.received));
    }
    set_reset_on_close(client.get());
  }  // each client is closed here, with RST
  // Each reset is an ordinary event: closed and logged at debug as a reset, never as a warning.
  EXPECT_TRUE(daemon.wait_for_log_count(": reset", kResetters));
  EXPECT_EQ(daemon.log_count("[warning]"), 0U)
      << "a client's reset was logged as an unexpected error:\n"
      << daemon.log_text();

  EXPECT_TRUE(daemon.running()) << daemon.log_text();
  std::string after = random_bytes(kMiB, 52);
  EXPECT_TRUE(same_bytes(after, echo_exact(bystander.get(), after)));
  UniqueFd newcomer = daemon.connect();
  ASSERT_TRUE(newcomer.valid());
  EXPECT_TRUE(same_bytes(after, echo_exact(newcomer.get(), after)));
}

// Defect 6: every message was printed with %s: binary data was mangled and the payload reached
// the log. NULs pass through, and no payload byte sequence shows up in the log at debug level.
TEST(SeedRegression, D6_BinaryPayloadPassesAndNeverReachesTheLog) {
  DaemonConfig config;
  config.log_level = "debug";
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd client = daemon.connect();
  ASSERT_TRUE(client.valid());

  const std::string marker = "PAYLOAD-MARKER-5c1e";
  std::string payload = marker + std::string("\0\0\x01\xff%s%n{}\n", 11) + random_bytes(10000, 60) +
                        std::string(1, '\0') + marker;
  EXPECT_TRUE(same_bytes(payload, echo_exact(client.get(), payload)));
  client.reset();
  ASSERT_TRUE(daemon.wait_for_log("client closed"));

  std::string log = daemon.log_text();
  EXPECT_NE(log.find("accepted fd"), std::string::npos) << "debug logging was not on";
  EXPECT_EQ(log.find(marker), std::string::npos) << "payload bytes in the log:\n" << log;
  EXPECT_EQ(log.find('\0'), std::string::npos) << "NUL bytes in the log";
}

// Defect 8: arguments were not validated (atoi, missing argv entries). Bad arguments are usage
// errors: exit 64 before anything starts. (Defect 7 is the client's; its tests live with the
// client in tests/integration/client/.)
class BadArgumentTest : public testing::TestWithParam<std::vector<std::string>> {};

TEST_P(BadArgumentTest, D8_IsAUsageError) {
  TempDir dir;
  auto config = dir.write_file("config.yaml", DaemonConfig{}.yaml());
  std::vector<std::string> argv{echod_binary(), "--config", config.string()};
  argv.insert(argv.end(), GetParam().begin(), GetParam().end());
  CommandResult result = run_command(argv, clean_environment(), std::chrono::seconds(10));
  ASSERT_TRUE(result.exit_code.has_value()) << "echod did not exit; stderr:\n" << result.err;
  EXPECT_EQ(*result.exit_code, 64) << result.err;
  EXPECT_NE(result.err.find("Try 'echod --help'"), std::string::npos) << result.err;
  EXPECT_TRUE(result.out.empty()) << result.out;
}

INSTANTIATE_TEST_SUITE_P(Arguments, BadArgumentTest,
                         testing::Values(std::vector<std::string>{"--workers", "abc"},
                                         std::vector<std::string>{"--workers", "4x"},
                                         std::vector<std::string>{"--listen"},
                                         std::vector<std::string>{"--listen", "127.0.0.1:99999"},
                                         std::vector<std::string>{"--listen", "127.0.0.1:echo"},
                                         std::vector<std::string>{"--listen", "127.0.0.1"},
                                         std::vector<std::string>{"--log-level", "loud"},
                                         std::vector<std::string>{"--no-such-option"},
                                         std::vector<std::string>{"stray-argument"}));

// Defect 9: no graceful shutdown, one thread. Four workers, clients on all of them, SIGTERM:
// every client gets its echo and a FIN, and echod exits 0.
TEST(SeedRegression, D9_GracefulShutdownWithFourWorkers) {
  DaemonConfig config;
  config.workers = 4;
  config.log_level = "debug";
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());

  constexpr std::size_t kClients = 16;
  std::vector<UniqueFd> clients;
  std::vector<std::string> payloads;
  for (std::size_t i = 0; i < kClients; ++i) {
    clients.push_back(daemon.connect());
    ASSERT_TRUE(clients.back().valid());
    payloads.push_back(random_bytes(8 * kKiB + i, 90 + i));
    ASSERT_TRUE(send_all(clients.back().get(), payloads.back()));
  }
  ASSERT_TRUE(daemon.wait_for_log_count("accepted fd", kClients));
  daemon.send_signal(SIGTERM);
  for (std::size_t i = 0; i < kClients; ++i) {
    ReadResult echoed = read_until_eof(clients[i].get(), std::chrono::seconds(10));
    EXPECT_TRUE(same_bytes(payloads[i], echoed.data)) << "client " << i;
    EXPECT_TRUE(echoed.eof) << "client " << i;
  }
  clients.clear();
  EXPECT_EQ(daemon.wait_exit(), std::optional<int>(0));
  EXPECT_NE(daemon.log_text().find("stopped after serving 16 connection(s)"), std::string::npos);
}

}  // namespace
}  // namespace echod::test
