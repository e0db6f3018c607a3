#include "supervisor/fd_limit.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdint>

#include <spdlog/spdlog.h>

namespace echod {

void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    spdlog::debug("raised the open-file limit from {} to {}", before, limit.rlim_max);
  }
}

void clamp_to_fd_limit(Config& config, std::size_t running_workers) {
  LimitsConfig& limits = config.limits;
  // Keep room for the listeners, each worker's epoll and eventfd, and the odd file (journal
  // socket, /proc reads).
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    std::size_t workers = std::max<std::size_t>(running_workers, config.workers.resolve());
    std::size_t reserve = 64 + workers * (4 + config.listen.size());
    std::size_t usable = limit.rlim_cur > reserve ? limit.rlim_cur - reserve : 1;
    if (limits.max_connections > usable) {
      spdlog::warn(
          "limits.max_connections {} is more than the open-file limit {} allows; using {} "
          "(raise LimitNOFILE to allow more)",
          limits.max_connections, limit.rlim_cur, usable);
      limits.max_connections = static_cast<std::uint32_t>(usable);
    }
  }
}

}  // namespace echod
