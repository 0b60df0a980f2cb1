// A server on the demo model, in-process on 127.0.0.1 with an ephemeral port,
// and the client helpers the server tests share (httplib::Client, SSE parsing).
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <csignal>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/engine.h"
#include "server/server.h"
#include "support.h"

namespace entropix::testing {

inline const char* kServerKey = "test-key";
inline const char* kArithmeticPrompt =
    "Q: Mia has 12 apples. She buys 7 more. How many apples does Mia have now?\nA:";

inline server::ServerOptions demo_server_options() {
  server::ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.api_key = kServerKey;
  o.model_name = "demo";
  o.decode.sampler = SamplerKind::Greedy;
  o.decode.max_tokens = 16;
  o.loop.parallel = 4;
  o.max_body_bytes = 64 * 1024;
  return o;
}

inline std::unique_ptr<Engine> load_demo_engine(int32_t n_ctx = 2048) {
  EngineOptions eo;
  eo.n_ctx = n_ctx;
  eo.n_threads = 1;
  set_engine_needs(eo, request_decode_uses(demo_server_options().decode));
  return Engine::load((source_dir() / "models/demo/demo-q8_0.gguf").string(), eo);
}

// A streamed response, parsed.
struct SseResponse {
  std::vector<nlohmann::json> chunks;
  bool done = false;                 // ended with data: [DONE]
  std::vector<std::string> text;     // per choice index: text or delta.content, concatenated
  std::vector<std::string> finish;   // per choice index
};

inline SseResponse parse_sse_body(const std::string& body) {
  SseResponse s;
  size_t at = 0;
  while (at < body.size()) {
    size_t end = body.find("\n\n", at);
    if (end == std::string::npos) end = body.size();
    const std::string event = body.substr(at, end - at);
    at = end + 2;
    if (event.rfind("data: ", 0) != 0) continue;
    const std::string data = event.substr(6);
    EXPECT_FALSE(s.done) << "data after [DONE]";
    if (data == "[DONE]") {
      s.done = true;
      continue;
    }
    nlohmann::json j = nlohmann::json::parse(data);
    for (const nlohmann::json& c : j.value("choices", nlohmann::json::array())) {
      const size_t i = c["index"].get<size_t>();
      if (s.text.size() <= i) {
        s.text.resize(i + 1);
        s.finish.resize(i + 1);
      }
      if (c.contains("text")) s.text[i] += c["text"].get<std::string>();
      if (c.contains("delta") && c["delta"].contains("content")) s.text[i] += c["delta"]["content"].get<std::string>();
      if (!c["finish_reason"].is_null()) s.finish[i] = c["finish_reason"].get<std::string>();
    }
    s.chunks.push_back(std::move(j));
  }
  return s;
}

// One server for a test (or a suite): start() it, then talk to it.
struct DemoServer {
  std::unique_ptr<Engine> engine;
  std::unique_ptr<server::Server> server;
  int port = 0;

  explicit DemoServer(server::ServerOptions options = demo_server_options(), int32_t n_ctx = 2048) {
    std::signal(SIGPIPE, SIG_IGN);
    engine = load_demo_engine(n_ctx);
    server = std::make_unique<server::Server>(*engine, std::move(options));
    port = server->start();
  }
  ~DemoServer() {
    server.reset();
    engine.reset();
  }

  httplib::Client client(bool with_key = true) const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    if (with_key) c.set_bearer_token_auth(kServerKey);
    return c;
  }
  httplib::Result raw_post(const std::string& path, const std::string& body) const {
    return client().Post(path.c_str(), body, "application/json");
  }
  nlohmann::json post(const std::string& path, const nlohmann::json& body, int expect_status = 200) const {
    auto r = raw_post(path, body.dump());
    EXPECT_TRUE(r) << "no response";
    if (!r) return {};
    EXPECT_EQ(r->status, expect_status) << r->body;
    return nlohmann::json::parse(r->body);
  }
  SseResponse post_stream(const std::string& path, nlohmann::json body) const {
    body["stream"] = true;
    auto r = raw_post(path, body.dump());
    EXPECT_TRUE(r) << "no response";
    if (!r) return {};
    EXPECT_EQ(r->status, 200) << r->body;
    return parse_sse_body(r->body);
  }
  std::string metrics() const {
    auto r = client().Get("/metrics");
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_EQ(r->status, 200);
    return r->body;
  }
};

// An OpenAI-shaped error with this status.
inline void expect_api_error(const httplib::Result& r, int status, const std::string& code = "") {
  ASSERT_TRUE(r) << "no response";
  EXPECT_EQ(r->status, status) << r->body;
  const nlohmann::json j = nlohmann::json::parse(r->body);
  ASSERT_TRUE(j.contains("error")) << r->body;
  EXPECT_TRUE(j["error"]["message"].is_string());
  EXPECT_TRUE(j["error"]["type"].is_string());
  EXPECT_TRUE(j["error"].contains("code"));
  if (!code.empty()) {
    EXPECT_EQ(j["error"]["code"], code) << r->body;
  }
}

}  // namespace entropix::testing
