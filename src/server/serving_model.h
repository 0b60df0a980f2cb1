// The model the server answers with, and what belongs to it: the engine, the
// decoding defaults its profile gives, its chat format, the names requests may
// call it by, and the inference loop (with its prefix cache) that decodes on it.
// Requests take a reference for as long as they run; switching to another model
// (ModelSlot::load) waits for none of them: it happens only when no request holds
// the current one, and meanwhile new requests get 503 with Retry-After.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "chat/chat_format.h"
#include "decoding/decode_options.h"
#include "grammar/constraint_cache.h"
#include "model/engine.h"
#include "server/inference_loop.h"
#include "server/metrics.h"
#include "server/model_identity.h"

namespace entropix::server {

// What a model switch loads: the engine (with the computations any request may
// need, set_engine_needs(request_decode_uses(decode))) and its decoding defaults.
struct LoadedModel {
  std::unique_ptr<Engine> engine;
  DecodeOptions decode;
  std::string name;  // what /v1/models calls it (the file's stem)
  std::string path;
};
// Loads a model named as `entropix -m` takes it (a path or a cached name); throws Error.
using ModelLoader = std::function<LoadedModel(const std::string& name_or_path)>;

struct ServingModel {
  // `owned` is null for the engine the server was started with (its caller owns it).
  ServingModel(Engine& engine, std::unique_ptr<Engine> owned, DecodeOptions decode, std::vector<std::string> names,
               std::string path, const std::string& chat_template, const LoopOptions& loop, Metrics& metrics);

  std::unique_ptr<Engine> owned;
  Engine& engine;
  DecodeOptions decode;            // the defaults of every request
  ChatFormat format;               // --chat-template, else the model's own
  std::vector<std::string> names;  // what a request's "model" may name: the model's name, then the aliases
  std::string path;                // the GGUF file
  ModelIdentity identity;          // /v1/models' "created", the responses' system_fingerprint
  grammar::ConstraintCache grammars;  // requests' grammars and schemas, compiled for the vocabulary
  InferenceLoop loop;              // last: its thread decodes on the engine until it is destroyed
};

class ModelSlot {
 public:
  ModelSlot(std::shared_ptr<ServingModel> first, ModelLoader loader, std::vector<std::string> aliases,
            std::string chat_template, LoopOptions loop, Metrics& metrics)
      : current_(std::move(first)), loader_(std::move(loader)), aliases_(std::move(aliases)),
        chat_template_(std::move(chat_template)), loop_(loop), metrics_(metrics) {}

  // The model now; null while another is being loaded.
  std::shared_ptr<ServingModel> get() const;
  // The model now, or ApiError 503 (Retry-After) while another is being loaded.
  std::shared_ptr<ServingModel> require() const;
  // The path of the model being loaded, when one is.
  std::optional<std::string> loading() const;
  bool can_load() const { return static_cast<bool>(loader_); }
  // Replaces the model with `name_or_path`. ApiError 409 when requests still hold
  // the current one, or another load runs; 400 when the server has no loader; 500
  // when the new model does not load (the previous one is then loaded again).
  std::shared_ptr<ServingModel> load(const std::string& name_or_path);

 private:
  std::shared_ptr<ServingModel> make(LoadedModel m);

  mutable std::mutex mutex_;
  std::shared_ptr<ServingModel> current_;
  std::optional<std::string> loading_;
  ModelLoader loader_;
  std::vector<std::string> aliases_;
  std::string chat_template_;
  LoopOptions loop_;
  Metrics& metrics_;
};

}  // namespace entropix::server
