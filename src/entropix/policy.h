// The entropix policy (method section 2): classify a step into one of the four
// uncertainty states (or ADAPTIVE) and choose what to do, with every threshold
// and constant taken from a Profile. Pure functions of (metrics, state, profile).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "entropix/metrics.h"
#include "entropix/profile.h"
#include "sampling/sampling_params.h"

namespace entropix {

enum class State { LELV, HELV, LEHV, HEHV, Adaptive };

enum class Action {
  Argmax,            // LELV (and greedy decoding)
  InsertThinking,    // HELV: the engine feeds profile.helv.thinking_text
  SampleRaisedTemp,  // HELV once insertion is not allowed
  SampleNarrowTopK,  // LEHV without branching
  Branch,            // LEHV with branching: fork on the top candidates
  SampleHighTemp,    // HEHV
  AdaptiveBestOfN,   // ADAPTIVE: best of n_candidates draws by raw log-probability
  Standard,          // plain sampling with fixed parameters (not the policy)
};

struct Decision {
  State state = State::Adaptive;
  Action action = Action::Standard;
  SamplingParams params;  // what to sample with (for Branch: the narrowed top-k)
  int32_t n_candidates = 1;
};

// v1: the four quadrants on (H, V) in the documented order. v2: each state also
// conditioned on the four attention metrics (rules in profiles/README.md);
// without attention metrics v2's attention conditions are not checked.
State classify(const TokenMetrics& m, const Profile& p);
State classify_v1(double entropy, double varentropy, const Thresholds& t);

// Sampling parameters of each state from the attention metrics (0 when absent).
SamplingParams helv_params(const TokenMetrics& m, const Profile& p);
SamplingParams lehv_params(const TokenMetrics& m, const Profile& p);
SamplingParams hehv_params(const TokenMetrics& m, const Profile& p);
SamplingParams adaptive_params(const TokenMetrics& m, const Profile& p);

// Per-answer state of the policy for one sequence: copy it when forking.
class EntropixPolicy {
 public:
  explicit EntropixPolicy(Profile profile);
  // Shares `profile` read-only (forks and clones of a sequence all point at one copy).
  explicit EntropixPolicy(std::shared_ptr<const Profile> profile);

  // Decides one step; consumes thinking budget when it answers InsertThinking.
  Decision decide(const TokenMetrics& m);
  // Start of a new answer: refills the thinking budget.
  void reset();

  // With profile.helv.boundary: the token just drawn ends a step, so thinking that a
  // HELV step asked for is inserted at the next decide().
  void note_step_end() { thinking_armed_ = thinking_pending_; }
  bool thinking_pending() const { return thinking_pending_; }

  int32_t thinking_budget_left() const { return budget_left_; }
  const Profile& profile() const { return *profile_; }
  const std::shared_ptr<const Profile>& shared_profile() const { return profile_; }

 private:
  std::shared_ptr<const Profile> profile_;
  int32_t budget_left_;
  bool last_was_thinking_ = false;
  bool thinking_pending_ = false;  // HELV asked for thinking; waiting for a step boundary
  bool thinking_armed_ = false;    // the boundary came: insert now
};

const char* state_name(State s);
const char* action_name(Action a);
std::optional<State> parse_state(std::string_view name);
std::optional<Action> parse_action(std::string_view name);

}  // namespace entropix
