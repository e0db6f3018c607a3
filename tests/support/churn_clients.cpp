#include "support/churn_clients.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <sstream>

#include "support/net_client.hpp"
#include "support/test_data.hpp"
#include "sys/system_error.hpp"

namespace echod::test {
namespace {

constexpr std::size_t kMaxMessage = 64 * 1024;
// Generous: an exchange that never completes is a failure, a slow one (a busy machine) is not.
constexpr auto kExchangeTimeout = std::chrono::seconds(30);
constexpr auto kStopTimeout = std::chrono::seconds(40);

struct Session {
  enum class State { kIdle, kConnecting, kExchanging };
  State state = State::kIdle;
  UniqueFd fd;
  std::size_t offset = 0;  // into the pool
  std::size_t size = 0;
  std::size_t sent = 0;
  std::size_t received = 0;
  Clock::time_point started{};
};

void fail(ChurnTotals& totals, std::uint64_t& counter, const std::string& what, int error) {
  ++counter;
  if (totals.first_failure.empty()) {
    totals.first_failure = what + (error != 0 ? ": " + errno_text(error) : "");
  }
}

}  // namespace

std::string ChurnTotals::summary() const {
  std::ostringstream out;
  out << completed << " exchanges in " << seconds << " s (" << connections_per_second()
      << "/s); connect errors " << connect_errors << ", resets " << resets << ", corrupt "
      << corrupt << ", early EOF " << early_eof << ", timeouts " << timeouts << ", other "
      << other_errors;
  if (!first_failure.empty()) out << "; first failure: " << first_failure;
  return out.str();
}

ChurnClients::ChurnClients(std::string host, std::uint16_t port, unsigned clients, unsigned threads)
    : host_(std::move(host)),
      port_(port),
      clients_(clients),
      thread_count_(threads),
      pool_(random_bytes(2 * kMaxMessage, 4242)) {}

ChurnClients::~ChurnClients() {
  if (!threads_.empty()) stop();
}

void ChurnClients::start() {
  started_ = Clock::now();
  totals_.assign(thread_count_, ChurnTotals{});
  for (unsigned t = 0; t < thread_count_; ++t) {
    unsigned sessions = clients_ / thread_count_ + (t < clients_ % thread_count_ ? 1 : 0);
    threads_.emplace_back([this, sessions, t] { run(sessions, 1000 + t, totals_[t]); });
  }
}

ChurnTotals ChurnClients::stop() {
  stopping_.store(true);
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
  ChurnTotals sum;
  for (const ChurnTotals& t : totals_) {
    sum.completed += t.completed;
    sum.connect_errors += t.connect_errors;
    sum.resets += t.resets;
    sum.corrupt += t.corrupt;
    sum.early_eof += t.early_eof;
    sum.timeouts += t.timeouts;
    sum.other_errors += t.other_errors;
    if (sum.first_failure.empty()) sum.first_failure = t.first_failure;
  }
  sum.seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  return sum;
}

bool ChurnClients::wait_completed(std::uint64_t count, Clock::duration timeout) const {
  auto deadline = Clock::now() + timeout;
  while (completed_.load() < count) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

void ChurnClients::run(unsigned sessions, std::uint64_t seed, ChurnTotals& totals) {
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<std::size_t> sizes(1, kMaxMessage);
  std::uniform_int_distribution<std::size_t> offsets(0, kMaxMessage);
  std::vector<Session> slots(sessions);
  std::vector<pollfd> fds;
  std::vector<char> buffer(kMaxMessage);
  Clock::time_point stop_deadline = Clock::time_point::max();

  auto finish = [](Session& s) {
    s.fd.reset();
    s.state = Session::State::kIdle;
  };
  for (;;) {
    bool stopping = stopping_.load();
    if (stopping && stop_deadline == Clock::time_point::max()) {
      stop_deadline = Clock::now() + kStopTimeout;
    }
    auto now = Clock::now();
    fds.clear();
    bool busy = false;
    for (Session& s : slots) {
      if (s.state == Session::State::kIdle && !stopping) {
        s.offset = offsets(random);
        s.size = sizes(random);
        s.sent = 0;
        s.received = 0;
        s.started = now;
        int error = 0;
        // Connected asynchronously: the handshake completes in poll().
        s.fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!s.fd) {
          fail(totals, totals.other_errors, "socket", errno);
        } else {
          sockaddr_in address{};
          address.sin_family = AF_INET;
          address.sin_port = htons(port_);
          ::inet_pton(AF_INET, host_.c_str(), &address.sin_addr);
          // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockaddr view.
          if (::connect(s.fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) ==
                  0 ||
              errno == EINPROGRESS) {
            s.state = Session::State::kConnecting;
          } else {
            error = errno;
            fail(totals, totals.connect_errors, "connect", error);
            s.fd.reset();
          }
        }
      }
      if (s.state == Session::State::kIdle) continue;
      busy = true;
      if (now - s.started > kExchangeTimeout || now > stop_deadline) {
        fail(totals, totals.timeouts, "exchange of " + std::to_string(s.size) + " bytes", 0);
        finish(s);
        continue;
      }
      short events = POLLIN;
      if (s.state == Session::State::kConnecting || s.sent < s.size) events |= POLLOUT;
      fds.push_back({s.fd.get(), events, 0});
    }
    if (!busy && stopping) return;
    if (fds.empty()) continue;
    if (::poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) {
      fail(totals, totals.other_errors, "poll", errno);
      return;
    }
    std::size_t next = 0;
    for (Session& s : slots) {
      if (s.state == Session::State::kIdle) continue;
      const pollfd& p = fds[next++];
      if (p.revents == 0) continue;
      if (s.state == Session::State::kConnecting) {
        int error = 0;
        socklen_t length = sizeof(error);
        ::getsockopt(s.fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) {
          fail(totals, totals.connect_errors, "connect", error);
          finish(s);
          continue;
        }
        s.state = Session::State::kExchanging;
      }
      if (s.sent < s.size && (p.revents & POLLOUT) != 0) {
        ssize_t n =
            ::send(s.fd.get(), pool_.data() + s.offset + s.sent, s.size - s.sent, MSG_NOSIGNAL);
        if (n > 0) {
          s.sent += static_cast<std::size_t>(n);
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          int error = errno;
          fail(totals, error == ECONNRESET || error == EPIPE ? totals.resets : totals.other_errors,
               "send", error);
          finish(s);
          continue;
        }
      }
      if ((p.revents & (POLLIN | POLLERR | POLLHUP)) == 0) continue;
      ssize_t n = ::recv(s.fd.get(), buffer.data(), buffer.size(), 0);
      if (n < 0) {
        int error = errno;
        if (error == EAGAIN || error == EINTR) continue;
        fail(totals, error == ECONNRESET ? totals.resets : totals.other_errors, "recv", error);
        finish(s);
      } else if (n == 0) {
        fail(totals, totals.early_eof,
             "EOF after " + std::to_string(s.received) + " of " + std::to_string(s.size), 0);
        finish(s);
      } else {
        auto count = static_cast<std::size_t>(n);
        if (s.received + count > s.sent ||
            std::memcmp(buffer.data(), pool_.data() + s.offset + s.received, count) != 0) {
          fail(totals, totals.corrupt, "bytes differ near offset " + std::to_string(s.received), 0);
          finish(s);
          continue;
        }
        s.received += count;
        if (s.received == s.size) {
          ++totals.completed;
          completed_.fetch_add(1);
          finish(s);
        }
      }
    }
  }
}

}  // namespace echod::test
