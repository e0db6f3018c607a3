#pragma once

#include "client/options.hpp"
#include "client/stream_session.hpp"

namespace echod::client {

// `echod-client --udp`: each line of `in_fd` (up to and including its newline; a line longer
// than the largest UDP payload is sent in pieces of that size) is sent to the server as one
// datagram; its echo must come back within options.timeout and be identical, and is written to
// `out_fd` before the next line is sent. Succeeds when `in_fd` reached EOF and every datagram
// came back.
SessionOutcome run_udp_stream_session(const StreamOptions& options, int in_fd, int out_fd);

}  // namespace echod::client
