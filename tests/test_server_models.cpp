// The "model" field of a request: the id /v1/models lists and the --alias names
// are served (and listed), a missing field is served, any other name is a 404
// model_not_found in OpenAI's error shape. GET /v1/models/{id} retrieves one entry;
// "created" is the model file's time and system_fingerprint names file and build.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/api.h"
#include "server/model_identity.h"
#include "server_fixture.h"

using nlohmann::json;
using namespace entropix;
using namespace entropix::server;
using namespace entropix::testing;

namespace {

std::string demo_model_path() { return (source_dir() / "models/demo/demo-q8_0.gguf").string(); }

class ServerModels : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ServerOptions o = demo_server_options();
    o.model_aliases = {"demo-latest", "gpt-4o-mini", "org/demo:q8_0"};
    o.model_path = demo_model_path();
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
  EXPECT_EQ(ids, (std::vector<std::string>{"demo", "demo-latest", "gpt-4o-mini", "org/demo:q8_0"}));
}

TEST_F(ServerModels, RetrievesEachListedModel) {
  auto list = server_->client().Get("/v1/models");
  ASSERT_TRUE(list);
  struct stat st {};
  ASSERT_EQ(::stat(demo_model_path().c_str(), &st), 0);
  const json models = json::parse(list->body);  // range-for over parse(...)["data"] would outlive the parsed value
  for (const json& listed : models["data"]) {
    EXPECT_EQ(listed["created"], static_cast<int64_t>(st.st_mtim.tv_sec)) << "created is the file's time";
    const std::string id = listed["id"];
    // As sent raw and as the openai clients send it (each path segment percent-encoded).
    std::string encoded;
    for (char c : id) encoded += c == '/' ? std::string("%2F") : c == ':' ? std::string("%3A") : std::string(1, c);
    for (const std::string& path : {"/v1/models/" + id, "/v1/models/" + encoded}) {
      auto r = server_->client().Get(path);
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << path << " " << r->body;
      EXPECT_EQ(json::parse(r->body), listed) << path;
    }
  }
}

TEST_F(ServerModels, RetrievingAnUnknownModelIs404) {
  for (const std::string id : {"gpt-4", "Demo", "org/demo", "demo%20", "org%2Fdemo%3Aq8"}) {
    auto r = server_->client().Get("/v1/models/" + id);
    expect_api_error(r, 404, "model_not_found");
    ASSERT_TRUE(r);
    EXPECT_EQ(json::parse(r->body)["error"]["param"], "model") << id;
  }
  expect_api_error(server_->client(false).Get("/v1/models/demo"), 401, "invalid_api_key");  // behind the key too
  expect_api_error(server_->client().Get("/v1/models/"), 404, "not_found");                // no id: no route
}

TEST_F(ServerModels, ResponsesCarryTheSystemFingerprint) {
  const json whole = server_->post("/v1/completions", kCompletion);
  const std::string fingerprint = whole["system_fingerprint"];
  EXPECT_EQ(fingerprint.rfind("entropix-0.1.0-", 0), 0u) << fingerprint;
  EXPECT_EQ(fingerprint.size(), std::string("entropix-0.1.0-").size() + 10);
  EXPECT_EQ(server_->post("/v1/chat/completions", kChat)["system_fingerprint"], fingerprint);
  for (const char* path : {"/v1/completions", "/v1/chat/completions"}) {
    json body = std::string(path) == "/v1/completions" ? kCompletion : kChat;
    body["stream_options"] = {{"include_usage", true}};
    const SseResponse s = server_->post_stream(path, body);
    ASSERT_GE(s.chunks.size(), 2u);
    for (const json& chunk : s.chunks) EXPECT_EQ(chunk["system_fingerprint"], fingerprint) << chunk;
  }
}

// The fingerprint follows the model file: another file (or the same one changed)
// gives another, the same file the same one.
TEST(ModelIdentity, FollowsTheFile) {
  const TempDir dir;
  const std::string a = (dir.path / "a.gguf").string(), b = (dir.path / "b.gguf").string();
  for (const std::string& path : {a, b}) {
    FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fputs("GGUF", f);
    std::fclose(f);
  }
  const ModelIdentity first = model_identity(a, "a");
  EXPECT_EQ(model_identity(a, "other name").fingerprint, first.fingerprint);  // the file, not the name
  EXPECT_NE(model_identity(b, "a").fingerprint, first.fingerprint);
  struct stat st {};
  ASSERT_EQ(::stat(a.c_str(), &st), 0);
  EXPECT_EQ(first.created, static_cast<int64_t>(st.st_mtim.tv_sec));
  FILE* f = std::fopen(a.c_str(), "ab");
  std::fputs("more", f);
  std::fclose(f);
  EXPECT_NE(model_identity(a, "a").fingerprint, first.fingerprint);
  // Without a file, the name stands for it and "created" is now.
  const ModelIdentity unnamed = model_identity("", "demo");
  EXPECT_EQ(unnamed.fingerprint, model_identity("/no/such/file.gguf", "demo").fingerprint);
  EXPECT_NE(unnamed.fingerprint, model_identity("", "other").fingerprint);
  EXPECT_NEAR(static_cast<double>(unnamed.created), static_cast<double>(std::time(nullptr)), 5);
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
