// httplib's server with admission at the connection: a cap on connections open
// at once and on those from one client address (over either, a short 503 or 429
// with Retry-After, then close), each connection on a thread of its own (see
// ElasticThreadPool) and read through a DeadlineSocketStream, so that slow or
// numerous clients can neither hold the workers nor exhaust memory.
#pragma once

#include <httplib.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "server/deadline_socket_stream.h"

namespace entropix::server {

struct ConnectionLimits {
  size_t max_connections = 512;  // open at once, all clients together
  size_t max_per_client = 128;   // open at once from one address
  size_t threads_kept_ready = 16;
  StreamLimits stream;
};

class GuardedHttpServer : public httplib::Server {
 public:
  explicit GuardedHttpServer(const ConnectionLimits& limits);

  // Whether the request being handled on this thread ran its body past the limit
  // on the wire (httplib reports that read as a 400; the error handler makes it 413).
  static bool body_over_limit_on_this_thread();
  // The socket of the connection handled on this thread; -1 on another thread.
  static int socket_on_this_thread();
  // Whether it ran past its header or body deadline.
  static bool timed_out_on_this_thread();

  // After a bind: lets `backlog` connections wait for accept() (httplib asks for 5, and
  // a burst past that waits out TCP's retransmissions before it is even seen).
  bool widen_backlog(int backlog);

  size_t open_connections() const { return open_; }
  uint64_t refused_connections() const { return refused_; }

 private:
  bool process_and_close_socket(int sock) override;
  enum class Admission { Admitted, ClientFull, ServerFull };
  // Reserves a place for a connection from `client` unless a cap is reached.
  Admission admit(const std::string& client);
  void release(const std::string& client);
  void refuse(int sock, int status, const std::string& message);

  const ConnectionLimits limits_;
  std::mutex mutex_;
  std::map<std::string, size_t> per_client_;
  std::atomic<size_t> open_{0};
  std::atomic<uint64_t> refused_{0};
};

}  // namespace entropix::server
