#include "log/logging.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>

namespace echod {
namespace {

// Set once by init_logging() before any other thread starts, read-only afterwards.
// NOLINTNEXTLINE(cppcoreguidelines-avoid-non-const-global-variables): process-wide, as the logger.
bool journal_target = false;

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return spdlog::level::trace;
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
    case LogLevel::kCritical:
      return spdlog::level::critical;
    case LogLevel::kOff:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

}  // namespace

bool stderr_is_journal(const std::optional<std::string>& journal_stream) {
  if (!journal_stream) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  unsigned long long device = 0;
  unsigned long long inode = 0;
  if (std::sscanf(journal_stream->c_str(), "%llu:%llu", &device, &inode) != 2) return false;
  return device == st.st_dev && inode == st.st_ino;
}

void init_logging(LogTarget target, LogLevel level,
                  const std::optional<std::string>& journal_stream) {
  bool journal = target == LogTarget::kJournal ||
                 (target == LogTarget::kAuto && stderr_is_journal(journal_stream));
  journal_target = journal;
  std::shared_ptr<spdlog::logger> logger;
  if (journal) {
    // The journal records time, pid and priority itself; the message stays plain.
    auto sink = std::make_shared<spdlog::sinks::systemd_sink_mt>("echod", false);
    logger = std::make_shared<spdlog::logger>("echod", std::move(sink));
  } else {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    sink->set_pattern("%Y-%m-%dT%H:%M:%S.%e [%^%l%$] %v");
    logger = std::make_shared<spdlog::logger>("echod", std::move(sink));
  }
  logger->set_level(to_spdlog(level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

bool logging_to_journal() { return journal_target; }

void set_log_level(LogLevel level) { spdlog::set_level(to_spdlog(level)); }

}  // namespace echod
