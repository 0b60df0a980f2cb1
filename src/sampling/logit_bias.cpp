#include "sampling/logit_bias.h"

#include <charconv>
#include <cmath>
#include <string>
#include <system_error>

#include "core/error.h"

namespace entropix {

std::span<const float> apply_logit_bias(std::span<const float> logits, const LogitBias& bias,
                                        std::vector<float>& scratch) {
  if (bias.empty()) return logits;
  scratch.assign(logits.begin(), logits.end());
  for (const TokenBias& b : bias) {
    if (b.token >= 0 && static_cast<size_t>(b.token) < scratch.size()) scratch[static_cast<size_t>(b.token)] += b.bias;
  }
  return scratch;
}

void check_logit_bias(const LogitBias& bias, int32_t n_vocab) {
  if (bias.size() > kMaxLogitBiasEntries)
    throw Error("logit bias has " + std::to_string(bias.size()) + " entries; at most " +
                std::to_string(kMaxLogitBiasEntries));
  for (const TokenBias& b : bias) {
    if (b.token < 0 || b.token >= n_vocab)
      throw Error("logit bias names token " + std::to_string(b.token) + "; the vocabulary has ids 0 to " +
                  std::to_string(n_vocab - 1));
    if (!std::isfinite(b.bias) || std::fabs(b.bias) > kMaxLogitBias)
      throw Error("logit bias of token " + std::to_string(b.token) + " is " + std::to_string(b.bias) +
                  "; expected a number in [-100, 100]");
  }
}

TokenBias parse_token_bias(std::string_view spec) {
  const auto fail = [&]() -> TokenBias {
    throw Error("a logit bias must be ID=BIAS, a token id and a number in [-100, 100] (e.g. 1234=-100), got \"" +
                std::string(spec) + "\"");
  };
  const size_t eq = spec.find('=');
  if (eq == std::string_view::npos) return fail();
  const std::string_view id_text = spec.substr(0, eq);
  const std::string bias_text(spec.substr(eq + 1));
  TokenBias b;
  const auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), b.token);
  if (id_text.empty() || ec != std::errc() || end != id_text.data() + id_text.size() || b.token < 0) return fail();
  size_t used = 0;
  double bias = 0;
  try {
    bias = std::stod(bias_text, &used);
  } catch (const std::exception&) {
    return fail();
  }
  if (used != bias_text.size() || !std::isfinite(bias) || std::fabs(bias) > kMaxLogitBias) return fail();
  b.bias = static_cast<float>(bias);
  return b;
}

}  // namespace entropix
