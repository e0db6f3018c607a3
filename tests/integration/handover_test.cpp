// Long-lived clients through changes of `workers:`. A retiring worker hands every open
// connection over to a worker that stays, and a growth spreads them again: no byte is lost,
// duplicated or reordered, no connection is closed, and each one ends exactly once, counted
// once.
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "integration/metrics_support.hpp"
#include "support/child_process.hpp"
#include "support/client_binary.hpp"
#include "support/daemon_process.hpp"
#include "support/net_client.hpp"
#include "support/temp_dir.hpp"
#include "sys/system_error.hpp"

#include <nlohmann/json.hpp>

namespace echod::test {
namespace {

using namespace std::chrono_literals;

// How long a step may take to show its effect: long, since only a hang should miss it.
constexpr auto kStep = 60s;

// The byte at `offset` of stream `stream`: every stream differs, and a lost, repeated or
// misplaced byte shows.
char pattern_byte(std::uint32_t stream, std::uint64_t offset) {
  return static_cast<char>((offset * 131 + stream * 7 + (offset >> 9)) & 0xff);
}

std::string pattern(std::uint32_t stream, std::uint64_t offset, std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = pattern_byte(stream, offset + i);
  return bytes;
}

void raise_fd_limit() {
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  limit.rlim_cur = limit.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &limit), 0);
  ASSERT_GE(limit.rlim_cur, 2500U) << "the test needs about 2,200 file descriptors";
}

// Connections that keep echoing on a thread of their own, each keeping up to `window` bytes
// in flight in messages of `message` bytes (window == message: ping-pong), and verifying every
// byte that comes back. Each stream starts at most one message per 50 ms tick: a steady load
// that leaves the machine's CPUs to the rest of the test.
class StreamingClients {
 public:
  struct Stream {
    UniqueFd fd;
    std::uint32_t id = 0;
    std::size_t message = 0;
    std::size_t window = 0;
    std::uint64_t sent = 0;
    std::uint64_t verified = 0;
    std::uint64_t last_tick = ~std::uint64_t{0};  // when its last message started
    bool open = true;
  };

  void add(UniqueFd fd, std::size_t message, std::size_t window) {
    Stream stream;
    stream.fd = std::move(fd);
    stream.id = static_cast<std::uint32_t>(streams_.size()) + 1000;
    stream.message = message;
    stream.window = window;
    streams_.push_back(std::move(stream));
  }

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  ~StreamingClients() { stop(); }

  // Messages that came back whole and verified, over every stream.
  [[nodiscard]] std::uint64_t echoed() const { return echoed_.load(); }
  [[nodiscard]] std::uint64_t corrupt() const { return corrupt_.load(); }
  [[nodiscard]] std::uint64_t closed() const { return closed_.load(); }
  // After stop(): the streams, each of which must still be open.
  [[nodiscard]] std::vector<Stream>& streams() { return streams_; }

  bool wait_echoed(std::uint64_t count) {
    return eventually([&] { return echoed() >= count; }, kStep);
  }

 private:
  void run() {
    std::vector<pollfd> fds(streams_.size());
    std::string buffer(64 * 1024, '\0');
    const auto start = Clock::now();
    while (!stop_.load()) {
      auto tick = static_cast<std::uint64_t>((Clock::now() - start) / kTick);
      for (std::size_t i = 0; i < streams_.size(); ++i) {
        const Stream& stream = streams_[i];
        short events = POLLIN;
        bool mid_message = stream.sent % stream.message != 0;
        bool room = stream.sent - stream.verified + stream.message <= stream.window;
        if (mid_message || (room && stream.last_tick != tick)) events |= POLLOUT;
        fds[i] = {stream.open ? stream.fd.get() : -1, events, 0};
      }
      if (::poll(fds.data(), fds.size(), 10) < 0 && errno != EINTR) return;
      for (std::size_t i = 0; i < streams_.size(); ++i) {
        Stream& stream = streams_[i];
        if (!stream.open || fds[i].revents == 0) continue;
        if ((fds[i].revents & POLLOUT) != 0) {
          if (stream.sent % stream.message == 0) stream.last_tick = tick;
          write_some(stream);
        }
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) read_some(stream, buffer);
      }
    }
  }

  void write_some(Stream& stream) {
    // One message at a time, from where the stream stands; a short write continues later.
    std::uint64_t in_message = stream.sent % stream.message;
    std::string bytes = pattern(stream.id, stream.sent, stream.message - in_message);
    ssize_t n = ::send(stream.fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) stream.sent += static_cast<std::uint64_t>(n);
    if (n < 0 && errno != EAGAIN && errno != EINTR) fail(stream);
  }

  void read_some(Stream& stream, std::string& buffer) {
    ssize_t n = ::recv(stream.fd.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      fail(stream);  // EOF or error: echod must never close these
      return;
    }
    for (ssize_t i = 0; i < n; ++i) {
      if (stream.verified >= stream.sent ||
          buffer[static_cast<std::size_t>(i)] != pattern_byte(stream.id, stream.verified)) {
        corrupt_.fetch_add(1);
        fail(stream);
        return;
      }
      ++stream.verified;
      if (stream.verified % stream.message == 0) echoed_.fetch_add(1);
    }
  }

  void fail(Stream& stream) {
    stream.open = false;
    closed_.fetch_add(1);
  }

  static constexpr auto kTick = std::chrono::milliseconds(50);

  std::vector<Stream> streams_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> echoed_{0};
  std::atomic<std::uint64_t> corrupt_{0};
  std::atomic<std::uint64_t> closed_{0};
};

// A client that sent `sent` bytes without reading: echod holds the echo it could not send.
struct HeldClient {
  UniqueFd fd;
  std::uint32_t id = 0;
  std::size_t sent = 0;
  bool half_closed = false;
};

HeldClient hold_back(UniqueFd fd, std::uint32_t id, bool half_close) {
  HeldClient client{std::move(fd), id, 0, half_close};
  // More than the client's socket buffers and echod's max_pending_output (64 KiB below) hold,
  // with echod's send buffer: echod keeps output pending and stops reading.
  std::string bytes = pattern(id, 0, 512 * 1024);
  client.sent = send_until_stalled(client.fd.get(), bytes, 300ms);
  if (half_close) ::shutdown(client.fd.get(), SHUT_WR);
  return client;
}

// Reads back everything a held client sent and checks it byte for byte.
void expect_echoed_back(const HeldClient& client) {
  ReadResult back = read_exact(client.fd.get(), client.sent, kStep);
  ASSERT_EQ(back.data.size(), client.sent) << "error " << errno_text(back.error);
  EXPECT_EQ(back.data, pattern(client.id, 0, client.sent));
  if (client.half_closed) {
    ReadResult rest = read_until_eof(client.fd.get(), kStep);
    EXPECT_TRUE(rest.eof);
    EXPECT_EQ(rest.error, 0) << errno_text(rest.error);
    EXPECT_TRUE(rest.data.empty());
  } else {
    EXPECT_EQ(echo_exact(client.fd.get(), "still here"), "still here");
  }
}

// The per-worker gauges of a scrape: open connections by worker.
std::vector<double> connections_per_worker(const Scrape& scrape) {
  std::vector<double> open;
  for (const auto& [series, value] : scrape.samples) {
    if (series.starts_with("echod_connections_open{")) open.push_back(value);
  }
  return open;
}

// Waits until `workers` workers serve and their gauges add up to `open`, spread evenly (a
// growth rebalances, a shrink gathers everything on the workers that stay).
Scrape wait_spread(std::uint16_t metrics, std::size_t workers, double open) {
  return scrape_until(
      metrics,
      [&](const Scrape& s) {
        std::vector<double> per_worker = connections_per_worker(s);
        if (per_worker.size() != workers) return false;
        double sum = 0;
        for (double n : per_worker) sum += n;
        auto [low, high] = std::minmax_element(per_worker.begin(), per_worker.end());
        return sum == open && *high - *low <= 1;
      },
      kStep);
}

DaemonConfig handover_config(unsigned workers) {
  DaemonConfig config;
  config.workers = workers;
  config.unlimited_clients();
  config.max_pending_output = "64KiB";
  config.metrics_listen = "127.0.0.1:0";
  config.extra_limits.insert(config.extra_limits.end(),
                             {"max_connections: 5000", "send_stall_timeout: 600s"});
  return config;
}

// 1,000 long-lived connections: ping-pong, pipelined, held under backpressure with output
// pending, and half-closed with output pending. `workers` goes 4 -> 1 -> 4 ten times while the
// streaming ones keep echoing.
TEST(HandOverTest, ThousandLongLivedConnectionsSurviveFourToOneToFour) {
  raise_fd_limit();
  DaemonConfig config = handover_config(4);
  config.extra_limits.emplace_back("idle_timeout: 600s");
  DaemonProcess daemon(config);
  std::optional<std::uint16_t> metrics = start_serving_metrics(daemon);
  ASSERT_TRUE(metrics.has_value());

  constexpr int kPingPong = 700;
  constexpr int kPipelined = 280;
  constexpr int kHeld = 10;
  constexpr int kHalfClosed = 10;
  constexpr double kTotal = kPingPong + kPipelined + kHeld + kHalfClosed;
  StreamingClients streaming;
  for (int i = 0; i < kPingPong + kPipelined; ++i) {
    UniqueFd fd = daemon.connect();
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(echo_exact(fd.get(), "hello"), "hello");
    if (i < kPingPong) {
      streaming.add(std::move(fd), 64, 64);
    } else {
      streaming.add(std::move(fd), 4096, 2 * 4096);  // pipelined, depth 2
    }
  }
  std::vector<HeldClient> held;
  for (int i = 0; i < kHeld + kHalfClosed; ++i) {
    // Small buffers, set before connect(): the client stalls soon after echod does.
    UniqueFd fd = daemon.connect(0, ConnectOptions{16 * 1024, 16 * 1024});
    ASSERT_TRUE(fd.valid());
    held.push_back(hold_back(std::move(fd), static_cast<std::uint32_t>(i), i >= kHeld));
    ASSERT_GT(held.back().sent, 256U * 1024) << "echod did not hold output back";
  }
  ASSERT_EQ(scrape_until(*metrics,
                         [&](const Scrape& s) {
                           return s.sum("echod_connections_accepted_total") == kTotal;
                         })
                .sum("echod_connections_accepted_total"),
            kTotal);
  // A half-closed client's connection may already be finished on echod's side, when the
  // kernel's buffers took all of its echo: the rest stay open throughout.
  const double open = scrape(*metrics).sum("echod_connections_open");
  ASSERT_GE(open, kTotal - kHalfClosed);
  const auto threads_before = daemon.thread_count();
  const auto fds_before = daemon.fd_count();
  ASSERT_TRUE(threads_before.has_value() && fds_before.has_value());

  streaming.start();
  ASSERT_TRUE(streaming.wait_echoed(kPingPong + kPipelined));
  // Ten 4 -> 1 -> 4 cycles (four under a sanitizer, where each takes several times longer).
  const std::size_t rounds = sanitized() ? 4 : 10;
  for (std::size_t round = 0; round < rounds; ++round) {
    for (unsigned workers : {1U, 4U}) {
      config.workers = workers;
      ASSERT_TRUE(daemon.reload(config.yaml()).has_value()) << "round " << round;
      Scrape spread = wait_spread(*metrics, workers, open);
      ASSERT_EQ(connections_per_worker(spread).size(), workers) << "round " << round;
      ASSERT_EQ(spread.sum("echod_connections_open"), open)
          << "round " << round << ": connections lost or closed\n"
          << spread.body;
      // The streams still echo on the workers they are on now.
      ASSERT_TRUE(streaming.wait_echoed(streaming.echoed() + kPingPong + kPipelined))
          << "round " << round << ", " << workers << " worker(s)";
    }
  }
  streaming.stop();
  EXPECT_EQ(streaming.corrupt(), 0U);
  EXPECT_EQ(streaming.closed(), 0U);
  // Each shrink retires three workers.
  EXPECT_TRUE(daemon.wait_for_log_count("retired after serving", 3 * rounds));
  EXPECT_GE(daemon.log_count("connection(s) to worker 0"), 3 * rounds);
  EXPECT_TRUE(eventually([&] { return daemon.thread_count() == threads_before; }))
      << "threads before " << *threads_before << ", now " << daemon.thread_count().value_or(0);
  // No descriptor left behind (the baseline may include a scrape's connection just closing).
  EXPECT_TRUE(eventually([&] { return daemon.fd_count().value_or(0) <= *fds_before; }))
      << "fds before " << *fds_before << ", now " << daemon.fd_count().value_or(0);

  // Every stream is still open and in step: one more round trip each.
  for (StreamingClients::Stream& stream : streaming.streams()) {
    ASSERT_TRUE(stream.open);
    ReadResult rest = read_exact(stream.fd.get(), stream.sent - stream.verified, kStep);
    ASSERT_EQ(rest.data, pattern(stream.id, stream.verified, stream.sent - stream.verified));
    ASSERT_EQ(echo_exact(stream.fd.get(), "end"), "end");
  }
  for (const HeldClient& client : held) expect_echoed_back(client);

  // echod closed only the half-closed ones, after their FIN, and nothing else.
  Scrape after = scrape_until(*metrics, [](const Scrape& s) {
    return s.sum("echod_connections_closed_total") >= kHalfClosed;
  });
  EXPECT_EQ(after.sum("echod_connections_closed_total"), kHalfClosed) << after.body;
  EXPECT_EQ(after[R"(echod_connections_closed_total{reason="client_close"})"], kHalfClosed);
  EXPECT_EQ(after.sum("echod_connections_accepted_total"), kTotal);
  // Each shrink hands over what the three retiring workers held: about three quarters.
  EXPECT_GE(after.sum("echod_connections_handed_over_total"),
            static_cast<double>(rounds) * kTotal / 2)
      << after.body;
}

// Clients that close (FIN or reset) while their connections move: each connection ends
// exactly once and is counted once, under the reason the client gave.
TEST(HandOverTest, ClientsClosingDuringTheHandOverAreCountedOnce) {
  DaemonConfig config = handover_config(4);
  DaemonProcess daemon(config);
  std::optional<std::uint16_t> metrics = start_serving_metrics(daemon);
  ASSERT_TRUE(metrics.has_value());
  constexpr std::size_t kClients = 400;
  std::vector<UniqueFd> clients;
  for (std::size_t i = 0; i < kClients; ++i) {
    clients.push_back(daemon.connect());
    ASSERT_TRUE(clients.back().valid());
    ASSERT_EQ(echo_exact(clients.back().get(), "hi"), "hi");
  }
  // Closes them one after another, half with FIN and half with a reset, until all are closed:
  // some before, some while and some after their worker hands them over.
  std::atomic<std::size_t> closed{0};
  std::thread closer([&] {
    for (std::size_t i = 0; i < kClients; ++i) {
      if (i % 2 == 1) set_reset_on_close(clients[i].get());
      clients[i].reset();
      closed.store(i + 1);
      std::this_thread::sleep_for(5ms);  // spreads the closes over the hand-over
    }
  });
  for (unsigned workers : {1U, 4U, 1U}) {
    config.workers = workers;
    EXPECT_TRUE(daemon.reload(config.yaml()).has_value());
  }
  closer.join();
  Scrape after = scrape_until(
      *metrics, [](const Scrape& s) { return s.sum("echod_connections_closed_total") >= kClients; },
      kStep);
  EXPECT_EQ(after.sum("echod_connections_closed_total"), kClients) << after.body;
  EXPECT_EQ(after[R"(echod_connections_closed_total{reason="client_close"})"], kClients / 2);
  EXPECT_EQ(after[R"(echod_connections_closed_total{reason="reset"})"], kClients / 2);
  EXPECT_EQ(after.sum("echod_connections_open"), 0) << after.body;
  EXPECT_GT(daemon.log_count("connection(s) to worker"), 0U);
}

// idle_timeout counts from a connection's last byte wherever that byte moved: a hand-over
// neither restarts the clock nor shortens it. The connections' last bytes move on workers
// started later than the one they end on, so a clock kept per worker would show.
TEST(HandOverTest, IdleTimeoutKeepsItsClockAcrossTheHandOver) {
  DaemonConfig config = handover_config(1);
  config.extra_limits.emplace_back("idle_timeout: 3s");
  DaemonProcess daemon(config);
  std::optional<std::uint16_t> metrics = start_serving_metrics(daemon);
  ASSERT_TRUE(metrics.has_value());
  // A first grow and shrink: the workers started below start a second or more after worker 0.
  for (unsigned workers : {2U, 1U}) {
    config.workers = workers;
    ASSERT_TRUE(daemon.reload(config.yaml()).has_value());
  }
  ASSERT_TRUE(daemon.wait_for_log("retired after serving", kStep));

  constexpr std::size_t kClients = 40;
  std::vector<UniqueFd> clients;
  for (std::size_t i = 0; i < kClients; ++i) {
    clients.push_back(daemon.connect());
    ASSERT_TRUE(clients.back().valid());
  }
  // Until their last bytes below the clients keep busy, however long the growth takes on a
  // slow machine: only the idle time after those bytes counts.
  std::atomic<bool> growing{true};
  std::thread keep_busy([&] {
    while (growing.load()) {
      for (UniqueFd& client : clients) {
        if (echo_exact(client.get(), "k") != "k") return;  // then "last" fails below
      }
      std::this_thread::sleep_for(50ms);
    }
  });
  config.workers = 4;
  EXPECT_TRUE(daemon.reload(config.yaml()).has_value());
  wait_spread(*metrics, 4, kClients);
  growing.store(false);
  keep_busy.join();
  // The last bytes, on the workers the connections are on now.
  std::vector<Clock::time_point> last_sent(kClients);
  for (std::size_t i = 0; i < kClients; ++i) {
    last_sent[i] = Clock::now();
    ASSERT_EQ(echo_exact(clients[i].get(), "last"), "last");
  }
  config.workers = 1;
  ASSERT_TRUE(daemon.reload(config.yaml()).has_value());
  for (std::size_t i = 0; i < kClients; ++i) {
    ReadResult rest = read_until_eof(clients[i].get(), 30s);
    auto idle = Clock::now() - last_sent[i];
    EXPECT_TRUE(rest.eof) << "client " << i;
    // Not before the timeout (one 100 ms tick of echod's coarse clock allowed).
    EXPECT_GE(idle, 2900ms) << "client " << i << " closed early";
  }
  Scrape after = scrape_until(
      *metrics, [](const Scrape& s) { return s.sum("echod_connections_closed_total") >= kClients; },
      kStep);
  EXPECT_EQ(after[R"(echod_connections_closed_total{reason="idle_timeout"})"], kClients);
  EXPECT_EQ(after.sum("echod_connections_closed_total"), kClients) << after.body;
}

// What a user sees: a verified load from echod-client, through two shrinks and a growth,
// reports no error of any kind, closed connections included.
TEST(HandOverTest, BenchThroughResizesReportsNoErrors) {
  DaemonConfig config = handover_config(4);
  DaemonProcess daemon(config);
  std::optional<std::uint16_t> metrics = start_serving_metrics(daemon);
  ASSERT_TRUE(metrics.has_value());
  std::string out = (daemon.dir() / "bench.json").string();
  ChildProcess bench = ChildProcess::spawn(
      {client_binary(), "bench", "--json", "--quiet", "--connections", "64", "--pipeline", "2",
       "--size", "4096", "--duration", "15", "127.0.0.1:" + std::to_string(daemon.port())},
      clean_environment(), out, (daemon.dir() / "bench.err").string());
  ASSERT_TRUE(
      scrape_until(
          *metrics, [](const Scrape& s) { return s.sum("echod_connections_open") == 64; }, kStep)
          .ok);
  for (unsigned workers : {1U, 4U, 1U}) {
    config.workers = workers;
    ASSERT_TRUE(daemon.reload(config.yaml()).has_value());
    wait_spread(*metrics, workers, 64);
  }
  EXPECT_TRUE(bench.running()) << "the load ended before the resizes did";
  EXPECT_EQ(bench.wait(kStep), 0);
  std::string text = read_file(out);
  nlohmann::json report = nlohmann::json::parse(text, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << text;
  EXPECT_EQ(report["errors"]["total"], 0) << text;
  EXPECT_EQ(report["connections_established"], 64) << text;
  EXPECT_GT(report["requests"].get<std::uint64_t>(), 0U);
  EXPECT_GT(scrape(*metrics).sum("echod_connections_handed_over_total"), 0);
}

}  // namespace
}  // namespace echod::test
