#pragma once

#include <cstddef>

#include "config/config.hpp"

namespace echod {

// The open-file limit policy: every connection is one file descriptor.

// Raises the soft RLIMIT_NOFILE to the hard one: the hard limit is what the administrator (or
// LimitNOFILE=) granted; the soft default of 1024 is a historical accident of select().
void raise_fd_limit();

// Lowers limits.max_connections to what the open-file limit allows (with a warning), keeping
// room for the listeners and for each worker's own descriptors. `running_workers`: the worker
// threads there are now, serving or retiring (config.workers may ask for fewer).
void clamp_to_fd_limit(Config& config, std::size_t running_workers);

}  // namespace echod
