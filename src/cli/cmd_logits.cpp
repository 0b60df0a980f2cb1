// `entropix logits -m FILE --tokens 1,2,3 -o OUT.f32`: the logits of every position,
// float32 [n_tokens][n_vocab] row-major, for comparison with reference implementations.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fmt/core.h>
#include <memory>

#include "cli/cache_type_flag.h"
#include "cli/commands.h"
#include "cli/flag_checks.h"
#include "cli/model_path.h"
#include "core/error.h"
#include "model/engine.h"
#include "tokenizer/tokenizer.h"

namespace entropix {

namespace {

struct LogitsOptions {
  std::string model;
  std::string out;              // float32 [n_tokens][n_vocab]
  std::string prompt;           // text to tokenize instead of tokens
  std::vector<int32_t> tokens;
  int threads = 0;
  int batch = 256;              // tokens per forward pass
  KvType cache_type = KvType::F16;
};

}  // namespace

void add_logits_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("logits", "Write the logits of every position of a token sequence (float32)");
  auto opts = std::make_shared<LogitsOptions>();
  cmd->add_option("-m,--model", opts->model, "GGUF file or cached model name")->required();
  cmd->add_option("--tokens", opts->tokens, "Token ids, comma separated")->delimiter(',');
  cmd->add_option("-p,--prompt", opts->prompt, "Text to tokenize instead of --tokens (BOS added as the model says)");
  cmd->add_option("-o,--output", opts->out, "Output file")->required();
  cmd->add_option("-t,--threads", opts->threads, "Threads (0: one per core)")->check(thread_count_check());
  cmd->add_option("-b,--batch", opts->batch, "Tokens per forward pass");
  add_cache_type_flag(*cmd, opts->cache_type);
  cmd->callback([opts] {
    const LogitsOptions& o = *opts;
    EngineOptions options;
    options.n_threads = o.threads;
    options.max_batch = o.batch;
    options.cache_type = o.cache_type;
    auto engine = Engine::load(resolve_model_argument(o.model), options);
    std::vector<int32_t> ids = o.tokens;
    if (!o.prompt.empty()) ids = engine->tokenizer().encode(o.prompt, true, true);
    if (ids.empty()) throw Error("no tokens given (use --tokens or -p)");
    SeqId seq = engine->new_sequence();
    std::vector<BatchToken> b;
    for (int32_t t : ids) b.push_back({seq, t, true});
    engine->decode(b);
    std::FILE* f = std::fopen(o.out.c_str(), "wb");
    if (!f) throw Error("cannot write " + o.out);
    for (size_t i = 0; i < engine->n_logit_rows(); ++i) {
      auto row = engine->logits(i);
      if (std::fwrite(row.data(), sizeof(float), row.size(), f) != row.size()) {
        std::fclose(f);
        throw Error("short write to " + o.out);
      }
    }
    if (std::fclose(f) != 0) throw Error("cannot close " + o.out);
    fmt::print(stderr, "wrote {} x {} logits to {}\n", engine->n_logit_rows(), engine->config().n_vocab, o.out);
  });
}

}  // namespace entropix
