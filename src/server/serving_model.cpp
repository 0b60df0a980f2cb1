#include "server/serving_model.h"

#include <algorithm>

#include "core/error.h"
#include "server/api.h"

namespace entropix::server {

namespace {

std::optional<std::string> template_for(const Engine& engine, const std::string& chat_template) {
  return chat_template.empty() ? engine.chat_template() : std::optional<std::string>(chat_template);
}

// What the template's errors name as its source.
std::string template_origin(const std::string& chat_template) {
  return chat_template.empty() ? "the model's tokenizer.chat_template" : "the --chat-template file";
}

constexpr int kLoadingRetrySeconds = 2;

}  // namespace

ServingModel::ServingModel(Engine& e, std::unique_ptr<Engine> own, DecodeOptions d, std::vector<std::string> n,
                           std::string p, const std::string& chat_template, const LoopOptions& loop_options,
                           Metrics& metrics)
    : owned(std::move(own)),
      engine(e),
      decode(std::move(d)),
      format(template_for(e, chat_template), template_origin(chat_template)),
      names(std::move(n)),
      path(std::move(p)),
      identity(model_identity(path, names.empty() ? "" : names.front())),
      loop(e, loop_options, &metrics) {}

std::shared_ptr<ServingModel> ModelSlot::get() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

std::shared_ptr<ServingModel> ModelSlot::require() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (current_) return current_;
  throw ApiError(503, "the server is loading " + loading_.value_or("another model") + ": retry shortly",
                 "server_error", "model_loading")
      .retry_after(kLoadingRetrySeconds);
}

std::optional<std::string> ModelSlot::loading() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return loading_;
}

std::shared_ptr<ServingModel> ModelSlot::make(LoadedModel m) {
  std::vector<std::string> names{m.name};
  for (const std::string& a : aliases_)
    if (std::find(names.begin(), names.end(), a) == names.end()) names.push_back(a);
  Engine& engine = *m.engine;
  return std::make_shared<ServingModel>(engine, std::move(m.engine), std::move(m.decode), std::move(names),
                                        std::move(m.path), chat_template_, loop_, metrics_);
}

std::shared_ptr<ServingModel> ModelSlot::load(const std::string& name_or_path) {
  if (!loader_) throw ApiError(400, "this server cannot switch models", "invalid_request_error", "not_supported");
  std::shared_ptr<ServingModel> old;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (loading_) throw ApiError(409, "another model is being loaded", "invalid_request_error", "model_loading");
    // Only this slot holds the model: no request is running on it.
    if (current_ && current_.use_count() > 1)
      throw ApiError(409, "requests are running on " + current_->names.front() + ": switch when they are done",
                     "invalid_request_error", "model_busy")
          .retry_after(kLoadingRetrySeconds);
    old = std::move(current_);
    loading_ = name_or_path;
  }
  const std::string old_path = old ? old->path : "";
  old.reset();  // its loop and engine go before the next one is loaded: memory for one model at a time
  std::shared_ptr<ServingModel> next;
  std::string error;
  try {
    next = make(loader_(name_or_path));
  } catch (const std::exception& e) {
    error = e.what();
    try {
      if (!old_path.empty()) next = make(loader_(old_path));
    } catch (const std::exception&) {
      // nothing loaded: requests get 503 until a load succeeds
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    current_ = next;
    loading_.reset();
  }
  if (!error.empty())
    throw ApiError(500, "cannot load " + name_or_path + ": " + error, "server_error", "model_load_failed");
  return next;
}

}  // namespace entropix::server
