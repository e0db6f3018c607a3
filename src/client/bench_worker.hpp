#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include "client/bench_shared.hpp"
#include "client/options.hpp"
#include "client/stream_verifier.hpp"
#include "sys/unique_fd.hpp"

namespace echod::client {

// One bench thread: its own epoll and its own share of the connections, none shared. Everything
// here runs on the thread that calls run(); only BenchShared crosses threads.
//
// A connection goes kWaiting -> kConnecting -> kRunning, and then, by mode:
//   load:  keeps `pipeline` messages in flight until the run stops issuing, then kClosing;
//   churn: one message, kClosing, kClosed, and kWaiting again with a new stream;
//   idle:  one message, kIdle until the run stops, then kClosing.
// kClosing has sent FIN and waits for the server's (any byte then is an error). Any error moves
// a connection to kFailed for good.
class BenchWorker {
 public:
  // `connections` slots whose global numbers start at `first_connection`. `message_budget` is
  // this thread's share of --messages. `start_ns` is the common start on the steady clock.
  BenchWorker(const BenchOptions& options, BenchShared& shared, std::uint32_t first_connection,
              std::uint32_t connections, std::optional<std::uint64_t> message_budget,
              std::int64_t start_ns);

  // Runs to completion; bounded by the duration or budget plus the per-connection timeouts.
  // Throws std::system_error only when the thread cannot start at all (epoll_create).
  WorkerResult run();

 private:
  enum class State : std::uint8_t { kWaiting, kConnecting, kRunning, kIdle, kClosing, kDone };

  struct Message {
    std::int64_t start_ns;  // first byte sent; 0 until then
    bool counted;           // issued after the warmup
  };

  struct Connection {
    UniqueFd fd;
    State state = State::kWaiting;
    std::uint32_t generation = 0;
    std::uint32_t events = 0;  // epoll interest now registered
    std::optional<StreamVerifier> verifier;
    std::uint64_t queued = 0;     // messages committed to send
    std::uint64_t completed = 0;  // messages fully echoed
    std::vector<Message> window;  // message m is window[m % pipeline]
    std::int64_t connect_start_ns = 0;
    std::int64_t last_progress_ns = 0;
  };

  void start_connect(std::uint32_t slot, std::int64_t now);
  void pump_connects(std::int64_t now);
  void on_event(std::uint64_t token, std::uint32_t events);
  void on_connected(std::uint32_t slot, std::int64_t now);
  // --proxy: false when it failed (the connection is failed).
  bool send_proxy_header(std::uint32_t slot);
  void receive(std::uint32_t slot, std::int64_t now);
  void send_pending(std::uint32_t slot, std::int64_t now);
  std::span<const unsigned char> prepare(std::uint32_t slot, std::uint64_t offset,
                                         std::size_t size);
  void queue_messages(Connection& c, std::int64_t now);
  void complete_messages(Connection& c, std::int64_t now);
  void begin_close(std::uint32_t slot, std::int64_t now);
  void finish(std::uint32_t slot, std::int64_t now);
  void fail(std::uint32_t slot, ErrorKind kind, const std::string& what);
  void fail_with_errno(std::uint32_t slot, const char* call, int error);
  void set_events(std::uint32_t slot, std::uint32_t events);
  void stop_issuing(std::int64_t now);
  void sweep(std::int64_t now);
  void publish_live();

  [[nodiscard]] bool can_issue() const;
  [[nodiscard]] bool nothing_echoed(std::uint32_t slot) const;
  [[nodiscard]] std::uint64_t token(std::uint32_t slot) const;

  const BenchOptions& options_;
  BenchShared& shared_;
  std::uint32_t first_connection_;
  std::optional<std::uint64_t> budget_;
  std::int64_t warmup_end_ns_;
  std::int64_t end_ns_;          // duration mode: end of measurement
  std::int64_t count_until_ns_;  // completions after this are not counted
  std::int64_t timeout_ns_;

  UniqueFd epoll_;
  std::vector<Connection> connections_;
  std::deque<std::uint32_t> waiting_;
  std::uint32_t pending_connects_ = 0;
  std::uint32_t live_ = 0;  // connections not yet kDone
  std::uint64_t issued_ = 0;
  std::uint64_t connect_attempts_ = 0;
  bool issuing_ = true;
  std::vector<unsigned char> send_buffer_;
  std::vector<unsigned char> receive_buffer_;
  // What send_buffer_ holds: `size` stream bytes from `offset` of the connection named `token`.
  // Kept while send() takes them piece by piece, so that no byte is generated twice.
  struct Prepared {
    std::uint64_t token = ~std::uint64_t{0};
    std::uint64_t offset = 0;
    std::size_t size = 0;
  } prepared_;

  WorkerResult result_;
  LiveStats::Snapshot live_delta_;
};

}  // namespace echod::client
