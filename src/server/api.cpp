#include "server/api.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "decoding/strategy.h"
#include "entropix/profile.h"
#include "entropix/token_sampler.h"
#include "grammar/json_schema_grammar.h"
#include "server/json_field_confidence.h"
#include "server/request_fields.h"

namespace entropix::server {

using nlohmann::json;

json error_body(const std::string& message, const std::string& type, const std::string& code,
                const std::string& param) {
  json e = {{"message", message}, {"type", type}};
  e["param"] = param.empty() ? json(nullptr) : json(param);
  e["code"] = code.empty() ? json(nullptr) : json(code);
  return json{{"error", e}};
}

namespace {

std::vector<std::string> parse_stop(const json& v, const RequestLimits& limits) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    for (const json& s : v) {
      if (!s.is_string()) bad(std::string("'stop' strings must be strings, got ") + s.type_name(), "invalid_type", "stop");
      out.push_back(s.get<std::string>());
    }
  } else {
    bad(std::string("'stop' must be a string or an array of strings, got ") + v.type_name(), "invalid_type", "stop");
  }
  if (static_cast<int32_t>(out.size()) > limits.max_stop)
    bad("'stop' holds " + std::to_string(out.size()) + " strings; at most " + std::to_string(limits.max_stop),
        "invalid_value", "stop");
  for (const std::string& s : out) {
    if (s.empty()) bad("'stop' strings must not be empty", "invalid_value", "stop");
    if (static_cast<int32_t>(s.size()) > limits.max_stop_bytes)
      bad("a 'stop' string has " + std::to_string(s.size()) + " bytes; at most " + std::to_string(limits.max_stop_bytes),
          "invalid_value", "stop");
  }
  return out;
}

// Token ids of a prompt given as an array (the vocabulary is checked once the model is known).
std::vector<int32_t> token_ids(const json& a, const std::string& where) {
  std::vector<int32_t> ids;
  for (const json& t : a) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > INT32_MAX)
      bad("'" + where + "' must hold token ids (integers from 0), got " + quote_value(t), "invalid_value", "prompt");
    ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  return ids;
}

// OpenAI's four shapes: a string, an array of strings, an array of token ids, an
// array of arrays of token ids. Errors name "prompt", as OpenAI's do.
void parse_prompt(const json& j, ApiRequest& r, const RequestLimits& limits) {
  const std::string shapes =
      "'prompt' must be a string, an array of strings, an array of token ids or an array of arrays of token ids";
  if (!present(j, "prompt")) bad("'prompt' is required", "missing_field", "prompt");
  const json& p = j.at("prompt");
  if (p.is_string()) {
    r.prompts.push_back({p.get<std::string>(), std::nullopt});
    return;
  }
  if (!p.is_array()) bad(shapes + ", got " + quote_value(p), "invalid_type", "prompt");
  if (p.empty()) bad("'prompt' is an empty array", "invalid_value", "prompt");
  if (p[0].is_number()) {  // one prompt of token ids
    r.prompts.push_back({"", token_ids(p, "prompt")});
    return;
  }
  if (p.size() > static_cast<size_t>(limits.max_prompts))
    bad("'prompt' holds " + std::to_string(p.size()) + " prompts; at most " + std::to_string(limits.max_prompts),
        "invalid_value", "prompt");
  const bool strings = p[0].is_string();  // one shape throughout, as OpenAI's types allow
  for (size_t i = 0; i < p.size(); ++i) {
    const std::string at = "prompt[" + std::to_string(i) + "]";
    const json& e = p[i];
    if (strings && e.is_string()) r.prompts.push_back({e.get<std::string>(), std::nullopt});
    else if (!strings && e.is_array() && !e.empty()) r.prompts.push_back({"", token_ids(e, at)});
    else bad(shapes + "; '" + at + "' is " + quote_value(e), "invalid_type", "prompt");
  }
}

// The request field a knob's error from resolve_decode_options concerns: its
// messages name the profile's copy of the knob ("base.top_p must be in (0, 1]").
std::string knob_field(const std::string& message) {
  for (const char* knob : {"temperature", "top_p", "top_k", "min_p"})
    if (message.find(std::string("base.") + knob) != std::string::npos) return knob;
  return "";
}

// {"token id": bias, ...}; the ids are checked against the vocabulary once the
// model is known (check_request_vocabulary).
LogitBias parse_logit_bias(const json& v, const RequestLimits& limits) {
  const char* param = "logit_bias";
  if (!v.is_object())
    bad(std::string("'logit_bias' must be an object mapping token ids to biases, got ") + v.type_name(),
        "invalid_type", param);
  if (v.size() > static_cast<size_t>(limits.max_logit_bias))
    bad("'logit_bias' holds " + std::to_string(v.size()) + " tokens; at most " + std::to_string(limits.max_logit_bias),
        "invalid_value", param);
  LogitBias out;
  for (const auto& [key, bias] : v.items()) {
    const bool digits = !key.empty() && key.size() <= 10 &&
                        std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoll(key) > INT32_MAX)
      bad("'logit_bias' keys must be token ids (decimal integers), got \"" + key + "\"", "invalid_value", param);
    if (!bias.is_number() || !std::isfinite(bias.get<double>()) || std::fabs(bias.get<double>()) > kMaxLogitBias)
      bad("'logit_bias' values must be numbers in [-100, 100], got " + bias.dump() + " for token " + key,
          "invalid_value", param);
    out.push_back({static_cast<int32_t>(std::stoll(key)), static_cast<float>(bias.get<double>())});
  }
  return out;
}

// The legacy function-calling fields: refused, not silently ignored (a client would
// take a plain text answer for a considered one). Their "nothing" values are accepted.
void refuse_legacy_functions(const json& j) {
  const auto refuse = [](const std::string& field) {
    bad("'" + field + "' is deprecated and not supported: declare the functions in 'tools' and choose with 'tool_choice'",
        "unsupported_parameter", field);
  };
  if (present(j, "functions") && !(j.at("functions").is_array() && j.at("functions").empty())) refuse("functions");
  if (present(j, "function_call") && j.at("function_call") != "none") refuse("function_call");
}

bool valid_function_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// tools, tool_choice and parallel_tool_calls (chat). `ordered` is the body with the
// client's key order: the tools go to the template as written, and each function's
// parameters become the grammar of its arguments (properties in declaration order).
void parse_tools(const json& j, const nlohmann::ordered_json& ordered, ApiRequest& r, const RequestLimits& limits) {
  const bool has_tools = present(j, "tools") && !(j.at("tools").is_array() && j.at("tools").empty());
  if (has_tools) {
    if (r.endpoint != Endpoint::ChatCompletions)
      bad("'tools' is a chat completions field", "unsupported_parameter", "tools");
    const json& tools = j.at("tools");
    if (!tools.is_array()) bad("'tools' must be an array of {\"type\": \"function\", \"function\": {...}}", "invalid_type", "tools");
    if (tools.size() > static_cast<size_t>(limits.max_tools))
      bad("'tools' holds " + std::to_string(tools.size()) + " functions; at most " + std::to_string(limits.max_tools),
          "invalid_value", "tools");
    r.tools = nlohmann::ordered_json::array();
    for (size_t i = 0; i < tools.size(); ++i) {
      const std::string at = "tools[" + std::to_string(i) + "]";
      const json& t = tools[i];
      if (!t.is_object()) bad("'" + at + "' must be an object", "invalid_type", at);
      if (!t.contains("type") || t.at("type") != "function")
        bad("'" + at + ".type' must be \"function\"", "invalid_value", at + ".type");
      if (!t.contains("function") || !t.at("function").is_object())
        bad("'" + at + ".function' must be an object with a name", "invalid_type", at + ".function");
      const json& fn = t.at("function");
      if (!fn.contains("name")) bad("'" + at + ".function.name' is required", "missing_field", at + ".function.name");
      const std::string name = get_string(fn.at("name"), at + ".function.name");
      if (!valid_function_name(name))
        bad("'" + at + ".function.name' must be 1 to 64 letters, digits, '_' or '-', got " + quote_value(fn.at("name")),
            "invalid_value", at + ".function.name");
      for (const ToolGrammarFunction& earlier : r.tool_functions)
        if (earlier.name == name)
          bad("'" + at + ".function.name': two functions are named '" + name + "'", "invalid_value", at + ".function.name");
      if (fn.contains("description") && !fn.at("description").is_null())
        get_string(fn.at("description"), at + ".function.description");
      JsonSchemaOptions options;
      if (fn.contains("strict") && !fn.at("strict").is_null()) {
        if (!fn.at("strict").is_boolean()) bad("'" + at + ".function.strict' must be a boolean", "invalid_type", at + ".function.strict");
        options.strict = fn.at("strict").get<bool>();
      }
      nlohmann::ordered_json tool = ordered.at("tools").at(i);
      nlohmann::ordered_json& params = tool.at("function")["parameters"];
      if (params.is_null()) params = {{"type", "object"}, {"properties", nlohmann::ordered_json::object()}};
      if (!params.is_object())
        bad("'" + at + ".function.parameters' must be a JSON Schema object", "invalid_type", at + ".function.parameters");
      if (!params.contains("type")) params["type"] = "object";  // arguments are always an object
      if (params.at("type") != "object")
        bad("'" + at + ".function.parameters' must describe an object (type \"object\")", "invalid_value",
            at + ".function.parameters.type");
      try {
        r.tool_functions.push_back({name, json_schema_to_gbnf(params, options)});
      } catch (const JsonSchemaError& e) {
        bad("'" + at + ".function.parameters': " + e.what(), "unsupported_schema", at + ".function.parameters");
      }
      r.tools.push_back(std::move(tool));
    }
    // The grammar of the calls holds every function's; it must stay under one grammar's limit.
    size_t grammar_bytes = 0;
    for (const ToolGrammarFunction& f : r.tool_functions) grammar_bytes += f.arguments_gbnf.size();
    if (grammar_bytes > JsonSchemaLimits{}.max_grammar_bytes)
      bad("'tools': the functions' parameters take a grammar of " + std::to_string(grammar_bytes) +
              " bytes together; the limit is " + std::to_string(JsonSchemaLimits{}.max_grammar_bytes),
          "invalid_value", "tools");
    r.tool_choice = ToolChoice::Auto;
  }
  if (present(j, "tool_choice")) {
    const json& c = j.at("tool_choice");
    const char* param = "tool_choice";
    if (c.is_string()) {
      const std::string mode = c.get<std::string>();
      if (mode == "none") r.tool_choice = ToolChoice::None;
      else if (mode == "auto" || mode == "required") r.tool_choice = mode == "auto" ? ToolChoice::Auto : ToolChoice::Required;
      else bad("'tool_choice' must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}, got " + quote_value(c), "invalid_value", param);
    } else if (c.is_object()) {
      if (c.value("type", json()) != "function" || !c.contains("function") || !c.at("function").is_object() ||
          !c.at("function").contains("name"))
        bad("'tool_choice' as an object must be {\"type\": \"function\", \"function\": {\"name\": ...}}", "invalid_value", param);
      r.tool_choice = ToolChoice::Named;
      r.tool_choice_name = get_string(c.at("function").at("name"), "tool_choice.function.name");
      const bool declared = std::any_of(r.tool_functions.begin(), r.tool_functions.end(),
                                        [&](const ToolGrammarFunction& f) { return f.name == r.tool_choice_name; });
      if (has_tools && !declared)
        bad("'tool_choice' names the function '" + r.tool_choice_name + "', which is not in 'tools'", "invalid_value", param);
    } else {
      bad("'tool_choice' must be a string or an object, got " + quote_value(c), "invalid_type", param);
    }
    if (!has_tools && r.tool_choice == ToolChoice::Auto) r.tool_choice = ToolChoice::None;  // nothing to call
    if (!has_tools && r.tool_choice != ToolChoice::None)
      bad("'tool_choice' is only allowed when 'tools' are specified", "invalid_value", param);
  }
  if (auto parallel = get_bool(j, "parallel_tool_calls")) r.parallel_tool_calls = *parallel;
}

// response_format (text, json_object or json_schema) and the grammar field (GBNF, as
// llama.cpp's server takes it) into r.grammar. The schema is read again from the body
// with its keys in the client's order: properties are generated in declaration order.
void parse_structured_output(const json& j, const nlohmann::ordered_json& ordered, ApiRequest& r) {
  if (present(j, "response_format")) {
    const char* param = "response_format";
    const json& f = j.at(param);
    if (!f.is_object() || !f.contains("type") || !f.at("type").is_string())
      bad("'response_format' must be an object with a 'type': text, json_object or json_schema", "invalid_type", param);
    const std::string type = f.at("type").get<std::string>();
    if (type == "json_object") {
      r.grammar = json_object_gbnf();
      r.json_output = true;
    } else if (type == "json_schema") {
      const char* sparam = "response_format.json_schema";
      if (!f.contains("json_schema") || !f.at("json_schema").is_object())
        bad("'response_format.json_schema' must be an object holding the 'schema'", "invalid_type", sparam);
      const json& js = f.at("json_schema");
      if (js.contains("name") && !js.at("name").is_string())
        bad("'response_format.json_schema.name' must be a string", "invalid_type", "response_format.json_schema.name");
      JsonSchemaOptions options;
      if (js.contains("strict") && !js.at("strict").is_null()) {
        if (!js.at("strict").is_boolean())
          bad("'response_format.json_schema.strict' must be a boolean", "invalid_type", "response_format.json_schema.strict");
        options.strict = js.at("strict").get<bool>();
      }
      if (!js.contains("schema") || !(js.at("schema").is_object() || js.at("schema").is_boolean()))
        bad("'response_format.json_schema.schema' must be a JSON Schema (an object)", "invalid_type",
            "response_format.json_schema.schema");
      try {
        r.grammar = json_schema_to_gbnf(ordered.at("response_format").at("json_schema").at("schema"), options);
      } catch (const JsonSchemaError& e) {
        bad(std::string("'response_format.json_schema.schema': ") + e.what(), "unsupported_schema",
            "response_format.json_schema.schema");
      }
      r.json_output = true;
    } else if (type != "text") {
      bad("'response_format.type' must be text, json_object or json_schema, got " + quote_value(f.at("type")),
          "invalid_value", "response_format.type");
    }
    if (!r.grammar.empty()) r.grammar_param = param;
  }
  if (present(j, "grammar")) {
    if (!r.grammar.empty())
      bad("give at most one of 'grammar' and a JSON 'response_format'", "invalid_value", "grammar");
    r.grammar = get_string(j.at("grammar"), "grammar");
    r.grammar_param = "grammar";
    if (r.grammar.empty()) bad("'grammar' is empty", "invalid_value", "grammar");
  }
}

// entropix.strategy: a decoding strategy's name (decoding/strategy.h) with its count
// within the limit. A strategy gives one answer to one prompt, as text.
std::string parse_request_strategy(const json& v, const ApiRequest& r, const RequestLimits& limits) {
  const char* param = "entropix.strategy";
  const std::string spec = get_string(v, param);
  StrategyOptions o;
  try {
    o = parse_strategy(spec, r.decode);
  } catch (const Error& e) {
    bad(std::string("'entropix.strategy': ") + e.what(), "invalid_value", param);
  }
  const int32_t paths = o.kind == StrategyKind::CotDecoding   ? o.k
                        : o.kind == StrategyKind::EntropyFork ? o.fork.k
                        : o.kind == StrategyKind::Single      ? 1
                                                              : o.n;
  if (paths > limits.max_strategy_paths)
    bad("'entropix.strategy' \"" + spec + "\" decodes " + std::to_string(paths) + " paths; this server decodes at most " +
            std::to_string(limits.max_strategy_paths) + " for one request",
        "invalid_value", param);
  return spec;
}

// What a strategy's one text answer cannot be combined with.
void check_strategy_request(const ApiRequest& r) {
  if (r.strategy.empty()) return;
  auto refuse = [&](const std::string& field, const std::string& why) {
    bad("'entropix.strategy' gives one text answer to one prompt: " + why, "invalid_value", field);
  };
  if (r.n > 1) refuse("n", "'n' must be 1");
  if (r.prompts.size() > 1) refuse("prompt", "'prompt' must be one prompt");
  if (r.logprobs) refuse("logprobs", "'logprobs' is not reported for it");
  if (r.echo) refuse("echo", "'echo' is not supported with it");
  if (!r.grammar.empty()) refuse(r.grammar_param, "'" + r.grammar_param + "' is not supported with it");
  if (!r.tools.is_null()) refuse("tools", "'tools' are not supported with it");
}

}  // namespace

void check_model(const std::string& model, const std::vector<std::string>& names) {
  if (model.empty() || std::find(names.begin(), names.end(), model) != names.end()) return;
  throw ApiError(404, "The model `" + model + "` does not exist", "invalid_request_error", "model_not_found", "model");
}

void check_request_vocabulary(const ApiRequest& request, int32_t n_vocab) {
  for (const TokenBias& b : request.decode.logit_bias) {
    if (b.token >= n_vocab)
      bad("'logit_bias' names token " + std::to_string(b.token) + "; the model's vocabulary has ids 0 to " +
              std::to_string(n_vocab - 1),
          "invalid_value", "logit_bias");
  }
}

int32_t fit_max_tokens(const ApiRequest& r, size_t prompt_index, int64_t prompt, int64_t n_ctx) {
  const bool chat = r.endpoint == Endpoint::ChatCompletions;
  const char* param = chat ? "messages" : "prompt";
  const std::string what = chat                  ? "the messages"
                           : r.prompts.size() > 1 ? "prompt[" + std::to_string(prompt_index) + "]"
                                                  : "the prompt";
  const std::string limit = "This model's maximum context length is " + std::to_string(n_ctx) + " tokens. However, ";
  const int64_t completion = r.decode.max_tokens;
  if (r.max_tokens_set && prompt + completion > n_ctx)
    throw ApiError(400,
                   limit + "you requested " + std::to_string(prompt + completion) + " tokens (" + std::to_string(prompt) +
                       " in " + what + ", " + std::to_string(completion) + " in the completion). Please reduce the length of " +
                       what + " or completion.",
                   "invalid_request_error", "context_length_exceeded", param);
  if (prompt >= n_ctx)
    throw ApiError(400,
                   limit + what + " resulted in " + std::to_string(prompt) +
                       " tokens, which leaves no room for the completion. Please reduce the length of " + what + ".",
                   "invalid_request_error", "context_length_exceeded", param);
  return static_cast<int32_t>(std::min(completion, n_ctx - prompt));
}

ApiRequest parse_request(const std::string& body, Endpoint endpoint, const DecodeOptions& defaults,
                         const RequestLimits& limits) {
  const json j = parse_json_object(body);

  ApiRequest r;
  r.endpoint = endpoint;
  r.decode = defaults;
  try {
    if (present(j, "model")) r.model = get_string(j.at("model"), "model");
    if (endpoint == Endpoint::Completions) parse_prompt(j, r, limits);
    else r.messages = parse_messages(j, limits.max_messages);
    refuse_legacy_functions(j);
    // The client's key order, for what the model reads (tools) or writes (schemas) in it.
    const bool keeps_order = present(j, "tools") || present(j, "response_format");
    const auto ordered = keeps_order ? nlohmann::ordered_json::parse(body) : nlohmann::ordered_json();
    parse_tools(j, ordered, r, limits);
    parse_structured_output(j, ordered, r);

    r.stream = get_bool(j, "stream").value_or(false);
    if (present(j, "stream_options")) {
      const json& so = j.at("stream_options");
      if (!so.is_object()) bad("'stream_options' must be an object", "invalid_type", "stream_options");
      r.include_usage = get_bool(so, "include_usage", "stream_options.include_usage").value_or(false);
    }
    if (auto n = get_int(j, "n", 1, INT32_MAX)) {
      if (*n > limits.max_n)
        bad("'n' is " + std::to_string(*n) + "; this server decodes at most " + std::to_string(limits.max_n) +
            " choices per prompt (n is limited to --parallel and to 16)",
            "invalid_value", "n");
      r.n = static_cast<int32_t>(*n);
    }
    if (const int64_t choices = static_cast<int64_t>(r.prompts.size()) * r.n; choices > limits.max_choices)
      bad("'prompt' holds " + std::to_string(r.prompts.size()) + " prompts and 'n' is " + std::to_string(r.n) + ": " +
              std::to_string(choices) + " choices; this server decodes at most " + std::to_string(limits.max_choices) +
              " per request",
          "invalid_value", r.n > 1 ? "n" : "prompt");
    const char* max_key = endpoint == Endpoint::ChatCompletions && present(j, "max_completion_tokens")
                              ? "max_completion_tokens"
                              : "max_tokens";
    if (auto m = get_int(j, max_key, 1, limits.max_tokens)) {
      r.decode.max_tokens = static_cast<int32_t>(*m);
      r.max_tokens_set = true;
    }
    if (present(j, "stop")) r.decode.stop = parse_stop(j.at("stop"), limits);
    if (present(j, "logit_bias")) r.decode.logit_bias = parse_logit_bias(j.at("logit_bias"), limits);
    if (auto s = get_int(j, "seed", INT64_MIN, INT64_MAX)) r.decode.seed = static_cast<uint64_t>(*s);
    else r.decode.seed = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();

    if (endpoint == Endpoint::Completions) {
      if (auto lp = get_int(j, "logprobs", 0, kMaxAlternatives)) {
        r.logprobs = true;
        r.top_logprobs = static_cast<int32_t>(*lp);
      }
      r.echo = get_bool(j, "echo").value_or(false);
    } else {
      r.logprobs = get_bool(j, "logprobs").value_or(false);
      if (auto t = get_int(j, "top_logprobs", 0, kMaxAlternatives)) r.top_logprobs = static_cast<int32_t>(*t);
    }

    // The sampler and its knobs, by the rules every front end shares (decoding/decode_options.h).
    DecodeChoice choice;
    if (present(j, "entropix")) {
      const json& ex = j.at("entropix");
      if (!ex.is_object()) bad("'entropix' must be an object", "invalid_type", "entropix");
      if (present(ex, "sampler")) {
        try {
          choice.sampler = parse_sampler_kind(get_string(ex.at("sampler"), "entropix.sampler"));
        } catch (const ApiError&) {
          throw;
        } catch (const Error&) {
          bad("'entropix.sampler' must be greedy, standard or entropix", "invalid_value", "entropix.sampler");
        }
      }
      if (present(ex, "strategy")) r.strategy = parse_request_strategy(ex.at("strategy"), r, limits);
    }
    choice.knobs.temperature = get_number(j, "temperature", 0.0, 2.0);
    choice.knobs.top_p = get_number(j, "top_p", 0.0, 1.0);
    choice.knobs.min_p = get_number(j, "min_p", 0.0, 1.0);
    if (auto k = get_int(j, "top_k", 0, 1 << 20)) choice.knobs.top_k = static_cast<int32_t>(*k);
    choice.alternatives = r.logprobs ? r.top_logprobs : 0;
    try {
      r.decode = resolve_decode_options(choice, r.decode);
    } catch (const Error& e) {
      bad(e.what(), "invalid_value", knob_field(e.what()));
    }
    check_strategy_request(r);
  } catch (const json::exception& e) {
    bad(std::string("unexpected value in the request: ") + e.what());
  }
  return r;
}

namespace {

json entropix_tokens(const std::vector<TokenInfo>& tokens) {
  json out = json::array();
  for (const TokenInfo& t : tokens) {
    json token = {{"token", t.piece},
                  {"ids", t.ids},
                  {"logprob", t.logprob},
                  {"entropy", t.entropy},
                  {"varentropy", t.varentropy},
                  {"state", state_name(t.state)},
                  {"action", action_name(t.action)},
                  {"inserted", t.inserted}};
    if (t.has_attention) {
      token["attn_entropy"] = t.attn_entropy;
      token["attn_varentropy"] = t.attn_varentropy;
      token["agreement"] = t.agreement;
      token["interaction"] = t.interaction;
    }
    if (t.constrained.active)
      token["constrained"] = {{"logprob", t.constrained.logprob},
                              {"entropy", t.constrained.entropy},
                              {"varentropy", t.constrained.varentropy},
                              {"n_allowed", t.constrained.n_allowed}};
    out.push_back(std::move(token));
  }
  return out;
}

json byte_array(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

json chat_logprobs(const std::vector<TokenInfo>& tokens) {
  json content = json::array();
  for (const TokenInfo& t : tokens) {
    json top = json::array();
    for (const auto& [piece, lp] : t.top) top.push_back({{"token", piece}, {"logprob", lp}, {"bytes", byte_array(piece)}});
    content.push_back({{"token", t.piece}, {"logprob", t.logprob}, {"bytes", byte_array(t.piece)}, {"top_logprobs", top}});
  }
  return json{{"content", content}};
}

// The legacy completions shape; `offset` is the text offset of the first token.
json completion_logprobs(const std::vector<TokenInfo>& tokens, size_t offset) {
  json toks = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
  for (const TokenInfo& t : tokens) {
    toks.push_back(t.piece);
    lps.push_back(std::isnan(t.logprob) ? json(nullptr) : json(t.logprob));
    json top = json::object();
    for (const auto& [piece, lp] : t.top) top[piece] = lp;
    tops.push_back(top);
    offsets.push_back(offset);
    offset += t.piece.size();
  }
  return json{{"tokens", toks}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

json usage(PromptUsage prompt, int32_t n_generated) {
  return json{{"prompt_tokens", prompt.tokens},
              {"completion_tokens", n_generated},
              {"total_tokens", prompt.tokens + n_generated},
              {"prompt_tokens_details", {{"cached_tokens", prompt.cached}}}};
}

json finish_value(FinishReason r) { return r == FinishReason::None ? json(nullptr) : json(finish_reason_name(r)); }

json envelope(const ResponseContext& ctx, const char* object) {
  return json{{"id", ctx.id},
              {"object", object},
              {"created", ctx.created},
              {"model", ctx.model},
              {"system_fingerprint", ctx.fingerprint}};
}

}  // namespace

json completion_response(const ApiRequest& req, const ResponseContext& ctx, const std::vector<Completion>& choices,
                         PromptUsage prompt) {
  const bool chat = req.endpoint == Endpoint::ChatCompletions;
  json out = json::array();
  int32_t n_generated = 0;
  for (size_t i = 0; i < choices.size(); ++i) {
    const Completion& c = choices[i];
    json choice = {{"index", i}, {"finish_reason", finish_value(c.finish)}};
    if (chat && c.read_calls) {
      const bool called = !c.calls.calls.empty();
      json message = {{"role", "assistant"},
                      {"content", called && c.calls.content.empty() ? json(nullptr) : json(c.calls.content)}};
      if (called) message["tool_calls"] = json(openai_tool_calls(c.calls.calls));
      choice["message"] = std::move(message);
      if (called && c.finish != FinishReason::Length && c.finish != FinishReason::Cancelled) choice["finish_reason"] = "tool_calls";
      choice["logprobs"] = req.logprobs ? chat_logprobs(c.tokens) : json(nullptr);
    } else if (chat) {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}};
      choice["logprobs"] = req.logprobs ? chat_logprobs(c.tokens) : json(nullptr);
    } else {
      // With echo the prompt comes first, and its tokens lead the logprobs.
      std::string echoed;
      for (const TokenInfo& t : c.echo) echoed += t.piece;
      choice["text"] = echoed + c.text;
      if (req.logprobs) {
        std::vector<TokenInfo> all = c.echo;
        all.insert(all.end(), c.tokens.begin(), c.tokens.end());
        choice["logprobs"] = completion_logprobs(all, 0);
      } else {
        choice["logprobs"] = nullptr;
      }
    }
    if (!c.strategy) choice["entropix"] = entropix_tokens(c.tokens);
    // Structured output (a JSON response_format or a grammar): the figures of each field.
    if (req.json_output) choice["entropix_fields"] = json_field_confidence(c.tokens);
    out.push_back(std::move(choice));
    n_generated += c.n_generated;
  }
  json r = envelope(ctx, chat ? "chat.completion" : "text_completion");
  r["choices"] = std::move(out);
  r["usage"] = usage(prompt, n_generated);
  if (choices.size() == 1 && choices[0].strategy) r["entropix"] = strategy_object(req.strategy, *choices[0].strategy);
  return r;
}

json strategy_object(const std::string& strategy, const StrategyResult& result) {
  json paths = json::array();
  for (const PathSummary& p : result.paths)
    paths.push_back({{"text", p.text}, {"answer", p.answer ? json(*p.answer) : json(nullptr)}, {"score", p.score},
                     {"tokens", p.n_tokens}});
  return {{"strategy", strategy},
          {"answer", result.answer ? json(*result.answer) : json(nullptr)},
          {"confidence", result.confidence},
          {"tokens_spent", result.tokens_spent},
          {"branch_points", result.n_branch_points},
          {"thinking_insertions", result.n_inserted},
          {"paths", std::move(paths)}};
}

size_t pieces_size(const std::vector<TokenInfo>& tokens) {
  size_t n = 0;
  for (const TokenInfo& t : tokens) n += t.piece.size();
  return n;
}

// A chat delta of what the tool-call reader made of an event's text: its content, and
// its call deltas with those of one call merged (the first carries id and name).
json tool_delta(const ToolStreamPart& part) {
  std::string content;
  json calls = json::array();
  for (const ToolCallStreamEvent& e : part.events) {
    if (!e.is_call) {
      content += e.content;
    } else if (!e.call.first && !calls.empty() && calls.back()["index"] == e.call.index) {
      calls.back()["function"]["arguments"] = calls.back()["function"]["arguments"].get<std::string>() + e.call.arguments;
    } else {
      calls.push_back(json(openai_tool_call_delta(e.call)));
    }
  }
  json delta = json::object();
  if (!content.empty()) delta["content"] = content;
  if (!calls.empty()) delta["tool_calls"] = std::move(calls);
  return delta;
}

json stream_chunk(const ApiRequest& req, const ResponseContext& ctx, const JobEvent& ev, size_t text_offset,
                  const ToolStreamPart* calls) {
  json choice = {{"index", ev.index}, {"finish_reason", ev.done ? finish_value(ev.finish) : json(nullptr)}};
  const bool chat = req.endpoint == Endpoint::ChatCompletions;
  if (chat && calls) {
    choice["delta"] = tool_delta(*calls);
    if (ev.done && calls->called && ev.finish != FinishReason::Length && ev.finish != FinishReason::Cancelled) choice["finish_reason"] = "tool_calls";
    choice["logprobs"] = req.logprobs ? chat_logprobs(ev.tokens) : json(nullptr);
  } else if (chat) {
    choice["delta"] = ev.text.empty() ? json::object() : json{{"content", ev.text}};
    choice["logprobs"] = req.logprobs ? chat_logprobs(ev.tokens) : json(nullptr);
  } else {
    choice["text"] = ev.text;
    choice["logprobs"] = req.logprobs ? completion_logprobs(ev.tokens, text_offset) : json(nullptr);
  }
  choice["entropix"] = entropix_tokens(ev.tokens);
  json r = envelope(ctx, chat ? "chat.completion.chunk" : "text_completion");
  r["choices"] = json::array({choice});
  return r;
}

json chat_role_chunk(const ResponseContext& ctx, int32_t index) {
  json r = envelope(ctx, "chat.completion.chunk");
  r["choices"] = json::array(
      {json{{"index", index}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}}});
  return r;
}

json echo_chunk(const ApiRequest& req, const ResponseContext& ctx, int32_t index, const std::vector<TokenInfo>& prompt) {
  std::string text;
  for (const TokenInfo& t : prompt) text += t.piece;
  json choice = {{"index", index}, {"text", text}, {"finish_reason", nullptr}};
  choice["logprobs"] = req.logprobs ? completion_logprobs(prompt, 0) : json(nullptr);
  json r = envelope(ctx, "text_completion");
  r["choices"] = json::array({choice});
  return r;
}

json usage_chunk(const ApiRequest& req, const ResponseContext& ctx, PromptUsage prompt, int32_t n_generated) {
  json r = envelope(ctx, req.endpoint == Endpoint::ChatCompletions ? "chat.completion.chunk" : "text_completion");
  r["choices"] = json::array();
  r["usage"] = usage(prompt, n_generated);
  return r;
}

}  // namespace entropix::server
