#include "server/client_connection.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "server/guarded_http_server.h"
#include "server/socket_address.h"

namespace entropix::server {

namespace {

bool matches(int fd, const std::string& local_addr, int local_port, const std::string& remote_addr, int remote_port) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  std::string host;
  int port = -1;
  if (!peer_address(fd, host, port) || port != remote_port || host != remote_addr) return false;
  return local_address(fd, host, port) && port == local_port && host == local_addr;
}

}  // namespace

ClientConnection::ClientConnection(const std::string& local_addr, int local_port, const std::string& remote_addr,
                                   int remote_port) {
  if (local_port < 0 || remote_port < 0) return;
  // The handler runs on its connection's thread, which knows the socket: no search.
  if (const int own = GuardedHttpServer::socket_on_this_thread();
      own >= 0 && matches(own, local_addr, local_port, remote_addr, remote_port)) {
    fd_ = own;
    return;
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (const std::exception&) {
      continue;
    }
    if (matches(fd, local_addr, local_port, remote_addr, remote_port)) {
      fd_ = fd;
      return;
    }
  }
}

bool ClientConnection::gone() const {
  if (fd_ < 0) return false;
  char byte;
  const ssize_t n = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return false;  // the client sent more (a pipelined request): still there
  if (n == 0) return true;  // orderly close
  return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

}  // namespace entropix::server
