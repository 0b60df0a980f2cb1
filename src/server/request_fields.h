// Typed fields of a JSON request body, each checked on the way out: a wrong type
// or a value out of range is an ApiError 400 naming the field. Shared by the
// OpenAI routes (api.cpp) and the explorer's routes.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/chat_template.h"

namespace entropix::server {

// Throws ApiError 400 invalid_request_error with this code and field.
[[noreturn]] void bad(const std::string& message, const std::string& code = "invalid_value",
                      const std::string& param = "");
// Deeper request bodies are refused before they are parsed: no request needs more,
// and code that walks a value recursively (serialising it, say) stays bounded.
inline constexpr size_t kMaxJsonDepth = 64;
// The deepest nesting of arrays and objects in JSON text (brackets inside strings
// do not count); the text need not be valid.
size_t json_nesting_depth(std::string_view text);
// `body` as a JSON object; 400 (invalid_json) when it is not one, is not JSON or
// nests deeper than kMaxJsonDepth. An empty body is {} when empty_is_object; JSON that
// is not an object gets not_object_code.
nlohmann::json parse_json_object(const std::string& body, bool empty_is_object = false,
                                 const std::string& not_object_code = "invalid_json");
// A value as an error message may quote it: short and flat. Arrays and objects
// are named with their size, never serialised; long strings are cut.
std::string quote_value(const nlohmann::json& v);
// The key is there and not null.
bool present(const nlohmann::json& j, const char* key);
// nullopt when absent or null. Errors name the field `name` (default: the key), for
// a key inside another object ("stream_options.include_usage").
std::optional<bool> get_bool(const nlohmann::json& j, const char* key, const char* name = nullptr);
std::optional<double> get_number(const nlohmann::json& j, const char* key, double lo, double hi);
std::optional<int64_t> get_int(const nlohmann::json& j, const char* key, int64_t lo, int64_t hi);
// `what` names the value in the error.
std::string get_string(const nlohmann::json& v, const std::string& what);
// j["messages"]: a non-empty array of at most max_messages chat messages (roles
// system, developer (read as system), user, assistant, tool; content a string or text parts).
std::vector<ChatMessage> parse_messages(const nlohmann::json& j, int32_t max_messages);

}  // namespace entropix::server
