#include "support/network_namespace.hpp"

#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "support/child_process.hpp"
#include "sys/system_error.hpp"
#include "sys/unique_fd.hpp"

#include <net/if.h>

namespace echod::test {
namespace {

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

bool bring_loopback_up(std::string& why) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  if (!fd || ::ioctl(fd.get(), SIOCGIFFLAGS, &request) != 0) {
    why = std::string("SIOCGIFFLAGS lo: ") + errno_text(errno);
    return false;
  }
  request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
  if (::ioctl(fd.get(), SIOCSIFFLAGS, &request) != 0) {
    why = std::string("SIOCSIFFLAGS lo: ") + errno_text(errno);
    return false;
  }
  return true;
}

}  // namespace

bool enter_private_network(std::string& why) {
  if (::unshare(CLONE_NEWNET) != 0) {
    // Not root: a user namespace of our own, where we are root, mapped to our own ids.
    uid_t uid = ::getuid();
    gid_t gid = ::getgid();
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
      why = std::string("unshare(CLONE_NEWNET): ") + errno_text(errno);
      return false;
    }
    if (!write_file("/proc/self/setgroups", "deny") ||
        !write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
      why = "cannot map ids in the new user namespace";
      return false;
    }
  }
  return bring_loopback_up(why);
}

std::optional<ListenQueueCounters> listen_queue_counters() {
  std::string nstat = find_program("nstat");
  if (nstat.empty()) return std::nullopt;
  // -a: absolute values, not the change since nstat's last run; -s: leave its history alone.
  CommandResult result =
      run_command({nstat, "-a", "-s", "-z", "TcpExtListenDrops", "TcpExtListenOverflows"},
                  clean_environment(), std::chrono::seconds(10));
  if (result.exit_code != 0) return std::nullopt;
  ListenQueueCounters counters;
  std::istringstream lines(result.out);
  std::string name;
  std::uint64_t value = 0;
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    if (!(fields >> name >> value)) continue;
    if (name == "TcpExtListenDrops") counters.drops = value;
    if (name == "TcpExtListenOverflows") counters.overflows = value;
  }
  return counters;
}

}  // namespace echod::test
