// Tokenizer tests: llama.cpp's reference tokenizations for every vocabulary in
// testdata/vocab (plus Llama 3 rebuilt from its tiktoken ranks), round trips,
// pre-tokenizer splits, streaming decode across byte tokens, and a fuzz loop.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "gguf/gguf.h"
#include "model/random_model.h"
#include "support.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace entropix {
namespace {

namespace fs = std::filesystem;
using testing::read_file;
using testing::TempDir;
using testing::testdata_dir;

fs::path vocab_dir() { return testdata_dir() / "vocab"; }

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

// .inp: strings each followed by "\n__ggml_vocab_test__\n"; .out: one line of ids per string.
std::vector<Case> load_cases(const std::string& vocab_name) {
  const std::string inp = read_file(vocab_dir() / ("ggml-vocab-" + vocab_name + ".gguf.inp"));
  const std::string out = read_file(vocab_dir() / ("ggml-vocab-" + vocab_name + ".gguf.out"));
  static constexpr std::string_view kSep = "\n__ggml_vocab_test__\n";
  std::vector<Case> cases;
  for (size_t pos = 0; pos < inp.size();) {
    size_t hit = inp.find(kSep, pos);
    if (hit == std::string::npos) hit = inp.size();
    cases.push_back({inp.substr(pos, hit - pos), {}});
    pos = hit + kSep.size();
  }
  std::istringstream lines(out);
  std::string line;
  size_t i = 0;
  while (std::getline(lines, line)) {
    if (i >= cases.size()) ADD_FAILURE() << vocab_name << ": more .out lines than .inp cases";
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) cases.at(i).ids.push_back(id);
    ++i;
  }
  EXPECT_EQ(i, cases.size()) << vocab_name << ": .out lines vs .inp cases";
  return cases;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (const int32_t id : ids) s += std::to_string(id) + " ";
  return s;
}

// Runs every reference case; returns the number that match exactly.
size_t check_cases(const Tokenizer& tok, const std::string& name) {
  const std::vector<Case> cases = load_cases(name);
  size_t pass = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::vector<int32_t> got = tok.encode(cases[i].text, false, false);
    if (got == cases[i].ids) {
      ++pass;
    } else {
      ADD_FAILURE() << name << " case " << i << " \"" << cases[i].text << "\"\n  expected " << show(cases[i].ids)
                    << "\n  got      " << show(got);
    }
  }
  std::printf("[ vocab    ] %-16s %zu/%zu cases match llama.cpp\n", name.c_str(), pass, cases.size());
  ::testing::Test::RecordProperty(name + "_pass", std::to_string(pass) + "/" + std::to_string(cases.size()));
  EXPECT_FALSE(cases.empty());
  return pass;
}

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& name) {
  const auto file = GgufFile::open((vocab_dir() / ("ggml-vocab-" + name + ".gguf")).string());
  return Tokenizer::from_gguf(*file);
}

const std::vector<std::string>& gguf_vocabs() {
  static const std::vector<std::string> names = {"deepseek-coder", "deepseek-llm", "falcon",   "gpt-2",    "llama-spm",
                                                 "mpt",            "phi-3",        "refact", "starcoder"};
  return names;
}

// ---- Llama 3 from tiktoken ranks --------------------------------------------------

std::string base64_decode(std::string_view in) {
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    if (c == '=') break;
    const size_t v = kAlphabet.find(c);
    if (v == std::string::npos) throw std::runtime_error("bad base64");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

// The merges a tiktoken vocabulary implies: for each token in rank order, every split
// into two tokens, ordered by the parts' ranks (as Hugging Face's converter does).
VocabData llama3_vocab() {
  VocabData d;
  d.model = "gpt2";
  d.pre = "llama-bpe";
  std::istringstream in(read_file(vocab_dir() / "llama3-tiktoken.model"));
  std::vector<std::string> bytes;
  std::string b64;
  for (size_t rank; in >> b64 >> rank;) {
    if (rank != bytes.size()) throw std::runtime_error("llama3-tiktoken.model: ranks out of order");
    bytes.push_back(base64_decode(b64));
  }
  std::map<std::string, int32_t> rank_of;
  for (size_t i = 0; i < bytes.size(); ++i) rank_of[bytes[i]] = static_cast<int32_t>(i);
  for (const std::string& tok : bytes) {
    std::vector<std::pair<std::pair<int32_t, int32_t>, size_t>> splits;
    for (size_t cut = 1; cut < tok.size(); ++cut) {
      const auto l = rank_of.find(tok.substr(0, cut));
      const auto r = rank_of.find(tok.substr(cut));
      if (l != rank_of.end() && r != rank_of.end()) splits.push_back({{l->second, r->second}, cut});
    }
    std::sort(splits.begin(), splits.end());
    for (const auto& [ranks, cut] : splits)
      d.merges.push_back(unicode::bytes_to_gpt2(tok.substr(0, cut)) + " " + unicode::bytes_to_gpt2(tok.substr(cut)));
  }
  for (const std::string& tok : bytes) d.tokens.push_back(unicode::bytes_to_gpt2(tok));
  d.token_types.assign(d.tokens.size(), static_cast<int32_t>(TokenType::Normal));
  const std::vector<std::string> named = {"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                                          "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>",
                                          "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
                                          "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"};
  for (int i = 0; i < 256; ++i) {
    d.tokens.push_back(i < static_cast<int>(named.size()) ? named[i]
                                                          : "<|reserved_special_token_" + std::to_string(i - 8) + "|>");
    d.token_types.push_back(static_cast<int32_t>(TokenType::Control));
  }
  d.bos = 128000;
  d.eos = 128009;
  return d;
}

const Tokenizer& llama3() {
  static const std::unique_ptr<Tokenizer> tok = Tokenizer::from_vocab(llama3_vocab());
  return *tok;
}

// ---- reference vectors --------------------------------------------------------------

class VocabReference : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabReference, MatchesLlamaCpp) {
  ENTROPIX_REQUIRE_TESTDATA();
  const auto tok = load_gguf_tokenizer(GetParam());
  EXPECT_EQ(check_cases(*tok, GetParam()), load_cases(GetParam()).size());
}

INSTANTIATE_TEST_SUITE_P(AllGgufVocabs, VocabReference, ::testing::ValuesIn(gguf_vocabs()),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

TEST(VocabReferenceSet, EveryGgufWithCasesIsCovered) {
  ENTROPIX_REQUIRE_TESTDATA();
  std::set<std::string> found;
  for (const auto& entry : fs::directory_iterator(vocab_dir())) {
    const std::string f = entry.path().filename().string();
    if (f.rfind("ggml-vocab-", 0) == 0 && f.size() > 16 && f.substr(f.size() - 5) == ".gguf" &&
        fs::exists(entry.path().string() + ".inp"))
      found.insert(f.substr(11, f.size() - 16));
  }
  EXPECT_EQ(found, std::set<std::string>(gguf_vocabs().begin(), gguf_vocabs().end()));
}

TEST(Llama3Tiktoken, MatchesLlamaCpp) {
  ENTROPIX_REQUIRE_TESTDATA();
  const Tokenizer& tok = llama3();
  EXPECT_EQ(tok.n_vocab(), 128256);
  EXPECT_EQ(tok.model_type(), "gpt2");
  EXPECT_EQ(tok.pre_type(), "llama-bpe");
  EXPECT_EQ(check_cases(tok, "llama-bpe"), load_cases("llama-bpe").size());
}

TEST(Llama3Tiktoken, SpecialTokensAndBos) {
  ENTROPIX_REQUIRE_TESTDATA();
  const Tokenizer& tok = llama3();
  EXPECT_EQ(tok.bos(), 128000);
  EXPECT_TRUE(tok.add_bos());  // llama.cpp's default for llama-bpe
  EXPECT_TRUE(tok.is_eog(128009));
  EXPECT_TRUE(tok.is_eog(128008));  // <|eom_id|> by its text
  EXPECT_FALSE(tok.is_eog(128006));
  EXPECT_TRUE(tok.is_control(128006));
  const std::string text = "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>";
  const std::vector<int32_t> parsed = tok.encode(text, true, true);
  ASSERT_GE(parsed.size(), 6u);
  EXPECT_EQ(parsed[0], 128000);
  EXPECT_EQ(parsed[1], 128006);
  EXPECT_EQ(parsed.back(), 128009);
  EXPECT_EQ(std::count(parsed.begin(), parsed.end(), 128007), 1);
  // Without parse_special the markers are ordinary text.
  const std::vector<int32_t> plain = tok.encode(text, false, false);
  for (const int32_t id : plain) EXPECT_LT(id, 128000);
  EXPECT_EQ(tok.decode(plain), text);
  EXPECT_EQ(tok.token_to_piece(128009), "<|eot_id|>");
  EXPECT_EQ(tok.find_token("<|eot_id|>"), 128009);
  EXPECT_EQ(tok.find_token("<|no_such_token|>"), -1);
  EXPECT_EQ(tok.decode(parsed), "user\n\nHi");  // control tokens render as nothing
}

// ---- round trips --------------------------------------------------------------------

TEST(RoundTrip, BpeVocabsDecodeWhatTheyEncode) {
  ENTROPIX_REQUIRE_TESTDATA();
  std::vector<std::pair<std::string, const Tokenizer*>> toks;
  std::vector<std::unique_ptr<Tokenizer>> owned;
  for (const std::string& name : gguf_vocabs()) {
    owned.push_back(load_gguf_tokenizer(name));
    if (owned.back()->model_type() == "gpt2") toks.push_back({name, owned.back().get()});
  }
  toks.push_back({"llama-bpe", &llama3()});
  EXPECT_GE(toks.size(), 8u);
  for (const auto& [name, tok] : toks) {
    size_t n = 0;
    for (const Case& c : load_cases(name)) {
      EXPECT_EQ(tok->decode(tok->encode(c.text, false, false)), c.text) << name;
      ++n;
    }
    EXPECT_GT(n, 40u) << name;
  }
}

TEST(RoundTrip, SpmDecodeDropsOnlyThePrefixSpace) {
  ENTROPIX_REQUIRE_TESTDATA();
  const auto tok = load_gguf_tokenizer("llama-spm");
  for (const Case& c : load_cases("llama-spm")) {
    EXPECT_EQ(tok->decode(tok->encode(c.text, true, false)), c.text);
  }
}

// ---- SentencePiece on stories260K ------------------------------------------------------

// Independent naive SentencePiece merge: repeatedly join the adjacent pair whose text is
// the highest-scoring token (leftmost on ties) until none is left.
std::vector<std::string> naive_spm(const std::string& text, const std::map<std::string, float>& score) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < text.size();) {
    const size_t n = unicode::utf8_len(static_cast<uint8_t>(text[i]));
    parts.push_back(text.substr(i, n));
    i += n;
  }
  while (true) {
    int best = -1;
    float best_score = 0;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      const auto it = score.find(parts[i] + parts[i + 1]);
      if (it != score.end() && (best < 0 || it->second > best_score)) {
        best = static_cast<int>(i);
        best_score = it->second;
      }
    }
    if (best < 0) return parts;
    parts[best] += parts[best + 1];
    parts.erase(parts.begin() + best + 1);
  }
}

TEST(Stories260K, OnceUponATime) {
  ENTROPIX_REQUIRE_TESTDATA();
  const auto file = GgufFile::open((testdata_dir() / "models" / "stories260K.gguf").string());
  const auto tok = Tokenizer::from_gguf(*file);
  EXPECT_EQ(tok->model_type(), "llama");
  EXPECT_EQ(tok->n_vocab(), 512);
  EXPECT_EQ(tok->bos(), 1);
  EXPECT_EQ(tok->eos(), 2);
  const std::vector<int32_t> ids = tok->encode("Once upon a time", true, false);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 1);
  std::map<std::string, float> score;
  const auto& texts = file->get_string_array("tokenizer.ggml.tokens");
  const auto scores = file->get_f64_array("tokenizer.ggml.scores");
  for (size_t i = 0; i < texts.size(); ++i) score.emplace(texts[i], static_cast<float>(scores[i]));
  const std::string escaped = "\xE2\x96\x81Once\xE2\x96\x81upon\xE2\x96\x81" "a\xE2\x96\x81time";
  std::vector<std::string> got;
  for (size_t i = 1; i < ids.size(); ++i) got.push_back(tok->token_text(ids[i]));
  EXPECT_EQ(got, naive_spm(escaped, score));
  EXPECT_EQ(tok->decode(ids), "Once upon a time");
  std::printf("[ stories  ] Once upon a time ->%s\n", (" " + show(ids)).c_str());
}

// ---- SentencePiece on gen-model's Gemma vocabulary ------------------------------------

// Gemma's layout: no space prefix, so the text's spaces become U+2581 where they stand;
// pieces as the naive merge finds them, and a character outside the vocabulary as its
// UTF-8 bytes' <0xXX> tokens.
TEST(GemmaVocab, MergesAsSentencePieceWithByteFallback) {
  TempDir dir;
  const std::string path = (dir.path / "gemma3.gguf").string();
  RandomModelOptions options;
  options.arch = "gemma3";
  options.type = "f32";
  write_random_model(options, path);
  const auto file = GgufFile::open(path);
  const auto tok = Tokenizer::from_gguf(*file);
  EXPECT_EQ(tok->model_type(), "llama");
  EXPECT_EQ(tok->bos(), 2);
  EXPECT_EQ(tok->eos(), 1);
  std::map<std::string, float> score;
  const auto& texts = file->get_string_array("tokenizer.ggml.tokens");
  const auto scores = file->get_f64_array("tokenizer.ggml.scores");
  for (size_t i = 0; i < texts.size(); ++i) score.emplace(texts[i], static_cast<float>(scores[i]));

  const std::string text = "Hello world, entropy caf\xC3\xA9 ok";
  const std::vector<int32_t> ids = tok->encode(text, true, false);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 2);
  std::string escaped;
  for (char c : text) escaped += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);
  std::vector<std::string> expected;
  for (const std::string& part : naive_spm(escaped, score)) {
    if (score.contains(part)) {
      expected.push_back(part);
      continue;
    }
    for (unsigned char b : part) expected.push_back(fmt::format("<0x{:02X}>", b));
  }
  std::vector<std::string> got;
  for (size_t i = 1; i < ids.size(); ++i) got.push_back(tok->token_text(ids[i]));
  EXPECT_EQ(got, expected);
  EXPECT_NE(std::find(got.begin(), got.end(), "<0xC3>"), got.end());  // the byte fallback was taken
  EXPECT_EQ(tok->decode(ids), text);

  const std::vector<int32_t> turn = tok->encode("<start_of_turn>user\nHi<end_of_turn>", false, true);
  ASSERT_GE(turn.size(), 3u);
  EXPECT_EQ(turn.front(), 106);
  EXPECT_EQ(turn.back(), 107);
}

// ---- pre-tokenizers --------------------------------------------------------------------

// GPT-4o (Phi-4-mini's "gpt-4o"): the split against llama.cpp's expression run by a
// backtracking regex engine (tests/py/split_gpt4o.py, Python's re on the text collapsed to
// Unicode categories as llama.cpp collapses it), on crafted text and 400 random strings
// over letters of both cases (ASCII and not), digits, marks, apostrophes, slashes,
// spaces and line breaks.
TEST(PreTokenizer, Gpt4oSplitsAsLlamaCppsExpression) {
  const std::string python = "/usr/bin/python3";
  ASSERT_TRUE(fs::exists(python)) << python << " is needed for the reference split";
  std::vector<std::string> texts = {
      "Hello World", "helloWorld it's HTML5 Parser 12345 x", "\xC3\x87" "a va? \xC3\x89" "COLE na\xC3\xAFve abc\n\n  def",
      "A/B\r\n//x", "e\xCC\x81t\xC3\xA9  ", "WE'LL SEE'S they'Re 'm", "  \t\n x", "", "1234567 12", "\xE6\x9D\xB1\xE4\xBA\xAC abc"};
  const std::vector<std::string> alphabet = {"a", "b", "z", "A", "Q", "Z", "0", "7", "'", "s", "t", "l", "L", "d", "D", "/",
                                             " ", " ", "  ", "\n", "\r", "\t", ".", ",", "!", "-", "\xC3\xA9", "\xC3\x89",
                                             "\xC3\x9F", "\xCC\x81", "\xE6\x9D\xB1", "\xF0\x9F\x98\x80", "\xC2\xA0",
                                             "\xD9\xA1", "\xD0\x96", "\xD0\xB6"};
  std::mt19937 rng(17);
  for (int i = 0; i < 400; ++i) {
    std::string t;
    for (int n = static_cast<int>(rng() % 30); n > 0; --n) t += alphabet[rng() % alphabet.size()];
    texts.push_back(t);
  }
  testing::TempDir dir;
  const fs::path input = dir.path / "texts.json";
  {
    std::ofstream out(input);
    out << nlohmann::json(texts).dump();
  }
  const std::string cmd =
      python + " '" + (testing::source_dir() / "tests" / "py" / "split_gpt4o.py").string() + "' '" + input.string() + "'";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) output.append(buf, n);
  ASSERT_EQ(pclose(pipe), 0) << cmd;
  const auto want = nlohmann::json::parse(output);
  ASSERT_EQ(want.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(pre_tokenize(PreTokenizerKind::Gpt4o, texts[i]), want[i].get<std::vector<std::string>>())
        << "text " << i << ": " << nlohmann::json(texts[i]).dump();
  }
}

using Words = std::vector<std::string>;

TEST(PreTokenizer, Qwen2SplitsSingleDigits) {
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::Qwen2, "abc 12345 x"), (Words{"abc", " ", "1", "2", "3", "4", "5", " x"}));
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::Llama3, "abc 12345 x"), (Words{"abc", " ", "123", "45", " x"}));
}

TEST(PreTokenizer, Qwen2ContractionsPunctuationAndNewlines) {
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::Qwen2, "I'LL go!!\n\n  now"),
            (Words{"I", "'LL", " go", "!!\n\n", " ", " now"}));
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::Qwen2, "a \n\t b   "), (Words{"a", " \n", "\t", " b", "   "}));
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::Qwen2, "\xC3\xA9t\xC3\xA9 7\xC2\xB2"),  // été 7²
            (Words{"\xC3\xA9t\xC3\xA9", " ", "7", "\xC2\xB2"}));
}

TEST(PreTokenizer, Qwen2UsesRealUnicodeCategories) {
  // An emoji is not a letter, so it only joins the letters after it; a combining
  // mark likewise starts a new word.
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::Qwen2, "a\xF0\x9F\x98\x80" "b 1"),
            (Words{"a", "\xF0\x9F\x98\x80" "b", " ", "1"}));
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::Qwen2, "e\xCC\x81x"), (Words{"e", "\xCC\x81x"}));
}

TEST(PreTokenizer, Gpt2Contractions) {
  EXPECT_EQ(pre_tokenize(PreTokenizerKind::Gpt2, "we're  OK's 42!"), (Words{"we", "'re", " ", " OK", "'s", " 42", "!"}));
}

TEST(PreTokenizer, NamesMapAsInLlamaCpp) {
  EXPECT_EQ(pre_tokenizer_from_name("smollm").kind, PreTokenizerKind::Starcoder);
  EXPECT_EQ(pre_tokenizer_from_name("llama3").kind, PreTokenizerKind::Llama3);
  EXPECT_TRUE(pre_tokenizer_from_name("llama-bpe").ignore_merges);
  EXPECT_EQ(pre_tokenizer_from_name("deepseek-r1-qwen").kind, PreTokenizerKind::Qwen2);
  EXPECT_EQ(pre_tokenizer_from_name("").kind, PreTokenizerKind::Default);
  EXPECT_THROW(pre_tokenizer_from_name("no-such-pre"), Error);
}

// ---- streaming ---------------------------------------------------------------------------

std::vector<int32_t> single_byte_ids(const Tokenizer& tok, std::string_view bytes, bool spm) {
  std::vector<int32_t> ids;
  for (const char ch : bytes) {
    const uint8_t b = static_cast<uint8_t>(ch);
    int32_t found = -1;
    for (int32_t id = 0; id < tok.n_vocab() && found < 0; ++id) {
      if (spm ? tok.token_text(id) == (std::string("<0x") + "0123456789ABCDEF"[b >> 4] + "0123456789ABCDEF"[b & 15] + ">")
              : tok.token_to_piece(id) == std::string(1, ch))
        found = id;
    }
    EXPECT_GE(found, 0) << "no single-byte token for " << int(b);
    ids.push_back(found);
  }
  return ids;
}

void check_stream(const Tokenizer& tok, bool spm) {
  const std::string emoji = "\xF0\x9F\xA6\x99";  // U+1F999, four bytes
  const std::vector<int32_t> ids = single_byte_ids(tok, emoji, spm);
  TokenStreamDecoder dec(tok);
  std::string got;
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string part = dec.push(ids[i]);
    if (i + 1 < ids.size()) {
      EXPECT_EQ(part, "") << "partial UTF-8 emitted after byte " << i;
    } else {
      EXPECT_EQ(part, emoji);
    }
    got += part;
  }
  EXPECT_EQ(dec.flush(), "");
  // Mixed with whole tokens: every chunk is valid UTF-8 and the total is the text.
  const std::string text = "Hi \xF0\x9F\xA6\x99 there \xC3\xA9!";
  TokenStreamDecoder dec2(tok);
  std::string all;
  for (const int32_t id : tok.encode(text, false, false)) {
    const std::string part = dec2.push(id);
    const std::vector<uint32_t> cpts = unicode::decode_utf8(part);
    EXPECT_EQ(std::count(cpts.begin(), cpts.end(), unicode::kReplacement), 0) << "chunk with a broken character";
    all += part;
  }
  all += dec2.flush();
  EXPECT_EQ(all, spm ? " " + text : text);
}

TEST(StreamDecoder, NeverEmitsPartialUtf8) {
  ENTROPIX_REQUIRE_TESTDATA();
  check_stream(*load_gguf_tokenizer("gpt-2"), false);
  check_stream(*load_gguf_tokenizer("llama-spm"), true);
}

TEST(StreamDecoder, FlushReturnsAnUnfinishedTail) {
  ENTROPIX_REQUIRE_TESTDATA();
  const auto tok = load_gguf_tokenizer("gpt-2");
  const std::vector<int32_t> ids = single_byte_ids(*tok, "\xE2\x82", false);  // first two bytes of the euro sign
  TokenStreamDecoder dec(*tok);
  EXPECT_EQ(dec.push(ids[0]), "");
  EXPECT_EQ(dec.push(ids[1]), "");
  EXPECT_EQ(dec.flush(), "\xE2\x82");
}

// ---- robustness -----------------------------------------------------------------------------

TEST(Fuzz, RandomBytesNeverCrashAndGiveValidIds) {
  ENTROPIX_REQUIRE_TESTDATA();
  std::vector<std::unique_ptr<Tokenizer>> toks;
  for (const std::string& name : gguf_vocabs()) toks.push_back(load_gguf_tokenizer(name));
  // Per vocabulary, the bytes that have a single-byte token.
  std::map<const Tokenizer*, std::string> single_bytes;
  for (const auto& tok : toks) {
    std::string& known = single_bytes[tok.get()];
    for (int32_t id = 0; id < tok->n_vocab(); ++id) {
      const std::string piece = tok->token_to_piece(id);
      if (piece.size() == 1 && !tok->is_control(id) && known.find(piece[0]) == std::string::npos) known += piece;
    }
  }
  EXPECT_EQ(single_bytes.at(toks[3].get()).size(), 256u);  // gpt-2 covers every byte
  std::mt19937 rng(1234);
  const std::string alphabet = " \n\t\r'abcXYZ019.,!<|>\xC3\xA9\xE2\x96\x81\xF0\x9F";
  for (int iter = 0; iter < 300; ++iter) {
    std::string s(rng() % 48, '\0');
    for (char& c : s) c = (rng() % 2) ? static_cast<char>(rng() & 0xFF) : alphabet[rng() % alphabet.size()];
    for (const auto& tok : toks) {
      for (const bool special : {false, true}) {
        const std::vector<int32_t> ids = tok->encode(s, special, special);
        for (const int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok->n_vocab()) << id;
        TokenStreamDecoder dec(*tok);
        std::string streamed;
        for (const int32_t id : ids) streamed += dec.push(id);
        streamed += dec.flush();
        if (!special && tok->model_type() == "gpt2") {
          // Byte-level BPE keeps every byte it has a token for (llama.cpp drops the
          // others); invalid UTF-8 comes back as U+FFFD.
          const std::string& known = single_bytes.at(tok.get());
          std::string expect;
          for (const uint32_t cpt : unicode::decode_utf8(s)) unicode::append_utf8(expect, cpt);
          std::erase_if(expect, [&](char c) { return known.find(c) == std::string::npos; });
          EXPECT_EQ(streamed, expect);
        }
      }
    }
  }
  // Out-of-range ids decode to nothing instead of failing.
  EXPECT_EQ(toks[0]->token_to_piece(-5), "");
  EXPECT_EQ(toks[0]->decode(std::vector<int32_t>{-1, 1 << 30}), "");
  EXPECT_THROW(toks[0]->token_text(-1), Error);
}

TEST(FromVocab, RejectsInconsistentMetadata) {
  VocabData d;
  d.model = "llama";
  d.tokens = {"<unk>", "<s>", "</s>"};
  d.scores = {0.0f};
  EXPECT_THROW(Tokenizer::from_vocab(d), Error);
  d.scores.clear();
  d.model = "bert";
  EXPECT_THROW(Tokenizer::from_vocab(d), Error);
}

}  // namespace
}  // namespace entropix
