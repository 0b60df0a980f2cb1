// The "model" field of a request: the id /v1/models lists and the --alias names
// are served (and listed), a missing field is served, any other name is a 404
// model_not_found in OpenAI's error shape.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/api.h"
#include "server_fixture.h"

using nlohmann::json;
using namespace entropix;
using namespace entropix::server;
using namespace entropix::testing;

namespace {

class ServerModels : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ServerOptions o = demo_server_options();
    o.model_aliases = {"demo-latest", "gpt-4o-mini"};
    server_ = std::make_unique<DemoServer>(o);
  }
  static void TearDownTestSuite() { server_.reset(); }
  static std::unique_ptr<DemoServer> server_;
};

std::unique_ptr<DemoServer> ServerModels::server_;

const json kCompletion = {{"prompt", kArithmeticPrompt}, {"max_tokens", 2}, {"temperature", 0}};
const json kChat = {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 2}, {"temperature", 0}};

json with_model(json body, const std::string& model) {
  body["model"] = model;
  return body;
}

TEST_F(ServerModels, ListsTheIdThenTheAliases) {
  auto r = server_->client().Get("/v1/models");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const json data = json::parse(r->body)["data"];
  std::vector<std::string> ids;
  for (const json& m : data) {
    ids.push_back(m["id"]);
    EXPECT_EQ(m["object"], "model");
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"demo", "demo-latest", "gpt-4o-mini"}));
}

TEST_F(ServerModels, ServesTheIdEachAliasAndAMissingField) {
  for (const char* path : {"/v1/completions", "/v1/chat/completions"}) {
    const json& body = std::string(path) == "/v1/completions" ? kCompletion : kChat;
    for (const std::string name : {"demo", "demo-latest", "gpt-4o-mini"}) {
      const json j = server_->post(path, with_model(body, name));
      EXPECT_EQ(j["model"], "demo") << path << " " << name;  // responses name the served model, as OpenAI names the snapshot
    }
    EXPECT_EQ(server_->post(path, body)["model"], "demo") << path;
  }
}

TEST_F(ServerModels, UnknownModelIs404InOpenAIShape) {
  for (const char* path : {"/v1/completions", "/v1/chat/completions"}) {
    const json& body = std::string(path) == "/v1/completions" ? kCompletion : kChat;
    for (const std::string name : {"gpt-3.5-turbo-instruct", "Demo", "demo "}) {
      auto r = server_->raw_post(path, with_model(body, name).dump());
      expect_api_error(r, 404, "model_not_found");
      ASSERT_TRUE(r);
      const json error = json::parse(r->body)["error"];
      EXPECT_EQ(error["message"], "The model `" + name + "` does not exist");
      EXPECT_EQ(error["type"], "invalid_request_error");
      EXPECT_EQ(error["param"], "model");
      EXPECT_EQ(error["code"], "model_not_found");
    }
  }
  // A streamed request is refused before anything streams.
  json stream = with_model(kCompletion, "nope");
  stream["stream"] = true;
  expect_api_error(server_->raw_post("/v1/completions", stream.dump()), 404, "model_not_found");
  // A name that is not a string is a bad request, not an unknown model.
  json number = kCompletion;
  number["model"] = 4;
  expect_api_error(server_->raw_post("/v1/completions", number.dump()), 400, "invalid_type");
}

TEST(CheckModel, AcceptsTheNamesAndAMissingField) {
  const std::vector<std::string> names = {"demo", "alias"};
  EXPECT_NO_THROW(check_model("demo", names));
  EXPECT_NO_THROW(check_model("alias", names));
  EXPECT_NO_THROW(check_model("", names));
  try {
    check_model("other", names);
    FAIL() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_EQ(e.code(), "model_not_found");
    EXPECT_EQ(e.param(), "model");
    EXPECT_EQ(error_body(e.what(), e.type(), e.code(), e.param()),
              json::parse(R"({"error": {"message": "The model `other` does not exist", "type": "invalid_request_error",
                                        "param": "model", "code": "model_not_found"}})"));
  }
}

}  // namespace
