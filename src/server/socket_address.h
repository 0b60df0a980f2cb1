// The numeric address and port of either end of a connected socket, written as
// cpp-httplib writes them into a Request (remote_addr, local_addr).
#pragma once

#include <string>

namespace entropix::server {

// False when the socket has no such end (closed, not a socket); ip and port are then unchanged.
bool peer_address(int sock, std::string& ip, int& port);
bool local_address(int sock, std::string& ip, int& port);

}  // namespace entropix::server
