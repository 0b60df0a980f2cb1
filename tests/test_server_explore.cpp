// The explorer's API (docs/explorer-api.md) on the demo model: prompt logprobs
// equal the engine's own log-softmax; a greedy first answer equals
// /v1/completions'; sampler probabilities follow the sampler; a pick hangs where
// the paths part, keeps the replaced step's alternatives and reads its prefix
// from the cache; continuation, step, edit, peek and stop; export and import;
// a restart shows the same tree; every bad request gets a JSON error and changes
// nothing.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include "server_fixture.h"
#include "tokenizer/tokenizer.h"

using nlohmann::json;
using namespace entropix;
using namespace entropix::testing;

namespace {

// The explorer's database in a temporary folder.
struct TempDb {
  TempDir dir;
  std::string path() const { return (dir.path / "explore.db").string(); }
};

server::ServerOptions explore_options(const std::string& db) {
  server::ServerOptions o = demo_server_options();
  o.explore_db = db;
  return o;
}

json get(const DemoServer& s, const std::string& path, int expect = 200) {
  auto r = s.client().Get(path.c_str());
  EXPECT_TRUE(r);
  if (!r) return {};
  EXPECT_EQ(r->status, expect) << path << ": " << r->body;
  return json::parse(r->body, nullptr, false);
}

// The events of a streamed generate.
std::vector<json> events_of(const std::string& body) {
  std::vector<json> out;
  size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const size_t end = body.find("\n\n", at);
    out.push_back(json::parse(body.substr(at + 6, end - at - 6)));
    at = end;
  }
  return out;
}

std::string path_text(const json& session, int64_t node_id);

const json& node_of(const json& session, int64_t id) {
  for (const json& n : session["nodes"])
    if (n["id"] == id) return n;
  static const json none;
  ADD_FAILURE() << "no node " << id;
  return none;
}

// The path's tokens by the definition: the parent's path up to at, then the node's own.
std::vector<json> path_tokens(const json& session, int64_t id) {
  const json& n = node_of(session, id);
  std::vector<json> out;
  if (!n["parent"].is_null()) {
    out = path_tokens(session, n["parent"].get<int64_t>());
    out.resize(n["at"].get<size_t>());
  }
  for (const json& t : n["tokens"]) out.push_back(t);
  return out;
}

std::string path_text(const json& session, int64_t id) {
  std::string s;
  for (const json& t : path_tokens(session, id)) s += t["text"].get<std::string>();
  return s;
}

constexpr const char* kPrompt = "Q: Tom has 14 marbles. He wins 9 more and loses 5. How many marbles does Tom have?\nA:";

json create(const DemoServer& s, json settings = {{"sampler", "greedy"}, {"max_tokens", 24}}) {
  return s.post("/explore/v1/sessions", {{"title", "marbles"}, {"prompt", kPrompt}, {"settings", settings}}, 201);
}

}  // namespace

TEST(ExploreApi, PromptLogprobsAreTheEnginesLogSoftmax) {
  TempDb db;
  DemoServer s(explore_options(db.path()));
  const json session = create(s);
  const json& pt = session["prompt_tokens"];
  ASSERT_GT(pt.size(), 10u);
  EXPECT_TRUE(pt[0]["logprob"].is_null());

  // An independent reading: the same tokens through a second engine, every row kept.
  auto engine = load_demo_engine();
  const SeqId seq = engine->new_sequence();
  std::vector<BatchToken> batch;
  for (const json& t : pt) batch.push_back({seq, t["ids"][0].get<int32_t>(), true});
  engine->decode(batch);
  for (size_t i = 1; i < pt.size(); ++i) {
    const auto logits = engine->logits(i - 1);
    double max = -1e30, z = 0;
    for (float l : logits) max = std::max(max, static_cast<double>(l));
    for (float l : logits) z += std::exp(l - max);
    const double expected = logits[static_cast<size_t>(pt[i]["ids"][0].get<int32_t>())] - max - std::log(z);
    EXPECT_NEAR(pt[i]["logprob"].get<double>(), expected, 1e-3) << "prompt token " << i;
    double sum = pt[i]["others"].get<double>();
    for (const json& a : pt[i]["top"]) sum += a["p"].get<double>();
    EXPECT_NEAR(sum, 1.0, 1e-6);
    ASSERT_EQ(pt[i]["top"].size(), 20u);
    const int32_t argmax = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    EXPECT_EQ(pt[i]["top"][0]["id"], argmax);
  }
}

TEST(ExploreApi, AGreedyAnswerIsTheCompletionsAnswerWithExplainedSteps) {
  TempDb db;
  DemoServer s(explore_options(db.path()));
  const json session = create(s);
  const int64_t id = session["id"];
  const auto r = s.raw_post("/explore/v1/sessions/" + std::to_string(id) + "/generate", "{}");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const std::vector<json> events = events_of(r->body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front()["type"], "node");
  EXPECT_EQ(events.back()["type"], "done");
  const int64_t node = events.front()["node"]["id"];
  const json completion = s.post("/v1/completions", {{"prompt", kPrompt}, {"max_tokens", 24}, {"temperature", 0}});
  const json saved = get(s, "/explore/v1/sessions/" + std::to_string(id));
  EXPECT_EQ(path_text(saved, node), completion["choices"][0]["text"].get<std::string>());
  EXPECT_EQ(node_of(saved, node)["status"], "done");
  EXPECT_EQ(saved["selected"], node);

  // The streamed tokens are the saved ones, at consecutive positions.
  size_t k = 0;
  for (const json& e : events) {
    if (e["type"] != "token") continue;
    EXPECT_EQ(e["index"], k);
    EXPECT_EQ(e["token"], node_of(saved, node)["tokens"][k]);
    ++k;
  }
  EXPECT_EQ(k, node_of(saved, node)["tokens"].size());
  // Greedy: the sampler gives everything to the chosen token, the most probable one.
  for (const json& t : node_of(saved, node)["tokens"]) {
    EXPECT_EQ(t["ids"][0], t["top"][0]["id"]);
    EXPECT_EQ(t["top"][0]["q"], 1.0);
    for (size_t i = 1; i < t["top"].size(); ++i) EXPECT_EQ(t["top"][i]["q"], 0.0);
    EXPECT_NEAR(t["logprob"].get<double>(), std::log(t["top"][0]["p"].get<double>()), 1e-9);
  }
  // The prompt was read when the session was made: the answer found it cached.
  EXPECT_GE(events.back()["cached_tokens"].get<int>(), static_cast<int>(session["prompt_tokens"].size()) - 1);
}

TEST(ExploreApi, SamplerProbabilitiesFollowTheSampler) {
  TempDb db;
  DemoServer s(explore_options(db.path()));
  const json session = create(s, {{"sampler", "standard"}, {"temperature", 1.5}, {"top_k", 3}, {"max_tokens", 12}, {"seed", 5}});
  const json r = s.post("/explore/v1/sessions/" + std::to_string(session["id"].get<int>()) + "/generate",
                        {{"stream", false}});
  for (const json& t : r["node"]["tokens"]) {
    double sum = 0;
    for (size_t i = 0; i < t["top"].size(); ++i) {
      const double q = t["top"][i]["q"].get<double>();
      if (i >= 3) {
        EXPECT_EQ(q, 0.0) << "top_k 3 rules out the fourth";
      }
      sum += q;
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
    // Temperature 1.5 flattens: the top token's share under the sampler is below its raw one.
    if (t["top"][0]["p"].get<double>() < 0.999 && t["top"][0]["p"].get<double>() > 0.001) {
      EXPECT_LT(t["top"][0]["q"].get<double>(), t["top"][0]["p"].get<double>() + 1e-9);
    }
    EXPECT_EQ(t["action"], "standard");
  }
}

TEST(ExploreApi, APickHangsWhereThePathsPartAndReadsOnlyTheRest) {
  TempDb db;
  DemoServer s(explore_options(db.path()));
  const json session = create(s);
  const std::string base = "/explore/v1/sessions/" + std::to_string(session["id"].get<int>());
  const json root = s.post(base + "/generate", {{"stream", false}})["node"];
  ASSERT_GE(root["tokens"].size(), 6u);
  const json& step = root["tokens"][4];
  const int32_t alt = step["top"][1]["id"];
  const json picked = s.post(base + "/generate", {{"node", root["id"]}, {"at", 4}, {"token", alt}, {"stream", false}});
  const json& b = picked["node"];
  EXPECT_EQ(b["parent"], root["id"]);
  EXPECT_EQ(b["at"], 4);
  EXPECT_EQ(b["origin"], "pick");
  ASSERT_GE(b["tokens"].size(), 1u);
  const json& forced = b["tokens"][0];
  EXPECT_EQ(forced["ids"], json::array({alt}));
  EXPECT_TRUE(forced["forced"].get<bool>());
  // The same position: the same distribution as the step it replaces.
  ASSERT_EQ(forced["top"].size(), step["top"].size());
  for (size_t i = 0; i < step["top"].size(); ++i) {
    EXPECT_EQ(forced["top"][i]["id"], step["top"][i]["id"]);
    EXPECT_NEAR(forced["top"][i]["p"].get<double>(), step["top"][i]["p"].get<double>(), 1e-5);
  }
  EXPECT_NEAR(forced["logprob"].get<double>(), std::log(step["top"][1]["p"].get<double>()), 1e-5);
  // Prompt and four answer tokens were read before: all but the newest come from the cache.
  const int prompt_tokens = picked["prompt_tokens"];
  EXPECT_EQ(prompt_tokens, static_cast<int>(session["prompt_tokens"].size()) + 4);
  EXPECT_GE(picked["cached_tokens"].get<int>(), prompt_tokens - 1);

  // A branch from the pick at a position before it started hangs on the root.
  const json earlier = s.post(base + "/generate", {{"node", b["id"]}, {"at", 2}, {"stream", false}})["node"];
  EXPECT_EQ(earlier["parent"], root["id"]);
  EXPECT_EQ(earlier["origin"], "resample");
  // One after it hangs on the pick, and its path starts with the pick's.
  const json later = s.post(base + "/generate", {{"node", b["id"]}, {"at", 5}, {"stream", false}})["node"];
  EXPECT_EQ(later["parent"], b["id"]);
  const json saved = get(s, base);
  const std::vector<json> pick_path = path_tokens(saved, b["id"]);
  const std::vector<json> later_path = path_tokens(saved, later["id"]);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(later_path[i], pick_path[i]);
  // A new first answer at position 0 is a second root.
  const json first = s.post(base + "/generate", {{"node", root["id"]}, {"at", 0}, {"token", alt}, {"max_tokens", 2}, {"stream", false}})["node"];
  EXPECT_TRUE(first["parent"].is_null());
}

TEST(ExploreApi, ContinueStepEditAndPeek) {
  TempDb db;
  DemoServer s(explore_options(db.path()));
  const json session = create(s, {{"sampler", "greedy"}, {"max_tokens", 4}});
  const std::string base = "/explore/v1/sessions/" + std::to_string(session["id"].get<int>());
  const json root = s.post(base + "/generate", {{"stream", false}})["node"];
  ASSERT_EQ(root["tokens"].size(), 4u);
  // Continue: the same node grows, and the text is the greedy answer of 8 tokens.
  const json more = s.post(base + "/generate", {{"node", root["id"]}, {"stream", false}})["node"];
  EXPECT_EQ(more["id"], root["id"]);
  ASSERT_EQ(more["tokens"].size(), 8u);
  const json completion = s.post("/v1/completions", {{"prompt", kPrompt}, {"max_tokens", 8}, {"temperature", 0}});
  EXPECT_EQ(path_text(get(s, base), root["id"]), completion["choices"][0]["text"].get<std::string>());

  // Peek: the next distribution at the end, saved nowhere.
  const json before = get(s, base);
  const json peek = s.post(base + "/peek", {{"node", root["id"]}});
  EXPECT_EQ(peek["index"], 8);
  EXPECT_EQ(peek["token"]["top"].size(), 20u);
  EXPECT_EQ(get(s, base)["nodes"], before["nodes"]);
  // Step: append exactly the chosen token.
  const int32_t chosen = peek["token"]["top"][2]["id"];
  const json stepped = s.post(base + "/generate", {{"node", root["id"]}, {"token", chosen}, {"max_tokens", 0}, {"stream", false}})["node"];
  ASSERT_EQ(stepped["tokens"].size(), 9u);
  EXPECT_EQ(stepped["tokens"][8]["ids"], json::array({chosen}));
  EXPECT_EQ(stepped["tokens"][8]["top"], peek["token"]["top"]);

  // Edit: the text replaces the path from a position; its tokens are forced, then it goes on.
  const json edited = s.post(base + "/generate", {{"node", root["id"]}, {"at", 1}, {"text", " 99 marbles"}, {"max_tokens", 3}, {"stream", false}})["node"];
  EXPECT_EQ(edited["origin"], "edit");
  const std::string text = path_text(get(s, base), edited["id"]);
  const std::string head = path_text(get(s, base), root["id"]).substr(0, 0);
  EXPECT_NE(text.find(" 99 marbles"), std::string::npos) << text;
  size_t n_forced = 0;
  for (const json& t : edited["tokens"]) n_forced += t["forced"].get<bool>();
  EXPECT_GE(n_forced, 2u);
  EXPECT_EQ(edited["tokens"].size(), n_forced + 3);
}

TEST(ExploreApi, BadRequestsGetJsonErrorsAndChangeNothing) {
  TempDb db;
  server::ServerOptions o = explore_options(db.path());
  o.max_body_bytes = 4096;
  DemoServer s(o);
  const json session = create(s);
  const std::string base = "/explore/v1/sessions/" + std::to_string(session["id"].get<int>());
  const json root = s.post(base + "/generate", {{"stream", false}})["node"];
  const json before = get(s, base);
  const int64_t len = static_cast<int64_t>(root["tokens"].size());
  auto gen = [&](const std::string& body) { return s.raw_post(base + "/generate", body); };
  expect_api_error(s.raw_post("/explore/v1/sessions/999/generate", "{}"), 404, "not_found");
  expect_api_error(gen(json({{"node", 999}}).dump()), 404, "not_found");
  expect_api_error(gen(json({{"node", root["id"]}, {"at", len + 1}}).dump()), 400, "invalid_value");
  expect_api_error(gen(json({{"node", root["id"]}, {"at", 1}, {"token", 629}}).dump()), 400, "invalid_value");
  expect_api_error(gen(json({{"node", root["id"]}, {"at", 1}, {"token", -1}}).dump()), 400);
  expect_api_error(gen(json({{"node", root["id"]}, {"at", "one"}}).dump()), 400, "invalid_type");
  expect_api_error(gen(json({{"at", 1}}).dump()), 400, "missing_field");
  expect_api_error(gen(json({{"node", root["id"]}, {"max_tokens", 0}}).dump()), 400);
  expect_api_error(gen("{not json"), 400, "invalid_json");
  expect_api_error(gen("[1,2]"), 400, "invalid_type");
  expect_api_error(gen(json({{"node", root["id"]}, {"text", std::string(5000, 'a')}}).dump()), 413);
  expect_api_error(s.raw_post("/explore/v1/sessions", json({{"prompt", kPrompt}, {"settings", {{"sampler", "magic"}}}}).dump()), 400);
  expect_api_error(s.raw_post("/explore/v1/sessions", json({{"prompt", kPrompt}, {"settings", {{"n_top", 21}}}}).dump()), 400);
  expect_api_error(s.raw_post("/explore/v1/sessions", json({{"prompt", 123}}).dump()), 400, "invalid_type");
  expect_api_error(s.raw_post("/explore/v1/import", json({{"format", "entropix-explore"}, {"version", 1}, {"prompt_tokens", {{{"ids", {100000}}}}}}).dump()), 400);
  expect_api_error(s.client().Delete((base + "/nodes/999").c_str()), 404, "not_found");
  expect_api_error(s.client().Patch(base.c_str(), json({{"selected", 999}}).dump(), "application/json"), 404);
  expect_api_error(s.client().Get((base + "/export?format=pdf").c_str()), 400);
  expect_api_error(s.client().Get("/explore/v1/sessions/18446744073709551616"), 404);
  EXPECT_EQ(get(s, base), before);
  EXPECT_EQ(get(s, "/explore/v1/sessions")["sessions"].size(), 1u);
}

TEST(ExploreApi, OneGenerationPerSessionAndStopKeepsWhatItHas) {
  TempDb db;
  server::ServerOptions o = explore_options(db.path());
  o.limits.max_tokens = 6000;
  o.decode.ignore_eos = true;  // the answer runs until stopped (seconds on the demo model)
  DemoServer s(o, 8192);
  const json session = create(s, {{"sampler", "standard"}, {"max_tokens", 6000}, {"seed", 1}});
  const std::string base = "/explore/v1/sessions/" + std::to_string(session["id"].get<int>());
  std::string streamed;
  std::thread long_one([&] {
    httplib::Client c = s.client();
    auto r = c.Post((base + "/generate").c_str(), json({{"max_tokens", 6000}}).dump(), "application/json");
    if (r) streamed = r->body;
  });
  // Wait for the node to exist, then ask again: 409, nothing new.
  json now;
  for (int i = 0; i < 500; ++i) {
    now = get(s, base);
    if (!now["nodes"].empty() && !now["nodes"][0]["tokens"].empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(now["nodes"].size(), 1u);
  expect_api_error(s.raw_post(base + "/generate", "{}"), 409, "session_busy");
  expect_api_error(s.client().Delete(base.c_str()), 409, "session_busy");
  EXPECT_EQ(get(s, base)["nodes"].size(), 1u);
  EXPECT_EQ(s.post(base + "/stop", json::object())["stopped"], true);
  long_one.join();
  const std::vector<json> events = events_of(streamed);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back()["type"], "done");
  EXPECT_EQ(events.back()["status"], "stopped");
  const json saved = get(s, base);
  EXPECT_EQ(saved["nodes"][0]["status"], "stopped");
  EXPECT_LT(saved["nodes"][0]["tokens"].size(), 6000u);
  size_t token_events = 0;
  for (const json& e : events) token_events += e["type"] == "token";
  EXPECT_EQ(saved["nodes"][0]["tokens"].size(), token_events);
  // Another session was never blocked, and this one is free again.
  const json other = create(s, {{"sampler", "greedy"}, {"max_tokens", 2}});
  s.post("/explore/v1/sessions/" + std::to_string(other["id"].get<int>()) + "/generate", {{"stream", false}});
  s.post(base + "/generate", {{"node", saved["nodes"][0]["id"]}, {"at", 1}, {"max_tokens", 2}, {"stream", false}});
}

TEST(ExploreApi, ExportImportDeleteAndARestartKeepTheTree) {
  TempDb db;
  json saved;
  std::string base;
  {
    DemoServer s(explore_options(db.path()));
    const json session = create(s);
    base = "/explore/v1/sessions/" + std::to_string(session["id"].get<int>());
    const json root = s.post(base + "/generate", {{"stream", false}})["node"];
    s.post(base + "/generate", {{"node", root["id"]}, {"at", 3}, {"token", root["tokens"][3]["top"][1]["id"]}, {"stream", false}});
    auto r = s.client().Patch(base.c_str(), json({{"title", "renamed"}}).dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    saved = get(s, base);
    EXPECT_EQ(saved["title"], "renamed");

    // Export and import: the same tree under new ids.
    const json exported = get(s, base + "/export?format=json");
    EXPECT_EQ(exported["format"], "entropix-explore");
    const json copy = s.post("/explore/v1/import", exported, 201);
    ASSERT_EQ(copy["nodes"].size(), saved["nodes"].size());
    EXPECT_NE(copy["id"], saved["id"]);
    for (size_t i = 0; i < copy["nodes"].size(); ++i)
      EXPECT_EQ(path_text(copy, copy["nodes"][i]["id"]), path_text(saved, saved["nodes"][i]["id"]));
    auto md = s.client().Get((base + "/export?format=markdown").c_str());
    ASSERT_TRUE(md);
    EXPECT_EQ(md->status, 200);
    EXPECT_NE(md->body.find(path_text(saved, saved["selected"])), std::string::npos) << md->body;
    EXPECT_NE(md->body.find("# renamed"), std::string::npos);

    // Deleting the pick leaves the root; deleting the copy leaves one session.
    auto d = s.client().Delete((base + "/nodes/" + std::to_string(saved["nodes"][1]["id"].get<int>())).c_str());
    ASSERT_TRUE(d);
    EXPECT_EQ(d->status, 200);
    saved = get(s, base);
    EXPECT_EQ(saved["nodes"].size(), 1u);
    d = s.client().Delete(("/explore/v1/sessions/" + std::to_string(copy["id"].get<int>())).c_str());
    ASSERT_TRUE(d);
    EXPECT_EQ(d->status, 200);
  }
  DemoServer again(explore_options(db.path()));
  EXPECT_EQ(get(again, base), saved);
  EXPECT_EQ(get(again, "/explore/v1/sessions")["sessions"].size(), 1u);
}

TEST(ExploreApi, ThePageNeedsNoKeyAndTheApiDoes) {
  TempDb db;
  DemoServer s(explore_options(db.path()));
  auto page = s.client(false).Get("/");
  ASSERT_TRUE(page);
  // The page is in the build when web/explorer has files.
  const bool built_in = std::filesystem::exists(source_dir() / "web/explorer/index.html");
  EXPECT_EQ(page->status, built_in ? 200 : 404);
  if (built_in) {
    EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);
  }
  expect_api_error(s.client(false).Get("/explore/v1/sessions"), 401, "invalid_api_key");
  expect_api_error(s.client(false).Get("/ui/..%2fserver.h"), 404);
  get(s, "/explore/v1/sessions/1", 404);
  // httplib counts a request after its reply is sent: the count may come a moment later.
  bool counted = false;
  for (int i = 0; i < 200 && !counted; ++i) {
    counted = s.metrics().find("endpoint=\"/explore/v1/sessions/{id}\",code=\"404\"") != std::string::npos;
    if (!counted) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(counted) << "routes with ids count under their pattern";
}

TEST(ExploreApi, WithoutADatabaseThereIsNoExplorerApi) {
  DemoServer s;  // explore_db empty
  expect_api_error(s.client().Get("/explore/v1/sessions"), 404, "not_found");
}

TEST(ExploreApi, CompletionsEchoGivesThePromptAndItsLogprobs) {
  TempDb db;
  DemoServer s(explore_options(db.path()));
  const json session = create(s);  // its prompt tokens are checked against the engine above
  const json r = s.post("/v1/completions", {{"prompt", kPrompt}, {"max_tokens", 4}, {"temperature", 0}, {"echo", true}, {"logprobs", 3}});
  const json plain = s.post("/v1/completions", {{"prompt", kPrompt}, {"max_tokens", 4}, {"temperature", 0}});
  const json& c = r["choices"][0];
  EXPECT_EQ(c["text"], std::string(kPrompt) + plain["choices"][0]["text"].get<std::string>());
  const json& pt = session["prompt_tokens"];
  const json& lp = c["logprobs"];
  // The BOS the tokenizer added is not echoed; every echoed token has its logprob.
  ASSERT_EQ(lp["tokens"].size(), pt.size() - 1 + 4);
  for (size_t i = 1; i < pt.size(); ++i) {
    EXPECT_EQ(lp["tokens"][i - 1], pt[i]["text"]);
    EXPECT_NEAR(lp["token_logprobs"][i - 1].get<double>(), pt[i]["logprob"].get<double>(), 1e-9);
    EXPECT_EQ(lp["top_logprobs"][i - 1].size(), 3u);
  }
  // Offsets run over the echoed text.
  size_t offset = 0;
  for (size_t i = 0; i < lp["tokens"].size(); ++i) {
    EXPECT_EQ(lp["text_offset"][i], offset);
    offset += lp["tokens"][i].get<std::string>().size();
  }
  // Streamed: the prompt comes first, in its own chunk.
  const SseResponse streamed = s.post_stream("/v1/completions", {{"prompt", kPrompt}, {"max_tokens", 4}, {"temperature", 0}, {"echo", true}});
  ASSERT_FALSE(streamed.chunks.empty());
  EXPECT_EQ(streamed.chunks[0]["choices"][0]["text"], kPrompt);
  EXPECT_EQ(streamed.text[0], c["text"]);
}
