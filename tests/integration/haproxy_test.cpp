// A real HAProxy (Debian's haproxy, required: the test fails without it) in front of two echods,
// one receiving PROXY v2 (send-proxy-v2), one v1 (send-proxy), with echo health checks that
// carry headers too. The HAProxy configuration is the shipped example, config/haproxy/echod.cfg,
// with this test's ports. Clients bound to 127.0.0.2-4 show that limits, the access list and the
// logs act on the real client, never on HAProxy's own address (127.0.0.9).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "integration/limits_support.hpp"
#include "support/child_process.hpp"
#include "support/daemon_process.hpp"
#include "support/net_client.hpp"
#include "support/temp_dir.hpp"

namespace echod::test {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Replaces the one occurrence of `from`; fails the test when it is not there.
void replace_once(std::string& text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << "the example configuration has no '" << from << "'";
  text.replace(at, from.size(), to);
}

// An echod whose one listener is a PROXY listener trusting HAProxy's source address.
std::string echod_yaml(const std::string& mode) {
  DaemonConfig config;
  config.log_level = "debug";
  config.extra_limits.emplace_back("max_connections_per_ip: 2");
  config.extra_limits.emplace_back("access: {deny: [\"127.0.0.3/32\"]}");
  std::string yaml = config.yaml();
  replace_once(yaml, "  - \"127.0.0.1:0\"\n",
               "  - {address: \"127.0.0.1:0\", proxy_protocol: " + mode +
                   ", trusted: [\"127.0.0.9/32\"]}\n");
  return yaml;
}

// HAProxy's answer to a command on its stats socket.
std::string ask_haproxy(const std::string& socket_path, const std::string& command) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_path.c_str(), sizeof(address.sun_path) - 1);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API takes sockaddr*
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    return {};
  }
  const std::string line = command + "\n";
  if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) return {};
  std::string answer;
  std::array<char, 4096> buffer{};
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n <= 0) break;
    answer.append(buffer.data(), static_cast<std::size_t>(n));
  }
  return answer;
}

// Whether `show stat` lists the server in `state` ("UP", "DOWN").
bool server_is(const std::string& stat, const std::string& server, const std::string& state) {
  std::istringstream lines(stat);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("echods," + server + ",")) {
      return line.find("," + state + ",") != std::string::npos;
    }
  }
  return false;
}
bool server_up(const std::string& stat, const std::string& server) {
  return server_is(stat, server, "UP");
}

std::string exchange(int fd, const std::string& bytes) {
  EXPECT_TRUE(send_all(fd, bytes));
  EXPECT_EQ(::shutdown(fd, SHUT_WR), 0);
  return read_until_eof(fd, std::chrono::seconds(10)).data;
}

// One client echo through HAProxy from `source`, for a load thread: true when every byte came
// back and then the end of the connection.
bool one_echo(std::uint16_t port, const std::string& source, const std::string& payload) {
  UniqueFd fd = connect_tcp_from(source, "127.0.0.1", port, {}, std::chrono::seconds(5));
  if (!fd || !send_all(fd.get(), payload) || ::shutdown(fd.get(), SHUT_WR) != 0) return false;
  ReadResult result = read_until_eof(fd.get(), std::chrono::seconds(10));
  return result.eof && result.data == payload;
}

class HaproxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    haproxy_ = find_program("haproxy");
    ASSERT_FALSE(haproxy_.empty()) << "haproxy is not installed (scripts/setup-deps installs it)";
    ASSERT_TRUE(echod_a_.start_ready());
    ASSERT_TRUE(echod_b_.start_ready());
    // A free port for HAProxy's frontend (it cannot report one it picked itself).
    UniqueFd probe = listen_tcp("127.0.0.1");
    ASSERT_TRUE(probe.valid());
    frontend_port_ = local_port(probe.get());
    probe.reset();

    std::string config = read_file(ECHOD_HAPROXY_EXAMPLE);
    replace_once(config, "bind 127.0.0.1:7000", "bind 127.0.0.1:" + std::to_string(frontend_port_));
    replace_once(config, "127.0.0.1:7001 send-proxy-v2",
                 "127.0.0.1:" + std::to_string(echod_a_.port()) + " send-proxy-v2");
    replace_once(config, "127.0.0.1:7002 send-proxy ",
                 "127.0.0.1:" + std::to_string(echod_b_.port()) + " send-proxy ");
    stats_socket_ = (dir_.path() / "haproxy.sock").string();
    replace_once(config, "/run/haproxy/echod-admin.sock", stats_socket_);
    replace_once(config, "inter 2s fall 3 rise 2", "inter 100ms fall 3 rise 1");
    // 10000 needs an open-file limit above what a test runner may have.
    replace_once(config, "maxconn 10000", "maxconn 200");
    const auto path = dir_.write_file("haproxy.cfg", config);
    CommandResult check = run_command({haproxy_, "-c", "-f", path.string()}, clean_environment(),
                                      std::chrono::seconds(30));
    ASSERT_EQ(check.exit_code, std::optional<int>(0)) << check.out << check.err;
    haproxy_process_ = ChildProcess::spawn(
        {haproxy_, "-db", "-f", path.string()}, clean_environment(),
        (dir_.path() / "haproxy.out").string(), (dir_.path() / "haproxy.err").string());
    const bool both_up = eventually([this] {
      const std::string stat = ask_haproxy(stats_socket_, "show stat");
      return server_up(stat, "echod-a") && server_up(stat, "echod-b");
    });
    ASSERT_TRUE(both_up) << "HAProxy did not mark both echods UP:\n"
                         << ask_haproxy(stats_socket_, "show stat") << "\n"
                         << read_file((dir_.path() / "haproxy.err").string()) << "\necho-a:\n"
                         << echod_a_.log_text() << "\necho-b:\n"
                         << echod_b_.log_text();
  }

  UniqueFd connect_through(const std::string& source) {
    int error = 0;
    UniqueFd fd =
        connect_tcp_from(source, "127.0.0.1", frontend_port_, {}, std::chrono::seconds(5), &error);
    EXPECT_TRUE(fd.valid()) << "connect to HAProxy from " << source << ": " << std::strerror(error);
    return fd;
  }

  // `echod --status` of one echod.
  static std::string status_of(const DaemonProcess& echod) {
    CommandResult status =
        run_command({echod_binary(), "--control-socket", echod.control_socket_path(), "--status"},
                    clean_environment(), std::chrono::seconds(40));
    EXPECT_EQ(status.exit_code, std::optional<int>(0)) << status.err;
    return status.out;
  }

  // Whether either echod's log has `text`.
  bool logged(const std::string& text) {
    return eventually([&] { return echod_a_.log_count(text) + echod_b_.log_count(text) > 0; });
  }

  TempDir dir_;
  DaemonProcess echod_a_{echod_yaml("v2")};
  DaemonProcess echod_b_{echod_yaml("v1")};
  std::string haproxy_;
  std::uint16_t frontend_port_ = 0;
  std::string stats_socket_;
  ChildProcess haproxy_process_;
};

// Health checks carry headers (v2: LOCAL; v1: HAProxy's own addresses) and pass on both.
TEST_F(HaproxyTest, BothEchodsAreUpAndEchoForTheRealClient) {
  for (int i = 0; i < 20; ++i) {
    UniqueFd fd = connect_through("127.0.0.4");
    ASSERT_TRUE(fd.valid());
    const std::string payload = "through haproxy #" + std::to_string(i);
    EXPECT_EQ(exchange(fd.get(), payload), payload);
  }
  // Both versions carried the client: each echod names 127.0.0.4, and HAProxy as the peer.
  EXPECT_TRUE(echod_a_.wait_for_log(" from 127.0.0.4:"));
  EXPECT_TRUE(echod_b_.wait_for_log(" from 127.0.0.4:"));
  EXPECT_TRUE(echod_a_.wait_for_log("(PROXY header from 127.0.0.9:"));
  EXPECT_TRUE(echod_b_.wait_for_log("(PROXY header from 127.0.0.9:"));
  // The checks were admitted as HAProxy's own connections, and no connection was refused.
  EXPECT_TRUE(echod_a_.wait_for_log(" from 127.0.0.9:"));
  EXPECT_EQ(echod_a_.log_count("on PROXY listener") + echod_b_.log_count("on PROXY listener"), 0U)
      << echod_a_.log_text() << echod_b_.log_text();
}

// max_connections_per_ip 2 on each echod: 127.0.0.2 gets two connections on each (roundrobin
// alternates), its fifth is refused, and 127.0.0.3 (denied) is refused while 127.0.0.2 is
// served. HAProxy's address carries them all and is never the one refused; the logs name the
// clients with HAProxy as the peer, each echod's status lists 127.0.0.2 as its top client, and
// the status names 127.0.0.2 and 127.0.0.3 as the clients last refused.
TEST_F(HaproxyTest, LimitsAndAccessListActOnTheRealClient) {
  std::vector<UniqueFd> held;
  std::vector<int> fds;
  for (int i = 0; i < 5; ++i) {
    held.push_back(connect_through("127.0.0.2"));
    ASSERT_TRUE(held.back().valid());
    fds.push_back(held.back().get());
    // One at a time, so that HAProxy's roundrobin order is the order of the clients.
    ASSERT_TRUE(eventually([&] {
      return echod_a_.log_count(" from 127.0.0.2:") + echod_b_.log_count(" from 127.0.0.2:") +
                 echod_a_.log_count("refused a connection from 127.0.0.2") +
                 echod_b_.log_count("refused a connection from 127.0.0.2") >=
             static_cast<std::size_t>(i + 1);
    }));
  }
  EXPECT_EQ(count_echoing(fds, 7), 4U);
  EXPECT_TRUE(
      logged("refused a connection from 127.0.0.2: max_connections_per_ip (PROXY header "
             "from 127.0.0.9:"));
  // Each echod's status names the client holding its two connections, first: HAProxy's own
  // address holds at most a health check's one.
  for (const DaemonProcess* echod : {&echod_a_, &echod_b_}) {
    const std::string status = status_of(*echod);
    EXPECT_NE(status.find("\ntop clients    127.0.0.2 (2)"), std::string::npos) << status;
  }

  UniqueFd denied = connect_through("127.0.0.3");
  EXPECT_TRUE(refused(denied.get()));
  EXPECT_TRUE(
      logged("refused a connection from 127.0.0.3: access denied (PROXY header from "
             "127.0.0.9:"));
  EXPECT_EQ(echod_a_.log_count("refused a connection from 127.0.0.9") +
                echod_b_.log_count("refused a connection from 127.0.0.9"),
            0U);
  // A refused client holds no connection to list: the status names it as the last one refused
  // for its reason, beside the fifth connection of 127.0.0.2 refused by the per-address limit.
  const std::string status_a = status_of(echod_a_);
  const std::string status_b = status_of(echod_b_);
  EXPECT_NE((status_a + status_b).find("1 access_denied (last 127.0.0.3)"), std::string::npos)
      << status_a << status_b;
  EXPECT_NE((status_a + status_b).find("1 max_connections_per_ip (last 127.0.0.2)"),
            std::string::npos)
      << status_a << status_b;
  EXPECT_EQ((status_a + status_b).find("(last 127.0.0.9)"), std::string::npos)
      << status_a << status_b;
}

// A client loop through HAProxy while echod-a reloads and then stops gracefully: every echo
// completes (refused connects while echod-a stops are retried on echod-b), HAProxy marks
// echod-a DOWN, and echod-b serves what follows.
TEST_F(HaproxyTest, ReloadAndGracefulStopUnderLoadLoseNothing) {
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::thread load([&] {
    for (int i = 0; !stop.load(); ++i) {
      const std::string payload = "load #" + std::to_string(i) + std::string(200, 'x');
      (one_echo(frontend_port_, "127.0.0.4", payload) ? ok : failed).fetch_add(1);
      // Paced below accept_rate_per_ip (100/s), which counts 127.0.0.4 on each echod.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  auto served_more = [&](int count) {
    const int target = ok.load() + count;
    return eventually([&] { return ok.load() >= target; }, std::chrono::seconds(30));
  };
  EXPECT_TRUE(served_more(20));
  EXPECT_TRUE(echod_a_.reload(echod_yaml("v2")).has_value());
  EXPECT_TRUE(served_more(20));
  echod_a_.send_signal(SIGTERM);
  EXPECT_EQ(echod_a_.wait_exit(), std::optional<int>(0));
  EXPECT_TRUE(eventually([this] {
    return server_is(ask_haproxy(stats_socket_, "show stat"), "echod-a", "DOWN");
  })) << "HAProxy did not mark the stopped echod DOWN";
  EXPECT_TRUE(served_more(20));
  stop.store(true);
  load.join();
  EXPECT_EQ(failed.load(), 0) << "of " << ok.load() + failed.load() << " echoes";
}

}  // namespace
}  // namespace echod::test
