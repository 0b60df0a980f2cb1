// The x-request-id header: on every response (success, error, stream, a route
// that does not exist, a missing key), the client's own id echoed made safe, or a
// new one; and the sanitizing rules on their own.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

#include "server/request_id.h"
#include "server_fixture.h"

using nlohmann::json;
using namespace entropix;
using namespace entropix::server;
using namespace entropix::testing;

namespace {

const std::regex kGenerated("req_[0-9a-f]{32}");

TEST(RequestId, SanitizesWhatTheClientSent) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"abc-123_XYZ.:/=", "abc-123_XYZ.:/="},
      {"a b\tc\r\nd", "abcd"},                       // no spaces, controls or line breaks
      {"caf\xc3\xa9", "caf"},                        // ASCII only
      {std::string("a\0b", 3), "ab"},
      {" \t\r\n", ""},                               // nothing left
      {std::string(300, 'x'), std::string(kMaxRequestIdBytes, 'x')},  // capped
  };
  for (const auto& [sent, expected] : cases) EXPECT_EQ(sanitized_request_id(sent), expected) << sent;
}

TEST(RequestId, FallsBackInOrderThenGenerates) {
  EXPECT_EQ(request_id("mine", "theirs"), "mine");
  EXPECT_EQ(request_id("", "theirs"), "theirs");
  EXPECT_EQ(request_id(" \r\n", "theirs"), "theirs");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = request_id("", "\x01");
    EXPECT_TRUE(std::regex_match(id, kGenerated)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

class ServerRequestId : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<DemoServer>(); }
  static void TearDownTestSuite() { server_.reset(); }
  static std::unique_ptr<DemoServer> server_;
};
std::unique_ptr<DemoServer> ServerRequestId::server_;

const json kCompletion = {{"prompt", kArithmeticPrompt}, {"max_tokens", 3}, {"temperature", 0}};

TEST_F(ServerRequestId, EveryResponseHasOne) {
  auto c = server_->client();
  std::set<std::string> seen;
  const auto check = [&](const httplib::Result& r, int status, const std::string& what) {
    ASSERT_TRUE(r) << what;
    EXPECT_EQ(r->status, status) << what << " " << r->body;
    const std::string id = r->get_header_value("x-request-id");
    EXPECT_TRUE(std::regex_match(id, kGenerated)) << what << ": '" << id << "'";
    EXPECT_TRUE(seen.insert(id).second) << what << ": " << id << " repeated";
  };
  check(c.Post("/v1/completions", kCompletion.dump(), "application/json"), 200, "completion");
  json stream = kCompletion;
  stream["stream"] = true;
  check(c.Post("/v1/completions", stream.dump(), "application/json"), 200, "stream");
  check(c.Post("/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 2}}.dump(),
               "application/json"),
        200, "chat");
  check(c.Post("/v1/completions", "{", "application/json"), 400, "bad JSON");
  check(c.Post("/v1/completions", json{{"prompt", "x"}, {"n", 99}}.dump(), "application/json"), 400, "bad field");
  check(c.Get("/v1/models"), 200, "models");
  check(c.Get("/v1/models/nope"), 404, "unknown model");
  check(c.Get("/no/such/route"), 404, "unknown route");
  check(c.Get("/health"), 200, "health");
  check(c.Get("/metrics"), 200, "metrics");
  check(server_->client(false).Post("/v1/completions", kCompletion.dump(), "application/json"), 401, "no key");
}

TEST_F(ServerRequestId, EchoesTheClientsIdMadeSafe) {
  auto c = server_->client();
  const auto id_for = [&](const httplib::Headers& headers, bool stream = false) {
    json body = kCompletion;
    body["stream"] = stream;
    auto r = c.Post("/v1/completions", headers, body.dump(), "application/json");
    EXPECT_TRUE(r);
    return r ? r->get_header_value("x-request-id") : "";
  };
  EXPECT_EQ(id_for({{"X-Request-Id", "trace-42"}}), "trace-42");
  EXPECT_EQ(id_for({{"x-request-id", "trace-43"}}, true), "trace-43");
  EXPECT_EQ(id_for({{"X-Client-Request-Id", "sdk-7"}}), "sdk-7");  // what the openai SDKs may send
  EXPECT_EQ(id_for({{"X-Request-Id", "first"}, {"X-Client-Request-Id", "second"}}), "first");
  EXPECT_EQ(id_for({{"X-Request-Id", "a b\tc"}}), "abc");
  EXPECT_EQ(id_for({{"X-Request-Id", std::string(500, 'z')}}), std::string(kMaxRequestIdBytes, 'z'));
  EXPECT_TRUE(std::regex_match(id_for({{"X-Request-Id", "\t"}}), kGenerated));
  // Errors echo it too.
  auto r = c.Post("/v1/completions", {{"X-Request-Id", "err-1"}}, "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->get_header_value("x-request-id"), "err-1");
}

}  // namespace
