// The HTTP plumbing: the bind policy, httplib's thread pool, the API key check,
// request counting for /metrics, an x-request-id on every response, OpenAI-shaped
// errors for what no route answers,
// and start, stop and a graceful shutdown. The routes live in routes_<family>.cpp.
#include "server/server.h"

#include <httplib.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <string_view>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include "server/guarded_http_server.h"
#include "server/request_id.h"
#include "server/routes.h"

namespace entropix::server {

namespace {

bool same_key(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// What a request's "model" may name: model_name, then the aliases not already listed.
std::vector<std::string> served_model_names(const ServerOptions& o) {
  std::vector<std::string> names{o.model_name};
  for (const std::string& a : o.model_aliases)
    if (std::find(names.begin(), names.end(), a) == names.end()) names.push_back(a);
  return names;
}

}  // namespace

std::string bearer_credentials(const std::string& authorization) {
  // The scheme's name is case-insensitive (RFC 9110 11.1); spaces may follow it.
  constexpr std::string_view scheme = "bearer";
  if (authorization.size() <= scheme.size() || authorization[scheme.size()] != ' ') return "";
  for (size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != scheme[i]) return "";
  const size_t start = authorization.find_first_not_of(' ', scheme.size());
  return start == std::string::npos ? "" : authorization.substr(start);
}

bool is_loopback_host(const std::string& host) {
  // Resolved, not read as text ("127.invalid" is a name, not an address): every
  // address the name stands for must be loopback, and a name that does not resolve is not.
  const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  const std::string name = bracketed ? host.substr(1, host.size() - 2) : host;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (name.empty() || getaddrinfo(name.c_str(), nullptr, &hints, &found) != 0) return false;
  bool loopback = true;
  for (const addrinfo* a = found; a; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      loopback = loopback && (ntohl(reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr.s_addr) >> 24) == 127;
    } else if (a->ai_family == AF_INET6) {
      const in6_addr& ip = reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr;
      loopback = loopback && (IN6_IS_ADDR_LOOPBACK(&ip) || (IN6_IS_ADDR_V4MAPPED(&ip) && ip.s6_addr[12] == 127));
    } else {
      loopback = false;
    }
  }
  freeaddrinfo(found);
  return loopback;
}

ConnectionLimits connection_limits(const ServerOptions& o) {
  ConnectionLimits l;
  l.max_connections = o.max_connections;
  l.max_per_client = o.max_connections_per_client;
  l.threads_kept_ready = static_cast<size_t>(o.http_threads > 0 ? o.http_threads : o.loop.parallel + 8);
  l.stream.header_timeout = o.header_timeout;
  l.stream.body_timeout = o.body_timeout;
  // Chunked framing adds bytes to a body: twice the limit on the wire, and the routes check the body itself.
  const size_t largest = std::max(o.max_body_bytes, o.explore_db.empty() ? 0 : o.max_import_bytes);
  l.stream.max_body_wire_bytes = 2 * largest + 65536;
  return l;
}

struct Server::Impl {
  ServerOptions options;
  std::unique_ptr<explore::SessionStore> sessions;  // the explorer's; null without explore_db
  Metrics metrics;  // before the loop, whose thread records into it until the loop is destroyed
  ModelSlot models;
  ServerContext context;
  GuardedHttpServer http;  // after the context, which its handlers read
  RouteTable routes{http};
  std::thread listener;
  std::mutex join_mutex;  // wait() and stop() may join the listener from two threads

  Impl(Engine& engine, std::unique_ptr<Engine> owned, ServerOptions o)
      : options(std::move(o)),
        sessions(options.explore_db.empty() ? nullptr : std::make_unique<explore::SessionStore>(options.explore_db)),
        models(std::make_shared<ServingModel>(engine, std::move(owned), options.decode, served_model_names(options),
                                              options.model_path, options.chat_template, options.loop, metrics),
               options.load_model, options.model_aliases, options.chat_template, options.loop, metrics),
        context{models, options, metrics},
        http(connection_limits(options)) {
    context.sessions = sessions.get();
    set_up_http();
    register_status_routes(routes, context);
    register_openai_routes(routes, context);
    register_explore_routes(routes, context);
    register_model_routes(routes, context);
    register_web_routes(routes, options.web_dir);
  }

  void set_up_http();
  // Waits until no generation response is open, or `deadline`; returns whether none is.
  bool wait_responses_sent(std::chrono::steady_clock::time_point deadline) const;
};

void Server::Impl::set_up_http() {
  // Each route checks its own limit; httplib stops what no route would take.
  http.set_payload_max_length(std::max(options.max_body_bytes, options.explore_db.empty() ? 0 : options.max_import_bytes));

  // With an API key every route but /health needs it (/metrics too: Prometheus
  // sends it with `authorization: {credentials: KEY}` in the scrape config).
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // The page itself holds nothing secret: it asks for the key and sends it with its calls.
    const bool page = req.path == "/" || req.path.rfind("/ui/", 0) == 0;
    if (options.api_key.empty() || req.path == "/health" || page) return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    if (same_key(bearer_credentials(auth), options.api_key)) return httplib::Server::HandlerResponse::Unhandled;
    send_json(res, 401,
              error_body(auth.empty() ? "no API key given: send \"Authorization: Bearer <key>\"" : "the API key is wrong",
                         "invalid_request_error", "invalid_api_key"));
    return httplib::Server::HandlerResponse::Handled;
  });

  // Every response names its request (before its headers are written: streams too).
  http.set_post_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.has_header("x-request-id"))
      res.set_header("x-request-id",
                     request_id(req.get_header_value("X-Request-Id"), req.get_header_value("X-Client-Request-Id")));
  });

  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics.count_request(routes.label(req.path), res.status);
  });

  http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 400 && GuardedHttpServer::body_over_limit_on_this_thread()) res.status = 413;  // chunked, cut off
    if (res.status == 400 && GuardedHttpServer::timed_out_on_this_thread()) {
      res.set_header("Connection", "close");
      send_json(res, 408, error_body("the request did not arrive in time: its headers must come within " +
                                         std::to_string(options.header_timeout.count()) + " ms and its body within " +
                                         std::to_string(options.body_timeout.count()) + " ms more",
                                     "invalid_request_error", "request_timeout"));
    } else if (res.status == 404) {
      send_json(res, 404, error_body("unknown route: " + req.method + " " + req.path, "invalid_request_error", "not_found"));
    } else if (res.status == 413 && req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) == 0) {
      // httplib takes at most 8 KiB of a form body, whatever the limit (curl -d sends one).
      send_json(res, 413, error_body("a form-encoded body is limited to " + std::to_string(CPPHTTPLIB_FORM_URL_ENCODED_PAYLOAD_MAX_LENGTH) +
                                         " bytes: send it with Content-Type: application/json",
                                     "invalid_request_error", "body_too_large"));
    } else if (res.status == 413) {
      send_json(res, 413, error_body("the body is over the limit of " +
                                         std::to_string(std::max(options.max_body_bytes, options.explore_db.empty() ? 0 : options.max_import_bytes)) + " bytes",
                                     "invalid_request_error", "body_too_large"));
    } else {
      send_json(res, res.status, error_body("HTTP error " + std::to_string(res.status), "invalid_request_error", ""));
    }
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_json(res, 500, error_body("internal error: " + what, "server_error", "internal_error"));
  });
}

bool Server::Impl::wait_responses_sent(std::chrono::steady_clock::time_point deadline) const {
  while (context.open_responses > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

Server::Server(Engine& engine, ServerOptions options) { init(engine, nullptr, std::move(options)); }

Server::Server(std::unique_ptr<Engine> engine, ServerOptions options) {
  if (!engine) throw Error("a server needs an engine");
  Engine& e = *engine;
  init(e, std::move(engine), std::move(options));
}

void Server::init(Engine& engine, std::unique_ptr<Engine> owned, ServerOptions options) {
  if (!is_loopback_host(options.host) && options.api_key.empty()) {
    if (!options.force_insecure) {
      throw Error("refusing to listen on " + options.host +
                  " without an API key: anyone who can reach it could use it (set --api-key, or --force-insecure)");
    }
    std::fprintf(stderr, "warning: listening on %s without an API key (--force-insecure)\n", options.host.c_str());
  }
  // The engine must compute what any request may decode with: checked here, at start,
  // rather than failing requests later.
  EngineOptions needed;
  set_engine_needs(needed, request_decode_uses(options.decode));
  if (needed.attention_scores && !engine.options().attention_scores) {
    throw Error(
        "the engine was loaded without attention scores, but requests may use the entropix sampler, whose profile "
        "reads attention metrics: load it with the options set_engine_needs(request_decode_uses(...)) gives");
  }
  // n choices take n of the loop's slots.
  options.limits.max_n = std::max(1, std::min(options.limits.max_n, options.loop.parallel));
  impl_ = std::make_unique<Impl>(engine, std::move(owned), std::move(options));
}

Server::~Server() { stop(); }

int Server::start() {
  Impl& s = *impl_;
  int port = s.options.port;
  if (port == 0) port = s.http.bind_to_any_port(s.options.host);
  else if (!s.http.bind_to_port(s.options.host, port)) port = -1;
  if (port <= 0) throw Error("cannot listen on " + s.options.host + ":" + std::to_string(s.options.port));
  s.http.widen_backlog(static_cast<int>(std::min<size_t>(s.options.max_connections, 4096)));
  s.listener = std::thread([&s] { s.http.listen_after_bind(); });
  // stop() only reaches a server that runs: wait until it does.
  for (int i = 0; i < 5000 && !s.http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return port;
}

void Server::wait() {
  std::lock_guard<std::mutex> lock(impl_->join_mutex);
  if (impl_->listener.joinable()) impl_->listener.join();
}

// Another thread may be in wait(): the listener is stopped before taking the lock.
void Server::stop() {
  impl_->http.stop();
  std::lock_guard<std::mutex> lock(impl_->join_mutex);
  if (impl_->listener.joinable()) impl_->listener.join();
}

void Server::begin_shutdown() { impl_->context.shutting_down = true; }

void Server::shutdown(std::chrono::milliseconds grace) {
  constexpr auto kErrorDelivery = std::chrono::seconds(2);  // for the error events after abort_all()
  begin_shutdown();
  if (!impl_->wait_responses_sent(std::chrono::steady_clock::now() + grace)) {
    if (auto m = impl_->models.get()) m->loop.abort_all();  // their clients get an error now rather than a hang
    impl_->wait_responses_sent(std::chrono::steady_clock::now() + kErrorDelivery);
  }
  stop();
}

LoopStats Server::stats() const {
  const auto m = impl_->models.get();
  return m ? m->loop.stats() : LoopStats{};
}

const Metrics& Server::metrics() const { return impl_->metrics; }

}  // namespace entropix::server
