// Hostile clients on loopback, each bounded in time and count: slow headers, slow
// bodies, a connection flood, a crowd of streaming requests, a deeply nested body,
// a chunked body over the limit. Each ends with /health answering and a normal
// request served. Clients that must not share the crowd's per-address cap speak
// from other loopback addresses (127.0.0.0/8 all reach a server on 127.0.0.1).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "server/request_fields.h"
#include "server_fixture.h"

using nlohmann::json;
using namespace entropix;
using namespace entropix::server;
using namespace entropix::testing;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// A TCP connection to the server from a chosen loopback address; closed on destruction.
class RawClient {
 public:
  RawClient(int port, const char* from = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    inet_pton(AF_INET, from, &src.sin_addr);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof src);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&dst), sizeof dst) == 0;
    timeval five{5, 0};  // a send the server no longer reads fails rather than hangs the test
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &five, sizeof five);
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }
  // Whether all of it was sent (false once the server has closed).
  bool send(const std::string& s) {
    size_t at = 0;
    while (at < s.size()) {
      const ssize_t n = ::send(fd_, s.data() + at, s.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return false;
      at += static_cast<size_t>(n);
    }
    return true;
  }
  // What arrives until the server closes or `timeout` passes.
  std::string read_all(milliseconds timeout) {
    std::string out;
    const auto until = Clock::now() + timeout;
    char buf[4096];
    for (;;) {
      const auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now()).count();
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  bool closed_by_server() const { return closed_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
};

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return 0;
  return std::stoi(response.substr(9, 3));
}

// GET /health from `from`, on a connection of its own: the status, 0 for none within `timeout`.
int health(int port, const char* from, milliseconds timeout = milliseconds(3000)) {
  RawClient c(port, from);
  if (!c.connected() || !c.send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) return 0;
  return status_of(c.read_all(timeout));
}

// The status each client is answered with within `timeout` (0: none; the admitted
// ones of a flood send nothing and are answered nothing).
std::vector<int> statuses(std::vector<std::unique_ptr<RawClient>>& clients, milliseconds timeout,
                          std::vector<std::string>* responses = nullptr) {
  std::vector<int> out(clients.size(), 0);
  std::vector<std::string> got(clients.size());
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    bool all = true;
    for (size_t i = 0; i < clients.size(); ++i) {
      if (out[i] != 0) continue;
      got[i] += clients[i]->read_all(milliseconds(2));
      out[i] = status_of(got[i]);
      all = all && out[i] != 0;
    }
    if (all) break;
  }
  if (responses) *responses = got;
  return out;
}

ServerOptions hostile_options() {
  ServerOptions o = demo_server_options();
  o.header_timeout = milliseconds(1000);
  o.body_timeout = milliseconds(1500);
  o.max_connections = 64;
  o.max_connections_per_client = 16;
  return o;
}

// The server still does its job: /health answers and a completion is served.
void expect_serving(DemoServer& server) {
  EXPECT_EQ(health(server.port, "127.0.0.1"), 200);
  auto r = server.client().Post("/v1/completions", json{{"prompt", "Once upon a time"}, {"max_tokens", 4}}.dump(),
                                "application/json");
  ASSERT_TRUE(r) << "no response";
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST(HostileClients, SlowHeadersNeitherBlockHealthNorStayOpen) {
  ServerOptions o = hostile_options();
  o.header_timeout = milliseconds(5000);  // longer than the health checks may take, even on a loaded machine
  DemoServer server(o);
  // More drippers than the threads kept ready (parallel + 8 = 12), each sending a
  // header line every 200 ms, forever if let.
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 14; ++i) {
    slow.push_back(std::make_unique<RawClient>(server.port, "127.0.0.3"));
    ASSERT_TRUE(slow.back()->send("POST /v1/completions HTTP/1.1\r\n"));
  }
  std::atomic<bool> dripping{true};
  std::thread drip([&] {
    for (int line = 0; dripping; ++line) {
      for (auto& c : slow) c->send("X-Drip-" + std::to_string(line) + ": 1\r\n");
      std::this_thread::sleep_for(milliseconds(200));
    }
  });
  // While they drip, health checks are answered at once, from their address too.
  EXPECT_EQ(health(server.port, "127.0.0.1", milliseconds(2000)), 200);
  EXPECT_EQ(health(server.port, "127.0.0.3", milliseconds(2000)), 200);
  // Past the header deadline each dripping connection is answered 408 and closed.
  for (auto& c : slow) {
    const std::string got = c->read_all(milliseconds(8000));
    EXPECT_TRUE(c->closed_by_server());
    if (!got.empty()) {
      EXPECT_EQ(status_of(got), 408) << got.substr(0, 200);
    }
  }
  dripping = false;
  drip.join();
  expect_serving(server);
}

TEST(HostileClients, SlowBodyIsCutOffWith408) {
  DemoServer server(hostile_options());
  RawClient c(server.port);
  ASSERT_TRUE(c.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + std::string(kServerKey) +
                     "\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n\r\n{\"prompt\": \""));
  const auto t0 = Clock::now();
  std::string got;
  while (got.empty() && Clock::now() - t0 < milliseconds(10000)) {
    c.send("aaaa");  // 4 bytes every 100 ms: 2000 bytes would take 50 s
    got = c.read_all(milliseconds(100));
  }
  EXPECT_EQ(status_of(got), 408) << got.substr(0, 300);
  EXPECT_LT(Clock::now() - t0, milliseconds(8000));  // 1.5 s, and a loaded machine's delays
  expect_serving(server);
}

TEST(HostileClients, ConnectionFloodIsCappedPerAddress) {
  DemoServer server(hostile_options());
  std::vector<std::unique_ptr<RawClient>> flood;
  for (int i = 0; i < 40; ++i) flood.push_back(std::make_unique<RawClient>(server.port, "127.0.0.2"));
  // Those over the cap of 16 from one address are refused at once with 429 and Retry-After.
  std::vector<std::string> got;
  const std::vector<int> st = statuses(flood, milliseconds(5000), &got);
  int refused = 0;
  for (size_t i = 0; i < st.size(); ++i) {
    if (st[i] != 429) continue;
    ++refused;
    EXPECT_NE(got[i].find("Retry-After: 1"), std::string::npos) << got[i];
  }
  EXPECT_EQ(refused, 40 - 16);
  // Other addresses are served meanwhile.
  EXPECT_EQ(health(server.port, "127.0.0.1"), 200);
  flood.clear();
  expect_serving(server);
}

TEST(HostileClients, ConnectionsOverTheServerCapGet503) {
  ServerOptions o = hostile_options();
  o.max_connections = 24;
  DemoServer server(o);
  std::vector<std::unique_ptr<RawClient>> flood;
  for (int i = 0; i < 40; ++i) {
    const std::string from = "127.0.1." + std::to_string(1 + i);  // each under its own cap
    flood.push_back(std::make_unique<RawClient>(server.port, from.c_str()));
  }
  const std::vector<int> st = statuses(flood, milliseconds(5000));
  EXPECT_EQ(std::count(st.begin(), st.end(), 503), 40 - 24);
  flood.clear();
  std::this_thread::sleep_for(milliseconds(200));  // the server sees them close
  expect_serving(server);
}

TEST(HostileClients, CrowdOfStreamsGets429AtOnceAndHealthAnswers) {
  ServerOptions o = hostile_options();
  o.loop.parallel = 1;
  o.loop.max_queue = 2;
  o.max_connections_per_client = 64;
  o.decode.ignore_eos = true;
  DemoServer server(o);
  const std::string body = json{{"prompt", "Once upon a time"}, {"max_tokens", 1500}, {"stream", true}}.dump();
  const std::string request = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                              std::string(kServerKey) + "\r\nContent-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
  std::vector<std::unique_ptr<RawClient>> crowd;
  for (int i = 0; i < 30; ++i) {
    crowd.push_back(std::make_unique<RawClient>(server.port));
    ASSERT_TRUE(crowd.back()->send(request));
  }
  // One decodes and two wait (a few more may get in as answers end); the others are
  // told 429 with Retry-After at once, not after waiting in a backlog.
  std::vector<std::string> got;
  const std::vector<int> st = statuses(crowd, milliseconds(3000), &got);
  int too_many = 0;
  for (size_t i = 0; i < st.size(); ++i) {
    if (st[i] != 429) continue;
    ++too_many;
    EXPECT_NE(got[i].find("Retry-After"), std::string::npos) << got[i].substr(0, 300);
  }
  EXPECT_GE(too_many, 20);
  EXPECT_EQ(health(server.port, "127.0.0.1", milliseconds(3000)), 200);
  crowd.clear();  // the streams are cancelled as their clients go
  const auto until = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < until && (server.server->stats().active > 0 || server.server->stats().queued > 0))
    std::this_thread::sleep_for(milliseconds(20));
  expect_serving(server);
}

TEST(HostileClients, DeeplyNestedValueIsA400WithAShortMessage) {
  ServerOptions o = hostile_options();
  o.max_body_bytes = 1 << 20;
  DemoServer server(o);
  for (const char* field : {"max_tokens", "n", "seed", "top_k", "top_logprobs"}) {
    const std::string nested = std::string(100000, '[') + "1" + std::string(100000, ']');
    const std::string body = "{\"prompt\": \"hi\", \"" + std::string(field) + "\": " + nested + "}";
    auto r = server.client().Post("/v1/completions", body, "application/json");
    ASSERT_TRUE(r) << field << ": no response (the server died?)";
    EXPECT_EQ(r->status, 400) << field;
    EXPECT_LT(r->body.size(), 400u) << field << ": " << r->body.substr(0, 300);
  }
  // Shallow, but a wrong type: the message names the field and does not echo the value.
  std::string wide = "[1";
  for (int i = 0; i < 50000; ++i) wide += ",1";
  wide += "]";
  auto r = server.client().Post("/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": " + wide + "}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_LT(r->body.size(), 400u) << r->body.substr(0, 300);
  EXPECT_NE(r->body.find("max_tokens"), std::string::npos) << r->body.substr(0, 300);
  // A huge number: the parser's message does not repeat it.
  r = server.client().Post("/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": " + std::string(50000, '1') + "}",
                           "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_LT(r->body.size(), 400u) << r->body.substr(0, 300);
  expect_serving(server);
}

TEST(HostileClients, ChunkedBodyOverTheLimitIsRefusedEarly) {
  DemoServer server(hostile_options());  // bodies of 64 KiB at most
  RawClient c(server.port);
  ASSERT_TRUE(c.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + std::string(kServerKey) +
                     "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk = "10000\r\n" + std::string(0x10000, ' ') + "\r\n";
  size_t sent = 0;
  for (int i = 0; i < 1024 && c.send(chunk); ++i) sent += 0x10000;  // 64 MiB unless cut off
  const std::string got = c.read_all(milliseconds(3000));
  EXPECT_EQ(status_of(got), 413) << got.substr(0, 300);
  EXPECT_LT(sent, size_t{64} << 20) << "the server read the whole body";
  expect_serving(server);
}

TEST(RequestFields, NestingDepthCountsBracketsOutsideStrings) {
  EXPECT_EQ(json_nesting_depth("{}"), 1u);
  EXPECT_EQ(json_nesting_depth("{\"a\": [[1], {\"b\": []}]}"), 4u);
  EXPECT_EQ(json_nesting_depth("{\"a\": \"[[[[\\\"[[\"}"), 1u);
  EXPECT_EQ(json_nesting_depth(std::string(100000, '[')), 100000u);
  EXPECT_THROW(parse_json_object("{\"a\": " + std::string(65, '[') + std::string(65, ']') + "}"), ApiError);
  EXPECT_NO_THROW(parse_json_object("{\"a\": " + std::string(60, '[') + std::string(60, ']') + "}"));
}

TEST(RequestFields, QuotedValuesAreShortAndFlat) {
  EXPECT_EQ(quote_value(json::parse("[[[1]]]")), "an array of 1 element");
  EXPECT_EQ(quote_value(json::parse("{\"a\": 1, \"b\": 2}")), "an object of 2 keys");
  EXPECT_EQ(quote_value(json(2.5)), "2.5");
  EXPECT_EQ(quote_value(json("short")), "\"short\"");
  const std::string q = quote_value(json(std::string(1000, 'x')));
  EXPECT_LT(q.size(), 80u);
  EXPECT_NE(q.find("1000 bytes"), std::string::npos) << q;
  // Cut on a character boundary: the quote stays valid UTF-8.
  const std::string cut = quote_value(json(std::string(39, 'x') + "\u00e9\u00e9" + std::string(100, 'y')));
  EXPECT_TRUE(json::accept("\"" + cut.substr(1, cut.find("\"...") - 1) + "\"")) << cut;
}

TEST(BearerScheme, AnyLetterCase) {
  EXPECT_EQ(bearer_credentials("Bearer abc"), "abc");
  EXPECT_EQ(bearer_credentials("bearer abc"), "abc");
  EXPECT_EQ(bearer_credentials("BEARER  abc"), "abc");
  EXPECT_EQ(bearer_credentials("Basic abc"), "");
  EXPECT_EQ(bearer_credentials("Bearerabc"), "");
  EXPECT_EQ(bearer_credentials("Bearer"), "");
}

TEST(BearerScheme, ServerTakesLowerCaseScheme) {
  DemoServer server(hostile_options());
  httplib::Client c("127.0.0.1", server.port);
  auto r = c.Get("/v1/models", httplib::Headers{{"Authorization", std::string("bearer ") + kServerKey}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

}  // namespace
