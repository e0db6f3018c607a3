#pragma once

#include <string>

#include "client/options.hpp"

namespace echod::client {

struct SessionOutcome {
  int exit_code = kExitOk;
  std::string message;  // one line for stderr; empty on success
};

// The classic echo client, done right. Bytes read from `in_fd` are sent to the server and their
// echo is compared with them and written to `out_fd`; data passes through untouched. Reading,
// sending and receiving interleave under poll(), so input of any size streams without deadlock.
// With `line_mode` (for a terminal) each read's worth of input is echoed completely before it is
// printed and before the next read. Succeeds when `in_fd` reached EOF and every byte came back.
SessionOutcome run_stream_session(const StreamOptions& options, int in_fd, int out_fd,
                                  bool line_mode);

}  // namespace echod::client
