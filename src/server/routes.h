// What the HTTP plumbing (server.cpp) hands to each family of routes
// (routes_<family>.cpp): the state they share, a table to register their routes
// in, and the JSON reply helpers. A new family is a new routes_<family>.cpp whose
// register function is declared here and called once by the plumbing; the other
// families stay as they are.
#pragma once

#include <httplib.h>

#include <atomic>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "explore/session_store.h"
#include "model/engine.h"
#include "server/api.h"
#include "server/inference_loop.h"
#include "server/metrics.h"
#include "server/server.h"
#include "server/serving_model.h"

namespace entropix::server {

// The server's state, owned by the plumbing and read by the handlers on the HTTP threads.
struct ServerContext {
  ModelSlot& models;            // the model now (engine, loop, defaults); a handler holds it while it runs
  const ServerOptions& options;
  Metrics& metrics;
  std::atomic<bool> shutting_down{false};  // new generation requests get 503
  std::atomic<int32_t> open_responses{0};  // generation responses not yet fully sent (a shutdown waits for them)
  explore::SessionStore* sessions = nullptr;  // the explorer's sessions; null when the explorer is off
};

// Counts a response as open while it lives (a stream: until its provider is destroyed).
class OpenResponse {
 public:
  explicit OpenResponse(std::atomic<int32_t>& count) : count_(count) { ++count_; }
  ~OpenResponse() { --count_; }
  OpenResponse(const OpenResponse&) = delete;
  OpenResponse& operator=(const OpenResponse&) = delete;

 private:
  std::atomic<int32_t>& count_;
};

// Registers routes with httplib and keeps their paths, which /metrics counts
// requests under by name. Filled before the server starts, read-only after.
class RouteTable {
 public:
  explicit RouteTable(httplib::Server& http) : http_(http) {}
  void get(const std::string& path, httplib::Server::Handler handler);
  void post(const std::string& path, httplib::Server::Handler handler);
  void patch(const std::string& path, httplib::Server::Handler handler);
  void del(const std::string& path, httplib::Server::Handler handler);
  // The label /metrics counts a request under: its route (a pattern for routes
  // with parameters), else "other" (so that probing clients cannot grow the label set).
  std::string label(const std::string& path) const;

 private:
  httplib::Server& http_;
  std::vector<std::string> paths_;
  std::vector<std::string> patterns_;  // labels of routes with parameters: {id}, {name} for their groups
  void add(const std::string& path);
};

// The type of every JSON reply (see send_json).
inline constexpr const char* kJsonContentType = "application/json; charset=utf-8";
// A JSON reply (as json_text: token pieces may hold part of a UTF-8 character).
void send_json(httplib::Response& res, int status, const nlohmann::json& j);
void send_error(httplib::Response& res, const ApiError& e);

// Runs a handler's body, turning an ApiError into its reply and a JSON value of
// the wrong type into a 400.
template <typename F>
void guarded(httplib::Response& res, F&& body) {
  try {
    body();
  } catch (const ApiError& e) {
    send_error(res, e);
  } catch (const nlohmann::json::exception& e) {
    send_error(res, ApiError(400, std::string("unexpected value in the request: ") + e.what()));
  }
}

// The families (routes_status.cpp, routes_openai.cpp).
// GET /health and GET /metrics.
void register_status_routes(RouteTable& routes, ServerContext& ctx);
// GET /v1/models, GET /v1/models/{id}, POST /v1/completions and POST /v1/chat/completions. Throws Error
// when the chat template does not parse.
void register_openai_routes(RouteTable& routes, ServerContext& ctx);
// The explorer's API under /explore/v1 (docs/explorer-api.md); needs ctx.sessions.
void register_explore_routes(RouteTable& routes, ServerContext& ctx);
// The explorer's models page under /explore/v1/models (list, pull, remove, load); needs ctx.sessions.
void register_model_routes(RouteTable& routes, ServerContext& ctx);
// The explorer's page: / and /ui/<file>, from the files embedded at build time or,
// when `web_dir` is set, from that folder (for work on the page).
void register_web_routes(RouteTable& routes, const std::string& web_dir);

}  // namespace entropix::server
