// Per-model configuration of the entropix policy: every threshold and constant
// of method section 2, as data. Read from and written to a JSON file documented
// in profiles/README.md; defaults are the method's constants.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sampling/sampling_params.h"

namespace entropix {

enum class PolicyVariant { V1, V2 };

// Most probable tokens a sampler can report per step (OpenAI's top_logprobs allows 20).
inline constexpr int kMaxAlternatives = 20;

// Quadrant thresholds on the logit metrics (v1 and v2).
struct Thresholds {
  double entropy_low = 0.5;      // bits
  double entropy_high = 3.0;     // bits
  double varentropy_low = 1.0;   // bits^2
  double varentropy_high = 5.0;  // bits^2
};

// Extra thresholds of the six-metric v2 policy (rules in profiles/README.md).
struct V2Thresholds {
  double entropy_medium = 1.5;          // bits
  double attn_entropy_low = 1.0;        // bits
  double attn_entropy_high = 4.0;       // bits
  double attn_varentropy_low = 0.1;     // bits^2
  double attn_varentropy_high = 1.0;    // bits^2
  double agreement_low = 0.002;         // mean |P - mean_h P|
  double agreement_high = 0.02;
  double interaction_low = 1.0;         // mean |S|
  double interaction_high = 3.0;
};

// HELV: thinking insertion, else T = min(temp_max, T0 * (temp_base + temp_attn_entropy * attn_entropy)).
struct HelvRule {
  std::string thinking_text = " Wait,";  // tokenized by the engine with the model's vocabulary
  int32_t thinking_budget = 3;           // insertions per answer
  // Empty: insert at the HELV step itself (the method as written). Otherwise the HELV
  // token is drawn with the fallback temperature and the thinking text follows the
  // next token that ends with one of these characters (e.g. "." for a model whose
  // corrections take the form "step. Wait, step."): in mid-step it breaks the text.
  std::string boundary;
  double temp_base = 1.3;
  double temp_attn_entropy = 0.2;
  double temp_max = 1.5;
};

// LEHV without branching: T = min(temp_max, T0 * (temp_base + temp_interaction * interaction)),
// top_k = max(top_k_min, int(k0 * (1 + top_k_agreement * (1 - agreement)))).
struct LehvRule {
  double temp_base = 1.2;
  double temp_interaction = 0.3;
  double temp_max = 1.5;
  double top_k_agreement = 0.5;
  int32_t top_k_min = 5;
};

// HEHV: T = max(temp_min, T0 * (temp_base + temp_attn_varentropy * attn_varentropy)),
// top_p = max(top_p_min, p0 - top_p_attn_entropy * attn_entropy).
struct HehvRule {
  double temp_base = 2.0;
  double temp_attn_varentropy = 0.5;
  double temp_min = 2.0;
  double top_p_attn_entropy = 0.2;
  double top_p_min = 0.5;
};

// ADAPTIVE (formulas in profiles/README.md), then best of n_candidates draws by raw log-probability.
struct AdaptiveRule {
  double temp_logit = 0.3;       // on (H + V)
  double temp_attn = 0.2;        // on (attn_entropy + attn_varentropy)
  double temp_agreement = 0.2;
  double top_p_attn_varentropy = 0.1;
  double top_p_min = 0.1;
  double top_p_max = 1.0;
  double top_k_interaction = 0.3;
  double top_k_agreement = 0.2;
  int32_t top_k_min = 1;
  int32_t top_k_max = 100;
  double min_p_logit = 0.5;      // on (H + V)
  double min_p_min = 0.01;
  double min_p_max = 0.5;
  int32_t n_candidates = 5;
};

struct Profile {
  std::string model;        // free text: which model the profile is for
  std::string description;  // free text: where the numbers come from
  PolicyVariant policy = PolicyVariant::V1;
  bool use_attention = true;     // ask the engine for attention metrics
  int32_t attention_layer = -1;  // layer whose scores are measured; -1 = last
  int32_t n_alternatives = 5;    // top alternatives reported per token (<= kMaxAlternatives)
  bool branching = false;        // LEHV may branch (engine support); else narrowed top-k
  Thresholds thresholds;
  V2Thresholds v2;
  SamplingParams base{0.666, 27, 0.90, 0.03};  // T0, k0, p0, m0
  HelvRule helv;
  LehvRule lehv;
  HehvRule hehv;
  AdaptiveRule adaptive;
};

// Checks ranges and orderings (low < high, probabilities in range, ...);
// throws entropix::Error naming the field, the expected and the found value.
void validate_profile(const Profile& p, const std::string& where = "profile");

// JSON form; parse reports unknown fields and wrong types by their dotted path.
nlohmann::json profile_to_json(const Profile& p);
Profile profile_from_json(const nlohmann::json& j, const std::string& where = "profile");

Profile load_profile(const std::filesystem::path& path);
void save_profile(const Profile& p, const std::filesystem::path& path);

// Where a model's profile may live, in lookup order:
//   1. beside the model: <model path without .gguf>.profile.json
//   2. cache_dir()/profiles/<model file name>.profile.json (core/cache_dir.h: the
//      model cache's folder, $ENTROPIX_CACHE first)
std::vector<std::filesystem::path> profile_candidates(const std::filesystem::path& model_path);
// The first candidate that exists, if any.
std::optional<std::filesystem::path> find_profile(const std::filesystem::path& model_path);

const char* policy_variant_name(PolicyVariant v);

}  // namespace entropix
