// `entropix grammar --json-schema FILE|-` / `--json-object`: the GBNF grammar the
// server would constrain structured output with, printed for tests and users.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file_text.h"
#include "grammar/json_schema_grammar.h"

namespace entropix {

namespace {

struct GrammarOptions {
  std::string json_schema;  // file, or "-" for stdin
  bool json_object = false;
  bool strict = false;
  bool no_space = false;
};

}  // namespace

void add_grammar_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("grammar", "Print the GBNF grammar of a JSON Schema (structured output)");
  auto opts = std::make_shared<GrammarOptions>();
  auto* schema = cmd->add_option("--json-schema", opts->json_schema, "JSON Schema file, or - for stdin");
  auto* object = cmd->add_flag("--json-object", opts->json_object, "The grammar of any JSON object (response_format json_object)");
  schema->excludes(object);
  cmd->add_flag("--strict", opts->strict, "OpenAI strict mode: additionalProperties false and every property required");
  cmd->add_flag("--no-space", opts->no_space, "No optional space after ':' and ','");
  cmd->callback([opts] {
    const GrammarOptions& o = *opts;
    JsonSchemaOptions options;
    options.strict = o.strict;
    options.space_after_separators = !o.no_space;
    if (o.json_object) {
      std::fputs(json_object_gbnf(options).c_str(), stdout);
      return;
    }
    if (o.json_schema.empty()) throw Error("grammar: give --json-schema FILE (or -) or --json-object");
    const std::string path = o.json_schema == "-" ? "/dev/stdin" : o.json_schema;
    const std::string text = read_file(path, "JSON Schema");
    nlohmann::ordered_json parsed;
    try {
      parsed = nlohmann::ordered_json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      throw Error("JSON Schema " + o.json_schema + " is not JSON: " + e.what());
    }
    std::fputs(json_schema_to_gbnf(parsed, options).c_str(), stdout);
  });
}

}  // namespace entropix
