#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/common.h>

namespace echod {

// Lifecycle and limit events an operator filters for. Each has a stable 128-bit MESSAGE_ID
// (docs/operations.md lists them), so `journalctl -u echod MESSAGE_ID=...` finds them.
enum class LogEvent : std::uint8_t {
  kStarted,
  kReady,
  kReloadOk,
  kReloadFailed,
  kStopping,
  kStopped,
  kLimitFired,    // a connection refused by a limit or the access filter
  kFdExhaustion,  // accept() ran out of fds or memory; accepting paused
};

// The MESSAGE_ID of an event: 32 lowercase hex digits.
std::string_view message_id(LogEvent event);

// Journal fields beside MESSAGE; empty ones are left out.
struct LogEventFields {
  std::optional<unsigned> worker;           // ECHOD_WORKER
  std::string listener;                     // ECHOD_LISTENER, e.g. "127.0.0.1:7"
  std::string reason;                       // ECHOD_REASON, e.g. "max_connections", "EMFILE"
  std::optional<std::uint64_t> generation;  // ECHOD_GENERATION
  // A connection's addresses, as hosts ("192.0.2.1", "2001:db8::1"): the client (named by a
  // PROXY header, or the peer itself) and the peer that connected (a balancer, or the client).
  std::string client_addr{};  // CLIENT_ADDR
  std::string peer_addr{};    // PEER_ADDR

  static LogEventFields of_generation(std::uint64_t generation) {
    LogEventFields fields;
    fields.generation = generation;
    return fields;
  }
};

// Logs `message` at `level`. When logging to the journal it is one record sent with
// sd_journal_send, carrying MESSAGE_ID, PRIORITY (from the level), SYSLOG_IDENTIFIER=echod and
// the fields (spdlog's journal sink cannot carry fields); otherwise it is an ordinary log line.
// Safe to call from any thread.
void log_event(LogEvent event, spdlog::level::level_enum level, const LogEventFields& fields,
               std::string_view message);

// The same for a line that is not one of the events (no MESSAGE_ID), e.g. about one connection:
// in the journal it carries the fields all the same.
void log_with_fields(spdlog::level::level_enum level, const LogEventFields& fields,
                     std::string_view message);

// The "NAME=value" journal fields of one record, in the order they are sent.
std::vector<std::string> journal_fields(std::optional<LogEvent> event,
                                        spdlog::level::level_enum level,
                                        const LogEventFields& fields, std::string_view message);

}  // namespace echod
