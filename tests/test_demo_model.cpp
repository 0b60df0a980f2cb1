// The demo model against its PyTorch fixture (tests/data/demo/reference.json, written by
// tools/demo_model/make_fixture.py from the same weights): tokens, logits, greedy text.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <nlohmann/json.hpp>

#include "decoding/generate.h"
#include "entropix/profile.h"
#include "model/engine.h"
#include "support.h"
#include "tokenizer/tokenizer.h"

using namespace entropix;

namespace {

nlohmann::json fixture() {
  return nlohmann::json::parse(entropix::testing::read_file(entropix::testing::source_dir() / "tests/data/demo/reference.json"));
}

std::unique_ptr<Engine> load_demo(const std::string& file, bool attention_scores = false) {
  EngineOptions o;
  o.n_ctx = 256;
  o.attention_scores = attention_scores;
  o.n_threads = 2;
  return Engine::load((entropix::testing::source_dir() / "models/demo" / file).string(), o);
}

// Whether `s` starts with one step of the model's chains: " a op b = c." (c may be
// negative). Written out rather than with std::regex, which GCC 12 warns about
// in sanitizer builds.
bool starts_with_step(std::string_view s) {
  size_t i = 0;
  const auto lit = [&](std::string_view t) {
    if (s.substr(i, t.size()) != t) return false;
    i += t.size();
    return true;
  };
  const auto number = [&] {
    const size_t from = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > from;
  };
  if (!lit(" ") || !number() || !lit(" ")) return false;
  if (i >= s.size() || std::string_view("+-*").find(s[i]) == std::string_view::npos) return false;
  ++i;
  if (!lit(" ") || !number() || !lit(" = ")) return false;
  if (i < s.size() && s[i] == '-') ++i;
  return number() && lit(".");
}

}  // namespace

TEST(DemoModel, TokenizerAndLogitsAgreeWithPyTorch) {
  auto fx = fixture();
  auto engine = load_demo("demo-f32.gguf");
  for (const auto& c : fx["cases"]) {
    auto ids = engine->tokenizer().encode(c["prompt"].get<std::string>(), true, false);
    ASSERT_EQ(ids, c["prompt_ids"].get<std::vector<int32_t>>()) << c["prompt"];
    SeqId s = engine->new_sequence();
    std::vector<BatchToken> batch;
    for (size_t i = 0; i < ids.size(); ++i) batch.push_back({s, ids[i], i + 1 == ids.size()});
    engine->decode(batch);
    auto expected = c["last_logits"].get<std::vector<float>>();
    auto got = engine->logits(0);
    ASSERT_EQ(got.size(), expected.size());
    // F32 weights, float32 on both sides: differences are summation order only.
    float max_diff = 0;
    for (size_t i = 0; i < got.size(); ++i) max_diff = std::max(max_diff, std::fabs(got[i] - expected[i]));
    EXPECT_LT(max_diff, 1e-3f) << c["prompt"];
    engine->free_sequence(s);
  }
}

TEST(DemoModel, GreedyTextIsIdenticalToPyTorchForBothFiles) {
  auto fx = fixture();
  for (const char* file : {"demo-f32.gguf", "demo-q8_0.gguf"}) {
    auto engine = load_demo(file);
    for (const auto& c : fx["cases"]) {
      auto ids = c["prompt_ids"].get<std::vector<int32_t>>();
      auto expected = c["greedy_ids"].get<std::vector<int32_t>>();
      DecodeOptions o;
      o.sampler = SamplerKind::Greedy;
      o.max_tokens = static_cast<int32_t>(expected.size());
      o.ignore_eos = true;
      std::vector<int32_t> got;
      generate(*engine, ids, o, [&](const TokenEvent& ev, std::string_view) {
        got.insert(got.end(), ev.tokens.begin(), ev.tokens.end());
        return true;
      });
      if (std::string(file) == "demo-f32.gguf") {
        EXPECT_EQ(got, expected) << file << ": " << c["prompt"];
      } else {
        // Q8_0 weights and activations: the text may part from float32 only after a
        // near tie; require agreement on the first half.
        size_t half = expected.size() / 2;
        EXPECT_EQ(std::vector<int32_t>(got.begin(), got.begin() + long(half)),
                  std::vector<int32_t>(expected.begin(), expected.begin() + long(half)))
            << file << ": " << c["prompt"];
      }
    }
  }
}

// The entropix sampler with the demo model's shipped profile (varentropy calibrated
// over the uncertain tokens, thinking at step ends): HELV occurs, the marker follows
// the end of the step that was uncertain, and the model goes on with a recheck in
// the form it learned (" a op b = c."), not with broken text.
TEST(DemoModel, ThinkingFollowsAnUncertainStepAndTheModelRechecks) {
  EXPECT_TRUE(starts_with_step(" 23 + 18 = 41. 41 - 9"));
  EXPECT_TRUE(starts_with_step(" 9 - 17 = -8."));
  EXPECT_FALSE(starts_with_step(" 23 + 18 = Wait,"));
  EXPECT_FALSE(starts_with_step(" 23 + 18 = 41 Wait,"));
  EXPECT_FALSE(starts_with_step("23 + 18 = 41."));
  auto engine = load_demo("demo-q8_0.gguf", true);
  const auto profile_path = find_profile(entropix::testing::source_dir() / "models/demo/demo-q8_0.gguf");
  ASSERT_TRUE(profile_path);
  const Profile profile = load_profile(*profile_path);
  ASSERT_EQ(profile.helv.boundary, ".");
  std::istringstream tasks(entropix::testing::read_file(entropix::testing::source_dir() / "data/tasks/test-in.jsonl"));
  int insertions = 0, rechecks = 0, answers = 0;
  std::string line;
  for (int i = 0; i < 40 && std::getline(tasks, line); ++i) {
    const auto task = nlohmann::json::parse(line);
    const auto ids = engine->tokenizer().encode(task["prompt"].get<std::string>(), true, false);
    DecodeOptions o;
    o.sampler = SamplerKind::Entropix;
    o.profile = profile;
    o.seed = static_cast<uint64_t>(i);
    o.max_tokens = 120;
    std::string text;
    std::vector<size_t> marks;  // where each inserted text starts
    bool helv_in_step = false;  // a HELV step since the last insertion
    generate(*engine, ids, o, [&](const TokenEvent& ev, std::string_view) {
      if (ev.inserted) {
        EXPECT_TRUE(helv_in_step) << "inserted without an uncertain step before it: " << text;
        EXPECT_TRUE(text.ends_with(".")) << "inserted in mid-step: " << text;
        EXPECT_EQ(ev.piece, " Wait,");
        marks.push_back(text.size());
        helv_in_step = false;
      } else if (ev.outcome.state == State::HELV) {
        helv_in_step = true;
      }
      text += ev.piece;
      return true;
    });
    answers += text.find("The answer is") != std::string::npos;
    for (size_t at : marks) {
      ++insertions;
      rechecks += starts_with_step(std::string_view(text).substr(at + 6));  // after " Wait,"
    }
  }
  // About 0.9 insertions per answer on test-in with this profile (docs/results.md).
  EXPECT_GE(insertions, 10);
  EXPECT_GE(rechecks, insertions * 8 / 10) << rechecks << " of " << insertions;
  EXPECT_GE(answers, 36);  // the answers still end in the form they learned
}
