// GBNF grammars: the parser on grammar files written in llama.cpp's syntax and on
// malformed ones (a clear error, never a crash or a hang), the matcher against an
// independent JSON parser (nlohmann's), and the token masks against reading every
// token's text one by one.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "grammar/gbnf_parser.h"
#include "grammar/grammar_matcher.h"
#include "grammar/token_constraint.h"
#include "support.h"
#include "tokenizer/token_trie.h"
#include "tokenizer/tokenizer.h"

namespace entropix::grammar {
namespace {

using namespace entropix::testing;

std::shared_ptr<const Grammar> load(const std::string& name) {
  const std::string text = read_file(source_dir() / "tests" / "data" / "grammar" / (name + ".gbnf"));
  return std::make_shared<const Grammar>(parse_gbnf(text, name + ".gbnf"));
}

bool matches(const std::shared_ptr<const Grammar>& g, std::string_view text) {
  GrammarMatcher m(g);
  return m.accept(text) && m.accepting();
}

std::string parse_error(std::string_view text) {
  try {
    parse_gbnf(text, "g");
  } catch (const GrammarError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Gbnf, ArithmeticAndListGrammars) {
  const auto arith = load("arithmetic");
  EXPECT_TRUE(matches(arith, "1+2=3\n"));
  EXPECT_TRUE(matches(arith, "(a + b2) * 7 = x_1\n2=2\n"));
  EXPECT_FALSE(matches(arith, "1+2=3"));     // the line's end is part of the grammar
  EXPECT_FALSE(matches(arith, "1++2=3\n"));
  EXPECT_FALSE(matches(arith, "(1+2=3\n"));
  const auto list = load("list");
  EXPECT_TRUE(matches(list, "- one\n- two, ünïcödé ✓\n"));
  EXPECT_FALSE(matches(list, "- \n"));
  EXPECT_FALSE(matches(list, "* one\n"));
  EXPECT_FALSE(matches(list, "- a\u2028b\n"));
}

TEST(Gbnf, RepetitionCounts) {
  const auto g = std::make_shared<const Grammar>(parse_gbnf(R"(root ::= "a"{2,4} "b"{3} "c"{1,} "d"{0,2})"));
  EXPECT_TRUE(matches(g, "aabbbc"));
  EXPECT_TRUE(matches(g, "aaaabbbcccdd"));
  EXPECT_FALSE(matches(g, "abbbc"));
  EXPECT_FALSE(matches(g, "aaaaabbbc"));
  EXPECT_FALSE(matches(g, "aabbc"));
  EXPECT_FALSE(matches(g, "aabbb"));
  EXPECT_FALSE(matches(g, "aabbbcddd"));
}

TEST(Gbnf, ClassesEscapesAndAnyCharacter) {
  const auto g = std::make_shared<const Grammar>(
      parse_gbnf("root ::= [\\x41-\\x43] [^a-z\\n] . \"\\u00e9\\t\" [\\]\\-]\n"));
  EXPECT_TRUE(matches(g, "A!\xF0\x9F\x98\x80\xC3\xA9\t]"));
  EXPECT_TRUE(matches(g, "CZz\xC3\xA9\t-"));
  EXPECT_FALSE(matches(g, "DZz\xC3\xA9\t-"));
  EXPECT_FALSE(matches(g, "Azz\xC3\xA9\t-"));
  EXPECT_FALSE(matches(g, "A\nz\xC3\xA9\t-"));
  EXPECT_FALSE(matches(g, "A!\xC3\xA9\t"));  // '.' takes one character, not zero
  // A character split over two reads, and bytes that are not UTF-8 at all.
  GrammarMatcher m(g);
  EXPECT_TRUE(m.accept("A!\xF0\x9F"));
  EXPECT_FALSE(m.accepting());
  EXPECT_TRUE(m.accept("\x98\x80\xC3"));
  EXPECT_TRUE(m.accept("\xA9\t]"));
  EXPECT_TRUE(m.accepting());
  EXPECT_FALSE(matches(g, "A!\xFF\xC3\xA9\t]"));
  EXPECT_FALSE(matches(g, "A!\xC0\x80\xC3\xA9\t]"));  // overlong
  // The first byte of a character already says which code points it can be: a lead
  // byte of a three-byte character cannot start an ASCII one.
  const auto brace = std::make_shared<const Grammar>(parse_gbnf("root ::= \"{\" [^\\x00]*\n"));
  GrammarMatcher start(brace);
  EXPECT_FALSE(start.accept("\xE0"));
  EXPECT_FALSE(start.accept("\xF0"));
  EXPECT_FALSE(start.accept("\xC2"));
  EXPECT_TRUE(start.accept("{\xE0"));         // U+0800 and up may follow
  EXPECT_FALSE(start.accept("\x80"));         // E0 80 could only be overlong
  EXPECT_TRUE(start.accept("\xA0\x80"));     // E0 A0 80 is U+0800
  EXPECT_FALSE(matches(brace, "{\xF4\x90\x80\x80"));  // past U+10FFFF
}

TEST(Gbnf, MalformedGrammarsAreRefusedWithTheirPlace) {
  const struct {
    const char* text;
    const char* says;
  } cases[] = {
      {"root ::= foo\n", "rule 'foo' is used but not defined"},
      {"start ::= \"a\"\n", "no 'root' rule"},
      {"root ::= \"a\"\nroot ::= \"b\"\n", "line 2, column 1: rule 'root' is defined twice"},
      {"root ::= root \"a\" | \"b\"\n", "left-recursive"},
      {"root ::= a\na ::= b \"x\"\nb ::= \"\"? a\n", "left-recursive"},
      {"root ::= \"abc\n", "line 1, column 14: a string literal is not closed"},
      {"root ::= [a-z\n", "a character class is not closed"},
      {"root ::= [z-a]\n", "runs backwards"},
      {"root ::= []\n", "empty character class"},
      {"root ::= ( \"a\" \n", "a group is not closed"},
      {"root ::= \"\\q\"\n", "unknown escape"},
      {"root ::= \"\\x4\"\n", "hexadecimal"},
      {"root ::= \"a\"{3,1}\n", "m <= n"},
      {"root ::= \"a\"{99999999999}\n", "repetition count above"},
      {"root ::= \"a\"{2\n", "expected '}'"},
      {"root \"a\"\n", "expected '::='"},
      {"root ::= \"a\" ]\n", "expected the end of the line"},
      {"root ::= \"\xC3(\"\n", "invalid UTF-8"},
      {"root ::= \"\\uD800\"\n", "not a Unicode scalar value"},
      {"root ::= <[1234]>\n", "token references"},
      {"::= \"a\"\n", "expected a rule name"},
  };
  for (const auto& c : cases) {
    const std::string msg = parse_error(c.text);
    EXPECT_NE(msg.find(c.says), std::string::npos) << "grammar: " << c.text << "\nmessage: " << msg;
    EXPECT_EQ(msg.rfind("g: ", 0), 0u) << msg;  // starts with the origin
  }
}

TEST(Gbnf, HostileSizesEndInErrorsNotExhaustion) {
  EXPECT_NE(parse_error("root ::= " + std::string(300, '(') + "\"a\"" + std::string(300, ')') + "\n")
                .find("groups nest deeper"),
            std::string::npos);
  // Groups keep nested repetitions small; long literals repeated many times are not.
  std::string big = "root ::=";
  for (int i = 0; i < 60; ++i) big += " \"abcdefghij\"{10000}";
  EXPECT_NE(parse_error(big + "\n").find("elements"), std::string::npos);
  EXPECT_EQ(parse_error("root ::= (((\"ab\"{10000}){10000}){10000})\n"), "(no error)");
  EXPECT_NE(parse_error("root ::= \"a\"" + std::string(2 << 20, ' ') + "\n").find("bytes"), std::string::npos);
  // Ambiguity that would multiply the ways to read a character stops with an error.
  const auto g = std::make_shared<const Grammar>(parse_gbnf("root ::= (\"a\"? ){5000} \"b\"\n"));
  EXPECT_THROW(GrammarMatcher m(g), GrammarError);
}

// Random text over JSON's alphabet: the grammar and nlohmann's parser must agree on
// every one, and on every valid document nlohmann writes.
TEST(Gbnf, JsonGrammarAgreesWithAnIndependentParser) {
  const auto g = load("json");
  std::mt19937 rng(7);
  const std::string alphabet = "{}[]\":, 0123456789-+.eEtrufalsn\\u\"ab\n";
  int valid = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    const size_t len = 1 + rng() % 12;
    for (size_t k = 0; k < len; ++k) s += alphabet[rng() % alphabet.size()];
    const bool expect = nlohmann::json::accept(s);
    valid += expect;
    ASSERT_EQ(matches(g, s), expect) << "text: " << s;
  }
  EXPECT_GT(valid, 50);
  // Documents with nesting, escapes and non-ASCII text.
  for (int i = 0; i < 300; ++i) {
    nlohmann::json doc = nlohmann::json::object();
    doc["n"] = static_cast<int>(rng() % 2001) - 1000;
    doc["x"] = (static_cast<double>(rng()) / 7.0) * ((i % 2) ? 1e-12 : 1e12);
    doc["s"] = std::string("q\"\\/\n\t\x01 é ✓ ") + std::to_string(i);
    doc["a"] = nlohmann::json::array({true, false, nullptr, nlohmann::json::object({{"k", i}})});
    ASSERT_TRUE(matches(g, doc.dump())) << doc.dump();
    ASSERT_TRUE(matches(g, doc.dump(2))) << doc.dump(2);
    std::string cut = doc.dump();
    cut.pop_back();
    ASSERT_FALSE(matches(g, cut));
  }
}

std::unique_ptr<Tokenizer> vocab(const std::string& name) {
  const auto file = GgufFile::open((testdata_dir() / "vocab" / ("ggml-vocab-" + name + ".gguf")).string());
  return Tokenizer::from_gguf(*file);
}

// The mask of a state must hold exactly the tokens whose text the matcher takes from
// that state (and the end-of-generation tokens exactly when the match is complete).
void expect_masks_match_reading_each_token(const Tokenizer& tok, const std::shared_ptr<const Grammar>& g,
                                           const std::vector<std::string>& texts) {
  const TokenConstraint c(g, tok.token_trie());
  TokenBits bits;
  for (const std::string& text : texts) {
    for (size_t cut = 0; cut <= text.size(); cut += 1 + cut / 3) {
      GrammarMatcher m = c.start();
      ASSERT_TRUE(m.accept(text.substr(0, cut))) << text.substr(0, cut);
      c.allowed_tokens(m, bits);
      for (int32_t id = 0; id < tok.n_vocab(); ++id) {
        bool expect;
        if (tok.is_eog(id)) {
          expect = m.accepting();
        } else if (tok.is_control(id) || id == tok.unk() || tok.token_to_piece(id).empty()) {
          expect = false;
        } else {
          GrammarMatcher copy = m;
          expect = copy.accept(tok.token_to_piece(id));
        }
        ASSERT_EQ(token_bit(bits, id), expect)
            << "token " << id << " '" << tok.token_to_piece(id) << "' after '" << text.substr(0, cut) << "'";
      }
    }
  }
  const ConstraintStats s = c.stats();
  EXPECT_GT(s.stack_hits, 0u);  // states recur, and their masks are kept
}

TEST(TokenConstraint, MasksMatchReadingEachTokenBpe) {
  if (!have_testdata()) GTEST_SKIP() << "needs " << testdata_dir() << "/vocab";
  const auto tok = vocab("gpt-2");
  expect_masks_match_reading_each_token(*tok, load("json"),
                                        {R"({"name": "Ada", "tags": ["x", "é✓"], "n": -12.5e3})", "[true,null]"});
}

TEST(TokenConstraint, MasksMatchReadingEachTokenSentencePiece) {
  if (!have_testdata()) GTEST_SKIP() << "needs " << testdata_dir() << "/vocab";
  const auto tok = vocab("llama-spm");
  expect_masks_match_reading_each_token(*tok, load("arithmetic"), {"(a + 12) * b = c\n"});
  expect_masks_match_reading_each_token(*tok, load("list"), {"- über ✓\n- two\n"});
}

TEST(TokenTrie, HoldsEveryTextTokenOnce) {
  if (!have_testdata()) GTEST_SKIP() << "needs " << testdata_dir() << "/vocab";
  const auto tok = vocab("gpt-2");
  const TokenTrie trie(*tok);
  std::vector<int> seen(static_cast<size_t>(tok->n_vocab()), 0);
  std::string path;
  for (const TokenTrie::Node& n : trie.nodes()) {
    path.resize(n.depth - 1);
    path += static_cast<char>(n.byte);
    for (int32_t id : trie.tokens_at(n)) {
      ++seen[static_cast<size_t>(id)];
      EXPECT_EQ(path, tok->token_to_piece(id));
    }
  }
  for (int32_t id = 0; id < tok->n_vocab(); ++id) {
    const bool text = !tok->is_eog(id) && !tok->is_control(id) && !tok->token_to_piece(id).empty();
    EXPECT_EQ(seen[static_cast<size_t>(id)], text ? 1 : 0) << id;
  }
}

}  // namespace
}  // namespace entropix::grammar
