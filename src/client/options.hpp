#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "sys/socket_address.hpp"

namespace echod::client {

using Nanoseconds = std::chrono::nanoseconds;

inline constexpr int kExitOk = 0;
inline constexpr int kExitEchoError = 1;    // the echo was wrong, late, cut short or reset
inline constexpr int kExitSystemError = 2;  // could not connect, or a local I/O or setup failure
inline constexpr int kExitUsage = 64;       // EX_USAGE

// The largest UDP payload over IPv4 and over IPv6 (65535 less the IP and UDP headers).
inline constexpr std::uint64_t kMaxUdpPayloadIpv4 = 65507;
inline constexpr std::uint64_t kMaxUdpPayloadIpv6 = 65527;
// The smallest `bench --udp` datagram: two whole 8-byte words of its stream, so that one
// corrupted byte still leaves a word that tells which flow and sequence number it was.
inline constexpr std::uint64_t kMinUdpBenchSize = 16;
// Default per-datagram timeout with --udp: a lost datagram is declared lost after this long.
inline constexpr Nanoseconds kDefaultUdpTimeout = std::chrono::seconds(1);

// `echod-client [HOST] [PORT]`: echo stdin through the server to stdout.
struct StreamOptions {
  SocketAddress server;
  Nanoseconds timeout = std::chrono::seconds(10);  // longest wait for an echo while one is due
  bool udp = false;  // each input line is one datagram, echoed before the next is sent
};

enum class BenchMode : std::uint8_t {
  kLoad,   // keep `pipeline` messages in flight on every connection
  kChurn,  // connect, echo one message, close; again
  kIdle,   // connect and echo once, then hold every connection open for the duration
};

// `echod-client bench ...`
struct BenchOptions {
  SocketAddress server;
  BenchMode mode = BenchMode::kLoad;
  std::uint32_t connections = 50;
  std::uint32_t threads = 1;
  std::uint64_t size = 512;
  std::uint32_t pipeline = 1;
  std::optional<std::uint64_t> messages;  // total across threads; replaces the duration
  Nanoseconds duration = std::chrono::seconds(10);
  Nanoseconds warmup{0};
  Nanoseconds timeout = std::chrono::seconds(10);
  std::vector<SocketAddress> sources;  // local addresses to bind, round-robin; empty: kernel picks
  std::uint32_t connect_concurrency = 256;  // pending connects per thread
  // --proxy v1|v2: every connection starts with a PROXY protocol header (0: none) naming
  // `proxy_source` (port 0: the connection's own port) or, without it, the connection's own
  // local address as the client.
  std::uint8_t proxy_version = 0;
  std::optional<SocketAddress> proxy_source;
  std::uint64_t seed = 0;
  bool json = false;
  bool live = false;  // a progress line per second on stdout
  // --udp: `flows` sockets (distinct source ports), each with one datagram in flight
  // (ping-pong), or, with `rate`, datagrams sent open-loop at that total rate.
  bool udp = false;
  std::uint32_t flows = 8;
  std::optional<double> rate;  // datagrams per second across all flows
};

struct HelpRequest {
  std::string text;
};

using Command = std::variant<HelpRequest, StreamOptions, BenchOptions>;

}  // namespace echod::client
