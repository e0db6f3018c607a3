#include "control/daemon_status.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace echod {
namespace {

using Json = nlohmann::json;

std::string human_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  auto value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

std::string human_duration(double seconds) {
  auto total = static_cast<std::uint64_t>(seconds);
  std::uint64_t days = total / 86400;
  std::uint64_t hours = total % 86400 / 3600;
  std::uint64_t minutes = total % 3600 / 60;
  if (days > 0) return fmt::format("{}d {}h {}m", days, hours, minutes);
  if (hours > 0) return fmt::format("{}h {}m", hours, minutes);
  if (minutes > 0) return fmt::format("{}m {}s", minutes, total % 60);
  return fmt::format("{:.1f}s", seconds);
}

}  // namespace

std::string to_json(const DaemonStatus& status) {
  Json workers = Json::array();
  for (const auto& w : status.workers) {
    workers.push_back({{"index", w.index},
                       {"connections", w.connections},
                       {"accepted", w.accepted},
                       {"closed", w.closed},
                       {"bytes_received", w.bytes_received},
                       {"bytes_sent", w.bytes_sent}});
  }
  Json udp_listeners = Json::array();
  for (const auto& u : status.udp) {
    udp_listeners.push_back({{"address", u.address},
                             {"received", u.received},
                             {"sent", u.sent},
                             {"received_bytes", u.received_bytes},
                             {"sent_bytes", u.sent_bytes},
                             {"kernel_drops", u.kernel_drops},
                             {"dropped_by_reason", u.dropped_by_reason}});
  }
  Json top_clients = Json::array();
  for (const auto& c : status.top_clients) {
    top_clients.push_back({{"address", c.address}, {"connections", c.connections}});
  }
  Json json = {{"version", status.version},
               {"commit", status.commit},
               {"pid", status.pid},
               {"uptime_seconds", status.uptime_seconds},
               {"config_file", status.config_file},
               {"generation", status.generation},
               {"last_reload",
                {{"result", status.last_reload_result},
                 {"time", status.last_reload_time},
                 {"errors", status.last_reload_errors}}},
               {"listeners", status.listeners},
               {"workers", workers},
               {"rejected", status.rejected},
               {"rejected_by_reason", status.rejected_by_reason},
               {"last_refused_by_reason", status.last_refused_by_reason},
               {"closed_by_reason", status.closed_by_reason},
               {"proxy_headers", status.proxy_headers},
               {"proxy_rejected_by_reason", status.proxy_rejected_by_reason},
               {"top_clients", top_clients},
               {"metrics", status.metrics},
               {"udp",
                {{"listeners", udp_listeners},
                 {"sources", status.udp_sources},
                 {"source_evictions", status.udp_source_evictions}}}};
  return json.dump(2) + "\n";
}

std::uint64_t DaemonStatus::UdpListener::dropped() const {
  std::uint64_t sum = 0;
  for (const auto& [reason, count] : dropped_by_reason) sum += count;
  return sum;
}

std::string to_json(const ReloadOutcome& outcome) {
  Json json = {{"result", outcome.ok ? "ok" : "failed"},
               {"generation", outcome.generation},
               {"messages", outcome.messages}};
  return json.dump(2) + "\n";
}

DaemonStatus status_from_json(const std::string& text) {
  try {
    Json json = Json::parse(text);
    DaemonStatus status;
    status.version = json.at("version").get<std::string>();
    status.commit = json.at("commit").get<std::string>();
    status.pid = json.at("pid").get<long>();
    status.uptime_seconds = json.at("uptime_seconds").get<double>();
    status.config_file = json.at("config_file").get<std::string>();
    status.generation = json.at("generation").get<std::uint64_t>();
    status.last_reload_result = json.at("last_reload").at("result").get<std::string>();
    status.last_reload_time = json.at("last_reload").at("time").get<std::string>();
    status.last_reload_errors = json.at("last_reload").at("errors").get<std::vector<std::string>>();
    status.listeners = json.at("listeners").get<std::vector<std::string>>();
    status.rejected = json.at("rejected").get<std::uint64_t>();
    using Counts = std::map<std::string, std::uint64_t>;
    status.rejected_by_reason = json.value("rejected_by_reason", Counts{});
    status.closed_by_reason = json.value("closed_by_reason", Counts{});
    status.last_refused_by_reason =
        json.value("last_refused_by_reason", std::map<std::string, std::string>{});
    status.proxy_headers = json.value("proxy_headers", Counts{});
    status.proxy_rejected_by_reason = json.value("proxy_rejected_by_reason", Counts{});
    if (json.contains("top_clients")) {
      for (const Json& c : json.at("top_clients")) {
        status.top_clients.push_back(
            {c.at("address").get<std::string>(), c.at("connections").get<std::uint64_t>()});
      }
    }
    status.metrics = json.value("metrics", std::string());
    if (json.contains("udp")) {
      const Json& udp = json.at("udp");
      for (const Json& u : udp.at("listeners")) {
        DaemonStatus::UdpListener listener;
        listener.address = u.at("address").get<std::string>();
        listener.received = u.at("received").get<std::uint64_t>();
        listener.sent = u.at("sent").get<std::uint64_t>();
        listener.received_bytes = u.at("received_bytes").get<std::uint64_t>();
        listener.sent_bytes = u.at("sent_bytes").get<std::uint64_t>();
        listener.kernel_drops = u.at("kernel_drops").get<std::uint64_t>();
        listener.dropped_by_reason = u.value("dropped_by_reason", Counts{});
        status.udp.push_back(std::move(listener));
      }
      status.udp_sources = udp.value("sources", std::uint64_t{0});
      status.udp_source_evictions = udp.value("source_evictions", std::uint64_t{0});
    }
    for (const Json& w : json.at("workers")) {
      status.workers.push_back(
          {w.at("index").get<unsigned>(), w.at("connections").get<std::uint64_t>(),
           w.at("accepted").get<std::uint64_t>(), w.at("closed").get<std::uint64_t>(),
           w.at("bytes_received").get<std::uint64_t>(), w.at("bytes_sent").get<std::uint64_t>()});
    }
    return status;
  } catch (const Json::exception& e) {
    throw std::runtime_error(std::string("unexpected status reply: ") + e.what());
  }
}

ReloadOutcome reload_outcome_from_json(const std::string& text) {
  try {
    Json json = Json::parse(text);
    ReloadOutcome outcome;
    outcome.ok = json.at("result").get<std::string>() == "ok";
    outcome.generation = json.at("generation").get<std::uint64_t>();
    outcome.messages = json.at("messages").get<std::vector<std::string>>();
    return outcome;
  } catch (const Json::exception& e) {
    throw std::runtime_error(std::string("unexpected reload reply: ") + e.what());
  }
}

std::string format_status(const DaemonStatus& status) {
  std::uint64_t connections = 0;
  std::uint64_t accepted = 0;
  std::uint64_t received = 0;
  std::uint64_t sent = 0;
  for (const auto& w : status.workers) {
    connections += w.connections;
    accepted += w.accepted;
    received += w.bytes_received;
    sent += w.bytes_sent;
  }
  std::string listeners;
  for (const auto& l : status.listeners) listeners += (listeners.empty() ? "" : ", ") + l;
  std::string text;
  text += fmt::format("echod {} (commit {}), pid {}, up {}\n", status.version, status.commit,
                      status.pid, human_duration(status.uptime_seconds));
  text += fmt::format("configuration  {} (generation {})\n", status.config_file, status.generation);
  if (status.last_reload_result == "none") {
    text += "last reload    none since start\n";
  } else {
    text += fmt::format("last reload    {} at {}\n", status.last_reload_result,
                        status.last_reload_time);
    for (const auto& e : status.last_reload_errors) text += "               " + e + "\n";
  }
  text += fmt::format("listening      {}\n", listeners.empty() ? "nothing" : listeners);
  text += fmt::format("connections    {} open, {} accepted, {} refused by limits\n", connections,
                      accepted, status.rejected);
  auto counts = [](const std::map<std::string, std::uint64_t>& by_reason) {
    std::string line;
    for (const auto& [reason, count] : by_reason) {
      line += fmt::format("{}{} {}", line.empty() ? "" : ", ", count, reason);
    }
    return line;
  };
  if (!status.rejected_by_reason.empty()) {
    std::string line;
    for (const auto& [reason, count] : status.rejected_by_reason) {
      line += fmt::format("{}{} {}", line.empty() ? "" : ", ", count, reason);
      if (auto last = status.last_refused_by_reason.find(reason);
          last != status.last_refused_by_reason.end()) {
        line += fmt::format(" (last {})", last->second);
      }
    }
    text += fmt::format("refused        {}\n", line);
  }
  if (!status.closed_by_reason.empty()) {
    text += fmt::format("closed         {}\n", counts(status.closed_by_reason));
  }
  if (!status.proxy_headers.empty()) {
    text += fmt::format("proxy headers  {}\n", counts(status.proxy_headers));
  }
  if (!status.proxy_rejected_by_reason.empty()) {
    text += fmt::format("proxy refused  {}\n", counts(status.proxy_rejected_by_reason));
  }
  if (!status.top_clients.empty()) {
    std::string line;
    for (const auto& c : status.top_clients) {
      line += fmt::format("{}{} ({})", line.empty() ? "" : ", ", c.address, c.connections);
    }
    text += fmt::format("top clients    {}\n", line);
  }
  text += fmt::format("traffic        {} received, {} sent\n", human_bytes(received),
                      human_bytes(sent));
  for (const auto& u : status.udp) {
    text +=
        fmt::format("udp            {}: {} received, {} echoed, {} dropped{}, {} kernel drops\n",
                    u.address, u.received, u.sent, u.dropped(),
                    u.dropped_by_reason.empty() ? "" : " (" + counts(u.dropped_by_reason) + ")",
                    u.kernel_drops);
  }
  if (!status.udp.empty()) {
    text += fmt::format("udp sources    {} tracked by the rate limits, {} evicted\n",
                        status.udp_sources, status.udp_source_evictions);
  }
  text += fmt::format("metrics        {}\n",
                      status.metrics.empty() ? "off" : "http://" + status.metrics + "/metrics");
  text += "worker  connections  accepted  closed\n";
  for (const auto& w : status.workers) {
    text +=
        fmt::format("{:>6}  {:>11}  {:>8}  {:>6}\n", w.index, w.connections, w.accepted, w.closed);
  }
  return text;
}

}  // namespace echod
