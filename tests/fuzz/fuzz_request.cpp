// libFuzzer target for the OpenAI request parser: the first byte picks the endpoint
// (completions or chat completions), the rest is the request body, parsed as the HTTP
// thread parses it. A rejected body must come out as an ApiError that says what is wrong
// and whose error object can be written (as send_error writes it); a chat request's
// messages are then rendered through a small fixed template. Only entropix::Error may
// escape; anything else (a crash, a sanitizer report, another exception type) is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "chat/chat_template.h"
#include "core/error.h"
#include "core/json_text.h"
#include "server/api.h"

namespace {

using entropix::server::ApiError;
using entropix::server::Endpoint;

// ChatML with the optional fields a message may carry, so that each is read.
constexpr const char* kTemplate =
    "{% for m in messages %}<|im_start|>{{ m.role }}{% if m.name %} ({{ m.name }}){% endif %}\n"
    "{{ m.content | trim }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const entropix::ChatTemplate chat(kTemplate);
  static const entropix::DecodeOptions defaults;
  static const entropix::server::RequestLimits limits;
  if (size == 0) return 0;
  const Endpoint endpoint = (data[0] & 1) ? Endpoint::ChatCompletions : Endpoint::Completions;
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    const entropix::server::ApiRequest r = entropix::server::parse_request(body, endpoint, defaults, limits);
    if (r.n < 1 || r.n > limits.max_n || r.decode.max_tokens < 1 ||
        static_cast<int32_t>(r.decode.stop.size()) > limits.max_stop ||
        static_cast<int64_t>(r.prompts.size()) * r.n > limits.max_choices ||
        static_cast<int32_t>(r.prompts.size()) > limits.max_prompts)
      __builtin_trap();  // a request past its limits was let through
    if (endpoint == Endpoint::Completions && r.prompts.empty()) __builtin_trap();
    if (endpoint == Endpoint::ChatCompletions) {
      if (r.messages.empty()) __builtin_trap();
      volatile size_t sink = chat.apply(r.messages, true, "<s>", "</s>").size();
      (void)sink;
    }
  } catch (const ApiError& e) {
    if (e.status() != 400) __builtin_trap();  // parsing alone never answers otherwise
    // The parser's last resort for a JSON value read without checking its type: the
    // error names no field, so each path that reaches it is a finding.
    if (std::string_view(e.what()).starts_with("unexpected value in the request")) __builtin_trap();
    volatile size_t sink = entropix::json_text(entropix::server::error_body(e.what(), e.type(), e.code(), e.param())).size();
    (void)sink;
  } catch (const entropix::Error&) {
  }
  return 0;
}
