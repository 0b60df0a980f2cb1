// Typed fields of a JSON request body, each checked on the way out: a wrong type
// or a value out of range is an ApiError 400 naming the field. Shared by the
// OpenAI routes (api.cpp) and the explorer's routes.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "chat/chat_template.h"

namespace entropix::server {

// Throws ApiError 400 invalid_request_error with this code and field.
[[noreturn]] void bad(const std::string& message, const std::string& code = "invalid_value",
                      const std::string& param = "");
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
