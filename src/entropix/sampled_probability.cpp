#include "entropix/sampled_probability.h"

namespace entropix {

std::optional<std::vector<double>> sampled_probabilities(std::span<const float> logits, const SampleOutcome& outcome,
                                                         std::span<const int32_t> ids, Sampler& scratch) {
  if (outcome.insert_thinking || outcome.action == Action::InsertThinking) return std::nullopt;
  std::vector<double> out(ids.size(), 0.0);
  if (outcome.action == Action::Argmax || outcome.params.temperature <= 0) {
    const int32_t argmax = outcome.metrics.top1;  // lowest id on ties, as the argmax draw
    for (size_t i = 0; i < ids.size(); ++i) out[i] = ids[i] == argmax ? 1.0 : 0.0;
    return out;
  }
  scratch.prepare(logits, outcome.params);
  scratch.probabilities(ids, out);
  return out;
}

}  // namespace entropix
