// Each subcommand of the `entropix` binary registers itself on the CLI11 app.
#pragma once

namespace CLI {
class App;
}

namespace entropix {

void add_run_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_logits_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_calibrate_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_chat_command(CLI::App& app);
void add_gen_model_command(CLI::App& app);
void add_model_commands(CLI::App& app);  // pull, list, rm
void add_serve_command(CLI::App& app);
void add_explore_command(CLI::App& app);
void add_grammar_command(CLI::App& app);  // JSON Schema -> GBNF

}  // namespace entropix
