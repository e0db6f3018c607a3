#pragma once

#include <sys/resource.h>
#include <sys/time.h>

namespace echod::client {

// The CPU time this process used since the stopwatch was made, as getrusage(RUSAGE_SELF) splits
// it (all threads).
class CpuStopwatch {
 public:
  struct Seconds {
    double user = 0;
    double system = 0;
  };

  CpuStopwatch() : start_(now()) {}

  [[nodiscard]] Seconds elapsed() const {
    Seconds end = now();
    return {end.user - start_.user, end.system - start_.system};
  }

 private:
  static double seconds(const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  }

  static Seconds now() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return {seconds(usage.ru_utime), seconds(usage.ru_stime)};
  }

  Seconds start_;
};

}  // namespace echod::client
