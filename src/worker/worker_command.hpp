#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "net/connection.hpp"
#include "net/listen_socket.hpp"
#include "net/udp_socket.hpp"
#include "udp/listener_stats.hpp"

namespace echod {

class Worker;

// The settings a worker runs with: an immutable snapshot, replaced whole by ApplySettings.
struct WorkerSettings {
  LimitsConfig limits;
};

// Commands the supervisor sends to a worker (through Worker::post, the only way in).
struct ApplySettings {
  WorkerSettings settings;
};
// Start accepting on this socket (one of the SO_REUSEPORT group of a listen address).
struct AddListener {
  std::uint32_t listener_id;
  ListenSocket socket;
  ListenerOptions options;
};
// New options for a listener (its socket stays open); they apply to connections accepted from
// now on.
struct UpdateListener {
  std::uint32_t listener_id;
  ListenerOptions options;
};
// Start echoing on this UDP socket (one of the SO_REUSEPORT group of a UDP listen address),
// adding its counts to the listener's `stats`.
struct AddUdpSocket {
  std::uint32_t listener_id;
  UdpSocket socket;
  std::shared_ptr<udp::ListenerStats> stats;
};
struct UdpEchoSettings;
// What the UDP sockets run with from now on (guard, rate limits, max_datagram).
struct ApplyUdpSettings {
  std::shared_ptr<const UdpEchoSettings> settings;
};
// Stop accepting on this listener, accept what is already queued on it, then close it. For a
// UDP listener: echo what is queued on its socket, then close it.
struct RemoveListener {
  std::uint32_t listener_id;
};
// Graceful stop: remove every listener, then echo what clients have sent, send FIN, and close
// each connection once the client closes too; whatever is left at the deadline is closed.
// The worker's thread ends when it has no listener and no connection left.
struct Drain {
  std::chrono::steady_clock::time_point deadline;
};
// Immediate stop: close everything and end the thread.
struct Stop {};
// Does nothing; being processed proves the worker's loop is alive (watchdog).
struct Ping {};
// Steers the new connections of every listener group this worker is in to the first `count`
// sockets of each group (0: to every socket). Sent to the first worker only, whose socket is
// the first of every group; the supervisor keeps each worker's socket at the same index in
// every group (see Supervisor).
struct SteerListeners {
  unsigned count;
};
// The worker leaves (fewer `workers:`). New connections are already steered to other sockets;
// it keeps accepting on its own until `close_listeners_at` (handshakes begun before the
// steering), then accepts what is queued and closes them. Then it hands every connection over
// to the `heirs` (serving workers, which the supervisor keeps alive until this worker ends),
// and the thread ends. Only if no heir takes connections any more (they are stopping too) do
// its connections finish here as under Drain, by `deadline`.
struct Retire {
  std::chrono::steady_clock::time_point close_listeners_at;
  std::chrono::steady_clock::time_point deadline;
  std::vector<Worker*> heirs;
};
// Connections handed over by another worker, which no longer touches them. Posted only after
// Worker::reserve_adoption() succeeded.
struct AdoptConnections {
  std::vector<Connection> connections;
  unsigned from;                                  // the worker they come from (for the log)
  std::chrono::steady_clock::time_point started;  // when that worker began handing them over
};
// After a growth: keeps `keep` connections and hands the rest over to `to` (the new workers,
// which the supervisor keeps alive until this command is processed).
struct Rebalance {
  std::uint64_t keep;
  std::vector<Worker*> to;
};
// Test builds only (ECHOD_TEST_HOOKS): blocks the worker's thread, as a wedged worker would.
struct Wedge {
  std::chrono::milliseconds duration;
};

using WorkerCommand = std::variant<ApplySettings, AddListener, UpdateListener, RemoveListener,
                                   Drain, Stop, Ping, SteerListeners, Retire, AdoptConnections,
                                   Rebalance, Wedge, AddUdpSocket, ApplyUdpSettings>;

}  // namespace echod
