// `entropix calibrate -m MODEL --text FILE [-o PROFILE]`: measures the uncertainty
// metrics at every position of a reference text and writes a profile whose
// thresholds sit at the documented percentiles (profiles/README.md).
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <memory>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/flag_checks.h"
#include "cli/model_path.h"
#include "core/error.h"
#include "core/file_text.h"
#include "entropix/calibrate.h"
#include "entropix/calibrate_run.h"
#include "entropix/profile.h"
#include "model/engine.h"
#include "tokenizer/tokenizer.h"

namespace entropix {

namespace {

struct CalibrateOptions {
  std::string model;
  std::string text_path;                // reference text
  std::string out;                      // profile to write ("": beside the model)
  std::string base_path;                // profile whose constants are kept ("": built-in defaults)
  int threads = 0;
  int window = 256;                     // tokens per window, BOS included
  double low = 25, high = 75;           // percentiles of the *_low and *_high thresholds
  std::string varentropy_over = "all";  // all, uncertain
};

}  // namespace

void add_calibrate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("calibrate", "Derive a model's entropix profile from a reference text");
  auto opts = std::make_shared<CalibrateOptions>();
  cmd->add_option("-m,--model", opts->model, "GGUF file or cached model name")->required();
  cmd->add_option("--text", opts->text_path, "Reference text (plain UTF-8)")->required();
  cmd->add_option("-o,--output", opts->out, "Profile to write (default: beside the model, <model>.profile.json)");
  cmd->add_option("--base", opts->base_path, "Profile whose constants are kept (default: the built-in defaults)");
  cmd->add_option("-t,--threads", opts->threads, "Threads (0: one per core)")->check(thread_count_check());
  cmd->add_option("--window", opts->window, "Tokens per window of the text (each window starts a fresh context)")
      ->check(CLI::Range(16, 4096));
  cmd->add_option("--low-percentile", opts->low, "Percentile of the *_low thresholds")->check(CLI::Range(1.0, 49.0));
  cmd->add_option("--high-percentile", opts->high, "Percentile of the *_high thresholds")
      ->check(CLI::Range(51.0, 99.0));
  cmd->add_option("--varentropy-over", opts->varentropy_over,
                  "Tokens the varentropy thresholds are percentiles of: all, or uncertain (entropy above its high "
                  "threshold; for confident models, where HELV never occurs otherwise)")
      ->check(CLI::IsMember({"all", "uncertain"}));
  cmd->callback([opts] {
    const CalibrateOptions& o = *opts;
    const std::string text = read_file(o.text_path, "reference text");
    const std::string path = resolve_model_argument(o.model);
    Profile base = o.base_path.empty() ? Profile{} : load_profile(o.base_path);
    auto engine = Engine::load(path, calibration_engine_options(o.window, base, o.threads));
    std::vector<int32_t> tokens = engine->tokenizer().encode(text, false, false);
    if (tokens.size() < 2) throw Error(o.text_path + " has too little text to calibrate on");

    const bool tty = isatty(STDERR_FILENO);
    const auto progress = [tty](size_t done, size_t total) {
      if (tty) fmt::print(stderr, "\rcalibrate: {} / {} tokens", done, total);
    };
    const std::vector<TokenMetrics> samples = measure_text_metrics(*engine, tokens, o.window, progress);
    if (tty) fmt::print(stderr, "\n");
    CalibrationOptions co;
    co.low_percentile = o.low;
    co.high_percentile = o.high;
    co.varentropy_over = o.varentropy_over == "uncertain" ? VarentropyOver::Uncertain : VarentropyOver::All;
    Profile p = calibrate_profile(samples, base, co);
    p.model = engine->config().name.empty() ? path : engine->config().name;
    p.description = fmt::format("calibrated on {} ({} tokens): thresholds at the {:g}th/{:g}th percentiles{}",
                                o.text_path, samples.size(), o.low, o.high,
                                co.varentropy_over == VarentropyOver::Uncertain
                                    ? ", varentropy over the tokens with entropy above its high threshold"
                                    : "");
    const std::string target = o.out.empty() ? profile_candidates(path).front().string() : o.out;
    save_profile(p, target);
    fmt::print(stderr, "entropy low/high {:.3f} / {:.3f} bits, varentropy low/high {:.3f} / {:.3f}\n",
               p.thresholds.entropy_low, p.thresholds.entropy_high, p.thresholds.varentropy_low,
               p.thresholds.varentropy_high);
    fmt::print("{}\n", target);
  });
}

}  // namespace entropix
