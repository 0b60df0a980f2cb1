// The server's prefix cache (LoopOptions::prefix_cache): the same answers with it
// and without it over a scripted mix of requests (repeats, a shared system prompt,
// a growing chat, n > 1, a cancellation), usage.prompt_tokens_details.cached_tokens,
// eviction under a small context with concurrent requests, and /metrics.
#include <chrono>
#include <functional>
#include <regex>
#include <thread>

#include "server_fixture.h"

using nlohmann::json;
using namespace entropix;
using namespace entropix::testing;

namespace {

server::ServerOptions cache_options(bool on, int64_t cache_ram_mib = 0) {
  server::ServerOptions o = demo_server_options();
  o.loop.prefix_cache = on;
  o.loop.cache_ram_mib = cache_ram_mib;
  o.limits.max_tokens = 4000;
  return o;
}

// A reply reduced to what must not depend on the cache, plus its cached tokens.
struct Reply {
  std::vector<std::string> text;
  std::vector<std::string> finish;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = -1;
};

Reply reply_of(const json& r) {
  Reply out;
  for (const json& c : r["choices"]) {
    out.text.push_back(c.contains("message") ? c["message"]["content"].get<std::string>() : c["text"].get<std::string>());
    out.finish.push_back(c["finish_reason"].get<std::string>());
  }
  out.prompt_tokens = r["usage"]["prompt_tokens"].get<int>();
  out.completion_tokens = r["usage"]["completion_tokens"].get<int>();
  out.cached_tokens = r["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>();
  return out;
}

int64_t metric(const std::string& text, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("\n" + name + " ([0-9.e+-]+)\n"))) {
    ADD_FAILURE() << name << " not in /metrics:\n" << text;
    return -1;
  }
  return static_cast<int64_t>(std::stod(m[1].str()));
}

bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

const json kSystem = {{"role", "system"}, {"content", "You are a careful tutor. Answer with the number first, then explain."}};

// Leaves a streamed request at its first chunk, then waits until the server has ended it.
void cancel_midway(const DemoServer& s, const std::string& prompt) {
  const int64_t before = s.server->stats().completed;
  httplib::Client c = s.client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.headers = {{"Authorization", std::string("Bearer ") + kServerKey}};
  req.set_header("Content-Type", "application/json");
  req.body = json{{"prompt", prompt}, {"max_tokens", 2000}, {"stream", true}}.dump();  // fits the 2048 positions
  req.content_receiver = [](const char*, size_t, uint64_t, uint64_t) { return false; };
  EXPECT_FALSE(c.send(req));
  c.stop();
  EXPECT_TRUE(eventually([&] { return s.server->stats().completed > before && s.server->stats().active == 0; }));
}

// The scripted mix, request by request (so that what is cached when is the same on
// every run); returns the replies in order.
std::vector<Reply> run_mix(const DemoServer& s) {
  std::vector<Reply> out;
  auto completion = [&](const json& body) { out.push_back(reply_of(s.post("/v1/completions", body))); };
  auto chat = [&](const json& messages, const json& extra = json::object()) {
    json body = {{"messages", messages}, {"max_tokens", 16}};
    body.update(extra);
    out.push_back(reply_of(s.post("/v1/chat/completions", body)));
    return out.back();
  };
  // 0, 1: a repeat.
  completion({{"prompt", kArithmeticPrompt}, {"max_tokens", 16}});
  completion({{"prompt", kArithmeticPrompt}, {"max_tokens", 16}});
  // 2, 3: a shared system prompt.
  chat({kSystem, {{"role", "user"}, {"content", "What is 6 times 7?"}}});
  chat({kSystem, {{"role", "user"}, {"content", "What is 9 minus 4?"}}});
  // 4, 5, 6: a chat growing turn by turn, each turn sending the previous answer back.
  json messages = {kSystem};
  for (const char* question : {"Tom has 3 pens. He buys 4 more. How many now?", "And if he loses 2?", "Double it."}) {
    messages.push_back({{"role", "user"}, {"content", question}});
    const Reply r = chat(messages);
    messages.push_back({{"role", "assistant"}, {"content", r.text[0]}});
  }
  // 7, 8: n > 1 with a seeded sampler, twice.
  for (int i = 0; i < 2; ++i)
    completion({{"prompt", "Q: Name a colour.\nA:"}, {"max_tokens", 12}, {"temperature", 1.2}, {"seed", 11}, {"n", 3}});
  // 9: after a request cancelled midway, the same prompt whole.
  cancel_midway(s, "Q: Count from one to a hundred.\nA:");
  completion({{"prompt", "Q: Count from one to a hundred.\nA:"}, {"max_tokens", 16}});
  // 10..13: four at once sharing a prefix, then 14: a repeat of the first.
  std::vector<std::thread> threads;
  std::vector<json> together(4);
  for (size_t i = 0; i < together.size(); ++i)
    threads.emplace_back([&, i] {
      together[i] = s.post("/v1/completions",
                           {{"prompt", "Q: Sam has " + std::to_string(i + 2) + " cats and 5 dogs. How many pets?\nA:"},
                            {"max_tokens", 16}});
    });
  for (std::thread& t : threads) t.join();
  for (const json& r : together) out.push_back(reply_of(r));
  completion({{"prompt", "Q: Sam has 2 cats and 5 dogs. How many pets?\nA:"}, {"max_tokens", 16}});
  return out;
}

TEST(ServerPrefixCache, SameAnswersWithAndWithoutTheCache) {
  std::vector<Reply> on, off;
  {
    DemoServer s(cache_options(true));
    on = run_mix(s);
  }
  {
    DemoServer s(cache_options(false));
    off = run_mix(s);
  }
  ASSERT_EQ(on.size(), off.size());
  for (size_t i = 0; i < on.size(); ++i) {
    EXPECT_EQ(on[i].text, off[i].text) << "request " << i;
    EXPECT_EQ(on[i].finish, off[i].finish) << "request " << i;
    EXPECT_EQ(on[i].prompt_tokens, off[i].prompt_tokens) << "request " << i;
    EXPECT_EQ(on[i].completion_tokens, off[i].completion_tokens) << "request " << i;
    EXPECT_EQ(off[i].cached_tokens, 0) << "request " << i;
    EXPECT_LT(on[i].cached_tokens, on[i].prompt_tokens) << "request " << i;
  }
  EXPECT_EQ(on[0].cached_tokens, 0);                        // the first request finds nothing
  EXPECT_EQ(on[1].cached_tokens, on[1].prompt_tokens - 1);  // a repeat reads only its last token
  EXPECT_GT(on[3].cached_tokens, on[2].cached_tokens + 4);  // the system prompt too
  EXPECT_GE(on[5].cached_tokens, on[4].prompt_tokens - 1);  // the previous turn's prompt at least
  EXPECT_GE(on[6].cached_tokens, on[5].prompt_tokens - 1);
  EXPECT_EQ(on[8].cached_tokens, on[8].prompt_tokens - 1);  // n > 1: the forks' prompt
  EXPECT_EQ(on[9].cached_tokens, on[9].prompt_tokens - 1);  // what the cancelled request read
  EXPECT_EQ(on[14].cached_tokens, on[14].prompt_tokens - 1);
}

// A context of a few pages, and requests at once with different prompts: the cache
// must give back what the live requests need (none fails), keep to --cache-ram once
// they end, and the answers stay the same as without a cache. /metrics adds up to
// what the responses say.
TEST(ServerPrefixCache, EvictsUnderASmallContext) {
  constexpr int32_t kCtx = 512;  // four requests at once fit; the sixteen answers do not
  auto run = [&](bool on, std::string* metrics) {
    DemoServer s(cache_options(on, on ? 1 : 0), kCtx);
    std::vector<Reply> replies(16);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (size_t k = 0; k < 4; ++k) {
          const size_t i = t * 4 + k;
          const std::string prompt = "Q: " + std::to_string(i * 7 + 3) + " birds sit on a wire; " +
                                     std::to_string(i % 3 + 1) + " fly off. How many are left?\nA:";
          auto r = s.raw_post("/v1/completions", json{{"prompt", prompt}, {"max_tokens", 16}}.dump());
          ASSERT_TRUE(r);
          ASSERT_EQ(r->status, 200) << r->body;
          replies[i] = reply_of(json::parse(r->body));
        }
      });
    for (std::thread& th : threads) th.join();
    // A repeat of each, one at a time: some are still cached, some were evicted.
    for (size_t i = 0; i < 16; i += 5) {
      const std::string prompt = "Q: " + std::to_string(i * 7 + 3) + " birds sit on a wire; " +
                                 std::to_string(i % 3 + 1) + " fly off. How many are left?\nA:";
      replies.push_back(reply_of(s.post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 16}})));
    }
    if (metrics) *metrics = s.metrics();
    return replies;
  };
  std::string metrics;
  const std::vector<Reply> on = run(true, &metrics);
  const std::vector<Reply> off = run(false, nullptr);
  ASSERT_EQ(on.size(), off.size());
  int64_t prompt_tokens = 0, cached_tokens = 0;
  for (size_t i = 0; i < on.size(); ++i) {
    EXPECT_EQ(on[i].text, off[i].text) << "request " << i;
    prompt_tokens += on[i].prompt_tokens;
    cached_tokens += on[i].cached_tokens;
  }
  EXPECT_GT(cached_tokens, 0);
  EXPECT_EQ(metric(metrics, "entropix_prompt_tokens_total"), prompt_tokens);
  EXPECT_EQ(metric(metrics, "entropix_prompt_tokens_cached_total"), cached_tokens);
  EXPECT_EQ(metric(metrics, "entropix_prompt_tokens_read_total"), prompt_tokens - cached_tokens);
  EXPECT_EQ(metric(metrics, "entropix_prefix_cache_enabled"), 1);
  EXPECT_GT(metric(metrics, "entropix_prefix_cache_evictions_total"), 0);
  EXPECT_GT(metric(metrics, "entropix_prefix_cache_pages"), 0);
  EXPECT_LE(metric(metrics, "entropix_prefix_cache_bytes"), 1 << 20);  // --cache-ram 1: 21 of the 32 pages
}

// The usage of a streamed answer carries the cached tokens too.
TEST(ServerPrefixCache, StreamedUsageHasCachedTokens) {
  DemoServer s(cache_options(true));
  const json body = {{"prompt", kArithmeticPrompt}, {"max_tokens", 8}, {"stream_options", {{"include_usage", true}}}};
  const SseResponse first = s.post_stream("/v1/completions", body);
  const SseResponse second = s.post_stream("/v1/completions", body);
  ASSERT_FALSE(first.chunks.empty());
  ASSERT_FALSE(second.chunks.empty());
  const json& u1 = first.chunks.back()["usage"];
  const json& u2 = second.chunks.back()["usage"];
  EXPECT_EQ(u1["prompt_tokens_details"]["cached_tokens"], 0);
  EXPECT_EQ(u2["prompt_tokens_details"]["cached_tokens"].get<int>(), u2["prompt_tokens"].get<int>() - 1);
  EXPECT_EQ(first.text, second.text);
  const std::string metrics = s.metrics();
  EXPECT_EQ(metric(metrics, "entropix_prompt_tokens_cached_total"), u2["prompt_tokens"].get<int>() - 1);
  EXPECT_GT(metric(metrics, "entropix_prefix_cache_bytes"), 0);
}

}  // namespace
