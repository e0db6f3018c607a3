#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "sys/socket_address.hpp"
#include "udp/rate_table.hpp"

namespace echod::udp {
namespace {

using Clock = RateTable::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

SocketAddress address(const std::string& text) { return *SocketAddress::parse(text).address; }

// Datagram limits only, no global bucket: the simplest table to reason about.
RateLimits datagrams_only(double rate, double burst) {
  RateLimits limits;
  limits.datagrams_per_source = rate;
  limits.datagram_burst_per_source = burst;
  limits.bytes_per_source = 0;
  limits.datagrams_global = 0;
  return limits;
}

// Offers `count` datagrams of `bytes` from `source` at `now`, in batches of 32 as a worker
// would; returns how many passed and counts the others by reason in `drops`.
std::size_t offer(RateTable& table, const SocketAddress& source, std::size_t count,
                  Clock::time_point now, std::size_t bytes = 64, DropCounts* drops = nullptr,
                  bool exempt = false) {
  std::size_t passed = 0;
  std::vector<RateTable::Request> requests;
  std::vector<std::optional<DropReason>> verdicts;
  while (count > 0) {
    std::size_t n = std::min<std::size_t>(count, 32);
    requests.assign(n, {source.data(), source.length(), bytes, exempt});
    verdicts.assign(n, std::nullopt);
    table.admit(requests, verdicts, now);
    for (const auto& verdict : verdicts) {
      if (!verdict) {
        ++passed;
      } else if (drops != nullptr) {
        drops->add(*verdict);
      }
    }
    count -= n;
  }
  return passed;
}

TEST(UdpRateTableTest, BurstThenRate) {
  RateTable table(1024, datagrams_only(200, 400));
  auto t0 = Clock::time_point{} + seconds(1000);
  auto source = address("198.51.100.1:40000");
  DropCounts drops;
  EXPECT_EQ(offer(table, source, 1000, t0, 64, &drops), 400U) << "a full burst to start";
  EXPECT_EQ(drops.count(DropReason::kRateLimitedSource), 600U);
  // Then 200 per second, whatever is offered.
  EXPECT_EQ(offer(table, source, 1000, t0 + seconds(1)), 200U);
  EXPECT_EQ(offer(table, source, 1000, t0 + milliseconds(1500)), 100U);
  // Ten seconds of steady over-offer at 10 ms steps: held to the rate.
  std::size_t passed = 0;
  for (int step = 1; step <= 1000; ++step) {
    passed += offer(table, source, 50, t0 + milliseconds(1500 + 10 * step));
  }
  EXPECT_EQ(passed, 2000U);
  // Idle long enough, the bucket is full again, never fuller.
  EXPECT_EQ(offer(table, source, 1000, t0 + seconds(100)), 400U);
}

TEST(UdpRateTableTest, BytesAreLimitedApartFromDatagrams) {
  RateLimits limits = datagrams_only(1000, 1000);
  limits.bytes_per_source = 10000;
  limits.byte_burst_per_source = 20000;
  RateTable table(1024, limits);
  auto t0 = Clock::time_point{} + seconds(1000);
  auto big = address("198.51.100.1:40000");
  // 1000-byte datagrams: the byte burst (20 of them) binds long before the datagram burst.
  EXPECT_EQ(offer(table, big, 100, t0, 1000), 20U);
  EXPECT_EQ(offer(table, big, 100, t0 + seconds(1), 1000), 10U);
  // Small datagrams from another source: the datagram bucket binds.
  auto small = address("198.51.100.2:40000");
  EXPECT_EQ(offer(table, small, 5000, t0, 1), 1000U);
  // 0-byte datagrams cost a datagram token and no byte.
  auto empty = address("198.51.100.3:40000");
  EXPECT_EQ(offer(table, empty, 5000, t0, 0), 1000U);
  // A datagram larger than the byte burst never passes.
  auto huge = address("198.51.100.4:40000");
  EXPECT_EQ(offer(table, huge, 3, t0, 30000), 0U);
}

TEST(UdpRateTableTest, GlobalBucketCapsAllSourcesTogether) {
  RateLimits limits = datagrams_only(100, 100);
  limits.datagrams_global = 500;
  limits.datagram_burst_global = 1000;
  RateTable table(4096, limits);
  auto t0 = Clock::time_point{} + seconds(1000);
  DropCounts drops;
  std::size_t passed = 0;
  for (int i = 0; i < 50; ++i) {
    passed += offer(table, address("198.51.100." + std::to_string(i + 1) + ":40000"), 100, t0, 64,
                    &drops);
  }
  EXPECT_EQ(passed, 1000U) << "50 sources x 100 allowed each, capped by the global burst";
  EXPECT_EQ(drops.count(DropReason::kRateLimitedGlobal), 4000U);
  passed = 0;
  for (int i = 0; i < 50; ++i) {
    passed += offer(table, address("198.51.100." + std::to_string(i + 1) + ":40000"), 100,
                    t0 + seconds(1));
  }
  EXPECT_EQ(passed, 500U) << "one second of the global rate";
}

TEST(UdpRateTableTest, ZeroRatesSwitchLimitsOff) {
  RateLimits limits = datagrams_only(0, 0);
  RateTable table(1024, limits);
  auto t0 = Clock::time_point{} + seconds(1000);
  EXPECT_EQ(offer(table, address("198.51.100.1:40000"), 10000, t0), 10000U);
  EXPECT_EQ(table.size(), 0U) << "no limit, no state";
}

TEST(UdpRateTableTest, SourcePortsDoNotMatterAndIpv6CountsByPrefix64) {
  RateTable table(1024, datagrams_only(10, 10));
  auto t0 = Clock::time_point{} + seconds(1000);
  std::size_t passed = 0;
  for (int port = 40000; port < 41000; ++port) {
    passed += offer(table, address("198.51.100.1:" + std::to_string(port)), 1, t0);
  }
  EXPECT_EQ(passed, 10U) << "1000 source ports, one source";
  passed = 0;
  for (int host = 1; host <= 100; ++host) {
    passed += offer(table, address("[2001:db8:1:2::" + std::to_string(host) + "]:40000"), 1, t0);
  }
  EXPECT_EQ(passed, 10U) << "100 addresses in one /64, one source";
  EXPECT_EQ(offer(table, address("[2001:db8:1:3::1]:40000"), 100, t0), 10U) << "another /64";
  EXPECT_EQ(offer(table, address("198.51.100.2:40000"), 100, t0), 10U) << "another address";
  EXPECT_EQ(table.size(), 4U);
}

TEST(UdpRateTableTest, ExemptSourcesPassAndTakeNoState) {
  RateLimits limits = datagrams_only(10, 10);
  limits.datagrams_global = 10;
  limits.datagram_burst_global = 10;
  RateTable table(1024, limits);
  RateExemption exemption;  // loopback by default
  auto t0 = Clock::time_point{} + seconds(1000);
  auto local = address("127.0.0.1:40000");
  auto local6 = address("[::1]:40000");
  auto remote = address("198.51.100.1:40000");
  EXPECT_TRUE(exemption.covers(local.data(), local.length()));
  EXPECT_TRUE(exemption.covers(local6.data(), local6.length()));
  EXPECT_FALSE(exemption.covers(remote.data(), remote.length()));
  EXPECT_EQ(offer(table, local, 10000, t0, 64, nullptr, true), 10000U);
  EXPECT_EQ(table.size(), 0U);
  EXPECT_EQ(offer(table, remote, 100, t0), 10U) << "the global bucket was not touched";

  // Configurable: an empty list exempts nobody, and loopback is limited like any source.
  RateExemption none(std::vector<Cidr>{});
  EXPECT_FALSE(none.covers(local.data(), local.length()));
  RateExemption lab({*Cidr::parse("10.0.0.0/8").cidr});
  auto lab_host = address("10.1.2.3:40000");
  EXPECT_TRUE(lab.covers(lab_host.data(), lab_host.length()));
  EXPECT_FALSE(lab.covers(local.data(), local.length()));
}

TEST(UdpRateTableTest, AMillionSourcesLeaveTheSizeFixedAndCountEvictions) {
  RateTable table(4096, datagrams_only(200, 400));
  ASSERT_EQ(table.capacity(), 4096U);
  auto t0 = Clock::time_point{} + seconds(1000);
  std::vector<RateTable::Request> requests(32);
  std::vector<std::optional<DropReason>> verdicts(32);
  std::vector<SocketAddress> sources(32);
  std::size_t passed = 0;
  constexpr std::uint32_t kSources = 1'000'000;
  for (std::uint32_t first = 0; first < kSources; first += 32) {
    for (std::uint32_t i = 0; i < 32; ++i) {
      sources[i] = SocketAddress::from_ipv4(0x0a000000U + first + i, 40000);
      requests[i] = {sources[i].data(), sources[i].length(), 64, false};
    }
    // Each spoofed source sends once, 1 us apart: none is idle long enough to be forgotten.
    table.admit(requests, verdicts, t0 + std::chrono::microseconds(first));
    for (const auto& v : verdicts) passed += v ? 0U : 1U;
  }
  EXPECT_EQ(passed, kSources) << "every new source starts with a full bucket";
  EXPECT_LE(table.size(), table.capacity());
  EXPECT_GE(table.size(), table.capacity() * 9 / 10) << "the table fills";
  EXPECT_EQ(table.evictions(), kSources - table.size());
}

TEST(UdpRateTableTest, IdleSourcesAreReusedWithoutCountingEvictions) {
  RateTable table(RateTable::kProbeWindow * RateTable::kShardCount,
                  datagrams_only(100, 100));  // forgotten after 1 s idle
  auto t0 = Clock::time_point{} + seconds(1000);
  for (std::uint32_t i = 0; i < 10000; ++i) {
    offer(table, SocketAddress::from_ipv4(0x0a000000U + i, 40000), 1,
          t0 + seconds(2) * static_cast<int>(i));
  }
  EXPECT_EQ(table.evictions(), 0U);
}

TEST(UdpRateTableTest, OneSourceOnManyWorkersGetsItsLimitOnce) {
  // Four workers at the same instant, one source spraying source ports: the burst is shared.
  RateTable table(1024, datagrams_only(200, 400));
  auto t0 = Clock::time_point{} + seconds(1000);
  std::atomic<std::size_t> passed{0};
  auto worker = [&](int id, Clock::time_point now) {
    auto source = address("198.51.100.1:" + std::to_string(40000 + id));
    passed += offer(table, source, 5000, now);
  };
  std::vector<std::thread> threads;
  for (int id = 0; id < 4; ++id) threads.emplace_back(worker, id, t0);
  for (auto& t : threads) t.join();
  EXPECT_EQ(passed.load(), 400U);
  threads.clear();
  passed = 0;
  for (int id = 0; id < 4; ++id) threads.emplace_back(worker, id, t0 + seconds(1));
  for (auto& t : threads) t.join();
  EXPECT_EQ(passed.load(), 200U);
}

TEST(UdpRateTableTest, NewLimitsApplyToExistingBuckets) {
  RateTable table(1024, datagrams_only(200, 400));
  auto t0 = Clock::time_point{} + seconds(1000);
  auto source = address("198.51.100.1:40000");
  EXPECT_EQ(offer(table, source, 1000, t0), 400U);
  table.set_limits(datagrams_only(50, 50));
  EXPECT_EQ(offer(table, source, 1000, t0 + seconds(10)), 50U) << "capped at the new burst";
}

TEST(UdpRateTableTest, ABucketNeverRunsBackwards) {
  RateTable table(1024, datagrams_only(100, 100));
  auto t0 = Clock::time_point{} + seconds(1000);
  auto source = address("198.51.100.1:40000");
  EXPECT_EQ(offer(table, source, 100, t0 + seconds(1)), 100U);
  // Another worker read the clock a little earlier: nothing refills, nothing breaks.
  EXPECT_EQ(offer(table, source, 100, t0), 0U);
  EXPECT_EQ(offer(table, source, 100, t0 + milliseconds(1100)), 10U);
}

}  // namespace
}  // namespace echod::udp
