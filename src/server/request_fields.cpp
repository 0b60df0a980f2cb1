#include "server/request_fields.h"

#include <cmath>

#include "server/api.h"

namespace entropix::server {

using nlohmann::json;

[[noreturn]] void bad(const std::string& message, const std::string& code, const std::string& param) {
  throw ApiError(400, message, "invalid_request_error", code, param);
}

bool present(const json& j, const char* key) { return j.contains(key) && !j.at(key).is_null(); }

std::optional<bool> get_bool(const json& j, const char* key) {
  if (!present(j, key)) return std::nullopt;
  const json& v = j.at(key);
  if (!v.is_boolean()) bad(std::string("'") + key + "' must be a boolean, got " + v.type_name(), "invalid_type", key);
  return v.get<bool>();
}

std::optional<double> get_number(const json& j, const char* key, double lo, double hi) {
  if (!present(j, key)) return std::nullopt;
  const json& v = j.at(key);
  if (!v.is_number()) bad(std::string("'") + key + "' must be a number, got " + v.type_name(), "invalid_type", key);
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) {
    bad(std::string("'") + key + "' must be between " + json(lo).dump() + " and " + json(hi).dump() + ", got " +
        v.dump(), "invalid_value", key);
  }
  return x;
}

std::optional<int64_t> get_int(const json& j, const char* key, int64_t lo, int64_t hi) {
  if (!present(j, key)) return std::nullopt;
  const json& v = j.at(key);
  if (!v.is_number_integer()) bad(std::string("'") + key + "' must be an integer, got " + v.dump(), "invalid_type", key);
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)) {
    bad(std::string("'") + key + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
        ", got " + v.dump(), "invalid_value", key);
  }
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) {
    bad(std::string("'") + key + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
        ", got " + v.dump(), "invalid_value", key);
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
  if (!c.is_array()) bad("'" + where + "' must be a string or an array of text parts", "invalid_type");
  std::string text;
  for (const json& part : c) {
    // Compared as JSON: a "type" left out or not a string is this error, not a type_error naming no field.
    if (!part.is_object() || part.value("type", json()) != "text" || !part.contains("text"))
      bad("'" + where + "' parts must be {\"type\": \"text\", \"text\": ...}; other kinds are not supported");
    text += get_string(part.at("text"), where + "[].text");
  }
  return text;
}

std::vector<ChatMessage> parse_messages(const json& j, int32_t max_messages) {
  std::vector<ChatMessage> out;
  if (!j.contains("messages")) bad("'messages' is required", "missing_field");
  const json& ms = j.at("messages");
  if (!ms.is_array() || ms.empty()) bad("'messages' must be a non-empty array", "invalid_type");
  if (static_cast<int32_t>(ms.size()) > max_messages)
    bad("'messages' holds " + std::to_string(ms.size()) + " entries; at most " + std::to_string(max_messages));
  for (size_t i = 0; i < ms.size(); ++i) {
    const json& m = ms[i];
    if (!m.is_object()) bad("'messages[" + std::to_string(i) + "]' must be an object", "invalid_type");
    if (!m.contains("role")) bad("'messages[" + std::to_string(i) + "].role' is required", "missing_field");
    ChatMessage msg;
    msg.role = get_string(m.at("role"), "messages[" + std::to_string(i) + "].role");
    if (msg.role != "system" && msg.role != "developer" && msg.role != "user" && msg.role != "assistant" &&
        msg.role != "tool")
      bad("'messages[" + std::to_string(i) + "].role' must be system, developer, user, assistant or tool, got '" +
          msg.role + "'");
    if (msg.role == "developer") msg.role = "system";
    msg.content = message_content(m, i);
    msg.tool_calls = nullptr;
    if (m.contains("name") && !m.at("name").is_null()) msg.name = get_string(m.at("name"), "name");
    out.push_back(std::move(msg));
  }
  return out;
}

}  // namespace entropix::server
