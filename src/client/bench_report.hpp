#pragma once

#include <ostream>

#include "client/bench_runner.hpp"
#include "client/options.hpp"

namespace echod::client {

// The human summary printed after a run.
void write_summary(std::ostream& out, const BenchOptions& options, const BenchResult& result);

// The same figures as one JSON object on one line (field names in docs/client.md).
void write_json(std::ostream& out, const BenchOptions& options, const BenchResult& result);

}  // namespace echod::client
