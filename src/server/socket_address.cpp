#include "server/socket_address.h"

#include <netdb.h>
#include <sys/socket.h>

#include <cstdlib>

namespace entropix::server {

namespace {

using NameOf = int (*)(int, sockaddr*, socklen_t*);

bool numeric(int sock, NameOf name_of, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  char host[NI_MAXHOST];
  char serv[NI_MAXSERV];
  if (name_of(sock, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof host, serv, sizeof serv,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return false;
  ip = host;
  port = std::atoi(serv);
  return true;
}

}  // namespace

bool peer_address(int sock, std::string& ip, int& port) { return numeric(sock, ::getpeername, ip, port); }
bool local_address(int sock, std::string& ip, int& port) { return numeric(sock, ::getsockname, ip, port); }

}  // namespace entropix::server
