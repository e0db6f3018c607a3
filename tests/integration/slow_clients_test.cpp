// Clients that go quiet, trickle, or send without ever reading: idle_timeout,
// send_stall_timeout and the memory bound of max_pending_output. Waiting for a timeout is
// watching the socket for echod's FIN or reset, with a bounded deadline.
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "integration/limits_support.hpp"
#include "support/daemon_process.hpp"
#include "support/net_client.hpp"
#include "support/test_data.hpp"

namespace echod::test {
namespace {

// An idle connection is closed at idle_timeout; one that sends a byte every 300 ms is not.
TEST(SlowClientsTest, IdleConnectionIsClosedAtIdleTimeoutAndActiveOneIsNot) {
  constexpr auto kIdle = 2s;
  DaemonConfig config;
  config.log_level = "debug";
  config.extra_limits = {"idle_timeout: 2s"};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd idle = daemon.connect();
  UniqueFd active = daemon.connect();
  ASSERT_TRUE(idle.valid() && active.valid());
  ASSERT_TRUE(echoes(active.get(), 1, 1));
  ASSERT_TRUE(echoes(idle.get(), 100, 2));
  auto idle_since = Clock::now();

  // Until well past the timeout: the active client pings every 300 ms; in between the idle one
  // is watched for its end.
  std::optional<Clock::time_point> idle_closed;
  std::size_t pings = 0;
  auto end = idle_since + kIdle + 1200ms;
  while (Clock::now() < end) {
    auto next_ping = std::min(Clock::now() + 300ms, end);
    if (!idle_closed) {
      idle_closed = wait_peer_closed(idle.get(), next_ping);
    } else {
      std::this_thread::sleep_until(next_ping);  // pacing the active client, nothing to await
    }
    ASSERT_EQ(ping_pong(active.get(), 1, 1).size(), 1U)
        << "the active connection failed after " << to_ms(Clock::now() - idle_since);
    ++pings;
  }
  ASSERT_TRUE(idle_closed) << "the idle connection is still open after "
                           << to_ms(Clock::now() - idle_since);
  EXPECT_GE(*idle_closed - idle_since, kIdle - 1s);
  EXPECT_LE(*idle_closed - idle_since, kIdle + 1s);
  EXPECT_GE(pings, 9U);
  EXPECT_TRUE(quiet_and_open(active.get()));
  EXPECT_TRUE(echoes(active.get(), 64 * kKiB, 3));
  EXPECT_EQ(daemon.log_count("idle timeout"), 1U);
}

// Clients trickling a byte every 300 ms are not idle, so they outlive idle_timeout; but they
// cannot hold more than max_connections_per_ip slots between them.
TEST(SlowClientsTest, TricklingClientsStayButCannotExceedTheirShare) {
  constexpr std::size_t kPerIp = 4;
  DaemonConfig config;
  config.log_level = "debug";
  config.extra_limits = {"idle_timeout: 1s", "max_connections_per_ip: 4"};
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());

  auto trickle = connect_and_watch(daemon, "127.0.0.7", 2 * kPerIp, 300ms);
  ASSERT_EQ(trickle.size(), 2 * kPerIp);
  std::vector<int> admitted;
  for (const WatchedConnection& c : trickle) {
    if (!c.closed_at) admitted.push_back(c.fd.get());
  }
  ASSERT_EQ(admitted.size(), kPerIp);
  // A control client that says nothing, from another address: it is closed meanwhile.
  UniqueFd quiet = connect_from(daemon, "127.0.0.11");
  ASSERT_TRUE(quiet.valid());
  auto start = Clock::now();

  std::size_t rounds = 0;
  bool late_refused = false;
  while (Clock::now() - start < 2500ms) {
    for (int fd : admitted) {
      ASSERT_EQ(ping_pong(fd, 1, 1).size(), 1U)
          << "a trickling client lost its connection after " << to_ms(Clock::now() - start);
    }
    ++rounds;
    if (rounds == 5) {  // about 1.5 s in: past idle_timeout, the 4 slots are still taken
      UniqueFd late = connect_from(daemon, "127.0.0.7");
      late_refused = late.valid() && refused(late.get());
    }
    // The trickle's pace; the quiet client is watched meanwhile.
    wait_peer_closed(quiet.get(), Clock::now() + 300ms);
  }
  EXPECT_TRUE(late_refused) << "a fifth connection from 127.0.0.7 was admitted";
  EXPECT_GE(rounds, 7U);
  EXPECT_TRUE(peer_closed(quiet.get())) << "the quiet control client was not closed in 2.5 s";
  for (int fd : admitted) EXPECT_TRUE(echoes(fd, 1000, 9));
  EXPECT_EQ(daemon.log_count("idle timeout"), 1U);
}

// 500 clients each try to send 8 MiB and never read. TCP holds the senders back; echod's memory
// stays within max_pending_output + io_buffer per client; each is closed send_stall_timeout
// after it stopped making progress; and a healthy client beside them keeps its latency.
TEST(SlowClientsTest, ClientsThatNeverReadAreBoundedAndClosedAtSendStallTimeout) {
  constexpr std::size_t kClients = 500;
  constexpr std::size_t kIoBuffer = 16 * kKiB;
  constexpr std::size_t kMaxPending = 64 * kKiB;
  constexpr auto kStall = 3s;
  constexpr std::size_t kPing = 64;
  DaemonConfig config;
  config.log_level = "debug";
  config.unlimited_clients();
  config.io_buffer = "16KiB";
  config.max_pending_output = "64KiB";
  config.extra_limits.emplace_back("send_stall_timeout: 3s");
  config.extra_limits.emplace_back("idle_timeout: 0s");
  DaemonProcess daemon(config);
  ASSERT_TRUE(daemon.start_ready());
  // A reference: an identical echod that no never-reading client touches, pinged in turn with
  // the loaded one, so that both see the same noise from the rest of the machine at the same
  // time (on a shared 2-core machine the p99 of an idle loopback ping varies from 0.1 ms to a
  // scheduler tick, 4 ms, from one second to the next).
  DaemonProcess reference_daemon(config);
  ASSERT_TRUE(reference_daemon.start_ready());

  UniqueFd healthy = daemon.connect();
  UniqueFd reference = reference_daemon.connect();
  ASSERT_TRUE(healthy.valid() && reference.valid());
  ASSERT_EQ(ping_pong(healthy.get(), 50, kPing).size(), 50U);  // warm-up
  ASSERT_EQ(ping_pong(reference.get(), 50, kPing).size(), 50U);
  // One ping on each, in alternating order, then 2 ms of pacing (not a wait for any event).
  std::size_t pair = 0;
  auto ping_both = [&](std::vector<Clock::duration>& to_healthy,
                       std::vector<Clock::duration>& to_reference) {
    for (int k = 0; k < 2; ++k) {
      bool first = (k == 0) == (pair % 2 == 0);
      auto samples = ping_pong(first ? healthy.get() : reference.get(), 1, kPing);
      if (samples.size() != 1) return false;
      (first ? to_healthy : to_reference).push_back(samples.front());
    }
    ++pair;
    std::this_thread::sleep_for(2ms);
    return true;
  };
  // Unloaded: a second of pings before any never-reading client exists.
  std::vector<Clock::duration> unloaded_samples;
  std::vector<Clock::duration> reference_samples;
  for (auto begin = Clock::now(); Clock::now() - begin < 1s;) {
    ASSERT_TRUE(ping_both(unloaded_samples, reference_samples));
  }
  ASSERT_GE(unloaded_samples.size(), 200U);
  reference_samples.clear();

  // Small client buffers and an Ethernet-sized MSS keep the kernel's share modest (see
  // connect_with_mss()).
  const std::string flood = random_bytes(8 * kMiB, 5);
  struct Sender {
    UniqueFd fd;
    std::size_t sent = 0;
    Clock::time_point last_progress;
    std::optional<Clock::time_point> closed_at;
  };
  std::vector<Sender> senders(kClients);
  for (Sender& sender : senders) {
    sender.fd = connect_with_mss(daemon, 1460, ConnectOptions{4096, 16 * 1024});
    ASSERT_TRUE(sender.fd.valid());
    sender.last_progress = Clock::now();
  }

  // Sends until no sender has moved a byte for 300 ms; afterwards only watches for closes.
  std::vector<pollfd> fds;
  std::vector<Sender*> watched;
  auto drive = [&](bool send, int timeout_ms) {
    fds.clear();
    watched.clear();
    for (Sender& sender : senders) {
      if (sender.closed_at) continue;
      short events = POLLRDHUP;
      if (send && sender.sent < flood.size()) events = static_cast<short>(events | POLLOUT);
      fds.push_back(pollfd{sender.fd.get(), events, 0});
      watched.push_back(&sender);
    }
    bool progress = false;
    if (fds.empty() || ::poll(fds.data(), fds.size(), timeout_ms) <= 0) return progress;
    auto now = Clock::now();
    for (std::size_t i = 0; i < fds.size(); ++i) {
      Sender& sender = *watched[i];
      if ((fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
        sender.closed_at = now;
      } else if ((fds[i].revents & POLLOUT) != 0) {
        std::size_t count = std::min<std::size_t>(64 * kKiB, flood.size() - sender.sent);
        ssize_t w =
            ::send(sender.fd.get(), flood.data() + sender.sent, count, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
          sender.sent += static_cast<std::size_t>(w);
          sender.last_progress = Clock::now();
          progress = true;
        }
      }
    }
    return progress;
  };
  auto fill_start = Clock::now();
  auto last_progress = fill_start;
  while (Clock::now() - last_progress < 300ms && Clock::now() - fill_start < 10s) {
    if (drive(true, 50)) last_progress = Clock::now();
  }
  const auto filled = Clock::now();
  std::size_t total_sent = 0;
  for (const Sender& sender : senders) {
    total_sent += sender.sent;
    EXPECT_LT(sender.sent, flood.size()) << "a sender that never reads got 8 MiB through";
    EXPECT_FALSE(sender.closed_at) << "a sender was closed while it was still sending";
  }
  ASSERT_GT(total_sent, kClients * kMaxPending) << "the senders did not even fill echod's caps";
  SCOPED_TRACE(testing::Message() << "filled in " << to_ms(filled - fill_start) << ", "
                                  << total_sent / kMiB << " MiB sent in all");

  // While they are held, until a second before the earliest close allowed: ping-pong beside
  // them (and on the reference), echod's memory and its CPU time. The 500 senders are looked
  // at only every 100 ms (a close now would be early): a poll() over all of them between pings
  // delays the test client itself.
  std::vector<Clock::duration> loaded_samples;
  std::size_t peak_rss = daemon.rss_bytes().value_or(0);
  auto cpu_before = daemon.cpu_time();
  auto held_from = Clock::now();
  auto next_look = held_from;
  while (Clock::now() - filled < kStall - 1s) {
    ASSERT_TRUE(ping_both(loaded_samples, reference_samples)) << "an echo failed";
    if (Clock::now() >= next_look) {
      peak_rss = std::max(peak_rss, daemon.rss_bytes().value_or(0));
      drive(false, 0);
      next_look = Clock::now() + 100ms;
    }
  }
  auto cpu_after = daemon.cpu_time();
  auto held_for = Clock::now() - held_from;

  // Then only the closes.
  while (Clock::now() - filled < kStall + 2s) {
    if (std::all_of(senders.begin(), senders.end(), [](const Sender& s) { return s.closed_at; })) {
      break;
    }
    drive(false, 100);
  }

  const std::size_t rss_bound = kClients * (kIoBuffer + kMaxPending) + 32 * kMiB;
  EXPECT_LE(peak_rss, rss_bound) << "peak RSS while 500 clients were held";

  // Clients held back by TCP cost echod nothing: it neither spins on them nor slows others.
  ASSERT_TRUE(cpu_before && cpu_after);
  EXPECT_LT(*cpu_after - *cpu_before, held_for / 10)
      << "echod's CPU time while the clients were held, in " << to_ms(held_for);
  // The healthy client's p99 stays under twice its unloaded value. Unloaded is the larger of
  // its own p99 before the load and the reference's p99 meanwhile; with a floor of unloaded +
  // 2 ms, as twice a p99 of tens of microseconds is within the machine's scheduling noise.
  ASSERT_GE(loaded_samples.size(), 200U);
  const Clock::duration unloaded =
      std::max(percentile(unloaded_samples, 0.99), percentile(reference_samples, 0.99));
  const Clock::duration loaded = percentile(loaded_samples, 0.99);
  const Clock::duration allowed = std::max<Clock::duration>(2 * unloaded, unloaded + 2ms);
  EXPECT_LE(loaded, allowed) << "healthy client's p99: before the load "
                             << to_ms(percentile(unloaded_samples, 0.99)) << ", reference echod "
                             << to_ms(percentile(reference_samples, 0.99))
                             << ", beside the held clients " << to_ms(loaded) << " ("
                             << loaded_samples.size() << " samples)";

  std::size_t closed = 0;
  Clock::duration earliest = Clock::duration::max();
  Clock::duration latest = Clock::duration::zero();
  for (const Sender& sender : senders) {
    if (!sender.closed_at) continue;
    ++closed;
    auto after = *sender.closed_at - sender.last_progress;
    earliest = std::min(earliest, after);
    latest = std::max(latest, after);
  }
  EXPECT_EQ(closed, kClients);
  EXPECT_GE(earliest, kStall - 1s) << "closed only " << to_ms(earliest) << " after the last byte";
  EXPECT_LE(latest, kStall + 1s) << "closed " << to_ms(latest) << " after the last byte";
  EXPECT_EQ(daemon.log_count("send stall"), kClients);
  // The healthy client never stalled.
  EXPECT_TRUE(echoes(healthy.get(), 256 * kKiB, 6));
}

}  // namespace
}  // namespace echod::test
