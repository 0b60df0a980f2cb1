// json_field_confidence: hand-split answers whose leaves and token figures are
// worked out here from byte ranges (a token over a key and a value, a token over a
// leaf's end and the next key, nesting, escaped keys, characters split across
// tokens, text cut short, bytes that are not JSON), random JSON documents in random
// splits against nlohmann's own parse, and random bytes that must not throw.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "entropix/policy.h"
#include "server/json_field_confidence.h"
#include "support.h"

using nlohmann::json;
using nlohmann::ordered_json;
using entropix::State;
using entropix::server::json_field_confidence;
using entropix::server::TokenInfo;

namespace {

// A token with figures that differ from token to token (so that a token counted in
// the wrong leaf shows): model logprob, entropy and state; constrained figures
// unless `unconstrained`, forced every third token.
TokenInfo token(const std::string& piece, size_t i, bool unconstrained = false) {
  TokenInfo t;
  t.piece = piece;
  t.logprob = -0.1 * static_cast<double>(i % 7) - 0.05;
  t.entropy = 0.25 * static_cast<double>((i * 5) % 11);
  t.varentropy = 0.5;
  t.state = static_cast<State>(i % 5);
  if (!unconstrained) {
    t.constrained.active = true;
    t.constrained.logprob = i % 3 == 0 ? 0.0 : -0.01 * static_cast<double>(i);
    t.constrained.entropy = 0.1;
    t.constrained.n_allowed = i % 3 == 0 ? 1 : static_cast<int32_t>(i + 2);
  }
  return t;
}

std::vector<TokenInfo> tokens(const std::vector<std::string>& pieces) {
  std::vector<TokenInfo> out;
  for (size_t i = 0; i < pieces.size(); ++i) out.push_back(token(pieces[i], i));
  return out;
}

std::string text_of(const std::vector<TokenInfo>& toks) {
  std::string s;
  for (const TokenInfo& t : toks) s += t.piece;
  return s;
}

// A leaf as the test sees it: its pointer, and where its value's bytes are in the text.
struct Span {
  std::string pointer;
  size_t begin = 0, end = 0;  // [begin, end) of the text
  bool complete = true;
};

// The span of `value` at its first occurrence at or after `from` in `text`.
Span span(const std::string& pointer, const std::string& text, const std::string& value, size_t from = 0,
          bool complete = true) {
  const size_t at = text.find(value, from);
  EXPECT_NE(at, std::string::npos) << value;
  return Span{pointer, at, at + value.size(), complete};
}

// The figures a leaf must get: those of every token with a byte in [begin, end).
ordered_json expected(const std::vector<TokenInfo>& toks, const std::vector<Span>& spans) {
  ordered_json out = ordered_json::object();
  for (const Span& s : spans) {
    size_t at = 0, n = 0, n_constrained = 0, forced = 0;
    double min_lp = 1e9, min_clp = 1e9, entropy = 0;
    ordered_json states = ordered_json::array();
    for (const TokenInfo& t : toks) {
      const size_t b = at, e = at + t.piece.size();
      at = e;
      if (e <= s.begin || b >= s.end) continue;
      ++n;
      min_lp = std::min(min_lp, t.logprob);
      entropy += t.entropy;
      const std::string name = entropix::state_name(t.state);
      if (std::find(states.begin(), states.end(), name) == states.end()) states.push_back(name);
      if (t.constrained.active) {
        ++n_constrained;
        min_clp = std::min(min_clp, t.constrained.logprob);
        if (t.constrained.n_allowed == 1) ++forced;
      }
    }
    ordered_json f;
    f["min_prob"] = std::exp(min_lp);
    f["mean_entropy"] = entropy / static_cast<double>(n);
    f["states"] = states;
    f["tokens"] = n;
    if (n_constrained > 0) f["constrained"] = {{"min_prob", std::exp(min_clp)}, {"forced", forced}};
    if (!s.complete) f["complete"] = false;
    out[s.pointer] = f;
  }
  return out;
}

// Same pointers in the same order, the same figures (numbers to 1e-12).
void expect_fields(const ordered_json& got, const ordered_json& want) {
  std::vector<std::string> got_keys, want_keys;
  for (const auto& [k, v] : got.items()) got_keys.push_back(k);
  for (const auto& [k, v] : want.items()) want_keys.push_back(k);
  ASSERT_EQ(got_keys, want_keys) << got.dump();
  for (const auto& [k, w] : want.items()) {
    const ordered_json& g = got.at(k);
    EXPECT_NEAR(g.at("min_prob").get<double>(), w["min_prob"].get<double>(), 1e-12) << k;
    EXPECT_NEAR(g.at("mean_entropy").get<double>(), w["mean_entropy"].get<double>(), 1e-12) << k;
    EXPECT_EQ(g.at("states"), w["states"]) << k;
    EXPECT_EQ(g.at("tokens"), w["tokens"]) << k;
    EXPECT_EQ(g.contains("constrained"), w.contains("constrained")) << k;
    if (w.contains("constrained")) {
      EXPECT_NEAR(g["constrained"].at("min_prob").get<double>(), w["constrained"]["min_prob"].get<double>(), 1e-12) << k;
      EXPECT_EQ(g["constrained"].at("forced"), w["constrained"]["forced"]) << k;
    }
    EXPECT_EQ(g.value("complete", true), w.value("complete", true)) << k;
    EXPECT_EQ(g.size(), w.size()) << k << ": " << g.dump();
  }
}

std::vector<std::string> keys(const ordered_json& j) {
  std::vector<std::string> out;
  for (const auto& [k, v] : j.items()) out.push_back(k);
  return out;
}

TEST(JsonFieldConfidence, KeyAndColonInOneTokenTheValueInTheNext) {
  const auto toks = tokens({"{\"a\":", "1", "}"});
  const std::string text = text_of(toks);
  expect_fields(json_field_confidence(toks), expected(toks, {span("/a", text, "1")}));
  // The value's token alone counts.
  EXPECT_EQ(json_field_confidence(toks)["/a"]["tokens"], 1);
}

TEST(JsonFieldConfidence, ATokenOverALeafsEndAndTheNextKeyCountsForTheLeafOnly) {
  const auto toks = tokens({"{\"a\":1", "2,\"b\"", ":", "\"x", "y\"", "}"});
  const std::string text = text_of(toks);
  const ordered_json got = json_field_confidence(toks);
  expect_fields(got, expected(toks, {span("/a", text, "12"), span("/b", text, "\"xy\"")}));
  EXPECT_EQ(got["/a"]["tokens"], 2);
  EXPECT_EQ(got["/b"]["tokens"], 2);  // not the token holding the key "b"
}

TEST(JsonFieldConfidence, ATokenOverTwoLeavesCountsForBoth) {
  const auto toks = tokens({"[\"a", "b\",\"c", "\"]"});
  const std::string text = text_of(toks);
  expect_fields(json_field_confidence(toks),
                expected(toks, {span("/0", text, "\"ab\""), span("/1", text, "\"c\"")}));
  // A whole array of numbers in one token, then two literals split mid-word.
  const auto more = tokens({"[1,22,3", ",tr", "ue,n", "ull,", "false]"});
  const std::string t2 = text_of(more);
  expect_fields(json_field_confidence(more),
                expected(more, {span("/0", t2, "1"), span("/1", t2, "22"), span("/2", t2, "3"),
                                span("/3", t2, "true"), span("/4", t2, "null"), span("/5", t2, "false")}));
}

TEST(JsonFieldConfidence, NestedArraysAndObjectsInDocumentOrder) {
  const auto toks = tokens({"{\"items\": [", "{\"price\": 1", ".5, \"ok\"", ": true}", ", {\"price\":-2e", "3,",
                            "\"tags\":[[null", "],{\"x\":false}", "]}", "], \"name\": \"x\", \"e\":{}, \"z\":[]}"});
  const std::string text = text_of(toks);
  const size_t second = text.find("\"price\":-");
  expect_fields(json_field_confidence(toks),
                expected(toks, {span("/items/0/price", text, "1.5"), span("/items/0/ok", text, "true"),
                                span("/items/1/price", text, "-2e3", second), span("/items/1/tags/0/0", text, "null"),
                                span("/items/1/tags/1/x", text, "false"), span("/name", text, "\"x\"", text.find("\"name\""))}));
}

TEST(JsonFieldConfidence, KeysAreEscapedAsJsonPointersWant) {
  const auto toks = tokens({"{\"a/b\":1,", "\"m~n\":2,\"~1\":3,", "\"\\u00e9\\/\":4,", "\"q\\\"\\\\\":5,",
                            "\"\\ud83d\\ude00\":6,\"\":7}"});
  const std::string text = text_of(toks);
  const ordered_json got = json_field_confidence(toks);
  EXPECT_EQ(keys(got), (std::vector<std::string>{"/a~1b", "/m~0n", "/~01", "/\xC3\xA9~1", "/q\"\\",
                                                  "/\xF0\x9F\x98\x80", "/"}));
  const json parsed = json::parse(text);
  for (const std::string& p : keys(got)) EXPECT_TRUE(parsed.at(json::json_pointer(p)).is_number()) << p;
  expect_fields(got, expected(toks, {span("/a~1b", text, "1"), span("/m~0n", text, "2"), span("/~01", text, "3"),
                                     span("/\xC3\xA9~1", text, "4"), span("/q\"\\", text, "5"),
                                     span("/\xF0\x9F\x98\x80", text, "6"), span("/", text, "7")}));
}

TEST(JsonFieldConfidence, CharactersSplitAcrossTokens) {
  // é, € and 😀 cut between their bytes, in a value and in a key.
  const auto toks = tokens({"{\"k\":\"\xC3", "\xA9\xE2\x82", "\xAC\xF0\x9F", "\x98\x80\",\"\xC3", "\xA9\":\"", "z\"}"});
  const std::string text = text_of(toks);
  const ordered_json got = json_field_confidence(toks);
  expect_fields(got, expected(toks, {span("/k", text, "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\""),
                                     span("/\xC3\xA9", text, "\"z\"")}));
  EXPECT_EQ(got["/k"]["tokens"], 4);
  EXPECT_NO_THROW((void)got.dump());
}

TEST(JsonFieldConfidence, ARootLeafIsTheEmptyPointerAndWhitespaceAroundIsAllowed) {
  for (const std::string& value : {std::string("\"hi\""), std::string("-0.5e+2"), std::string("null"),
                                   std::string("12")}) {
    const auto toks = tokens({" \n ", value.substr(0, 2), value.substr(2), " \t\r\n"});
    expect_fields(json_field_confidence(toks), expected(toks, {span("", text_of(toks), value)}));
  }
  // A root number ends with the text.
  const auto bare = tokens({"4", "2"});
  expect_fields(json_field_confidence(bare), expected(bare, {span("", "42", "42")}));
  EXPECT_TRUE(json_field_confidence(tokens({" {", "} "})).empty());
  EXPECT_TRUE(json_field_confidence({}).empty());
}

TEST(JsonFieldConfidence, TextCutShortEndsWithTheUnfinishedLeaf) {
  struct Case {
    std::vector<std::string> pieces;
    std::vector<std::tuple<std::string, std::string, bool>> leaves;  // pointer, value, complete
  };
  const std::vector<Case> cases = {
      {{"{\"a\":", "\"hel"}, {{"/a", "\"hel", false}}},
      {{"{\"a\":1,", "\"b\":2"}, {{"/a", "1", true}, {"/b", "2", false}}},  // 2 might go on
      {{"{\"a\":t", "r"}, {{"/a", "tr", false}}},
      {{"{\"a\":1,\"b"}, {{"/a", "1", true}}},  // inside a key: no leaf yet
      {{"[\"x\", ", "-"}, {{"/0", "\"x\"", true}, {"/1", "-", false}}},
      {{"[1", "."}, {{"/0", "1.", false}}},
      {{"[\"a\\u00"}, {{"/0", "\"a\\u00", false}}},
      {{"\"ab"}, {{"", "\"ab", false}}},
      {{"1e"}, {{"", "1e", false}}},
  };
  for (const Case& c : cases) {
    const auto toks = tokens(c.pieces);
    const std::string text = text_of(toks);
    std::vector<Span> spans;
    for (const auto& [p, v, complete] : c.leaves) spans.push_back(span(p, text, v, 0, complete));
    SCOPED_TRACE(text);
    expect_fields(json_field_confidence(toks), expected(toks, spans));
  }
}

TEST(JsonFieldConfidence, BytesThatAreNotJsonStopTheReading) {
  struct Case {
    std::vector<std::string> pieces;
    std::vector<std::tuple<std::string, std::string, bool>> leaves;
  };
  const std::vector<Case> cases = {
      // Not UTF-8 in a string: the leaf stops before the byte.
      {{"{\"a\":1,\"b\":\"x", "\xFFy\"}"}, {{"/a", "1", true}, {"/b", "\"x", false}}},
      {{"[\"\xC0\x80\"]"}, {{"/0", "\"", false}}},        // an overlong form
      {{"[\"\xED\xA0\x80\"]"}, {{"/0", "\"", false}}},    // a surrogate in UTF-8
      {{"[\"\\ud800x\"]"}, {{"/0", "\"\\ud800", false}}},  // a lone escaped surrogate
      {{"[\"a\\q\"]"}, {{"/0", "\"a\\", false}}},          // an unknown escape
      {{"[\"a\tb\"]"}, {{"/0", "\"a", false}}},           // a raw control character
      {{"{\"a\":tru", "x}"}, {{"/a", "tru", false}}},
      {{"[1.", "]"}, {{"/0", "1.", false}}},
      {{"[01]"}, {{"/0", "0", true}}},                    // 0 is a number; the 1 after it is not JSON
      {{"{\"a\":1}", "garbage", "[2]"}, {{"/a", "1", true}}},
      {{"{\"a\" 1}"}, {}},
      {{"{\"\xFF\":1}"}, {}},                              // a key that is not UTF-8
      {{std::string(1, '\0') + "\xFF{\"a\":1}"}, {}},
      {{"[1}"}, {{"/0", "1", true}}},
  };
  for (const Case& c : cases) {
    const auto toks = tokens(c.pieces);
    const std::string text = text_of(toks);
    std::vector<Span> spans;
    for (const auto& [p, v, complete] : c.leaves) spans.push_back(span(p, text, v, 0, complete));
    SCOPED_TRACE(text);
    ordered_json got;
    ASSERT_NO_THROW(got = json_field_confidence(toks));
    expect_fields(got, expected(toks, spans));
  }
}

TEST(JsonFieldConfidence, ConstrainedFiguresAndForcedTokens) {
  // Tokens 0 and 3 are forced (n_allowed 1); token 4 was not drawn under a grammar.
  std::vector<TokenInfo> toks = tokens({"{\"a\":\"", "x", "y\",", "\"b\":", "7}"});
  toks[4].constrained = {};
  const std::string text = text_of(toks);
  const ordered_json got = json_field_confidence(toks);
  expect_fields(got, expected(toks, {span("/a", text, "\"xy\""), span("/b", text, "7")}));
  EXPECT_EQ(got["/a"]["constrained"]["forced"], 1);
  EXPECT_DOUBLE_EQ(got["/a"]["constrained"]["min_prob"].get<double>(), std::exp(-0.02));
  EXPECT_FALSE(got["/b"].contains("constrained"));
  EXPECT_DOUBLE_EQ(got["/b"]["min_prob"].get<double>(), std::exp(toks[4].logprob));
}

TEST(JsonFieldConfidence, AKeyGivenAgainKeepsItsLastValue) {
  const auto toks = tokens({"{\"a\":{\"x\":1,\"y\":[2]},", "\"b\":3,", "\"a\":4,", "\"c\":{\"a\":5,\"a\":6}}"});
  const std::string text = text_of(toks);
  const ordered_json got = json_field_confidence(toks);
  expect_fields(got, expected(toks, {span("/b", text, "3"), span("/a", text, "4"), span("/c/a", text, "6")}));
}

TEST(JsonFieldConfidence, NestingDeeperThanTheLimitIsNotRead) {
  const int depth = entropix::server::kFieldMaxDepth;
  const auto at_limit = tokens({std::string(depth, '['), "1", std::string(depth, ']')});
  std::string pointer;
  for (int i = 0; i < depth; ++i) pointer += "/0";
  EXPECT_EQ(keys(json_field_confidence(at_limit)), std::vector<std::string>{pointer});
  EXPECT_TRUE(json_field_confidence(tokens({std::string(depth + 1, '['), "1"})).empty());
}

// ---- random documents ------------------------------------------------------------

std::string random_string(std::mt19937& rng) {
  static const std::vector<std::string> parts = {"a", "Z", "0", " ", "/", "~", "~1", "\"", "\\", "\n", "\t",
                                                 "\x01", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "key"};
  std::string s;
  const int n = std::uniform_int_distribution<int>(0, 6)(rng);
  for (int i = 0; i < n; ++i) s += parts[std::uniform_int_distribution<size_t>(0, parts.size() - 1)(rng)];
  return s;
}

json random_value(std::mt19937& rng, int depth) {
  // Containers at the root, scalars only below depth 5.
  const int kind = std::uniform_int_distribution<int>(depth == 0 ? 6 : 0, depth >= 5 ? 5 : 8)(rng);
  switch (kind) {
    case 0: return nullptr;
    case 1: return std::uniform_int_distribution<int>(0, 1)(rng) == 1;
    case 2: return std::uniform_int_distribution<int64_t>(-1000000, 1000000)(rng);
    case 3: return std::uniform_real_distribution<double>(-1e6, 1e6)(rng) * std::pow(10.0, std::uniform_int_distribution<int>(-30, 30)(rng));
    case 4:
    case 5: return random_string(rng);
    case 6:
    case 7: {
      json o = json::object();
      const int n = std::uniform_int_distribution<int>(0, 4)(rng);
      for (int i = 0; i < n; ++i) o[random_string(rng)] = random_value(rng, depth + 1);
      return o;
    }
    default: {
      json a = json::array();
      const int n = std::uniform_int_distribution<int>(0, 4)(rng);
      for (int i = 0; i < n; ++i) a.push_back(random_value(rng, depth + 1));
      return a;
    }
  }
}

// The text cut into tokens of 1 to 6 bytes (characters split anywhere).
std::vector<TokenInfo> random_split(const std::string& text, std::mt19937& rng) {
  std::vector<TokenInfo> out;
  for (size_t at = 0; at < text.size();) {
    const size_t n = std::min(text.size() - at, std::uniform_int_distribution<size_t>(1, 6)(rng));
    out.push_back(token(text.substr(at, n), out.size(), std::uniform_int_distribution<int>(0, 9)(rng) == 0));
    at += n;
  }
  return out;
}

TEST(JsonFieldConfidence, RandomDocumentsInRandomSplitsGiveTheParsedLeaves) {
  std::mt19937 rng(20240622);
  for (int doc = 0; doc < 400; ++doc) {
    const json value = random_value(rng, 0);
    const int indent = std::uniform_int_distribution<int>(-1, 2)(rng);
    const bool ascii = std::uniform_int_distribution<int>(0, 1)(rng) == 1;  // \uXXXX, surrogate pairs too
    const std::string text = value.dump(indent, ' ', ascii);
    const std::vector<std::string> want = entropix::testing::json_leaf_pointers(json::parse(text));
    SCOPED_TRACE(text);
    for (int split = 0; split < 3; ++split) {
      const auto toks = random_split(text, rng);
      const ordered_json got = json_field_confidence(toks);
      ASSERT_EQ(keys(got), want);
      for (const auto& [p, f] : got.items()) {
        EXPECT_FALSE(f.contains("complete")) << p;
        EXPECT_GE(f["tokens"].get<int>(), 1) << p;
        EXPECT_GT(f["min_prob"].get<double>(), 0.0) << p;
        EXPECT_LE(f["min_prob"].get<double>(), 1.0) << p;
        EXPECT_TRUE(value.at(json::json_pointer(p)).is_primitive()) << p;
      }
      // Cut anywhere: the leaves so far, the last one possibly unfinished.
      const size_t cut = std::uniform_int_distribution<size_t>(0, text.size())(rng);
      const ordered_json part = json_field_confidence(random_split(text.substr(0, cut), rng));
      const std::vector<std::string> part_keys = keys(part);
      ASSERT_LE(part_keys.size(), want.size());
      EXPECT_TRUE(std::equal(part_keys.begin(), part_keys.end(), want.begin())) << text.substr(0, cut);
      for (size_t i = 0; i + 1 < part_keys.size(); ++i) EXPECT_FALSE(part[part_keys[i]].contains("complete"));
    }
  }
}

TEST(JsonFieldConfidence, AnyBytesReadWithoutThrowingAndGiveValidJson) {
  std::mt19937 rng(7);
  const std::string alphabet = "{}[]:,\"\\/u0123456789abcdefEe+-.tfnrl \n\x80\xBF\xC3\xE2\xF0\xFF";
  for (int i = 0; i < 3000; ++i) {
    std::string text;
    if (i % 2 == 0) {
      // A document with a few bytes changed.
      text = random_value(rng, 0).dump();
      const int flips = std::uniform_int_distribution<int>(1, 3)(rng);
      for (int f = 0; f < flips && !text.empty(); ++f)
        text[std::uniform_int_distribution<size_t>(0, text.size() - 1)(rng)] =
            static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
    } else {
      const size_t n = std::uniform_int_distribution<size_t>(0, 40)(rng);
      for (size_t k = 0; k < n; ++k)
        text += i % 4 == 1 ? static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng))
                           : alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng)];
    }
    ordered_json got;
    ASSERT_NO_THROW(got = json_field_confidence(random_split(text, rng))) << i;
    ASSERT_NO_THROW((void)got.dump()) << i;  // every pointer is UTF-8
    size_t unfinished = 0;
    for (const auto& [p, f] : got.items()) unfinished += f.contains("complete") ? 1 : 0;
    EXPECT_LE(unfinished, 1u);
  }
}

}  // namespace
