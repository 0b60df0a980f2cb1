#include "server/request_fields.h"

#include <algorithm>
#include <cmath>

#include "server/api.h"

namespace entropix::server {

using nlohmann::json;

[[noreturn]] void bad(const std::string& message, const std::string& code, const std::string& param) {
  throw ApiError(400, message, "invalid_request_error", code, param);
}

std::string quote_value(const json& v) {
  constexpr size_t kMaxQuoted = 40;
  switch (v.type()) {
    case json::value_t::array:
      return "an array of " + std::to_string(v.size()) + (v.size() == 1 ? " element" : " elements");
    case json::value_t::object:
      return "an object of " + std::to_string(v.size()) + (v.size() == 1 ? " key" : " keys");
    case json::value_t::string: {
      const std::string& s = v.get_ref<const std::string&>();
      if (s.size() <= kMaxQuoted) return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
      size_t cut = kMaxQuoted;
      while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
      return json(s.substr(0, cut)).dump(-1, ' ', false, json::error_handler_t::replace) + "... (" +
             std::to_string(s.size()) + " bytes)";
    }
    default:
      return v.dump();  // a number, a boolean or null: short and flat
  }
}

size_t json_nesting_depth(std::string_view text) {
  size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

json parse_json_object(const std::string& body, bool empty_is_object, const std::string& not_object_code) {
  if (body.empty() && empty_is_object) return json::object();
  if (json_nesting_depth(body) > kMaxJsonDepth)
    bad("the body nests arrays and objects more than " + std::to_string(kMaxJsonDepth) + " deep", "invalid_json");
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
    // The parser quotes the token at fault whole (a number of 50,000 digits, say): cut it.
    constexpr size_t kMaxParserMessage = 160;
    std::string what = e.what();
    if (what.size() > kMaxParserMessage) {
      size_t cut = kMaxParserMessage;
      while (cut > 0 && (static_cast<unsigned char>(what[cut]) & 0xC0) == 0x80) --cut;
      what = what.substr(0, cut) + "...";
    }
    bad("the body is not valid JSON: " + what, "invalid_json");
  }
  if (!j.is_object()) bad("the body must be a JSON object", not_object_code);
  return j;
}

bool present(const json& j, const char* key) { return j.contains(key) && !j.at(key).is_null(); }

std::optional<bool> get_bool(const json& j, const char* key, const char* name) {
  if (!present(j, key)) return std::nullopt;
  const json& v = j.at(key);
  const std::string field = name ? name : key;
  if (!v.is_boolean()) bad("'" + field + "' must be a boolean, got " + v.type_name(), "invalid_type", field);
  return v.get<bool>();
}

std::optional<double> get_number(const json& j, const char* key, double lo, double hi) {
  if (!present(j, key)) return std::nullopt;
  const json& v = j.at(key);
  if (!v.is_number()) bad(std::string("'") + key + "' must be a number, got " + v.type_name(), "invalid_type", key);
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) {
    bad(std::string("'") + key + "' must be between " + json(lo).dump() + " and " + json(hi).dump() + ", got " +
        quote_value(v), "invalid_value", key);
  }
  return x;
}

std::optional<int64_t> get_int(const json& j, const char* key, int64_t lo, int64_t hi) {
  if (!present(j, key)) return std::nullopt;
  const json& v = j.at(key);
  if (!v.is_number_integer()) bad(std::string("'") + key + "' must be an integer, got " + quote_value(v), "invalid_type", key);
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)) {
    bad(std::string("'") + key + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
        ", got " + quote_value(v), "invalid_value", key);
  }
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) {
    bad(std::string("'") + key + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
        ", got " + quote_value(v), "invalid_value", key);
  }
  return x;
}

std::string get_string(const json& v, const std::string& what) {
  if (!v.is_string()) bad("'" + what + "' must be a string, got " + v.type_name(), "invalid_type", what);
  return v.get<std::string>();
}

std::string message_content(const json& m, size_t i) {
  const std::string where = "messages[" + std::to_string(i) + "].content";
  if (!m.contains("content") || m.at("content").is_null()) return "";
  const json& c = m.at("content");
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) bad("'" + where + "' must be a string or an array of text parts", "invalid_type", where);
  std::string text;
  for (const json& part : c) {
    // Compared as JSON: a "type" left out or not a string is this error, not a type_error naming no field.
    if (!part.is_object() || part.value("type", json()) != "text" || !part.contains("text"))
      bad("'" + where + "' parts must be {\"type\": \"text\", \"text\": ...}; other kinds are not supported",
          "invalid_value", where);
    text += get_string(part.at("text"), where + "[].text");
  }
  return text;
}

namespace {

// An assistant message's tool_calls: [{"id", "type": "function", "function": {"name", "arguments"}}],
// arguments as JSON text (as OpenAI sends them back).
json message_tool_calls(const json& calls, const std::string& at) {
  if (!calls.is_array()) bad("'" + at + "' must be an array of tool calls", "invalid_type", at);
  for (size_t k = 0; k < calls.size(); ++k) {
    const json& c = calls[k];
    const std::string ck = at + "[" + std::to_string(k) + "]";
    if (!c.is_object()) bad("'" + ck + "' must be an object", "invalid_type", ck);
    if (c.contains("id") && !c.at("id").is_null()) get_string(c.at("id"), ck + ".id");
    if (c.contains("type") && c.at("type") != "function")
      bad("'" + ck + ".type' must be \"function\"", "invalid_value", ck + ".type");
    if (!c.contains("function") || !c.at("function").is_object())
      bad("'" + ck + ".function' must be an object with name and arguments", "invalid_type", ck + ".function");
    const json& fn = c.at("function");
    if (!fn.contains("name")) bad("'" + ck + ".function.name' is required", "missing_field", ck + ".function.name");
    get_string(fn.at("name"), ck + ".function.name");
    if (fn.contains("arguments") && !fn.at("arguments").is_string() && !fn.at("arguments").is_object())
      bad("'" + ck + ".function.arguments' must be a string of JSON", "invalid_type", ck + ".function.arguments");
  }
  return calls;
}

}  // namespace

std::vector<ChatMessage> parse_messages(const json& j, int32_t max_messages) {
  std::vector<ChatMessage> out;
  if (!j.contains("messages")) bad("'messages' is required", "missing_field", "messages");
  const json& ms = j.at("messages");
  if (!ms.is_array() || ms.empty()) bad("'messages' must be a non-empty array", "invalid_type", "messages");
  if (static_cast<int32_t>(ms.size()) > max_messages)
    bad("'messages' holds " + std::to_string(ms.size()) + " entries; at most " + std::to_string(max_messages),
        "invalid_value", "messages");
  for (size_t i = 0; i < ms.size(); ++i) {
    const json& m = ms[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) bad("'" + at + "' must be an object", "invalid_type", at);
    if (!m.contains("role")) bad("'" + at + ".role' is required", "missing_field", at + ".role");
    ChatMessage msg;
    msg.role = get_string(m.at("role"), at + ".role");
    if (msg.role != "system" && msg.role != "developer" && msg.role != "user" && msg.role != "assistant" &&
        msg.role != "tool")
      bad("'" + at + ".role' must be system, developer, user, assistant or tool, got '" + msg.role + "'",
          "invalid_value", at + ".role");
    if (msg.role == "developer") msg.role = "system";
    msg.content = message_content(m, i);
    msg.tool_calls = nullptr;
    if (m.contains("name") && !m.at("name").is_null()) msg.name = get_string(m.at("name"), at + ".name");
    if (msg.role == "assistant" && m.contains("tool_calls") && !m.at("tool_calls").is_null())
      msg.tool_calls = message_tool_calls(m.at("tool_calls"), at + ".tool_calls");
    if (msg.role == "tool" && m.contains("tool_call_id") && !m.at("tool_call_id").is_null())
      msg.tool_call_id = get_string(m.at("tool_call_id"), at + ".tool_call_id");
    out.push_back(std::move(msg));
  }
  return out;
}

}  // namespace entropix::server
