#include "client/udp_bench.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <ctime>
#include <memory>

#include <fmt/format.h>

#include "client/blocked_signals.hpp"
#include "client/cpu_stopwatch.hpp"
#include "client/stream_pattern.hpp"
#include "client/worker_threads.hpp"
#include "sys/system_error.hpp"
#include "sys/unique_fd.hpp"

namespace echod::client {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxSamples = 5;
constexpr int kMaxEvents = 64;
constexpr int kReceivesPerWakeup = 64;
// Sends one loop iteration may catch up with, so that a stalled client does not fire a burst.
constexpr std::uint64_t kMaxCatchUp = 256;

std::int64_t now_ns() {
  return std::chrono::duration_cast<Nanoseconds>(Clock::now().time_since_epoch()).count();
}

// Datagram `seq` of a flow is its stream's bytes [seq * stride, seq * stride + size): every
// datagram starts on a whole 8-byte word, so any whole word of an echo tells its flow and
// sequence number (StreamPattern::locate), even when other bytes of it were corrupted.
struct Flow {
  static constexpr std::uint8_t kReceived = 1;
  static constexpr std::uint8_t kLost = 2;
  static constexpr std::uint8_t kMeasured = 4;

  Flow(std::uint64_t run_key, std::uint32_t id)
      : pattern(run_key, id), sent_ns(kUdpFlowWindow), state(kUdpFlowWindow) {}

  UniqueFd fd;
  StreamPattern pattern;
  std::uint64_t next_seq = 0;  // the next to send
  std::uint64_t oldest = 0;    // the lowest not yet received or lost
  std::uint64_t highest_received = 0;
  bool any_received = false;
  std::vector<std::int64_t> sent_ns;  // by seq % kUdpFlowWindow
  std::vector<std::uint8_t> state;

  [[nodiscard]] bool idle() const { return oldest == next_seq; }
};

class UdpBenchWorker {
 public:
  UdpBenchWorker(const BenchOptions& options, std::atomic<bool>& stop, std::uint32_t first_flow,
                 std::uint32_t flow_count, std::optional<std::uint64_t> budget,
                 std::int64_t start_ns)
      : options_(options),
        stop_(stop),
        budget_(budget),
        stride_((options.size + 7) / 8 * 8),
        timeout_ns_(options.timeout.count()),
        measure_begin_ns_(start_ns + options.warmup.count()),
        buffer_(options.size),
        reply_(options.size + 1) {
    epoll_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) throw_errno("epoll_create1");
    for (std::uint32_t i = 0; i < flow_count; ++i) {
      auto flow = std::make_unique<Flow>(options.seed, first_flow + i);
      const auto& server = options.server;
      flow->fd = UniqueFd(::socket(server.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!flow->fd) throw_errno("socket");
      if (::connect(flow->fd.get(), server.data(), server.length()) != 0) {
        throw_errno("connect to UDP " + server.to_string());
      }
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.u32 = i;
      if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, flow->fd.get(), &event) != 0) {
        throw_errno("epoll_ctl");
      }
      flows_.push_back(std::move(flow));
    }
    if (options.rate) {
      interval_ns_ = 1e9 / (*options.rate / static_cast<double>(options.threads));
    }
  }

  UdpBenchResult run() {
    std::int64_t next_send = now_ns();
    std::size_t round_robin = 0;
    std::int64_t stop_sending_ns = 0;
    std::array<epoll_event, kMaxEvents> events{};
    for (;;) {
      std::int64_t now = now_ns();
      if (!stopping_ &&
          (stop_.load(std::memory_order_relaxed) || budget_spent() ||
           (!options_.messages && now >= measure_begin_ns_ + options_.duration.count()))) {
        stopping_ = true;
        stop_sending_ns = now;
      }
      if (!stopping_) {
        if (options_.rate) {
          for (std::uint64_t n = 0; next_send <= now && n < kMaxCatchUp && !budget_spent(); ++n) {
            send(*flows_[round_robin], now);
            round_robin = (round_robin + 1) % flows_.size();
            next_send += static_cast<std::int64_t>(interval_ns_);
          }
          if (next_send < now - static_cast<std::int64_t>(kMaxCatchUp * interval_ns_)) {
            next_send = now;  // too far behind: this client cannot send at --rate
          }
        } else {
          for (auto& flow : flows_) {
            if (flow->idle() && !budget_spent()) send(*flow, now);
          }
        }
      }
      sweep(now);
      if (stopping_) {
        bool drained =
            std::all_of(flows_.begin(), flows_.end(), [](const auto& f) { return f->idle(); });
        if (drained || now > stop_sending_ns + timeout_ns_ + 1'000'000) break;
      }
      std::int64_t wait_ns = stopping_ ? 1'000'000 : 10'000'000;
      if (!stopping_ && options_.rate) wait_ns = std::max<std::int64_t>(0, next_send - now);
      wait_ns = std::min(wait_ns, next_expiry(now) - now);
      timespec timeout{static_cast<time_t>(wait_ns / 1'000'000'000),
                       static_cast<long>(std::max<std::int64_t>(0, wait_ns) % 1'000'000'000)};
      int n = ::epoll_pwait2(epoll_.get(), events.data(), kMaxEvents, &timeout, nullptr);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_errno("epoll_pwait2");
      }
      for (int i = 0; i < n; ++i) {
        receive(*flows_[events[static_cast<std::size_t>(i)].data.u32]);
      }
    }
    result_.elapsed_s = last_event_ns_ > measure_begin_ns_
                            ? static_cast<double>(last_event_ns_ - measure_begin_ns_) / 1e9
                            : 0.0;
    return std::move(result_);
  }

 private:
  [[nodiscard]] bool budget_spent() const { return budget_ && result_.sent >= *budget_; }
  [[nodiscard]] bool measuring(std::int64_t now) const { return now >= measure_begin_ns_; }

  void sample(std::string text) {
    if (result_.error_samples.size() < kMaxSamples)
      result_.error_samples.push_back(std::move(text));
  }

  void send(Flow& flow, std::int64_t now) {
    if (flow.next_seq - flow.oldest >= kUdpFlowWindow) resolve_lost(flow, flow.oldest);
    flow.pattern.fill(flow.next_seq * stride_, buffer_);
    if (::send(flow.fd.get(), buffer_.data(), buffer_.size(), 0) < 0) {
      if (errno == ECONNREFUSED) {
        note_refused(flow);
      } else {
        ++result_.send_failures;  // the client's own buffers are full: not the server's doing
      }
      return;
    }
    const std::size_t slot = flow.next_seq % kUdpFlowWindow;
    flow.sent_ns[slot] = now;
    flow.state[slot] = measuring(now) ? Flow::kMeasured : 0;
    if (measuring(now)) {
      ++result_.sent;
      last_event_ns_ = std::max(last_event_ns_, now);
    }
    ++flow.next_seq;
  }

  void note_refused(const Flow& flow) {
    ++result_.refused;
    result_.errors.add(ErrorKind::kRefused);
    sample(fmt::format("flow {}: {} reports port unreachable (nothing listens there)",
                       flow.pattern.id(), options_.server.to_string()));
  }

  // Marks `seq` lost (if still outstanding) and moves `oldest` past what is resolved.
  void resolve_lost(Flow& flow, std::uint64_t seq) {
    std::uint8_t& state = flow.state[seq % kUdpFlowWindow];
    if ((state & (Flow::kReceived | Flow::kLost)) == 0) {
      state |= Flow::kLost;
      if (state & Flow::kMeasured) {
        ++result_.lost;
        result_.errors.add(ErrorKind::kLoss);
        if (result_.lost == 1) {
          sample(fmt::format("flow {}: datagram {} not echoed within {:g} s", flow.pattern.id(),
                             seq, std::chrono::duration<double>(options_.timeout).count()));
        }
      }
    }
    advance(flow);
  }

  static void advance(Flow& flow) {
    while (flow.oldest < flow.next_seq &&
           (flow.state[flow.oldest % kUdpFlowWindow] & (Flow::kReceived | Flow::kLost)) != 0) {
      ++flow.oldest;
    }
  }

  void sweep(std::int64_t now) {
    for (auto& flow : flows_) {
      while (!flow->idle() && flow->sent_ns[flow->oldest % kUdpFlowWindow] + timeout_ns_ <= now) {
        resolve_lost(*flow, flow->oldest);
      }
    }
  }

  [[nodiscard]] std::int64_t next_expiry(std::int64_t now) const {
    std::int64_t next = now + 1'000'000'000;
    for (const auto& flow : flows_) {
      if (!flow->idle()) {
        next = std::min(next, flow->sent_ns[flow->oldest % kUdpFlowWindow] + timeout_ns_);
      }
    }
    return std::max(next, now);
  }

  void receive(Flow& flow) {
    for (int i = 0; i < kReceivesPerWakeup; ++i) {
      ssize_t n = ::recv(flow.fd.get(), reply_.data(), reply_.size(), MSG_DONTWAIT | MSG_TRUNC);
      if (n < 0) {
        if (errno == ECONNREFUSED) {
          note_refused(flow);
          continue;
        }
        return;  // EAGAIN, or an error the next send reports
      }
      const std::int64_t now = now_ns();
      const auto length = static_cast<std::size_t>(n);
      const auto echo =
          std::span<const unsigned char>(reply_).first(std::min(length, reply_.size()));
      check(flow, echo, length, now);
    }
  }

  // Which datagram `echo` is the echo of: the expected one (cheap), or whatever a whole word of
  // it decodes to. Empty when no word decodes.
  [[nodiscard]] std::optional<std::pair<std::uint32_t, std::uint64_t>> identify(
      const Flow& flow, std::span<const unsigned char> echo, std::size_t length) const {
    std::uint64_t expected = flow.any_received ? flow.highest_received + 1 : flow.oldest;
    if (length == options_.size && expected < flow.next_seq &&
        flow.pattern.first_mismatch(expected * stride_, echo) == echo.size()) {
      return std::pair{flow.pattern.id(), expected};
    }
    for (std::size_t word = 0; word + 8 <= echo.size(); word += 8) {
      auto origin = StreamPattern::locate(options_.seed, echo.subspan(word, 8), options_.flows);
      if (!origin || origin->offset < word) continue;
      std::uint64_t start = origin->offset - word;
      if (start % stride_ != 0) continue;
      return std::pair{origin->id, start / stride_};
    }
    return std::nullopt;
  }

  void check(Flow& flow, std::span<const unsigned char> echo, std::size_t length,
             std::int64_t now) {
    auto id = identify(flow, echo, length);
    if (!id) {
      ++result_.corrupted;
      result_.errors.add(ErrorKind::kCorruption);
      sample(fmt::format("flow {}: a {}-byte echo that matches no datagram sent", flow.pattern.id(),
                         length));
      return;
    }
    auto [flow_id, seq] = *id;
    if (flow_id != flow.pattern.id()) {
      result_.errors.add(ErrorKind::kCrossed);
      sample(fmt::format("flow {}: received the echo of flow {}'s datagram {}", flow.pattern.id(),
                         flow_id, seq));
      return;
    }
    if (seq >= flow.next_seq) {
      ++result_.corrupted;
      result_.errors.add(ErrorKind::kCorruption);
      sample(fmt::format("flow {}: echo of datagram {}, which was never sent", flow_id, seq));
      return;
    }
    if (seq + kUdpFlowWindow < flow.next_seq) {
      ++result_.late;  // long forgotten: counted lost already
      return;
    }
    std::uint8_t& state = flow.state[seq % kUdpFlowWindow];
    const bool measured = (state & Flow::kMeasured) != 0;
    if (state & Flow::kReceived) {
      if (measured) {
        ++result_.duplicates;
        result_.errors.add(ErrorKind::kDuplication);
        sample(fmt::format("flow {}: datagram {} echoed twice", flow_id, seq));
      }
      return;
    }
    if (state & Flow::kLost) {
      if (measured) ++result_.late;
      return;
    }
    state |= Flow::kReceived;
    bool intact =
        length == options_.size && flow.pattern.first_mismatch(seq * stride_, echo) == echo.size();
    if (measured) {
      last_event_ns_ = std::max(last_event_ns_, now);
      if (!intact) {
        ++result_.corrupted;
        result_.errors.add(ErrorKind::kCorruption);
        std::size_t at = flow.pattern.first_mismatch(seq * stride_, echo);
        sample(length != options_.size
                   ? fmt::format("flow {}: datagram {} of {} bytes echoed with {}", flow_id, seq,
                                 options_.size, length)
                   : fmt::format("flow {}: datagram {} echoed with byte {} changed", flow_id, seq,
                                 at));
      } else {
        ++result_.received;
        result_.bytes += length;
        result_.latency.record(static_cast<std::uint64_t>(
            std::max<std::int64_t>(0, now - flow.sent_ns[seq % kUdpFlowWindow])));
        if (flow.any_received && seq < flow.highest_received) {
          ++result_.reordered;
          result_.errors.add(ErrorKind::kReordering);
          sample(fmt::format("flow {}: datagram {} echoed after datagram {}", flow_id, seq,
                             flow.highest_received));
        }
      }
    }
    if (!flow.any_received || seq > flow.highest_received) flow.highest_received = seq;
    flow.any_received = true;
    advance(flow);
    if (!stopping_ && !options_.rate && flow.idle() && !budget_spent()) send(flow, now);
  }

  const BenchOptions& options_;
  std::atomic<bool>& stop_;
  std::optional<std::uint64_t> budget_;
  std::uint64_t stride_;
  std::int64_t timeout_ns_;
  std::int64_t measure_begin_ns_;
  double interval_ns_ = 0;
  std::vector<unsigned char> buffer_;
  std::vector<unsigned char> reply_;
  UniqueFd epoll_;
  std::vector<std::unique_ptr<Flow>> flows_;
  bool stopping_ = false;
  std::int64_t last_event_ns_ = 0;
  UdpBenchResult result_;
};

}  // namespace

UdpBenchResult run_udp_bench(const BenchOptions& options, std::ostream& /*live_out*/) {
  BlockedSignals signals;
  std::atomic<bool> stop{false};
  CpuStopwatch cpu;
  const std::int64_t start_ns = now_ns();
  const std::uint32_t threads = options.threads;
  std::vector<std::unique_ptr<UdpBenchWorker>> workers;
  std::uint32_t first = 0;
  for (std::uint32_t t = 0; t < threads; ++t) {
    std::uint32_t count = even_share(options.flows, threads, t);
    std::optional<std::uint64_t> budget;
    if (options.messages) budget = even_share(*options.messages, threads, t);
    workers.push_back(
        std::make_unique<UdpBenchWorker>(options, stop, first, count, budget, start_ns));
    first += count;
  }
  WorkerThreads pool(workers, stop);
  bool interrupted = false;
  while (pool.running()) {
    if (signals.wait(std::chrono::milliseconds(100))) {
      stop = true;
      interrupted = true;
    }
  }
  auto results = pool.join();
  auto used = cpu.elapsed();
  UdpBenchResult total;
  total.interrupted = interrupted;
  total.user_cpu_s = used.user;
  total.system_cpu_s = used.system;
  for (auto& r : results) {
    total.latency.merge(r.latency);
    total.sent += r.sent;
    total.received += r.received;
    total.bytes += r.bytes;
    total.lost += r.lost;
    total.corrupted += r.corrupted;
    total.duplicates += r.duplicates;
    total.reordered += r.reordered;
    total.late += r.late;
    total.send_failures += r.send_failures;
    total.refused += r.refused;
    total.errors.merge(r.errors);
    for (auto& sample : r.error_samples) {
      if (total.error_samples.size() < kMaxSamples)
        total.error_samples.push_back(std::move(sample));
    }
    total.elapsed_s = std::max(total.elapsed_s, r.elapsed_s);
  }
  return total;
}

}  // namespace echod::client
