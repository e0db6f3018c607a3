#pragma once

#include <mutex>

// Clang's -Wthread-safety annotations (no-ops elsewhere), so that the compiler checks which
// data each mutex guards. libstdc++'s std::mutex carries no annotations, hence the wrapper.
// NOLINTBEGIN(cppcoreguidelines-macro-usage): attributes can only be spelled through macros.
#if defined(__clang__)
#define ECHOD_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define ECHOD_THREAD_ANNOTATION(x)
#endif

#define ECHOD_CAPABILITY(x) ECHOD_THREAD_ANNOTATION(capability(x))
#define ECHOD_SCOPED_CAPABILITY ECHOD_THREAD_ANNOTATION(scoped_lockable)
#define ECHOD_GUARDED_BY(x) ECHOD_THREAD_ANNOTATION(guarded_by(x))
#define ECHOD_ACQUIRE(...) ECHOD_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ECHOD_RELEASE(...) ECHOD_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define ECHOD_REQUIRES(...) ECHOD_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
// NOLINTEND(cppcoreguidelines-macro-usage)

namespace echod {

class ECHOD_CAPABILITY("mutex") Mutex {
 public:
  void lock() ECHOD_ACQUIRE() { mutex_.lock(); }
  void unlock() ECHOD_RELEASE() { mutex_.unlock(); }

 private:
  std::mutex mutex_;
};

class ECHOD_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) ECHOD_ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  ~MutexLock() ECHOD_RELEASE() { mutex_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mutex_;
};

}  // namespace echod
