// The entropix policy on every model family's vocabulary (tiny random models of each
// architecture, SentencePiece for gemma, byte-level BPE for the rest): with thresholds
// that make every step uncertain (HELV), the sampler inserts the profile's thinking text
// as the model's own tokens for it, which read back as that text, up to its budget, and
// generation goes on after each insertion with the windowed layers, soft-caps and experts
// of each family in the loop.
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "decoding/generate.h"
#include "model/engine.h"
#include "support.h"
#include "tokenizer/tokenizer.h"

using namespace entropix;

class PolicyOnFamilies : public ::testing::TestWithParam<const char*> {};

TEST_P(PolicyOnFamilies, ThinkingTextIsInsertedInTheVocabularysOwnTokens) {
  const entropix::testing::TinyModelFile model(GetParam(), "q8_0", 3);
  EngineOptions eo;
  eo.n_ctx = 256;
  eo.n_threads = 2;
  eo.attention_scores = true;  // the policy's attention metrics, from the last layer that sees everything
  auto e = Engine::load(model.path.string(), eo);
  const Tokenizer& tok = e->tokenizer();
  DecodeOptions o;
  o.sampler = SamplerKind::Entropix;
  o.profile.thresholds = {0.0, 1e-6, 1e9, 2e9};  // every entropy high, every varentropy low: HELV
  o.profile.helv.thinking_budget = 3;
  o.max_tokens = 40;
  o.seed = 9;
  const std::vector<int32_t> want = tok.encode(o.profile.helv.thinking_text, false, false);
  ASSERT_FALSE(want.empty());
  const std::vector<int32_t> prompt = tok.encode("Once upon a time, the cat", true, false);
  int inserted = 0, sampled_after = 0;
  std::string text;
  generate(*e, prompt, o, [&](const TokenEvent& ev, std::string_view piece) {
    if (ev.inserted) {
      ++inserted;
      EXPECT_EQ(ev.tokens, want);
      EXPECT_EQ(tok.decode(ev.tokens), o.profile.helv.thinking_text);
      // After the bytes of a character the random model left unfinished, if any.
      EXPECT_TRUE(piece.ends_with(o.profile.helv.thinking_text)) << piece;
    } else if (!ev.end_of_text) {
      EXPECT_EQ(ev.outcome.state, State::HELV);
      if (inserted > 0) ++sampled_after;
    }
    text += piece;
    return true;
  });
  EXPECT_EQ(inserted, o.profile.helv.thinking_budget) << text;
  EXPECT_GT(sampled_after, 0) << text;
  EXPECT_NE(text.find(o.profile.helv.thinking_text), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Archs, PolicyOnFamilies,
                         ::testing::Values("llama", "qwen2", "qwen3", "qwen3moe", "gemma2", "gemma3", "phi3"));
