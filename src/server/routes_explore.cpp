// The explorer's API (docs/explorer-api.md): sessions kept in the SessionStore,
// branches decoded by the inference loop like any request (so a branch from a
// point already read takes its prefix from the prefix cache), every token saved
// with its alternatives, raw and sampler probabilities and metrics as it comes.
// One generation per session at a time: a second gets 409 and changes nothing.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>

#include "chat/chat_format.h"
#include "chat/jinja_strings.h"
#include "core/json_text.h"
#include "entropix/profile.h"
#include "explore/session_tree.h"
#include "server/client_connection.h"
#include "server/request_fields.h"
#include "server/routes.h"
#include "tokenizer/tokenizer.h"

namespace entropix::server {

using nlohmann::json;

namespace {

constexpr auto kEventWait = std::chrono::milliseconds(100);
constexpr int32_t kDefaultMaxTokens = 64;
const char* const kSessionPath = R"(/explore/v1/sessions/(\d+))";

[[noreturn]] void not_found(const std::string& what) { throw ApiError(404, what, "invalid_request_error", "not_found"); }

int64_t path_id(const httplib::Request& req, size_t i) {
  try {
    return std::stoll(req.matches[i].str());
  } catch (const std::exception&) {
    not_found("no such id: " + req.matches[i].str());
  }
}

uint64_t random_seed() {
  std::random_device rd;
  return ((static_cast<uint64_t>(rd()) << 32) ^ rd()) & 0x7fffffffffffffffULL;  // SQLite integers are signed
}

// The token as the API shows it (docs/explorer-api.md, Token).
json token_json(const TokenInfo& t) {
  json j;
  j["ids"] = t.ids;
  j["text"] = t.piece;
  if (!jinja::valid_utf8(t.piece)) {  // part of a character: the bytes keep it exact
    json bytes = json::array();
    for (unsigned char c : t.piece) bytes.push_back(static_cast<int>(c));
    j["bytes"] = bytes;
  }
  j["logprob"] = t.inserted ? json() : json(t.logprob);
  j["entropy"] = t.entropy;
  j["varentropy"] = t.varentropy;
  if (t.has_attention) {
    j["attn_entropy"] = t.attn_entropy;
    j["attn_varentropy"] = t.attn_varentropy;
    j["agreement"] = t.agreement;
    j["interaction"] = t.interaction;
  }
  j["state"] = state_name(t.state);
  j["action"] = action_name(t.action);
  j["forced"] = t.forced;
  j["inserted"] = t.inserted;
  json top = json::array();
  for (size_t i = 0; i < t.top.size() && i < t.top_ids.size(); ++i) {
    json a = {{"id", t.top_ids[i]}, {"text", t.top[i].first}, {"p", std::exp(t.top[i].second)}};
    a["q"] = t.top_q.size() == t.top.size() ? json(t.top_q[i]) : json();
    top.push_back(std::move(a));
  }
  j["top"] = std::move(top);
  j["others"] = t.rest_mass;
  return j;
}

// Hands each event of a job to `on_event` until it is done, watching the client
// meanwhile: false (and status 499, the job cancelled) when it went away; a
// failed job is an ApiError 500.
template <typename F>
bool run_to_end(Job& job, const httplib::Request& req, httplib::Response& res, F&& on_event) {
  const ClientConnection client(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
  for (bool done = false; !done;) {
    if (client.gone()) {
      job.cancelled = true;
      res.status = 499;
      return false;
    }
    for (JobEvent& ev : job.wait(kEventWait)) {
      if (!ev.error.empty()) throw ApiError(500, ev.error, "server_error", "generation_failed");
      on_event(ev);
      done = done || ev.done;
    }
  }
  return true;
}

// A session's settings: what the person set (null: the server's default).
json parse_settings(const json& s, const RequestLimits& limits) {
  if (!s.is_object()) bad("'settings' must be an object", "invalid_type", "settings");
  json out = json::object();
  if (present(s, "sampler")) {
    const std::string name = get_string(s.at("sampler"), "settings.sampler");
    try {
      parse_sampler_kind(name);
    } catch (const Error&) {
      bad("'settings.sampler' must be greedy, standard or entropix, got '" + name + "'", "invalid_value",
          "settings.sampler");
    }
    out["sampler"] = name;
  }
  if (auto t = get_number(s, "temperature", 0.0, 2.0)) out["temperature"] = *t;
  if (auto k = get_int(s, "top_k", 0, 1 << 20)) out["top_k"] = *k;
  if (auto p = get_number(s, "top_p", 0.0, 1.0)) out["top_p"] = *p;
  if (auto m = get_number(s, "min_p", 0.0, 1.0)) out["min_p"] = *m;
  if (auto m = get_int(s, "max_tokens", 1, limits.max_tokens)) out["max_tokens"] = *m;
  if (auto seed = get_int(s, "seed", 0, INT64_MAX)) out["seed"] = *seed;
  if (auto n = get_int(s, "n_top", 1, kMaxAlternatives)) out["n_top"] = *n;
  return out;
}

// A body as a JSON object; 400 otherwise.
json parse_body(const httplib::Request& req) { return parse_json_object(req.body, true, "invalid_type"); }

class ExploreRoutes {
 public:
  explicit ExploreRoutes(ServerContext& ctx) : ctx_(ctx), store_(*ctx.sessions) {}

  void info(httplib::Response& res) const;
  void list(httplib::Response& res);
  void create(const httplib::Request& req, httplib::Response& res);
  void get(int64_t id, httplib::Response& res);
  void update(int64_t id, const httplib::Request& req, httplib::Response& res);
  void remove(int64_t id, httplib::Response& res);
  void remove_node(int64_t id, int64_t node, httplib::Response& res);
  void generate(int64_t id, const httplib::Request& req, httplib::Response& res);
  void peek(int64_t id, const httplib::Request& req, httplib::Response& res);
  void stop(int64_t id, httplib::Response& res);
  void export_session(int64_t id, const httplib::Request& req, httplib::Response& res);
  void import_session(const httplib::Request& req, httplib::Response& res);

 private:
  // A generation of a session: its node and job, and what has been saved.
  struct Generation {
    int64_t session = 0;
    int64_t node = 0;
    int64_t first = 0;  // position (in the node's own tokens) of the next token to save
    int64_t path_at = 0;  // path position of the node's first own token
    std::shared_ptr<Job> job;
    std::shared_ptr<ServingModel> model;  // held while it generates
    bool finished = false;
  };

  json load(int64_t id) const;
  // The whole session as stored (SessionStore::session_text); 404 when unknown.
  void send_session(httplib::Response& res, int status, int64_t id, const json& extra = json::object()) const;
  json load_skeleton(int64_t id) const;  // what a generation needs (SessionStore::skeleton)
  std::vector<int32_t> prompt_ids(const json& session) const;
  // The job's decode options from the session's settings and the request's overrides.
  DecodeOptions decode_options(const ServingModel& m, const json& settings, uint64_t seed, int32_t max_tokens,
                               int32_t n_top) const;
  void check_body_size(const httplib::Request& req, size_t limit = 0) const;  // 0: max_body_bytes
  void submit(ServingModel& m, const std::shared_ptr<Job>& job) const;
  // The model, when the session was made with it (its token ids are this vocabulary's); 409 otherwise.
  std::shared_ptr<ServingModel> model_for(const json& session) const;
  // Saves an event's tokens and turns it into the API's events; ends the node on done.
  std::vector<json> relay(Generation& g, JobEvent& ev);
  // Ends the session's generation `job` (a later one of the same session is left alone).
  void release(int64_t session, const std::shared_ptr<Job>& job);

  ServerContext& ctx_;
  explore::SessionStore& store_;
  std::mutex running_mutex_;
  std::map<int64_t, std::shared_ptr<Job>> running_;  // session -> its generation
};

json ExploreRoutes::load(int64_t id) const {
  std::optional<json> s = store_.session(id);
  if (!s) not_found("no session " + std::to_string(id));
  return *s;
}

void ExploreRoutes::check_body_size(const httplib::Request& req, size_t limit) const {
  if (limit == 0) limit = ctx_.options.max_body_bytes;
  if (req.body.size() > limit)
    throw ApiError(413,
                   "the body has " + std::to_string(req.body.size()) + " bytes; the limit is " +
                       std::to_string(limit),
                   "invalid_request_error", "body_too_large");
}

json ExploreRoutes::load_skeleton(int64_t id) const {
  std::optional<json> s = store_.skeleton(id);
  if (!s) not_found("no session " + std::to_string(id));
  return *s;
}

std::vector<int32_t> ExploreRoutes::prompt_ids(const json& session) const {
  std::vector<int32_t> ids;
  for (const json& t : session.at("prompt_tokens"))
    for (const json& id : t.at("ids")) ids.push_back(id.get<int32_t>());
  return ids;
}

DecodeOptions ExploreRoutes::decode_options(const ServingModel& m, const json& settings, uint64_t seed,
                                            int32_t max_tokens, int32_t n_top) const {
  DecodeChoice choice;
  if (settings.contains("sampler")) choice.sampler = parse_sampler_kind(settings["sampler"].get<std::string>());
  if (settings.contains("temperature")) choice.knobs.temperature = settings["temperature"].get<double>();
  if (settings.contains("top_k")) choice.knobs.top_k = settings["top_k"].get<int32_t>();
  if (settings.contains("top_p")) choice.knobs.top_p = settings["top_p"].get<double>();
  if (settings.contains("min_p")) choice.knobs.min_p = settings["min_p"].get<double>();
  choice.alternatives = n_top;
  DecodeOptions d;
  try {
    d = resolve_decode_options(choice, m.decode);
  } catch (const Error& e) {
    bad(e.what(), "invalid_value", "settings");
  }
  d.seed = seed;
  d.max_tokens = max_tokens;
  return d;
}

std::shared_ptr<ServingModel> ExploreRoutes::model_for(const json& session) const {
  std::shared_ptr<ServingModel> m = ctx_.models.require();
  const std::string made_with = session.value("model", std::string());
  if (made_with != m->names.front())
    throw ApiError(409,
                   "session " + std::to_string(session.at("id").get<int64_t>()) + " was made with the model " +
                       made_with + "; this server has " + m->names.front() + " loaded (load " + made_with +
                       " to go on with it)",
                   "invalid_request_error", "model_mismatch");
  return m;
}

void ExploreRoutes::submit(ServingModel& m, const std::shared_ptr<Job>& job) const {
  switch (m.loop.submit(job)) {
    case InferenceLoop::Submit::Queued: return;
    case InferenceLoop::Submit::QueueFull:
      throw ApiError(429, "the server is busy: retry later", "rate_limit_error", "queue_full");
    case InferenceLoop::Submit::Stopped:
      throw ApiError(503, "the server is shutting down", "server_error", "shutting_down");
  }
}

void ExploreRoutes::info(httplib::Response& res) const {
  const std::shared_ptr<ServingModel> m = ctx_.models.require();
  const DecodeOptions& d = m->decode;
  json defaults = {{"sampler", sampler_kind_name(d.sampler)},
                   {"temperature", d.params.temperature},
                   {"top_k", d.params.top_k},
                   {"top_p", d.params.top_p},
                   {"min_p", d.params.min_p},
                   {"max_tokens", kDefaultMaxTokens},
                   {"n_top", kMaxAlternatives}};
  json entropix_base = {{"temperature", d.profile.base.temperature},
                        {"top_k", d.profile.base.top_k},
                        {"top_p", d.profile.base.top_p},
                        {"min_p", d.profile.base.min_p}};
  send_json(res, 200,
            {{"model", m->names.front()},
             {"n_ctx", m->engine.n_ctx()},
             {"n_vocab", m->engine.tokenizer().n_vocab()},
             {"chat_template", m->format.has_template()},
             {"defaults", defaults},
             {"entropix_base", entropix_base},
             {"limits",
              {{"max_tokens", ctx_.options.limits.max_tokens},
               {"max_alternatives", kMaxAlternatives},
               {"max_body_bytes", ctx_.options.max_body_bytes},
               {"max_import_bytes", ctx_.options.max_import_bytes}}},
             {"database", store_.path()}});
}

void ExploreRoutes::list(httplib::Response& res) { send_json(res, 200, {{"sessions", store_.list_sessions()}}); }

void ExploreRoutes::create(const httplib::Request& req, httplib::Response& res) {
  check_body_size(req);
  if (ctx_.shutting_down) throw ApiError(503, "the server is shutting down", "server_error", "shutting_down");
  const json body = parse_body(req);
  const std::shared_ptr<ServingModel> m = ctx_.models.require();
  const ChatFormat& format = m->format;
  json session = {{"model", m->names.front()}};
  session["title"] = present(body, "title") ? get_string(body.at("title"), "title") : std::string("Untitled");
  session["settings"] = present(body, "settings") ? parse_settings(body.at("settings"), ctx_.options.limits) : json::object();
  const Tokenizer& tok = m->engine.tokenizer();
  std::vector<int32_t> ids;
  if (present(body, "messages")) {
    if (present(body, "prompt")) bad("give 'prompt' or 'messages', not both", "invalid_value", "messages");
    const std::vector<ChatMessage> messages = parse_messages(body, ctx_.options.limits.max_messages);
    std::string text;
    try {
      text = format.render(messages, tok);
    } catch (const Error& e) {
      bad(std::string("the chat template failed on these messages: ") + e.what(), "invalid_value", "messages");
    }
    session["mode"] = "chat";
    session["messages"] = body.at("messages");
    ids = tok.encode(text, format.add_bos(), true);
  } else {
    session["mode"] = "text";
    session["prompt"] = present(body, "prompt") ? get_string(body.at("prompt"), "prompt") : std::string();
    ids = tok.encode(session["prompt"].get<std::string>(), true, true);
  }
  if (ids.empty()) bad("the prompt has no tokens", "empty_prompt", "prompt");
  if (static_cast<int64_t>(ids.size()) >= m->engine.n_ctx())
    throw ApiError(400,
                   "the prompt has " + std::to_string(ids.size()) + " tokens; the context holds " +
                       std::to_string(m->engine.n_ctx()),
                   "invalid_request_error", "context_length_exceeded", "prompt");
  // Read the prompt once, measuring each of its tokens; its keys and values stay in
  // the prefix cache for the first answer.
  json prompt_tokens = json::array();
  TokenInfo first;
  first.ids = {ids[0]};
  first.piece = tok.token_to_piece(ids[0]);
  json first_json = token_json(first);
  first_json["logprob"] = nullptr;
  first_json["entropy"] = nullptr;
  first_json["varentropy"] = nullptr;
  first_json["state"] = nullptr;
  first_json["action"] = nullptr;
  first_json["others"] = nullptr;
  prompt_tokens.push_back(first_json);
  if (ids.size() > 1) {
    auto job = std::make_shared<Job>();
    job->prompt = ids;
    job->decode = decode_options(*m, session["settings"], 0, 1, kMaxAlternatives);
    job->n_top = kMaxAlternatives;
    job->explain = true;
    job->prompt_logprobs = true;
    submit(*m, job);
    const bool answered = run_to_end(*job, req, res, [&](const JobEvent& ev) {
      for (const TokenInfo& t : ev.prompt) {
        json tj = token_json(t);
        tj["action"] = nullptr;  // read, not drawn
        for (json& a : tj["top"]) a["q"] = nullptr;
        prompt_tokens.push_back(std::move(tj));
      }
    });
    if (!answered) return;
  }
  session["prompt_tokens"] = std::move(prompt_tokens);
  const int64_t id = store_.create_session(session);
  send_session(res, 201, id);
}

void ExploreRoutes::send_session(httplib::Response& res, int status, int64_t id, const json& extra) const {
  std::optional<std::string> text = store_.session_text(id, extra);
  if (!text) not_found("no session " + std::to_string(id));
  res.status = status;
  res.set_content(*text, kJsonContentType);
}

void ExploreRoutes::get(int64_t id, httplib::Response& res) { send_session(res, 200, id); }

void ExploreRoutes::update(int64_t id, const httplib::Request& req, httplib::Response& res) {
  check_body_size(req);
  const json body = parse_body(req);
  json patch = json::object();
  if (present(body, "title")) patch["title"] = get_string(body.at("title"), "title");
  if (present(body, "settings")) patch["settings"] = parse_settings(body.at("settings"), ctx_.options.limits);
  if (body.contains("selected")) {
    if (body["selected"].is_null()) {
      patch["selected"] = nullptr;
    } else {
      const int64_t node = *get_int(body, "selected", 0, INT64_MAX);
      if (!store_.node(id, node)) {
        if (!store_.session(id)) not_found("no session " + std::to_string(id));
        throw ApiError(404, "no node " + std::to_string(node) + " in session " + std::to_string(id),
                       "invalid_request_error", "not_found", "selected");
      }
      patch["selected"] = node;
    }
  }
  if (!store_.update_session(id, patch)) not_found("no session " + std::to_string(id));
  json s = load(id);
  s.erase("nodes");
  s.erase("prompt_tokens");
  send_json(res, 200, s);
}

void ExploreRoutes::remove(int64_t id, httplib::Response& res) {
  {
    std::lock_guard<std::mutex> lock(running_mutex_);
    if (running_.count(id))
      throw ApiError(409, "session " + std::to_string(id) + " is generating: stop it first", "invalid_request_error",
                     "session_busy");
  }
  if (!store_.delete_session(id)) not_found("no session " + std::to_string(id));
  send_json(res, 200, {{"deleted", true}});
}

void ExploreRoutes::remove_node(int64_t id, int64_t node, httplib::Response& res) {
  {
    std::lock_guard<std::mutex> lock(running_mutex_);
    if (running_.count(id))
      throw ApiError(409, "session " + std::to_string(id) + " is generating: stop it first", "invalid_request_error",
                     "session_busy");
  }
  if (!store_.delete_node(id, node)) {
    if (!store_.session(id)) not_found("no session " + std::to_string(id));
    not_found("no node " + std::to_string(node) + " in session " + std::to_string(id));
  }
  send_json(res, 200, {{"deleted", true}});
}

void ExploreRoutes::stop(int64_t id, httplib::Response& res) {
  if (!store_.session(id)) not_found("no session " + std::to_string(id));
  std::lock_guard<std::mutex> lock(running_mutex_);
  const auto it = running_.find(id);
  if (it != running_.end()) it->second->cancelled = true;
  send_json(res, 200, {{"stopped", it != running_.end()}});
}

void ExploreRoutes::release(int64_t session, const std::shared_ptr<Job>& job) {
  std::lock_guard<std::mutex> lock(running_mutex_);
  const auto it = running_.find(session);
  if (it != running_.end() && it->second == job) running_.erase(it);
}

std::vector<json> ExploreRoutes::relay(Generation& g, JobEvent& ev) {
  std::vector<json> out;
  if (!ev.error.empty()) {
    store_.finish_node(g.node, "error", "error");
    g.finished = true;
    out.push_back({{"type", "error"}, {"node", g.node}, {"message", ev.error}});
    return out;
  }
  std::vector<json> tokens;
  for (const TokenInfo& t : ev.tokens) tokens.push_back(token_json(t));
  store_.append_tokens(g.node, g.first, tokens);
  for (json& t : tokens) {
    out.push_back({{"type", "token"}, {"node", g.node}, {"index", g.path_at + g.first}, {"token", std::move(t)}});
    ++g.first;
  }
  if (ev.done) {
    const bool cancelled = ev.finish == FinishReason::Cancelled;
    const std::string finish = ev.finish == FinishReason::EndOfText ? "stop" : finish_reason_name(ev.finish);
    store_.finish_node(g.node, cancelled ? "stopped" : "done", finish);
    g.finished = true;
    out.push_back({{"type", "done"},
                   {"node", g.node},
                   {"status", cancelled ? "stopped" : "done"},
                   {"finish", finish},
                   {"prompt_tokens", ev.n_prompt},
                   {"cached_tokens", ev.n_cached}});
  }
  return out;
}

void ExploreRoutes::generate(int64_t id, const httplib::Request& req, httplib::Response& res) {
  check_body_size(req);
  if (ctx_.shutting_down) throw ApiError(503, "the server is shutting down", "server_error", "shutting_down");
  const json body = parse_body(req);
  const json session = load_skeleton(id);
  const std::shared_ptr<ServingModel> m = model_for(session);
  const json& settings = session.at("settings");
  const Tokenizer& tok = m->engine.tokenizer();
  const explore::SessionTree tree(session.at("nodes"));

  // Where the answer goes on: a new first answer, a branch, or more of a node.
  std::optional<int64_t> node;
  if (present(body, "node")) {
    node = *get_int(body, "node", 0, INT64_MAX);
    if (!tree.has(*node))
      throw ApiError(404, "no node " + std::to_string(*node) + " in session " + std::to_string(id),
                     "invalid_request_error", "not_found", "node");
  }
  std::optional<int64_t> at;
  if (present(body, "at")) {
    if (!node) bad("'at' needs a 'node' whose path it points into", "missing_field", "node");
    at = *get_int(body, "at", 0, INT64_MAX);
    if (*at > tree.path_length(*node))
      bad("'at' is " + std::to_string(*at) + "; it must be 0 to " + std::to_string(tree.path_length(*node)) +
              ", the length of node " + std::to_string(*node) + "'s path",
          "invalid_value", "at");
  }
  std::optional<int32_t> token;
  if (auto t = get_int(body, "token", 0, INT32_MAX)) {
    if (*t >= tok.n_vocab())
      bad("'token' is " + std::to_string(*t) + "; the vocabulary has " + std::to_string(tok.n_vocab()) + " tokens",
          "invalid_value", "token");
    token = static_cast<int32_t>(*t);
  }
  std::vector<int32_t> forced;
  if (present(body, "text")) {
    if (token) bad("give 'token' or 'text', not both", "invalid_value", "text");
    const std::string text = get_string(body.at("text"), "text");
    forced = tok.encode(text, false, false);
    if (forced.empty()) bad("'text' has no tokens", "invalid_value", "text");
  } else if (token) {
    forced = {*token};
  }
  const int32_t max_tokens = static_cast<int32_t>(
      get_int(body, "max_tokens", 0, ctx_.options.limits.max_tokens)
          .value_or(settings.contains("max_tokens") ? settings["max_tokens"].get<int64_t>() : kDefaultMaxTokens));
  if (max_tokens == 0 && forced.empty()) bad("'max_tokens' 0 needs a 'token' or 'text' to append", "invalid_value", "max_tokens");
  const uint64_t seed = present(body, "seed") ? static_cast<uint64_t>(*get_int(body, "seed", 0, INT64_MAX))
                        : settings.contains("seed") && !node ? settings["seed"].get<uint64_t>()
                                                             : random_seed();
  const bool stream = get_bool(body, "stream").value_or(true);
  const int32_t n_top = settings.contains("n_top") ? settings["n_top"].get<int32_t>() : kMaxAlternatives;

  // The new node (or the continued one) and the tokens before its own.
  explore::NodeSpec spec;
  spec.seed = seed;
  int64_t path_at = 0;           // path position of the node's first own token
  int64_t first = 0;             // own position of the first token to save
  std::vector<int32_t> prompt = prompt_ids(session);
  std::optional<int64_t> continued;
  if (!node) {
    spec.origin = "root";
  } else if (!at) {
    continued = node;
    const std::vector<int32_t> before = tree.path_ids(*node, tree.path_length(*node));
    prompt.insert(prompt.end(), before.begin(), before.end());
    // The continued node's own tokens start at its "at"; the new ones follow them.
    for (const json& n : session.at("nodes"))
      if (n.at("id").get<int64_t>() == *node) {
        path_at = n.at("at").get<int64_t>();
        first = static_cast<int64_t>(n.at("tokens").size());
      }
  } else {
    spec.parent = tree.branch_parent(*node, *at);
    spec.at = *at;
    spec.origin = present(body, "text") ? "edit" : token ? (max_tokens == 0 ? "step" : "pick") : "resample";
    path_at = *at;
    const std::vector<int32_t> before = tree.path_ids(*node, *at);
    prompt.insert(prompt.end(), before.begin(), before.end());
  }
  if (static_cast<int64_t>(prompt.size() + forced.size()) >= m->engine.n_ctx())
    throw ApiError(400,
                   "the text up to this point has " + std::to_string(prompt.size() + forced.size()) +
                       " tokens; the context holds " + std::to_string(m->engine.n_ctx()),
                   "invalid_request_error", "context_length_exceeded");

  auto job = std::make_shared<Job>();
  job->prompt = std::move(prompt);
  job->forced = forced;
  job->decode = decode_options(*m, settings, seed, static_cast<int32_t>(forced.size()) + max_tokens, n_top);
  if (session.at("mode") == "chat")
    if (const std::string stop = m->format.stop(); !stop.empty()) job->decode.stop.push_back(stop);
  job->n_top = n_top;
  job->explain = true;
  {
    std::lock_guard<std::mutex> lock(running_mutex_);
    if (running_.count(id))
      throw ApiError(409, "session " + std::to_string(id) + " is already generating (one generation at a time)",
                     "invalid_request_error", "session_busy");
    running_[id] = job;
  }
  auto g = std::make_shared<Generation>();
  g->session = id;
  g->job = job;
  g->model = m;
  g->path_at = path_at;
  g->first = first;
  try {
    if (continued) {
      g->node = *continued;
      store_.update_session(id, {{"selected", *continued}});
    } else {
      g->node = store_.add_node(id, spec);
    }
    submit(*m, job);
  } catch (...) {
    if (g->node && !continued) store_.delete_node(id, g->node);
    release(id, job);
    throw;
  }
  json node_json = *store_.node(id, g->node);
  node_json["status"] = "generating";

  if (!stream) {
    const ClientConnection client(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
    json done;
    std::string error;
    while (!g->finished) {
      if (client.gone()) {
        job->cancelled = true;
        store_.finish_node(g->node, "stopped", "cancelled");
        release(id, job);
        res.status = 499;
        return;
      }
      for (JobEvent& ev : job->wait(kEventWait))
        for (json& e : relay(*g, ev)) {
          if (e["type"] == "done") done = e;
          if (e["type"] == "error") error = e["message"].get<std::string>();
        }
    }
    release(id, job);
    if (!error.empty()) throw ApiError(500, error, "server_error", "generation_failed");
    json n = *store_.node(id, g->node);
    n["tokens"] = store_.tokens(g->node);
    send_json(res, 200, {{"node", n}, {"prompt_tokens", done.value("prompt_tokens", 0)},
                         {"cached_tokens", done.value("cached_tokens", 0)}});
    return;
  }

  auto in_flight = std::make_shared<OpenResponse>(ctx_.open_responses);
  auto pending = std::make_shared<std::vector<json>>();
  pending->push_back({{"type", "node"}, {"node", node_json}});
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, g, pending](size_t, httplib::DataSink& sink) {
        auto send = [&](const json& e) {
          const std::string line = "data: " + json_text(e) + "\n\n";
          return sink.write(line.data(), line.size());
        };
        for (const json& e : *pending)
          if (!send(e)) return false;
        pending->clear();
        if (g->finished) {
          sink.done();
          return true;
        }
        std::vector<JobEvent> events = g->job->wait(kEventWait);
        if (!sink.is_writable()) return false;
        for (JobEvent& ev : events)
          for (json& e : relay(*g, ev)) pending->push_back(std::move(e));
        for (const json& e : *pending)
          if (!send(e)) return false;
        pending->clear();
        if (g->finished) {
          release(g->session, g->job);
          sink.done();
        }
        return true;
      },
      [this, g, in_flight](bool) {  // the stream is over: a client gone stops the generation
        if (!g->finished) {
          g->job->cancelled = true;
          store_.finish_node(g->node, "stopped", "cancelled");
          g->finished = true;
        }
        release(g->session, g->job);
      });
}

void ExploreRoutes::peek(int64_t id, const httplib::Request& req, httplib::Response& res) {
  check_body_size(req);
  const json body = parse_body(req);
  const json session = load_skeleton(id);
  const std::shared_ptr<ServingModel> m = model_for(session);
  const json& settings = session.at("settings");
  const explore::SessionTree tree(session.at("nodes"));
  std::vector<int32_t> prompt = prompt_ids(session);
  int64_t at = 0;
  if (present(body, "node")) {
    const int64_t node = *get_int(body, "node", 0, INT64_MAX);
    if (!tree.has(node))
      throw ApiError(404, "no node " + std::to_string(node) + " in session " + std::to_string(id),
                     "invalid_request_error", "not_found", "node");
    at = get_int(body, "at", 0, INT64_MAX).value_or(tree.path_length(node));
    if (at > tree.path_length(node))
      bad("'at' is " + std::to_string(at) + "; it must be 0 to " + std::to_string(tree.path_length(node)) +
              ", the length of node " + std::to_string(node) + "'s path",
          "invalid_value", "at");
    const std::vector<int32_t> before = tree.path_ids(node, at);
    prompt.insert(prompt.end(), before.begin(), before.end());
  } else if (present(body, "at")) {
    bad("'at' needs a 'node' whose path it points into", "missing_field", "node");
  }
  if (static_cast<int64_t>(prompt.size()) >= m->engine.n_ctx())
    throw ApiError(400, "the context is full at this point", "invalid_request_error", "context_length_exceeded");
  const int32_t n_top = settings.contains("n_top") ? settings["n_top"].get<int32_t>() : kMaxAlternatives;
  auto job = std::make_shared<Job>();
  job->prompt = std::move(prompt);
  const uint64_t seed = present(body, "seed") ? static_cast<uint64_t>(*get_int(body, "seed", 0, INT64_MAX)) : random_seed();
  job->decode = decode_options(*m, settings, seed, 1, n_top);
  job->decode.ignore_eos = true;  // the end of text is a choice to show, not an end
  job->n_top = n_top;
  job->explain = true;
  submit(*m, job);
  json token;
  const bool answered = run_to_end(*job, req, res, [&](const JobEvent& ev) {
    for (const TokenInfo& t : ev.tokens) token = token_json(t);
  });
  if (!answered) return;
  send_json(res, 200, {{"index", at}, {"token", token}});
}

void ExploreRoutes::export_session(int64_t id, const httplib::Request& req, httplib::Response& res) {
  const std::string format = req.has_param("format") ? req.get_param_value("format") : "json";
  if (format == "json") {
    send_session(res, 200, id, {{"format", "entropix-explore"}, {"version", 1}});
    res.set_header("Content-Disposition", "attachment; filename=\"session-" + std::to_string(id) + ".json\"");
    return;
  }
  if (format != "markdown") bad("'format' must be json or markdown, got '" + format + "'", "invalid_value", "format");
  json s = load(id);
  std::optional<int64_t> node;
  if (req.has_param("node")) {
    try {
      node = std::stoll(req.get_param_value("node"));
    } catch (const std::exception&) {
      bad("'node' must be a node id", "invalid_value", "node");
    }
  } else if (s["selected"].is_number_integer()) {
    node = s["selected"].get<int64_t>();
  }
  const explore::SessionTree tree(s.at("nodes"));
  if (node && !tree.has(*node))
    throw ApiError(404, "no node " + std::to_string(*node) + " in session " + std::to_string(id),
                   "invalid_request_error", "not_found", "node");
  std::string md = "# " + s.value("title", std::string("Untitled")) + "\n\n";
  md += "Model: `" + s.value("model", std::string()) + "`\n\n## Prompt\n\n";
  if (s["mode"] == "chat") {
    for (const json& m : s["messages"])
      md += "**" + m.value("role", std::string()) + "**: " +
            (m.contains("content") && m["content"].is_string() ? m["content"].get<std::string>() : std::string()) +
            "\n\n";
  } else {
    md += "```text\n" + s.value("prompt", std::string()) + "\n```\n\n";
  }
  md += "## Answer\n\n";
  if (node) {
    std::string text;
    for (const json* t : tree.path(*node)) text += t->value("text", std::string());
    md += "```text\n" + text + "\n```\n";
  }
  res.set_header("Content-Disposition", "attachment; filename=\"session-" + std::to_string(id) + ".md\"");
  res.status = 200;
  res.set_content(md, "text/markdown; charset=utf-8");
}

void ExploreRoutes::import_session(const httplib::Request& req, httplib::Response& res) {
  check_body_size(req, ctx_.options.max_import_bytes);
  const json body = parse_body(req);
  // Token ids must fit this model's vocabulary: the tree is decoded from them.
  const int32_t n_vocab = ctx_.models.require()->engine.tokenizer().n_vocab();
  auto check_ids = [&](const json& tokens, const std::string& where) {
    if (!tokens.is_array()) bad("'" + where + "' must be an array", "invalid_type", where);
    for (size_t i = 0; i < tokens.size(); ++i) {
      const json& t = tokens[i];
      if (!t.is_object() || !t.contains("ids") || !t["ids"].is_array())
        bad("'" + where + "[" + std::to_string(i) + "]' needs an \"ids\" array", "invalid_type", where);
      for (const json& id : t["ids"])
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= n_vocab)
          bad("'" + where + "[" + std::to_string(i) + "].ids' holds " + id.dump() + "; the vocabulary has " +
                  std::to_string(n_vocab) + " tokens",
              "invalid_value", where);
    }
  };
  check_ids(body.value("prompt_tokens", json::array()), "prompt_tokens");
  if (body.value("prompt_tokens", json::array()).empty()) bad("'prompt_tokens' must not be empty", "invalid_value", "prompt_tokens");
  if (body.contains("nodes") && body["nodes"].is_array())
    for (size_t i = 0; i < body["nodes"].size(); ++i)
      if (body["nodes"][i].is_object() && body["nodes"][i].contains("tokens"))
        check_ids(body["nodes"][i]["tokens"], "nodes[" + std::to_string(i) + "].tokens");
  if (body.contains("settings")) parse_settings(body["settings"], ctx_.options.limits);
  int64_t id = 0;
  try {
    id = store_.import_session(body);
  } catch (const Error& e) {
    bad(std::string("not a session export: ") + e.what(), "invalid_value");
  }
  send_session(res, 201, id);
}

}  // namespace

void register_explore_routes(RouteTable& routes, ServerContext& ctx) {
  if (!ctx.sessions) return;
  auto api = std::make_shared<ExploreRoutes>(ctx);
  const std::string session = kSessionPath;
  using Req = const httplib::Request&;
  using Res = httplib::Response&;
  routes.get("/explore/v1/info", [api](Req, Res res) { guarded(res, [&] { api->info(res); }); });
  routes.get("/explore/v1/sessions", [api](Req, Res res) { guarded(res, [&] { api->list(res); }); });
  routes.post("/explore/v1/sessions", [api](Req req, Res res) { guarded(res, [&] { api->create(req, res); }); });
  routes.get(session, [api](Req req, Res res) { guarded(res, [&] { api->get(path_id(req, 1), res); }); });
  routes.patch(session, [api](Req req, Res res) { guarded(res, [&] { api->update(path_id(req, 1), req, res); }); });
  routes.del(session, [api](Req req, Res res) { guarded(res, [&] { api->remove(path_id(req, 1), res); }); });
  routes.post(session + "/generate",
              [api](Req req, Res res) { guarded(res, [&] { api->generate(path_id(req, 1), req, res); }); });
  routes.post(session + "/peek", [api](Req req, Res res) { guarded(res, [&] { api->peek(path_id(req, 1), req, res); }); });
  routes.post(session + "/stop", [api](Req req, Res res) { guarded(res, [&] { api->stop(path_id(req, 1), res); }); });
  routes.del(session + R"(/nodes/(\d+))",
             [api](Req req, Res res) { guarded(res, [&] { api->remove_node(path_id(req, 1), path_id(req, 2), res); }); });
  routes.get(session + "/export",
             [api](Req req, Res res) { guarded(res, [&] { api->export_session(path_id(req, 1), req, res); }); });
  routes.post("/explore/v1/import", [api](Req req, Res res) { guarded(res, [&] { api->import_session(req, res); }); });
}

}  // namespace entropix::server
