#pragma once

#include <stdexcept>

namespace echod {

// The daemon could not start (before READY=1), or a reload could not build its new state.
// what() is the operator-facing message: what failed, the errno text, and what to do about it.
class StartupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace echod
