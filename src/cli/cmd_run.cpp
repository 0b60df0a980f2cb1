// `entropix run`: generate text for a prompt. stdout carries the generated text
// only, streamed; diagnostics, the state summary and the speed go to stderr.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fmt/core.h>
#include <fstream>
#include <optional>
#include <memory>

#include "cli/cache_type_flag.h"
#include "cli/commands.h"
#include "cli/flag_checks.h"
#include "cli/grammar_flags.h"
#include "cli/model_path.h"
#include "cli/sampling_flags.h"
#include "cli/terminal_colour.h"
#include "core/error.h"
#include "core/file_text.h"
#include "decoding/generate.h"
#include "decoding/strategy.h"
#include "entropix/trace.h"
#include "model/engine.h"
#include "tokenizer/tokenizer.h"

namespace entropix {

namespace {

// The command's options, bound to its flags and read by its callback.
struct RunOptions {
  std::string model;
  std::string prompt;
  std::string prompt_file;
  std::string trace_path;
  std::string color = "auto";
  std::string strategy_spec;
  int n_predict = 128;
  int n_ctx = 0;
  int threads = 0;
  int batch = 256;
  bool no_bos = false;
  GrammarFlags grammar;
  SamplingFlags flags;
  KvType cache_type = KvType::F16;
};

}  // namespace

void add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Generate text for a prompt");
  auto o = std::make_shared<RunOptions>();
  cmd->add_option("-m,--model", o->model, "GGUF file or cached model name")->required();
  cmd->add_option("-p,--prompt", o->prompt, "Prompt text");
  cmd->add_option("-f,--file", o->prompt_file, "Read the prompt from a file");
  cmd->add_option("-n,--n-predict", o->n_predict, "Tokens to generate")->check(token_count_check());
  cmd->add_option("-c,--ctx-size", o->n_ctx, "Context size in tokens (0: the model's, at most 4096)")
      ->check(context_size_check());
  cmd->add_option("-t,--threads", o->threads, "Threads (0: one per core)")->check(thread_count_check());
  add_cache_type_flag(*cmd, o->cache_type);
  cmd->add_option("-b,--batch-size", o->batch, "Prompt tokens per forward pass");
  cmd->add_option("--trace", o->trace_path, "Write one JSON line per generated token to this file");
  add_color_flag(*cmd, o->color, "Colour tokens by uncertainty state");
  cmd->add_flag("--no-bos", o->no_bos, "Do not add the BOS token");
  cmd->add_option("--strategy", o->strategy_spec,
                  "entropix-branch, cot-decoding[:k], self-consistency[:n], best-of-n[:n], "
                  "adaptive-consistency[:max], entropy-fork[:k] or entropix-vote[:n] "
                  "(default: one answer with --sampler)");
  add_grammar_flags(*cmd, o->grammar);
  add_sampling_flags(*cmd, o->flags);
  cmd->callback([o] {
    if (o->prompt.empty() == o->prompt_file.empty()) throw Error("give the prompt with exactly one of -p or -f");
    const std::string text = o->prompt_file.empty() ? o->prompt : read_file(o->prompt_file, "prompt file");
    const std::string path = resolve_model_argument(o->model);
    DecodeOptions options = decode_options_from_flags(o->flags, path);
    options.max_tokens = o->n_predict;

    EngineOptions eo;
    eo.n_ctx = o->n_ctx;
    eo.n_threads = o->threads;
    eo.cache_type = o->cache_type;
    eo.max_batch = o->batch;
    std::optional<StrategyOptions> strategy;
    if (!o->strategy_spec.empty()) strategy = parse_strategy(o->strategy_spec, options);
    set_engine_needs(eo, {strategy ? &strategy->decode : &options, 1});
    auto engine = Engine::load(path, eo);
    std::vector<int32_t> tokens = engine->tokenizer().encode(text, !o->no_bos, true);
    if (o->grammar.given()) {
      options.grammar = constraint_from_flags(o->grammar, engine->tokenizer());
      if (strategy) strategy->decode.grammar = options.grammar;
    }

    std::ofstream trace;
    if (!o->trace_path.empty()) {
      trace.open(o->trace_path, std::ios::binary | std::ios::trunc);
      if (!trace) throw Error("cannot write trace file " + o->trace_path);
    }
    const bool colour = colour_enabled(o->color);
    if (strategy) {
      if (!o->trace_path.empty()) throw Error("--trace records single answers; it cannot be combined with --strategy");
      const StrategyOptions& so = *strategy;
      auto start = std::chrono::steady_clock::now();
      StrategyResult r = run_strategy(*engine, tokens, so, [&](std::string_view out, State state, bool inserted) {
        fmt::print("{}", coloured(out, token_colour(state, inserted), colour));
        std::fflush(stdout);
      });
      if (so.kind != StrategyKind::Single) std::fwrite(r.text.data(), 1, r.text.size(), stdout);
      std::fputc('\n', stdout);
      std::fflush(stdout);
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      for (size_t i = 0; i < r.paths.size() && so.kind != StrategyKind::Single; ++i) {
        fmt::print(stderr, "path {:2}: score {:8.4f} answer {:>8} | {}\n", i, r.paths[i].score,
                   r.paths[i].answer.value_or("-"), r.paths[i].text.substr(0, 80));
      }
      fmt::print(stderr,
                 "\nstrategy: {} | answer: {} | confidence: {:.2f} | paths: {} | tokens spent: {} in {:.2f} s ({:.1f} t/s) | "
                 "branch points: {} | thinking inserted: {}\n",
                 so.name, r.answer.value_or("-"), r.confidence, r.paths.size(), r.tokens_spent, secs,
                 double(r.tokens_spent) / std::max(secs, 1e-9), r.n_branch_points, r.n_inserted);
      return;
    }
    int64_t index = 0;
    GenerationStats stats = generate(*engine, tokens, options, [&](const TokenEvent& ev, std::string_view out) {
      if (!out.empty()) {
        fmt::print("{}", coloured(out, token_colour(ev.outcome.state, ev.inserted), colour));
        std::fflush(stdout);
      }
      if (trace.is_open()) trace << trace_line(trace_record(ev.outcome, ev.piece, index)) << '\n';
      ++index;
      return true;
    });
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (trace.is_open() && !trace.flush()) throw Error("cannot write trace file " + o->trace_path);

    const double pp = stats.n_prompt / std::max(stats.prompt_seconds, 1e-9);
    const double tg = stats.n_generated / std::max(stats.generation_seconds, 1e-9);
    const double gbs = tg * double(engine->weight_bytes()) / 1e9;
    fmt::print(stderr, "\nprompt: {} tokens, {:.1f} t/s | generated: {} tokens, {:.2f} t/s, {:.1f} ms/token, {:.1f} GB/s of weights\n",
               stats.n_prompt, pp, stats.n_generated, tg, 1000.0 / std::max(tg, 1e-9), gbs);
    fmt::print(stderr, "sampler: {} | states: LELV {} HELV {} LEHV {} HEHV {} ADAPTIVE {} | thinking inserted: {} | finish: {}\n",
               sampler_kind_name(options.sampler), stats.state_counts[0], stats.state_counts[1], stats.state_counts[2],
               stats.state_counts[3], stats.state_counts[4], stats.n_inserted, finish_reason_name(stats.finish));
  });
}

}  // namespace entropix
