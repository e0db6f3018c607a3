#pragma once

#include <chrono>
#include <cstdint>
#include <variant>

#include "config/config.hpp"
#include "net/listen_socket.hpp"

namespace echod {

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
// Stop accepting on this listener, accept what is already queued on it, then close it.
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
// steering), then accepts what is queued and closes them. Its connections then finish as under
// Drain, by `deadline`, and the thread ends.
struct Retire {
  std::chrono::steady_clock::time_point close_listeners_at;
  std::chrono::steady_clock::time_point deadline;
};
// Test builds only (ECHOD_TEST_HOOKS): blocks the worker's thread, as a wedged worker would.
struct Wedge {
  std::chrono::milliseconds duration;
};

using WorkerCommand = std::variant<ApplySettings, AddListener, UpdateListener, RemoveListener,
                                   Drain, Stop, Ping, SteerListeners, Retire, Wedge>;

}  // namespace echod
