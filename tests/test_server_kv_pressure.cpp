// When the KV cache runs short, the loop pre-empts the youngest sequences (their KV
// goes to the prefix cache and is read again later) instead of failing the batch:
// every admitted request ends with all its tokens, the same tokens it gets alone.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "server/inference_loop.h"
#include "server_fixture.h"

using nlohmann::json;
using namespace entropix;
using namespace entropix::server;
using namespace entropix::testing;

namespace {

const std::vector<std::string> kPrompts = {
    "Once upon a time, a little fox", "Q: Tom has 3 pens and buys 4 more. How many pens?\nA:",
    "The sun rose over the quiet town and", "Lily found a red ball in the garden. She"};

struct Outcome {
  std::string text;
  std::string error;
  FinishReason finish = FinishReason::None;
  int32_t generated = 0;
};

std::shared_ptr<Job> greedy_job(const Engine& engine, const std::string& prompt, int32_t max_tokens, int32_t n = 1) {
  auto job = std::make_shared<Job>();
  job->prompt = engine.tokenizer().encode(prompt, true, false);
  job->decode.sampler = n > 1 ? SamplerKind::Standard : SamplerKind::Greedy;
  job->decode.seed = 7;
  job->decode.ignore_eos = true;
  job->decode.max_tokens = max_tokens;
  job->n = n;
  return job;
}

// Runs the jobs together on one loop; each choice's outcome, in job order then choice order.
std::vector<Outcome> run_together(InferenceLoop& loop, const std::vector<std::shared_ptr<Job>>& jobs) {
  std::vector<std::vector<Outcome>> per_job(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    per_job[i].resize(static_cast<size_t>(jobs[i]->n));
    EXPECT_EQ(loop.submit(jobs[i]), InferenceLoop::Submit::Queued);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
  for (size_t i = 0; i < jobs.size(); ++i) {
    int open = jobs[i]->n;
    while (open > 0 && std::chrono::steady_clock::now() < deadline) {
      for (JobEvent& ev : jobs[i]->wait(std::chrono::milliseconds(100))) {
        Outcome& o = per_job[i][static_cast<size_t>(ev.index)];
        o.text += ev.text;
        if (!ev.error.empty()) o.error = ev.error;
        if (ev.done) {
          o.finish = ev.finish;
          o.generated = ev.n_generated;
          --open;
        }
      }
    }
    EXPECT_EQ(open, 0) << "job " << i << " did not end in time";
  }
  std::vector<Outcome> all;
  for (auto& v : per_job) all.insert(all.end(), v.begin(), v.end());
  return all;
}

TEST(KvPressure, FourAnswersLongerThanTheCacheAllCompleteAsAlone) {
  // 256 positions for four answers of 150 tokens: at most one fits at a time.
  auto engine = load_demo_engine(256);
  const int32_t free_before = engine->free_positions();
  std::vector<std::string> alone;
  {
    InferenceLoop loop(*engine, LoopOptions{});
    for (const std::string& p : kPrompts) {
      const auto out = run_together(loop, {greedy_job(*engine, p, 150)});
      ASSERT_EQ(out.size(), 1u);
      ASSERT_EQ(out[0].error, "");
      alone.push_back(out[0].text);
    }
  }
  InferenceLoop loop(*engine, LoopOptions{});
  std::vector<std::shared_ptr<Job>> jobs;
  for (const std::string& p : kPrompts) jobs.push_back(greedy_job(*engine, p, 150));
  const auto together = run_together(loop, jobs);
  ASSERT_EQ(together.size(), kPrompts.size());
  for (size_t i = 0; i < together.size(); ++i) {
    EXPECT_EQ(together[i].error, "") << "request " << i;
    EXPECT_EQ(together[i].finish, FinishReason::Length) << "request " << i;
    EXPECT_EQ(together[i].generated, 150) << "request " << i;
    EXPECT_EQ(together[i].text, alone[i]) << "request " << i << " differs from its answer alone";
  }
  EXPECT_GT(loop.stats().preemptions, 0);
  EXPECT_EQ(loop.stats().active, 0);
  EXPECT_EQ(engine->free_positions(), free_before);  // what the prefix cache keeps counts as free
}

TEST(KvPressure, ChoicesOfOneRequestAndAnotherRequestShareAShortCache) {
  // Three choices forked from one prompt and a second request, in 192 positions.
  auto engine = load_demo_engine(192);
  InferenceLoop loop(*engine, LoopOptions{});
  const auto out = run_together(loop, {greedy_job(*engine, kPrompts[0], 90, 3), greedy_job(*engine, kPrompts[1], 90)});
  ASSERT_EQ(out.size(), 4u);
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].error, "") << "choice " << i;
    EXPECT_EQ(out[i].generated, 90) << "choice " << i;
  }
  EXPECT_EQ(loop.stats().active, 0);
}

TEST(KvPressure, ServerAnswersEveryClientWhenTheCacheIsShort) {
  ServerOptions o = demo_server_options();
  o.decode.ignore_eos = true;
  o.decode.max_tokens = 250;  // more than fits beside a prompt: each request's is lowered to fill the context
  DemoServer server(o, 256);
  std::vector<json> replies(4);
  std::vector<int> status(4, 0);
  std::vector<std::thread> clients;
  for (size_t i = 0; i < 4; ++i) {
    clients.emplace_back([&, i] {
      auto c = server.client();
      c.set_read_timeout(240, 0);
      auto r = c.Post("/v1/completions", json{{"prompt", kPrompts[i]}}.dump(), "application/json");
      if (!r) return;
      status[i] = r->status;
      replies[i] = json::parse(r->body, nullptr, false);
    });
  }
  for (auto& t : clients) t.join();
  for (size_t i = 0; i < 4; ++i) {
    ASSERT_EQ(status[i], 200) << replies[i].dump().substr(0, 300);
    EXPECT_EQ(replies[i]["choices"][0]["finish_reason"], "length");
    // Each had the whole context to itself at some point: its prompt and its answer fill it.
    const int prompt = replies[i]["usage"]["prompt_tokens"];
    EXPECT_EQ(replies[i]["usage"]["completion_tokens"], 256 - prompt) << "request " << i;
  }
}

}  // namespace
