// The OpenAI-compatible HTTP server: GET /health, GET /v1/models,
// POST /v1/completions and POST /v1/chat/completions (streamed as SSE or not).
// HTTP threads parse each body into an ApiRequest, tokenize it, and queue a Job
// for the one InferenceLoop that owns the engine; they then relay the job's
// events. A client that goes away cancels its job.
//
//   Server server(engine, options);  // checks the bind policy
//   int port = server.start();       // listens on a background thread
//   server.wait();                   // until stop()
//
// A client that closes its socket makes writes fail; the process should ignore
// SIGPIPE (`entropix serve` does) so that this is an error return, not a signal.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "decoding/decode_options.h"
#include "model/engine.h"
#include "server/api.h"
#include "server/inference_loop.h"

namespace entropix::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                   // 0: any free port (start() returns it)
  std::string api_key;               // when set, /v1/* needs "Authorization: Bearer <key>"
  bool force_insecure = false;       // allow a non-loopback host without an API key
  std::string model_name = "model";  // the id /v1/models reports and responses echo
  std::string chat_template;         // Jinja source; empty: the model's own, else plain User:/Assistant: turns
  DecodeOptions decode;              // the defaults of every request
  LoopOptions loop;
  RequestLimits limits;
  size_t max_body_bytes = 1 << 20;   // request bodies over this get 413
  int http_threads = 0;              // 0: loop.parallel + 8
};

// Whether `host` names only this machine (127.0.0.0/8, ::1, localhost).
bool is_loopback_host(const std::string& host);

class Server {
 public:
  // Throws Error when a non-loopback host has no API key and no force_insecure,
  // or the chat template does not parse.
  Server(Engine& engine, ServerOptions options);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int start();  // binds and listens on a background thread; returns the port; throws Error
  void wait();  // blocks until the server stops
  void stop();
  LoopStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace entropix::server
