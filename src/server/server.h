// The OpenAI-compatible HTTP server: GET /health, GET /metrics, GET /v1/models[/{id}],
// POST /v1/completions and POST /v1/chat/completions (streamed as SSE or not,
// n choices as forks of one prefilled prompt, a completions prompt array as a job
// per prompt queued together); the explorer's page at / and its
// API under /explore/v1 (docs/explorer-api.md).
// HTTP threads parse each body into an ApiRequest, tokenize it, and queue a Job
// for the one InferenceLoop that owns the engine; they then relay the job's
// events. A client that goes away cancels its job, streamed or not.
//
//   Server server(engine, options);  // checks the bind policy
//   int port = server.start();       // listens on a background thread
//   server.wait();                   // until stop()
//
// A client that closes its socket makes writes fail; the process should ignore
// SIGPIPE (`entropix serve` does) so that this is an error return, not a signal.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "decoding/decode_options.h"
#include "model/engine.h"
#include "server/api.h"
#include "server/inference_loop.h"
#include "server/metrics.h"
#include "server/serving_model.h"

namespace entropix::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                   // 0: any free port (start() returns it)
  std::string api_key;               // when set, every route but /health needs "Authorization: Bearer <key>"
  bool force_insecure = false;       // allow a non-loopback host without an API key
  std::string model_name = "model";  // the id /v1/models reports and responses echo
  std::string model_path;            // the engine's GGUF file (what a failed model switch loads again)
  std::vector<std::string> model_aliases;  // further names a request's "model" may give (listed by /v1/models)
  std::string chat_template;         // Jinja source; empty: the model's own, else plain User:/Assistant: turns
  DecodeOptions decode;              // the defaults of every request
  LoopOptions loop;
  RequestLimits limits;
  size_t max_body_bytes = 1 << 20;   // request bodies over this get 413
  size_t max_import_bytes = size_t{256} << 20;  // an explorer import (a whole session's tree) at most
  int http_threads = 0;              // threads kept ready for connections; 0: loop.parallel + 8
  // Connections: more are started as needed up to max_connections (then 503), at
  // most max_connections_per_client from one address (then 429). A request's line
  // and headers must arrive within header_timeout, its body within body_timeout
  // after them (then 408 and the connection is closed).
  size_t max_connections = 512;
  size_t max_connections_per_client = 128;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{60000};
  // The explorer: its sessions' database (empty: no explorer API, /explore/v1 answers
  // 404) and, when set, a folder to serve its page from instead of the embedded copy.
  std::string explore_db;
  std::string web_dir;
  // Loads another model on request (the explorer's models page); empty: the model
  // cannot be switched.
  ModelLoader load_model;
};

// The credentials of an "Authorization: Bearer <token>" header, the scheme in any
// letter case; empty for another scheme.
std::string bearer_credentials(const std::string& authorization);

// Whether `host` names only this machine: it resolves, and every address it resolves
// to is loopback (127.0.0.0/8, ::1).
bool is_loopback_host(const std::string& host);

class Server {
 public:
  // Throws Error when a non-loopback host has no API key and no force_insecure,
  // or the chat template does not parse.
  Server(Engine& engine, ServerOptions options);
  // The same, owning the engine (so that a model switch can free it).
  Server(std::unique_ptr<Engine> engine, ServerOptions options);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int start();  // binds and listens on a background thread; returns the port; throws Error
  void wait();  // blocks until the server stops
  void stop();
  // From now on generation requests get 503 and /health says "shutting_down".
  void begin_shutdown();
  // begin_shutdown(), then waits up to `grace` for the requests in flight (those
  // still running then end with an error), then stop().
  void shutdown(std::chrono::milliseconds grace);
  LoopStats stats() const;
  const Metrics& metrics() const;

 private:
  void init(Engine& engine, std::unique_ptr<Engine> owned, ServerOptions options);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace entropix::server
