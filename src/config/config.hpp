#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sys/cidr.hpp"
#include "sys/socket_address.hpp"

namespace echod {

// Plain values only: no YAML types here. Defaults below are the documented defaults
// (docs/configuration.md); the config loader starts from a default-constructed Config.

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kCritical, kOff };

// kAuto: the journal when stderr is connected to it (JOURNAL_STREAM), stderr otherwise.
enum class LogTarget { kAuto, kJournal, kStderr };

struct LoggingConfig {
  LogLevel level = LogLevel::kInfo;
  LogTarget target = LogTarget::kAuto;

  friend bool operator==(const LoggingConfig&, const LoggingConfig&) = default;
};

// Client address filter, checked right after accept: a client matching any `deny` network is
// refused; otherwise, when `allow` is not empty, it must match one of its networks.
struct AccessConfig {
  std::vector<Cidr> allow;  // empty: everyone not denied
  std::vector<Cidr> deny;

  [[nodiscard]] bool permits(const SocketAddress& peer) const;
  friend bool operator==(const AccessConfig&, const AccessConfig&) = default;
};

struct LimitsConfig {
  // Bytes read from a client in one read() call; also the size of each worker's scratch buffer.
  std::size_t io_buffer = 64 * 1024;
  // While more than this many echoed bytes wait to be written to a client, echod stops reading
  // from that client (TCP flow control then pushes back on the sender).
  std::size_t max_pending_output = 64 * 1024;
  // Open connections across all workers; clamped at start to what RLIMIT_NOFILE allows.
  std::uint32_t max_connections = 10000;
  // Per client address (IPv6: per /64). 0 = unlimited.
  std::uint32_t max_connections_per_ip = 32;
  // New connections per second per client address (token bucket), and the bucket size.
  // 0 = unlimited.
  std::uint32_t accept_rate_per_ip = 100;
  std::uint32_t accept_burst_per_ip = 200;
  // Client networks the per-address limits above (max_connections_per_ip, accept_rate_per_ip,
  // accept_burst_per_ip) do not apply to; max_connections and `access` still do. Default:
  // loopback, where per-address limits protect nothing (a local user has 16 million loopback
  // addresses) and local health checks, proxies and benchmarks all come from 127.0.0.1.
  std::vector<Cidr> exempt = default_exempt();
  // No byte in either direction for this long: closed. 0 = never.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  // Echoed bytes waiting and not one of them written for this long (the client stopped
  // reading): closed. 0 = never.
  std::chrono::milliseconds send_stall_timeout{std::chrono::seconds(30)};
  AccessConfig access;

  static std::vector<Cidr> default_exempt();  // 127.0.0.0/8 and ::1/128
  [[nodiscard]] bool is_exempt(const SocketAddress& peer) const;
  friend bool operator==(const LimitsConfig&, const LimitsConfig&) = default;
};

// The Prometheus endpoint (GET /metrics). Off unless the `metrics:` section enables it.
struct MetricsConfig {
  bool enabled = false;
  SocketAddress listen = default_listen();  // meaningful when enabled

  static SocketAddress default_listen();  // 127.0.0.1:9707

  friend bool operator==(const MetricsConfig&, const MetricsConfig&) = default;
};

// `workers: auto` (the default) means one worker per online CPU.
struct WorkerCount {
  bool automatic = true;
  unsigned count = 0;  // meaningful when !automatic; 1..kMaxWorkers

  static constexpr unsigned kMaxWorkers = 256;
  [[nodiscard]] unsigned resolve() const;  // automatic -> online CPUs (at least 1)

  friend bool operator==(const WorkerCount&, const WorkerCount&) = default;
};

// The transport a listener serves: `listen:` lists TCP listeners, `udp.listen` UDP ones. A UDP
// listener is one SO_REUSEPORT datagram socket per worker, opened by the same listener registry.
enum class ListenProtocol { kTcp, kUdp };

// Whether a TCP listener expects a PROXY protocol header (HAProxy's v1 text line or v2 binary
// header) from its peers, and which versions. kOff: never; a header is echoed like any data.
enum class ProxyProtocol : std::uint8_t { kOff, kV1, kV2, kAny };

// Per-listener options. A reload that changes only these keeps the listener's sockets
// (ConfigChanges::changed_listeners) and applies them to new connections.
struct ListenerOptions {
  ProxyProtocol proxy_protocol = ProxyProtocol::kOff;
  // PROXY listeners: the peers (balancers) allowed to connect and send a header; any other peer
  // is closed before a byte is read. Never empty when proxy_protocol is on.
  std::vector<Cidr> trusted;
  // PROXY listeners: a trusted peer whose header is not complete this long after accept is
  // closed.
  std::chrono::milliseconds header_timeout{std::chrono::seconds(5)};

  [[nodiscard]] bool proxy() const { return proxy_protocol != ProxyProtocol::kOff; }
  friend bool operator==(const ListenerOptions&, const ListenerOptions&) = default;
};

std::string_view to_string(ProxyProtocol protocol);

// One listener, from the configuration to the supervisor's listener registry. The registry
// finds a listener by the whole value; a reload pairs listeners by address and protocol, so that
// a TCP and a UDP listener on one address are two listeners and new options keep the socket.
struct ListenerConfig {
  SocketAddress address;
  ListenProtocol protocol = ListenProtocol::kTcp;
  ListenerOptions options;

  static ListenerConfig tcp(const SocketAddress& address);
  static ListenerConfig udp(const SocketAddress& address);
  // "127.0.0.1:7" for TCP (as `listen:` writes it), "127.0.0.1:7/udp" for UDP.
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(const ListenerConfig&, const ListenerConfig&) = default;
};

struct ListenerConfigHash {
  std::size_t operator()(const ListenerConfig& listener) const;
};

// The listeners of `list` that `other` does not have, in the order of `list`.
std::vector<ListenerConfig> listeners_only_in(const std::vector<ListenerConfig>& list,
                                              const std::vector<ListenerConfig>& other);

// A listener whose address and protocol stay while its options change (its socket stays open).
struct ListenerChange {
  ListenerConfig before;
  ListenerConfig after;
};
// Moves the listeners of `removed` that `added` has again with other options (the same address
// and protocol) out of both lists, as changes. `removed` and `added`: listeners_only_in() both
// ways.
std::vector<ListenerChange> take_option_changes(std::vector<ListenerConfig>& removed,
                                                std::vector<ListenerConfig>& added);

// UDP echo (RFC 862), the `udp:` section. Off unless `listen` names an address. Every value
// applies on reload. docs/configuration.md gives the reasons for each default.
struct UdpConfig {
  std::vector<ListenerConfig> listen;  // protocol kUdp; empty: no UDP socket at all
  // Longest datagram echoed; a longer (or truncated) one is dropped and counted, never echoed
  // cut. 65527 is the largest UDP payload IPv6 carries (IPv4: 65507).
  std::size_t max_datagram = 65527;
  // Source ports below this are other services' ports: a datagram from one is dropped.
  std::uint32_t min_source_port = 1024;
  std::vector<std::uint16_t> deny_source_ports = default_deny_source_ports();
  // Per source (IPv4 address, IPv6 /64): datagrams per second and burst, bytes per second
  // (burst: twice that). Process-wide: datagrams per second (burst: twice that). 0 = no limit.
  std::uint32_t rate_per_source = 200;
  std::uint32_t burst_per_source = 400;
  std::size_t bytes_per_source = 256 * 1024;
  std::uint32_t rate_global = 20000;
  // Sources the rate limits do not apply to (the guards still do). Default: loopback.
  std::vector<Cidr> rate_limit_exempt = LimitsConfig::default_exempt();
  // Lets a listener that is not on loopback run with a rate limit switched off.
  bool allow_unlimited_public = false;
  AccessConfig access;  // the same semantics as limits.access

  // NFS, SSDP, WS-Discovery, mDNS, CoAP, memcached, Quake 3: services at or above 1024 that
  // answer a datagram with one (udp::GuardConfig::default_deny_source_ports()).
  static std::vector<std::uint16_t> default_deny_source_ports();
  [[nodiscard]] bool enabled() const { return !listen.empty(); }
  // Whether some rate limit is switched off (0).
  [[nodiscard]] bool unlimited() const {
    return rate_per_source == 0 || bytes_per_source == 0 || rate_global == 0;
  }
  friend bool operator==(const UdpConfig&, const UdpConfig&) = default;
};

struct Config {
  std::vector<ListenerConfig> listen = default_listen();
  WorkerCount workers;
  LoggingConfig log;
  LimitsConfig limits;
  MetricsConfig metrics;
  UdpConfig udp;
  std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(10)};

  static std::vector<ListenerConfig> default_listen();  // TCP 127.0.0.1:7 and [::1]:7
  // `listen` then `udp.listen`: every listener the registry opens.
  [[nodiscard]] std::vector<ListenerConfig> all_listeners() const;

  friend bool operator==(const Config&, const Config&) = default;
};

}  // namespace echod
