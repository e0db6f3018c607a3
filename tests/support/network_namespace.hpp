#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace echod::test {

// Moves the calling thread (and so every thread and process it starts afterwards) into a new,
// empty network namespace with loopback up, so that load tests neither see nor disturb other
// traffic on the machine and system-wide counters (nstat) are theirs alone. Needs root, or
// unprivileged user namespaces; call it first thing in a test, before any thread starts.
// Returns false, with the reason in `why`, when neither is available (the test then runs in
// the shared namespace).
bool enter_private_network(std::string& why);

// The kernel's TCP listen-queue counters (nstat TcpExtListenDrops / TcpExtListenOverflows) of
// the current network namespace; nullopt when nstat cannot be run.
struct ListenQueueCounters {
  std::uint64_t drops = 0;
  std::uint64_t overflows = 0;
  friend bool operator==(const ListenQueueCounters&, const ListenQueueCounters&) = default;
};
std::optional<ListenQueueCounters> listen_queue_counters();

}  // namespace echod::test
