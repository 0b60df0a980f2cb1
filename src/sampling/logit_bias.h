// Logit bias (OpenAI's logit_bias): fixed amounts added to chosen tokens' logits
// before anything reads them, so that the bias changes the distribution that is
// measured and sampled from. A logits processor: logits in, logits out, the
// caller's row left as it was.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace entropix {

inline constexpr double kMaxLogitBias = 100;        // |bias| at most (OpenAI's range; -100 bans a token)
inline constexpr size_t kMaxLogitBiasEntries = 1024;  // tokens biased at most

struct TokenBias {
  int32_t token = 0;  // id in [0, n_vocab)
  float bias = 0;     // added to the token's logit, in [-kMaxLogitBias, kMaxLogitBias]
};

// Entries for the same token add up.
using LogitBias = std::vector<TokenBias>;

// `logits` with the biases added, written into `scratch` ([n_vocab], reused from
// step to step); `logits` itself when there is no bias. Ids outside the row are skipped.
std::span<const float> apply_logit_bias(std::span<const float> logits, const LogitBias& bias,
                                        std::vector<float>& scratch);

// Throws Error naming the first entry whose token is outside [0, n_vocab) or whose
// bias is outside [-kMaxLogitBias, kMaxLogitBias], or when there are too many entries.
void check_logit_bias(const LogitBias& bias, int32_t n_vocab);

// "ID=BIAS", as the --logit-bias flag takes it (e.g. "1234=-100"); throws Error
// saying what was expected. The id is checked against the vocabulary later.
TokenBias parse_token_bias(std::string_view spec);

}  // namespace entropix
