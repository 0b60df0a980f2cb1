// `entropix tokenize -m FILE -p TEXT [--ids]`: tokens as llama.cpp's tokenize tool shows them.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "cli/commands.h"
#include "cli/model_path.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace entropix {

void add_tokenize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Show the tokens of a text");
  static std::string model, prompt;
  static bool ids = false, no_bos = false, no_parse_special = false;
  cmd->add_option("-m,--model", model, "GGUF file or cached model name")->required();
  cmd->add_option("-p,--prompt", prompt, "Text to tokenize")->required();
  cmd->add_flag("--ids", ids, "Print only the ids, as a list");
  cmd->add_flag("--no-bos", no_bos, "Do not add the BOS token");
  cmd->add_flag("--no-parse-special", no_parse_special, "Treat special token texts as plain text");
  cmd->callback([] {
    auto file = GgufFile::open(resolve_model_argument(model));
    auto tok = Tokenizer::from_gguf(*file);
    std::vector<int32_t> tokens = tok->encode(prompt, !no_bos, !no_parse_special);
    if (ids) {
      fmt::print("[");
      for (size_t i = 0; i < tokens.size(); ++i) fmt::print("{}{}", i ? ", " : "", tokens[i]);
      fmt::print("]\n");
      return;
    }
    for (int32_t t : tokens) fmt::print("{:6d} -> '{}'\n", t, tok->token_to_piece(t));
  });
}

}  // namespace entropix
