// libFuzzer target for the tool-call reader: the first byte picks the format, the second
// seeds how the answer is cut into pieces, the rest is the model's answer. The whole
// answer is parsed, then streamed piece by piece; the two must agree (content, names,
// arguments, ids), every call's arguments must be a JSON object, and nothing may throw.
// A crash, a sanitizer report, an exception or a disagreement is a finding.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "chat/tool_call_stream.h"
#include "chat/tool_calls.h"

namespace {

using entropix::ToolCallFormat;

constexpr ToolCallFormat kFormats[] = {ToolCallFormat::None,    ToolCallFormat::Llama3Json, ToolCallFormat::Hermes,
                                       ToolCallFormat::Mistral, ToolCallFormat::Granite,    ToolCallFormat::DeepSeekR1};

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const ToolCallFormat format = kFormats[data[0] % std::size(kFormats)];
  uint32_t cut = data[1] | 1u;
  const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);

  const entropix::ParsedToolCalls whole = entropix::parse_tool_calls(format, text, 5);
  for (const entropix::ToolCall& call : whole.calls)
    check(nlohmann::ordered_json::parse(call.arguments, nullptr, false).is_object() && !call.name.empty());

  entropix::ToolCallStreamParser parser(format, 5);
  std::string content;
  std::vector<entropix::ToolCall> calls;
  auto take = [&](const std::vector<entropix::ToolCallStreamEvent>& events) {
    for (const auto& e : events) {
      if (!e.is_call) content += e.content;
      else if (e.call.first) calls.push_back({e.call.id, e.call.name, e.call.arguments});
      else calls.back().arguments += e.call.arguments;
    }
  };
  for (size_t at = 0; at < text.size();) {
    cut = cut * 1103515245u + 12345u;  // piece lengths 0..8 from the second byte
    const size_t n = std::min<size_t>(text.size() - at, (cut >> 16) % 9);
    take(parser.feed(text.substr(at, n)));
    at += n;
  }
  take(parser.finish());
  check(content == whole.content && calls.size() == whole.calls.size());
  for (size_t i = 0; i < calls.size(); ++i)
    check(calls[i].id == whole.calls[i].id && calls[i].name == whole.calls[i].name &&
          calls[i].arguments == whole.calls[i].arguments);
  return 0;
}
