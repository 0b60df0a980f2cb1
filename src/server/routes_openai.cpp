// The OpenAI-compatible routes: GET /v1/models, POST /v1/completions and POST
// /v1/chat/completions. A generation request is parsed, tokenized and queued on
// the HTTP thread (admit), then answered whole once every choice is done
// (reply_collected) or as server-sent events while they are decoded
// (reply_streamed).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>

#include "chat/chat_format.h"
#include "core/json_text.h"
#include "server/client_connection.h"
#include "server/routes.h"
#include "tokenizer/tokenizer.h"

namespace entropix::server {

using nlohmann::json;

namespace {

constexpr auto kEventWait = std::chrono::milliseconds(100);  // how often a waiting handler checks its client

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A generation request queued on the inference loop.
struct Admitted {
  std::shared_ptr<ServingModel> model;  // held until the response is sent
  std::shared_ptr<ApiRequest> request;
  std::shared_ptr<Job> job;
  ResponseContext reply;  // id, model and time every response object carries
  LeadingSpace lead;      // for each choice's text
  std::vector<TokenInfo> echo;  // with echo: the prompt's tokens but a leading BOS, logprobs to come
  size_t echo_skip = 0;         // 1 when the prompt starts with BOS (not echoed)
};

// Puts the prompt measurements of an event into the echoed tokens: measurement k is
// of prompt position k + 1.
void fill_echo(std::vector<TokenInfo>& echo, size_t skip, size_t& measured, const std::vector<TokenInfo>& prompt) {
  for (const TokenInfo& m : prompt) {
    const size_t position = ++measured;
    if (position < skip || position - skip >= echo.size()) continue;
    TokenInfo& t = echo[position - skip];
    std::vector<int32_t> ids = std::move(t.ids);
    std::string piece = std::move(t.piece);
    t = m;
    t.ids = std::move(ids);
    t.piece = std::move(piece);
  }
}

class OpenAiRoutes {
 public:
  explicit OpenAiRoutes(ServerContext& ctx) : ctx_(ctx) {}

  void models(httplib::Response& res) const;
  void generate(const httplib::Request& req, httplib::Response& res, Endpoint endpoint);

 private:
  // The prompt's tokens (chat messages rendered by the model's format); adds the stop string
  // and the leading space that plain turns need to `r` and `lead`.
  std::vector<int32_t> tokenize(const ServingModel& m, ApiRequest& r, LeadingSpace& lead) const;
  // Parses, checks and queues a request; nullopt when it was refused (the error reply is set).
  std::optional<Admitted> admit(const httplib::Request& req, httplib::Response& res, Endpoint endpoint);
  // The whole response once every choice is done; the client's socket is watched meanwhile.
  void reply_collected(const httplib::Request& req, httplib::Response& res, const Admitted& a, Clock::time_point started);
  // Server-sent events, a chunk per event of the loop; `in_flight` is released with the stream.
  void reply_streamed(const httplib::Request& req, httplib::Response& res, const Admitted& a, Clock::time_point started,
                      std::shared_ptr<OpenResponse> in_flight);

  ServerContext& ctx_;
  std::atomic<uint64_t> next_id_{0};
};

void OpenAiRoutes::models(httplib::Response& res) const {
  json data = json::array();
  const std::shared_ptr<ServingModel> m = ctx_.models.get();
  for (const std::string& name : m ? m->names : std::vector<std::string>{}) {
    data.push_back({{"id", name}, {"object", "model"}, {"created", 0}, {"owned_by", "entropix"},
                    {"meta", {{"n_ctx", m->engine.n_ctx()}, {"n_vocab", m->engine.tokenizer().n_vocab()}}}});
  }
  send_json(res, 200, {{"object", "list"}, {"data", data}});
}

std::vector<int32_t> OpenAiRoutes::tokenize(const ServingModel& m, ApiRequest& r, LeadingSpace& lead) const {
  const Tokenizer& tok = m.engine.tokenizer();
  const ChatFormat& format = m.format;
  std::vector<int32_t> ids;
  if (r.endpoint == Endpoint::Completions) {
    if (r.prompt_tokens) {
      ids = *r.prompt_tokens;
      for (int32_t id : ids)
        if (id >= tok.n_vocab())
          throw ApiError(400, "'prompt' holds token id " + std::to_string(id) + "; the vocabulary has " +
                                  std::to_string(tok.n_vocab()) + " tokens",
                         "invalid_request_error", "invalid_value", "prompt");
    } else {
      ids = tok.encode(r.prompt, true, true);
    }
  } else {
    std::string text;
    try {
      text = format.render(r.messages, tok);
    } catch (const Error& e) {
      throw ApiError(400, std::string("the chat template failed on these messages: ") + e.what(),
                     "invalid_request_error", "", "messages");
    }
    ids = tok.encode(text, format.add_bos(), true);
    if (const std::string stop = format.stop(); !stop.empty()) r.decode.stop.push_back(stop);
    lead = format.leading_space();
  }
  const char* prompt_field = r.endpoint == Endpoint::Completions ? "prompt" : "messages";
  if (ids.empty()) throw ApiError(400, "the prompt has no tokens", "invalid_request_error", "empty_prompt", prompt_field);
  if (static_cast<int64_t>(ids.size()) >= m.engine.n_ctx()) {
    throw ApiError(400,
                   "the prompt has " + std::to_string(ids.size()) + " tokens; the context holds " +
                       std::to_string(m.engine.n_ctx()) + " positions and needs room for at least one more",
                   "invalid_request_error", "context_length_exceeded", prompt_field);
  }
  return ids;
}

std::optional<Admitted> OpenAiRoutes::admit(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
  const ServerOptions& options = ctx_.options;
  if (ctx_.shutting_down) {
    send_error(res, ApiError(503, "the server is shutting down", "server_error", "shutting_down"));
    return std::nullopt;
  }
  if (req.body.size() > options.max_body_bytes) {
    send_error(res, ApiError(413, "the body has " + std::to_string(req.body.size()) + " bytes; the limit is " +
                                      std::to_string(options.max_body_bytes),
                             "invalid_request_error", "body_too_large"));
    return std::nullopt;
  }
  Admitted a{nullptr, std::make_shared<ApiRequest>(), std::make_shared<Job>(), {}, {}, {}, 0};
  try {
    a.model = ctx_.models.require();
    *a.request = parse_request(req.body, endpoint, a.model->decode, options.limits);
    check_model(a.request->model, a.model->names);
    check_request_vocabulary(*a.request, a.model->engine.tokenizer().n_vocab());
    a.job->prompt = tokenize(*a.model, *a.request, a.lead);
  } catch (const ApiError& e) {
    send_error(res, e);
    return std::nullopt;
  } catch (const Error& e) {
    send_error(res, ApiError(400, e.what()));
    return std::nullopt;
  }
  a.job->decode = a.request->decode;
  a.job->n = a.request->n;
  a.job->n_top = a.request->logprobs ? a.request->top_logprobs : 0;
  if (a.request->echo) {
    const Tokenizer& tok = a.model->engine.tokenizer();
    const auto& ids = a.job->prompt;
    a.echo_skip = !ids.empty() && ids[0] == tok.bos() ? 1 : 0;
    for (size_t i = a.echo_skip; i < ids.size(); ++i) {
      TokenInfo t;
      t.ids = {ids[i]};
      t.piece = tok.token_to_piece(ids[i]);
      t.logprob = std::nan("");  // the first token without BOS has none; the rest are measured
      a.echo.push_back(std::move(t));
    }
    a.job->prompt_logprobs = a.request->logprobs;
  }

  a.reply.id = std::string(endpoint == Endpoint::ChatCompletions ? "chatcmpl-" : "cmpl-") +
               std::to_string(unix_now()) + "-" + std::to_string(next_id_++);
  a.reply.model = a.model->names.front();
  a.reply.created = unix_now();

  switch (a.model->loop.submit(a.job)) {
    case InferenceLoop::Submit::Queued: return a;
    case InferenceLoop::Submit::QueueFull:
      res.set_header("Retry-After", "1");
      send_error(res, ApiError(429,
                               "the server is busy: " + std::to_string(options.loop.max_queue) +
                                   " requests are already waiting, retry later",
                               "rate_limit_error", "queue_full"));
      return std::nullopt;
    case InferenceLoop::Submit::Stopped:
      send_error(res, ApiError(503, "the server is shutting down", "server_error", "shutting_down"));
      return std::nullopt;
  }
  return std::nullopt;
}

void OpenAiRoutes::generate(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
  const auto started = Clock::now();
  const std::optional<Admitted> admitted = admit(req, res, endpoint);
  if (!admitted) return;
  // A shutdown waits for it: stopping the HTTP server cuts chunked responses short.
  auto in_flight = std::make_shared<OpenResponse>(ctx_.open_responses);
  if (admitted->request->stream) reply_streamed(req, res, *admitted, started, std::move(in_flight));
  else reply_collected(req, res, *admitted, started);
}

void OpenAiRoutes::reply_collected(const httplib::Request& req, httplib::Response& res, const Admitted& a,
                                   Clock::time_point started) {
  // Nothing is written before the whole answer, so the client's socket is watched
  // to cancel the work of a client that left.
  const ClientConnection client(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
  const size_t n = static_cast<size_t>(a.request->n);
  Job& job = *a.job;
  std::vector<Completion> choices(n);
  std::vector<LeadingSpace> leads(n, a.lead);
  PromptUsage prompt;
  std::vector<TokenInfo> echo = a.echo;
  size_t measured = 0;
  for (size_t open = n; open > 0;) {
    if (client.gone()) {
      job.cancelled = true;
      res.status = 499;  // nginx's "client closed request": no one reads it, the log and /metrics do
      return;
    }
    for (JobEvent& ev : job.wait(kEventWait)) {
      if (!ev.error.empty()) {
        job.cancelled = true;  // the other choices stop too
        send_error(res, ApiError(500, ev.error, "server_error", "generation_failed"));
        return;
      }
      fill_echo(echo, a.echo_skip, measured, ev.prompt);
      const size_t i = static_cast<size_t>(ev.index);
      leads[i].apply(ev.text);
      choices[i].text += ev.text;
      for (TokenInfo& t : ev.tokens) choices[i].tokens.push_back(std::move(t));
      if (ev.done) {
        choices[i].finish = ev.finish;
        choices[i].n_generated = ev.n_generated;
        prompt = {ev.n_prompt, ev.n_cached};
        --open;
      }
    }
  }
  for (Completion& c : choices) c.echo = echo;
  send_json(res, 200, completion_response(*a.request, a.reply, choices, prompt));
  ctx_.metrics.observe_request_duration(req.path, seconds_since(started));
}

void OpenAiRoutes::reply_streamed(const httplib::Request& req, httplib::Response& res, const Admitted& a,
                                  Clock::time_point started, std::shared_ptr<OpenResponse> in_flight) {
  struct Stream {
    size_t roles_sent = 0;
    size_t open = 0;          // choices not yet done
    PromptUsage prompt;
    int32_t n_generated = 0;  // all choices
    bool finished = false;
    std::vector<LeadingSpace> leads;
    std::vector<TokenInfo> echo;  // with echo: sent before the first chunk of the answers
    std::vector<size_t> text_offsets;  // per choice: bytes of its text sent so far, the echo included
    size_t echo_skip = 0, measured = 0;
    bool echo_sent = true;
  };
  const size_t n = static_cast<size_t>(a.request->n);
  auto state = std::make_shared<Stream>();
  state->echo = a.echo;
  state->echo_skip = a.echo_skip;
  state->echo_sent = !a.request->echo;
  state->leads.assign(n, a.lead);
  state->text_offsets.assign(n, 0);
  state->open = n;
  state->roles_sent = a.request->endpoint == Endpoint::ChatCompletions ? 0 : n;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [request = a.request, job = a.job, state, reply = a.reply](size_t, httplib::DataSink& sink) {
        auto send = [&](const std::string& data) {
          const std::string line = "data: " + data + "\n\n";
          return sink.write(line.data(), line.size());
        };
        auto give_up = [&] {
          job->cancelled = true;
          return false;
        };
        while (state->roles_sent < state->leads.size()) {
          if (!send(json_text(chat_role_chunk(reply, static_cast<int32_t>(state->roles_sent++))))) return give_up();
        }
        std::vector<JobEvent> events = job->wait(kEventWait);
        if (!sink.is_writable()) return give_up();
        for (JobEvent& ev : events) {
          if (!ev.error.empty()) {
            state->finished = true;
            job->cancelled = true;  // the other choices stop too
            send(json_text(error_body(ev.error, "server_error", "generation_failed")));
            send("[DONE]");
            sink.done();
            return true;
          }
          fill_echo(state->echo, state->echo_skip, state->measured, ev.prompt);
          const bool answer = !ev.text.empty() || !ev.tokens.empty() || ev.done;
          if (answer && !state->echo_sent) {  // the prompt is measured whole before the first token
            state->echo_sent = true;
            for (size_t i = 0; i < state->leads.size(); ++i) {
              if (!send(json_text(echo_chunk(*request, reply, static_cast<int32_t>(i), state->echo)))) return give_up();
              state->text_offsets[i] = pieces_size(state->echo);
            }
          }
          state->leads[static_cast<size_t>(ev.index)].apply(ev.text);
          size_t& text_offset = state->text_offsets[static_cast<size_t>(ev.index)];
          if (answer && !send(json_text(stream_chunk(*request, reply, ev, text_offset)))) return give_up();
          text_offset += pieces_size(ev.tokens);
          if (ev.done) {
            state->prompt = {ev.n_prompt, ev.n_cached};
            state->n_generated += ev.n_generated;
            if (--state->open > 0) continue;
            state->finished = true;
            if (request->include_usage)
              send(json_text(usage_chunk(*request, reply, state->prompt, state->n_generated)));
            send("[DONE]");
            sink.done();
            return true;
          }
        }
        return true;
      },
      [&metrics = ctx_.metrics, job = a.job, state, route = req.path, started, model = a.model,
       in_flight](bool) {  // model and in_flight: released with the provider
        if (!state->finished) job->cancelled = true;
        else metrics.observe_request_duration(route, seconds_since(started));
      });
}

}  // namespace

void register_openai_routes(RouteTable& routes, ServerContext& ctx) {
  // Shared by the handlers, which httplib keeps until the server is destroyed.
  auto api = std::make_shared<OpenAiRoutes>(ctx);
  routes.get("/v1/models", [api](const httplib::Request&, httplib::Response& res) { api->models(res); });
  routes.post("/v1/completions", [api](const httplib::Request& req, httplib::Response& res) {
    api->generate(req, res, Endpoint::Completions);
  });
  routes.post("/v1/chat/completions", [api](const httplib::Request& req, httplib::Response& res) {
    api->generate(req, res, Endpoint::ChatCompletions);
  });
}

}  // namespace entropix::server
