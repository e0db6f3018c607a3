// Commands of the control socket that exist in test builds only (build_info::kTestHooks), for
// tests that need a worker to stop answering.
#include <charconv>
#include <string>
#include <string_view>

#include "supervisor/supervisor.hpp"

namespace echod {

std::string Supervisor::answer_test_hook(const std::string& command) {
  // "test-unwedge <position>"
  constexpr std::string_view kUnwedge = "test-unwedge ";
  if (command.starts_with(kUnwedge)) {
    std::string_view arg = std::string_view(command).substr(kUnwedge.size());
    unsigned position = 0;
    auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), position);
    if (ec != std::errc() || end != arg.data() + arg.size() || position >= workers_.size()) {
      return "{\"error\": \"usage: test-unwedge <worker position>\"}\n";
    }
    workers_[position].worker->unwedge();
    return "{\"ok\": true}\n";
  }
  // "test-wedge <position> <milliseconds>"
  constexpr std::string_view kWedge = "test-wedge ";
  if (!command.starts_with(kWedge)) return "{\"error\": \"unknown command\"}\n";
  std::string_view args = std::string_view(command).substr(kWedge.size());
  unsigned position = 0;
  unsigned milliseconds = 0;
  auto [end, ec] = std::from_chars(args.data(), args.data() + args.size(), position);
  if (ec == std::errc() && end < args.data() + args.size() && *end == ' ') {
    ec = std::from_chars(end + 1, args.data() + args.size(), milliseconds).ec;
  }
  if (ec != std::errc() || position >= workers_.size()) {
    return "{\"error\": \"usage: test-wedge <worker position> <milliseconds>\"}\n";
  }
  workers_[position].worker->post(Wedge{std::chrono::milliseconds(milliseconds)});
  return "{\"ok\": true}\n";
}

}  // namespace echod
