// udp_rate_table_timing: what the shared UDP rate table costs per datagram, on 1..N threads
// that admit recvmmsg-sized batches (32 datagrams) at once, as echod's workers do. Prints one
// line per scenario; measures, asserts nothing.
//
//   one source      every thread offers the same source (a sprayer spread over the workers by
//                   the reuseport hash): every batch locks the same shard
//   own source      each thread has its own source: batches rarely share a shard
//   spoofed spray   every datagram from a new random source: every batch touches ~32 shards,
//                   and a full table evicts on every insert
//
// Usage: udp_rate_table_timing [SECONDS_PER_SCENARIO] [MAX_THREADS]   (default 0.5 and 4)

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "sys/socket_address.hpp"
#include "udp/rate_table.hpp"

namespace {

using echod::SocketAddress;
using echod::udp::DropReason;
using echod::udp::RateTable;
using Clock = RateTable::Clock;

enum class Sources : std::uint8_t { kOne, kOwn, kSpray };

struct Figures {
  double ns_per_datagram;  // wall time per datagram, all threads together
  double datagrams_per_s;
};

Figures run(Sources sources, unsigned threads, double seconds) {
  RateTable table;  // default capacity and limits
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> total{0};
  auto worker = [&](unsigned id) {
    std::mt19937_64 random(id + 1);
    std::vector<SocketAddress> addresses(32);
    std::vector<RateTable::Request> requests(32);
    std::vector<std::optional<DropReason>> verdicts(32);
    for (std::size_t i = 0; i < 32; ++i) {
      std::uint32_t host = sources == Sources::kOne ? 0x0a000001U : 0x0a000100U + id;
      addresses[i] = SocketAddress::from_ipv4(host, static_cast<std::uint16_t>(40000 + i));
      requests[i] = {addresses[i].data(), addresses[i].length(), 64, false};
    }
    std::uint64_t done = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      if (sources == Sources::kSpray) {
        for (std::size_t i = 0; i < 32; ++i) {
          addresses[i] = SocketAddress::from_ipv4(static_cast<std::uint32_t>(random()), 40000);
        }
      }
      table.admit(requests, verdicts, Clock::now());
      done += 32;
    }
    total += done;
  };
  std::vector<std::thread> pool;
  auto start = Clock::now();
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker, t);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& thread : pool) thread.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  auto count = static_cast<double>(total.load());
  return {elapsed * 1e9 / count, count / elapsed};
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::strtod(argv[1], nullptr) : 0.5;                  // NOLINT
  unsigned max_threads = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 4;  // NOLINT
  if (seconds <= 0 || seconds > 60 || max_threads == 0 || max_threads > 64) {
    std::fprintf(stderr, "usage: udp_rate_table_timing [SECONDS 0-60] [MAX_THREADS 1-64]\n");
    return 64;
  }
  std::printf("%-14s %7s %14s %16s\n", "sources", "threads", "ns/datagram", "datagrams/s");
  const std::pair<Sources, const char*> scenarios[] = {{Sources::kOne, "one source"},
                                                       {Sources::kOwn, "own source"},
                                                       {Sources::kSpray, "spoofed spray"}};
  for (const auto& [sources, name] : scenarios) {
    for (unsigned threads = 1; threads <= max_threads; threads *= 2) {
      auto figures = run(sources, threads, seconds);
      std::printf("%-14s %7u %14.1f %16.0f\n", name, threads, figures.ns_per_datagram,
                  figures.datagrams_per_s);
    }
  }
  std::printf("(%u hardware threads here)\n", std::thread::hardware_concurrency());
}
