#include "chat/tool_template_context.h"

#include <cctype>

#include "core/error.h"

namespace entropix {

namespace {

using ordered_json = nlohmann::ordered_json;

// JSON text that holds an object (or array, when `arrays`) as that value; other text stays text.
ordered_json json_value_of(const std::string& text, bool arrays) {
  ordered_json j = ordered_json::parse(text, nullptr, false);
  return j.is_object() || (arrays && j.is_array()) ? j : ordered_json(text);
}

ordered_json call_arguments(const ordered_json& args, ToolCallFormat format) {
  if (format == ToolCallFormat::DeepSeekR1)
    return args.is_string() ? args : ordered_json(args.dump(-1, ' ', false, ordered_json::error_handler_t::replace));
  return args.is_string() ? json_value_of(args.get<std::string>(), false) : args;
}

std::string call_id(const std::string& id, ToolCallFormat format) {
  return format == ToolCallFormat::Mistral ? mistral_tool_call_id(id) : id;
}

// One OpenAI tool call ({"id", "type", "function": {"name", "arguments"}}) as the template wants it.
ordered_json template_call(const ordered_json& call, ToolCallFormat format) {
  if (!call.is_object()) return call;
  ordered_json out = call;
  if (auto id = out.find("id"); id != out.end() && id->is_string()) *id = call_id(id->get<std::string>(), format);
  if (!out.contains("type")) out["type"] = "function";
  if (auto fn = out.find("function"); fn != out.end() && fn->is_object())
    if (auto args = fn->find("arguments"); args != fn->end()) *args = call_arguments(*args, format);
  return out;
}

ordered_json to_ordered(const nlohmann::json& j) {
  try {
    return ordered_json::parse(j.dump());
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("chat message tool_calls: expected valid JSON with UTF-8 strings: ") + e.what());
  }
}

}  // namespace

std::string mistral_tool_call_id(const std::string& id) {
  bool fits = id.size() == 9;
  for (char c : id) fits = fits && std::isalnum(static_cast<unsigned char>(c));
  if (fits) return id;
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : id) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  for (int i = 0; i < 9; ++i, h /= 62) out += kAlphabet[h % 62];
  return out;
}

ordered_json tool_template_context(const std::vector<ChatMessage>& messages, const ordered_json& tools,
                                   ToolCallFormat format, bool add_generation_prompt, const std::string& bos_token,
                                   const std::string& eos_token) {
  ordered_json msgs = ordered_json::array();
  for (const ChatMessage& m : messages) {
    ordered_json j = {{"role", m.role}, {"content", m.content}};
    const ordered_json calls = m.tool_calls.is_null() ? ordered_json() : to_ordered(m.tool_calls);
    const bool has_calls = calls.is_array() && !calls.empty();
    if (has_calls) {
      if (m.content.empty()) j["content"] = format == ToolCallFormat::DeepSeekR1 ? ordered_json() : ordered_json("");
      ordered_json converted = ordered_json::array();
      for (const ordered_json& call : calls) converted.push_back(template_call(call, format));
      j["tool_calls"] = std::move(converted);
    } else if (!calls.is_null()) {
      j["tool_calls"] = calls;  // not a list of calls: the template decides what that means
    }
    if (!m.name.empty()) j["name"] = m.name;
    if (!m.tool_call_id.empty()) j["tool_call_id"] = call_id(m.tool_call_id, format);
    if (m.role == "tool" && format == ToolCallFormat::Llama3Json) {
      j["content"] = json_value_of(m.content, true);
    }
    if (has_calls && format == ToolCallFormat::Llama3Json && j["tool_calls"].size() > 1) {
      for (const ordered_json& call : j["tool_calls"]) {
        ordered_json one = j;
        one["tool_calls"] = ordered_json::array({call});
        msgs.push_back(std::move(one));
      }
      continue;
    }
    msgs.push_back(std::move(j));
  }
  const bool no_tools = tools.is_null() || (tools.is_array() && tools.empty());
  return {{"messages", std::move(msgs)}, {"tools", no_tools ? ordered_json() : tools},
          {"documents", nullptr},        {"add_generation_prompt", add_generation_prompt},
          {"bos_token", bos_token},      {"eos_token", eos_token}};
}

}  // namespace entropix
