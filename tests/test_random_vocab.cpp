// The synthetic BPE vocabularies of gen-model: real special-token ids at full size,
// unique tokens, and merges whose parts and result are all earlier tokens.
#include <gtest/gtest.h>

#include <string>
#include <unordered_map>

#include "core/error.h"
#include "model/random_vocab.h"

using namespace entropix;

namespace {

// Every token unique; every merge "a b" joins two tokens into a later token.
void expect_consistent(const SyntheticVocab& v, size_t n_vocab) {
  ASSERT_EQ(v.tokens.size(), n_vocab);
  ASSERT_EQ(v.token_types.size(), n_vocab);
  std::unordered_map<std::string, size_t> id;
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    ASSERT_TRUE(id.emplace(v.tokens[i], i).second) << "duplicate token " << v.tokens[i] << " at " << i;
  }
  ASSERT_FALSE(v.merges.empty());
  for (const std::string& m : v.merges) {
    const size_t space = m.find(' ');
    ASSERT_NE(space, std::string::npos) << m;
    const std::string left = m.substr(0, space), right = m.substr(space + 1);
    ASSERT_TRUE(id.contains(left) && id.contains(right) && id.contains(left + right)) << "merge " << m;
    EXPECT_GT(id[left + right], id[left]);
    EXPECT_GT(id[left + right], id[right]);
    EXPECT_EQ(v.token_types[id[left + right]], static_cast<int32_t>(TokenType::Normal));
  }
}

}  // namespace

TEST(RandomVocab, Llama3FullSizeHasTheRealSpecialIds) {
  const SyntheticVocab v = make_synthetic_vocab(VocabFamily::Llama3, 128256);
  expect_consistent(v, 128256);
  EXPECT_EQ(v.merges.size(), 128000u - 256u);
  EXPECT_EQ(v.tokens[0], "!");
  EXPECT_EQ(v.tokens[128000], "<|begin_of_text|>");
  EXPECT_EQ(v.tokens[128001], "<|end_of_text|>");
  EXPECT_EQ(v.tokens[128006], "<|start_header_id|>");
  EXPECT_EQ(v.tokens[128009], "<|eot_id|>");
  EXPECT_EQ(v.tokens[128255], "<|reserved_special_token_247|>");
  EXPECT_EQ(v.token_types[128100], static_cast<int32_t>(TokenType::Control));
  EXPECT_EQ(v.bos_id, 128000);
  EXPECT_EQ(v.eos_id, 128001);
  EXPECT_EQ(v.pre, "llama-bpe");
  EXPECT_TRUE(v.add_bos);
}

TEST(RandomVocab, Qwen2FullSizeHasTheRealSpecialIds) {
  const SyntheticVocab v = make_synthetic_vocab(VocabFamily::Qwen2, 151936);
  expect_consistent(v, 151936);
  EXPECT_EQ(v.tokens[151643], "<|endoftext|>");
  EXPECT_EQ(v.tokens[151644], "<|im_start|>");
  EXPECT_EQ(v.tokens[151645], "<|im_end|>");
  EXPECT_EQ(v.tokens[151664], "<|file_sep|>");
  EXPECT_EQ(v.tokens[151935], "[PAD151935]");
  EXPECT_EQ(v.token_types[151657], static_cast<int32_t>(TokenType::UserDefined));  // <tool_call>
  EXPECT_EQ(v.token_types[151700], static_cast<int32_t>(TokenType::Unused));
  EXPECT_EQ(v.bos_id, 151643);
  EXPECT_EQ(v.eos_id, 151643);
  EXPECT_EQ(v.pre, "qwen2");
  EXPECT_FALSE(v.add_bos);
}

TEST(RandomVocab, SmallSizesKeepTheNamedSpecialsAtTheEnd) {
  const SyntheticVocab llama = make_synthetic_vocab(VocabFamily::Llama3, 512);
  expect_consistent(llama, 512);
  EXPECT_EQ(llama.tokens[501], "<|begin_of_text|>");
  EXPECT_EQ(llama.tokens[510], "<|eot_id|>");
  const SyntheticVocab qwen = make_synthetic_vocab(VocabFamily::Qwen2, 512);
  expect_consistent(qwen, 512);
  EXPECT_EQ(qwen.tokens[490], "<|endoftext|>");
  EXPECT_EQ(qwen.tokens[511], "<|file_sep|>");
}

TEST(RandomVocab, TooSmallIsAnError) {
  EXPECT_THROW(make_synthetic_vocab(VocabFamily::Qwen2, 270), Error);
}

// Gemma's SentencePiece layout: the real ids of its specials, the 256 byte tokens, and
// pieces that a SentencePiece merge can reach (every piece's text less its last
// character is an earlier piece) with scores falling in vocabulary order.
TEST(RandomVocab, GemmaFullSizeIsASentencePieceVocabulary) {
  const SyntheticVocab v = make_synthetic_vocab(VocabFamily::Gemma, 262144);
  ASSERT_EQ(v.tokens.size(), 262144u);
  ASSERT_EQ(v.scores.size(), v.tokens.size());
  ASSERT_EQ(v.token_types.size(), v.tokens.size());
  EXPECT_EQ(v.model, "llama");
  EXPECT_TRUE(v.merges.empty());
  EXPECT_EQ(v.tokens[0], "<pad>");
  EXPECT_EQ(v.tokens[1], "<eos>");
  EXPECT_EQ(v.tokens[2], "<bos>");
  EXPECT_EQ(v.tokens[3], "<unk>");
  EXPECT_EQ(v.tokens[106], "<start_of_turn>");
  EXPECT_EQ(v.tokens[107], "<end_of_turn>");
  EXPECT_EQ(v.tokens[108], "<0x00>");
  EXPECT_EQ(v.tokens[108 + 0xC3], "<0xC3>");
  EXPECT_EQ(v.token_types[108 + 255], static_cast<int32_t>(TokenType::Byte));
  EXPECT_EQ(v.pad_id, 0);
  EXPECT_EQ(v.eos_id, 1);
  EXPECT_EQ(v.bos_id, 2);
  EXPECT_EQ(v.unk_id, 3);
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_space_prefix);
  std::unordered_map<std::string, size_t> id;
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    ASSERT_TRUE(id.emplace(v.tokens[i], i).second) << "duplicate token " << v.tokens[i] << " at " << i;
  }
  const size_t first_piece = 108 + 256;
  EXPECT_EQ(v.tokens[first_piece], "\xE2\x96\x81");  // U+2581 stands for the space
  for (size_t i = first_piece; i < v.tokens.size(); ++i) {
    ASSERT_EQ(v.token_types[i], static_cast<int32_t>(TokenType::Normal)) << i;
    if (i > first_piece) {
      ASSERT_LT(v.scores[i], v.scores[i - 1]) << i;
    }
    const std::string& t = v.tokens[i];
    const size_t last = t.ends_with("\xE2\x96\x81") ? t.size() - 3 : t.size() - 1;
    if (last == 0) continue;  // a single character
    const auto prefix = id.find(t.substr(0, last));
    ASSERT_NE(prefix, id.end()) << "piece " << t << " has no parent";
    EXPECT_LT(prefix->second, i);
  }
}

TEST(RandomVocab, GemmaTooSmallIsAnError) {
  EXPECT_THROW(make_synthetic_vocab(VocabFamily::Gemma, 300), Error);
}
