// Tables derived from a vocabulary, built once per loaded tokenizer and shared by
// every answer and request: the "ends a step" table of the entropix sampler
// (profile helv.boundary), checked against token_to_piece on the demo model.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "gguf/gguf.h"
#include "support.h"
#include "tokenizer/tokenizer.h"

namespace entropix {
namespace {

std::unique_ptr<Tokenizer> demo_tokenizer() {
  const auto file = GgufFile::open((testing::source_dir() / "models/demo/demo-q8_0.gguf").string());
  return Tokenizer::from_gguf(*file);
}

TEST(TokenizerTables, TokensEndingWithMatchesEachPiece) {
  const auto tok = demo_tokenizer();
  const auto ends = tok->tokens_ending_with(".");
  ASSERT_EQ(ends->size(), static_cast<size_t>(tok->n_vocab()));
  size_t marked = 0;
  for (int32_t id = 0; id < tok->n_vocab(); ++id) {
    const std::string piece = tok->token_to_piece(id);
    EXPECT_EQ((*ends)[static_cast<size_t>(id)], !piece.empty() && piece.back() == '.') << "token " << id;
    marked += (*ends)[static_cast<size_t>(id)];
  }
  EXPECT_GT(marked, 0u);  // the demo vocabulary has "." tokens
  const auto more = tok->tokens_ending_with(".?!");
  for (size_t i = 0; i < ends->size(); ++i) {
    if ((*ends)[i]) {
      EXPECT_TRUE((*more)[i]);  // a wider set marks at least as much
    }
  }
}

TEST(TokenizerTables, BuiltOnceAndSharedAcrossThreads) {
  const auto tok = demo_tokenizer();
  std::vector<std::shared_ptr<const std::vector<bool>>> got(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i) threads.emplace_back([&, i] { got[i] = tok->tokens_ending_with("."); });
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g.get(), got[0].get());
  EXPECT_NE(tok->tokens_ending_with(",").get(), got[0].get());
}

}  // namespace
}  // namespace entropix
