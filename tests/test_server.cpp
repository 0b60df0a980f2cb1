// The HTTP server on the demo model, in-process on 127.0.0.1 with an ephemeral
// port, driven with httplib::Client.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <csignal>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "entropix/profile.h"
#include "server/inference_loop.h"
#include "server_fixture.h"
#include "tokenizer/tokenizer.h"

using nlohmann::json;
using namespace entropix;
using namespace entropix::server;
using namespace entropix::testing;

namespace {

// One choice of a streamed response.
struct Sse {
  std::vector<json> chunks;
  bool done = false;
  std::string text;
  std::string finish;
};

Sse first_choice(const SseResponse& r) {
  return {r.chunks, r.done, r.text.empty() ? "" : r.text[0], r.finish.empty() ? "" : r.finish[0]};
}

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<DemoServer>(); }
  static void TearDownTestSuite() { server_.reset(); }

  static httplib::Client client() { return server_->client(); }
  static json post(const std::string& path, const json& body, int expect_status = 200) {
    return server_->post(path, body, expect_status);
  }
  static Sse post_stream(const std::string& path, const json& body) {
    auto r = server_->raw_post(path, [&] {
      json b = body;
      b["stream"] = true;
      return b.dump();
    }());
    EXPECT_TRUE(r) << "no response";
    if (!r) return {};
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type").rfind("text/event-stream", 0), 0u);
    return first_choice(parse_sse_body(r->body));
  }
  static void expect_error(const httplib::Result& r, int status) { expect_api_error(r, status); }
  static httplib::Result raw_post(const std::string& path, const std::string& body) {
    return server_->raw_post(path, body);
  }

  static std::unique_ptr<DemoServer> server_;
};

std::unique_ptr<DemoServer> ServerTest::server_;

// The ids of each entropix entry decode to its token text, and all of them to
// the answer's text.
void expect_ids_decode_to_text(const Tokenizer& tok, const json& entries, const std::string& text) {
  std::vector<int32_t> all;
  for (const json& t : entries) {
    const auto ids = t["ids"].get<std::vector<int32_t>>();
    if (t["inserted"].get<bool>()) EXPECT_FALSE(ids.empty()) << t;
    else EXPECT_EQ(ids.size(), 1u) << t;
    EXPECT_EQ(tok.decode(ids), t["token"].get<std::string>());
    all.insert(all.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(tok.decode(all), text);
}

TEST_F(ServerTest, HealthAndModels) {
  auto h = server_->client(false).Get("/health");  // no key needed
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(json::parse(h->body)["status"], "ok");
  auto m = client().Get("/v1/models");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->status, 200);
  json j = json::parse(m->body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["id"], "demo");
}

TEST_F(ServerTest, CompletionNonStream) {
  json j = post("/v1/completions", {{"prompt", kArithmeticPrompt}, {"max_tokens", 12}, {"temperature", 0}});
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], "demo");
  ASSERT_EQ(j["choices"].size(), 1u);
  const json& c = j["choices"][0];
  EXPECT_FALSE(c["text"].get<std::string>().empty());
  EXPECT_TRUE(c["finish_reason"] == "length" || c["finish_reason"] == "stop") << c["finish_reason"];
  EXPECT_TRUE(c["logprobs"].is_null());
  const int n = j["usage"]["completion_tokens"];
  EXPECT_GT(n, 0);
  EXPECT_LE(n, 12);
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 10);
  EXPECT_EQ(j["usage"]["total_tokens"].get<int>(), n + j["usage"]["prompt_tokens"].get<int>());
  ASSERT_EQ(c["entropix"].size(), static_cast<size_t>(n));
  for (const json& t : c["entropix"]) {
    EXPECT_GE(t["entropy"].get<double>(), 0.0);
    EXPECT_GE(t["varentropy"].get<double>(), 0.0);
    EXPECT_TRUE(t["state"].is_string());
    EXPECT_TRUE(t["action"].is_string());
  }
}

TEST_F(ServerTest, StreamEqualsNonStreamUnderGreedy) {
  json body = {{"prompt", kArithmeticPrompt}, {"max_tokens", 24}, {"entropix", {{"sampler", "greedy"}}}};
  json whole = post("/v1/completions", body);
  Sse s = post_stream("/v1/completions", body);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.text, whole["choices"][0]["text"].get<std::string>());
  EXPECT_EQ(s.finish, whole["choices"][0]["finish_reason"].get<std::string>());
  size_t n_entropix = 0;
  for (const json& c : s.chunks) {
    EXPECT_EQ(c["object"], "text_completion");
    n_entropix += c["choices"][0]["entropix"].size();
  }
  EXPECT_EQ(n_entropix, whole["choices"][0]["entropix"].size());
}

TEST_F(ServerTest, TokenIdsDecodeToTheText) {
  const Tokenizer& tok = server_->engine->tokenizer();
  const json body = {{"prompt", kArithmeticPrompt}, {"max_tokens", 24}, {"temperature", 0}};
  const json whole = post("/v1/completions", body);
  const json& c = whole["choices"][0];
  ASSERT_FALSE(c["entropix"].empty());
  expect_ids_decode_to_text(tok, c["entropix"], c["text"].get<std::string>());
  const Sse s = post_stream("/v1/completions", body);
  json entries = json::array();
  for (const json& chunk : s.chunks)
    for (const json& t : chunk["choices"][0]["entropix"]) entries.push_back(t);
  expect_ids_decode_to_text(tok, entries, s.text);
}

TEST_F(ServerTest, ChatCompletion) {
  json body = {{"messages", {{{"role", "user"}, {"content", "Tom has 3 pens. He buys 4 more. How many pens now?"}}}},
               {"max_tokens", 16},
               {"temperature", 0}};
  json j = post("/v1/chat/completions", body);
  EXPECT_EQ(j["object"], "chat.completion");
  const json& c = j["choices"][0];
  EXPECT_EQ(c["message"]["role"], "assistant");
  EXPECT_TRUE(c["message"]["content"].is_string());
  EXPECT_TRUE(c["finish_reason"].is_string());
  body["stream_options"] = {{"include_usage", true}};
  Sse s = post_stream("/v1/chat/completions", body);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.text, c["message"]["content"].get<std::string>());
  ASSERT_FALSE(s.chunks.empty());
  EXPECT_EQ(s.chunks.front()["object"], "chat.completion.chunk");
  EXPECT_EQ(s.chunks.front()["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(s.chunks.back()["usage"]["completion_tokens"], j["usage"]["completion_tokens"]);
}

TEST_F(ServerTest, LogprobsShape) {
  json j = post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                                         {"max_tokens", 6},
                                         {"temperature", 0},
                                         {"logprobs", true},
                                         {"top_logprobs", 3}});
  const json& content = j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), j["usage"]["completion_tokens"].get<size_t>());
  for (const json& t : content) {
    EXPECT_TRUE(t["token"].is_string());
    EXPECT_LE(t["logprob"].get<double>(), 0.0);
    EXPECT_TRUE(t["bytes"].is_array());
    ASSERT_EQ(t["top_logprobs"].size(), 3u);
    // Greedy: the chosen token is the most probable one.
    EXPECT_NEAR(t["top_logprobs"][0]["logprob"].get<double>(), t["logprob"].get<double>(), 1e-6);
    EXPECT_EQ(t["top_logprobs"][0]["token"], t["token"]);
    EXPECT_GE(t["top_logprobs"][0]["logprob"].get<double>(), t["top_logprobs"][1]["logprob"].get<double>());
  }
  json legacy = post("/v1/completions", {{"prompt", kArithmeticPrompt}, {"max_tokens", 4}, {"temperature", 0}, {"logprobs", 2}});
  const json& lp = legacy["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), legacy["usage"]["completion_tokens"].get<size_t>());
  EXPECT_EQ(lp["token_logprobs"].size(), lp["tokens"].size());
  EXPECT_EQ(lp["top_logprobs"].size(), lp["tokens"].size());
  EXPECT_EQ(lp["text_offset"].size(), lp["tokens"].size());
}

TEST_F(ServerTest, StopSequenceHonoured) {
  json base = post("/v1/completions", {{"prompt", kArithmeticPrompt}, {"max_tokens", 24}, {"temperature", 0}});
  const std::string text = base["choices"][0]["text"];
  ASSERT_GE(text.size(), 6u) << text;
  const std::string stop = text.substr(text.size() / 2, 2);
  const std::string expected = text.substr(0, text.find(stop));
  for (bool stream : {false, true}) {
    json body = {{"prompt", kArithmeticPrompt}, {"max_tokens", 24}, {"temperature", 0}, {"stop", json::array({"@@@", stop})}};
    if (stream) {
      Sse s = post_stream("/v1/completions", body);
      EXPECT_EQ(s.text, expected);
      EXPECT_EQ(s.finish, "stop");
    } else {
      json j = post("/v1/completions", body);
      EXPECT_EQ(j["choices"][0]["text"], expected);
      EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
    }
  }
}

TEST_F(ServerTest, SameSeedSameText) {
  json body = {{"prompt", "Q:"}, {"max_tokens", 16}, {"temperature", 1.5}, {"seed", 1234}};
  json a = post("/v1/completions", body);
  json b = post("/v1/completions", body);
  EXPECT_EQ(a["choices"][0]["text"], b["choices"][0]["text"]);
}

TEST_F(ServerTest, AuthRequired) {
  httplib::Client none = server_->client(false);
  expect_error(none.Post("/v1/completions", json{{"prompt", "x"}}.dump(), "application/json"), 401);
  expect_error(none.Get("/v1/models"), 401);
  httplib::Client wrong = server_->client(false);
  wrong.set_bearer_token_auth("not-the-key");
  expect_error(wrong.Post("/v1/completions", json{{"prompt", "x"}}.dump(), "application/json"), 401);
}

TEST_F(ServerTest, UnknownRoute) {
  expect_error(client().Get("/v1/nothing-here"), 404);
  expect_error(raw_post("/v2/completions", "{}"), 404);
}

TEST_F(ServerTest, BadRequests) {
  expect_error(raw_post("/v1/completions", "{\"prompt\": \"x\""), 400);
  expect_error(raw_post("/v1/completions", "not json at all"), 400);
  expect_error(raw_post("/v1/completions", "[1, 2]"), 400);
  expect_error(raw_post("/v1/completions", "{\"prompt\": \"bad \xff\xfe utf-8\"}"), 400);
  expect_error(raw_post("/v1/completions", json{{"max_tokens", 4}}.dump()), 400);
  expect_error(raw_post("/v1/completions", json{{"prompt", "x"}, {"temperature", "hot"}}.dump()), 400);
  expect_error(raw_post("/v1/completions", json{{"prompt", "x"}, {"temperature", 5}}.dump()), 400);
  expect_error(raw_post("/v1/completions", json{{"prompt", "x"}, {"top_p", -0.5}}.dump()), 400);
  expect_error(raw_post("/v1/completions", json{{"prompt", "x"}, {"max_tokens", 0}}.dump()), 400);
  expect_error(raw_post("/v1/completions", json{{"prompt", "x"}, {"max_tokens", 1.5}}.dump()), 400);
  expect_error(raw_post("/v1/completions", json{{"prompt", "x"}, {"stop", 7}}.dump()), 400);
  expect_error(raw_post("/v1/completions", json{{"prompt", "x"}, {"n", 5}}.dump()), 400);  // over --parallel
  expect_error(raw_post("/v1/completions", json{{"prompt", "x"}, {"n", 0}}.dump()), 400);
  expect_error(raw_post("/v1/completions", json{{"prompt", "x"}, {"stream", "yes"}}.dump()), 400);
  expect_error(raw_post("/v1/completions", json{{"prompt", "x"}, {"entropix", {{"sampler", "magic"}}}}.dump()), 400);
  expect_error(raw_post("/v1/completions", json{{"prompt", json::array({1, 99999})}}.dump()), 400);
  expect_error(raw_post("/v1/completions", json{{"prompt", std::vector<int>(2100, 65)}}.dump()), 400);  // over n_ctx
  expect_error(raw_post("/v1/chat/completions", json{{"messages", json::array()}}.dump()), 400);
  expect_error(raw_post("/v1/chat/completions", json{{"messages", {{{"role", "wizard"}, {"content", "x"}}}}}.dump()),
               400);
  expect_error(raw_post("/v1/chat/completions", json{{"messages", {{{"content", "x"}}}}}.dump()), 400);
}

TEST_F(ServerTest, BodyTooLarge) {
  json body = {{"prompt", std::string(70 * 1024, 'a')}};
  expect_error(raw_post("/v1/completions", body.dump()), 413);
  // The server still answers.
  post("/v1/completions", {{"prompt", kArithmeticPrompt}, {"max_tokens", 2}});
}

TEST_F(ServerTest, ConcurrentStreamsAllComplete) {
  const std::vector<std::string> prompts = {
      kArithmeticPrompt, "Q: Ben has 5 cars. He gets 9 more. How many cars does Ben have?\nA:",
      "Q: Zoe had 30 stickers. She gave away 12. How many are left?\nA:",
      "Q: A box holds 4 bags with 6 marbles in each. How many marbles?\nA:"};
  std::vector<std::string> expected;
  for (const auto& p : prompts) {
    expected.push_back(post("/v1/completions", {{"prompt", p}, {"max_tokens", 20}, {"temperature", 0}})["choices"][0]["text"]);
  }
  std::vector<Sse> got(prompts.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < prompts.size(); ++i) {
    threads.emplace_back([&, i] {
      got[i] = post_stream("/v1/completions", {{"prompt", prompts[i]}, {"max_tokens", 20}, {"temperature", 0}});
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_TRUE(got[i].done) << i;
    EXPECT_EQ(got[i].text, expected[i]) << i;
  }
}

// Requests may name the entropix sampler whatever the server's default, so an engine
// without the attention scores its profile reads is refused at start, not per request.
TEST(ServerPolicy, EngineWithoutTheAttentionRequestsMayNeedIsRefused) {
  EngineOptions eo;
  eo.n_ctx = 512;
  eo.n_threads = 1;
  auto engine = Engine::load((source_dir() / "models/demo/demo-q8_0.gguf").string(), eo);
  ServerOptions o = demo_server_options();  // greedy by default
  try {
    Server server(*engine, o);
    FAIL() << "expected the server to refuse the engine";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("attention"), std::string::npos) << e.what();
  }
  o.decode.profile.use_attention = false;  // a profile that does not read them needs none
  EXPECT_NO_THROW(Server(*engine, o));
}

TEST(ServerPolicy, NonLoopbackNeedsKeyOrForce) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("192.168.1.2"));
  auto engine = load_demo_engine();
  ServerOptions o = demo_server_options();
  o.host = "0.0.0.0";
  o.api_key.clear();
  EXPECT_THROW(Server(*engine, o), Error);
  o.force_insecure = true;
  EXPECT_NO_THROW(Server(*engine, o));
  o.force_insecure = false;
  o.api_key = kServerKey;
  EXPECT_NO_THROW(Server(*engine, o));
}

TEST(ServerLimits, FullQueueGets429) {
  auto engine = load_demo_engine();
  ServerOptions o = demo_server_options();
  o.loop.max_queue = 0;  // nothing may wait
  Server server(*engine, o);
  httplib::Client c("127.0.0.1", server.start());
  c.set_bearer_token_auth(kServerKey);
  auto r = c.Post("/v1/completions", json{{"prompt", "x"}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "queue_full");
}

TEST(ServerChat, TemplateOverride) {
  auto engine = load_demo_engine();
  ServerOptions o = demo_server_options();
  o.chat_template = "{% for m in messages %}Q: {{ m.content }}\nA:{% endfor %}";
  Server server(*engine, o);
  httplib::Client c("127.0.0.1", server.start());
  c.set_bearer_token_auth(kServerKey);
  c.set_read_timeout(60, 0);
  json chat = {{"messages", {{{"role", "user"}, {"content", "Mia has 12 apples. She buys 7 more. How many apples does Mia have now?"}}}},
               {"max_tokens", 10},
               {"temperature", 0}};
  auto a = c.Post("/v1/chat/completions", chat.dump(), "application/json");
  ASSERT_TRUE(a);
  ASSERT_EQ(a->status, 200) << a->body;
  // The template renders the same text as kArithmeticPrompt (without BOS: templates write their own).
  const auto ids = engine->tokenizer().encode(kArithmeticPrompt, false, true);
  auto b = c.Post("/v1/completions", json{{"prompt", ids}, {"max_tokens", 10}, {"temperature", 0}}.dump(),
                  "application/json");
  ASSERT_TRUE(b);
  ASSERT_EQ(b->status, 200) << b->body;
  EXPECT_EQ(json::parse(a->body)["choices"][0]["message"]["content"], json::parse(b->body)["choices"][0]["text"]);
}

// A template that runs away on a chat request fails that request, naming the template, and
// the server goes on serving.
TEST(ServerChat, RunawayTemplateIsABadRequestNamingTheTemplate) {
  auto engine = load_demo_engine();
  ServerOptions o = demo_server_options();
  o.chat_template = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
  Server server(*engine, o);
  httplib::Client c("127.0.0.1", server.start());
  c.set_bearer_token_auth(kServerKey);
  c.set_read_timeout(60, 0);
  const json chat = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 2}};
  auto a = c.Post("/v1/chat/completions", chat.dump(), "application/json");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 400) << a->body;
  const std::string message = json::parse(a->body)["error"]["message"];
  EXPECT_NE(message.find("the --chat-template file"), std::string::npos) << message;
  EXPECT_NE(message.find("ms"), std::string::npos) << message;
  auto b = c.Post("/v1/completions", json{{"prompt", "x"}, {"max_tokens", 2}}.dump(), "application/json");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->status, 200) << b->body;
}

// Thinking text the policy inserts carries the ids it inserted (the demo model's
// profile inserts " Wait," after an uncertain step, about once per answer).
TEST(ServerTokenIds, InsertedThinkingCarriesItsIds) {
  const auto model = source_dir() / "models/demo/demo-q8_0.gguf";
  const auto profile = find_profile(model);
  ASSERT_TRUE(profile);
  ServerOptions o = demo_server_options();
  o.decode.sampler = SamplerKind::Entropix;
  o.decode.profile = load_profile(*profile);
  DemoServer server(o);
  const Tokenizer& tok = server.engine->tokenizer();
  std::istringstream tasks(read_file(source_dir() / "data/tasks/test-in.jsonl"));
  std::string line;
  bool inserted = false;
  for (int i = 0; i < 20 && !inserted && std::getline(tasks, line); ++i) {
    const json task = json::parse(line);
    const json j = server.post("/v1/completions", {{"prompt", task["prompt"]}, {"max_tokens", 120}, {"seed", i}});
    const json& c = j["choices"][0];
    expect_ids_decode_to_text(tok, c["entropix"], c["text"].get<std::string>());
    for (const json& t : c["entropix"]) inserted = inserted || t["inserted"].get<bool>();
  }
  EXPECT_TRUE(inserted) << "no thinking text inserted in 20 answers";
}

// A client gone mid-stream cancels its request; the server frees the slot and goes on.
TEST(ServerDisconnect, CancelsAndKeepsServing) {
  std::signal(SIGPIPE, SIG_IGN);
  auto engine = load_demo_engine(8192);
  ServerOptions o = demo_server_options();
  o.decode.ignore_eos = true;  // a long answer, so that the client surely leaves before the end
  o.limits.max_tokens = 8000;
  Server server(*engine, o);
  const int port = server.start();

  httplib::Client c("127.0.0.1", port);
  c.set_bearer_token_auth(kServerKey);
  c.set_read_timeout(60, 0);
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.headers = {{"Authorization", std::string("Bearer ") + kServerKey}};
  req.set_header("Content-Type", "application/json");
  req.body = json{{"prompt", kArithmeticPrompt}, {"max_tokens", 8000}, {"stream", true}, {"temperature", 0}}.dump();
  req.content_receiver = [](const char*, size_t, uint64_t, uint64_t) { return false; };  // leaves at the first chunk
  auto r = c.send(req);
  EXPECT_FALSE(r);  // the receiver stopped it
  c.stop();

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (server.stats().cancelled < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(server.stats().cancelled, 1);

  auto after = c.Post("/v1/completions", json{{"prompt", kArithmeticPrompt}, {"max_tokens", 3}}.dump(), "application/json");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200) << after->body;
  EXPECT_EQ(json::parse(after->body)["usage"]["completion_tokens"], 3);
  EXPECT_EQ(server.stats().active, 0);
}

// The loop on its own: cancelling a job ends it with Cancelled and frees its sequence.
TEST(InferenceLoop, CancelFreesTheSequence) {
  auto engine = load_demo_engine();
  const int32_t free_before = engine->free_positions();
  InferenceLoop loop(*engine, LoopOptions{});
  auto job = std::make_shared<Job>();
  job->prompt = engine->tokenizer().encode(kArithmeticPrompt, true, false);
  job->decode.sampler = SamplerKind::Greedy;
  job->decode.ignore_eos = true;
  job->decode.max_tokens = 1900;
  ASSERT_EQ(loop.submit(job), InferenceLoop::Submit::Queued);
  JobEvent last;
  bool cancelled = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!last.done && std::chrono::steady_clock::now() < deadline) {
    for (JobEvent& ev : job->wait(std::chrono::milliseconds(100))) {
      if (!cancelled) {
        job->cancelled = true;
        cancelled = true;
      }
      last = std::move(ev);
    }
  }
  ASSERT_TRUE(last.done);
  EXPECT_EQ(last.finish, FinishReason::Cancelled);
  EXPECT_LT(last.n_generated, 1900);
  EXPECT_EQ(loop.stats().cancelled, 1);
  EXPECT_EQ(engine->free_positions(), free_before);
}

}  // namespace
