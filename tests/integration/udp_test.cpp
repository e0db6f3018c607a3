// UDP echo through the real daemon: off by default, one identical reply per datagram, the
// guards and their counters, and UDP listeners opened and closed by reload. Loopback only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "control/control_socket.hpp"
#include "metrics_support.hpp"
#include "support/daemon_process.hpp"
#include "support/test_data.hpp"

namespace echod::test {
namespace {

constexpr auto kReplyTimeout = 5s;

// The UDP sockets (IPv4 and IPv6) that `pid` holds open: inode -> the kernel's count of
// datagrams dropped on it (the `drops` column of /proc/net/udp).
std::map<std::string, std::uint64_t> udp_sockets(pid_t pid) {
  std::set<std::string> held;
  const std::filesystem::path fds = "/proc/" + std::to_string(pid) + "/fd";
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(fds, error)) {
    const std::string target = std::filesystem::read_symlink(entry.path(), error).string();
    if (target.starts_with("socket:[")) held.insert(target.substr(8, target.size() - 9));
  }
  std::map<std::string, std::uint64_t> udp;
  for (const char* table : {"/proc/net/udp", "/proc/net/udp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
      std::istringstream fields(line);
      std::vector<std::string> field;
      for (std::string f; fields >> f;) field.push_back(f);
      if (field.size() >= 13 && held.contains(field[9])) {
        udp[field[9]] = std::stoull(field[12]);
      }
    }
  }
  return udp;
}

std::set<std::string> udp_socket_inodes(pid_t pid) {
  std::set<std::string> inodes;
  for (const auto& [inode, drops] : udp_sockets(pid)) inodes.insert(inode);
  return inodes;
}

sockaddr_storage to_sockaddr(const Endpoint& endpoint, socklen_t& length) {
  sockaddr_storage address{};
  if (endpoint.host.find(':') != std::string::npos) {
    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(endpoint.port);
    ::inet_pton(AF_INET6, endpoint.host.c_str(), &v6.sin6_addr);
    std::memcpy(&address, &v6, sizeof(v6));
    length = sizeof(v6);
  } else {
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    v4.sin_port = htons(endpoint.port);
    ::inet_pton(AF_INET, endpoint.host.c_str(), &v4.sin_addr);
    std::memcpy(&address, &v4, sizeof(v4));
    length = sizeof(v4);
  }
  return address;
}

// A UDP socket bound to `host`:`port` (0: an ephemeral port), connected to `server` so that
// only its datagrams are read.
UniqueFd udp_client(const Endpoint& server, const std::string& host, std::uint16_t port = 0) {
  Endpoint local{host, port};
  socklen_t local_length = 0;
  sockaddr_storage local_address = to_sockaddr(local, local_length);
  UniqueFd fd(::socket(local_address.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  int size = 1 << 20;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr_storage as sockaddr.
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&local_address), local_length) != 0) {
    ADD_FAILURE() << "bind " << local.to_string() << ": " << std::strerror(errno);
    return UniqueFd();
  }
  socklen_t length = 0;
  sockaddr_storage address = to_sockaddr(server, length);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockaddr_storage as sockaddr.
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), length) != 0) {
    ADD_FAILURE() << "connect " << server.to_string() << ": " << std::strerror(errno);
    return UniqueFd();
  }
  return fd;
}

// The next datagram on `fd`, or nullopt when none comes within `timeout`.
std::optional<std::string> receive(int fd, Clock::duration timeout = kReplyTimeout) {
  pollfd ready{fd, POLLIN, 0};
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
  if (::poll(&ready, 1, static_cast<int>(ms)) != 1) return std::nullopt;
  std::string buffer(70000, '\0');
  const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
  if (n < 0) return std::nullopt;
  buffer.resize(static_cast<std::size_t>(n));
  return buffer;
}

bool send_datagram(int fd, std::string_view payload) {
  return ::send(fd, payload.data(), payload.size(), 0) == static_cast<ssize_t>(payload.size());
}

// Whether a datagram waits on `fd` now (no wait).
bool has_datagram(int fd) {
  char byte = 0;
  return ::recv(fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC) >= 0;
}

// Echoes `payload` and checks that exactly one identical reply comes back: a marker sent after
// it on the same socket (the same flow, so the same echod socket and order) must be the next
// datagram after the reply; a second reply would come before it.
testing::AssertionResult echoed_once(int fd, const std::string& payload) {
  if (!send_datagram(fd, payload)) return testing::AssertionFailure() << "send failed";
  auto reply = receive(fd);
  if (!reply) return testing::AssertionFailure() << "no reply to " << payload.size() << " bytes";
  if (auto same = same_bytes(payload, *reply); !same) return same;
  const std::string marker = "marker-" + std::to_string(payload.size());
  if (!send_datagram(fd, marker)) return testing::AssertionFailure() << "marker send failed";
  auto next = receive(fd);
  if (!next) return testing::AssertionFailure() << "no reply to the marker";
  if (*next != marker) {
    return testing::AssertionFailure()
           << "a second reply (" << next->size() << " bytes) came before the marker";
  }
  return testing::AssertionSuccess();
}

// The sum of the samples of `metric` whose labels contain `fragment` (e.g. reason="oversize").
double sum_with(const Scrape& scrape, const std::string& metric, const std::string& fragment) {
  double total = 0;
  for (const auto& [series, value] : scrape.samples) {
    if (series.starts_with(metric + "{") && series.find(fragment) != std::string::npos) {
      total += value;
    }
  }
  return total;
}

std::string config_with_udp(std::string udp_section, unsigned workers = 2) {
  DaemonConfig config;
  config.workers = workers;
  config.metrics_listen = "127.0.0.1:0";
  return config.yaml() + "udp:\n" + udp_section;
}

TEST(UdpTest, OffByDefault) {
  DaemonConfig config;
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  // The daemon holds sockets (TCP listeners, notify, control), but no UDP one.
  EXPECT_TRUE(udp_socket_inodes(daemon.pid()).empty());
  const std::string status = notification_field(daemon.notifications().back(), "STATUS").value();
  EXPECT_EQ(status.find("UDP"), std::string::npos) << status;
}

TEST(UdpTest, EverySizeGetsExactlyOneIdenticalReplyOverIpv4AndIpv6) {
  if (!address_available("::1")) GTEST_SKIP() << "no IPv6 loopback";
  DaemonProcess daemon(config_with_udp("  listen: [\"127.0.0.1:0\", \"[::1]:0\"]\n"));
  ASSERT_TRUE(daemon.start_ready());
  auto endpoints =
      udp_endpoints(notification_field(daemon.notifications().back(), "STATUS").value());
  ASSERT_EQ(endpoints.size(), 2U);
  EXPECT_EQ(udp_socket_inodes(daemon.pid()).size(), 4U);  // two workers, two addresses

  UniqueFd v4 = udp_client(endpoints[0], "127.0.0.1");
  ASSERT_TRUE(v4.valid());
  std::uint64_t seed = 1;
  for (std::size_t size : {0UL, 1UL, 1472UL, 1473UL, 8192UL, 65507UL}) {
    EXPECT_TRUE(echoed_once(v4.get(), random_bytes(size, seed++))) << "IPv4, " << size;
  }
  UniqueFd v6 = udp_client(endpoints[1], "::1");
  ASSERT_TRUE(v6.valid());
  for (std::size_t size : {0UL, 1UL, 1472UL, 1473UL, 8192UL, 65507UL, 65527UL}) {
    EXPECT_TRUE(echoed_once(v6.get(), random_bytes(size, seed++))) << "IPv6, " << size;
  }
}

TEST(UdpTest, OversizeDatagramGetsNoReplyAndIsCounted) {
  DaemonProcess daemon(config_with_udp("  listen: [\"127.0.0.1:0\"]\n  max_datagram: 1000\n", 1));
  auto metrics = start_serving_metrics(daemon);
  ASSERT_TRUE(metrics.has_value());
  auto endpoints =
      udp_endpoints(notification_field(daemon.notifications().back(), "STATUS").value());
  ASSERT_EQ(endpoints.size(), 1U);
  UniqueFd client = udp_client(endpoints[0], "127.0.0.1");
  ASSERT_TRUE(client.valid());

  EXPECT_TRUE(echoed_once(client.get(), random_bytes(1000, 7)));
  ASSERT_TRUE(send_datagram(client.get(), random_bytes(1001, 8)));
  const std::string dropped = "echod_udp_datagrams_dropped_total";
  Scrape after = scrape_until(
      *metrics, [&](const Scrape& s) { return sum_with(s, dropped, "reason=\"oversize\"") >= 1; });
  EXPECT_EQ(sum_with(after, dropped, "reason=\"oversize\""), 1);
  EXPECT_EQ(after.sum(dropped), 1);
  // The pass that dropped it is over: a reply would be queued on the client by now.
  EXPECT_FALSE(has_datagram(client.get()));
  EXPECT_TRUE(echoed_once(client.get(), "after"));
  EXPECT_TRUE(daemon.wait_for_log("reason oversize"));
}

TEST(UdpTest, GuardedSourcePortsGetNoReplyAndMoveTheirOwnCounters) {
  // A port this test can bind, put on the deny list.
  UniqueFd holder = udp_client(Endpoint{"127.0.0.1", 9}, "127.0.0.1");
  ASSERT_TRUE(holder.valid());
  const std::uint16_t denied = local_port(holder.get());
  holder.reset();
  DaemonProcess daemon(config_with_udp(
      "  listen: [\"127.0.0.1:0\"]\n  deny_source_ports: [" + std::to_string(denied) + "]\n", 1));
  auto metrics = start_serving_metrics(daemon);
  ASSERT_TRUE(metrics.has_value());
  auto endpoints =
      udp_endpoints(notification_field(daemon.notifications().back(), "STATUS").value());
  ASSERT_EQ(endpoints.size(), 1U);
  const std::string dropped = "echod_udp_datagrams_dropped_total";

  UniqueFd from_denied = udp_client(endpoints[0], "127.0.0.1", denied);
  ASSERT_TRUE(from_denied.valid());
  ASSERT_TRUE(send_datagram(from_denied.get(), "denied"));
  Scrape scrape = scrape_until(*metrics, [&](const Scrape& s) {
    return sum_with(s, dropped, "reason=\"denied_src_port\"") >= 1;
  });
  EXPECT_EQ(sum_with(scrape, dropped, "reason=\"denied_src_port\""), 1);
  EXPECT_TRUE(daemon.wait_for_log("reason denied_src_port"));

  // echod's own port, from another loopback address: an echo loop between two echods.
  UniqueFd from_own_port = udp_client(endpoints[0], "127.0.0.2", endpoints[0].port);
  ASSERT_TRUE(from_own_port.valid());
  ASSERT_TRUE(send_datagram(from_own_port.get(), "loop"));
  scrape = scrape_until(
      *metrics, [&](const Scrape& s) { return sum_with(s, dropped, "reason=\"own_port\"") >= 1; });
  EXPECT_EQ(sum_with(scrape, dropped, "reason=\"own_port\""), 1);
  EXPECT_EQ(scrape.sum(dropped), 2);

  // One worker serves both flows in order: once an allowed client's echo is back, any reply to
  // the guarded datagrams would have been sent already.
  UniqueFd allowed = udp_client(endpoints[0], "127.0.0.1");
  ASSERT_TRUE(allowed.valid());
  EXPECT_TRUE(echoed_once(allowed.get(), "allowed"));
  EXPECT_FALSE(has_datagram(from_denied.get()));
  EXPECT_FALSE(has_datagram(from_own_port.get()));
}

TEST(UdpTest, ReceivedEqualsSentPlusDroppedWhenTheLoadStops) {
  UniqueFd holder = udp_client(Endpoint{"127.0.0.1", 9}, "127.0.0.1");
  ASSERT_TRUE(holder.valid());
  const std::uint16_t denied = local_port(holder.get());
  holder.reset();
  DaemonProcess daemon(
      config_with_udp("  listen: [\"127.0.0.1:0\"]\n  max_datagram: 2000\n"
                      "  deny_source_ports: [" +
                      std::to_string(denied) + "]\n"));
  auto metrics = start_serving_metrics(daemon);
  ASSERT_TRUE(metrics.has_value());
  auto endpoints =
      udp_endpoints(notification_field(daemon.notifications().back(), "STATUS").value());
  ASSERT_EQ(endpoints.size(), 1U);

  std::vector<UniqueFd> clients;
  for (int i = 0; i < 8; ++i) clients.push_back(udp_client(endpoints[0], "127.0.0.1"));
  clients.push_back(udp_client(endpoints[0], "127.0.0.1", denied));
  for (const UniqueFd& client : clients) ASSERT_TRUE(client.valid());
  // Closed loop (at most one datagram per client in flight), so that no queue overflows.
  constexpr int kRounds = 100;
  std::uint64_t sent = 0;
  std::uint64_t replies = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::pair<int, std::string>> expected;
    for (std::size_t i = 0; i < clients.size(); ++i) {
      // Every tenth round is over max_datagram; the last client sends from a denied port.
      const bool oversize = round % 10 == 9;
      std::string payload = random_bytes(oversize ? 2001 : 64 + i, sent);
      ASSERT_TRUE(send_datagram(clients[i].get(), payload));
      ++sent;
      if (!oversize && i + 1 < clients.size()) expected.emplace_back(clients[i].get(), payload);
    }
    for (const auto& [fd, payload] : expected) {
      auto reply = receive(fd);
      ASSERT_TRUE(reply.has_value()) << "round " << round;
      EXPECT_TRUE(same_bytes(payload, *reply));
      ++replies;
    }
  }
  const std::string received = "echod_udp_datagrams_received_total";
  const std::string echoed = "echod_udp_datagrams_sent_total";
  const std::string dropped = "echod_udp_datagrams_dropped_total";
  const std::string kernel = "echod_udp_socket_drops_total";
  // Quiet once every datagram sent is accounted for.
  Scrape last = scrape_until(*metrics, [&](const Scrape& s) {
    return s.sum(received) == static_cast<double>(sent) &&
           s.sum(received) == s.sum(echoed) + s.sum(dropped);
  });
  EXPECT_EQ(last.sum(received), static_cast<double>(sent));
  EXPECT_EQ(last.sum(received), last.sum(echoed) + last.sum(dropped));
  EXPECT_EQ(last.sum(echoed), static_cast<double>(replies));
  EXPECT_EQ(last.sum(kernel), 0);
  EXPECT_GE(sum_with(last, dropped, "reason=\"oversize\""), 1);
  EXPECT_GE(sum_with(last, dropped, "reason=\"denied_src_port\""), 1);
  EXPECT_GT(last.sum(echoed), 0);
  EXPECT_GT(replies, 0U);
}

// `echod --status` lists each UDP address with its counts and drop reasons.
TEST(UdpTest, StatusShowsEachUdpListenerWithItsDrops) {
  UniqueFd holder = udp_client(Endpoint{"127.0.0.1", 9}, "127.0.0.1");
  ASSERT_TRUE(holder.valid());
  const std::uint16_t denied = local_port(holder.get());
  holder.reset();
  DaemonProcess daemon(config_with_udp(
      "  listen: [\"127.0.0.1:0\"]\n  deny_source_ports: [" + std::to_string(denied) + "]\n", 1));
  ASSERT_TRUE(daemon.start_ready());
  auto endpoints =
      udp_endpoints(notification_field(daemon.notifications().back(), "STATUS").value());
  ASSERT_EQ(endpoints.size(), 1U);
  UniqueFd client = udp_client(endpoints[0], "127.0.0.1");
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(send_datagram(client.get(), "hello"));
  ASSERT_EQ(receive(client.get()), std::optional<std::string>("hello"));
  // One worker: the drop is logged after its pass, and after the echo's, was counted.
  UniqueFd from_denied = udp_client(endpoints[0], "127.0.0.1", denied);
  ASSERT_TRUE(from_denied.valid());
  ASSERT_TRUE(send_datagram(from_denied.get(), "denied"));
  ASSERT_TRUE(daemon.wait_for_log("reason denied_src_port"));

  const std::vector<std::string> argv{echod_binary(), "--control-socket",
                                      daemon.control_socket_path(), "--status"};
  CommandResult human = run_command(argv, clean_environment(), 40s);
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.out.find("udp            " + endpoints[0].to_string() +
                           ": 2 received, 1 echoed, 1 dropped (1 denied_src_port), 0 kernel drops"),
            std::string::npos)
      << human.out;
  EXPECT_NE(human.out.find("udp sources    "), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("listening      " + daemon.endpoints()[0].to_string() + "\n"),
            std::string::npos)
      << "the TCP line lists TCP addresses only\n"
      << human.out;
}

// One source spraying from many source ports (which the kernel spreads over both workers) is
// held to one limit: at most its burst plus its rate for the time the test took, however long
// that was; another source is not affected. Counts, not a rate: a slow machine only widens the
// bound.
TEST(UdpTest, ASourceSprayingFromManyPortsIsHeldToOneLimit) {
  DaemonProcess daemon(
      config_with_udp("  listen: [\"127.0.0.1:0\"]\n  rate_per_source: 100\n"
                      "  burst_per_source: 200\n  rate_limit_exempt: []\n"));
  auto metrics = start_serving_metrics(daemon);
  ASSERT_TRUE(metrics.has_value());
  auto endpoints =
      udp_endpoints(notification_field(daemon.notifications().back(), "STATUS").value());
  ASSERT_EQ(endpoints.size(), 1U);
  std::vector<UniqueFd> ports;
  for (int i = 0; i < 50; ++i) {
    ports.push_back(udp_client(endpoints[0], "127.0.0.1"));
    ASSERT_TRUE(ports.back().valid());
  }
  const std::string received = "echod_udp_datagrams_received_total";
  const std::string echoed = "echod_udp_datagrams_sent_total";
  const std::string limited = "reason=\"rate_limited_source\"";
  const std::string dropped = "echod_udp_datagrams_dropped_total";
  // In rounds small enough for the receive queues, each read by echod before the next.
  constexpr int kRounds = 10;
  const auto start = Clock::now();
  std::size_t sent = 0;
  Scrape last;
  for (int round = 0; round < kRounds; ++round) {
    for (const UniqueFd& port : ports) {
      ASSERT_TRUE(send_datagram(port.get(), random_bytes(64, sent)));
      ++sent;
    }
    // Each pass adds what it received, then what it echoed and dropped: wait for both.
    last = scrape_until(*metrics, [&](const Scrape& s) {
      return s.sum(received) == static_cast<double>(sent) &&
             s.sum(echoed) + s.sum(dropped) == static_cast<double>(sent);
    });
    ASSERT_EQ(last.sum(received), static_cast<double>(sent));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double echoes = last.sum(echoed);
  EXPECT_EQ(echoes + sum_with(last, dropped, limited), static_cast<double>(sent));
  EXPECT_GE(echoes, 200);                      // the burst
  EXPECT_LE(echoes, 200 + 100 * seconds + 1);  // the burst and the rate, however slow the run
  std::size_t replies = 0;
  for (const UniqueFd& port : ports) {
    while (has_datagram(port.get())) {
      if (receive(port.get(), 0s)) ++replies;
    }
  }
  EXPECT_EQ(static_cast<double>(replies), echoes);

  // Another source has its own bucket.
  UniqueFd other = udp_client(endpoints[0], "127.0.0.2");
  ASSERT_TRUE(other.valid());
  EXPECT_TRUE(echoed_once(other.get(), "another source"));
  EXPECT_TRUE(daemon.wait_for_log("reason rate_limited_source"));
}

// The kernel drops what overflows a socket's receive queue while its worker is wedged (a test
// hook): echod's count of those drops matches the `drops` column of /proc/net/udp.
TEST(UdpTest, KernelDropsMatchProcNetUdp) {
  DaemonProcess daemon(config_with_udp("  listen: [\"127.0.0.1:0\"]\n", 1));
  auto metrics = start_serving_metrics(daemon);
  ASSERT_TRUE(metrics.has_value());
  auto endpoints =
      udp_endpoints(notification_field(daemon.notifications().back(), "STATUS").value());
  ASSERT_EQ(endpoints.size(), 1U);
  UniqueFd client = udp_client(endpoints[0], "127.0.0.1");
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(echoed_once(client.get(), "before"));

  std::string reply = control_request(daemon.control_socket_path(), "test-wedge 0 120000", 5000);
  if (reply.find("unknown command") != std::string::npos) {
    GTEST_SKIP() << "echod was built without ECHOD_TEST_HOOKS";
  }
  ASSERT_NE(reply.find("\"ok\""), std::string::npos) << reply;
  ASSERT_TRUE(daemon.wait_for_log("worker 0: wedged for 120000 ms"));
  // Far more than a default receive queue (about 200 KiB) holds.
  constexpr int kFlood = 2000;
  const std::string payload = random_bytes(1000, 3);
  for (int i = 0; i < kFlood; ++i) ASSERT_TRUE(send_datagram(client.get(), payload));
  auto proc_drops = [&daemon] {
    std::uint64_t total = 0;
    for (const auto& [inode, drops] : udp_sockets(daemon.pid())) total += drops;
    return total;
  };
  ASSERT_TRUE(eventually([&] { return proc_drops() > 0; }));
  reply = control_request(daemon.control_socket_path(), "test-unwedge 0", 5000);
  ASSERT_NE(reply.find("\"ok\""), std::string::npos) << reply;

  const std::string received = "echod_udp_datagrams_received_total";
  const std::string kernel = "echod_udp_socket_drops_total";
  // What was queued is echoed (2 datagrams before the flood)...
  ASSERT_TRUE(scrape_until(*metrics, [&](const Scrape& s) {
                return s.sum(received) + static_cast<double>(proc_drops()) == 2 + kFlood;
              }).ok);
  while (has_datagram(client.get())) receive(client.get(), 0s);
  // ...and the kernel reports its drop count with the next datagram.
  ASSERT_TRUE(echoed_once(client.get(), "after"));
  const std::uint64_t dropped = proc_drops();
  Scrape last = scrape_until(*metrics, [&](const Scrape& s) {
    return s.sum(kernel) == static_cast<double>(dropped) &&
           s.sum(received) + s.sum(kernel) == static_cast<double>(kFlood + 4);
  });
  EXPECT_EQ(last.sum(kernel), static_cast<double>(dropped));
  EXPECT_EQ(last.sum(received) + last.sum(kernel), static_cast<double>(kFlood + 4));
}

// Closed-loop UDP load (one datagram in flight per client socket) on a thread of its own:
// counts the datagrams answered, lost (no reply within kReplyTimeout, which only a datagram
// echod never answered can miss), corrupted and duplicated. Each payload starts with its
// sequence number, and the rest follows from it: a reply that is a whole earlier payload is a
// duplicate (a second echo of one datagram), any other wrong reply is corrupt.
class UdpLoad {
 public:
  UdpLoad(const Endpoint& server, int sockets) {
    for (int i = 0; i < sockets; ++i) sockets_.push_back(udp_client(server, "127.0.0.1"));
  }
  UdpLoad(const UdpLoad&) = delete;
  UdpLoad& operator=(const UdpLoad&) = delete;
  ~UdpLoad() { stop(); }

  [[nodiscard]] bool valid() const {
    return std::all_of(sockets_.begin(), sockets_.end(),
                       [](const UniqueFd& fd) { return fd.valid(); });
  }
  void start() {
    thread_ = std::thread([this] { run(); });
  }
  // Stops after the datagrams in flight are answered (or lost), then counts as duplicates the
  // replies still queued: none was asked for.
  void stop() {
    stop_.store(true);
    if (!thread_.joinable()) return;
    thread_.join();
    for (const UniqueFd& fd : sockets_) {
      while (has_datagram(fd.get())) {
        if (receive(fd.get(), 0s)) duplicated_.fetch_add(1);
      }
    }
  }
  [[nodiscard]] std::uint64_t answered() const { return answered_.load(); }
  [[nodiscard]] std::uint64_t sent() const { return sent_.load(); }
  [[nodiscard]] std::uint64_t lost() const { return lost_.load(); }
  [[nodiscard]] std::uint64_t corrupted() const { return corrupted_.load(); }
  [[nodiscard]] std::uint64_t duplicated() const { return duplicated_.load(); }
  [[nodiscard]] std::uint64_t failed_sends() const { return failed_sends_.load(); }
  [[nodiscard]] std::string summary() const {
    return std::to_string(lost()) + " lost, " + std::to_string(corrupted()) + " corrupted, " +
           std::to_string(duplicated()) + " duplicated of " + std::to_string(sent()) + " sent";
  }
  // Waits until `count` more datagrams than now have been answered.
  bool progress(std::uint64_t count, Clock::duration timeout = 30s) const {
    const std::uint64_t target = answered() + count;
    return eventually([&] { return answered() >= target || lost() > 0; }, timeout) &&
           answered() >= target;
  }

 private:
  // 8 bytes of sequence number, then 24 to 223 bytes that depend on it alone.
  static std::string payload(std::uint64_t sequence) {
    std::string bytes(sizeof(sequence), '\0');
    std::memcpy(bytes.data(), &sequence, sizeof(sequence));
    return bytes + random_bytes(24 + (sequence % 200), sequence);
  }
  static bool is_earlier_payload(const std::string& reply, std::uint64_t current) {
    std::uint64_t sequence = 0;
    if (reply.size() < sizeof(sequence)) return false;
    std::memcpy(&sequence, reply.data(), sizeof(sequence));
    return sequence < current && reply == payload(sequence);
  }

  // The reply to `expected` (sequence number `sequence`) on `fd`: duplicates of earlier
  // payloads are counted and skipped, within one kReplyTimeout in all.
  void await_reply(int fd, const std::string& expected, std::uint64_t sequence) {
    const auto deadline = Clock::now() + kReplyTimeout;
    while (true) {
      auto reply = receive(fd, std::max<Clock::duration>(deadline - Clock::now(), 0s));
      if (!reply) {
        lost_.fetch_add(1);
        return;
      }
      if (*reply == expected) {
        answered_.fetch_add(1);
        return;
      }
      if (!is_earlier_payload(*reply, sequence)) {
        corrupted_.fetch_add(1);
        return;
      }
      duplicated_.fetch_add(1);
    }
  }

  void run() {
    std::uint64_t sequence = 0;
    std::vector<std::string> payloads(sockets_.size());
    std::vector<std::uint64_t> sequences(sockets_.size());
    std::vector<bool> in_flight(sockets_.size());
    while (!stop_.load()) {
      for (std::size_t i = 0; i < sockets_.size(); ++i) {
        sequences[i] = sequence++;
        payloads[i] = payload(sequences[i]);
        in_flight[i] = send_datagram(sockets_[i].get(), payloads[i]);
        (in_flight[i] ? sent_ : failed_sends_).fetch_add(1);
      }
      for (std::size_t i = 0; i < sockets_.size(); ++i) {
        if (in_flight[i]) await_reply(sockets_[i].get(), payloads[i], sequences[i]);
      }
    }
  }

  std::vector<UniqueFd> sockets_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> answered_{0};
  std::atomic<std::uint64_t> lost_{0};
  std::atomic<std::uint64_t> corrupted_{0};
  std::atomic<std::uint64_t> duplicated_{0};
  std::atomic<std::uint64_t> failed_sends_{0};
};

// After the load stopped: every datagram it sent was received and echoed once by echod, none
// dropped by echod or by the kernel.
void expect_every_datagram_echoed_once(std::uint16_t metrics, const UdpLoad& load) {
  const std::string received = "echod_udp_datagrams_received_total";
  const std::string echoed = "echod_udp_datagrams_sent_total";
  const auto sent = static_cast<double>(load.sent());
  Scrape last = scrape_until(
      metrics, [&](const Scrape& s) { return s.sum(received) == sent && s.sum(echoed) == sent; });
  EXPECT_EQ(last.sum(received), sent);
  EXPECT_EQ(last.sum(echoed), sent);
  EXPECT_EQ(last.sum("echod_udp_datagrams_dropped_total"), 0);
  EXPECT_EQ(last.sum("echod_udp_socket_drops_total"), 0);
}

// Workers 4 -> 1 -> 4 under UDP load: new workers get sockets, retiring ones stop receiving
// (steered away, then connected to themselves) and echo what they had queued before closing.
// Not one datagram is lost.
TEST(UdpTest, WorkerResizeUnderLoadLosesNothing) {
  DaemonConfig config;
  config.workers = 4;
  config.metrics_listen = "127.0.0.1:0";
  const std::string udp = "udp:\n  listen: [\"127.0.0.1:0\"]\n";
  DaemonProcess daemon(config.yaml() + udp);
  auto metrics = start_serving_metrics(daemon);
  ASSERT_TRUE(metrics.has_value());
  auto endpoints =
      udp_endpoints(notification_field(daemon.notifications().back(), "STATUS").value());
  ASSERT_EQ(endpoints.size(), 1U);
  EXPECT_EQ(udp_socket_inodes(daemon.pid()).size(), 4U);

  UdpLoad load(endpoints[0], 16);
  ASSERT_TRUE(load.valid());
  load.start();
  ASSERT_TRUE(load.progress(200));
  for (std::size_t round = 0; round < 3; ++round) {
    for (unsigned workers : {1U, 4U}) {
      config.workers = workers;
      auto ready = daemon.reload(config.yaml() + udp);
      ASSERT_TRUE(ready.has_value()) << "round " << round << ", " << workers << " workers";
      // The UDP listener stays open across the resize, on the same port.
      EXPECT_EQ(udp_endpoints(notification_field(*ready, "STATUS").value_or("")), endpoints);
      ASSERT_TRUE(load.progress(200))
          << "round " << round << ", " << workers << " workers: " << load.summary();
    }
    ASSERT_TRUE(daemon.wait_for_log_count("retired after serving", 3 * (round + 1), 30s));
  }
  load.stop();
  EXPECT_EQ(load.lost(), 0U);
  EXPECT_EQ(load.corrupted(), 0U);
  EXPECT_EQ(load.duplicated(), 0U);
  EXPECT_EQ(load.failed_sends(), 0U);
  EXPECT_EQ(udp_socket_inodes(daemon.pid()).size(), 4U);
  expect_every_datagram_echoed_once(*metrics, load);
}

// The `udp:` section of the reload storm: the listener stays, the rest changes with `variant`.
// The load comes from 127.0.0.1 and is not exempt from the rate limits, so every datagram goes
// through the rate table, with limits far above what 16 closed-loop flows reach (one source).
std::string storm_udp_section(int variant) {
  const bool odd = variant % 2 == 1;
  std::string udp = "udp:\n  listen: [\"127.0.0.1:0\"]\n  rate_limit_exempt: []\n";
  udp += std::string("  rate_per_source: ") + (odd ? "2000000" : "1000000") + "\n";
  udp += std::string("  burst_per_source: ") + (odd ? "4000000" : "2000000") + "\n";
  udp += std::string("  bytes_per_source: ") + (odd ? "1GiB" : "512MiB") + "\n";
  udp += std::string("  rate_global: ") + (odd ? "3000000" : "2000000") + "\n";
  // Ports no client of the load has (its ports are ephemeral, 32768 and up).
  udp += odd ? "  deny_source_ports: [2049, 1900, 3702, 5353, 5683, 11211, 27960, 20000]\n"
             : "  deny_source_ports: [2049, 1900]\n";
  udp += std::string("  min_source_port: ") + (variant % 3 == 0 ? "2048" : "1024") + "\n";
  if (variant % 4 == 1) udp += "  access:\n    deny: [\"192.0.2.0/24\"]\n";
  return udp;
}

// 30 reloads (SIGHUP, each waited for to READY=1) while 16 closed-loop flows echo, most of
// them changing the UDP rate limits, deny list and access list, and in the middle workers
// 4 -> 1 -> 4. The listener's sockets stay open throughout (the same inodes, apart from those
// of the workers the resize retires and adds), and not one datagram is lost, corrupted or
// echoed twice. Unlike WorkerResizeUnderLoadLosesNothing, every reload here but two keeps the
// worker count: what is tested is that a reload swapping the guard and limits under the
// workers' feet does not disturb a datagram.
TEST(UdpTest, ReloadStormUnderLoadLosesNothing) {
  DaemonConfig config;
  config.workers = 4;
  config.metrics_listen = "127.0.0.1:0";
  DaemonProcess daemon(config.yaml() + storm_udp_section(0));
  auto metrics = start_serving_metrics(daemon);
  ASSERT_TRUE(metrics.has_value());
  auto endpoints =
      udp_endpoints(notification_field(daemon.notifications().back(), "STATUS").value());
  ASSERT_EQ(endpoints.size(), 1U);
  std::set<std::string> inodes = udp_socket_inodes(daemon.pid());
  ASSERT_EQ(inodes.size(), 4U);

  UdpLoad load(endpoints[0], 16);
  ASSERT_TRUE(load.valid());
  load.start();
  ASSERT_TRUE(load.progress(200)) << load.summary();
  constexpr int kReloads = 30;
  constexpr int kShrinkAt = 12;  // to 1 worker
  constexpr int kGrowAt = 18;    // back to 4
  for (int i = 1; i <= kReloads; ++i) {
    const std::string what = "reload " + std::to_string(i);
    config.workers = i == kShrinkAt ? 1 : i == kGrowAt ? 4 : config.workers;
    auto ready = daemon.reload(config.yaml() + storm_udp_section(i));
    ASSERT_TRUE(ready.has_value()) << what;
    const std::string status = notification_field(*ready, "STATUS").value_or("");
    EXPECT_TRUE(status.starts_with("Serving ")) << what << ": " << status;
    EXPECT_EQ(udp_endpoints(status), endpoints) << what << ": " << status;
    if (i == kShrinkAt) {
      // Three workers retire: their sockets close once drained, the remaining one stays.
      ASSERT_TRUE(daemon.wait_for_log_count("retired after serving", 3, 30s)) << what;
      EXPECT_TRUE(eventually([&] { return udp_socket_inodes(daemon.pid()).size() == 1; })) << what;
      const std::set<std::string> now = udp_socket_inodes(daemon.pid());
      ASSERT_EQ(now.size(), 1U) << what;
      EXPECT_TRUE(inodes.contains(*now.begin())) << what << ": the remaining socket was replaced";
      inodes = now;
    } else if (i == kGrowAt) {
      const std::set<std::string> now = udp_socket_inodes(daemon.pid());
      EXPECT_EQ(now.size(), 4U) << what;
      EXPECT_TRUE(now.contains(*inodes.begin())) << what << ": the remaining socket was replaced";
      inodes = now;
    } else {
      EXPECT_EQ(udp_socket_inodes(daemon.pid()), inodes) << what << ": a UDP socket was reopened";
    }
    // Echoes go on in every generation.
    ASSERT_TRUE(load.progress(50)) << what << ": " << load.summary();
  }
  EXPECT_TRUE(daemon.wait_for_log("configuration reloaded (generation 31)"));
  // Each reload applied its UDP keys (the reload summary names every key that changed).
  EXPECT_EQ(daemon.log_count("udp.rate_per_source "), static_cast<std::size_t>(kReloads));
  EXPECT_EQ(daemon.log_count("udp.deny_source_ports "), static_cast<std::size_t>(kReloads));
  load.stop();
  EXPECT_EQ(load.lost(), 0U) << load.summary();
  EXPECT_EQ(load.corrupted(), 0U) << load.summary();
  EXPECT_EQ(load.duplicated(), 0U) << load.summary();
  EXPECT_EQ(load.failed_sends(), 0U);
  EXPECT_EQ(udp_socket_inodes(daemon.pid()), inodes);
  expect_every_datagram_echoed_once(*metrics, load);
  EXPECT_EQ(scrape(*metrics).sum("echod_udp_listeners"), 1);
}

TEST(UdpTest, ReloadOpensAndClosesUdpSockets) {
  DaemonConfig config;
  const std::string without = config.yaml();
  DaemonProcess daemon(without);
  ASSERT_TRUE(daemon.start_ready());
  EXPECT_TRUE(udp_socket_inodes(daemon.pid()).empty());

  auto ready = daemon.reload(without + "udp:\n  listen: [\"127.0.0.1:0\"]\n");
  ASSERT_TRUE(ready.has_value());
  auto endpoints = udp_endpoints(notification_field(*ready, "STATUS").value_or(""));
  ASSERT_EQ(endpoints.size(), 1U) << *ready;
  EXPECT_EQ(udp_socket_inodes(daemon.pid()).size(), 2U);  // one per worker
  UniqueFd client = udp_client(endpoints[0], "127.0.0.1");
  ASSERT_TRUE(client.valid());
  EXPECT_TRUE(echoed_once(client.get(), "after enabling"));
  EXPECT_TRUE(daemon.wait_for_log("udp.listen +127.0.0.1:0/udp"));

  ready = daemon.reload(without);
  ASSERT_TRUE(ready.has_value());
  EXPECT_TRUE(udp_endpoints(notification_field(*ready, "STATUS").value_or("")).empty()) << *ready;
  // The workers close their sockets as they process the removal.
  EXPECT_TRUE(eventually([&] { return udp_socket_inodes(daemon.pid()).empty(); }));
  EXPECT_TRUE(daemon.wait_for_log("udp.listen -127.0.0.1:0/udp"));
}

}  // namespace
}  // namespace echod::test
