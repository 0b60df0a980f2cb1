#include "model/random_vocab.h"

#include <string_view>

#include "core/error.h"

namespace entropix {

namespace {

constexpr int32_t kLlama3FullVocab = 128256;  // Llama 3.x: 128000 regular + 256 specials
constexpr int32_t kQwen2FullVocab = 151936;   // Qwen2.5: 151643 regular, 22 specials, padding
constexpr int32_t kQwen2Regular = 151643;

constexpr std::string_view kLlama3Named[] = {
    "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
    "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>",
};

constexpr std::string_view kQwen2Named[] = {
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>",
};

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {  // the byte map only reaches U+0143, so two bytes suffice
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others are
// mapped to U+0100 upwards in byte order. Returns the 256 byte tokens in GPT-2's
// vocabulary order (the printable ones first).
std::vector<std::string> byte_tokens() {
  std::vector<std::string> out;
  std::vector<bool> printable(256, false);
  for (uint32_t b = 0; b < 256; ++b) {
    printable[b] = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (printable[b]) out.push_back(utf8(b));
  }
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    if (!printable[b]) out.push_back(utf8(next++));
  }
  return out;
}

// Appends n_merges tokens: level 2 = every pair of alphabet characters, level 3 =
// each level-2 token extended by one character, and so on, each with its merge.
void add_merged_tokens(SyntheticVocab& v, int32_t n_merges) {
  std::vector<std::string> alphabet = {utf8(0x120)};  // "Ġ", the space byte
  for (char c = 'a'; c <= 'z'; ++c) alphabet.emplace_back(1, c);
  for (char c = 'A'; c <= 'Z'; ++c) alphabet.emplace_back(1, c);
  for (char c = '0'; c <= '9'; ++c) alphabet.emplace_back(1, c);
  for (char c : std::string_view(".,!?'-")) alphabet.emplace_back(1, c);

  std::vector<std::string> level = alphabet;
  int32_t added = 0;
  while (added < n_merges) {
    std::vector<std::string> next;
    for (const std::string& left : level) {
      for (const std::string& right : alphabet) {
        if (added == n_merges) break;
        next.push_back(left + right);
        v.tokens.push_back(next.back());
        v.token_types.push_back(static_cast<int32_t>(TokenType::Normal));
        v.merges.push_back(left + " " + right);
        ++added;
      }
    }
    level = std::move(next);
  }
}

void add_special(SyntheticVocab& v, std::string name, TokenType type) {
  v.tokens.push_back(std::move(name));
  v.token_types.push_back(static_cast<int32_t>(type));
}

constexpr int32_t kGemmaStartOfTurn = 106;  // <start_of_turn>; <end_of_turn> follows
constexpr int32_t kGemmaFirstByte = kGemmaStartOfTurn + 2;

SyntheticVocab make_gemma_vocab(int32_t n_vocab) {
  SyntheticVocab v;
  v.model = "llama";
  v.pre = "default";
  const auto add = [&](std::string text, TokenType type, float score) {
    v.tokens.push_back(std::move(text));
    v.token_types.push_back(static_cast<int32_t>(type));
    v.scores.push_back(score);
  };
  if (n_vocab < kGemmaFirstByte + 256 + 1) {
    throw Error("synthetic vocabulary: " + std::to_string(n_vocab) + " tokens leave no room for Gemma's " +
                std::to_string(kGemmaFirstByte) + " specials and 256 byte tokens");
  }
  add("<pad>", TokenType::Control, 0.0f);
  add("<eos>", TokenType::Control, 0.0f);
  add("<bos>", TokenType::Control, 0.0f);
  add("<unk>", TokenType::Unknown, 0.0f);
  add("<mask>", TokenType::UserDefined, 0.0f);
  add("[multimodal]", TokenType::UserDefined, 0.0f);
  for (int32_t i = 0; static_cast<int32_t>(v.tokens.size()) < kGemmaStartOfTurn; ++i) {
    add("<unused" + std::to_string(i) + ">", TokenType::UserDefined, 0.0f);
  }
  add("<start_of_turn>", TokenType::UserDefined, 0.0f);
  add("<end_of_turn>", TokenType::UserDefined, 0.0f);
  static const char* kHex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) add(std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">", TokenType::Byte, 0.0f);
  std::vector<std::string> alphabet = {"\xE2\x96\x81"};  // U+2581, the space
  for (char c = 'a'; c <= 'z'; ++c) alphabet.emplace_back(1, c);
  for (char c = 'A'; c <= 'Z'; ++c) alphabet.emplace_back(1, c);
  for (char c = '0'; c <= '9'; ++c) alphabet.emplace_back(1, c);
  for (char c : std::string_view(".,!?'-\n")) alphabet.emplace_back(1, c);
  // Single characters first, then longer pieces; scores fall in vocabulary order, so a
  // longer piece scores below its parts, as real SentencePiece models mostly do.
  std::vector<std::string> level = alphabet;
  float score = -1.0f;
  for (const std::string& c : alphabet) {
    if (static_cast<int32_t>(v.tokens.size()) == n_vocab) break;
    add(c, TokenType::Normal, score);
    score -= 0.001f;
  }
  while (static_cast<int32_t>(v.tokens.size()) < n_vocab) {
    std::vector<std::string> next;
    for (const std::string& left : level) {
      for (const std::string& right : alphabet) {
        if (static_cast<int32_t>(v.tokens.size()) == n_vocab) break;
        next.push_back(left + right);
        add(next.back(), TokenType::Normal, score);
        score -= 0.001f;
      }
    }
    level = std::move(next);
  }
  v.pad_id = 0;
  v.eos_id = 1;
  v.bos_id = 2;
  v.unk_id = 3;
  v.add_bos = true;
  v.add_space_prefix = false;
  return v;
}

}  // namespace

SyntheticVocab make_synthetic_vocab(VocabFamily family, int32_t n_vocab) {
  if (family == VocabFamily::Gemma) return make_gemma_vocab(n_vocab);
  SyntheticVocab v;
  const bool llama = family == VocabFamily::Llama3;
  const int32_t n_named = llama ? static_cast<int32_t>(std::size(kLlama3Named))
                                : static_cast<int32_t>(std::size(kQwen2Named));
  int32_t n_regular = n_vocab - n_named;
  if (llama && n_vocab >= kLlama3FullVocab) n_regular = n_vocab - 256;
  if (!llama && n_vocab >= kQwen2FullVocab) n_regular = kQwen2Regular;
  if (n_regular < 256) {
    throw Error("synthetic vocabulary: " + std::to_string(n_vocab) + " tokens leave no room for the 256 byte tokens and " +
                std::to_string(n_named) + " special tokens");
  }

  v.tokens = byte_tokens();
  v.token_types.assign(256, static_cast<int32_t>(TokenType::Normal));
  add_merged_tokens(v, n_regular - 256);

  const int32_t first_special = n_regular;
  if (llama) {
    for (std::string_view name : kLlama3Named) add_special(v, std::string(name), TokenType::Control);
    for (int32_t i = 3; static_cast<int32_t>(v.tokens.size()) < n_vocab; ++i) {
      add_special(v, "<|reserved_special_token_" + std::to_string(i) + "|>", TokenType::Control);
    }
    v.pre = "llama-bpe";
    v.bos_id = first_special;      // <|begin_of_text|>
    v.eos_id = first_special + 1;  // <|end_of_text|>
    v.add_bos = true;
  } else {
    for (std::string_view name : kQwen2Named) {
      add_special(v, std::string(name), name.starts_with("<|") ? TokenType::Control : TokenType::UserDefined);
    }
    while (static_cast<int32_t>(v.tokens.size()) < n_vocab) {
      add_special(v, "[PAD" + std::to_string(v.tokens.size()) + "]", TokenType::Unused);
    }
    v.pre = "qwen2";
    v.bos_id = first_special;  // <|endoftext|>
    v.eos_id = first_special;
    v.pad_id = first_special;
    v.add_bos = false;
  }
  return v;
}

}  // namespace entropix
