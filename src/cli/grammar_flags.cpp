#include "cli/grammar_flags.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_text.h"
#include "grammar/constraint_cache.h"
#include "grammar/json_schema_grammar.h"

namespace entropix {

void add_grammar_flags(CLI::App& cmd, GrammarFlags& flags) {
  auto* gbnf = cmd.add_option("--grammar", flags.grammar_file,
                              "Generate only text this GBNF grammar (llama.cpp's syntax) allows");
  auto* schema = cmd.add_option("--json-schema", flags.json_schema_file, "Generate only JSON that this JSON Schema allows");
  gbnf->excludes(schema);
}

std::shared_ptr<const grammar::TokenConstraint> constraint_from_flags(const GrammarFlags& flags,
                                                                      const Tokenizer& tokenizer) {
  if (!flags.grammar_file.empty())
    return grammar::compile_grammar(read_file(flags.grammar_file, "grammar file"), tokenizer, "the --grammar file");
  if (flags.json_schema_file.empty()) return nullptr;
  const std::string text = read_file(flags.json_schema_file, "JSON schema file");
  const auto schema = nlohmann::ordered_json::parse(text, nullptr, false);
  if (schema.is_discarded()) throw Error("the --json-schema file " + flags.json_schema_file + " is not valid JSON");
  try {
    return grammar::compile_grammar(json_schema_to_gbnf(schema), tokenizer, "the --json-schema file");
  } catch (const JsonSchemaError& e) {
    throw Error(std::string("the --json-schema file: ") + e.what());
  }
}

}  // namespace entropix
