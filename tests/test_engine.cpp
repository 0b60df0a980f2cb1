// The forward pass: batching, forks and error handling, on stories260K.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "model/engine.h"
#include "support.h"
#include "tokenizer/tokenizer.h"

using namespace entropix;

namespace {

std::unique_ptr<Engine> load_stories(int n_ctx = 256, int max_batch = 64, int threads = 2) {
  EngineOptions o;
  o.n_ctx = n_ctx;
  o.max_batch = max_batch;
  o.n_threads = threads;
  return Engine::load((entropix::testing::testdata_dir() / "models" / "stories260K.gguf").string(), o);
}

std::vector<float> copy(std::span<const float> s) { return {s.begin(), s.end()}; }

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

int32_t argmax(std::span<const float> v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// Greedy continuation of a sequence, one token per decode() call.
std::vector<int32_t> greedy(Engine& e, SeqId seq, int32_t first, int n) {
  std::vector<int32_t> out;
  int32_t tok = first;
  for (int i = 0; i < n; ++i) {
    BatchToken t{seq, tok, true};
    e.decode({&t, 1});
    tok = argmax(e.logits(0));
    out.push_back(tok);
  }
  return out;
}

}  // namespace

TEST(Engine, BatchedPromptMatchesTokenByToken) {
  ENTROPIX_REQUIRE_TESTDATA();
  auto a = load_stories(256, 64);
  auto b = load_stories(256, 3);  // forces the prompt through several chunks
  std::vector<int32_t> ids = a->tokenizer().encode("Once upon a time, there was a cat", true, false);
  SeqId sa = a->new_sequence(), sb = b->new_sequence();
  std::vector<BatchToken> batch;
  for (size_t i = 0; i < ids.size(); ++i) batch.push_back({sa, ids[i], true});
  a->decode(batch);
  ASSERT_EQ(a->n_logit_rows(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    BatchToken t{sb, ids[i], true};
    b->decode({&t, 1});
    EXPECT_LT(max_abs_diff(copy(a->logits(i)), copy(b->logits(0))), 1e-3f) << "position " << i;
  }
}

TEST(Engine, ForkedSequenceProducesTheLogitsItWouldAlone) {
  ENTROPIX_REQUIRE_TESTDATA();
  auto e = load_stories();
  std::vector<int32_t> ids = e->tokenizer().encode("Once upon a time, there was a little", true, false);
  // Alone: the prompt, then two different next tokens in two fresh sequences.
  auto run_alone = [&](int32_t next) {
    SeqId s = e->new_sequence();
    std::vector<BatchToken> b;
    for (int32_t t : ids) b.push_back({s, t, false});
    b.push_back({s, next, true});
    e->decode(b);
    auto logits = copy(e->logits(0));
    std::vector<int32_t> cont{argmax(logits)};
    for (int32_t t : greedy(*e, s, cont[0], 11)) cont.push_back(t);
    e->free_sequence(s);
    return std::make_pair(logits, cont);
  };
  auto [alone_a, cont_a] = run_alone(ids[3]);
  auto [alone_b, cont_b] = run_alone(ids[5]);

  // Forked: the prompt once, two forks decoded together in one batch.
  SeqId parent = e->new_sequence();
  std::vector<BatchToken> b;
  for (int32_t t : ids) b.push_back({parent, t, false});
  e->decode(b);
  SeqId fa = e->fork(parent), fb = e->fork(parent);
  BatchToken two[2] = {{fa, ids[3], true}, {fb, ids[5], true}};
  e->decode(two);
  EXPECT_LT(max_abs_diff(copy(e->logits(0)), alone_a), 1e-4f);
  EXPECT_LT(max_abs_diff(copy(e->logits(1)), alone_b), 1e-4f);

  // Greedy continuations of both forks, decoded together, equal the lone ones token for token.
  std::vector<int32_t> got_a, got_b;
  int32_t ta = argmax(e->logits(0)), tb = argmax(e->logits(1));
  for (int i = 0; i < 12; ++i) {
    got_a.push_back(ta);
    got_b.push_back(tb);
    BatchToken step[2] = {{fa, ta, true}, {fb, tb, true}};
    e->decode(step);
    ta = argmax(e->logits(0));
    tb = argmax(e->logits(1));
  }
  EXPECT_EQ(got_a, std::vector<int32_t>(cont_a.begin(), cont_a.end()));
  EXPECT_EQ(got_b, std::vector<int32_t>(cont_b.begin(), cont_b.end()));
}

TEST(Engine, ThreadCountDoesNotChangeTheResult) {
  ENTROPIX_REQUIRE_TESTDATA();
  auto one = load_stories(128, 16, 1);
  auto three = load_stories(128, 16, 3);
  std::vector<int32_t> ids = one->tokenizer().encode("The dog ran", true, false);
  auto run = [&](Engine& e) {
    SeqId s = e.new_sequence();
    std::vector<BatchToken> b;
    for (int32_t t : ids) b.push_back({s, t, true});
    e.decode(b);
    return copy(e.logits(ids.size() - 1));
  };
  EXPECT_LT(max_abs_diff(run(*one), run(*three)), 1e-4f);
}

TEST(Engine, BadInputsAreErrors) {
  ENTROPIX_REQUIRE_TESTDATA();
  auto e = load_stories(32, 8);
  SeqId s = e->new_sequence();
  BatchToken bad{s, 100000, true};
  EXPECT_THROW(e->decode({&bad, 1}), Error);
  BatchToken ghost{42, 1, true};
  EXPECT_THROW(e->decode({&ghost, 1}), Error);
  std::vector<BatchToken> too_long(40, BatchToken{s, 1, false});
  try {
    e->decode(too_long);
    FAIL() << "a prompt longer than the context must be an error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("context"), std::string::npos) << err.what();
  }
  EXPECT_EQ(e->seq_length(s), 0);  // nothing was appended by the failed calls
  EXPECT_THROW(Engine::load("/nonexistent/model.gguf", {}), Error);
  // A Q8_0 cache needs whole blocks of 32 per head; stories260K's heads have 8 elements.
  EngineOptions q8;
  q8.cache_type = KvType::Q8_0;
  try {
    Engine::load((entropix::testing::testdata_dir() / "models" / "stories260K.gguf").string(), q8);
    FAIL() << "a q8_0 cache on heads of 8 must be an error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("multiples of 32"), std::string::npos) << err.what();
  }
}

TEST(Engine, AttentionScoresCoverOnlyTheValidPositions) {
  ENTROPIX_REQUIRE_TESTDATA();
  EngineOptions o;
  o.n_ctx = 64;
  o.attention_scores = true;
  auto e = Engine::load((entropix::testing::testdata_dir() / "models" / "stories260K.gguf").string(), o);
  SeqId s = e->new_sequence();
  std::vector<BatchToken> b;
  for (int32_t t : {1, 403, 407, 261, 378}) b.push_back({s, t, true});
  e->decode(b);
  for (size_t i = 0; i < 5; ++i) {
    AttentionScores a = e->attention_scores(i);
    EXPECT_EQ(a.n_pos, static_cast<int32_t>(i + 1));
    EXPECT_EQ(a.n_head, e->config().n_head);
    for (int j = 0; j < a.n_head * a.n_pos; ++j) EXPECT_TRUE(std::isfinite(a.scores[j]));
  }
}

// Forks of a long prompt keep one copy of it: the cache grows only by the pages of the
// forks' own tokens (here one page each: the copy of the partly filled last prompt page,
// which their tokens then fill).
TEST(Engine, ForksOfALongPromptShareItsKvPages) {
  ENTROPIX_REQUIRE_TESTDATA();
  auto e = load_stories(256, 128);
  const int32_t n_prompt = 100, n_forks = 4, n_own = 12;  // 100 = 6 full pages + 4 positions
  SeqId root = e->new_sequence();
  std::vector<BatchToken> b;
  for (int32_t i = 0; i < n_prompt; ++i) b.push_back({root, 1 + i % 400, i + 1 == n_prompt});
  e->decode(b);
  const size_t prompt_bytes = e->kv_bytes_in_use();
  const size_t page_bytes = prompt_bytes / 7;
  ASSERT_EQ(prompt_bytes, 7 * page_bytes);
  std::vector<SeqId> forks;
  for (int i = 0; i < n_forks; ++i) forks.push_back(e->fork(root));
  EXPECT_EQ(e->kv_bytes_in_use(), prompt_bytes);  // forking copies nothing
  for (int32_t step = 0; step < n_own; ++step) {
    b.clear();
    for (int i = 0; i < n_forks; ++i) b.push_back({forks[static_cast<size_t>(i)], 5 + i + step, true});
    e->decode(b);
  }
  EXPECT_EQ(e->kv_bytes_in_use(), prompt_bytes + n_forks * page_bytes);
  for (SeqId f : forks) e->free_sequence(f);
  EXPECT_EQ(e->kv_bytes_in_use(), prompt_bytes);
}

// The quantized path (Q8_0 weights, the demo model, whose rows of 192 and 512 cover both the
// 8-block loop and the tail of the AVX2 kernel): four forks decoded together get exactly the
// logits each gets decoded alone, step after step.
TEST(Engine, ForksDecodedTogetherMatchAloneExactlyOnQ8_0) {
  EngineOptions o;
  o.n_ctx = 256;
  o.n_threads = 2;
  auto e = Engine::load((entropix::testing::source_dir() / "models/demo/demo-q8_0.gguf").string(), o);
  const std::vector<int32_t> prompt = e->tokenizer().encode("Tom has 3 apples and buys 4 more.", true, false);
  const int n_forks = 4, n_steps = 6;
  auto first = [&](int i) { return prompt[static_cast<size_t>(i) + 1]; };
  auto decode_prompt = [&](SeqId s) {
    std::vector<BatchToken> b;
    for (int32_t t : prompt) b.push_back({s, t, false});
    e->decode(b);
  };
  // Alone: each branch in its own sequence, greedy, one row per call.
  std::vector<std::vector<std::vector<float>>> alone(n_forks);
  for (int i = 0; i < n_forks; ++i) {
    SeqId s = e->new_sequence();
    decode_prompt(s);
    int32_t tok = first(i);
    for (int step = 0; step < n_steps; ++step) {
      BatchToken t{s, tok, true};
      e->decode({&t, 1});
      alone[static_cast<size_t>(i)].push_back(copy(e->logits(0)));
      tok = argmax(e->logits(0));
    }
    e->free_sequence(s);
  }
  // Together: forks of one prompt, all rows in one call per step.
  SeqId root = e->new_sequence();
  decode_prompt(root);
  std::vector<SeqId> forks;
  std::vector<int32_t> toks;
  for (int i = 0; i < n_forks; ++i) {
    forks.push_back(e->fork(root));
    toks.push_back(first(i));
  }
  for (int step = 0; step < n_steps; ++step) {
    std::vector<BatchToken> b;
    for (int i = 0; i < n_forks; ++i) b.push_back({forks[static_cast<size_t>(i)], toks[static_cast<size_t>(i)], true});
    e->decode(b);
    for (int i = 0; i < n_forks; ++i) {
      ASSERT_EQ(copy(e->logits(static_cast<size_t>(i))), alone[static_cast<size_t>(i)][static_cast<size_t>(step)])
          << "fork " << i << " step " << step;
      toks[static_cast<size_t>(i)] = argmax(e->logits(static_cast<size_t>(i)));
    }
  }
}
