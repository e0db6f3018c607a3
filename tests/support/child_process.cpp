#include "support/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <thread>

#include "support/temp_dir.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX declares it nowhere

namespace echod::test {
namespace {

int to_status(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

UniqueFd open_output(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) throw std::system_error(errno, std::generic_category(), "open " + path);
  return fd;
}

int poll_ms(Clock::duration left) {
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::clamp<std::int64_t>(ms, 0, 1000));
}

}  // namespace

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::move(other.pidfd_)),
      status_(std::exchange(other.status_, std::nullopt)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    kill_and_reap();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
    status_ = std::exchange(other.status_, std::nullopt);
  }
  return *this;
}

ChildProcess::~ChildProcess() { kill_and_reap(); }

ChildProcess ChildProcess::spawn(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& env,
                                 const std::string& stdout_path, const std::string& stderr_path) {
  // Everything the child needs is prepared before fork(): between fork() and execve() only
  // async-signal-safe calls are allowed (the test process may have other threads).
  UniqueFd null_in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null_in) throw std::system_error(errno, std::generic_category(), "open /dev/null");
  UniqueFd out = open_output(stdout_path);
  UniqueFd err = open_output(stderr_path);
  std::vector<char*> c_argv;
  for (const std::string& arg : argv) c_argv.push_back(const_cast<char*>(arg.c_str()));
  c_argv.push_back(nullptr);
  std::vector<char*> c_env;
  for (const std::string& entry : env) c_env.push_back(const_cast<char*>(entry.c_str()));
  c_env.push_back(nullptr);
  sigset_t no_signals;
  sigemptyset(&no_signals);

  pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    ::dup2(null_in.get(), STDIN_FILENO);
    ::dup2(out.get(), STDOUT_FILENO);
    ::dup2(err.get(), STDERR_FILENO);
    ::close_range(3, ~0U, 0);
    ::sigprocmask(SIG_SETMASK, &no_signals, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execve(c_argv[0], c_argv.data(), c_env.data());
    ::_exit(127);
  }
  ChildProcess child;
  child.pid_ = pid;
  child.pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  return child;
}

bool ChildProcess::try_reap() {
  if (pid_ <= 0 || status_) return true;
  int wait_status = 0;
  pid_t r = ::waitpid(pid_, &wait_status, WNOHANG);
  if (r == pid_) {
    status_ = to_status(wait_status);
    return true;
  }
  if (r < 0 && errno != EINTR) {
    status_ = -1;  // not our child any more: nothing to wait for
    return true;
  }
  return false;
}

std::optional<int> ChildProcess::wait(Clock::duration timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (try_reap()) return status_;
    auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return std::nullopt;
    if (pidfd_) {
      pollfd fd{pidfd_.get(), POLLIN, 0};
      ::poll(&fd, 1, poll_ms(left));
    } else {
      std::this_thread::sleep_for(std::min<Clock::duration>(left, std::chrono::milliseconds(5)));
    }
  }
}

bool ChildProcess::running() { return !try_reap(); }

void ChildProcess::kill_and_reap() {
  if (pid_ <= 0 || status_) return;
  if (try_reap()) return;
  ::kill(pid_, SIGKILL);
  int wait_status = 0;
  while (::waitpid(pid_, &wait_status, 0) < 0 && errno == EINTR) {
  }
  status_ = to_status(wait_status);
}

std::vector<std::string> clean_environment() {
  static constexpr const char* kRemoved[] = {
      "NOTIFY_SOCKET=", "WATCHDOG_USEC=",  "WATCHDOG_PID=",  "LISTEN_PID=",
      "LISTEN_FDS=",    "LISTEN_FDNAMES=", "JOURNAL_STREAM="};
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    bool removed = std::any_of(std::begin(kRemoved), std::end(kRemoved),
                               [text](const char* prefix) { return text.starts_with(prefix); });
    if (!removed) env.emplace_back(text);
  }
  return env;
}

std::string find_program(const std::string& name) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): nothing in the tests changes the environment.
  const char* path = std::getenv("PATH");
  std::string directories = path != nullptr ? path : "";
  directories += ":/usr/sbin:/usr/bin:/sbin:/bin";
  std::size_t start = 0;
  while (start <= directories.size()) {
    std::size_t end = std::min(directories.find(':', start), directories.size());
    std::string directory = directories.substr(start, end - start);
    start = end + 1;
    if (directory.empty()) continue;
    std::string candidate = directory + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

CommandResult run_command(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                          Clock::duration timeout) {
  TempDir dir;
  std::string out_path = (dir.path() / "stdout").string();
  std::string err_path = (dir.path() / "stderr").string();
  CommandResult result;
  auto start = Clock::now();
  ChildProcess child = ChildProcess::spawn(argv, env, out_path, err_path);
  result.exit_code = child.wait(timeout);
  child.kill_and_reap();
  result.elapsed = Clock::now() - start;
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

}  // namespace echod::test
