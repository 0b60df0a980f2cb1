#include "server/server.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include "chat/chat_format.h"
#include "core/json_text.h"
#include "server/client_connection.h"
#include "tokenizer/tokenizer.h"

namespace entropix::server {

using nlohmann::json;

namespace {

constexpr auto kEventWait = std::chrono::milliseconds(100);  // how often a waiting handler checks its client

// Token pieces may hold part of a UTF-8 character: replace what is not valid.
std::string wire(const json& j) { return json_text(j); }

void send_json(httplib::Response& res, int status, const json& j) {
  res.status = status;
  res.set_content(wire(j), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) {
  send_json(res, e.status(), error_body(e.what(), e.type(), e.code(), e.param()));
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The label /metrics counts a request under: a route of the server, else "other"
// (so that probing clients cannot grow the label set).
std::string endpoint_label(const std::string& path) {
  for (const char* route : {"/health", "/metrics", "/v1/models", "/v1/completions", "/v1/chat/completions"})
    if (path == route) return path;
  return "other";
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool same_key(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

struct Server::Impl {
  Engine& engine;
  ServerOptions options;
  std::unique_ptr<ChatFormat> format;
  Metrics metrics;  // before the loop, whose thread records into it until the loop is destroyed
  std::unique_ptr<InferenceLoop> loop;
  httplib::Server http;
  std::thread listener;
  std::mutex join_mutex;  // wait() and stop() may join the listener from two threads
  std::atomic<uint64_t> next_id{0};
  std::atomic<bool> shutting_down{false};  // new generation requests get 503
  std::atomic<int32_t> open_responses{0};  // generation responses not yet fully sent

  // Counts a response as open while it lives (a stream: until its provider is destroyed).
  struct OpenResponse {
    std::atomic<int32_t>& count;
    explicit OpenResponse(std::atomic<int32_t>& c) : count(c) { ++count; }
    ~OpenResponse() { --count; }
    OpenResponse(const OpenResponse&) = delete;
    OpenResponse& operator=(const OpenResponse&) = delete;
  };
  // Waits until no generation response is open, or `deadline`; returns whether none is.
  bool wait_responses_sent(std::chrono::steady_clock::time_point deadline) const;

  std::vector<std::string> model_names;  // what "model" may name: model_name, then the aliases

  Impl(Engine& e, ServerOptions o) : engine(e), options(std::move(o)) {
    model_names.push_back(options.model_name);
    for (const std::string& a : options.model_aliases)
      if (std::find(model_names.begin(), model_names.end(), a) == model_names.end()) model_names.push_back(a);
  }

  std::vector<int32_t> tokenize(ApiRequest& r, LeadingSpace& lead) const;
  void generate(const httplib::Request& req, httplib::Response& res, Endpoint endpoint);
  void routes();
};

std::vector<int32_t> Server::Impl::tokenize(ApiRequest& r, LeadingSpace& lead) const {
  const Tokenizer& tok = engine.tokenizer();
  std::vector<int32_t> ids;
  if (r.endpoint == Endpoint::Completions) {
    if (r.prompt_tokens) {
      ids = *r.prompt_tokens;
      for (int32_t id : ids)
        if (id >= tok.n_vocab())
          throw ApiError(400, "'prompt' holds token id " + std::to_string(id) + "; the vocabulary has " +
                                  std::to_string(tok.n_vocab()) + " tokens");
    } else {
      ids = tok.encode(r.prompt, true, true);
    }
  } else {
    std::string text;
    try {
      text = format->render(r.messages, tok);
    } catch (const Error& e) {
      throw ApiError(400, std::string("the chat template failed on these messages: ") + e.what());
    }
    ids = tok.encode(text, format->add_bos(), true);
    if (const std::string stop = format->stop(); !stop.empty()) r.decode.stop.push_back(stop);
    lead = format->leading_space();
  }
  if (ids.empty()) throw ApiError(400, "the prompt has no tokens", "invalid_request_error", "empty_prompt");
  if (static_cast<int64_t>(ids.size()) >= engine.n_ctx()) {
    throw ApiError(400,
                   "the prompt has " + std::to_string(ids.size()) + " tokens; the context holds " +
                       std::to_string(engine.n_ctx()) + " positions and needs room for at least one more",
                   "invalid_request_error", "context_length_exceeded");
  }
  return ids;
}

void Server::Impl::generate(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
  const auto started = std::chrono::steady_clock::now();
  const std::string route = req.path;
  if (shutting_down) {
    send_error(res, ApiError(503, "the server is shutting down", "server_error", "shutting_down"));
    return;
  }
  if (req.body.size() > options.max_body_bytes) {
    send_error(res, ApiError(413, "the body has " + std::to_string(req.body.size()) + " bytes; the limit is " +
                                      std::to_string(options.max_body_bytes),
                             "invalid_request_error", "body_too_large"));
    return;
  }
  auto request = std::make_shared<ApiRequest>();
  auto job = std::make_shared<Job>();
  LeadingSpace lead;
  try {
    *request = parse_request(req.body, endpoint, options.decode, options.limits);
    check_model(request->model, model_names);
    job->prompt = tokenize(*request, lead);
  } catch (const ApiError& e) {
    send_error(res, e);
    return;
  } catch (const Error& e) {
    send_error(res, ApiError(400, e.what()));
    return;
  }
  job->decode = request->decode;
  job->n = request->n;
  job->n_top = request->logprobs ? request->top_logprobs : 0;

  ResponseContext ctx;
  ctx.id = std::string(endpoint == Endpoint::ChatCompletions ? "chatcmpl-" : "cmpl-") + std::to_string(unix_now()) +
           "-" + std::to_string(next_id++);
  ctx.model = options.model_name;
  ctx.created = unix_now();

  switch (loop->submit(job)) {
    case InferenceLoop::Submit::Queued: break;
    case InferenceLoop::Submit::QueueFull:
      res.set_header("Retry-After", "1");
      send_error(res, ApiError(429,
                               "the server is busy: " + std::to_string(options.loop.max_queue) +
                                   " requests are already waiting, retry later",
                               "rate_limit_error", "queue_full"));
      return;
    case InferenceLoop::Submit::Stopped:
      send_error(res, ApiError(503, "the server is shutting down", "server_error", "shutting_down"));
      return;
  }
  const size_t n = static_cast<size_t>(request->n);
  // A shutdown waits for it: stopping the HTTP server cuts chunked responses short.
  auto in_flight = std::make_shared<OpenResponse>(open_responses);

  if (!request->stream) {
    // Nothing is written before the whole answer, so the client's socket is watched
    // to cancel the work of a client that left.
    const ClientConnection client(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
    std::vector<Completion> choices(n);
    std::vector<LeadingSpace> leads(n, lead);
    int32_t n_prompt = 0;
    for (size_t open = n; open > 0;) {
      if (client.gone()) {
        job->cancelled = true;
        res.status = 499;  // nginx's "client closed request": no one reads it, the log and /metrics do
        return;
      }
      for (JobEvent& ev : job->wait(kEventWait)) {
        if (!ev.error.empty()) {
          job->cancelled = true;  // the other choices stop too
          send_error(res, ApiError(500, ev.error, "server_error", "generation_failed"));
          return;
        }
        const size_t i = static_cast<size_t>(ev.index);
        leads[i].apply(ev.text);
        choices[i].text += ev.text;
        for (TokenInfo& t : ev.tokens) choices[i].tokens.push_back(std::move(t));
        if (ev.done) {
          choices[i].finish = ev.finish;
          choices[i].n_generated = ev.n_generated;
          n_prompt = ev.n_prompt;
          --open;
        }
      }
    }
    send_json(res, 200, completion_response(*request, ctx, choices, n_prompt));
    metrics.observe_request_duration(route, seconds_since(started));
    return;
  }

  struct Stream {
    size_t roles_sent = 0;
    size_t open = 0;          // choices not yet done
    int32_t n_prompt = 0;
    int32_t n_generated = 0;  // all choices
    bool finished = false;
    std::vector<LeadingSpace> leads;
  };
  auto state = std::make_shared<Stream>();
  state->leads.assign(n, lead);
  state->open = n;
  state->roles_sent = endpoint == Endpoint::ChatCompletions ? 0 : n;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [request, job, state, ctx](size_t, httplib::DataSink& sink) {
        auto send = [&](const std::string& data) {
          const std::string line = "data: " + data + "\n\n";
          return sink.write(line.data(), line.size());
        };
        auto give_up = [&] {
          job->cancelled = true;
          return false;
        };
        while (state->roles_sent < state->leads.size()) {
          if (!send(wire(chat_role_chunk(ctx, static_cast<int32_t>(state->roles_sent++))))) return give_up();
        }
        std::vector<JobEvent> events = job->wait(kEventWait);
        if (!sink.is_writable()) return give_up();
        for (JobEvent& ev : events) {
          if (!ev.error.empty()) {
            state->finished = true;
            job->cancelled = true;  // the other choices stop too
            send(wire(error_body(ev.error, "server_error", "generation_failed")));
            send("[DONE]");
            sink.done();
            return true;
          }
          state->leads[static_cast<size_t>(ev.index)].apply(ev.text);
          if ((!ev.text.empty() || !ev.tokens.empty() || ev.done) && !send(wire(stream_chunk(*request, ctx, ev))))
            return give_up();
          if (ev.done) {
            state->n_prompt = ev.n_prompt;
            state->n_generated += ev.n_generated;
            if (--state->open > 0) continue;
            state->finished = true;
            if (request->include_usage) send(wire(usage_chunk(*request, ctx, state->n_prompt, state->n_generated)));
            send("[DONE]");
            sink.done();
            return true;
          }
        }
        return true;
      },
      [this, job, state, route, started, in_flight](bool) {  // in_flight: released with the provider
        if (!state->finished) job->cancelled = true;
        else metrics.observe_request_duration(route, seconds_since(started));
      });
}

void Server::Impl::routes() {
  http.set_payload_max_length(options.max_body_bytes);
  const size_t threads = static_cast<size_t>(options.http_threads > 0 ? options.http_threads : options.loop.parallel + 8);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };

  // With an API key every route but /health needs it (/metrics too: Prometheus
  // sends it with `authorization: {credentials: KEY}` in the scrape config).
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (options.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.rfind(prefix, 0) == 0 && same_key(auth.substr(prefix.size()), options.api_key))
      return httplib::Server::HandlerResponse::Unhandled;
    send_json(res, 401,
              error_body(auth.empty() ? "no API key given: send \"Authorization: Bearer <key>\"" : "the API key is wrong",
                         "invalid_request_error", "invalid_api_key"));
    return httplib::Server::HandlerResponse::Handled;
  });

  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics.count_request(endpoint_label(req.path), res.status);
  });

  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    LoopStats s = loop->stats();
    send_json(res, shutting_down ? 503 : 200,
              {{"status", shutting_down ? "shutting_down" : "ok"}, {"active", s.active}, {"queued", s.queued},
               {"completed", s.completed}, {"cancelled", s.cancelled}});
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    const LoopStats s = loop->stats();
    res.set_content(metrics.render({s.active, s.queued, s.completed, s.cancelled}), "text/plain; version=0.0.4");
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    json data = json::array();
    for (const std::string& name : model_names) {
      data.push_back({{"id", name}, {"object", "model"}, {"created", 0}, {"owned_by", "entropix"},
                      {"meta", {{"n_ctx", engine.n_ctx()}, {"n_vocab", engine.tokenizer().n_vocab()}}}});
    }
    send_json(res, 200, {{"object", "list"}, {"data", data}});
  });
  http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    generate(req, res, Endpoint::Completions);
  });
  http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    generate(req, res, Endpoint::ChatCompletions);
  });

  http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      send_json(res, 404, error_body("unknown route: " + req.method + " " + req.path, "invalid_request_error", "not_found"));
    } else if (res.status == 413) {
      send_json(res, 413, error_body("the body is over the limit of " + std::to_string(options.max_body_bytes) + " bytes",
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

Server::Server(Engine& engine, ServerOptions options) : impl_(std::make_unique<Impl>(engine, std::move(options))) {
  ServerOptions& o = impl_->options;
  if (!is_loopback_host(o.host) && o.api_key.empty()) {
    if (!o.force_insecure) {
      throw Error("refusing to listen on " + o.host +
                  " without an API key: anyone who can reach it could use it (set --api-key, or --force-insecure)");
    }
    std::fprintf(stderr, "warning: listening on %s without an API key (--force-insecure)\n", o.host.c_str());
  }
  impl_->format = std::make_unique<ChatFormat>(o.chat_template.empty() ? engine.chat_template()
                                                                        : std::optional<std::string>(o.chat_template));
  // n choices take n of the loop's slots.
  o.limits.max_n = std::max(1, std::min(o.limits.max_n, o.loop.parallel));
  impl_->loop = std::make_unique<InferenceLoop>(engine, o.loop, &impl_->metrics);
  impl_->routes();
}

Server::~Server() { stop(); }

int Server::start() {
  Impl& s = *impl_;
  int port = s.options.port;
  if (port == 0) port = s.http.bind_to_any_port(s.options.host);
  else if (!s.http.bind_to_port(s.options.host, port)) port = -1;
  if (port <= 0) throw Error("cannot listen on " + s.options.host + ":" + std::to_string(s.options.port));
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

void Server::begin_shutdown() { impl_->shutting_down = true; }

bool Server::Impl::wait_responses_sent(std::chrono::steady_clock::time_point deadline) const {
  while (open_responses > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

void Server::shutdown(std::chrono::milliseconds grace) {
  constexpr auto kErrorDelivery = std::chrono::seconds(2);  // for the error events after abort_all()
  begin_shutdown();
  if (!impl_->wait_responses_sent(std::chrono::steady_clock::now() + grace)) {
    impl_->loop->abort_all();  // their clients get an error now rather than a hang
    impl_->wait_responses_sent(std::chrono::steady_clock::now() + kErrorDelivery);
  }
  stop();
}

LoopStats Server::stats() const { return impl_->loop->stats(); }

const Metrics& Server::metrics() const { return impl_->metrics; }

}  // namespace entropix::server
