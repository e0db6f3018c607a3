#include "log/log_event.hpp"

#include <sys/uio.h>
#include <syslog.h>

#include <array>
#include <vector>

#include <spdlog/spdlog.h>
#include <systemd/sd-journal.h>

#include "log/logging.hpp"

namespace echod {
namespace {

// Never change these: dashboards, alerts and saved journalctl queries match on them.
constexpr std::array<std::string_view, 8> kMessageIds{
    "1b06fe9d5139428ea87103bde3b6eef7",  // kStarted
    "00cbcd87327d49f5bf1d8e7bdb61e4fc",  // kReady
    "09c761c175434f2a95ccbe23f379a570",  // kReloadOk
    "52d6d4d2125e4cec8824a8d09fc51cea",  // kReloadFailed
    "fb1f72c73f60429c931cf5c3a924af2c",  // kStopping
    "e53a20f8a48841b7aee12d14dd083707",  // kStopped
    "645a0b63e2e2455ab7bce444ffb78a46",  // kLimitFired
    "6658775f75ca4b0c87abca97f35eec91",  // kFdExhaustion
};

int syslog_priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return LOG_DEBUG;
    case spdlog::level::info:
      return LOG_INFO;
    case spdlog::level::warn:
      return LOG_WARNING;
    case spdlog::level::err:
      return LOG_ERR;
    case spdlog::level::critical:
      return LOG_CRIT;
    default:
      return LOG_INFO;
  }
}

iovec entry(const std::string& field) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast): sd_journal_sendv only reads.
  return {const_cast<char*>(field.data()), field.size()};
}

}  // namespace

std::string_view message_id(LogEvent event) {
  return kMessageIds.at(static_cast<std::size_t>(event));
}

std::vector<std::string> journal_fields(std::optional<LogEvent> event,
                                        spdlog::level::level_enum level,
                                        const LogEventFields& fields, std::string_view message) {
  std::vector<std::string> lines;
  lines.reserve(10);
  lines.push_back("MESSAGE=" + std::string(message));
  if (event) lines.push_back("MESSAGE_ID=" + std::string(message_id(*event)));
  lines.push_back("PRIORITY=" + std::to_string(syslog_priority(level)));
  lines.emplace_back("SYSLOG_IDENTIFIER=echod");
  if (fields.worker) lines.push_back("ECHOD_WORKER=" + std::to_string(*fields.worker));
  if (!fields.listener.empty()) lines.push_back("ECHOD_LISTENER=" + fields.listener);
  if (!fields.reason.empty()) lines.push_back("ECHOD_REASON=" + fields.reason);
  if (fields.generation) lines.push_back("ECHOD_GENERATION=" + std::to_string(*fields.generation));
  if (!fields.client_addr.empty()) lines.push_back("CLIENT_ADDR=" + fields.client_addr);
  if (!fields.peer_addr.empty()) lines.push_back("PEER_ADDR=" + fields.peer_addr);
  return lines;
}

namespace {

void send(std::optional<LogEvent> event, spdlog::level::level_enum level,
          const LogEventFields& fields, std::string_view message) {
  if (!spdlog::should_log(level)) return;
  if (!logging_to_journal()) {
    spdlog::log(level, "{}", message);
    return;
  }
  const std::vector<std::string> lines = journal_fields(event, level, fields, message);
  std::vector<iovec> entries;
  entries.reserve(lines.size());
  for (const std::string& line : lines) entries.push_back(entry(line));
  if (::sd_journal_sendv(entries.data(), static_cast<int>(entries.size())) < 0) {
    spdlog::log(level, "{}", message);  // the journal is gone: the sink's own fallback
  }
}

}  // namespace

void log_event(LogEvent event, spdlog::level::level_enum level, const LogEventFields& fields,
               std::string_view message) {
  send(event, level, fields, message);
}

void log_with_fields(spdlog::level::level_enum level, const LogEventFields& fields,
                     std::string_view message) {
  send(std::nullopt, level, fields, message);
}

}  // namespace echod
