// `entropix eval`: accuracy, tokens and time of decoding strategies on a task set,
// as a table, a JSON file and an HTML report with plots.
#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <fmt/core.h>
#include <fstream>
#include <unistd.h>

#include "cli/commands.h"
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

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Compare decoding strategies on a task set (JSONL: prompt, answer)");
  static std::string model, tasks_path, out_dir, answer_regex = AnswerExtractor::kDefaultPattern;
  static std::vector<std::string> strategies{"greedy", "entropix", "cot-decoding", "self-consistency:8"};
  static int limit = 0, n_predict = 128, threads = 0, n_ctx = 2048;
  static SamplingFlags flags;
  cmd->add_option("-m,--model", model, "GGUF file or cached model name")->required();
  cmd->add_option("--tasks", tasks_path, "Task file (JSONL with prompt and answer)")->required();
  cmd->add_option("--strategies", strategies,
                  "Comma separated: greedy, standard, entropix, entropix-branch, cot-decoding[:k], "
                  "self-consistency[:n], best-of-n[:n]")
      ->delimiter(',');
  cmd->add_option("--limit", limit, "Use only the first N tasks");
  cmd->add_option("-n,--n-predict", n_predict, "Tokens per answer at most");
  cmd->add_option("--answer-regex", answer_regex, "Regex whose first group is the answer (else the last integer)");
  cmd->add_option("-o,--output", out_dir, "Directory for results.json and report.html");
  cmd->add_option("-t,--threads", threads, "Threads");
  cmd->add_option("-c,--ctx-size", n_ctx, "KV cache positions shared by all branches of a problem");
  add_sampling_flags(*cmd, flags);
  cmd->callback([] {
    const std::string path = resolve_model_argument(model);
    std::vector<EvalTask> tasks = load_tasks(tasks_path);
    if (limit > 0 && static_cast<size_t>(limit) < tasks.size()) tasks.resize(static_cast<size_t>(limit));
    DecodeOptions base = decode_options_from_flags(flags, path);
    base.max_tokens = n_predict;
    std::vector<StrategyOptions> specs;
    std::vector<DecodeOptions> uses;
    AnswerExtractor extractor(answer_regex);
    for (const auto& s : strategies) {
      specs.push_back(parse_strategy(s, base));
      specs.back().extractor = extractor;
      uses.push_back(specs.back().decode);
    }
    EngineOptions eo;
    eo.n_threads = threads;
    eo.n_ctx = n_ctx;
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
    if (!out_dir.empty()) {
      std::filesystem::create_directories(out_dir);
      EvalMeta meta{path, tasks_path, answer_regex, base.seed};
      write_file(std::filesystem::path(out_dir) / "results.json", report_json_text(reports, meta));
      write_file(std::filesystem::path(out_dir) / "report.html", report_html(reports, meta));
      fmt::print(stderr, "wrote {}/results.json and {}/report.html\n", out_dir, out_dir);
    }
  });
}

}  // namespace entropix
