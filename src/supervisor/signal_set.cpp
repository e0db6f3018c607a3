#include "supervisor/signal_set.hpp"

#include <pthread.h>
#include <sys/signalfd.h>

#include <cerrno>
#include <csignal>

#include "sys/system_error.hpp"

namespace echod {
namespace {

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

SignalSet::SignalSet() {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;  // NOLINT(cppcoreguidelines-pro-type-union-access): sigaction API
  if (::sigaction(SIGPIPE, &ignore, nullptr) != 0) throw_errno("sigaction(SIGPIPE)");
  sigset_t set = handled_signals();
  if (int error = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); error != 0) {
    throw_errno(error, "pthread_sigmask");
  }
  fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd_) throw_errno("signalfd");
}

SignalSet::~SignalSet() {
  sigset_t set = handled_signals();
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

std::optional<Signal> SignalSet::read() {
  signalfd_siginfo info{};
  for (;;) {
    ssize_t n = ::read(fd_.get(), &info, sizeof(info));
    if (n == static_cast<ssize_t>(sizeof(info))) break;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return std::nullopt;
    throw_errno("read(signalfd)");
  }
  return info.ssi_signo == SIGHUP ? Signal::kReload : Signal::kStop;
}

}  // namespace echod
