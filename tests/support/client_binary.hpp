#pragma once

#include <cstdlib>

// The echod-client under test: $ECHOD_TEST_CLIENT_BINARY when set (the sanitizer test presets
// name the sanitized build's), else the one built beside the test (ECHOD_CLIENT_BINARY, defined
// by the tests that run it).
inline const char* client_binary() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any test thread starts a process.
  const char* override = std::getenv("ECHOD_TEST_CLIENT_BINARY");
  return override != nullptr && *override != '\0' ? override : ECHOD_CLIENT_BINARY;
}
