// g++ 12 at -O2 reports a null dereference inside Boost's typed_value<std::string>::notify()
// (any_cast, inlined into libstdc++'s string assignment): a false positive in code not ours.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include "client/command_line.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>

#include <boost/program_options.hpp>

namespace echod::client {
namespace {

namespace po = boost::program_options;

constexpr std::uint64_t kMaxSourceAddresses = 65536;
constexpr std::string_view kDefaultHost = "127.0.0.1";
constexpr std::string_view kDefaultPort = "7";

std::string trim(std::string_view text) {
  auto begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  auto end = text.find_last_not_of(" \t");
  return std::string(text.substr(begin, end - begin + 1));
}

Nanoseconds seconds_option(const po::variables_map& vm, const char* name, bool allow_zero) {
  double seconds = vm[name].as<double>();
  if (!std::isfinite(seconds) || seconds < 0 || (!allow_zero && seconds == 0) || seconds > 1e6) {
    throw UsageError(std::string("--") + name + " must be a number of seconds" +
                     (allow_zero ? " >= 0" : " > 0"));
  }
  return std::chrono::duration_cast<Nanoseconds>(std::chrono::duration<double>(seconds));
}

template <typename T>
T integer_option(const po::variables_map& vm, const char* name, std::int64_t low,
                 std::int64_t high) {
  std::int64_t value = vm[name].as<std::int64_t>();
  if (value < low || value > high) {
    throw UsageError(std::string("--") + name + " must be between " + std::to_string(low) +
                     " and " + std::to_string(high));
  }
  return static_cast<T>(value);
}

std::uint32_t ipv4_host_order(const SocketAddress& address) {
  sockaddr_in sin{};
  std::memcpy(&sin, address.data(), sizeof(sin));
  return ntohl(sin.sin_addr.s_addr);
}

// A local address to bind, without a port: IPv4, localhost, or IPv6 with or without brackets.
SocketAddress parse_source_address(std::string_view text) {
  if (std::count(text.begin(), text.end(), ':') == 1) {
    throw UsageError("--source-range: '" + std::string(text) + "': give addresses without a port");
  }
  bool bare_ipv6 = !text.starts_with('[') && text.find(':') != std::string_view::npos;
  std::string address = bare_ipv6 ? "[" + std::string(text) + "]" : std::string(text);
  auto parsed = SocketAddress::parse(address + ":0", SocketAddress::Use::kBind);
  if (!parsed.address) throw UsageError("--source-range: " + parsed.error);
  return *parsed.address;
}

// --host and --port (or the positional arguments that stand for them).
SocketAddress server_address(const po::variables_map& vm) {
  std::string_view host = vm.count("host") ? vm["host"].as<std::string>() : kDefaultHost;
  std::optional<std::string_view> port;
  if (vm.count("port")) port = vm["port"].as<std::string>();
  return make_server_address(host, port);
}

po::options_description stream_description() {
  po::options_description options("Options");
  auto add = options.add_options();
  add("help,h", "print this help and exit");
  add("timeout,t", po::value<double>()->value_name("SECONDS")->default_value(10.0),
      "seconds to wait for an echo that is due before giving up");
  add("udp,u", "UDP: each input line is one datagram");
  add("host", po::value<std::string>()->value_name("HOST"), "server address");
  add("port", po::value<std::string>()->value_name("PORT"), "server port");
  return options;
}

po::options_description bench_description() {
  po::options_description options("Bench options (echod-client bench ...)");
  auto add = options.add_options();
  add("help,h", "print this help and exit");
  add("host", po::value<std::string>()->value_name("HOST[:PORT]"),
      "server address, as the first argument can also give it (default 127.0.0.1)");
  add("port,p", po::value<std::string>()->value_name("PORT"),
      "server port, unless the address has one (default 7)");
  add("connections,c", po::value<std::int64_t>()->value_name("N")->default_value(50),
      "connections");
  add("threads", po::value<std::int64_t>()->value_name("N")->default_value(1),
      "threads, each with its own epoll and share of the connections");
  add("size,s", po::value<std::string>()->value_name("BYTES")->default_value("512"),
      "message size in bytes (suffixes K, M: binary multiples; --udp: default 64)");
  add("pipeline,d", po::value<std::int64_t>()->value_name("DEPTH")->default_value(1),
      "messages in flight per connection (1: ping-pong)");
  add("duration", po::value<double>()->value_name("SECONDS"), "seconds to measure (default 10)");
  add("messages,n", po::value<std::int64_t>()->value_name("N"),
      "total messages to echo, instead of --duration");
  add("warmup", po::value<double>()->value_name("SECONDS")->default_value(0.0),
      "seconds of load before measuring");
  add("churn", "connect, echo one message, close, repeat; reports connections/s");
  add("idle", "connect and echo once on every connection, then hold them for --duration");
  add("source-range", po::value<std::string>()->value_name("RANGE"),
      "local addresses to bind round-robin, e.g. 127.0.0.1-127.0.0.254");
  add("connect-concurrency", po::value<std::int64_t>()->value_name("N")->default_value(256),
      "pending connects allowed per thread");
  add("proxy", po::value<std::string>()->value_name("v1|v2"),
      "start every connection with a PROXY protocol header, as a load balancer would");
  add("proxy-source", po::value<std::string>()->value_name("ADDRESS"),
      "--proxy: the client address the header names (default: each connection's own)");
  add("timeout", po::value<double>()->value_name("SECONDS")->default_value(10.0),
      "seconds without progress before a connect or an echo counts as failed (--udp: 1, "
      "per datagram)");
  add("seed", po::value<std::uint64_t>()->value_name("N"),
      "seed for the byte streams (default: random)");
  add("json", "print the summary as one JSON object");
  add("quiet,q", "no live progress line");
  add("udp,u", "UDP echo: datagrams on --flows sockets instead of TCP connections");
  add("flows,f", po::value<std::int64_t>()->value_name("N"),
      "--udp: sockets (source ports), each its own flow (default 8)");
  add("rate,r", po::value<double>()->value_name("N"),
      "--udp: send N datagrams/s in total, open-loop (default: ping-pong, one in flight per flow)");
  return options;
}

std::string help_text() {
  std::ostringstream text;
  text << "Usage: echod-client [OPTIONS] [HOST[:PORT] | HOST PORT]\n"
          "       echod-client bench [BENCH OPTIONS] [HOST[:PORT] | HOST PORT]\n\n"
          "Without 'bench': sends standard input to an RFC 862 echo server (default 127.0.0.1:7)\n"
          "and writes the verified echo to standard output. On a terminal, line by line; from a\n"
          "pipe or file, all of it, streaming.\n\n"
          "The server is written as echod writes addresses: 127.0.0.1:7007, [::1]:7007,\n"
          "localhost:7007; or as a host and a port apart: 127.0.0.1 7007, ::1 7007. Host names\n"
          "other than localhost are not resolved. The port defaults to 7.\n\n"
          "Options:\n"
          "  -h [ --help ]            print this help and exit\n"
          "  -t [ --timeout ] SECONDS seconds to wait for an echo that is due (default 10;\n"
          "                           with --udp 1, per datagram)\n"
          "  -u [ --udp ]             UDP: each input line is one datagram, sent when the\n"
          "                           previous one has come back\n\n"
       << bench_description()
       << "\nExit status: 0 success, 1 echo or verification error, 2 connection or system\n"
          "error, 64 usage error.\n";
  return text.str();
}

po::variables_map parse(const po::options_description& options,
                        const po::positional_options_description& positional,
                        std::span<const char* const> args) {
  std::vector<std::string> words(args.begin(), args.end());
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(words).options(options).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  return vm;
}

StreamOptions parse_stream(std::span<const char* const> args) {
  po::positional_options_description positional;
  positional.add("host", 1).add("port", 1);
  auto vm = parse(stream_description(), positional, args);
  StreamOptions options;
  options.server = server_address(vm);
  options.udp = vm.count("udp") > 0;
  options.timeout = options.udp && vm["timeout"].defaulted() ? kDefaultUdpTimeout
                                                             : seconds_option(vm, "timeout", false);
  return options;
}

// The checks and defaults of `bench --udp`, after the common ones.
void apply_udp_bench(const po::variables_map& vm, BenchOptions& options) {
  for (const char* tcp_only : {"connections", "pipeline", "churn", "idle", "source-range",
                               "connect-concurrency", "proxy", "proxy-source"}) {
    if (vm.count(tcp_only) && !vm[tcp_only].defaulted()) {
      throw UsageError(
          std::string("--") + tcp_only + " applies to TCP only" +
          (std::string_view(tcp_only) == "connections" ? " (with --udp: --flows)" : ""));
    }
  }
  options.connections = 0;
  if (vm.count("flows")) options.flows = integer_option<std::uint32_t>(vm, "flows", 1, 1024);
  if (options.threads > options.flows) options.threads = options.flows;
  if (vm["size"].defaulted()) options.size = 64;
  const std::uint64_t max =
      options.server.family() == AF_INET6 ? kMaxUdpPayloadIpv6 : kMaxUdpPayloadIpv4;
  if (options.size < kMinUdpBenchSize || options.size > max) {
    throw UsageError("--size with --udp must be between " + std::to_string(kMinUdpBenchSize) +
                     " bytes (a datagram carries its flow and sequence number) and " +
                     std::to_string(max) + " bytes (the largest UDP payload over " +
                     (max == kMaxUdpPayloadIpv6 ? "IPv6)" : "IPv4)"));
  }
  if (vm.count("rate")) {
    double rate = vm["rate"].as<double>();
    if (!std::isfinite(rate) || rate <= 0 || rate > 1e8) {
      throw UsageError("--rate must be a number of datagrams per second, > 0 and <= 1e8");
    }
    options.rate = rate;
  }
  if (vm["timeout"].defaulted()) options.timeout = kDefaultUdpTimeout;
}

BenchOptions parse_bench(std::span<const char* const> args, bool stdout_is_terminal) {
  po::positional_options_description positional;
  positional.add("host", 1).add("port", 1);
  auto vm = parse(bench_description(), positional, args);
  BenchOptions options;
  options.server = server_address(vm);
  if (vm.count("churn") && vm.count("idle"))
    throw UsageError("--churn and --idle exclude each other");
  if (vm.count("churn")) options.mode = BenchMode::kChurn;
  if (vm.count("idle")) options.mode = BenchMode::kIdle;
  options.connections = integer_option<std::uint32_t>(vm, "connections", 1, 1'000'000);
  options.threads = integer_option<std::uint32_t>(vm, "threads", 1, 256);
  if (vm.count("udp") == 0 && options.threads > options.connections) {
    options.threads = options.connections;
  }
  options.size = parse_size(vm["size"].as<std::string>());
  if (options.size == 0 || options.size > (std::uint64_t{64} << 20)) {
    throw UsageError("--size must be between 1 byte and 64 MiB");
  }
  options.pipeline = integer_option<std::uint32_t>(vm, "pipeline", 1, 4096);
  if (options.mode != BenchMode::kLoad && options.pipeline != 1) {
    throw UsageError("--pipeline applies only without --churn and --idle");
  }
  if (vm.count("messages") && vm.count("duration")) {
    throw UsageError("give either --duration or --messages, not both");
  }
  if (vm.count("messages")) {
    if (options.mode == BenchMode::kIdle) throw UsageError("--idle runs for --duration only");
    options.messages = integer_option<std::uint64_t>(vm, "messages", 1, INT64_MAX);
  }
  if (vm.count("duration")) options.duration = seconds_option(vm, "duration", false);
  options.warmup = seconds_option(vm, "warmup", true);
  options.timeout = seconds_option(vm, "timeout", false);
  if (vm.count("source-range")) {
    options.sources = parse_source_range(vm["source-range"].as<std::string>());
    for (const auto& source : options.sources) {
      if (source.family() != options.server.family()) {
        throw UsageError("--source-range " + source.host_string() +
                         " is not of the server address's family");
      }
    }
  }
  options.connect_concurrency =
      integer_option<std::uint32_t>(vm, "connect-concurrency", 1, 1'000'000);
  if (vm.count("proxy")) {
    const auto& version = vm["proxy"].as<std::string>();
    if (version != "v1" && version != "v2") {
      throw UsageError("--proxy: '" + version + "' is not v1 or v2");
    }
    options.proxy_version = version == "v1" ? 1 : 2;
  }
  if (vm.count("proxy-source")) {
    if (!vm.count("proxy")) throw UsageError("--proxy-source needs --proxy v1 or v2");
    std::string text = vm["proxy-source"].as<std::string>();
    bool bare_ipv6 = !text.starts_with('[') && text.find(':') != std::string::npos;
    auto parsed = SocketAddress::parse((bare_ipv6 ? "[" + text + "]" : text) + ":0");
    if (!parsed.address) throw UsageError("--proxy-source: " + parsed.error);
    options.proxy_source = *parsed.address;
  }
  options.seed = vm.count("seed")
                     ? vm["seed"].as<std::uint64_t>()
                     : (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  options.json = vm.count("json") > 0;
  options.live = stdout_is_terminal && !options.json && vm.count("quiet") == 0;
  options.udp = vm.count("udp") > 0;
  if (options.udp) {
    apply_udp_bench(vm, options);
  } else if (vm.count("flows") || vm.count("rate")) {
    throw UsageError(std::string("--") + (vm.count("flows") ? "flows" : "rate") +
                     " applies with --udp only");
  }
  return options;
}

}  // namespace

Command parse_command_line(std::span<const char* const> args, bool stdout_is_terminal) {
  for (const char* arg : args) {
    std::string_view word(arg);
    if (word == "--help" || word == "-h") return HelpRequest{help_text()};
  }
  if (!args.empty() && std::string_view(args[0]) == "bench") {
    return parse_bench(args.subspan(1), stdout_is_terminal);
  }
  return parse_stream(args);
}

SocketAddress make_server_address(std::string_view address, std::optional<std::string_view> port) {
  auto parse = [](const std::string& text) {
    auto parsed = SocketAddress::parse(text, SocketAddress::Use::kConnect);
    if (!parsed.address) throw UsageError(parsed.error);
    return *parsed.address;
  };
  std::string text(address);
  bool bracketed = text.starts_with('[');
  auto close = text.find(']');
  if (bracketed && close == std::string::npos) return parse(text);  // "missing ']'"
  auto colons = std::count(text.begin(), text.end(), ':');
  bool has_port = bracketed ? close + 1 < text.size() : colons == 1;
  if (!bracketed && colons > 1) {
    // A bare IPv6 address. With the port apart, it is the host. Alone, "::1:7" could be the
    // host ::1:7 or port 7 of ::1: refuse to guess when both readings are valid addresses.
    if (!port) {
      auto as_host = SocketAddress::parse("[" + text + "]:" + std::string(kDefaultPort),
                                          SocketAddress::Use::kConnect);
      // Syntax alone decides the ambiguity: "::1:0" is ambiguous too, and the port is checked
      // below once the form is settled.
      auto last = text.rfind(':');
      auto as_host_and_port = SocketAddress::parse(
          "[" + text.substr(0, last) + "]:" + text.substr(last + 1), SocketAddress::Use::kBind);
      if (as_host.address && !as_host_and_port.address) return *as_host.address;  // "::1"
      if (!as_host.address && !as_host_and_port.address) throw UsageError(as_host.error);
      // echod's parser names the form with a port.
      auto error = SocketAddress::parse(text, SocketAddress::Use::kConnect).error;
      if (as_host.address) error += ", and one without a port [" + text + "]";
      throw UsageError(error);
    }
    text = "[" + text + "]";
  }
  if (has_port && port) {
    throw UsageError("the port is given twice: in '" + std::string(address) + "' and as " +
                     std::string(*port));
  }
  if (!has_port) {
    if (port && port->empty()) throw UsageError("the port is empty");
    text += ':';
    text += port ? *port : kDefaultPort;
  }
  return parse(text);
}

std::vector<SocketAddress> parse_source_range(std::string_view text) {
  std::vector<SocketAddress> result;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string item = trim(text.substr(start, comma - start));
    start = comma + 1;
    if (item.empty())
      throw UsageError("--source-range: empty address in '" + std::string(text) + "'");
    auto dash = item.find('-');
    if (dash == std::string::npos) {
      result.push_back(parse_source_address(item));
    } else {
      auto first = parse_source_address(trim(std::string_view(item).substr(0, dash)));
      auto last = parse_source_address(trim(std::string_view(item).substr(dash + 1)));
      if (first.family() != AF_INET || last.family() != AF_INET) {
        throw UsageError("--source-range: ranges are IPv4 only; list IPv6 addresses with ','");
      }
      std::uint32_t low = ipv4_host_order(first);
      std::uint32_t high = ipv4_host_order(last);
      if (high < low) throw UsageError("--source-range: '" + item + "' ends before it starts");
      if (std::uint64_t{high} - low + 1 + result.size() > kMaxSourceAddresses) {
        throw UsageError("--source-range: more than 65536 addresses");
      }
      for (std::uint64_t a = low; a <= high; ++a) {
        result.push_back(SocketAddress::from_ipv4(static_cast<std::uint32_t>(a), 0));
      }
    }
    if (comma == text.size()) break;
  }
  return result;
}

std::uint64_t parse_size(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data()) {
    throw UsageError("--size '" + std::string(text) + "' is not a number of bytes");
  }
  std::string_view suffix(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::uint64_t multiple = 1;
  if (suffix == "K" || suffix == "k" || suffix == "KiB") {
    multiple = 1024;
  } else if (suffix == "M" || suffix == "MiB") {
    multiple = 1024 * 1024;
  } else if (!suffix.empty() && suffix != "B") {
    throw UsageError("--size '" + std::string(text) + "': unknown suffix '" + std::string(suffix) +
                     "' (use K or M)");
  }
  if (value > UINT64_MAX / multiple) throw UsageError("--size is too large");
  return value * multiple;
}

}  // namespace echod::client
