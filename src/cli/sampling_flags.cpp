#include "cli/sampling_flags.h"

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "entropix/profile.h"
#include "sampling/logit_bias.h"

namespace entropix {

void add_sampling_flags(CLI::App& cmd, SamplingFlags& f) {
  cmd.add_option("--sampler", f.sampler, "greedy, standard or entropix (default)")
      ->check(CLI::IsMember({"greedy", "standard", "entropix"}));
  cmd.add_option("--temp", f.temperature, "Temperature (0: exact argmax)");
  cmd.add_option("--top-k", f.top_k, "Keep the k most probable tokens (0: off)");
  cmd.add_option("--top-p", f.top_p, "Nucleus: smallest set of tokens reaching this mass (1: off)");
  cmd.add_option("--min-p", f.min_p, "Keep tokens with p >= min_p * p_max (0: off)");
  cmd.add_option("-s,--seed", f.seed, "Random seed (same seed, same text)");
  cmd.add_option("--profile", f.profile, "Entropix profile (JSON); default: the model's own, if any");
  cmd.add_flag("--attn-metrics", f.attn_metrics, "Measure attention metrics even when the sampler does not need them");
  cmd.add_option("--logit-bias", f.logit_bias,
                 "ID=BIAS: add BIAS (-100 to 100; -100 bans) to token ID's logit at every step (repeatable)");
}

DecodeOptions decode_options_from_flags(const SamplingFlags& f, const std::string& model_path) {
  DecodeOptions defaults;
  if (!f.profile.empty()) {
    defaults.profile = load_profile(f.profile);
  } else if (auto found = find_profile(model_path)) {
    defaults.profile = load_profile(*found);
    fmt::print(stderr, "profile: {}\n", found->string());
  }
  defaults.seed = f.seed;
  defaults.attention_metrics = f.attn_metrics;
  for (const std::string& spec : f.logit_bias) defaults.logit_bias.push_back(parse_token_bias(spec));
  DecodeChoice choice;
  if (!f.sampler.empty()) choice.sampler = parse_sampler_kind(f.sampler);
  choice.knobs = {f.temperature, f.top_p, f.min_p, f.top_k};
  return resolve_decode_options(choice, std::move(defaults));
}

}  // namespace entropix
