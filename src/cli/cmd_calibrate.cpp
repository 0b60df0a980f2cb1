// `entropix calibrate -m MODEL --text FILE [-o PROFILE]`: measures the uncertainty
// metrics at every position of a reference text and writes a profile whose
// thresholds sit at the documented percentiles (profiles/README.md).
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/model_path.h"
#include "core/error.h"
#include "core/file_text.h"
#include "entropix/calibrate.h"
#include "entropix/calibrate_run.h"
#include "entropix/profile.h"
#include "model/engine.h"
#include "tokenizer/tokenizer.h"

namespace entropix {

void add_calibrate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("calibrate", "Derive a model's entropix profile from a reference text");
  static std::string model, text_path, out, base_path;
  static int threads = 0, window = 256;
  static double low = 25, high = 75;
  static std::string varentropy_over = "all";
  cmd->add_option("-m,--model", model, "GGUF file or cached model name")->required();
  cmd->add_option("--text", text_path, "Reference text (plain UTF-8)")->required();
  cmd->add_option("-o,--output", out, "Profile to write (default: beside the model, <model>.profile.json)");
  cmd->add_option("--base", base_path, "Profile whose constants are kept (default: the built-in defaults)");
  cmd->add_option("-t,--threads", threads, "Threads");
  cmd->add_option("--window", window, "Tokens per window of the text (each window starts a fresh context)")
      ->check(CLI::Range(16, 4096));
  cmd->add_option("--low-percentile", low, "Percentile of the *_low thresholds")->check(CLI::Range(1.0, 49.0));
  cmd->add_option("--high-percentile", high, "Percentile of the *_high thresholds")->check(CLI::Range(51.0, 99.0));
  cmd->add_option("--varentropy-over", varentropy_over,
                  "Tokens the varentropy thresholds are percentiles of: all, or uncertain (entropy above its high "
                  "threshold; for confident models, where HELV never occurs otherwise)")
      ->check(CLI::IsMember({"all", "uncertain"}));
  cmd->callback([] {
    const std::string text = read_file(text_path, "reference text");
    const std::string path = resolve_model_argument(model);
    Profile base = base_path.empty() ? Profile{} : load_profile(base_path);
    auto engine = Engine::load(path, calibration_engine_options(window, base, threads));
    std::vector<int32_t> tokens = engine->tokenizer().encode(text, false, false);
    if (tokens.size() < 2) throw Error(text_path + " has too little text to calibrate on");

    const bool tty = isatty(STDERR_FILENO);
    const auto progress = [tty](size_t done, size_t total) {
      if (tty) fmt::print(stderr, "\rcalibrate: {} / {} tokens", done, total);
    };
    const std::vector<TokenMetrics> samples = measure_text_metrics(*engine, tokens, window, progress);
    if (tty) fmt::print(stderr, "\n");
    CalibrationOptions co;
    co.low_percentile = low;
    co.high_percentile = high;
    co.varentropy_over = varentropy_over == "uncertain" ? VarentropyOver::Uncertain : VarentropyOver::All;
    Profile p = calibrate_profile(samples, base, co);
    p.model = engine->config().name.empty() ? path : engine->config().name;
    p.description = fmt::format("calibrated on {} ({} tokens): thresholds at the {:g}th/{:g}th percentiles{}", text_path,
                                samples.size(), low, high,
                                co.varentropy_over == VarentropyOver::Uncertain
                                    ? ", varentropy over the tokens with entropy above its high threshold"
                                    : "");
    const std::string target = out.empty() ? profile_candidates(path).front().string() : out;
    save_profile(p, target);
    fmt::print(stderr, "entropy low/high {:.3f} / {:.3f} bits, varentropy low/high {:.3f} / {:.3f}\n",
               p.thresholds.entropy_low, p.thresholds.entropy_high, p.thresholds.varentropy_low,
               p.thresholds.varentropy_high);
    fmt::print("{}\n", target);
  });
}

}  // namespace entropix
