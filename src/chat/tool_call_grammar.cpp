#include "chat/tool_call_grammar.h"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "grammar/gbnf_writer.h"
#include "grammar/json_schema_grammar.h"

namespace entropix {

namespace {

// The rules of every function's arguments under a prefix of its own, and one rule per
// call form: "<prefix>call ::= ... | ..." with `write_call(name, arguments_rule)` per function.
template <class WriteCall>
std::string calls_rules(const std::vector<ToolGrammarFunction>& functions, const std::string& prefix,
                        WriteCall write_call) {
  if (functions.empty()) throw Error("tool calls: a grammar needs at least one function");
  std::string rules, alternatives;
  for (size_t i = 0; i < functions.size(); ++i) {
    const std::string fn_prefix = fmt::format("{}f{}-", prefix, i);
    rules += gbnf_with_prefix(functions[i].arguments_gbnf, fn_prefix);
    alternatives += fmt::format("{}({})", i > 0 ? " | " : "", write_call(functions[i].name, fn_prefix + "root"));
  }
  return fmt::format("{}call ::= {}\n{}", prefix, alternatives, rules);
}

// `first` then, with `parallel`, more of it each after `separator`.
std::string one_or_more(const std::string& item, const std::string& separator, bool parallel) {
  if (!parallel) return item;
  return fmt::format("{} ({}{})*", item, separator.empty() ? "" : separator + " ", item);
}

// The literal with a space after (before), or nothing for no text.
std::string literal_or_nothing(const std::string& text) { return text.empty() ? "" : fmt::format("{} ", gbnf_literal(text)); }
std::string nothing_or_literal(const std::string& text) { return text.empty() ? "" : fmt::format(" {}", gbnf_literal(text)); }

// {"name": NAME, "KEY": ARGS} with the name and key fixed and ARGS the arguments rule;
// `spaced`: one optional space around each ':' and ',' (the model's template may write
// either form), else exactly `{"name": NAME, "KEY": ` as the generic form's instructions show.
std::string json_call(const std::string& name, const std::string& key, const std::string& args_rule, bool spaced) {
  const std::string quoted_name = nlohmann::json(name).dump();
  if (!spaced)
    return fmt::format("{} {} \"}}\"", gbnf_literal(fmt::format("{{\"name\": {}, \"{}\": ", quoted_name, key)),
                       args_rule);
  return fmt::format("\"{{\" \" \"? {} \" \"? \":\" \" \"? {} \" \"? \",\" \" \"? {} \" \"? \":\" \" \"? {} \" \"? \"}}\"",
                     gbnf_literal("\"name\""), gbnf_literal(quoted_name), gbnf_literal("\"" + key + "\""), args_rule);
}

}  // namespace

std::string tool_calls_gbnf(ToolCallFormat format, const std::vector<ToolGrammarFunction>& functions, bool parallel) {
  const ToolCallSyntax s = tool_call_syntax(format);
  const std::string rules = calls_rules(functions, "tc-", [&](const std::string& name, const std::string& args) {
    if (s.name_in_json) return json_call(name, s.arguments_key, args, true);
    return fmt::format("{} {}", gbnf_literal(name + s.name_close), args);
  });
  const std::string call = fmt::format("({}tc-call{})", literal_or_nothing(s.call_open),
                                       nothing_or_literal(s.call_close));
  const std::string separator = s.call_separator.empty() ? "" : gbnf_literal(s.call_separator);
  return fmt::format("root ::= {}{}{}\n{}", literal_or_nothing(s.block_open), one_or_more(call, separator, parallel),
                     nothing_or_literal(s.block_close), rules);
}

std::string generic_tool_gbnf(const std::vector<ToolGrammarFunction>& functions, bool parallel,
                              const std::string& response_gbnf) {
  const std::string rules = calls_rules(functions, "gc-", [](const std::string& name, const std::string& args) {
    return json_call(name, "arguments", args, false);
  });
  const std::string calls = fmt::format("{} {} {}", gbnf_literal("{\"tool_calls\": ["),
                                        one_or_more("gc-call", gbnf_literal(", "), parallel), gbnf_literal("]}"));
  if (response_gbnf.empty()) return fmt::format("root ::= {}\n{}", calls, rules);
  return fmt::format("root ::= {} | {} gr-root \"}}\"\n{}{}", calls, gbnf_literal("{\"response\": "), rules,
                     gbnf_with_prefix(response_gbnf, "gr-"));
}

std::string string_response_gbnf() { return json_schema_to_gbnf(nlohmann::ordered_json{{"type", "string"}}); }

std::string either_gbnf(const std::string& first, const std::string& second) {
  return fmt::format("root ::= e1-root | e2-root\n{}{}", gbnf_with_prefix(first, "e1-"), gbnf_with_prefix(second, "e2-"));
}

}  // namespace entropix
