// libFuzzer target for the tokenizers: arbitrary bytes through every pre-tokenizer, then
// encoded and decoded by small synthetic vocabularies (byte-level BPE under every
// pre-tokenizer, SentencePiece with byte fallback) and by one of the real vocabularies in
// $ENTROPIX_TESTDATA/vocab when they are there (picked by the input's hash: all of them per
// input would run nine times slower). Checked on the way: every id is in range,
// the stream decoder gives the same bytes as decode(), and the round trips the code
// guarantees (byte-level BPE keeps every byte it has a token for, invalid UTF-8 as U+FFFD;
// SentencePiece with byte fallback gives back valid UTF-8 that holds no U+2581). Only
// entropix::Error may escape; anything else is a finding.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

using namespace entropix;

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581

struct Subject {
  bool real = false;  // a real vocabulary (one per input), else synthetic (all per input)
  std::unique_ptr<Tokenizer> tok;
  std::string bytes;  // bytes that have a one-byte token of their own (BPE round trip)
  bool spm_lossless = false;  // SentencePiece that gives back valid text without U+2581
};

// Words merged into tokens of the synthetic vocabularies (all their prefixes become tokens).
const std::vector<std::string> kWords = {"the", " the", "ing", " and", "er", "in", "on", "re", " a", "12",
                                         "00", "\xC3\xA9t\xC3\xA9", "\n\n", "    ", "ll", "'s", "\xE2\x96\x81x"};

std::vector<int32_t> types(size_t n, TokenType t) { return std::vector<int32_t>(n, static_cast<int32_t>(t)); }

// Byte-level BPE: the 256 GPT-2 byte characters, merges that build kWords left to right,
// a control and a user-defined token (recognised even without parse_special).
VocabData bpe_vocab(const std::string& pre) {
  VocabData d;
  d.model = "gpt2";
  d.pre = pre;
  for (int b = 0; b < 256; ++b) d.tokens.push_back(unicode::bytes_to_gpt2(std::string(1, static_cast<char>(b))));
  for (const std::string& w : kWords) {
    std::string left = unicode::bytes_to_gpt2(w.substr(0, 1));
    for (size_t i = 1; i < w.size(); ++i) {
      const std::string right = unicode::bytes_to_gpt2(w.substr(i, 1));
      d.merges.push_back(left + " " + right);
      left += right;
      d.tokens.push_back(left);
    }
  }
  d.token_types = types(d.tokens.size(), TokenType::Normal);
  d.tokens.push_back("<|endoftext|>");
  d.token_types.push_back(static_cast<int32_t>(TokenType::Control));
  d.tokens.push_back("<tool_call>");
  d.token_types.push_back(static_cast<int32_t>(TokenType::UserDefined));
  d.eos = static_cast<int32_t>(d.tokens.size()) - 2;
  return d;
}

// SentencePiece: <unk>, <s>, </s>, the 256 byte tokens, U+2581, then kWords (spaces as
// U+2581) and their prefixes, longer pieces scoring higher.
VocabData spm_vocab() {
  VocabData d;
  d.model = "llama";
  d.tokens = {"<unk>", "<s>", "</s>"};
  d.token_types = {static_cast<int32_t>(TokenType::Unknown), static_cast<int32_t>(TokenType::Control),
                   static_cast<int32_t>(TokenType::Control)};
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    d.tokens.push_back(std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">");
    d.token_types.push_back(static_cast<int32_t>(TokenType::Byte));
  }
  d.scores.assign(d.tokens.size(), 0.0f);
  const auto add = [&](const std::string& piece) {
    for (const std::string& t : d.tokens)
      if (t == piece) return;
    d.tokens.push_back(piece);
    d.token_types.push_back(static_cast<int32_t>(TokenType::Normal));
    d.scores.push_back(static_cast<float>(piece.size()));
  };
  add(std::string(kSpmSpace));
  for (std::string w : kWords) {
    for (size_t at; (at = w.find(' ')) != std::string::npos;) w.replace(at, 1, kSpmSpace);
    for (size_t i = 0; i < w.size(); i += unicode::utf8_len(static_cast<uint8_t>(w[i]))) {
      add(w.substr(i, unicode::utf8_len(static_cast<uint8_t>(w[i]))));
      add(w.substr(0, i + unicode::utf8_len(static_cast<uint8_t>(w[i]))));
    }
  }
  return d;
}

std::string single_byte_tokens(const Tokenizer& t) {
  std::string known;
  for (int32_t id = 0; id < t.n_vocab(); ++id) {
    const std::string piece = t.token_to_piece(id);
    if (piece.size() == 1 && !t.is_control(id) && known.find(piece[0]) == std::string::npos) known += piece;
  }
  return known;
}

std::vector<Subject> make_subjects() {
  std::vector<Subject> out;
  const auto add = [&](std::unique_ptr<Tokenizer> t, bool spm_lossless, bool real) {
    Subject s{real, std::move(t), "", spm_lossless};
    s.bytes = single_byte_tokens(*s.tok);
    out.push_back(std::move(s));
  };
  for (const char* pre : {"default", "llama-bpe", "dbrx", "chatglm-bpe", "qwen2", "gpt-2", "deepseek-llm",
                          "deepseek-coder", "falcon", "starcoder", "bloom", "viking"})
    add(Tokenizer::from_vocab(bpe_vocab(pre)), false, false);
  add(Tokenizer::from_vocab(spm_vocab()), true, false);
  // The real vocabularies (about 1 s to load); the fuzzer still runs without them.
  const char* env = std::getenv("ENTROPIX_TESTDATA");
  const std::filesystem::path dir = std::filesystem::path(env && *env ? env : "../shared/testdata") / "vocab";
  for (const char* name : {"deepseek-coder", "deepseek-llm", "falcon", "gpt-2", "llama-spm", "mpt", "phi-3",
                           "refact", "starcoder"}) {
    const std::filesystem::path path = dir / ("ggml-vocab-" + std::string(name) + ".gguf");
    if (!std::filesystem::exists(path)) continue;
    // llama-spm has byte tokens and no user-defined ones; phi-3's strip spaces around theirs.
    add(Tokenizer::from_gguf(*GgufFile::open(path.string())), std::string_view(name) == "llama-spm", true);
  }
  return out;
}

// The text as the tokenizers read it: each invalid byte as U+FFFD.
std::string lenient(std::string_view s) {
  std::string out;
  for (const uint32_t cpt : unicode::decode_utf8(s)) unicode::append_utf8(out, cpt);
  return out;
}

// Strict UTF-8: shortest forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const uint8_t b = static_cast<uint8_t>(s[i]);
    const size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cpt = n == 1 ? b : b & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
      const uint8_t c = static_cast<uint8_t>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cpt = (cpt << 6) | (c & 0x3F);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cpt < kMin[n] || cpt > 0x10FFFF || (cpt >= 0xD800 && cpt <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

void check(const Subject& s, std::string_view text, bool special) {
  const Tokenizer& t = *s.tok;
  const std::vector<int32_t> ids = t.encode(text, special, special);
  for (const int32_t id : ids)
    if (id < 0 || id >= t.n_vocab()) __builtin_trap();
  const std::string decoded = t.decode(ids);
  TokenStreamDecoder stream(t);
  std::string streamed;
  for (const int32_t id : ids) streamed += stream.push(id);
  streamed += stream.flush();
  // decode() is the stream's bytes, less the SentencePiece prefix space.
  if (decoded != streamed && !(t.model_type() == "llama" && streamed.size() == decoded.size() + 1 &&
                               streamed[0] == ' ' && streamed.compare(1, std::string::npos, decoded) == 0))
    __builtin_trap();
  if (special) return;
  if (t.model_type() == "gpt2") {
    std::string expect = lenient(text);
    std::erase_if(expect, [&](char c) { return s.bytes.find(c) == std::string::npos; });
    if (decoded != expect) __builtin_trap();
  } else if (s.spm_lossless && valid_utf8(text) && text.find(kSpmSpace) == std::string_view::npos) {
    if (decoded != text) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<Subject> subjects = make_subjects();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const std::string normal = lenient(text);
    for (const PreTokenizerKind kind :
         {PreTokenizerKind::Default, PreTokenizerKind::Llama3, PreTokenizerKind::Qwen2, PreTokenizerKind::Gpt2,
          PreTokenizerKind::DeepseekLlm, PreTokenizerKind::DeepseekCoder, PreTokenizerKind::Falcon,
          PreTokenizerKind::Starcoder, PreTokenizerKind::Bloom, PreTokenizerKind::Viking}) {
      // The words are the whole text, cut: nothing lost, nothing repeated, none empty.
      std::string joined;
      for (const std::string& w : pre_tokenize(kind, text)) {
        if (w.empty()) __builtin_trap();
        joined += w;
      }
      if (joined != normal) __builtin_trap();
    }
    size_t n_real = 0;
    for (const Subject& s : subjects) n_real += s.real;
    const size_t pick = std::hash<std::string_view>{}(text) % std::max<size_t>(n_real, 1);
    size_t real_index = 0;
    for (const Subject& s : subjects) {
      if (s.real && real_index++ != pick) continue;
      check(s, text, false);
      check(s, text, true);
    }
  } catch (const Error&) {
  }
  return 0;
}
