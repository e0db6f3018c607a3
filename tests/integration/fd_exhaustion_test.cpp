// echod under a small open-file limit (prlimit --nofile=256:256).
//
// At start echod lowers max_connections to what the limit allows (minus a reserve), so clients
// alone cannot make accept() fail: past the cap they are accepted and refused. To reach real
// EMFILE the second test lowers the limit of the running daemon below what max_connections
// expects, as when something else in the process holds descriptors or an operator runs
// `prlimit --pid`.
#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "integration/limits_support.hpp"
#include "support/child_process.hpp"
#include "support/daemon_process.hpp"
#include "support/net_client.hpp"

namespace echod::test {
namespace {

constexpr std::size_t kFdLimit = 256;
constexpr std::size_t kCrowd = 1000;

// `prlimit --nofile=256:256 --`, to put before echod's command line; empty without prlimit.
std::vector<std::string> prlimit_launcher() {
  std::string prlimit = find_program("prlimit");
  if (prlimit.empty()) return {};
  std::string limit = std::to_string(kFdLimit);
  return {prlimit, "--nofile=" + limit + ":" + limit, "--"};
}

// N from "limits.max_connections 10000 is more than the open-file limit 256 allows; using N".
std::optional<std::size_t> clamped_max_connections(const std::string& log) {
  static constexpr std::string_view kMarker = "allows; using ";
  auto pos = log.find(kMarker);
  if (pos == std::string::npos) return std::nullopt;
  std::size_t value = 0;
  bool any = false;
  for (pos += kMarker.size(); pos < log.size() && log[pos] >= '0' && log[pos] <= '9'; ++pos) {
    value = value * 10 + static_cast<std::size_t>(log[pos] - '0');
    any = true;
  }
  return any ? std::optional(value) : std::nullopt;
}

TEST(FdExhaustionTest, OpenFileLimitLowersMaxConnectionsSoAcceptDoesNotFail) {
  DaemonConfig config;
  config.unlimited_clients();
  DaemonProcess daemon(config);
  auto launcher = prlimit_launcher();
  if (launcher.empty()) GTEST_SKIP() << "prlimit (util-linux) is not installed";
  daemon.set_launcher(launcher);
  ASSERT_TRUE(daemon.start_ready());
  ASSERT_TRUE(daemon.wait_for_log(
      "limits.max_connections 10000 is more than the open-file limit 256 allows; using "));
  auto usable = clamped_max_connections(daemon.log_text());
  ASSERT_TRUE(usable);
  ASSERT_LT(*usable, kFdLimit);

  // Sorted by what echod did with each (echo or end; see connect_and_sort()), not by when.
  auto crowd = connect_and_sort(daemon, "127.0.0.1", kCrowd);
  ASSERT_EQ(crowd.size(), kCrowd);
  EXPECT_EQ(count_of(crowd, Admission::kUndecided), 0U) << "neither served nor closed";
  std::vector<int> admitted = fds_of(crowd, Admission::kServed);
  EXPECT_EQ(admitted.size(), *usable);
  EXPECT_EQ(count_echoing(admitted, 1), admitted.size());
  EXPECT_TRUE(daemon.wait_for_log("refused a connection from 127.0.0.1: max_connections ("));
  EXPECT_EQ(daemon.log_count("Too many open files"), 0U);

  // When they leave, newcomers are served without waiting for anything (no accept pause: accept
  // never failed). The bound is generous: it catches a newcomer that is never served.
  crowd.clear();
  UniqueFd newcomer = daemon.connect();
  ASSERT_TRUE(newcomer.valid());
  EXPECT_TRUE(echoes(newcomer.get(), 1000, 2));
}

// Out of descriptors with 1,000 connections waiting: echod pauses the listener instead of
// spinning on a readable socket, keeps serving its connections, logs a critical line at most
// once a second per worker, and serves newcomers once the crowd leaves.
//
// Load-proof: the CPU bound is an upper bound on echod's own consumption (a busy machine can
// only give echod less CPU; an echod spinning on the readable listener fails it); the log-line
// bound counts lines over a time measured around all of them; the newcomer must be served, with
// a generous deadline that only a listener left paused (or a wedged worker) would miss.
TEST(FdExhaustionTest, AcceptPausesWithoutSpinningAndRecovers) {
  constexpr std::size_t kHeadroom = 32;
  constexpr auto kAtTheLimit = 10s;
  DaemonConfig config;
  config.unlimited_clients();
  DaemonProcess daemon(config);
  daemon.allow_log_error("Too many open files; pausing accepts for 200 ms");
  auto launcher = prlimit_launcher();
  if (launcher.empty()) GTEST_SKIP() << "prlimit (util-linux) is not installed";
  daemon.set_launcher(launcher);
  ASSERT_TRUE(daemon.start_ready());

  std::vector<UniqueFd> existing;
  for (std::uint64_t i = 0; i < 10; ++i) {
    existing.push_back(daemon.connect());
    ASSERT_TRUE(existing.back().valid());
    ASSERT_TRUE(echoes(existing.back().get(), 1000, i));
  }
  auto in_use = daemon.fd_count();
  ASSERT_TRUE(in_use);
  const auto limited_at = Clock::now();  // no EMFILE, so no critical line, before this
  rlimit lowered{*in_use + kHeadroom, *in_use + kHeadroom};
  ASSERT_EQ(::prlimit(daemon.pid(), RLIMIT_NOFILE, &lowered, nullptr), 0) << std::strerror(errno);

  // The crowd: the kernel completes every handshake (the backlog is 4096); echod can take only
  // `kHeadroom` of them, the rest wait in the accept queues.
  std::vector<UniqueFd> crowd;
  for (std::size_t i = 0; i < kCrowd; ++i) {
    crowd.push_back(daemon.connect());
    ASSERT_TRUE(crowd.back().valid());
  }
  ASSERT_TRUE(daemon.wait_for_log("Too many open files; pausing accepts for 200 ms"));
  EXPECT_TRUE(daemon.log_text().find("[critical]") != std::string::npos);

  auto cpu_before = daemon.cpu_time();
  auto start = Clock::now();
  std::size_t rounds = 0;
  while (Clock::now() - start < kAtTheLimit) {
    for (std::size_t i = 0; i < existing.size(); ++i) {
      EXPECT_TRUE(echoes(existing[i].get(), 100, 10 + rounds)) << "existing #" << i;
    }
    ++rounds;
    // CPU is measured over wall time: the sleep is the measurement, not a wait for an event.
    std::this_thread::sleep_for(1s);
  }
  auto cpu_after = daemon.cpu_time();
  auto wall = Clock::now() - start;
  ASSERT_TRUE(cpu_before && cpu_after);
  auto cpu = *cpu_after - *cpu_before;
  EXPECT_LT(cpu, wall / 20) << "echod used " << to_ms(cpu) << " of CPU in " << to_ms(wall)
                            << " at the fd limit (5% is " << to_ms(wall / 20) << ")";
  // At most once a second per worker (2), over the run so far: the lines are counted first,
  // then the time since before the limit was lowered, so every line counted is within it.
  std::size_t criticals = daemon.log_count("Too many open files");
  auto limited_for = Clock::now() - limited_at;
  EXPECT_LE(criticals,
            2 * (static_cast<std::size_t>(
                     std::chrono::duration_cast<std::chrono::seconds>(limited_for).count()) +
                 1))
      << "in " << to_ms(limited_for);

  // The crowd leaves. Newcomers queue behind what it left in the accept queues.
  for (UniqueFd& fd : crowd) set_reset_on_close(fd.get());
  crowd.clear();
  // What the crowd left in the accept queues is accepted (and closed) before the newcomer,
  // `kHeadroom` fds at a time, with a 200 ms pause at every EMFILE: served, however long that
  // takes on this machine, within the generous deadline.
  UniqueFd newcomer = daemon.connect();
  ASSERT_TRUE(newcomer.valid());
  EXPECT_EQ(ping_pong(newcomer.get(), 1, 100, 30s).size(), 1U)
      << "a newcomer was not served within 30 s after the crowd left; accept paused (logged) "
      << daemon.log_count("Too many open files") - criticals << " more time(s) meanwhile";
  for (std::size_t i = 0; i < existing.size(); ++i) {
    EXPECT_TRUE(echoes(existing[i].get(), 1000, 100 + i)) << "existing #" << i;
  }
}

}  // namespace
}  // namespace echod::test
