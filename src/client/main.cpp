#include <unistd.h>

#include <exception>
#include <iostream>
#include <span>
#include <variant>

#include "client/bench_report.hpp"
#include "client/bench_runner.hpp"
#include "client/command_line.hpp"
#include "client/stream_session.hpp"
#include "client/udp_bench.hpp"
#include "client/udp_session.hpp"

namespace {

using echod::client::BenchOptions;
using echod::client::HelpRequest;
using echod::client::kExitEchoError;
using echod::client::kExitOk;
using echod::client::kExitSystemError;
using echod::client::kExitUsage;
using echod::client::StreamOptions;
using echod::client::UsageError;

int run(const HelpRequest& help) {
  std::cout << help.text;
  return kExitOk;
}

int run(const StreamOptions& options) {
  auto outcome = options.udp
                     ? echod::client::run_udp_stream_session(options, STDIN_FILENO, STDOUT_FILENO)
                     : echod::client::run_stream_session(options, STDIN_FILENO, STDOUT_FILENO,
                                                         ::isatty(STDIN_FILENO) != 0);
  if (!outcome.message.empty()) std::cerr << "echod-client: " << outcome.message << "\n";
  return outcome.exit_code;
}

int run(const BenchOptions& options) {
  if (options.udp) {
    auto result = echod::client::run_udp_bench(options, std::cout);
    if (options.json) {
      echod::client::write_udp_json(std::cout, options, result);
    } else {
      echod::client::write_udp_summary(std::cout, options, result);
    }
    std::cout.flush();
    return result.errors.total() == 0 ? kExitOk : kExitEchoError;
  }
  auto result = echod::client::run_bench(options, std::cout, std::cerr);
  if (options.json) {
    echod::client::write_json(std::cout, options, result);
  } else {
    echod::client::write_summary(std::cout, options, result);
  }
  std::cout.flush();
  return result.errors.total() == 0 ? kExitOk : kExitEchoError;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    auto args = std::span<const char* const>(argv, static_cast<std::size_t>(argc)).subspan(1);
    auto command = echod::client::parse_command_line(args, ::isatty(STDOUT_FILENO) != 0);
    return std::visit([](const auto& c) { return run(c); }, command);
  } catch (const UsageError& e) {
    std::cerr << "echod-client: " << e.what() << "\nTry 'echod-client --help'.\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "echod-client: " << e.what() << "\n";
    return kExitSystemError;
  }
}
