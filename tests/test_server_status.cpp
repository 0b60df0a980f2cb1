// Status codes and their OpenAI-shaped errors (400, 401, 404, 413, 429, 503),
// a non-streamed request cancelled by its client leaving, graceful shutdown.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

#include "server_fixture.h"

using nlohmann::json;
using namespace entropix;
using namespace entropix::testing;
using Clock = std::chrono::steady_clock;

namespace {

// A request sent on a bare socket, so that the test decides when the client leaves.
class RawRequest {
 public:
  RawRequest(int port, const std::string& path, const json& body) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const std::string payload = body.dump();
    const std::string req = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + kServerKey +
                            "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(payload.size()) +
                            "\r\n\r\n" + payload;
    EXPECT_EQ(send(fd_, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  }
  ~RawRequest() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Polls `done` every 10 ms for up to `limit`; returns whether it became true.
template <class F>
bool eventually(F done, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// A server whose answers run long: end of text ignored, a large context.
server::ServerOptions long_answer_options() {
  server::ServerOptions o = demo_server_options();
  o.decode.ignore_eos = true;
  o.limits.max_tokens = 16000;
  return o;
}
const json kLongRequest = {{"prompt", kArithmeticPrompt}, {"max_tokens", 16000}, {"temperature", 0}};

TEST(ServerStatus, ErrorsAreOpenAIShaped) {
  DemoServer s;
  expect_api_error(s.raw_post("/v1/completions", "{\"prompt\": "), 400, "invalid_json");
  expect_api_error(s.raw_post("/v1/completions", json{{"prompt", "x"}, {"top_k", "many"}}.dump()), 400, "invalid_type");
  expect_api_error(s.client(false).Post("/v1/completions", json{{"prompt", "x"}}.dump(), "application/json"), 401,
                   "invalid_api_key");
  expect_api_error(s.client(false).Get("/metrics"), 401, "invalid_api_key");
  auto health = s.client(false).Get("/health");  // open: liveness probes carry no key
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  expect_api_error(s.client().Get("/v1/engines"), 404, "not_found");
  expect_api_error(s.client().Delete("/v1/completions"), 404, "not_found");
  expect_api_error(s.raw_post("/v1/completions", json{{"prompt", std::string(100 * 1024, 'x')}}.dump()), 413,
                   "body_too_large");
  EXPECT_EQ(s.post("/v1/completions", {{"prompt", "Q:"}, {"max_tokens", 2}})["usage"]["completion_tokens"], 2);
}

// More requests waiting than --max-queue: 429 with Retry-After; leaving clients free the slots.
TEST(ServerStatus, FullQueueIs429) {
  server::ServerOptions o = long_answer_options();
  o.loop.parallel = 1;
  o.loop.max_queue = 1;
  DemoServer s(o, 16384);
  RawRequest running(s.port, "/v1/completions", kLongRequest);
  ASSERT_TRUE(eventually([&] { return s.server->stats().active == 1; }));
  RawRequest waiting(s.port, "/v1/completions", kLongRequest);
  ASSERT_TRUE(eventually([&] { return s.server->stats().queued == 1; }));
  auto r = s.raw_post("/v1/completions", kLongRequest.dump());
  expect_api_error(r, 429, "queue_full");
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  running.close();
  waiting.close();
  ASSERT_TRUE(eventually([&] { return s.server->stats().cancelled == 2; }));
  EXPECT_EQ(s.post("/v1/completions", {{"prompt", "Q:"}, {"max_tokens", 3}})["usage"]["completion_tokens"], 3);
}

// A client that leaves a non-streamed request: its sequence is cancelled within
// a few polls, long before the answer would have ended, and the next request is served.
TEST(ServerStatus, NonStreamedRequestCancelledWhenTheClientLeaves) {
  DemoServer s(long_answer_options(), 16384);
  {
    RawRequest gone(s.port, "/v1/completions", kLongRequest);
    ASSERT_TRUE(eventually([&] { return s.server->stats().active == 1; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // some tokens generated
  }
  const auto closed = Clock::now();
  ASSERT_TRUE(eventually([&] { return s.server->stats().cancelled == 1; }));
  EXPECT_LT(Clock::now() - closed, std::chrono::seconds(10));
  EXPECT_EQ(s.server->stats().active, 0);
  const std::string metrics = s.metrics();
  EXPECT_NE(metrics.find("entropix_cancelled_requests_total 1\n"), std::string::npos) << metrics;
  auto after = s.post("/v1/completions", {{"prompt", kArithmeticPrompt}, {"max_tokens", 3}});
  EXPECT_EQ(after["usage"]["completion_tokens"], 3);
}

TEST(ServerStatus, ShuttingDownIs503AfterFinishingWhatRuns) {
  DemoServer s(long_answer_options(), 4096);
  json in_flight;
  SseResponse streamed;
  std::thread t([&] { in_flight = s.post("/v1/completions", {{"prompt", kArithmeticPrompt}, {"max_tokens", 600}}); });
  std::thread u([&] { streamed = s.post_stream("/v1/completions", {{"prompt", kArithmeticPrompt}, {"max_tokens", 600}}); });
  ASSERT_TRUE(eventually([&] { return s.server->stats().active == 2; }));
  s.server->begin_shutdown();
  expect_api_error(s.raw_post("/v1/completions", json{{"prompt", "x"}}.dump()), 503, "shutting_down");
  expect_api_error(s.raw_post("/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", "x"}}}}}.dump()),
                   503, "shutting_down");
  auto health = s.client(false).Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  EXPECT_EQ(json::parse(health->body)["status"], "shutting_down");
  // The grace is only an upper bound (shutdown returns once the work is done);
  // it is generous because sanitizer builds under a parallel ctest run are slow.
  s.server->shutdown(std::chrono::seconds(600));
  t.join();
  u.join();
  // The requests in flight were answered in full, the stream to its [DONE].
  EXPECT_EQ(in_flight["usage"]["completion_tokens"], 600);
  EXPECT_EQ(in_flight["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(streamed.done);
  ASSERT_EQ(streamed.finish.size(), 1u);
  EXPECT_EQ(streamed.finish[0], "length");
}

}  // namespace

namespace {

// A request still running when the grace period ends gets an error, not a hang.
TEST(ServerStatus, ShutdownGraceRunOutEndsRequestsWithAnError) {
  DemoServer s(long_answer_options(), 16384);
  std::optional<httplib::Result> streamed, whole;
  std::thread a([&] {
    json body = kLongRequest;
    body["stream"] = true;
    streamed.emplace(s.raw_post("/v1/completions", body.dump()));
  });
  std::thread b([&] { whole.emplace(s.raw_post("/v1/completions", kLongRequest.dump())); });
  ASSERT_TRUE(eventually([&] { return s.server->stats().active == 2; }));
  const auto start = Clock::now();
  s.server->shutdown(std::chrono::milliseconds(100));
  a.join();
  b.join();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  expect_api_error(*whole, 500, "generation_failed");
  ASSERT_TRUE(*streamed);
  const SseResponse sse = parse_sse_body((*streamed)->body);
  EXPECT_TRUE(sse.done);
  ASSERT_FALSE(sse.chunks.empty());
  EXPECT_EQ(sse.chunks.back()["error"]["message"], "the server is shutting down");
}

}  // namespace
