// JSON Schema -> GBNF: the shape of the grammars (declaration order, optional
// properties without blow-up, compact repetition), exact number ranges (the grammar
// turned into a regex and swept over a window of values), and every refusal naming
// its keyword and where it is, hostile schemas included. The sampled-text check
// against a validator lives in tests/py/test_json_schema_grammar.py.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <string>

#include "grammar/gbnf_writer.h"
#include "grammar/json_schema_grammar.h"
#include "grammar/numeric_range_grammar.h"

namespace {

using entropix::JsonSchemaError;
using entropix::JsonSchemaOptions;
using nlohmann::ordered_json;

// Options without the optional space, so texts can be written one way.
JsonSchemaOptions compact() {
  JsonSchemaOptions options;
  options.space_after_separators = false;
  return options;
}

std::string grammar(const std::string& schema, const JsonSchemaOptions& options = {}) {
  return entropix::json_schema_to_gbnf(ordered_json::parse(schema), options);
}

// The error a schema is refused with; a test failure when it converts.
JsonSchemaError refusal(const std::string& schema, const JsonSchemaOptions& options = {}) {
  try {
    grammar(schema, options);
  } catch (const JsonSchemaError& e) {
    return e;
  }
  ADD_FAILURE() << "converted without an error: " << schema;
  return JsonSchemaError("", "", "");
}

std::map<std::string, std::string> rules_of(const std::string& text) {
  std::map<std::string, std::string> rules;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    const size_t sep = line.find(" ::= ");
    if (sep != std::string::npos) rules[line.substr(0, sep)] = line.substr(sep + 5);
    start = end == std::string::npos ? text.size() : end + 1;
  }
  return rules;
}

// ---- GBNF (ASCII, no recursion) as an ECMAScript regex, for sweeping values ----------

std::string regex_of(const std::map<std::string, std::string>& rules, const std::string& expr, int depth = 0) {
  if (depth > 50) throw std::runtime_error("recursive grammar");
  std::string out;
  for (size_t i = 0; i < expr.size();) {
    const char c = expr[i];
    if (c == ' ') {
      ++i;
    } else if (c == '"') {
      for (++i; expr[i] != '"'; ++i) {
        char ch = expr[i];
        if (ch == '\\') {
          ch = expr[++i];
          if (ch == 'n') ch = '\n';
        }
        if (std::string("\\^$.|?*+()[]{}/-").find(ch) != std::string::npos) out += '\\';
        out += ch;
      }
      ++i;
    } else if (c == '[') {
      const size_t end = expr.find(']', i + 1);
      out += expr.substr(i, end - i + 1);
      i = end + 1;
    } else if (c == '{') {  // a count
      const size_t end = expr.find('}', i);
      out += expr.substr(i, end - i + 1);
      i = end + 1;
    } else if (c == '(') {
      out += "(?:";
      ++i;
    } else if (std::isalnum(static_cast<unsigned char>(c))) {
      size_t end = i;
      while (end < expr.size() && (std::isalnum(static_cast<unsigned char>(expr[end])) || expr[end] == '-')) ++end;
      out += "(?:" + regex_of(rules, rules.at(expr.substr(i, end - i)), depth + 1) + ")";
      i = end;
    } else {
      out += c;  // | ) * + ?
      ++i;
    }
  }
  return out;
}

std::regex regex_of_grammar(const std::string& text) {
  const auto rules = rules_of(text);
  return std::regex(regex_of(rules, rules.at("root")), std::regex::ECMAScript | std::regex::optimize);
}

std::regex regex_of_expression(const std::string& expr) { return std::regex(regex_of({}, expr)); }

// ---- objects ----------------------------------------------------------------------

TEST(JsonSchemaGrammar, PropertiesKeepDeclarationOrderRequiredAlwaysThere) {
  const std::string text = grammar(R"({"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"integer"}},
                                      "required":["zeta","alpha"],"additionalProperties":false})");
  EXPECT_EQ(rules_of(text)["root"], R"("{" root-zeta-kv "," ws root-alpha-kv "}")");
  EXPECT_EQ(rules_of(text)["root-zeta-kv"], R"("\"zeta\":" ws string)");
}

TEST(JsonSchemaGrammar, OptionalPropertiesMayBeLeftOutInOrder) {
  const std::regex re = regex_of_grammar(grammar(
      R"({"type":"object","properties":{"a":{"const":1},"b":{"const":2},"c":{"const":3}},"required":["b"]})",
      compact()));
  for (const char* ok : {R"({"b":2})", R"({"a":1,"b":2})", R"({"b":2,"c":3})", R"({"a":1,"b":2,"c":3})"}) {
    EXPECT_TRUE(std::regex_match(ok, re)) << ok;
  }
  for (const char* bad : {"{}", R"({"a":1})", R"({"b":2,"a":1})", R"({,"b":2})", R"({"b":2,})", R"({"a":1"b":2})"}) {
    EXPECT_FALSE(std::regex_match(bad, re)) << bad;
  }
}

TEST(JsonSchemaGrammar, AllOptionalPropertiesAllowTheEmptyObjectAndAnySubset) {
  const std::regex re = regex_of_grammar(grammar(
      R"({"type":"object","properties":{"a":{"const":1},"b":{"const":2},"c":{"const":3}}})", compact()));
  for (const char* ok : {"{}", R"({"a":1})", R"({"c":3})", R"({"a":1,"c":3})", R"({"b":2,"c":3})", R"({"a":1,"b":2,"c":3})"}) {
    EXPECT_TRUE(std::regex_match(ok, re)) << ok;
  }
  for (const char* bad : {R"({"c":3,"a":1})", R"({,"c":3})", R"({"d":4})"}) EXPECT_FALSE(std::regex_match(bad, re)) << bad;
}

TEST(JsonSchemaGrammar, ManyOptionalPropertiesGrowTheGrammarLinearly) {
  const auto schema_with = [](int n) {
    ordered_json s = {{"type", "object"}, {"properties", ordered_json::object()}};
    for (int i = 0; i < n; ++i) s["properties"][std::string("p").append(std::to_string(i))] = {{"type", "boolean"}};
    return entropix::json_schema_to_gbnf(s);
  };
  const size_t small = schema_with(50).size(), large = schema_with(200).size();
  EXPECT_LT(large, 6 * small);
  EXPECT_LT(large, 40000u);
}

TEST(JsonSchemaGrammar, AdditionalPropertiesDefaultAndStrictMode) {
  // Not strict: declared properties alone when `properties` is there, any members when not.
  EXPECT_EQ(grammar(R"({"type":"object","properties":{"a":{"type":"null"}}})").find("additional"), std::string::npos);
  EXPECT_NE(rules_of(grammar(R"({"type":"object"})"))["root"].find("member"), std::string::npos);
  EXPECT_NE(grammar(R"({"type":"object","properties":{"a":{"type":"null"}},"additionalProperties":{"type":"integer"}})")
                .find("root-additional-kv"), std::string::npos);

  JsonSchemaOptions strict;
  strict.strict = true;
  JsonSchemaError e = refusal(R"({"type":"object","properties":{"a":{"type":"null"}},"required":["a"]})", strict);
  EXPECT_STREQ(e.what(), "strict mode: 'additionalProperties' at the root must be false");
  EXPECT_EQ(e.param(), "/additionalProperties");
  e = refusal(R"({"type":"object","properties":{"a":{"type":"null"},"b":{"type":"null"}},"required":["a"],"additionalProperties":false})", strict);
  EXPECT_STREQ(e.what(), "strict mode: property 'b' at the root must be listed in 'required'");
  EXPECT_NO_THROW(grammar(R"({"type":"object","properties":{"a":{"type":"null"}},"required":["a"],"additionalProperties":false})", strict));
}

TEST(JsonSchemaGrammar, AdditionalKeysCannotSpellADeclaredName) {
  const std::regex re = regex_of_grammar(grammar(
      R"({"type":"object","properties":{"ab":{"const":1}},"additionalProperties":{"const":0}})", compact()));
  for (const char* ok : {R"({"ab":1,"a":0})", R"({"abc":0})", R"({"b":0,"x":0})", R"({"":0})"}) EXPECT_TRUE(std::regex_match(ok, re)) << ok;
  for (const char* bad : {R"({"ab":0})", R"({"ab":1,"ab":0})", R"({"\u0061b":0})", R"({"a\u0062":0})"}) EXPECT_FALSE(std::regex_match(bad, re)) << bad;
}

TEST(JsonSchemaGrammar, AllOfMergesObjects) {
  const std::regex re = regex_of_grammar(grammar(
      R"({"$defs":{"Base":{"type":"object","properties":{"id":{"const":1}},"required":["id"]}},
          "allOf":[{"$ref":"#/$defs/Base"},{"properties":{"n":{"const":2}},"required":["n"]}]})",
      compact()));
  EXPECT_TRUE(std::regex_match(R"({"id":1,"n":2})", re));
  EXPECT_FALSE(std::regex_match(R"({"id":1})", re));
  EXPECT_STREQ(refusal(R"({"allOf":[{"type":"string"},{"minLength":2}]})").what(),
               "'type' at /allOf/0 is not supported in 'allOf' (allOf merges object schemas: type object, properties, required, "
               "additionalProperties false)");
}

// ---- arrays and strings ---------------------------------------------------------------

TEST(JsonSchemaGrammar, ItemCountsAreExactAndLargeOnesStayCompact) {
  const std::regex re = regex_of_grammar(grammar(R"({"type":"array","items":{"const":0},"minItems":2,"maxItems":4})",
                                                 compact()));
  for (int n = 0; n <= 6; ++n) {
    std::string text = "[";
    for (int i = 0; i < n; ++i) text += i ? ",0" : "0";
    EXPECT_EQ(std::regex_match(text + "]", re), n >= 2 && n <= 4) << n;
  }
  const std::string big = grammar(R"({"type":"array","items":{"type":"integer"},"maxItems":1000})");
  EXPECT_LT(big.size(), 2000u);
  EXPECT_EQ(big.find("{999}"), std::string::npos);
}

TEST(JsonSchemaGrammar, LargeRepetitionsAreBlocksOfBlocks) {
  for (uint64_t max : {65u, 100u, 1000u}) {
    const std::string expr = entropix::gbnf_repeat("\"a\"", 3, max);
    EXPECT_LT(expr.size(), 200u) << expr;
    const std::regex re = regex_of_expression(expr);
    for (uint64_t n = 0; n <= max + 2; n += (n < 80 || n + 80 > max ? 1 : 37)) {
      EXPECT_EQ(std::regex_match(std::string(n, 'a'), re), n >= 3 && n <= max) << "max " << max << ", n " << n;
    }
  }
}

TEST(JsonSchemaGrammar, PrefixItemsThenItems) {
  const std::regex re = regex_of_grammar(grammar(
      R"({"type":"array","prefixItems":[{"const":1},{"const":2}],"items":{"const":9},"minItems":1,"maxItems":4})",
      compact()));
  for (const char* ok : {"[1]", "[1,2]", "[1,2,9]", "[1,2,9,9]"}) EXPECT_TRUE(std::regex_match(ok, re)) << ok;
  for (const char* bad : {"[]", "[2]", "[1,9]", "[1,2,9,9,9]"}) EXPECT_FALSE(std::regex_match(bad, re)) << bad;
}

TEST(JsonSchemaGrammar, StringLengthAndFormats) {
  const std::regex length = regex_of_grammar(grammar(R"({"type":"string","minLength":1,"maxLength":3})"));
  EXPECT_FALSE(std::regex_match(R"("")", length));
  EXPECT_TRUE(std::regex_match(R"("a\"c")", length));
  EXPECT_FALSE(std::regex_match(R"("abcd")", length));
  const std::regex date = regex_of_grammar(grammar(R"({"type":"string","format":"date"})"));
  for (const char* ok : {R"("2024-02-29")", R"("2000-02-29")", R"("1900-02-28")", R"("2023-04-30")", R"("0001-01-01")"}) {
    EXPECT_TRUE(std::regex_match(ok, date)) << ok;
  }
  for (const char* bad : {R"("1900-02-29")", R"("2023-02-29")", R"("2023-04-31")", R"("2023-13-01")", R"("0000-01-01")", R"("2023-1-01")"}) {
    EXPECT_FALSE(std::regex_match(bad, date)) << bad;
  }
  const std::regex date_time = regex_of_grammar(grammar(R"({"type":"string","format":"date-time"})"));
  EXPECT_TRUE(std::regex_match(R"("2024-06-01T23:59:59.123+02:00")", date_time));
  EXPECT_FALSE(std::regex_match(R"("2024-06-01T24:00:00Z")", date_time));
  const std::regex id = regex_of_grammar(grammar(R"({"type":"string","format":"uuid"})"));
  EXPECT_TRUE(std::regex_match(R"("123e4567-e89b-12d3-a456-426614174000")", id));
}

// ---- numbers --------------------------------------------------------------------------

TEST(JsonSchemaGrammar, IntegerRangesAreExact) {
  const std::vector<std::pair<std::optional<int64_t>, std::optional<int64_t>>> ranges = {
      {0, 9}, {1, 10}, {-15, 120}, {-1000, -999}, {99, 1001}, {5, std::nullopt}, {std::nullopt, -7}, {-3, 3}, {123, 4567}, {0, 0}};
  for (const auto& [lo, hi] : ranges) {
    const std::regex re = regex_of_expression(*entropix::integer_range_gbnf(lo, hi));
    const int64_t from = lo.value_or(hi.value_or(0) - 200) - 30, to = hi.value_or(lo.value_or(0) + 200) + 30;
    for (int64_t v = from; v <= to; ++v) {
      const bool inside = (!lo || v >= *lo) && (!hi || v <= *hi);
      ASSERT_EQ(std::regex_match(std::to_string(v), re), inside) << v << " in [" << lo.value_or(-1) << ", " << hi.value_or(-1) << "]";
    }
    EXPECT_FALSE(std::regex_match("-0", re));
    EXPECT_FALSE(std::regex_match("01", re));
  }
  EXPECT_FALSE(entropix::integer_range_gbnf(5, 4).has_value());
  const std::regex wide = regex_of_expression(*entropix::integer_range_gbnf(-999'999'999'999, 1'000'000'000'000'000));
  EXPECT_TRUE(std::regex_match("1000000000000000", wide));
  EXPECT_FALSE(std::regex_match("1000000000000001", wide));
  EXPECT_TRUE(std::regex_match("-999999999999", wide));
  EXPECT_FALSE(std::regex_match("-1000000000000", wide));
}

TEST(JsonSchemaGrammar, DecimalRangesAreExact) {
  struct Case {
    const char* schema;
    double lo, hi;
    bool lo_exclusive, hi_exclusive;
  };
  const std::vector<Case> cases = {
      {R"({"type":"number","minimum":0.5,"exclusiveMaximum":2})", 0.5, 2, false, true},
      {R"({"type":"number","exclusiveMinimum":-1.25,"maximum":-0.5})", -1.25, -0.5, true, false},
      {R"({"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1})", 0, 1, true, true},
      {R"({"type":"number","minimum":-10.125,"maximum":10.125})", -10.125, 10.125, false, false},
      {R"({"type":"number","minimum":1.5})", 1.5, INFINITY, false, false},
      {R"({"type":"number","exclusiveMaximum":-2.5})", -INFINITY, -2.5, false, true},
  };
  std::mt19937 rng(7);
  for (const Case& c : cases) {
    const std::regex re = regex_of_grammar(grammar(c.schema));
    // Values in thousandths, written with 0 to 3 fractional digits (trailing zeros too).
    for (int i = 0; i < 1500; ++i) {
      const int64_t thousandths = static_cast<int64_t>(rng() % 30001) - 15000;
      const int digits = static_cast<int>(rng() % 4);
      const int64_t scale = digits == 0 ? 1000 : digits == 1 ? 100 : digits == 2 ? 10 : 1;
      const int64_t units = thousandths / scale * scale;
      const double v = static_cast<double>(units) / 1000;
      char text[64];
      std::snprintf(text, sizeof text, "%.*f", digits, v);
      const bool inside = (c.lo_exclusive ? v > c.lo : v >= c.lo) && (c.hi_exclusive ? v < c.hi : v <= c.hi);
      ASSERT_EQ(std::regex_match(text, re), inside) << c.schema << ": " << text;
    }
    EXPECT_FALSE(std::regex_match("1e2", re)) << "bounded numbers have no exponent";
  }
}

TEST(JsonSchemaGrammar, ParsesDecimalTexts) {
  const auto d = entropix::parse_decimal("-1.2500e1");
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->negative);
  EXPECT_EQ(d->integral, "12");
  EXPECT_EQ(d->fraction, "5");
  EXPECT_EQ(entropix::parse_decimal("1e-07")->fraction, "0000001");
  EXPECT_EQ(entropix::parse_decimal("0.000120")->significant_digits(), 2);
  EXPECT_FALSE(entropix::parse_decimal("1.2.3"));
  EXPECT_FALSE(entropix::parse_decimal("abc"));
}

TEST(JsonSchemaGrammar, NumberBoundsOutsideWhatIsExactAreRefused) {
  EXPECT_STREQ(refusal(R"({"type":"number","minimum":0.1234567890123456})").what(),
               "'minimum' 0.1234567890123456 at the root is not supported for numbers: bounds must be below 1e15 in magnitude "
               "with at most 15 significant digits");
  EXPECT_NE(std::string(refusal(R"({"type":"integer","maximum":1e19})").what()).find("out of the supported range"), std::string::npos);
  EXPECT_EQ(refusal(R"({"type":"integer","minimum":5,"maximum":4})").keyword, "minimum");
}

// ---- references ------------------------------------------------------------------------

TEST(JsonSchemaGrammar, RecursiveReferencesBecomeRecursiveRules) {
  const std::string text = grammar(R"({"$ref":"#/$defs/Node","$defs":{"Node":{"type":"object",
      "properties":{"children":{"type":"array","items":{"$ref":"#/$defs/Node"}}},"additionalProperties":false}}})");
  const auto rules = rules_of(text);
  EXPECT_EQ(rules.at("root"), "Node");
  EXPECT_NE(rules.at("Node-children").find("Node"), std::string::npos);
  EXPECT_NO_THROW(grammar(R"({"type":"object","properties":{"next":{"$ref":"#"}}})"));
}

TEST(JsonSchemaGrammar, LeftRecursiveReferencesAreRefused) {
  JsonSchemaError e = refusal(R"({"anyOf":[{"$ref":"#"},{"type":"null"}]})");
  EXPECT_EQ(e.keyword, "$ref");
  EXPECT_EQ(e.pointer, "/anyOf/0");
  EXPECT_NE(std::string(e.what()).find("left-recursive"), std::string::npos);
  e = refusal(R"({"$ref":"#/$defs/a","$defs":{"a":{"anyOf":[{"$ref":"#/$defs/b"}]},"b":{"$ref":"#/$defs/a"}}})");
  EXPECT_NE(std::string(e.what()).find("left-recursive"), std::string::npos);
  EXPECT_NE(std::string(refusal(R"({"properties":{"a":{"$ref":"#/properties/a"}}})").what()).find("left-recursive"), std::string::npos);
}

// ---- refusals --------------------------------------------------------------------------

TEST(JsonSchemaGrammar, UnsupportedKeywordsNameThemselvesAndWhereTheyAre) {
  struct Case {
    const char* schema;
    const char* message;
    const char* param;
  };
  const std::vector<Case> cases = {
      {R"({"type":"object","properties":{"zip":{"type":"string","pattern":"^[0-9]{5}$"}}})",
       "'pattern' at /properties/zip is not supported", "/properties/zip/pattern"},
      {R"({"patternProperties":{"^x":{}}})", "'patternProperties' at the root is not supported", "/patternProperties"},
      {R"({"not":{"type":"null"}})", "'not' at the root is not supported", "/not"},
      {R"({"if":{},"then":{}})", "'if' at the root is not supported", "/if"},
      {R"({"type":"object","dependentRequired":{"a":["b"]}})", "'dependentRequired' at the root is not supported", "/dependentRequired"},
      {R"({"type":"integer","multipleOf":2})", "'multipleOf' at the root is not supported", "/multipleOf"},
      {R"({"type":"array","items":{"type":"array","contains":{"const":1}}})", "'contains' at /items is not supported", "/items/contains"},
      {R"({"type":"array","uniqueItems":true})", "'uniqueItems' at the root is not supported (only 'uniqueItems': false)", "/uniqueItems"},
      {R"({"type":"array","items":[{"type":"null"}]})", "'items' at the root is not supported as a list (tuple form): use 'prefixItems'", "/items"},
      {R"({"type":"string","format":"email"})", R"('format': "email" at the root is not supported (supported: date, time, date-time, uuid))", "/format"},
      {R"({"properties":{"a/b":{"nullable":true}}})", "'nullable' at /properties/a~1b is not supported", "/properties/a~1b/nullable"},
      {R"({"$ref":"other.json#/x"})", "'$ref' 'other.json#/x' at the root is not supported: only references inside the schema ('#', '#/$defs/...')", "/$ref"},
      {R"({"anyOf":[{"type":"null"}],"type":"string"})", "'type' alongside 'anyOf' at the root is not supported", "/type"},
  };
  for (const Case& c : cases) {
    const JsonSchemaError e = refusal(c.schema);
    EXPECT_STREQ(e.what(), c.message) << c.schema;
    EXPECT_EQ(e.param(), c.param) << c.schema;
  }
  EXPECT_NO_THROW(grammar(R"({"type":"array","uniqueItems":false,"title":"t","description":"d","default":[],"examples":[[]],
                             "$schema":"https://json-schema.org/draft/2020-12/schema","$id":"x","$comment":"c"})"));
}

TEST(JsonSchemaGrammar, WrongValuesAreRefusedWithWhatWasFound) {
  EXPECT_STREQ(refusal(R"({"type":5})").what(),
               "'type' at the root must be one of string, number, integer, boolean, null, object, array or a non-empty list of them, found 5");
  EXPECT_EQ(refusal(R"({"type":["string",5]})").keyword, "type");
  EXPECT_STREQ(refusal(R"({"type":"string","minLength":-1})").what(), "'minLength' at the root must be a non-negative integer, found -1");
  EXPECT_EQ(refusal(R"({"type":"string","maxLength":"3"})").keyword, "maxLength");
  EXPECT_STREQ(refusal(R"({"properties":{"a":5}})").what(), "the schema at /properties/a must be an object or a boolean, found 5");
  EXPECT_EQ(refusal(R"({"type":"object","properties":[]})").keyword, "properties");
  EXPECT_EQ(refusal(R"({"type":"object","required":"a"})").keyword, "required");
  EXPECT_EQ(refusal(R"({"enum":{}})").keyword, "enum");
  EXPECT_EQ(refusal(R"({"enum":[]})").keyword, "enum");
  EXPECT_EQ(refusal(R"({"type":"string","enum":[1,2]})").keyword, "enum");
  EXPECT_STREQ(refusal(R"({"properties":{"a":false}})").what(), "the schema at /properties/a is false: no value satisfies it");
  EXPECT_EQ(refusal(R"({"type":"array","minItems":3,"maxItems":2})").keyword, "minItems");
  EXPECT_EQ(refusal(R"({"$ref":5})").keyword, "$ref");
}

TEST(JsonSchemaGrammar, LimitsAreErrorsNotTruncations) {
  ordered_json huge_enum = {{"enum", ordered_json::array()}};
  for (int i = 0; i < 5000; ++i) huge_enum["enum"].push_back(i);
  EXPECT_THROW(entropix::json_schema_to_gbnf(huge_enum), JsonSchemaError);
  EXPECT_EQ(refusal(R"({"type":"string","maxLength":200000})").keyword, "maxLength");
  JsonSchemaOptions tiny;
  tiny.limits.max_grammar_bytes = 100;
  EXPECT_NE(std::string(refusal(R"({"type":"object","properties":{"a":{"type":"string"},"b":{"type":"number"}}})", tiny).what())
                .find("over the limit of 100"), std::string::npos);
  tiny.limits.max_properties = 1;
  EXPECT_EQ(refusal(R"({"type":"object","properties":{"a":{},"b":{}}})", tiny).keyword, "properties");
}

TEST(JsonSchemaGrammar, HostileNestingIsRefusedWithoutCrashing) {
  std::string deep_schema;
  for (int i = 0; i < 200; ++i) deep_schema += R"({"type":"array","items":)";
  deep_schema += "{}" + std::string(200, '}');
  EXPECT_NE(std::string(refusal(deep_schema).what()).find("deeper than"), std::string::npos);
  const std::string deep_json = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_NE(std::string(refusal(R"({"const":)" + deep_json + "}").what()).find("deeper than 256"), std::string::npos);
  // The plain-json overload checks before it copies into an ordered one.
  EXPECT_THROW(entropix::json_schema_to_gbnf(nlohmann::json::parse(R"({"const":)" + deep_json + "}")), JsonSchemaError);
}

TEST(JsonSchemaGrammar, AnyJsonValueAndJsonObject) {
  const auto rules = rules_of(entropix::json_object_gbnf());
  EXPECT_EQ(rules.at("root"), rules.at("object"));
  EXPECT_EQ(rules_of(grammar("{}")).at("root"), "value");
  EXPECT_EQ(rules_of(grammar("true")).at("root"), "value");
  EXPECT_EQ(rules_of(grammar(R"({"type":["string","null"]})")).at("root"), "string | null");
}

}  // namespace
