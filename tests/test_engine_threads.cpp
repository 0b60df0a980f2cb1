// The forward pass split over any number of threads (1 to 16 on a 2-core machine,
// oversubscribed): matrix rows, attention heads, their grouping by KV head and the
// split of the cache into blocks change with the thread count, the sums of each row and
// head do not, so every logit and attention score is the same bit for bit as on one
// thread, with the default F16 cache and with Q8_0.
#include <gtest/gtest.h>
#include <random>
#include <string>
#include <vector>

#include "model/engine.h"
#include "support.h"

using namespace entropix;

namespace {


// Logits and kept attention scores of a 300-token prompt (19 KV pages, two attention
// blocks) read in one batch beside a second sequence, then of 6 tokens generated one by
// one: decoding splits the cache's blocks over the threads when there are more threads
// than tasks, and merges them in the same order as one thread does.
struct Outputs {
  std::vector<std::vector<float>> logits, scores;
};

Outputs decode_all(const std::string& path, int n_threads, KvType cache_type) {
  EngineOptions eo;
  eo.n_ctx = 512;
  eo.max_batch = 512;
  eo.n_threads = n_threads;
  eo.attention_scores = true;
  eo.cache_type = cache_type;
  auto e = Engine::load(path, eo);
  std::mt19937 rng(5);
  const SeqId a = e->new_sequence(), b = e->new_sequence();
  std::vector<BatchToken> batch;
  for (int i = 0; i < 300; ++i) batch.push_back({a, static_cast<int32_t>(rng() % 500), i % 37 == 0 || i == 299});
  for (int i = 0; i < 7; ++i) batch.push_back({b, static_cast<int32_t>(rng() % 500), i == 6});
  Outputs r;
  auto keep = [&] {
    for (size_t i = 0; i < e->n_logit_rows(); ++i) {
      r.logits.emplace_back(e->logits(i).begin(), e->logits(i).end());
      const AttentionScores s = e->attention_scores(i);
      r.scores.emplace_back(s.scores, s.scores + size_t(s.n_head) * size_t(s.n_pos));
    }
  };
  e->decode(batch);
  keep();
  for (int step = 0; step < 6; ++step) {
    const BatchToken next[] = {{a, static_cast<int32_t>(rng() % 500), true}, {b, static_cast<int32_t>(rng() % 500), true}};
    e->decode(next);
    keep();
  }
  return r;
}

class EngineThreads : public ::testing::TestWithParam<const char*> {};

TEST_P(EngineThreads, EveryThreadCountGivesTheSameLogitsAndScoresBitForBit) {
  const entropix::testing::TinyModelFile model(GetParam(), "q8_0", 11);
  for (KvType cache_type : {KvType::F16, KvType::Q8_0}) {
    const Outputs one = decode_all(model.path.string(), 1, cache_type);
    ASSERT_FALSE(one.logits.empty());
    for (int n : {2, 3, 4, 8, 16}) {
      const Outputs many = decode_all(model.path.string(), n, cache_type);
      ASSERT_EQ(many.logits.size(), one.logits.size()) << n;
      for (size_t i = 0; i < one.logits.size(); ++i) {
        EXPECT_EQ(many.logits[i], one.logits[i]) << kv_type_name(cache_type) << ", " << n << " threads, row " << i;
        EXPECT_EQ(many.scores[i], one.scores[i]) << kv_type_name(cache_type) << ", " << n << " threads, row " << i;
      }
    }
  }
}

// gemma2: a window of 8 on layer 0, so decoding skips the blocks behind the window;
// qwen3moe: each expert runs over the tokens that chose it, in ascending order.
INSTANTIATE_TEST_SUITE_P(Archs, EngineThreads, ::testing::Values("llama", "qwen3", "gemma2", "qwen3moe"));

}  // namespace
