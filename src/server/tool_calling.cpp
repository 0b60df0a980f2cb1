#include "server/tool_calling.h"

#include <algorithm>
#include <functional>

#include "tokenizer/tokenizer.h"

namespace entropix::server {

namespace {

std::vector<ToolGrammarFunction> callable(const ApiRequest& r) {
  if (r.tool_choice != ToolChoice::Named) return r.tool_functions;
  for (const ToolGrammarFunction& f : r.tool_functions)
    if (f.name == r.tool_choice_name) return {f};
  throw Error("tool_choice names '" + r.tool_choice_name + "', which is not among the tools");
}

ToolDemand demand_of(ToolChoice choice) {
  return choice == ToolChoice::Required ? ToolDemand::CallAny
         : choice == ToolChoice::Named  ? ToolDemand::CallNamed
                                        : ToolDemand::Choose;
}

}  // namespace

ToolPlan plan_tools(const ApiRequest& r, ToolCallFormat template_format) {
  ToolPlan plan;
  plan.grammar = r.grammar;
  plan.grammar_param = r.grammar_param;
  if (r.endpoint != Endpoint::ChatCompletions || r.tool_functions.empty() || r.tool_choice == ToolChoice::None)
    return plan;
  plan.read_calls = true;
  plan.format = template_format;
  plan.generic = template_format == ToolCallFormat::None;
  const std::vector<ToolGrammarFunction> functions = callable(r);
  // A named function is called once; otherwise parallel_tool_calls decides.
  const bool parallel = r.tool_choice != ToolChoice::Named && r.parallel_tool_calls;
  const bool forced = r.tool_choice == ToolChoice::Required || r.tool_choice == ToolChoice::Named;
  if (plan.generic) {
    const std::string reply = forced ? "" : r.grammar.empty() ? string_response_gbnf() : r.grammar;
    plan.grammar = generic_tool_gbnf(functions, parallel, reply);
  } else if (forced) {
    plan.grammar = tool_calls_gbnf(plan.format, functions, parallel);
  } else if (!r.grammar.empty()) {
    plan.grammar = either_gbnf(tool_calls_gbnf(plan.format, functions, parallel), r.grammar);
  }
  if (plan.grammar != r.grammar) plan.grammar_param = "tools";
  return plan;
}

std::string render_chat(const ChatFormat& format, const ApiRequest& r, const ToolPlan& plan,
                        const Tokenizer& tokenizer) {
  if (plan.read_calls && plan.generic)
    return format.render(generic_tool_messages(r.messages, r.tools, demand_of(r.tool_choice), r.tool_choice_name),
                         tokenizer);
  // Earlier calls and results, with no call syntax to write them in: the JSON form.
  const bool has_calls = std::any_of(r.messages.begin(), r.messages.end(), [](const ChatMessage& m) {
    return m.role == "tool" || (m.tool_calls.is_array() && !m.tool_calls.empty());
  });
  if (has_calls && format.tool_format() == ToolCallFormat::None)
    return format.render(generic_tool_messages(r.messages, nullptr, ToolDemand::Choose, ""), tokenizer);
  // tool_choice none: the tools are left out, so the model is not invited to call one.
  return format.render(r.messages, tokenizer, plan.read_calls ? r.tools : nlohmann::ordered_json());
}

ToolCallReader::ToolCallReader(const ToolPlan& plan, uint64_t id_seed)
    : reader_(plan.generic ? decltype(reader_)(std::in_place_type<GenericToolStream>, id_seed)
                           : decltype(reader_)(std::in_place_type<ToolCallStreamParser>, plan.format, id_seed)) {}

std::vector<ToolCallStreamEvent> ToolCallReader::feed(std::string_view piece) {
  return std::visit([&](auto& r) { return r.feed(piece); }, reader_);
}

std::vector<ToolCallStreamEvent> ToolCallReader::finish() {
  return std::visit([](auto& r) { return r.finish(); }, reader_);
}

int ToolCallReader::calls() const {
  return std::visit([](const auto& r) { return r.calls(); }, reader_);
}

ParsedToolCalls ToolCallReader::read(const ToolPlan& plan, uint64_t id_seed, std::string_view text) {
  ToolCallReader reader(plan, id_seed);
  std::vector<ToolCallStreamEvent> events = reader.feed(text);
  for (ToolCallStreamEvent& e : reader.finish()) events.push_back(std::move(e));
  return collect_tool_call_events(events);
}

uint64_t tool_call_id_seed(const std::string& response_id, int32_t choice) {
  return std::hash<std::string>{}(response_id) * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(choice);
}

}  // namespace entropix::server
