// The OpenAI request parser on its own (no server): bodies the fuzzer found, each
// turned away with an ApiError 400 that names the field at fault.
#include <gtest/gtest.h>

#include <string>

#include "server/api.h"

namespace entropix::server {
namespace {

// The error a chat body gets; fails the test when the body is accepted.
ApiError chat_error(const std::string& body) {
  try {
    parse_request(body, Endpoint::ChatCompletions, DecodeOptions{}, RequestLimits{});
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted: " << body;
  return ApiError(0, "");
}

// A text part without a string "type" was read as a string anyway: nlohmann's
// type_error came out as "unexpected value in the request", naming no field.
TEST(ParseRequest, TextPartWithoutTypeNamesTheMessage) {
  for (const std::string part : {R"({"text": "b"})", R"({"type": null, "text": "b"})", R"({"type": 3, "text": "b"})"}) {
    const ApiError e = chat_error(R"({"messages": [{"role": "user", "content": "a"},
                                                    {"role": "user", "content": [)" + part + "]}]}");
    EXPECT_EQ(e.status(), 400);
    EXPECT_NE(std::string(e.what()).find("'messages[1].content' parts must be"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace entropix::server
