// Socket activation: echod serves a listening socket it inherits (LISTEN_FDS/LISTEN_PID, as
// systemd passes it) and leaves it open when it stops, so that connections arriving while no
// echod runs wait in the kernel's queue for the next one: restarts lose nothing.
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "integration/churn_support.hpp"
#include "support/daemon_process.hpp"

namespace echod::test {
namespace {

// Starts echod the way systemd does: the socket as fd 3, LISTEN_FDS=1, LISTEN_PID=its pid.
pid_t spawn_activated(int socket_fd, const std::string& config, const std::string& log) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  // Child: only async-signal-safe calls until exec.
  int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0 || ::dup2(out, STDERR_FILENO) < 0) ::_exit(120);
  if (socket_fd == 3) {
    ::fcntl(3, F_SETFD, 0);
  } else if (::dup2(socket_fd, 3) < 0) {
    ::_exit(121);
  }
  // "LISTEN_PID=<pid>" without snprintf, which is not async-signal-safe.
  char listen_pid[48] = "LISTEN_PID=";
  char digits[16];
  int count = 0;
  for (pid_t value = ::getpid(); value > 0; value /= 10) {
    digits[count++] = static_cast<char>('0' + value % 10);
  }
  for (int i = 0; i < count; ++i) listen_pid[11 + i] = digits[count - 1 - i];
  char listen_fds[] = "LISTEN_FDS=1";
  char* envp[] = {listen_pid, listen_fds, nullptr};
  std::string control = "none";
  const char* argv[] = {echod_binary(),     "--config",      config.c_str(),
                        "--control-socket", control.c_str(), nullptr};
  ::execve(argv[0], const_cast<char* const*>(argv), envp);  // NOLINT: execve's signature
  ::_exit(122);
}

// Waits for the child's exit on a pidfd; kills it when the timeout passes.
std::optional<int> wait_exit(pid_t pid, Clock::duration timeout) {
  UniqueFd exited(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  pollfd entry{exited.get(), POLLIN, 0};
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
  if (!exited || ::poll(&entry, 1, static_cast<int>(ms)) != 1) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return std::nullopt;
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// 20 restarts while 200 clients churn connections against the socket the "service manager"
// (the test) holds: nothing is refused or reset, and a connection made while no echod runs is
// served by the next one.
TEST_F(ChurnTest, RestartsUnderChurnLoseNothing) {
  TempDir dir;
  std::string config = (dir.path() / "echod.yaml").string();
  std::string log = (dir.path() / "echod.log").string();
  std::ofstream(config) << "listen: [\"127.0.0.1:1\"]\nworkers: 2\nlog: {target: stderr}\n"
                        << "limits: {max_connections_per_ip: 0, accept_rate_per_ip: 0}\n";
  UniqueFd listener = listen_tcp("127.0.0.1", 0, nullptr, 4096);
  ASSERT_TRUE(listener);
  std::uint16_t port = local_port(listener.get());
  ChurnClients churn("127.0.0.1", port, kChurnClients);
  churn.start();

  for (int round = 0; round < 20; ++round) {
    // Connected and sent while no echod runs: the kernel queues it on the held socket.
    UniqueFd early = connect_tcp("127.0.0.1", port);
    ASSERT_TRUE(early);
    std::string message = "round " + std::to_string(round);
    ASSERT_TRUE(send_all(early.get(), message));

    pid_t pid = spawn_activated(listener.get(), config, log);
    ASSERT_GT(pid, 0);
    ReadResult echoed = read_exact(early.get(), message.size(), std::chrono::seconds(10));
    EXPECT_EQ(echoed.data, message) << "round " << round;
    // The churn's connections, queued meanwhile too, are served.
    EXPECT_TRUE(churn.wait_completed(churn.completed() + 100, std::chrono::seconds(20)))
        << "round " << round;
    early.reset();
    ::kill(pid, SIGTERM);
    ASSERT_EQ(wait_exit(pid, std::chrono::seconds(15)), 0) << "round " << round;
  }
  // Served by nobody now: the last exchanges wait in the queue for an echod to finish them.
  pid_t last = spawn_activated(listener.get(), config, log);
  ASSERT_GT(last, 0);
  ChurnTotals totals = churn.stop();
  ::kill(last, SIGTERM);
  EXPECT_EQ(wait_exit(last, std::chrono::seconds(15)), 0);
  expect_clean(totals);

  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("socket activation: serving 127.0.0.1:" + std::to_string(port)),
            std::string::npos);
  EXPECT_EQ(text.find("[error]"), std::string::npos) << text;
  EXPECT_EQ(text.find("[critical]"), std::string::npos) << text;
  // echod never shut the inherited socket down: it still accepts into its queue.
  UniqueFd after = connect_tcp("127.0.0.1", port);
  EXPECT_TRUE(after);
}

}  // namespace
}  // namespace echod::test
