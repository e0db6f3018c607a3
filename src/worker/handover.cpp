// Handing open connections from one worker to another: a retiring worker's to the workers that
// stay, and after a growth an old worker's share to the new ones. Workers are threads of one
// process, so a connection moves whole: its fd, pending output, state, clocks and admission
// ticket. It belongs to exactly one worker at every instant (or to the AdoptConnections command
// between two); the sender takes it out of its epoll first, and the receiver registers it with
// the events it waits for, so epoll reports at once whatever became ready on the way.
#include <algorithm>
#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

#include "worker/worker.hpp"

namespace echod {

bool Worker::reserve_adoption() noexcept {
  std::uint32_t pending = incoming_.load();
  do {
    if (pending == kNoMoreAdoptions) return false;
  } while (!incoming_.compare_exchange_weak(pending, pending + 1));
  return true;
}

void Worker::adopt(AdoptConnections connections) { post(std::move(connections)); }

void Worker::handle(AdoptConnections& command) {
  incoming_.fetch_sub(1);
  // Arrived after this worker handed its own over: they follow them. (After Stop they are
  // added, then closed and counted with the rest when the loop ends.)
  if (phase_ != Phase::kStopped && handed_over_ &&
      distribute(command.connections, heirs_, command.started)) {
    return;
  }
  auto now = Clock::now();
  for (Connection& connection : command.connections) add_connection(std::move(connection), now);
  if (!command.connections.empty()) {
    auto took = std::chrono::duration<double, std::milli>(Clock::now() - command.started);
    spdlog::info("worker {}: took over {} connection(s) from worker {}, {:.1f} ms after it began",
                 index_, command.connections.size(), command.from, took.count());
  }
}

void Worker::handle(Rebalance& command) {
  if (phase_ != Phase::kRunning || connections_.size() <= command.keep) return;
  hand_over(connections_.size() - command.keep, command.to);
}

std::vector<Connection> Worker::take_connections(std::size_t count) {
  std::vector<Connection> taken;
  taken.reserve(std::min(count, connections_.size()));
  connections_.for_each([&](std::uint64_t token, Connection& connection) {
    if (taken.size() == count) return;
    // The fd stays open, so epoll would keep it registered here: take it out explicitly.
    epoll_.remove(connection.fd());
    taken.push_back(connections_.take(token));
  });
  status_.connections.store(connections_.size(), std::memory_order_relaxed);
  return taken;
}

bool Worker::distribute(std::vector<Connection>& connections, const std::vector<Worker*>& heirs,
                        Clock::time_point started) {
  struct Heir {
    Worker* worker;
    std::uint64_t load;
    std::vector<Connection> connections;
  };
  std::vector<Heir> open;
  open.reserve(heirs.size());  // no allocation between a reservation and its adopt()
  for (Worker* heir : heirs) {
    if (heir->reserve_adoption()) {
      open.push_back({heir, heir->status().connections.load(std::memory_order_relaxed), {}});
    }
  }
  if (open.empty()) return false;
  for (Connection& connection : connections) {
    Heir& least = *std::min_element(open.begin(), open.end(), [](const Heir& a, const Heir& b) {
      return a.load + a.connections.size() < b.load + b.connections.size();
    });
    least.connections.push_back(std::move(connection));
  }
  connections.clear();
  for (Heir& heir : open) {
    std::size_t count = heir.connections.size();
    if (count > 0) {
      spdlog::info("worker {}: handing {} connection(s) to worker {}", index_, count,
                   heir.worker->index());
    }
    // Even an empty one: it ends the reservation.
    heir.worker->adopt(AdoptConnections{std::move(heir.connections), index_, started});
  }
  return true;
}

void Worker::hand_over(std::size_t count, const std::vector<Worker*>& heirs) {
  if (count == 0) return;
  auto started = Clock::now();
  std::vector<Connection> leaving = take_connections(count);
  const std::size_t moving = leaving.size();
  if (distribute(leaving, heirs, started)) {
    WorkerStatus::add(status_.handed_over, moving);
    return;
  }
  auto now = Clock::now();
  for (Connection& connection : leaving) add_connection(std::move(connection), now);
}

}  // namespace echod
