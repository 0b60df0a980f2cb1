// `entropix serve`: the OpenAI-compatible HTTP server (src/server/) on one model.
#include <CLI/CLI.hpp>
#include <csignal>
#include <filesystem>
#include <fmt/core.h>
#include <fstream>
#include <iterator>

#include "cli/model_path.h"
#include "cli/sampling_flags.h"
#include "core/error.h"
#include "model/engine.h"
#include "server/server.h"

namespace entropix {

namespace {

std::string read_template_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read chat template file " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API");
  static std::string model, template_path;
  static server::ServerOptions options;
  static int n_ctx = 4096, threads = 0, n_predict = 256;
  static SamplingFlags flags;
  cmd->add_option("-m,--model", model, "GGUF file or cached model name")->required();
  cmd->add_option("--host", options.host, "Address to listen on (default: loopback only)");
  cmd->add_option("--port", options.port, "Port (0: any free port)");
  cmd->add_option("--api-key", options.api_key, "Require \"Authorization: Bearer KEY\" on /v1/*");
  cmd->add_flag("--force-insecure", options.force_insecure, "Allow a non-loopback host without --api-key");
  cmd->add_option("--parallel", options.loop.parallel, "Requests decoded together at most");
  cmd->add_option("-c,--ctx-size", n_ctx, "Context size (positions, all requests together)");
  cmd->add_option("-t,--threads", threads, "Threads");
  cmd->add_option("-n,--n-predict", n_predict, "Default max_tokens of a request");
  cmd->add_option("--chat-template", template_path, "Jinja chat template file (default: the model's own)");
  add_sampling_flags(*cmd, flags);
  cmd->callback([] {
    const std::string path = resolve_model_argument(model);
    options.decode = decode_options_from_flags(flags, path);
    options.decode.max_tokens = n_predict;
    options.model_name = std::filesystem::path(path).stem().string();
    if (!template_path.empty()) options.chat_template = read_template_file(template_path);
    EngineOptions eo;
    eo.n_ctx = n_ctx;
    eo.n_threads = threads;
    eo.attention_scores = options.decode.sampler == SamplerKind::Entropix && options.decode.profile.use_attention;
    eo.attention_layer = options.decode.profile.attention_layer;
    auto engine = Engine::load(path, eo);
    std::signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error return, not a signal
    server::Server srv(*engine, options);
    const int port = srv.start();
    fmt::print(stderr, "serving {} on http://{}:{} ({} parallel, context {})\n", options.model_name, options.host,
               port, options.loop.parallel, engine->n_ctx());
    srv.wait();
  });
}

}  // namespace entropix
