#include "chat/chat_template.h"

#include <cstdio>
#include <ctime>
#include <optional>

#include "chat/jinja_interpreter.h"
#include "chat/jinja_parser.h"
#include "core/error.h"

namespace entropix {

namespace {

// "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS" (a space also separates date and time), UTC.
std::tm parse_now(const std::string& text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char sep = 0, end = 0;
  const int n = std::sscanf(text.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%c", &y, &mo, &d, &sep, &h, &mi, &s, &end);
  const bool date_only = n == 3;
  const bool date_time = n == 7 && (sep == 'T' || sep == ' ');
  if ((!date_only && !date_time) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
    throw Error("chat template context: expected \"now\" as YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, found \"" + text + "\"");
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const std::time_t t = timegm(&tm);  // also fills weekday and day of the year
  std::tm out{};
  gmtime_r(&t, &out);
  if (out.tm_mday != d) throw Error("chat template context: \"now\" names a day that does not exist: \"" + text + "\"");
  return out;
}

// Runs f; an Error it throws names the template's origin, when there is one.
template <typename F>
auto naming(const std::string& origin, F&& f) {
  if (origin.empty()) return f();
  try {
    return f();
  } catch (const Error& e) {
    throw Error(origin + ": " + e.what());
  }
}

}  // namespace

ChatTemplate::ChatTemplate(std::string source, std::string origin)
    : source_(std::move(source)), origin_(std::move(origin)) {
  body_ = naming(origin_, [&] {
    auto body = std::make_shared<jinja::Body>(jinja::parse_template(source_));
    jinja::check_names(*body);
    return std::shared_ptr<const jinja::Body>(std::move(body));
  });
}

std::string ChatTemplate::render(const nlohmann::json& context) const {
  nlohmann::ordered_json ordered;
  try {
    ordered = nlohmann::ordered_json::parse(context.dump());
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("chat template context: expected valid JSON with UTF-8 strings: ") + e.what());
  }
  return render(ordered);
}

std::string ChatTemplate::render(const nlohmann::ordered_json& context) const {
  if (!context.is_object()) throw Error("chat template context: expected a JSON object, found " + std::string(context.type_name()));
  return naming(origin_, [&] {
    std::optional<std::tm> now;
    if (auto it = context.find("now"); it != context.end() && it->is_string()) now = parse_now(it->get<std::string>());
    return jinja::render(*body_, jinja::Value::from_json(context), now);
  });
}

std::string ChatTemplate::apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                const std::string& bos_token, const std::string& eos_token) const {
  nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
  for (const ChatMessage& m : messages) {
    nlohmann::ordered_json j = {{"role", m.role}, {"content", m.content}};
    if (!m.tool_calls.is_null()) {
      try {
        j["tool_calls"] = nlohmann::ordered_json::parse(m.tool_calls.dump());
      } catch (const nlohmann::json::exception& e) {
        throw Error(std::string("chat message tool_calls: expected valid JSON with UTF-8 strings: ") + e.what());
      }
    }
    if (!m.name.empty()) j["name"] = m.name;
    if (!m.tool_call_id.empty()) j["tool_call_id"] = m.tool_call_id;
    msgs.push_back(std::move(j));
  }
  nlohmann::ordered_json context = {{"messages", std::move(msgs)},
                                    {"tools", nullptr},
                                    {"documents", nullptr},
                                    {"add_generation_prompt", add_generation_prompt},
                                    {"bos_token", bos_token},
                                    {"eos_token", eos_token}};
  return render(context);
}

}  // namespace entropix
