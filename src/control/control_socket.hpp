#pragma once

#include <optional>
#include <string>

#include "sys/unique_fd.hpp"

namespace echod {

// The daemon's end of the control socket: an AF_UNIX stream socket on which `echod --status`
// and `echod --reload` ask the supervisor one question each. Protocol: the client sends one
// line ("status" or "reload"), the daemon answers with one JSON document and closes.
//
// Thread contract: supervisor thread only. Nothing here blocks for long: a client that does not
// send its request at once is dropped.
class ControlSocket {
 public:
  struct Request {
    UniqueFd client;
    std::string command;
  };

  // Creates the socket (and its directory, if missing). Refuses to replace a socket that another
  // live process still answers on. Throws std::system_error.
  explicit ControlSocket(std::string path);
  ControlSocket(const ControlSocket&) = delete;
  ControlSocket& operator=(const ControlSocket&) = delete;
  ~ControlSocket();  // removes the socket file

  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

  // Accepts one client and reads its request line; nothing when no valid request came.
  std::optional<Request> accept_request();
  static void reply(Request& request, const std::string& body);

 private:
  std::string path_;
  UniqueFd fd_;
};

// The client side: sends `command` to the socket at `path` and returns the reply. Throws
// std::system_error when the daemon cannot be reached.
std::string control_request(const std::string& path, const std::string& command, int timeout_ms);

}  // namespace echod
