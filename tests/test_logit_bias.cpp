// The logit bias as a logits processor (added to a copy of the row, never to the
// caller's), the --logit-bias flag's parser and the range checks.
#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "sampling/logit_bias.h"

using namespace entropix;

TEST(LogitBias, AddsToACopyOfTheRow) {
  const std::vector<float> row = {1.0f, 2.0f, 3.0f, 4.0f};
  std::vector<float> scratch;
  const auto same = apply_logit_bias(row, {}, scratch);
  EXPECT_EQ(same.data(), row.data()) << "no bias: the row itself, no copy";
  const auto biased = apply_logit_bias(row, {{1, -100.0f}, {3, 0.5f}, {3, 0.25f}, {7, 9.0f}}, scratch);
  EXPECT_EQ(std::vector<float>(biased.begin(), biased.end()), (std::vector<float>{1.0f, -98.0f, 3.0f, 4.75f}))
      << "entries for one token add up; an id outside the row is skipped";
  EXPECT_EQ(row, (std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f})) << "the caller's row is unchanged";
}

TEST(LogitBias, ParsesIdEqualsBias) {
  const struct {
    const char* spec;
    int32_t token;
    float bias;
  } good[] = {{"12=-100", 12, -100.0f}, {"0=100", 0, 100.0f}, {"3=0.5", 3, 0.5f}, {"7=-0", 7, 0.0f}};
  for (const auto& g : good) {
    const TokenBias b = parse_token_bias(g.spec);
    EXPECT_EQ(b.token, g.token) << g.spec;
    EXPECT_EQ(b.bias, g.bias) << g.spec;
  }
  for (const char* bad : {"", "12", "=1", "1=", "a=1", "-1=2", "1.5=2", "1=101", "1=-100.5", "1=nan", "1=inf",
                          "1=2x", "99999999999=1", " 1=2"}) {
    EXPECT_THROW(parse_token_bias(bad), Error) << bad;
  }
}

TEST(LogitBias, ChecksIdsAndRange) {
  EXPECT_NO_THROW(check_logit_bias({{0, -100.0f}, {9, 100.0f}}, 10));
  EXPECT_THROW(check_logit_bias({{10, 1.0f}}, 10), Error);
  EXPECT_THROW(check_logit_bias({{-1, 1.0f}}, 10), Error);
  EXPECT_THROW(check_logit_bias({{1, 100.5f}}, 10), Error);
  EXPECT_THROW(check_logit_bias(LogitBias(kMaxLogitBiasEntries + 1, TokenBias{1, 1.0f}), 10), Error);
}
