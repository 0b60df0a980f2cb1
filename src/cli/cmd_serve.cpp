// `entropix serve`: the OpenAI-compatible HTTP server (src/server/) on one model.
#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <pthread.h>
#include <thread>
#include <filesystem>
#include <fmt/core.h>

#include "cli/model_path.h"
#include "cli/sampling_flags.h"
#include "core/file_text.h"
#include "model/engine.h"
#include "server/server.h"

namespace entropix {

void add_serve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API");
  static std::string model, template_path;
  static server::ServerOptions options;
  static int n_ctx = 4096, threads = 0, n_predict = 256;
  static double grace_s = 30;
  static bool ignore_eos = false, packed_weights = true;
  static SamplingFlags flags;
  cmd->add_option("-m,--model", model, "GGUF file or cached model name")->required();
  cmd->add_option("--host", options.host, "Address to listen on (default: loopback only)");
  cmd->add_option("--port", options.port, "Port (0: any free port)");
  cmd->add_option("--alias", options.model_aliases,
                  "Another name a request's \"model\" may give (repeatable; listed by /v1/models). "
                  "Other names get 404 model_not_found");
  cmd->add_option("--api-key", options.api_key, "Require \"Authorization: Bearer KEY\" on /v1/*");
  cmd->add_flag("--force-insecure", options.force_insecure, "Allow a non-loopback host without --api-key");
  cmd->add_option("--parallel", options.loop.parallel,
                  "Sequences decoded together at most (a request with n choices takes n; n is limited to this)");
  cmd->add_option("--prefill-while-decoding", options.loop.prefill_while_decoding,
                  "Prompt tokens fed per step, all new requests together, while others stream (bounds the "
                  "pause a long prompt causes in their streams; an idle server prefills 128 per request)");
  cmd->add_option("--max-queue", options.loop.max_queue, "Requests waiting for a slot at most (then 429)");
  cmd->add_option("--shutdown-grace", grace_s,
                  "Seconds that SIGINT/SIGTERM waits for requests in flight (new ones get 503)");
  cmd->add_option("-c,--ctx-size", n_ctx, "Context size (positions, all requests together)");
  cmd->add_option("-t,--threads", threads, "Threads");
  cmd->add_option("-n,--n-predict", n_predict, "Default max_tokens of a request");
  cmd->add_flag("--ignore-eos", ignore_eos, "Generate past end-of-text tokens (benchmarks: every answer runs to max_tokens)");
  cmd->add_option("--chat-template", template_path, "Jinja chat template file (default: the model's own)");
  cmd->add_flag("!--no-packed-weights", packed_weights,
                "Do not keep a packed copy of Q8_0 matrices (saves their size in memory, slower batches)");
  add_sampling_flags(*cmd, flags);
  cmd->callback([] {
    const std::string path = resolve_model_argument(model);
    options.decode = decode_options_from_flags(flags, path);
    options.decode.max_tokens = n_predict;
    options.decode.ignore_eos = ignore_eos;
    options.model_name = std::filesystem::path(path).stem().string();
    if (!template_path.empty()) options.chat_template = read_file(template_path, "chat template file");
    EngineOptions eo;
    eo.n_ctx = n_ctx;
    eo.n_threads = threads;
    eo.packed_weights = packed_weights;
    set_engine_needs(eo, request_decode_uses(options.decode));
    std::signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error return, not a signal
    // SIGINT and SIGTERM are taken by one thread that shuts the server down
    // gracefully; they are blocked before any other thread (the engine's, the
    // server's) starts, so that every thread inherits the mask.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    auto engine = Engine::load(path, eo);
    server::Server srv(*engine, options);
    const int port = srv.start();
    fmt::print(stderr, "serving {} on http://{}:{} ({} parallel, context {})\n", options.model_name, options.host,
               port, options.loop.parallel, engine->n_ctx());
    std::thread stopper([&] {
      int sig = 0;
      sigwait(&stop_signals, &sig);
      fmt::print(stderr, "{}: finishing the requests in flight (up to {} s), refusing new ones\n",
                 sig == SIGINT ? "SIGINT" : "SIGTERM", grace_s);
      srv.shutdown(std::chrono::milliseconds(static_cast<int64_t>(grace_s * 1000)));
    });
    srv.wait();
    stopper.join();
    fmt::print(stderr, "stopped\n");
  });
}

}  // namespace entropix
