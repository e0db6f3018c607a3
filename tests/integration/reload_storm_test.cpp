// Reloads under load: a storm of SIGHUPs, `echod --check-config` beside a running daemon, and
// rejected reloads, each while 200 clients churn connections. Nothing may be dropped.
#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "integration/churn_support.hpp"

namespace echod::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kWarmUp = 20s;

TEST_F(ChurnTest, ReloadStormDropsNothing) {
  DaemonConfig config = churn_config();
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  const auto fds_before = daemon.fd_count();
  const auto threads_before = daemon.thread_count();
  ASSERT_TRUE(fds_before && threads_before);
  const auto queues_before = listen_queue_counters();

  ChurnClients churn("127.0.0.1", daemon.port(), kChurnClients);
  churn.start();
  ASSERT_TRUE(churn.wait_completed(kChurnClients, kWarmUp)) << "the churn does not get going";
  // 100 reloads, 100 ms apart (pacing, not a wait for an event), alternating a setting that
  // changes nothing for the clients. Every ten reloads, the churn must have completed more
  // exchanges: it is served all through the storm, however fast this machine runs either.
  auto next = Clock::now();
  std::uint64_t completed = churn.completed();
  for (int i = 0; i < 100; ++i) {
    config.extra_limits.back() = i % 2 == 0 ? "idle_timeout: 301s" : "idle_timeout: 300s";
    auto ready = daemon.reload(config.yaml());
    ASSERT_TRUE(ready.has_value()) << "reload " << i;
    EXPECT_TRUE(notification_field(*ready, "STATUS").value_or("").starts_with("Serving "))
        << *ready;
    if (i % 10 == 9) {
      ASSERT_TRUE(churn.wait_completed(completed + 1, kWarmUp)) << "no exchange after reload " << i;
      completed = churn.completed();
    }
    next += 100ms;
    std::this_thread::sleep_until(next);
  }
  ChurnTotals totals = churn.stop();
  expect_clean(totals);
  EXPECT_TRUE(daemon.wait_for_log("configuration reloaded (generation 101)"));

  if (isolated_) {
    // This network namespace is the test's own: any drop was one of these connections.
    auto queues_after = listen_queue_counters();
    ASSERT_TRUE(queues_before && queues_after) << "nstat (iproute2) is needed";
    EXPECT_EQ(queues_after->drops, queues_before->drops) << "TcpExtListenDrops";
    EXPECT_EQ(queues_after->overflows, queues_before->overflows) << "TcpExtListenOverflows";
  }
  // Every connection is closed by its client: echod's descriptors and threads return to what
  // they were (nothing leaked by 100 reloads).
  EXPECT_TRUE(eventually([&] { return daemon.fd_count() == fds_before; }))
      << "fds before " << *fds_before << ", now " << daemon.fd_count().value_or(0);
  EXPECT_EQ(daemon.thread_count(), threads_before);
}

TEST_F(ChurnTest, CheckConfigBesideARunningDaemonOpensNoNetworkSocket) {
  DaemonProcess daemon(churn_config());
  ASSERT_TRUE(daemon.start_ready());
  ChurnClients churn("127.0.0.1", daemon.port(), kChurnClients);
  churn.start();
  ASSERT_TRUE(churn.wait_completed(kChurnClients, kWarmUp));

  // The very address the daemon serves: a check that bound it would join its reuseport group
  // (or fail with "address in use").
  const std::string config = (daemon.dir() / "check.yaml").string();
  std::ofstream(config) << "listen: [\"127.0.0.1:" << daemon.port() << "\"]\nworkers: 4\n";
  const std::string strace = find_program("strace");
  if (strace.empty()) std::printf("note: no strace; socket creation is not traced\n");
  // Four at a time, so that the runs get their share of a machine busy with the churn (fewer
  // under a sanitizer, where each run starts a slow runtime).
  const int total_runs = sanitized() ? 40 : 200;
  constexpr int kParallel = 4;
  auto path = [&daemon](const std::string& name, int slot) {
    return (daemon.dir() / (name + std::to_string(slot))).string();
  };
  for (int first = 0; first < total_runs; first += kParallel) {
    std::vector<ChildProcess> runs;
    std::vector<bool> traced;
    for (int slot = 0; slot < kParallel; ++slot) {
      std::vector<std::string> argv{echod_binary(), "--check-config", "--config", config};
      // Every tenth run traced: tracing makes each run several times slower under load.
      traced.push_back(!strace.empty() && (first + slot) % 10 == 0);
      if (traced.back()) {
        argv.insert(argv.begin(),
                    {strace, "-f", "-qq", "-e", "trace=socket", "-o", path("trace", slot)});
      }
      std::filesystem::remove(path("trace", slot));
      std::vector<std::string> env = clean_environment();
      // LeakSanitizer cannot run under ptrace; the other sanitizers still do.
      if (traced.back()) {
        auto asan = std::find_if(env.begin(), env.end(), [](const std::string& e) {
          return e.starts_with("ASAN_OPTIONS=");
        });
        if (asan == env.end()) asan = env.insert(env.end(), "ASAN_OPTIONS=");
        *asan += ":detect_leaks=0";
      }
      runs.push_back(ChildProcess::spawn(argv, env, path("out", slot), path("err", slot)));
    }
    for (int slot = 0; slot < kParallel; ++slot) {
      const int run = first + slot;
      ASSERT_EQ(runs[static_cast<std::size_t>(slot)].wait(30s), 0)
          << "run " << run << ": " << read_file(path("err", slot));
      EXPECT_NE(read_file(path("err", slot)).find("configuration OK"), std::string::npos);
      if (!traced[static_cast<std::size_t>(slot)]) continue;
      ASSERT_TRUE(std::filesystem::exists(path("trace", slot))) << "strace wrote nothing";
      // AF_INET also matches AF_INET6.
      std::string calls = read_file(path("trace", slot));
      ASSERT_EQ(calls.find("AF_INET"), std::string::npos) << "run " << run << ":\n" << calls;
    }
  }
  expect_clean(churn.stop());
}

// An address added and removed ten times while clients churn on another one: the unchanged
// listener is never disturbed. Clients of the removed address are refused once it is closed;
// the few that complete their handshake in the instant between echod's last accept() and
// close() are reset by the kernel (see docs/operations.md): counted and shown, not asserted.
TEST_F(ChurnTest, AddressesComeAndGoWithoutDisturbingTheOthers) {
  if (!address_available("127.0.0.2")) GTEST_SKIP() << "127.0.0.2 cannot be bound here";
  DaemonConfig config = churn_config();
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  ChurnClients churn("127.0.0.1", daemon.port(), kChurnClients / 2);
  churn.start();
  ASSERT_TRUE(churn.wait_completed(kChurnClients, kWarmUp));
  ChurnTotals removed_side;
  for (int round = 0; round < 10; ++round) {
    config.listen = {"127.0.0.1:0", "127.0.0.2:0"};
    ASSERT_TRUE(daemon.reload(config.yaml()).has_value());
    auto added = daemon.endpoint_for_host("127.0.0.2");
    ASSERT_TRUE(added.has_value());
    ChurnClients doomed(added->host, added->port, kChurnClients / 2);
    doomed.start();
    ASSERT_TRUE(doomed.wait_completed(100, kWarmUp));
    config.listen = {"127.0.0.1:0"};
    ASSERT_TRUE(daemon.reload(config.yaml()).has_value());
    ChurnTotals totals = doomed.stop();
    removed_side.completed += totals.completed;
    removed_side.resets += totals.resets;
    removed_side.corrupt += totals.corrupt;
    removed_side.early_eof += totals.early_eof;
  }
  expect_clean(churn.stop());
  std::printf("removed address: %llu exchanges, %llu reset by the kernel at close\n",
              static_cast<unsigned long long>(removed_side.completed),
              static_cast<unsigned long long>(removed_side.resets));
  EXPECT_EQ(removed_side.corrupt, 0U);
  EXPECT_EQ(removed_side.early_eof, 0U) << "an accepted connection was not served to the end";
}

struct BadReload {
  std::string yaml;
  std::string error;  // in `echod --reload`'s stderr
};

TEST_F(ChurnTest, RejectedReloadsKeepServingAndSayWhy) {
  DaemonProcess daemon(churn_config());
  daemon.allow_log_error(daemon.config_path() + ":");
  daemon.allow_log_error("reload failed with");
  ASSERT_TRUE(daemon.start_ready());
  const std::vector<Endpoint> endpoints = daemon.endpoints();
  ChurnClients churn("127.0.0.1", daemon.port(), kChurnClients);
  churn.start();
  ASSERT_TRUE(churn.wait_completed(kChurnClients, kWarmUp));

  const std::string tail = "log: {target: stderr}\n";
  const std::vector<BadReload> bad{
      {"listen: [\"127.0.0.1:0\"\nworkers: 4\n" + tail, daemon.config_path() + ":"},
      {"listen: [\"127.0.0.1:70000\"]\nworkers: 4\n" + tail, "out of range"},
      {"listen: [\"127.0.0.1:0\"]\nworkers: 0\n" + tail, ": workers: "},
      {"listen: [\"127.0.0.1:0\"]\nworkers: 4\nfrobnicate: 1\n" + tail, "unknown key"},
  };
  for (const BadReload& reload : bad) {
    daemon.write_config(reload.yaml);
    CommandResult result =
        run_command({echod_binary(), "--control-socket", daemon.control_socket_path(), "--reload"},
                    clean_environment(), 30s);
    EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
    EXPECT_NE(result.err.find("reload rejected"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find(reload.error), std::string::npos) << result.err;
    // RELOADING=1, then READY=1 whose status says the reload failed and shows the old state.
    ASSERT_TRUE(daemon.wait_notification("RELOADING=1").has_value()) << reload.yaml;
    auto ready = daemon.wait_notification("READY=1");
    ASSERT_TRUE(ready.has_value()) << reload.yaml;
    std::string status = notification_field(*ready, "STATUS").value_or("");
    EXPECT_TRUE(status.starts_with("Reload failed (")) << status;
    EXPECT_NE(status.find("with 4 workers"), std::string::npos) << status;
    EXPECT_EQ(parse_status_endpoints(status), endpoints) << status;
    EXPECT_TRUE(churn.wait_completed(churn.completed() + 100, kWarmUp)) << "no longer serving";
  }
  expect_clean(churn.stop());
  EXPECT_EQ(daemon.log_count("configuration reloaded"), 0U);
}

}  // namespace
}  // namespace echod::test
