#pragma once

#include <chrono>
#include <span>
#include <string>

namespace echod::client {

// What the interactive sessions (TCP stream and UDP datagrams) share to wait, write their output
// and describe bytes in their messages.

// A poll() timeout that ends at `deadline`: 0 once it has passed, at most a minute otherwise
// (the caller loops and checks again).
int poll_timeout_ms(std::chrono::steady_clock::time_point deadline,
                    std::chrono::steady_clock::time_point now);

// Blocking write of all of `bytes`, also to an fd someone left non-blocking. On failure returns
// false with the errno in `error`.
bool write_all(int fd, std::span<const unsigned char> bytes, int& error);

// "0x0a".
std::string hex_byte(unsigned char byte);

}  // namespace echod::client
