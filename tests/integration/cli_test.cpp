// The command line and its exit codes: 0, 64 (usage), 78 (configuration), 1 (cannot start).
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/daemon_process.hpp"
#include "support/net_client.hpp"
#include "support/test_data.hpp"

namespace echod::test {
namespace {

// Generous: catches a command that hangs, not a slow machine.
constexpr auto kCommandTimeout = std::chrono::seconds(30);

CommandResult run_echod(const std::vector<std::string>& args) {
  std::vector<std::string> argv{echod_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, clean_environment(), kCommandTimeout);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return lines;
}

TEST(CliTest, VersionAndHelpExitZero) {
  CommandResult version = run_echod({"--version"});
  EXPECT_EQ(version.exit_code, std::optional<int>(0)) << version.err;
  EXPECT_TRUE(version.out.starts_with("echod ")) << version.out;

  CommandResult help = run_echod({"--help"});
  EXPECT_EQ(help.exit_code, std::optional<int>(0)) << help.err;
  for (const char* option :
       {"--config", "--listen", "--workers", "--log-level", "--check-config"}) {
    EXPECT_NE(help.out.find(option), std::string::npos) << option << " missing from:\n" << help.out;
  }
}

TEST(CliTest, UsageErrorIsOneLinePlusHint) {
  CommandResult result = run_echod({"--frobnicate"});
  EXPECT_EQ(result.exit_code, std::optional<int>(64));
  auto lines = lines_of(result.err);
  ASSERT_EQ(lines.size(), 2U) << result.err;
  EXPECT_TRUE(lines[0].starts_with("echod: ")) << lines[0];
  EXPECT_NE(lines[0].find("frobnicate"), std::string::npos) << lines[0];
  EXPECT_TRUE(lines[1].starts_with("Try 'echod --help'")) << lines[1];
  EXPECT_TRUE(result.out.empty());
}

TEST(CliTest, MissingNamedConfigFileIsAConfigurationError) {
  TempDir dir;
  std::string missing = (dir.path() / "absent.yaml").string();
  for (bool check : {false, true}) {
    std::vector<std::string> args{"--config", missing};
    if (check) args.push_back("--check-config");
    CommandResult result = run_echod(args);
    EXPECT_EQ(result.exit_code, std::optional<int>(78)) << "check=" << check << "\n" << result.err;
    EXPECT_NE(result.err.find(missing), std::string::npos) << result.err;
  }
}

TEST(CliTest, BrokenConfigAtStartupExits78WithLocatedErrors) {
  DaemonProcess daemon("listen:\n  - \"127.0.0.1:0\"\nworkers: 2\nbogus_key: true\n");
  daemon.expect_log_errors();
  daemon.start();
  EXPECT_EQ(daemon.wait_exit(), std::optional<int>(78));
  std::string log = daemon.log_text();
  EXPECT_NE(log.find("[error] " + daemon.config_path() + ":4:1: bogus_key"), std::string::npos)
      << log;
  EXPECT_TRUE(daemon.notifications().empty() && !daemon.next_notification(0s).has_value())
      << "echod notified systemd although it did not start";
}

TEST(CheckConfigTest, ValidConfigPrintsTheEffectiveConfigAndExitsZero) {
  TempDir dir;
  DaemonConfig config;
  config.workers = 3;
  config.io_buffer = "32KiB";
  config.shutdown_timeout = "7s";
  auto path = dir.write_file("config.yaml", config.yaml());
  CommandResult result = run_echod({"--config", path.string(), "--check-config"});
  ASSERT_EQ(result.exit_code, std::optional<int>(0)) << result.err;
  EXPECT_NE(result.out.find("127.0.0.1:0"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("workers: 3"), std::string::npos) << result.out;

  // What it prints is itself a valid configuration, and it describes the same settings.
  auto printed = dir.write_file("printed.yaml", result.out);
  CommandResult again = run_echod({"--config", printed.string(), "--check-config"});
  EXPECT_EQ(again.exit_code, std::optional<int>(0)) << again.err;
  EXPECT_EQ(again.out, result.out);
}

TEST(CheckConfigTest, OverridesAreApplied) {
  TempDir dir;
  auto path = dir.write_file("config.yaml", DaemonConfig{}.yaml());
  CommandResult result = run_echod({"--config", path.string(), "--check-config", "--workers", "5",
                                    "--listen", "127.0.0.1:7007", "--log-level", "warn"});
  ASSERT_EQ(result.exit_code, std::optional<int>(0)) << result.err;
  EXPECT_NE(result.out.find("workers: 5"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("127.0.0.1:7007"), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find("127.0.0.1:0"), std::string::npos) << "--listen replaces the list";
}

TEST(CheckConfigTest, BrokenConfigExits78WithEveryErrorLocated) {
  TempDir dir;
  auto path = dir.write_file("config.yaml",
                             "listen:\n  - \"127.0.0.1:99999\"\nfrobnicate: 1\nworkers: 2\n");
  CommandResult result = run_echod({"--config", path.string(), "--check-config"});
  EXPECT_EQ(result.exit_code, std::optional<int>(78));
  EXPECT_NE(result.err.find(path.string() + ":2:"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find(path.string() + ":3:1: frobnicate"), std::string::npos) << result.err;
  EXPECT_TRUE(result.out.empty()) << "printed a configuration although it is broken:\n"
                                  << result.out;
}

TEST(CheckConfigTest, ProxyListenerWithoutTrustedIsAnErrorAndTrustingAllAWarning) {
  TempDir dir;
  auto missing = dir.write_file("missing.yaml",
                                "listen:\n  - {address: \"127.0.0.1:0\", proxy_protocol: v2}\n");
  CommandResult refused = run_echod({"--config", missing.string(), "--check-config"});
  EXPECT_EQ(refused.exit_code, std::optional<int>(78));
  EXPECT_NE(refused.err.find(missing.string() +
                             ":2:46: listen[0].proxy_protocol: a PROXY listener needs 'trusted'"),
            std::string::npos)
      << refused.err;

  auto everyone = dir.write_file("everyone.yaml",
                                 "listen:\n  - address: \"127.0.0.1:0\"\n    proxy_protocol: v1\n"
                                 "    trusted: [\"::/0\"]\n");
  CommandResult warned = run_echod({"--config", everyone.string(), "--check-config"});
  EXPECT_EQ(warned.exit_code, std::optional<int>(0)) << warned.err;
  EXPECT_NE(warned.err.find(everyone.string() + ":4:15: listen[0].trusted[0]: warning: ::/0 is "
                                                "every address"),
            std::string::npos)
      << warned.err;
  EXPECT_NE(warned.out.find("proxy_protocol: v1, trusted: [\"::/0\"]"), std::string::npos)
      << warned.out;
}

TEST(CheckConfigTest, OpensNoNetworkSocket) {
  // A port held busy here: a daemon that tried to listen on it would fail.
  UniqueFd busy = listen_tcp("127.0.0.1");
  ASSERT_TRUE(busy.valid());
  std::string address = "127.0.0.1:" + std::to_string(local_port(busy.get()));
  TempDir dir;
  auto path = dir.write_file("config.yaml", DaemonConfig{}.yaml());
  CommandResult result =
      run_echod({"--config", path.string(), "--check-config", "--listen", address});
  EXPECT_EQ(result.exit_code, std::optional<int>(0)) << result.err;
  EXPECT_NE(result.out.find(address), std::string::npos) << result.out;
}

TEST(CheckConfigTest, OpensNoNetworkSocketUnderStrace) {
  TempDir dir;
  auto path = dir.write_file("config.yaml", DaemonConfig{}.yaml());
  auto trace = dir.path() / "trace";
  CommandResult probe = run_command({"/usr/bin/strace", "-o", "/dev/null", "/bin/true"},
                                    clean_environment(), kCommandTimeout);
  if (probe.exit_code != std::optional<int>(0)) GTEST_SKIP() << "strace cannot run here";

  CommandResult result =
      run_command({"/usr/bin/strace", "-f", "-qq", "-e", "trace=socket,bind,listen", "-o",
                   trace.string(), echod_binary(), "--config", path.string(), "--check-config"},
                  clean_environment(), kCommandTimeout);
  ASSERT_EQ(result.exit_code, std::optional<int>(0)) << result.err;
  std::string calls = read_file(trace);
  EXPECT_EQ(calls.find("AF_INET"), std::string::npos) << calls;
  EXPECT_EQ(calls.find("bind("), std::string::npos) << calls;
  EXPECT_EQ(calls.find("listen("), std::string::npos) << calls;
}

TEST(StartupTest, PortAlreadyInUseExitsOneNamingTheAddress) {
  UniqueFd busy = listen_tcp("127.0.0.1");
  ASSERT_TRUE(busy.valid());
  std::string address = "127.0.0.1:" + std::to_string(local_port(busy.get()));
  DaemonProcess daemon(DaemonConfig{});
  daemon.expect_log_errors();
  daemon.start({"--listen", address});
  EXPECT_EQ(daemon.wait_exit(), std::optional<int>(1));
  std::string log = daemon.log_text();
  EXPECT_NE(log.find("[critical]"), std::string::npos) << log;
  EXPECT_NE(log.find(address), std::string::npos) << log;
  EXPECT_NE(log.find("Address already in use"), std::string::npos) << log;
  for (const std::string& n : daemon.notifications()) {
    EXPECT_EQ(n.find("READY=1"), std::string::npos) << "READY=1 although it did not start";
  }
  EXPECT_FALSE(daemon.wait_notification("READY=1", 0s).has_value());
}

TEST(StartupTest, SecondDaemonOnTheSamePortExitsOne) {
  DaemonProcess first(DaemonConfig{});
  ASSERT_TRUE(first.start_ready());
  std::string address = first.endpoints().at(0).to_string();

  DaemonProcess second(DaemonConfig{});
  second.expect_log_errors();
  second.start({"--listen", address});
  EXPECT_EQ(second.wait_exit(), std::optional<int>(1)) << second.log_text();
  EXPECT_NE(second.log_text().find("Address already in use"), std::string::npos)
      << second.log_text();

  // The first one was not disturbed (SO_REUSEPORT must not let the second one join it).
  UniqueFd client = first.connect();
  ASSERT_TRUE(client.valid());
  std::string payload = random_bytes(4096, 1);
  EXPECT_TRUE(same_bytes(payload, echo_exact(client.get(), payload)));
}

TEST(StartupTest, CommandLineOverridesTheFile) {
  DaemonProcess daemon(DaemonConfig{});  // 2 workers, info
  ASSERT_TRUE(daemon.start_ready({"--workers", "3", "--log-level", "debug"}));
  EXPECT_NE(daemon.notifications().back().find("with 3 workers"), std::string::npos)
      << daemon.notifications().back();
  UniqueFd client = daemon.connect();
  ASSERT_TRUE(client.valid());
  std::string payload = random_bytes(100, 2);
  EXPECT_TRUE(same_bytes(payload, echo_exact(client.get(), payload)));
  EXPECT_TRUE(daemon.wait_for_log("accepted fd"));
}

}  // namespace
}  // namespace echod::test
