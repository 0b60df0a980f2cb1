// The explorer's models page, under /explore/v1/models: the local cache (what
// `entropix list` shows), a pull from Hugging Face in the background with its
// progress (bytes, speed, time left) and a cancel, removal, and a switch of the
// loaded model (ModelSlot::load: when no request runs; requests meanwhile get
// 503 with Retry-After).
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "hub/hub.h"
#include "server/request_fields.h"
#include "server/routes.h"

namespace entropix::server {

using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

json cached_model_json(const CachedModel& m) {
  return {{"name", m.name},         {"repo", m.repo},       {"file", m.file},
          {"quant", m.quant},       {"size", m.size},       {"revision", m.revision},
          {"sha256", m.sha256},     {"downloaded_at", m.downloaded_at}, {"path", m.path.string()}};
}

// One pull at a time, on its own thread; its state is read by the page's polls.
class ModelRoutes {
 public:
  explicit ModelRoutes(ServerContext& ctx) : ctx_(ctx) {}
  ~ModelRoutes() {
    cancel_ = true;
    if (thread_.joinable()) thread_.join();
  }

  void list(httplib::Response& res) const {
    json models = json::array();
    for (const CachedModel& m : list_cached_models()) models.push_back(cached_model_json(m));
    const auto current = ctx_.models.get();
    json loaded = nullptr;
    if (current) loaded = {{"name", current->names.front()}, {"path", current->path}};
    const std::optional<std::string> loading = ctx_.models.loading();
    send_json(res, 200,
              {{"loaded", loaded},
               {"loading", loading ? json(*loading) : json()},
               {"can_load", ctx_.models.can_load()},
               {"models", models},
               {"pull", pull_state()}});
  }

  void load(const httplib::Request& req, httplib::Response& res) {
    const auto m = ctx_.models.load(named_model(parse(req)).second);
    send_json(res, 200, {{"loaded", {{"name", m->names.front()}, {"path", m->path}}}});
  }

  void remove(const httplib::Request& req, httplib::Response& res) {
    const auto [name, path] = named_model(parse(req));
    if (const auto current = ctx_.models.get(); current && std::filesystem::equivalent(current->path, path))
      throw ApiError(409, name + " is the loaded model: load another first", "invalid_request_error", "model_loaded",
                     "model");
    try {
      const auto removed = remove_cached_model(name);
      send_json(res, 200, {{"removed", removed.string()}});
    } catch (const Error& e) {
      throw ApiError(400, e.what(), "invalid_request_error", "invalid_value", "model");
    }
  }

  void pull(const httplib::Request& req, httplib::Response& res) {
    const json body = parse(req);
    if (!present(body, "model")) bad("'model' is required: owner/repo[:FILE|:QUANT]", "missing_field", "model");
    const std::string spec = get_string(body.at("model"), "model");
    std::lock_guard<std::mutex> lock(mutex_);
    if (running_) throw ApiError(409, "a pull of " + spec_ + " is running", "invalid_request_error", "pull_running");
    if (thread_.joinable()) thread_.join();
    spec_ = spec;
    running_ = true;
    cancel_ = false;
    done_ = 0;
    total_.reset();
    error_.clear();
    path_.clear();
    state_ = "running";
    started_ = Clock::now();
    speed_ = 0;
    last_sample_ = started_;
    last_bytes_ = 0;
    thread_ = std::thread([this, spec] { run(spec); });
    send_json(res, 202, {{"pull", state_locked()}});
  }

  void pull_status(httplib::Response& res) const { send_json(res, 200, {{"pull", pull_state()}}); }

  void cancel(httplib::Response& res) {
    cancel_ = true;
    send_json(res, 200, {{"pull", pull_state()}});
  }

 private:
  // The body's "model" (a cached name or a GGUF path) and its file; 404 when there is none.
  static std::pair<std::string, std::string> named_model(const json& body) {
    if (!present(body, "model")) bad("'model' is required: a cached name or a GGUF path", "missing_field", "model");
    const std::string name = get_string(body.at("model"), "model");
    try {
      return {name, resolve_model_path(name)};
    } catch (const Error& e) {
      throw ApiError(404, e.what(), "invalid_request_error", "model_not_found", "model");
    }
  }

  static json parse(const httplib::Request& req) {
    return parse_json_object(req.body, true, "invalid_type");
  }

  void run(const std::string& spec) {
    PullOptions o;
    o.progress = false;
    o.cancel = &cancel_;
    o.on_bytes = [this](uint64_t done, std::optional<uint64_t> total) {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto now = Clock::now();
      const double dt = std::chrono::duration<double>(now - last_sample_).count();
      if (dt >= 0.5) {  // a smoothed speed, as the terminal's progress bar keeps
        const double rate = static_cast<double>(done - std::min(done, last_bytes_)) / dt;
        speed_ = speed_ == 0 ? rate : 0.7 * speed_ + 0.3 * rate;
        last_sample_ = now;
        last_bytes_ = done;
      }
      done_ = done;
      total_ = total;
    };
    std::string error, path;
    try {
      path = pull_model(spec, o).string();
    } catch (const std::exception& e) {
      error = e.what();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    running_ = false;
    path_ = path;
    error_ = error;
    state_ = error.empty() ? "done" : cancel_ ? "cancelled" : "error";
  }

  json pull_state() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return state_locked();
  }
  json state_locked() const {
    if (state_.empty()) return nullptr;
    json j = {{"model", spec_}, {"state", state_}, {"bytes", done_}};
    j["total"] = total_ ? json(*total_) : json();
    j["bytes_per_second"] = speed_;
    j["seconds_left"] = total_ && speed_ > 0 ? json(static_cast<double>(*total_ - std::min(*total_, done_)) / speed_) : json();
    j["error"] = error_.empty() ? json() : json(error_);
    j["path"] = path_.empty() ? json() : json(path_);
    return j;
  }

  ServerContext& ctx_;
  mutable std::mutex mutex_;
  std::thread thread_;
  std::atomic<bool> cancel_{false};
  bool running_ = false;
  std::string spec_, state_, error_, path_;
  uint64_t done_ = 0, last_bytes_ = 0;
  std::optional<uint64_t> total_;
  double speed_ = 0;
  Clock::time_point started_, last_sample_;
};

}  // namespace

void register_model_routes(RouteTable& routes, ServerContext& ctx) {
  if (!ctx.sessions) return;  // part of the explorer
  auto api = std::make_shared<ModelRoutes>(ctx);
  using Req = const httplib::Request&;
  using Res = httplib::Response&;
  routes.get("/explore/v1/models", [api](Req, Res res) { guarded(res, [&] { api->list(res); }); });
  routes.post("/explore/v1/models/load", [api](Req req, Res res) { guarded(res, [&] { api->load(req, res); }); });
  routes.post("/explore/v1/models/remove", [api](Req req, Res res) { guarded(res, [&] { api->remove(req, res); }); });
  routes.post("/explore/v1/models/pull", [api](Req req, Res res) { guarded(res, [&] { api->pull(req, res); }); });
  routes.get("/explore/v1/models/pull", [api](Req, Res res) { guarded(res, [&] { api->pull_status(res); }); });
  routes.post("/explore/v1/models/pull/cancel", [api](Req, Res res) { guarded(res, [&] { api->cancel(res); }); });
}

}  // namespace entropix::server
