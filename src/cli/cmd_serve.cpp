// `entropix serve`: the OpenAI-compatible HTTP server (src/server/) on one model,
// with the explorer's page at /; `entropix explore`: the same server, on the demo
// model when no -m is given, announced by the page's address.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <csignal>
#include <pthread.h>
#include <thread>
#include <filesystem>
#include <fmt/core.h>
#include <memory>

#include "cli/cache_type_flag.h"
#include "cli/flag_checks.h"
#include "cli/model_path.h"
#include "cli/sampling_flags.h"
#include "core/file_text.h"
#include "explore/session_store.h"
#include "model/engine.h"
#include "sampling/logit_bias.h"
#include "server/server.h"

namespace entropix {

namespace {

// The command's options, bound to its flags and read by its callback.
struct ServeOptions {
  std::string model;
  std::string template_path;
  server::ServerOptions options;
  int n_ctx = 4096;
  int threads = 0;
  int n_predict = 256;
  double grace_s = 30;
  double header_timeout_s = 10;
  double body_timeout_s = 60;
  bool ignore_eos = false;
  bool packed_weights = true;
  bool explorer = true;
  std::string db;
  SamplingFlags flags;
  KvType cache_type = KvType::F16;
};

// `serve` and `explore` share their flags and their callback; `explore` differs in
// its default model and in what it prints.
void add_server_command(CLI::App& app, bool explore) {
  auto* cmd = explore ? app.add_subcommand("explore",
                                           "Open the token explorer in the browser: see, steer and keep the model's "
                                           "alternatives (a server; without -m, on the demo model)")
                      : app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API, with the explorer at /");
  auto o = std::make_shared<ServeOptions>();
  auto* model = cmd->add_option("-m,--model", o->model, "GGUF file or cached model name");
  if (!explore) model->required();
  cmd->add_option("--db", o->db,
                  "The explorer's sessions database (default: $XDG_DATA_HOME/entropix/explore.db, else "
                  "~/.local/share/entropix/explore.db)");
  if (!explore) cmd->add_flag("!--no-explorer", o->explorer, "No explorer: no page at / and no /explore/v1 API");
  cmd->add_option("--web-dir", o->options.web_dir,
                  "Serve the explorer's page from this folder instead of the copy built in (for work on the page)");
  cmd->add_option("--host", o->options.host, "Address to listen on (default: loopback only)");
  cmd->add_option("--port", o->options.port, "Port (0: any free port)");
  cmd->add_option("--alias", o->options.model_aliases,
                  "Another name a request's \"model\" may give (repeatable; listed by /v1/models). "
                  "Other names get 404 model_not_found");
  cmd->add_option("--api-key", o->options.api_key, "Require \"Authorization: Bearer KEY\" on /v1/*");
  cmd->add_flag("--force-insecure", o->options.force_insecure, "Allow a non-loopback host without --api-key");
  cmd->add_option("--parallel", o->options.loop.parallel,
                  "Sequences decoded together at most (a request with n choices takes n; n is limited to this)");
  cmd->add_option("--prefill-while-decoding", o->options.loop.prefill_while_decoding,
                  "Prompt tokens fed per step, all new requests together, while others stream (bounds the "
                  "pause a long prompt causes in their streams; an idle server prefills 128 per request)");
  cmd->add_flag("!--no-prefix-cache", o->options.loop.prefix_cache,
                "Do not keep the KV of finished requests for later ones that start with the same text");
  cmd->add_option("--cache-ram", o->options.loop.cache_ram_mib,
                  "MiB of keys and values the prefix cache keeps at most once requests end (default: the whole "
                  "context, -c; what live requests need is always evicted first)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-queue", o->options.loop.max_queue, "Requests waiting for a slot at most (then 429)");
  cmd->add_option("--max-connections", o->options.max_connections,
                  "Connections open at once, all clients together (then 503 with Retry-After)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-connections-per-client", o->options.max_connections_per_client,
                  "Connections open at once from one address (then 429 with Retry-After)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--header-timeout", o->header_timeout_s,
                  "Seconds a request's line and headers may take to arrive (then 408 and the connection closes)")
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--body-timeout", o->body_timeout_s, "Seconds a request's body may take to arrive after its headers")
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--shutdown-grace", o->grace_s,
                  "Seconds that SIGINT/SIGTERM waits for requests in flight (new ones get 503)");
  cmd->add_option("-c,--ctx-size", o->n_ctx, "Context size (positions, all requests together)")
      ->check(context_size_check());
  cmd->add_option("-t,--threads", o->threads, "Threads (0: one per core)")->check(thread_count_check());
  add_cache_type_flag(*cmd, o->cache_type);
  cmd->add_option("-n,--n-predict", o->n_predict, "Default max_tokens of a request")->check(token_count_check());
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Generate past end-of-text tokens (benchmarks: every answer runs to max_tokens)");
  cmd->add_option("--chat-template", o->template_path, "Jinja chat template file (default: the model's own)");
  cmd->add_flag("!--no-packed-weights", o->packed_weights,
                "Do not repack matrices for the batched kernels (loads faster, slower prompts and batches)");
  add_sampling_flags(*cmd, o->flags);
  cmd->callback([o, explore] {
    const std::string path = o->model.empty() ? demo_model_path() : resolve_model_argument(o->model);
    if (o->explorer) o->options.explore_db = o->db.empty() ? explore::default_database_path() : o->db;
    o->options.header_timeout = std::chrono::milliseconds(static_cast<int64_t>(o->header_timeout_s * 1000));
    o->options.body_timeout = std::chrono::milliseconds(static_cast<int64_t>(o->body_timeout_s * 1000));
    o->options.decode = decode_options_from_flags(o->flags, path);
    o->options.decode.max_tokens = o->n_predict;
    o->options.decode.ignore_eos = o->ignore_eos;
    o->options.model_name = std::filesystem::path(path).stem().string();
    if (!o->template_path.empty()) o->options.chat_template = read_file(o->template_path, "chat template file");
    EngineOptions eo;
    eo.n_ctx = o->n_ctx;
    eo.n_threads = o->threads;
    eo.cache_type = o->cache_type;
    eo.packed_weights = o->packed_weights;
    set_engine_needs(eo, request_decode_uses(o->options.decode));
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
    check_logit_bias(o->options.decode.logit_bias, engine->tokenizer().n_vocab());  // at start, not per request
    const int n_ctx = engine->n_ctx();
    o->options.model_path = path;
    // The explorer's models page loads others the same way, with the same flags.
    // (Copies, not `o`: the loader lives in o->options, and would keep `o` alive.)
    o->options.load_model = [flags = o->flags, n_predict = o->n_predict, ignore_eos = o->ignore_eos,
                             eo](const std::string& name) {
      server::LoadedModel m;
      m.path = resolve_model_argument(name);
      m.decode = decode_options_from_flags(flags, m.path);
      m.decode.max_tokens = n_predict;
      m.decode.ignore_eos = ignore_eos;
      m.name = std::filesystem::path(m.path).stem().string();
      EngineOptions options = eo;
      options.attention_scores = false;  // set again from this model's profile
      options.attention_layer = -1;
      set_engine_needs(options, request_decode_uses(m.decode));
      m.engine = Engine::load(m.path, options);
      check_logit_bias(m.decode.logit_bias, m.engine->tokenizer().n_vocab());
      return m;
    };
    server::Server srv(std::move(engine), o->options);
    const int port = srv.start();
    fmt::print(stderr, "serving {} on http://{}:{} ({} parallel, context {}, prefix cache {})\n", o->options.model_name,
               o->options.host, port, o->options.loop.parallel, n_ctx,
               o->options.loop.prefix_cache ? "on" : "off");
    if (o->explorer) fmt::print(stderr, "explorer sessions in {}\n", o->options.explore_db);
    if (explore) {
      // The address on stdout, alone, for a script or a terminal that opens links.
      const std::string host = o->options.host == "0.0.0.0" || o->options.host == "::" ? "127.0.0.1" : o->options.host;
      fmt::print("http://{}:{}/\n", host, port);
      std::fflush(stdout);
    }
    std::thread stopper([&] {
      int sig = 0;
      sigwait(&stop_signals, &sig);
      fmt::print(stderr, "{}: finishing the requests in flight (up to {} s), refusing new ones\n",
                 sig == SIGINT ? "SIGINT" : "SIGTERM", o->grace_s);
      srv.shutdown(std::chrono::milliseconds(static_cast<int64_t>(o->grace_s * 1000)));
    });
    srv.wait();
    stopper.join();
    fmt::print(stderr, "stopped\n");
  });
}

}  // namespace

void add_serve_command(CLI::App& app) { add_server_command(app, false); }

void add_explore_command(CLI::App& app) { add_server_command(app, true); }

}  // namespace entropix
