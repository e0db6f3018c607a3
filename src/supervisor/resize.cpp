// Changing the number of workers on reload, without dropping a connection.
//
// Growing: new sockets join every listener group at the end. While they wait for their worker
// to start, the first worker steers new connections to the sockets already served, so nothing
// queues on a socket nobody accepts from; once the new workers run, the steering ends.
//
// Shrinking: the last workers retire. The first worker steers new connections to the sockets
// of the workers that stay (the kernel runs the program for each SYN only). A handshake that
// began before the steering still completes on the retiring socket, so a retiring worker keeps
// accepting for kRetireGrace, then accepts what is queued and closes its listeners. With
// net.ipv4.tcp_migrate_req=1 the kernel moves whatever is still queued or half-open on a
// closing socket to another socket of its group, and the retiring worker closes at once. Then
// it hands every open connection over to the workers that stay (workers are threads of one
// process: a connection is an fd and its state), spread by their load, and ends. Clients notice
// nothing. Retiring workers are joined in the order they retired: a worker named as an heir
// outlives every worker that may still hand connections to it.
//
// After a growth, each old worker keeps its fair share (open connections / workers) and hands
// the rest to the new workers: one Rebalance command each, once per growth.
#include <algorithm>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>

#include "config/units.hpp"
#include "supervisor/supervisor.hpp"

namespace echod {
namespace {

// How long a retiring socket still accepts after new connections were steered away: covers
// handshakes in flight at that moment, except one whose SYN-ACK was lost (TCP resends it after
// one second).
constexpr auto kRetireGrace = std::chrono::seconds(1);
constexpr auto kCommandTimeout = std::chrono::seconds(5);
constexpr auto kRetireStopGrace = std::chrono::seconds(2);

std::optional<bool> tcp_migrate_req() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_migrate_req");
  int value = 0;
  if (!(in >> value)) return std::nullopt;
  return value != 0;
}

}  // namespace

void Supervisor::log_tcp_migrate_req() const {
  auto migrate = tcp_migrate_req();
  if (!migrate) {
    spdlog::info("net.ipv4.tcp_migrate_req is not available (Linux before 5.14)");
  } else if (*migrate) {
    spdlog::info(
        "net.ipv4.tcp_migrate_req is 1: connections queued on a closing listener move to "
        "another worker");
  } else {
    spdlog::info(
        "net.ipv4.tcp_migrate_req is 0: a retiring worker keeps accepting for {} ms after new "
        "connections are steered away",
        std::chrono::milliseconds(kRetireGrace).count());
  }
}

void Supervisor::prepare_growth(unsigned target, const std::vector<ListenerConfig>& removed,
                                const WorkerSettings& settings, Growth& growth) {
  // A socket joins its group at the end: while a retiring socket is open, a new one would not
  // land at its worker's index. Retiring sockets close within kRetireGrace.
  bool closed = wait_for(
      [this] {
        return std::all_of(retiring_.begin(), retiring_.end(), [](const WorkerSlot& slot) {
          const WorkerStatus& status = slot.worker->status();
          return (status.listeners.load() == 0 && status.udp_sockets.load() == 0) ||
                 status.finished.load();
        });
      },
      kRetireGrace + kCommandTimeout);
  if (!closed) {
    throw StartupError(
        "workers: retiring workers still hold listening sockets; new workers cannot be added "
        "yet (try again)");
  }
  const auto current = static_cast<unsigned>(workers_.size());
  if (listeners_.has_own_sockets()) {
    // A new socket takes connections as soon as it listens, before its worker runs.
    Worker& first = *workers_.front().worker;
    growth.steered = true;
    if (!wait_processed({{&first, first.post(SteerListeners{current})}}, kCommandTimeout)) {
      throw StartupError("workers: worker " + std::to_string(first.index()) +
                         " did not answer; not adding workers");
    }
  }
  try {
    for (unsigned i = current; i < target; ++i) {
      auto worker = make_worker(settings);
      for (const ListenerRegistry::Group& group : listeners_.groups()) {
        if (std::find(removed.begin(), removed.end(), group.configured) != removed.end()) continue;
        if (group.configured.protocol == ListenProtocol::kUdp) {
          worker->post(AddUdpSocket{group.id, ListenerRegistry::udp_socket_for_new_worker(group),
                                    group.udp_stats});
          continue;
        }
        worker->post(AddListener{group.id, ListenerRegistry::socket_for_new_worker(group),
                                 group.configured.options});
      }
      growth.workers.push_back(std::move(worker));
    }
  } catch (const std::system_error& e) {
    throw StartupError("workers: cannot prepare a new worker: " + std::string(e.what()));
  }
}

void Supervisor::abandon_growth(Growth& growth) {
  growth.workers.clear();  // their sockets were steered away from: nothing is queued on them
  if (growth.steered) workers_.front().worker->post(SteerListeners{0});
  growth.steered = false;
}

std::vector<Supervisor::Posted> Supervisor::grow(Growth growth) {
  std::vector<const Worker*> added;
  for (auto& worker : growth.workers) {
    try {
      worker->start();
    } catch (const std::system_error& e) {
      // Closing the sockets of this worker and of those after it leaves the serving sockets at
      // their indexes: a closing socket's place is taken by the last one, also one of these.
      spdlog::error("cannot start a new worker: {}; serving with {} worker(s)", e.what(),
                    workers_.size());
      break;
    }
    spdlog::info("worker {} started", worker->index());
    added.push_back(worker.get());
    workers_.push_back(WorkerSlot{std::move(worker)});
  }
  growth.workers.clear();  // any that did not start, with their sockets
  // A worker runs once it has taken its listeners (see Worker::run).
  bool running = wait_for(
      [&added] {
        return std::all_of(added.begin(), added.end(), [](const Worker* w) {
          return w->status().running.load() || w->status().failed.load();
        });
      },
      kCommandTimeout);
  if (!running) spdlog::warn("not every new worker started within {} s", kCommandTimeout.count());
  std::vector<Posted> posted;
  if (growth.steered) {
    Worker& first = *workers_.front().worker;
    posted.push_back({&first, first.post(SteerListeners{0})});
  }
  if (!added.empty()) rebalance(added.size(), posted);
  return posted;
}

void Supervisor::rebalance(std::size_t added, std::vector<Posted>& posted) {
  std::vector<Worker*> to;
  std::uint64_t open = 0;
  for (const WorkerSlot& slot : workers_) open += slot.worker->status().connections.load();
  for (std::size_t i = workers_.size() - added; i < workers_.size(); ++i) {
    to.push_back(workers_[i].worker.get());
  }
  const std::uint64_t keep = (open + workers_.size() - 1) / workers_.size();
  for (std::size_t i = 0; i + added < workers_.size(); ++i) {
    Worker& worker = *workers_[i].worker;
    std::uint64_t connections = worker.status().connections.load();
    if (connections <= keep) continue;
    spdlog::info("worker {}: keeps {} of its {} connection(s), hands the rest to the new workers",
                 worker.index(), keep, connections);
    Posted command{&worker, worker.post(Rebalance{keep, to})};
    posted.push_back(command);
    rebalancing_.push_back(command);
  }
}

std::vector<Supervisor::Posted> Supervisor::shrink(unsigned target,
                                                   std::chrono::milliseconds shutdown_timeout) {
  const bool own_sockets = listeners_.has_own_sockets();
  std::vector<Posted> posted;
  if (own_sockets) {
    Worker& first = *workers_.front().worker;
    posted.push_back({&first, first.post(SteerListeners{target})});
    shrink_steered_ = true;
    // The retiring sockets' grace starts once no new connection is steered to them.
    if (!wait_processed(posted, kCommandTimeout)) {
      spdlog::warn("worker {} did not confirm the steering within {} s", first.index(),
                   kCommandTimeout.count());
    }
  }
  auto now = Clock::now();
  // Inherited sockets are shared by every worker: a retiring worker just lets go of its handle.
  bool migrate = tcp_migrate_req().value_or(false);
  Retire retire{own_sockets && !migrate ? now + kRetireGrace : now, now + shutdown_timeout, {}};
  std::string heirs;
  for (std::size_t i = 0; i < target; ++i) {
    retire.heirs.push_back(workers_[i].worker.get());
    heirs += (i == 0 ? "" : ", ") + std::to_string(workers_[i].worker->index());
  }
  for (std::size_t i = target; i < workers_.size(); ++i) {
    WorkerSlot& slot = workers_[i];
    spdlog::info(
        "worker {} retiring: its listeners close {}, then its {} connection(s) move to worker(s) "
        "{}",
        slot.worker->index(),
        retire.close_listeners_at > now ? "after handshakes in flight" : "now",
        slot.worker->status().connections.load(), heirs);
    posted.push_back({slot.worker.get(), slot.worker->post(retire)});
    slot.retire_deadline = retire.deadline;
    retiring_.push_back(std::move(slot));
  }
  workers_.erase(workers_.begin() + target, workers_.end());
  return posted;
}

void Supervisor::reap_retired() {
  auto now = Clock::now();
  // A worker named in an unprocessed Rebalance must stay; so must every worker that retired
  // after one still running (it may be that worker's heir).
  std::erase_if(rebalancing_, [](const Posted& posted) {
    return posted.worker->status().processed_commands.load() >= posted.sequence ||
           posted.worker->status().finished.load();
  });
  bool in_order = rebalancing_.empty();
  for (auto it = retiring_.begin(); it != retiring_.end();) {
    Worker& worker = *it->worker;
    const WorkerStatus& status = worker.status();
    if (!status.finished.load()) in_order = false;
    if (in_order && status.finished.load() && !status.failed.load()) {
      worker.join();
      spdlog::info("worker {} retired after serving {} connection(s)", worker.index(),
                   status.accepted_total.load());
      metrics_->retire(status);  // keeps its counts: totals never go back
      it = retiring_.erase(it);
      continue;
    }
    if (!it->stop_sent && now >= it->retire_deadline + kRetireStopGrace) {
      spdlog::warn("worker {} still busy after its shutdown timeout; closing its connections",
                   worker.index());
      worker.post(Stop{});
      it->stop_sent = true;
    }
    ++it;
  }
  // Once the retiring sockets are gone the steering has nothing left to avoid: the kernel's own
  // hash is back, which keeps each UDP flow on one socket (the steering picks one at random for
  // every datagram, which would reorder a flow's replies).
  if (shrink_steered_ && retiring_.empty() && !workers_.empty()) {
    workers_.front().worker->post(SteerListeners{0});
    shrink_steered_ = false;
  }
}

}  // namespace echod
