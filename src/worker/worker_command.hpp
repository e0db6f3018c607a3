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

using WorkerCommand = std::variant<ApplySettings, AddListener, RemoveListener, Drain, Stop, Ping>;

}  // namespace echod
