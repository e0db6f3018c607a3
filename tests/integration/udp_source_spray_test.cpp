// A spray of forged sources, in a network namespace of the test's own (see
// udp_namespace_support.hpp): the UDP rate limits' table of sources has a fixed size, so a
// million spoofed source addresses can neither grow echod's memory nor the table.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_data.hpp"
#include "udp_namespace_support.hpp"

namespace echod::test {
namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;
// The table's fixed size (udp::RateTable::kDefaultCapacity, docs/configuration.md).
constexpr double kTableCapacity = 65536;
const std::string kEntries = "echod_udp_source_table_entries";
const std::string kCapacity = "echod_udp_source_table_capacity";
const std::string kEvictions = "echod_udp_source_table_evictions_total";

// What the kernel holds for the UDP sockets bound to `port` in this thread's network namespace
// (/proc/net/udp): bytes queued for reading, and datagrams dropped because the queue was full.
struct SocketQueues {
  std::uint64_t queued_bytes = 0;
  std::uint64_t drops = 0;
};
SocketQueues socket_queues(std::uint16_t port) {
  std::ifstream in("/proc/thread-self/net/udp");
  std::string line;
  std::getline(in, line);  // header
  SocketQueues queues;
  while (std::getline(in, line)) {
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
    std::istringstream fields(line);
    std::vector<std::string> field;
    for (std::string f; fields >> f;) field.push_back(f);
    if (field.size() < 13) continue;
    const std::size_t colon = field[1].find(':');
    if (colon == std::string::npos || std::stoul(field[1].substr(colon + 1), nullptr, 16) != port) {
      continue;
    }
    queues.queued_bytes += std::stoull(field[4].substr(field[4].find(':') + 1), nullptr, 16);
    queues.drops += std::stoull(field[12]);
  }
  return queues;
}

// One forged datagram per source, from the sources 10.16.0.0/12 in order (1,048,576 addresses:
// not this host's, not loopback, so not exempt from the rate limits), in sendmmsg batches.
class Spray {
 public:
  static constexpr std::size_t kBatch = 256;
  static constexpr std::uint32_t kFirstSource = 0x0a100000;  // 10.16.0.0
  static constexpr std::size_t kMaxSources = std::size_t{1} << 20;

  Spray(int raw, const SocketAddress& destination)
      : raw_(raw), destination_(destination), payload_(random_bytes(64, 12)) {}

  // Sends the datagrams from sources [first, first + count), count <= kBatch.
  bool send(std::size_t first, std::size_t count) {
    packets_.clear();
    for (std::size_t i = 0; i < count; ++i) {
      const auto source =
          SocketAddress::from_ipv4(kFirstSource + static_cast<std::uint32_t>(first + i), 40000);
      packets_.push_back(udp_packet(source, destination_, payload_));
    }
    SocketAddress to = destination_;
    to.set_port(0);
    std::vector<iovec> iovecs(count);
    std::vector<mmsghdr> messages(count);
    for (std::size_t i = 0; i < count; ++i) {
      iovecs[i] = {packets_[i].data(), packets_[i].size()};
      messages[i].msg_hdr.msg_name = const_cast<sockaddr*>(to.data());  // NOLINT: not written
      messages[i].msg_hdr.msg_namelen = to.length();
      messages[i].msg_hdr.msg_iov = &iovecs[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    std::size_t done = 0;
    while (done < count) {
      const int n = ::sendmmsg(raw_, &messages[done], static_cast<unsigned>(count - done), 0);
      if (n <= 0) {
        ADD_FAILURE() << "sendmmsg: " << std::strerror(errno);
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

 private:
  int raw_;
  SocketAddress destination_;
  std::string payload_;
  std::vector<std::vector<std::uint8_t>> packets_;
};

class UdpSourceSprayTest : public UdpNamespaceTest {};

// A raw socket sprays 1,000,000 datagrams (400,000 under a sanitizer), each from a source of
// its own, at echod on echod0 with the rate limits on. Every source takes a slot in the table of
// sources: the table stays at its fixed capacity, each source past it evicts one (counted),
// echod's resident memory stays flat, and afterwards an ordinary client is still answered.
//
// The byte rate per source is set below one forged datagram (16 B/s, burst 32 B, for 64-byte
// datagrams): each forged source still gets its slot (the verdict needs its bucket) but no
// reply, so nothing is sent to the forged addresses. One datagram a second per source refills
// a burst of 400 in 400 s, so no slot is old enough to be reused without an eviction while the
// test runs: every forged datagram echod reads either fills a free slot or evicts one.
TEST_F(UdpSourceSprayTest, AMillionForgedSourcesLeaveTheTableAndMemoryBounded) {
  DaemonProcess daemon(
      daemon_config("  listen: [\"10.1.0.1:0\"]\n  max_datagram: 1472\n  rate_per_source: 1\n"
                    "  burst_per_source: 400\n  bytes_per_source: 16\n",
                    2));
  auto metrics = start_serving_metrics(daemon);
  ASSERT_TRUE(metrics.has_value());
  const auto endpoints = udp_endpoints(daemon);
  ASSERT_EQ(endpoints.size(), 1U);
  const std::uint16_t port = endpoints[0].port;
  const SocketAddress server = socket_address(kServerAddress, port);

  // An ordinary client is answered (and is the table's first source).
  UniqueFd client = bound_udp_socket(kClientAddress, 0);
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(send_to(client.get(), "before!", kServerAddress, port));
  auto reply = receive_from(client.get());
  ASSERT_TRUE(reply.has_value());
  ASSERT_EQ(reply->payload, "before!");
  const Scrape before = scrape_until(
      *metrics, [](const Scrape& s) { return s.sum(kSent) == 1 && s.sum(kEntries) == 1; });
  ASSERT_EQ(before.sum(kEntries), 1);
  ASSERT_EQ(before.sum(kCapacity), kTableCapacity);
  ASSERT_EQ(before.sum(kEvictions), 0);
  const auto rss_before = daemon.rss_bytes();
  ASSERT_TRUE(rss_before.has_value());
  const SocketQueues queues_before = socket_queues(port);

  UniqueFd raw = raw_sender(kInterface);
  ASSERT_TRUE(raw.valid());
  Spray spray(raw.get(), server);
  const std::size_t sources = sanitized() ? 400'000 : 1'000'000;
  static_assert(Spray::kMaxSources >= 1'000'000);
  // The spray keeps echod's receive queue short rather than let the kernel drop most of it:
  // after a batch, it waits (a pause, not a verdict) while more than this is queued.
  constexpr std::uint64_t kMaxQueued = 64 * kKiB;
  // The spray waits for echod as long as echod makes progress: only an echod that stops
  // reading (nothing drained for kStall) ends it early, and fails the test.
  constexpr auto kStall = 30s;
  std::size_t sent = 0;
  std::size_t max_rss = *rss_before;
  std::size_t batches = 0;
  bool stalled = false;
  while (sent < sources && !stalled) {
    const std::size_t count = std::min(Spray::kBatch, sources - sent);
    ASSERT_TRUE(spray.send(sent, count)) << "after " << sent;
    sent += count;
    const auto sent_at = Clock::now();
    while (socket_queues(port).queued_bytes > kMaxQueued) {
      if (Clock::now() - sent_at > kStall) {
        stalled = true;
        break;
      }
      std::this_thread::sleep_for(100us);
    }
    if (++batches % 64 == 0) {
      max_rss = std::max(max_rss, daemon.rss_bytes().value_or(0));
      if (batches % 512 == 0) {
        const Scrape now = scrape(*metrics);
        EXPECT_LE(now.sum(kEntries), kTableCapacity) << "after " << sent << " sources";
        EXPECT_EQ(now.sum(kCapacity), kTableCapacity) << "after " << sent << " sources";
      }
    }
  }
  ASSERT_FALSE(stalled) << "echod read nothing for 30 s after " << sent << " sources";

  // Every datagram sent was read by echod, or dropped by the kernel on a full queue.
  auto accounted = [&](const Scrape& s) {
    const std::uint64_t drops = socket_queues(port).drops - queues_before.drops;
    return s.sum(kReceived) - before.sum(kReceived) + static_cast<double>(drops) ==
           static_cast<double>(sent);
  };
  Scrape after = scrape_until(*metrics, accounted, 60s);
  ASSERT_TRUE(accounted(after)) << "sent " << sent << ", echod received "
                                << after.sum(kReceived) - before.sum(kReceived);
  max_rss = std::max(max_rss, daemon.rss_bytes().value_or(0));
  const double forged = after.sum(kReceived) - before.sum(kReceived);
  std::printf(
      "%zu forged sources sent, %.0f read by echod, %.0f evictions; VmRSS %zu KiB, at most %zu "
      "KiB\n",
      sent, forged, after.sum(kEvictions), *rss_before / kKiB, max_rss / kKiB);
  ASSERT_GE(forged, 4 * kTableCapacity) << "too few forged sources reached echod to fill the table";

  // None was answered, each was refused by its byte rate.
  EXPECT_EQ(after.sum(kSent), 1);
  EXPECT_EQ(reason_count(after, "rate_limited_source"), forged);
  EXPECT_EQ(after.sum(kDropped), forged);
  // The table is full and no larger; every forged source took a slot, free or evicted.
  EXPECT_EQ(after.sum(kCapacity), kTableCapacity);
  EXPECT_EQ(after.sum(kEntries), kTableCapacity);
  EXPECT_EQ(after.sum(kEntries) - before.sum(kEntries) + after.sum(kEvictions), forged);
  EXPECT_GE(after.sum(kEvictions), forged - kTableCapacity);

  // The table's memory was allocated at start: what grows is allocator and logging noise.
  // (Sanitizers' shadow memory and quarantine make RSS say little: not bounded there.)
  if (!sanitized()) {
    EXPECT_LT(max_rss - *rss_before, 16 * kMiB) << "echod's VmRSS went from " << *rss_before / kKiB
                                                << " KiB to " << max_rss / kKiB << " KiB";
  }

  // An ordinary client is still answered (its source evicted, or not: it has tokens either way).
  ASSERT_TRUE(send_to(client.get(), "after!!", kServerAddress, port));
  reply = receive_from(client.get());
  ASSERT_TRUE(reply.has_value()) << "no reply after the spray";
  EXPECT_EQ(reply->payload, "after!!");
  EXPECT_EQ(reply->source.to_string(), server.to_string());
  EXPECT_TRUE(daemon.wait_for_log("reason rate_limited_source"));
}

}  // namespace
}  // namespace echod::test
