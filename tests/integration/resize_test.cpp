// `workers:` changes on reload while 200 clients churn connections: new workers start, the
// last ones retire, and no client sees a refused or reset connection.
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "integration/churn_support.hpp"

namespace echod::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kProgress = 20s;

// Resizes `rounds` times 4 -> 1 -> 4 under churn, checking after each step that the new
// worker count is reported and that clients keep being served.
void resize_under_churn(DaemonProcess& daemon, DaemonConfig config, int rounds,
                        ChurnClients& churn) {
  for (int round = 0; round < rounds; ++round) {
    for (unsigned workers : {1U, 4U}) {
      config.workers = workers;
      auto ready = daemon.reload(config.yaml());
      ASSERT_TRUE(ready.has_value()) << "round " << round << ", " << workers << " workers";
      std::string status = notification_field(*ready, "STATUS").value_or("");
      ASSERT_TRUE(status.starts_with("Serving ")) << status;
      EXPECT_NE(status.find("with " + std::to_string(workers) + " workers"), std::string::npos)
          << status;
      ASSERT_TRUE(churn.wait_completed(churn.completed() + 200, kProgress))
          << "clients are not served with " << workers << " worker(s)";
    }
  }
}

TEST_F(ChurnTest, WorkersFourToOneAndBackDropsNothing) {
  DaemonConfig config = churn_config();
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  const auto threads_before = daemon.thread_count();
  ASSERT_TRUE(threads_before.has_value());
  ChurnClients churn("127.0.0.1", daemon.port(), kChurnClients);
  churn.start();
  ASSERT_TRUE(churn.wait_completed(kChurnClients, kProgress));

  resize_under_churn(daemon, config, 10, churn);
  ChurnTotals totals = churn.stop();
  expect_clean(totals);

  // Every retired worker finished and was joined: back to 4 workers' threads.
  EXPECT_TRUE(daemon.wait_for_log_count("retired after serving", 30));
  EXPECT_TRUE(eventually([&] { return daemon.thread_count() == threads_before; }))
      << "threads before " << *threads_before << ", now " << daemon.thread_count().value_or(0);
  EXPECT_EQ(daemon.log_count("retiring: its listeners close after handshakes in flight"), 30U);
  EXPECT_TRUE(daemon.wait_for_log("configuration reloaded (generation 21): workers 1 -> 4"));
}

// With net.ipv4.tcp_migrate_req the kernel moves what is queued on a closing socket to another
// one of its group: echod says so and closes retiring listeners at once.
TEST_F(ChurnTest, WithTcpMigrateReqRetiringListenersCloseAtOnce) {
  if (!isolated_) GTEST_SKIP() << "changes a sysctl: only in a network namespace of its own";
  {
    std::ofstream sysctl("/proc/sys/net/ipv4/tcp_migrate_req");
    sysctl << "1\n";
    sysctl.flush();
    if (!sysctl) GTEST_SKIP() << "cannot set net.ipv4.tcp_migrate_req here";
  }
  DaemonConfig config = churn_config();
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  EXPECT_TRUE(daemon.wait_for_log("net.ipv4.tcp_migrate_req is 1"));
  ChurnClients churn("127.0.0.1", daemon.port(), kChurnClients);
  churn.start();
  ASSERT_TRUE(churn.wait_completed(kChurnClients, kProgress));
  resize_under_churn(daemon, config, 3, churn);
  expect_clean(churn.stop());
  EXPECT_EQ(daemon.log_count("retiring: its listeners close now"), 9U);
}

// A client connected to a retiring worker stays connected: its connection moves to the worker
// that stays, and it notices nothing. (handover_test.cpp puts this under load.)
TEST(ResizeTest, ConnectionsOfARetiringWorkerMoveToAWorkerThatStays) {
  DaemonConfig config;
  config.workers = 4;
  config.unlimited_clients();
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 40; ++i) {
    clients.push_back(daemon.connect());
    ASSERT_TRUE(clients.back().valid());
    ASSERT_EQ(echo_exact(clients.back().get(), "hello"), "hello");
  }
  config.workers = 1;
  ASSERT_TRUE(daemon.reload(config.yaml()).has_value());
  ASSERT_TRUE(daemon.wait_for_log_count("retired after serving", 3));
  // How many connections the three retiring workers handed over.
  std::size_t handed = 0;
  std::string log = daemon.log_text();
  std::regex handing(R"(handing ([0-9]+) connection\(s\) to worker 0)");
  for (std::sregex_iterator it(log.begin(), log.end(), handing), end; it != end; ++it) {
    handed += std::stoul((*it)[1].str());
  }
  EXPECT_GT(handed, 0U) << log;
  EXPECT_EQ(daemon.log_count("no worker takes connections over"), 0U);
  for (UniqueFd& client : clients) {
    EXPECT_TRUE(quiet_and_open(client.get()));
    EXPECT_EQ(echo_exact(client.get(), "more"), "more");
  }
  UniqueFd after = daemon.connect();
  ASSERT_TRUE(after.valid());
  EXPECT_EQ(echo_exact(after.get(), "still"), "still");
}

}  // namespace
}  // namespace echod::test
