// `entropix tokenize -m FILE -p TEXT [--ids]`: tokens as llama.cpp's tokenize tool shows them.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <memory>

#include "cli/commands.h"
#include "cli/model_path.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace entropix {

namespace {

struct TokenizeOptions {
  std::string model;
  std::string prompt;
  bool ids = false;  // only the ids, as a list
  bool no_bos = false;
  bool no_parse_special = false;
};

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Show the tokens of a text");
  auto opts = std::make_shared<TokenizeOptions>();
  cmd->add_option("-m,--model", opts->model, "GGUF file or cached model name")->required();
  cmd->add_option("-p,--prompt", opts->prompt, "Text to tokenize")->required();
  cmd->add_flag("--ids", opts->ids, "Print only the ids, as a list");
  cmd->add_flag("--no-bos", opts->no_bos, "Do not add the BOS token");
  cmd->add_flag("--no-parse-special", opts->no_parse_special, "Treat special token texts as plain text");
  cmd->callback([opts] {
    const TokenizeOptions& o = *opts;
    auto file = GgufFile::open(resolve_model_argument(o.model));
    auto tok = Tokenizer::from_gguf(*file);
    std::vector<int32_t> tokens = tok->encode(o.prompt, !o.no_bos, !o.no_parse_special);
    if (o.ids) {
      fmt::print("[");
      for (size_t i = 0; i < tokens.size(); ++i) fmt::print("{}{}", i ? ", " : "", tokens[i]);
      fmt::print("]\n");
      return;
    }
    for (int32_t t : tokens) fmt::print("{:6d} -> '{}'\n", t, tok->token_to_piece(t));
  });
}

}  // namespace entropix
