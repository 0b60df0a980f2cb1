// entropix: run open LLMs from GGUF files and decode with awareness of uncertainty.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"
#include "core/version.h"

int main(int argc, char** argv) {
  CLI::App app{"entropix: local LLM inference with entropy-guided decoding"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("entropix ") + entropix::kVersion);
  entropix::add_run_command(app);
  entropix::add_info_command(app);
  entropix::add_tokenize_command(app);
  entropix::add_logits_command(app);
  entropix::add_bench_command(app);
  entropix::add_calibrate_command(app);
  entropix::add_eval_command(app);
  entropix::add_chat_command(app);
  entropix::add_gen_model_command(app);
  entropix::add_model_commands(app);
  entropix::add_serve_command(app);
  entropix::add_explore_command(app);
  entropix::add_grammar_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const entropix::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
