// `entropix eval`: accuracy, tokens and time of decoding strategies on a task set,
// as a table, a JSON file and an HTML report with plots.
#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <fmt/core.h>
#include <fstream>
#include <unistd.h>
#include <memory>

#include "cli/cache_type_flag.h"
#include "cli/commands.h"
#include "cli/flag_checks.h"
#include "cli/model_path.h"
#include "cli/sampling_flags.h"
#include "core/error.h"
#include "eval/evaluate.h"
#include "eval/report.h"
#include "model/engine.h"

namespace entropix {

namespace {

void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out || !(out << content) || !out.flush()) throw Error("cannot write " + path.string());
}

// The command's options, bound to its flags and read by its callback.
struct EvalOptions {
  std::string model;
  std::string tasks_path;
  std::string out_dir;
  std::string answer_regex = AnswerExtractor::kDefaultPattern;
  std::vector<std::string> strategies{"greedy", "entropix", "cot-decoding", "self-consistency:8"};
  int limit = 0;
  int n_predict = 128;
  int threads = 0;
  int n_ctx = 2048;
  SamplingFlags flags;
  KvType cache_type = KvType::F16;
};

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Compare decoding strategies on a task set (JSONL: prompt, answer)");
  auto o = std::make_shared<EvalOptions>();
  cmd->add_option("-m,--model", o->model, "GGUF file or cached model name")->required();
  cmd->add_option("--tasks", o->tasks_path, "Task file (JSONL with prompt and answer)")->required();
  cmd->add_option("--strategies", o->strategies,
                  "Comma separated: greedy, standard, entropix, entropix-branch, cot-decoding[:k], "
                  "self-consistency[:n], best-of-n[:n], adaptive-consistency[:max], entropy-fork[:k], entropix-vote[:n]")
      ->delimiter(',');
  cmd->add_option("--limit", o->limit, "Use only the first N tasks");
  cmd->add_option("-n,--n-predict", o->n_predict, "Tokens per answer at most")->check(token_count_check());
  cmd->add_option("--answer-regex", o->answer_regex, "Regex whose first group is the answer (else the last integer)");
  cmd->add_option("-o,--output", o->out_dir, "Directory for results.json and report.html");
  cmd->add_option("-t,--threads", o->threads, "Threads (0: one per core)")->check(thread_count_check());
  add_cache_type_flag(*cmd, o->cache_type);
  cmd->add_option("-c,--ctx-size", o->n_ctx, "KV cache positions shared by all branches of a problem")
      ->check(context_size_check());
  add_sampling_flags(*cmd, o->flags);
  cmd->callback([o] {
    const std::string path = resolve_model_argument(o->model);
    std::vector<EvalTask> tasks = load_tasks(o->tasks_path);
    if (o->limit > 0 && static_cast<size_t>(o->limit) < tasks.size()) tasks.resize(static_cast<size_t>(o->limit));
    DecodeOptions base = decode_options_from_flags(o->flags, path);
    base.max_tokens = o->n_predict;
    std::vector<StrategyOptions> specs;
    std::vector<DecodeOptions> uses;
    AnswerExtractor extractor(o->answer_regex);
    for (const auto& s : o->strategies) {
      specs.push_back(parse_strategy(s, base));
      specs.back().extractor = extractor;
      uses.push_back(specs.back().decode);
    }
    EngineOptions eo;
    eo.n_threads = o->threads;
    eo.cache_type = o->cache_type;
    eo.n_ctx = o->n_ctx;
    set_engine_needs(eo, uses);
    auto engine = Engine::load(path, eo);
    const bool tty = isatty(STDERR_FILENO);
    auto last = std::chrono::steady_clock::now();
    auto reports = evaluate(*engine, tasks, specs, [&](const EvalProgress& p) {
      auto now = std::chrono::steady_clock::now();
      if (!tty && p.done != p.total && now - last < std::chrono::seconds(10)) return;
      last = now;
      const int width = 30;
      int filled = static_cast<int>(double(width) * double(p.done) / double(p.total));
      fmt::print(stderr, "{}[{}{}] {}/{} {}{}", tty ? "\r" : "", std::string(static_cast<size_t>(filled), '#'),
                 std::string(static_cast<size_t>(width - filled), '.'), p.done, p.total, p.strategy,
                 tty ? "\033[K" : "\n");
    });
    if (tty) fmt::print(stderr, "\n");
    fmt::print("{}", report_table(reports));
    if (!o->out_dir.empty()) {
      std::filesystem::create_directories(o->out_dir);
      EvalMeta meta{path, o->tasks_path, o->answer_regex, base.seed};
      write_file(std::filesystem::path(o->out_dir) / "results.json", report_json_text(reports, meta));
      write_file(std::filesystem::path(o->out_dir) / "report.html", report_html(reports, meta));
      fmt::print(stderr, "wrote {}/results.json and {}/report.html\n", o->out_dir, o->out_dir);
    }
  });
}

}  // namespace entropix
