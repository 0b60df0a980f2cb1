// Whether the client of a request that is still being worked on has gone away.
// cpp-httplib 0.11 (Debian 12) hands a handler no socket and writes nothing of a
// non-streamed response before the handler returns, so a closed connection is
// only noticed at the end. This takes the socket of the connection the handler
// runs for (GuardedHttpServer knows it), or else finds the accepted socket by the
// request's address pair (in /proc/self/fd), and peeks at it: an orderly close or a reset
// means the client left.
#pragma once

#include <string>

namespace entropix::server {

class ClientConnection {
 public:
  // Finds the server-side socket whose local and peer addresses are these;
  // when none is found (not Linux, or /proc absent) gone() stays false.
  ClientConnection(const std::string& local_addr, int local_port, const std::string& remote_addr, int remote_port);

  bool found() const { return fd_ >= 0; }
  // The peer closed or reset the connection. A client that only shut down its
  // sending side also reads as gone (HTTP clients wait with the socket open).
  bool gone() const;

 private:
  int fd_ = -1;
};

}  // namespace entropix::server
