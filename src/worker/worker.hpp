#pragma once

#include <sys/epoll.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "event/command_queue.hpp"
#include "event/epoll.hpp"
#include "event/wakeup_event.hpp"
#include "log/log_limiter.hpp"
#include "net/acceptor.hpp"
#include "worker/admission.hpp"
#include "worker/connection_table.hpp"
#include "worker/pending_headers.hpp"
#include "worker/udp_endpoints.hpp"
#include "worker/worker_command.hpp"
#include "worker/worker_status.hpp"

namespace echod {

// Where a worker is in its life. It only moves forward, always through Worker::enter(); a phase
// may be entered again with new deadlines (a second Retire, or a Drain with an earlier one).
enum class WorkerPhase : std::uint8_t {
  kRunning,   // accepting and serving
  kRetiring,  // Retire received: still accepting until its close_listeners_at, then kDraining
  kDraining,  // listeners closed: connections finish by the deadline; then the loop ends
  kStopped,   // Stop received: the loop ends now
};

// One event-loop thread: its own epoll instance, its own SO_REUSEPORT listening sockets and every
// connection it accepted, which live and die here.
//
// Thread contract: post(), status(), join() and unwedge() are safe to call from any thread (in
// practice the supervisor). Everything else runs on the worker's own thread.
class Worker {
 public:
  // `supervisor_wakeup` is notified whenever status() changes in a way the supervisor waits
  // for: the loop started, commands were processed, the loop ended.
  // `admission` is shared by all workers and outlives them.
  Worker(unsigned index, WorkerSettings settings, Admission& admission,
         WakeupEvent& supervisor_wakeup);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker();

  void start();
  void join();

  // Queues a command and wakes the worker. Returns the command's sequence number: the command
  // has been carried out once status().processed_commands reaches it.
  std::uint64_t post(WorkerCommand command) { return commands_.push(std::move(command)); }
  [[nodiscard]] const WorkerStatus& status() const noexcept { return status_; }
  [[nodiscard]] unsigned index() const noexcept { return index_; }
  // Test builds only: ends a Wedge before its duration (or the next one at once, if none is on).
  void unwedge() noexcept { unwedge_requested_.store(true); }

  // Handing connections over, from another worker's thread, in two steps: reserve_adoption()
  // says whether this worker still takes connections (false once its loop has ended or is
  // about to); after a true, adopt() must follow exactly once. A reservation keeps the loop
  // running until the connections have arrived.
  [[nodiscard]] bool reserve_adoption() noexcept;
  void adopt(AdoptConnections connections);

 private:
  using Clock = std::chrono::steady_clock;
  using Phase = WorkerPhase;

  struct Listener {
    std::uint32_t id;
    ListenSocket socket;
    Acceptor acceptor;  // while paused (out of fds or memory), the listener is not armed
    ListenerOptions options;
  };

  void run();
  void loop();
  void process_commands();
  void handle(ApplySettings& command);
  void handle(AddListener& command);
  void handle(UpdateListener& command);
  void handle(RemoveListener& command);
  void handle(Drain& command);
  void handle(Stop& command);
  void handle(Ping& command);
  void handle(SteerListeners& command);
  void handle(Retire& command);
  void handle(AdoptConnections& command);
  void handle(Rebalance& command);
  void handle(Wedge& command);
  void handle(AddUdpSocket& command);
  void handle(ApplyUdpSettings& command);

  void on_listener_ready(Listener& listener);
  // Accepts up to `limit` connections from the listener, admits or refuses each.
  void accept_from(Listener& listener, int limit);
  void on_accepted(const Listener& listener, AcceptedConnection accepted);
  // Admits `client` (the peer, or the client a PROXY header named) and registers the connection.
  // `reserved`: the budget a connection held while it waited for its header.
  void admit(UniqueFd fd, const SocketAddress& client, const SocketAddress& peer,
             const SocketAddress& bound, Clock::time_point now, AdmissionTicket reserved = {});
  // PROXY listeners (pending_headers.hpp): a trusted peer's header arriving, or not.
  void wait_for_header(const Listener& listener, AcceptedConnection accepted,
                       Clock::time_point now);
  void on_header_ready(std::uint64_t token);
  // A header complete (then the connection is admitted) or refused; `registered`: the fd is in
  // epoll under its pending token.
  void on_header_outcome(PendingHeaders::Outcome outcome, bool registered);
  void refuse_proxy(UniqueFd fd, ProxyReject reason, const SocketAddress& peer,
                    std::uint32_t listener_id, int error);
  [[nodiscard]] SocketAddress listener_address(std::uint32_t id) const;
  void on_accept_failure(const Listener& listener, const AcceptFailure& failure);
  // Accepts what is queued on the listener, then closes it. `shrink` first shrinks its backlog,
  // for a socket that new connections are not steered away from.
  void close_listener(Listener& listener, bool shrink);
  void close_all_listeners(bool shrink);
  // The one transition function: checks the move, logs it (debug) and starts the new phase.
  // `deadline`: for kRetiring and kDraining, when connections still open are closed.
  void enter(Phase next, Clock::time_point deadline = {},
             Clock::time_point close_listeners_at = {});
  [[nodiscard]] bool draining() const noexcept { return phase_ == Phase::kDraining; }
  // `client`: the address admission judged; nullopt when refused before a PROXY header named
  // one. `peer`: who connected (the client itself, or a balancer).
  void reject(UniqueFd fd, RejectReason reason, const std::optional<SocketAddress>& client,
              const SocketAddress& peer, const SocketAddress& bound);
  // Registers a connection (new, or handed over by another worker) with the events it waits
  // for. False when it could not be registered (then it is closed).
  bool add_connection(Connection connection, Clock::time_point now);
  // Takes up to `count` connections out of this worker's epoll and table.
  std::vector<Connection> take_connections(std::size_t count);
  // Hands the connections over to the least loaded of `heirs` that still take connections.
  // False (and `connections` untouched) when none does.
  // `started`: when the hand-over began (for the log).
  bool distribute(std::vector<Connection>& connections, const std::vector<Worker*>& heirs,
                  Clock::time_point started);
  // Hands up to `count` of this worker's connections to `heirs`; those no heir takes stay.
  void hand_over(std::size_t count, const std::vector<Worker*>& heirs);
  void on_connection_ready(std::uint64_t token, std::uint32_t events);
  void expire_connections(Clock::time_point now);
  void kick_draining(Clock::time_point now);
  [[nodiscard]] Connection::Ticks ticks(Clock::time_point now) const noexcept;
  [[nodiscard]] bool has_connection_timeouts() const noexcept;
  void close_connection(std::uint64_t token, CloseReason reason, int error);
  void rearm_listener(Listener& listener);
  void run_timers(Clock::time_point now);
  [[nodiscard]] int timeout_ms(Clock::time_point now) const;
  // True when the loop may end; from then on no other worker can hand connections over.
  [[nodiscard]] bool done() noexcept;
  void apply_settings(const WorkerSettings& settings);

  const unsigned index_;
  Admission& admission_;
  WakeupEvent& supervisor_wakeup_;
  CommandQueue<WorkerCommand> commands_;
  WorkerStatus status_;
  std::thread thread_;

  // Owned by the worker's thread from start() on.
  WorkerSettings settings_;
  Epoll epoll_;
  std::vector<Listener> listeners_;
  UdpEndpoints udp_{index_, epoll_, ConnectionTable::kTagBit, status_.udp_sockets};
  ConnectionTable connections_;
  PendingHeaders pending_;
  std::vector<std::byte> scratch_;
  IoContext io_;
  std::array<epoll_event, 256> events_{};
  Phase phase_ = Phase::kRunning;
  Clock::time_point close_listeners_at_{};  // kRetiring
  Clock::time_point deadline_{};            // kRetiring, kDraining
  std::vector<Worker*> heirs_;              // kRetiring: who takes the connections over
  bool handed_over_ = false;                // its connections went to heirs_: forward arrivals
  Clock::time_point next_expiry_check_{};
  Clock::time_point next_drain_kick_{};
  std::uint64_t processed_ = 0;
  LogLimiter accept_error_log_;
  LogLimiter accept_exhausted_log_;
  LogLimiter connection_error_log_;
  std::atomic<bool> unwedge_requested_{false};
  // Adoptions reserved and not processed yet; kNoMoreAdoptions once the loop may end.
  static constexpr std::uint32_t kNoMoreAdoptions = ~std::uint32_t{0};
  std::atomic<std::uint32_t> incoming_{0};
};

}  // namespace echod
