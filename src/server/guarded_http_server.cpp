#include "server/guarded_http_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "server/elastic_thread_pool.h"
#include "server/request_id.h"
#include "server/socket_address.h"

namespace entropix::server {

namespace {

thread_local const DeadlineSocketStream* t_stream = nullptr;

// The client's address without its port: the unit of the per-client cap.
std::string client_address(int sock) {
  std::string ip;
  int port = -1;
  peer_address(sock, ip, port);
  return ip;
}

// Waits until the client sends (true), closes, stays silent past `timeout`, or the server stops.
bool wait_next_request(const DeadlineSocketStream& strm, const std::atomic<int>& listening,
                       std::chrono::seconds timeout) {
  if (strm.has_buffered()) return true;
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (listening != INVALID_SOCKET) {
    pollfd p{strm.socket(), POLLIN, 0};
    const int r = ::poll(&p, 1, 100);  // short, to notice a stop
    if (r > 0) return (p.revents & POLLIN) != 0;
    if (r < 0 && errno != EINTR) return false;
    if (std::chrono::steady_clock::now() >= until) return false;
  }
  return false;
}

}  // namespace

GuardedHttpServer::GuardedHttpServer(const ConnectionLimits& limits) : limits_(limits) {
  new_task_queue = [this] { return new ElasticThreadPool(limits_.threads_kept_ready, limits_.max_connections); };
}

bool GuardedHttpServer::widen_backlog(int backlog) {
  return svr_sock_ != INVALID_SOCKET && ::listen(svr_sock_, backlog) == 0;  // listen() again only resizes the queue
}

bool GuardedHttpServer::body_over_limit_on_this_thread() { return t_stream && t_stream->body_over_limit(); }

int GuardedHttpServer::socket_on_this_thread() { return t_stream ? t_stream->socket() : -1; }

bool GuardedHttpServer::timed_out_on_this_thread() { return t_stream && t_stream->timed_out(); }

GuardedHttpServer::Admission GuardedHttpServer::admit(const std::string& client) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (open_ >= limits_.max_connections) return Admission::ServerFull;
  size_t& n = per_client_[client];
  if (n >= limits_.max_per_client) return Admission::ClientFull;
  ++n;
  ++open_;
  return Admission::Admitted;
}

void GuardedHttpServer::release(const std::string& client) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = per_client_.find(client);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
  --open_;
}

void GuardedHttpServer::refuse(int sock, int status, const std::string& message) {
  ++refused_;
  const std::string body =
      nlohmann::json{{"error", {{"message", message}, {"type", "server_error"}, {"param", nullptr}, {"code", "too_many_connections"}}}}
          .dump();
  const std::string head = "HTTP/1.1 " + std::to_string(status) +
                           (status == 429 ? " Too Many Requests" : " Service Unavailable") +
                           "\r\nRetry-After: 1\r\nx-request-id: " + new_request_id() +
                           "\r\nContent-Type: application/json\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  const std::string reply = head + body;
  // Never blocks: a refusal may run on the accepting thread, and a small reply fits the socket's buffer.
  (void)::send(sock, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(sock, SHUT_WR);
  char drain[1024];  // what the client already sent: closing over unread bytes would reset the reply away
  while (::recv(sock, drain, sizeof drain, MSG_DONTWAIT) > 0) {
  }
}

bool GuardedHttpServer::process_and_close_socket(int sock) {
  const std::string client = client_address(sock);
  const std::string server_full =
      "the server has " + std::to_string(limits_.max_connections) + " connections open; try again shortly";
  bool ret = false;
  bool linger = false;
  const Admission admission = ElasticThreadPool::overloaded() ? Admission::ServerFull : admit(client);
  if (admission == Admission::ServerFull) {
    refuse(sock, 503, server_full);
  } else if (admission == Admission::ClientFull) {
    refuse(sock, 429, "too many connections from " + client + " (at most " + std::to_string(limits_.max_per_client) +
                          " at once); try again shortly");
  } else {
    DeadlineSocketStream strm(sock, limits_.stream);
    t_stream = &strm;
    for (size_t left = keep_alive_max_count_;
         left > 0 && wait_next_request(strm, svr_sock_, std::chrono::seconds(keep_alive_timeout_sec_)); --left) {
      strm.begin_request();
      bool connection_closed = false;
      ret = process_request(strm, left == 1, connection_closed, nullptr);
      // A request cut off has unread bytes behind it: no further request can be read.
      linger = strm.timed_out() || strm.body_over_limit();
      if (!ret || connection_closed || linger) break;
    }
    t_stream = nullptr;
    release(client);
  }
  if (linger) {
    // The client may still be sending: read and drop a little of it first, as closing
    // over unread bytes resets the connection and can take the reply with it.
    ::shutdown(sock, SHUT_WR);
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    char drain[16384];
    size_t drained = 0;
    while (drained < (size_t{1} << 20) && std::chrono::steady_clock::now() < until) {
      pollfd p{sock, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(sock, drain, sizeof drain, 0);
      if (n <= 0) break;
      drained += static_cast<size_t>(n);
    }
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ret;
}

}  // namespace entropix::server
