// `echod --status` and `echod --reload`: the control socket seen from the command line.
#include <gtest/gtest.h>

#include "support/daemon_process.hpp"

#include <nlohmann/json.hpp>

namespace echod::test {
namespace {

constexpr auto kCommandTimeout = std::chrono::seconds(40);

CommandResult ask(const DaemonProcess& daemon, std::vector<std::string> args) {
  std::vector<std::string> argv{echod_binary(), "--control-socket", daemon.control_socket_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, clean_environment(), kCommandTimeout);
}

std::string config_yaml(const std::string& level) {
  return "listen: [\"127.0.0.1:0\"]\nworkers: 2\nlog: {level: " + level + ", target: stderr}\n";
}

TEST(ControlTest, StatusReportsListenersWorkersAndConnections) {
  DaemonProcess daemon(config_yaml("info"));
  ASSERT_TRUE(daemon.start_ready());
  UniqueFd client = daemon.connect();
  ASSERT_EQ(echo_exact(client.get(), "hello"), "hello");

  CommandResult human = ask(daemon, {"--status"});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.out.find("listening      " + daemon.endpoints()[0].to_string()),
            std::string::npos)
      << human.out;
  EXPECT_NE(human.out.find("connections    1 open, 1 accepted"), std::string::npos) << human.out;

  CommandResult json_text = ask(daemon, {"--status", "--json"});
  ASSERT_EQ(json_text.exit_code, 0) << json_text.err;
  auto json = nlohmann::json::parse(json_text.out);
  EXPECT_EQ(json.at("pid").get<long>(), daemon.pid());
  EXPECT_EQ(json.at("generation").get<int>(), 1);
  EXPECT_EQ(json.at("workers").size(), 2U);
  EXPECT_EQ(json.at("last_reload").at("result"), "none");
  std::uint64_t received = 0;
  for (const auto& worker : json.at("workers"))
    received += worker.at("bytes_received").get<std::uint64_t>();
  EXPECT_EQ(received, 5U);
}

TEST(ControlTest, ReloadIsSynchronousAndReportsTheChanges) {
  DaemonProcess daemon(config_yaml("info"));
  ASSERT_TRUE(daemon.start_ready());
  daemon.write_config(config_yaml("debug"));
  CommandResult result = ask(daemon, {"--reload"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("reloaded (configuration generation 2)"), std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("log.level info -> debug"), std::string::npos) << result.out;
  // Synchronous: when the command returns, the new level is already in force.
  UniqueFd client = daemon.connect();
  EXPECT_TRUE(daemon.wait_for_log("[debug] worker"));
  EXPECT_TRUE(daemon.wait_notification("READY=1").has_value());
}

TEST(ControlTest, RejectedReloadExitsNonZeroWithTheErrors) {
  DaemonProcess daemon(config_yaml("info"));
  daemon.expect_log_errors();
  ASSERT_TRUE(daemon.start_ready());
  daemon.write_config("listen: [\"127.0.0.1:70000\"]\nworkers: 2\n");
  CommandResult result = ask(daemon, {"--reload"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find(daemon.config_path() + ":1:"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("out of range"), std::string::npos) << result.err;
  // The old configuration keeps serving.
  UniqueFd client = daemon.connect();
  EXPECT_EQ(echo_exact(client.get(), "still here"), "still here");
  CommandResult status = ask(daemon, {"--status", "--json"});
  auto json = nlohmann::json::parse(status.out);
  EXPECT_EQ(json.at("last_reload").at("result"), "failed");
  EXPECT_EQ(json.at("generation").get<int>(), 1);
}

TEST(ControlTest, NoDaemonIsAClearError) {
  DaemonProcess daemon(config_yaml("info"));  // never started: nothing listens on its socket
  CommandResult result = ask(daemon, {"--status"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("cannot reach the daemon"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace echod::test
