#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "child_process.hpp"

#include <nlohmann/json.hpp>

namespace echod::client::testing {

// An `echod-client bench --json` run: how the process ended and the report it printed.
struct BenchRun {
  ProcessResult process;
  nlohmann::json report;
};

// Runs `argv` (a bench with --json) to its end or `timeout`. A run that hangs, or whose output is
// not one JSON object, fails the test (with what it printed).
inline BenchRun run_json_bench(const std::vector<std::string>& argv,
                               std::chrono::milliseconds timeout) {
  BenchRun run;
  run.process = run_process(argv, "", timeout);
  EXPECT_FALSE(run.process.timed_out);
  try {
    run.report = nlohmann::json::parse(run.process.out);
  } catch (const nlohmann::json::exception& e) {
    ADD_FAILURE() << "not JSON (" << e.what() << "): " << run.process.out << run.process.err;
  }
  return run;
}

}  // namespace echod::client::testing
