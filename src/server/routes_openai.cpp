// The OpenAI-compatible routes: GET /v1/models, GET /v1/models/{id}, POST
// /v1/completions and POST /v1/chat/completions. A generation request is parsed,
// tokenized and queued on the HTTP thread (admit: a job per prompt, queued
// together), then answered whole once every choice is done (reply_collected) or as
// server-sent events while they are decoded (reply_streamed).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>

#include "chat/chat_format.h"
#include "core/json_text.h"
#include "grammar/gbnf_parser.h"
#include "server/client_connection.h"
#include "server/routes.h"
#include "server/json_field_confidence.h"
#include "server/tool_calling.h"
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

// The jobs of one request, a job per prompt, posting to one channel: choice i of
// prompt p arrives as index p * n + i.
struct JobGroup {
  std::vector<std::shared_ptr<Job>> jobs;
  std::shared_ptr<JobChannel> channel = std::make_shared<JobChannel>();
  void cancel() const {
    for (const std::shared_ptr<Job>& job : jobs) job->cancelled = true;
  }
};

// With echo, a prompt's tokens but a leading BOS, to show before its answers; their
// logprobs are filled in as the loop measures the prompt.
struct PromptEcho {
  std::vector<TokenInfo> tokens;
  size_t skip = 0;      // 1 when the prompt starts with BOS (not echoed)
  size_t measured = 0;  // prompt positions measured so far
};

// A generation request queued on the inference loop.
struct Admitted {
  std::shared_ptr<ServingModel> model;  // held until the response is sent
  std::shared_ptr<ApiRequest> request;
  std::shared_ptr<JobGroup> group;
  ResponseContext reply;  // id, model and time every response object carries
  LeadingSpace lead;      // for each choice's text
  std::vector<PromptEcho> echoes;  // with echo: one per prompt
  ToolPlan tools;                  // chat: how tools are offered and calls read back
  size_t choices() const { return group->jobs.size() * static_cast<size_t>(request->n); }
};

// Puts the prompt measurements of an event into the echoed tokens: measurement k is
// of prompt position k + 1.
void fill_echo(PromptEcho& echo, const std::vector<TokenInfo>& prompt) {
  for (const TokenInfo& m : prompt) {
    const size_t position = ++echo.measured;
    if (position < echo.skip || position - echo.skip >= echo.tokens.size()) continue;
    TokenInfo& t = echo.tokens[position - echo.skip];
    std::vector<int32_t> ids = std::move(t.ids);
    std::string piece = std::move(t.piece);
    t = m;
    t.ids = std::move(ids);
    t.piece = std::move(piece);
  }
}

// The usage of all prompts together.
PromptUsage total(const std::vector<PromptUsage>& prompts) {
  PromptUsage sum;
  for (const PromptUsage& p : prompts) sum.tokens += p.tokens, sum.cached += p.cached;
  return sum;
}

json model_object(const ServingModel& m, const std::string& id) {
  return {{"id", id},
          {"object", "model"},
          {"created", m.identity.created},
          {"owned_by", "entropix"},
          {"meta", {{"n_ctx", m.engine.n_ctx()}, {"n_vocab", m.engine.tokenizer().n_vocab()}}}};
}

class OpenAiRoutes {
 public:
  explicit OpenAiRoutes(ServerContext& ctx) : ctx_(ctx) {}

  void models(httplib::Response& res) const;
  // GET /v1/models/{id}: the entry /v1/models lists under that id, else 404 model_not_found.
  void model(const std::string& id, httplib::Response& res) const;
  void generate(const httplib::Request& req, httplib::Response& res, Endpoint endpoint);

 private:
  // The tokens of each prompt (chat: of the messages rendered by the model's format);
  // adds the stop string and the leading space that plain turns need to `r` and `lead`.
  std::vector<std::vector<int32_t>> tokenize(const ServingModel& m, ApiRequest& r, const ToolPlan& tools,
                                             LeadingSpace& lead) const;
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
  for (const std::string& name : m ? m->names : std::vector<std::string>{}) data.push_back(model_object(*m, name));
  send_json(res, 200, {{"object", "list"}, {"data", data}});
}

void OpenAiRoutes::model(const std::string& id, httplib::Response& res) const {
  const std::shared_ptr<ServingModel> m = ctx_.models.require();
  check_model(id, m->names);  // an id is never empty here: the route needs one character
  send_json(res, 200, model_object(*m, id));
}

std::vector<std::vector<int32_t>> OpenAiRoutes::tokenize(const ServingModel& m, ApiRequest& r, const ToolPlan& tools,
                                                         LeadingSpace& lead) const {
  const Tokenizer& tok = m.engine.tokenizer();
  const ChatFormat& format = m.format;
  std::vector<std::vector<int32_t>> prompts;
  const char* field = r.endpoint == Endpoint::Completions ? "prompt" : "messages";
  if (r.endpoint == Endpoint::Completions) {
    for (size_t i = 0; i < r.prompts.size(); ++i) {
      const PromptInput& p = r.prompts[i];
      const std::string name = r.prompts.size() > 1 ? "prompt[" + std::to_string(i) + "]" : "prompt";
      if (p.tokens) {
        for (int32_t id : *p.tokens)
          if (id >= tok.n_vocab())
            throw ApiError(400, "'" + name + "' holds token id " + std::to_string(id) + "; the vocabulary has " +
                                    std::to_string(tok.n_vocab()) + " tokens",
                           "invalid_request_error", "invalid_value", field);
        prompts.push_back(*p.tokens);
      } else {
        prompts.push_back(tok.encode(p.text, true, true));
      }
      if (prompts.back().empty())
        throw ApiError(400, "'" + name + "' has no tokens", "invalid_request_error", "empty_prompt", field);
    }
  } else {
    std::string text;
    try {
      text = render_chat(format, r, tools, tok);
    } catch (const Error& e) {
      throw ApiError(400, std::string("the chat template failed on these messages: ") + e.what(),
                     "invalid_request_error", "", field);
    }
    prompts.push_back(tok.encode(text, format.add_bos(), true));
    if (const std::string stop = format.stop(); !stop.empty()) r.decode.stop.push_back(stop);
    lead = format.leading_space();
    if (prompts.back().empty())
      throw ApiError(400, "the messages have no tokens", "invalid_request_error", "empty_prompt", field);
  }
  return prompts;
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
  Admitted a{nullptr, std::make_shared<ApiRequest>(), std::make_shared<JobGroup>(), {}, {}, {}, {}};
  const ApiRequest& r = *a.request;
  try {
    a.model = ctx_.models.require();
    *a.request = parse_request(req.body, endpoint, a.model->decode, options.limits);
    check_model(r.model, a.model->names);
    check_request_vocabulary(r, a.model->engine.tokenizer().n_vocab());
    try {
      a.tools = plan_tools(r, a.model->format.tool_format());
    } catch (const Error& e) {
      throw ApiError(400, e.what(), "invalid_request_error", "invalid_value", "tools");
    }
    if (const ToolPlan& plan = a.tools; !plan.grammar.empty()) {
      try {
        a.request->decode.grammar =
            a.model->grammars.get(plan.grammar, a.model->engine.tokenizer(), "'" + plan.grammar_param + "'");
      } catch (const grammar::GrammarError& e) {
        throw ApiError(400, e.what(), "invalid_request_error", "invalid_grammar", plan.grammar_param);
      }
    }
    std::vector<std::vector<int32_t>> prompts = tokenize(*a.model, *a.request, a.tools, a.lead);
    for (size_t p = 0; p < prompts.size(); ++p) {
      auto job = std::make_shared<Job>();
      job->prompt = std::move(prompts[p]);
      job->decode = r.decode;
      job->decode.max_tokens =
          fit_max_tokens(r, p, static_cast<int64_t>(job->prompt.size()), a.model->engine.n_ctx());
      job->n = r.n;
      job->n_top = r.logprobs ? r.top_logprobs : 0;
      job->prompt_logprobs = r.echo && r.logprobs;
      job->channel = a.group->channel;
      job->first_choice = static_cast<int32_t>(p) * r.n;
      if (!r.strategy.empty()) job->strategy = std::make_shared<const StrategyOptions>(parse_strategy(r.strategy, job->decode));
      a.group->jobs.push_back(std::move(job));
    }
  } catch (const ApiError& e) {
    send_error(res, e);
    return std::nullopt;
  } catch (const Error& e) {
    send_error(res, ApiError(400, e.what()));
    return std::nullopt;
  }
  if (r.echo) {
    const Tokenizer& tok = a.model->engine.tokenizer();
    for (const std::shared_ptr<Job>& job : a.group->jobs) {
      PromptEcho echo;
      const auto& ids = job->prompt;
      echo.skip = !ids.empty() && ids[0] == tok.bos() ? 1 : 0;
      for (size_t i = echo.skip; i < ids.size(); ++i) {
        TokenInfo t;
        t.ids = {ids[i]};
        t.piece = tok.token_to_piece(ids[i]);
        t.logprob = std::nan("");  // the first token without BOS has none; the rest are measured
        echo.tokens.push_back(std::move(t));
      }
      a.echoes.push_back(std::move(echo));
    }
  }

  a.reply.id = std::string(endpoint == Endpoint::ChatCompletions ? "chatcmpl-" : "cmpl-") +
               std::to_string(unix_now()) + "-" + std::to_string(next_id_++);
  a.reply.model = a.model->names.front();
  a.reply.created = unix_now();
  a.reply.fingerprint = a.model->identity.fingerprint;

  switch (a.model->loop.submit_all(a.group->jobs)) {
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
  const JobGroup& group = *a.group;
  std::vector<Completion> choices(a.choices());
  std::vector<LeadingSpace> leads(choices.size(), a.lead);
  std::vector<PromptUsage> prompts(group.jobs.size());
  std::vector<PromptEcho> echoes = a.echoes;
  for (size_t open = choices.size(); open > 0;) {
    if (client.gone()) {
      group.cancel();
      res.status = 499;  // nginx's "client closed request": no one reads it, the log and /metrics do
      return;
    }
    for (JobEvent& ev : group.channel->wait(kEventWait)) {
      if (!ev.error.empty()) {
        group.cancel();  // the other choices stop too
        send_error(res, ApiError(500, ev.error, "server_error", "generation_failed"));
        return;
      }
      const size_t i = static_cast<size_t>(ev.index);
      if (!echoes.empty()) fill_echo(echoes[i / n], ev.prompt);
      leads[i].apply(ev.text);
      choices[i].text += ev.text;
      for (TokenInfo& t : ev.tokens) choices[i].tokens.push_back(std::move(t));
      if (ev.done) {
        choices[i].strategy = ev.strategy;
        choices[i].finish = ev.finish;
        choices[i].n_generated = ev.n_generated;
        prompts[i / n] = {ev.n_prompt, ev.n_cached};
        --open;
      }
    }
  }
  if (!echoes.empty())
    for (size_t i = 0; i < choices.size(); ++i) choices[i].echo = echoes[i / n].tokens;
  if (a.tools.read_calls) {
    for (size_t i = 0; i < choices.size(); ++i) {
      choices[i].read_calls = true;
      choices[i].calls = ToolCallReader::read(a.tools, tool_call_id_seed(a.reply.id, static_cast<int32_t>(i)),
                                              choices[i].text);
    }
  }
  send_json(res, 200, completion_response(*a.request, a.reply, choices, total(prompts)));
  ctx_.metrics.observe_request_duration(req.path, seconds_since(started));
}

void OpenAiRoutes::reply_streamed(const httplib::Request& req, httplib::Response& res, const Admitted& a,
                                  Clock::time_point started, std::shared_ptr<OpenResponse> in_flight) {
  struct Stream {
    size_t n = 1;             // choices per prompt
    size_t roles_sent = 0;
    size_t open = 0;          // choices not yet done
    std::vector<PromptUsage> prompts;
    int32_t n_generated = 0;  // all choices
    bool finished = false;
    std::vector<LeadingSpace> leads;
    std::vector<PromptEcho> echoes;    // with echo: per prompt, sent before the first chunk of its answers
    std::vector<bool> echo_sent;       // per prompt
    std::vector<size_t> text_offsets;  // per choice: bytes of its text sent so far, the echo included
    std::vector<ToolCallReader> readers;  // per choice, when the answers are read for tool calls
    std::vector<std::vector<TokenInfo>> json_tokens;  // per choice, with a JSON response_format: for entropix_fields
  };
  const size_t choices = a.choices();
  auto state = std::make_shared<Stream>();
  state->n = static_cast<size_t>(a.request->n);
  state->prompts.resize(a.group->jobs.size());
  state->echoes = a.echoes;
  state->echo_sent.assign(a.echoes.size(), false);
  state->leads.assign(choices, a.lead);
  state->text_offsets.assign(choices, 0);
  state->open = choices;
  if (a.request->json_output) state->json_tokens.resize(choices);
  if (a.tools.read_calls)
    for (size_t i = 0; i < choices; ++i)
      state->readers.emplace_back(a.tools, tool_call_id_seed(a.reply.id, static_cast<int32_t>(i)));
  state->roles_sent = a.request->endpoint == Endpoint::ChatCompletions ? 0 : choices;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [request = a.request, group = a.group, state, reply = a.reply](size_t, httplib::DataSink& sink) {
        auto send = [&](const std::string& data) {
          const std::string line = "data: " + data + "\n\n";
          return sink.write(line.data(), line.size());
        };
        auto give_up = [&] {
          group->cancel();
          return false;
        };
        while (state->roles_sent < state->leads.size()) {
          if (!send(json_text(chat_role_chunk(reply, static_cast<int32_t>(state->roles_sent++))))) return give_up();
        }
        std::vector<JobEvent> events = group->channel->wait(kEventWait);
        if (!sink.is_writable()) return give_up();
        for (JobEvent& ev : events) {
          if (!ev.error.empty()) {
            state->finished = true;
            group->cancel();  // the other choices stop too
            send(json_text(error_body(ev.error, "server_error", "generation_failed")));
            send("[DONE]");
            sink.done();
            return true;
          }
          const size_t i = static_cast<size_t>(ev.index), p = i / state->n;
          if (!state->echoes.empty()) fill_echo(state->echoes[p], ev.prompt);
          const bool answer = !ev.text.empty() || !ev.tokens.empty() || ev.done;
          if (answer && !state->echoes.empty() && !state->echo_sent[p]) {
            // The prompt is measured whole before its first token.
            state->echo_sent[p] = true;
            for (size_t c = p * state->n; c < (p + 1) * state->n; ++c) {
              if (!send(json_text(echo_chunk(*request, reply, static_cast<int32_t>(c), state->echoes[p].tokens))))
                return give_up();
              state->text_offsets[c] = pieces_size(state->echoes[p].tokens);
            }
          }
          state->leads[i].apply(ev.text);
          size_t& text_offset = state->text_offsets[i];
          std::optional<ToolStreamPart> calls;
          if (!state->readers.empty()) {
            ToolCallReader& reader = state->readers[i];
            calls.emplace();
            calls->events = reader.feed(ev.text);
            if (ev.done)
              for (ToolCallStreamEvent& e : reader.finish()) calls->events.push_back(std::move(e));
            calls->called = reader.calls() > 0;
          }
          json chunk = stream_chunk(*request, reply, ev, text_offset, calls ? &*calls : nullptr);
          if (ev.strategy) {
            // A strategy's answer comes whole, in one chunk, with what the strategy did.
            chunk["choices"][0].erase("entropix");
            chunk["entropix"] = strategy_object(request->strategy, *ev.strategy);
          }
          if (!state->json_tokens.empty()) {
            // The fields' confidence comes with the choice's last chunk, once its JSON is whole.
            std::vector<TokenInfo>& seen = state->json_tokens[i];
            seen.insert(seen.end(), ev.tokens.begin(), ev.tokens.end());
            if (ev.done) chunk["choices"][0]["entropix_fields"] = json_field_confidence(seen);
          }
          if (answer && !send(json_text(chunk))) return give_up();
          text_offset += pieces_size(ev.tokens);
          if (ev.done) {
            state->prompts[p] = {ev.n_prompt, ev.n_cached};
            state->n_generated += ev.n_generated;
            if (--state->open > 0) continue;
            state->finished = true;
            if (request->include_usage)
              send(json_text(usage_chunk(*request, reply, total(state->prompts), state->n_generated)));
            send("[DONE]");
            sink.done();
            return true;
          }
        }
        return true;
      },
      [&metrics = ctx_.metrics, group = a.group, state, route = req.path, started, model = a.model,
       in_flight](bool) {  // model and in_flight: released with the provider
        if (!state->finished) group->cancel();
        else metrics.observe_request_duration(route, seconds_since(started));
      });
}

}  // namespace

void register_openai_routes(RouteTable& routes, ServerContext& ctx) {
  // Shared by the handlers, which httplib keeps until the server is destroyed.
  auto api = std::make_shared<OpenAiRoutes>(ctx);
  routes.get("/v1/models", [api](const httplib::Request&, httplib::Response& res) { api->models(res); });
  // Ids may hold '/' and ':' (aliases such as "org/model:tag"); clients may send them percent-encoded.
  routes.get(R"(/v1/models/(.+))", [api](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] { api->model(req.matches[1].str(), res); });
  });
  routes.post("/v1/completions", [api](const httplib::Request& req, httplib::Response& res) {
    api->generate(req, res, Endpoint::Completions);
  });
  routes.post("/v1/chat/completions", [api](const httplib::Request& req, httplib::Response& res) {
    api->generate(req, res, Endpoint::ChatCompletions);
  });
}

}  // namespace entropix::server
