#pragma once

#include <optional>
#include <string>

#include "config/config.hpp"

namespace echod {

// Installs the process-wide logger (spdlog's default logger, used as spdlog::info() etc.):
// journald with SYSLOG_IDENTIFIER=echod for LogTarget::kJournal, or for kAuto when stderr is
// connected to the journal (`journal_stream` is $JOURNAL_STREAM, "DEV:INODE" of that stream);
// stderr otherwise. Call from main() before any other thread starts.
void init_logging(LogTarget target, LogLevel level,
                  const std::optional<std::string>& journal_stream);

// True when init_logging() chose the journal.
bool logging_to_journal();

// Changes the level at once for every thread (the level is atomic in spdlog).
void set_log_level(LogLevel level);

// True when stderr is the stream named by $JOURNAL_STREAM.
bool stderr_is_journal(const std::optional<std::string>& journal_stream);

}  // namespace echod
