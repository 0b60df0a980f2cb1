// The OpenAI-compatible wire format: JSON request bodies parsed and checked into
// native structs (on the HTTP thread, before anything is queued), and the
// response, chunk and error objects built from the inference loop's events.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "chat/tool_call_grammar.h"
#include "chat/tool_call_stream.h"
#include "chat/tool_calls.h"
#include "core/error.h"
#include "decoding/decode_options.h"
#include "decoding/strategy.h"
#include "sampling/logit_bias.h"
#include "server/inference_loop.h"

namespace entropix::server {

// A request the client got wrong (or the server cannot take now): HTTP status,
// OpenAI error type and code, and the request field at fault (when one is).
class ApiError : public Error {
 public:
  ApiError(int status, const std::string& message, std::string type = "invalid_request_error",
           std::string code = "", std::string param = "")
      : Error(message), status_(status), type_(std::move(type)), code_(std::move(code)), param_(std::move(param)) {}
  int status() const { return status_; }
  // Seconds a client should wait before trying again (a Retry-After header); 0: none.
  ApiError& retry_after(int seconds) {
    retry_after_ = seconds;
    return *this;
  }
  int retry_after() const { return retry_after_; }
  const std::string& type() const { return type_; }
  const std::string& code() const { return code_; }
  const std::string& param() const { return param_; }

 private:
  int status_;
  int retry_after_ = 0;
  std::string type_, code_, param_;
};

// {"error": {"message", "type", "param", "code"}}; an empty param or code is null.
nlohmann::json error_body(const std::string& message, const std::string& type, const std::string& code,
                          const std::string& param = "");

enum class Endpoint { Completions, ChatCompletions };

// Named limits of what one request may ask for.
struct RequestLimits {
  int32_t max_tokens = 4096;     // max_tokens at most
  int32_t max_stop = 4;          // stop strings at most (as OpenAI)
  int32_t max_stop_bytes = 256;  // bytes per stop string at most
  int32_t max_messages = 1024;   // chat messages at most
  int32_t max_n = 16;            // choices per prompt at most (the server lowers it to --parallel)
  int32_t max_prompts = 32;      // completions: prompts in an array at most (LangChain sends 20 at a time)
  int32_t max_choices = 128;     // choices per request at most, all prompts together (prompts x n)
  int32_t max_logit_bias = static_cast<int32_t>(kMaxLogitBiasEntries);  // logit_bias entries at most
  int32_t max_tools = 128;       // functions in tools at most (as OpenAI)
  int32_t max_strategy_paths = 32;  // entropix.strategy: answers or branches of one request at most
};

// tool_choice: none (no calls), auto (the model decides), required (at least one
// call), or one named function.
enum class ToolChoice { None, Auto, Required, Named };

// One prompt of a completions request: text, or token ids.
struct PromptInput {
  std::string text;
  std::optional<std::vector<int32_t>> tokens;  // set: the prompt was given as token ids (text unused)
};

struct ApiRequest {
  Endpoint endpoint = Endpoint::Completions;
  std::string model;                     // echoed back
  // Completions: the prompts (an array gives several: n choices each, choice index
  // prompt * n + i, as OpenAI numbers them).
  std::vector<PromptInput> prompts;
  std::vector<ChatMessage> messages;     // chat
  DecodeOptions decode;
  bool max_tokens_set = false;           // the client gave max_tokens (or max_completion_tokens)
  int32_t n = 1;                         // choices per prompt, decoded as forks of it
  bool stream = false;
  bool include_usage = false;            // stream_options.include_usage
  bool logprobs = false;
  int32_t top_logprobs = 0;              // 0..kMaxAlternatives
  bool echo = false;                     // completions: the prompt before the answer (with logprobs: its tokens' too)
  // Structured output: the GBNF grammar every answer must match (from response_format's
  // JSON schema or JSON object, or the grammar field); empty: free text. Compiled for
  // the model's vocabulary by the server (decode.grammar), errors naming grammar_param.
  std::string grammar;
  std::string grammar_param;
  bool json_output = false;              // response_format json_object or json_schema
  // Tools (chat): the client's list as written (key order kept, for the template);
  // null when none. Per declared function, its name and the grammar of its arguments.
  nlohmann::ordered_json tools;
  std::vector<ToolGrammarFunction> tool_functions;
  ToolChoice tool_choice = ToolChoice::None;  // auto when tools are given and tool_choice is not
  std::string tool_choice_name;               // ToolChoice::Named
  // entropix.strategy (decoding/strategy.h): the answer chosen among several paths
  // of the prompt; empty: the sampler's one answer per choice.
  std::string strategy;
  bool parallel_tool_calls = false;  // more than one call per answer (off unless asked, as llama.cpp: small models rarely stop)
};

// Checks that a request's "model" names the served model: `names` are the ids the
// server answers to; an empty `model` (the field left out) is accepted. Throws
// ApiError 404 "model_not_found" otherwise, as OpenAI does.
void check_model(const std::string& model, const std::vector<std::string>& names);

// Parses and checks a body; throws ApiError (400) naming the field at fault.
// `defaults` are the server's decode options (sampler, profile); `max_tokens`
// falls back to defaults.max_tokens.
ApiRequest parse_request(const std::string& body, Endpoint endpoint, const DecodeOptions& defaults,
                         const RequestLimits& limits);

// Checks what parse_request cannot without the model: the ids of logit_bias are
// in the vocabulary. Throws ApiError 400 naming the field.
void check_request_vocabulary(const ApiRequest& request, int32_t n_vocab);

// The max_tokens prompt `prompt_index` (of `prompt_tokens` tokens) decodes with in a
// context of `n_ctx` positions. One given by the client must fit beside the prompt,
// and the prompt must leave room for one token: otherwise ApiError 400
// context_length_exceeded (param "messages" or "prompt"), as OpenAI answers, with the
// numbers. The server's default is lowered to what fits.
int32_t fit_max_tokens(const ApiRequest& request, size_t prompt_index, int64_t prompt_tokens, int64_t n_ctx);

// Accumulated result of one choice of a non-streamed request.
struct Completion {
  bool read_calls = false;  // chat with tools: the calls read from the text replace it in the message
  ParsedToolCalls calls;
  std::vector<TokenInfo> echo;  // with echo: the prompt's tokens (logprob NaN: none, the first without BOS)
  std::string text;
  std::vector<TokenInfo> tokens;
  FinishReason finish = FinishReason::None;
  int32_t n_generated = 0;
  std::shared_ptr<const StrategyResult> strategy;  // the answer of entropix.strategy
};

struct ResponseContext {
  std::string id;       // "cmpl-..." or "chatcmpl-..."
  std::string model;
  int64_t created = 0;  // unix seconds
  std::string fingerprint;  // system_fingerprint: the model file and the build (ServingModel::fingerprint)
};

// The prompt's part of usage: its tokens, and how many of them the prefix cache
// served (usage.prompt_tokens_details.cached_tokens).
struct PromptUsage {
  int32_t tokens = 0;
  int32_t cached = 0;
};

// The response's "entropix" object for a request with entropix.strategy: the
// strategy, the chosen answer and its confidence, the tokens decoded over all paths,
// and every final path considered.
nlohmann::json strategy_object(const std::string& strategy, const StrategyResult& result);

// The whole response: one choice per entry of `choices` (index = position);
// usage counts the prompt once and the tokens of every choice. Under a grammar each
// choice has entropix_fields (json_field_confidence of its tokens).
nlohmann::json completion_response(const ApiRequest& req, const ResponseContext& ctx,
                                   const std::vector<Completion>& choices, PromptUsage prompt);
// One streamed chunk for an event of choice ev.index (text and tokens, and the finish reason when done).
// `text_offset`: where the event's first token starts in the choice's whole text, the
// echoed prompt included (the legacy logprobs' text_offset count from there, as unstreamed).
// With tools, `calls` is what the tool-call reader made of ev.text: its content and
// call deltas replace the text in the delta, and a choice that called a tool finishes
// with "tool_calls".
struct ToolStreamPart {
  std::vector<ToolCallStreamEvent> events;
  bool called = false;  // the choice has made a call so far
};
nlohmann::json stream_chunk(const ApiRequest& req, const ResponseContext& ctx, const JobEvent& ev, size_t text_offset,
                            const ToolStreamPart* calls = nullptr);
// Bytes the tokens' pieces take in the text (to advance a stream's text offset).
size_t pieces_size(const std::vector<TokenInfo>& tokens);
// The chat stream's first chunk of a choice (delta.role).
nlohmann::json chat_role_chunk(const ResponseContext& ctx, int32_t index);
// With echo, a stream's first chunk of a choice: the prompt's text (and its logprobs).
nlohmann::json echo_chunk(const ApiRequest& req, const ResponseContext& ctx, int32_t index,
                          const std::vector<TokenInfo>& prompt);
// The final usage-only chunk (stream_options.include_usage).
nlohmann::json usage_chunk(const ApiRequest& req, const ResponseContext& ctx, PromptUsage prompt, int32_t n_generated);

}  // namespace entropix::server
