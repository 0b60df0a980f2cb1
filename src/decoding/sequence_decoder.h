// Decoding of one answer, one step at a time: given the logits of the sequence's
// last position it samples (through a TokenSampler), turns a thinking-token
// request into the model's own tokens, tracks limits, end of text and stop
// strings, and releases text only in whole UTF-8 characters and never a part of
// a stop string. The caller owns the engine and appends the returned tokens, so
// one scheduler can drive many decoders in one batch.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "decoding/decode_options.h"
#include "entropix/token_sampler.h"
#include "grammar/grammar_matcher.h"
#include "grammar/token_constraint.h"
#include "sampling/rng.h"
#include "tokenizer/tokenizer.h"

namespace entropix {

enum class FinishReason { None, Length, Stop, EndOfText, Cancelled };
const char* finish_reason_name(FinishReason r);  // OpenAI names: "length", "stop", ...

struct TokenEvent {
  SampleOutcome outcome;
  std::vector<int32_t> tokens;  // appended to the sequence: the sampled token or the thinking tokens
  std::string piece;            // their bytes (may hold part of a UTF-8 character)
  bool inserted = false;        // thinking text inserted by the policy
  bool end_of_text = false;     // the model chose an end-of-generation token (not appended)
};

class SequenceDecoder {
 public:
  SequenceDecoder(const Tokenizer& tokenizer, const DecodeOptions& options);

  bool wants_attention() const;
  // One step over the logits of the last position. After it, tokens() of the event
  // are to be appended (unless finished()).
  TokenEvent step(std::span<const float> logits, const AttentionMetrics* attention);
  // step() without taking the draw: accept() takes it (or, on a fork made before,
  // another token). std::nullopt when the answer ends here (a grammar that allows
  // nothing more): finished() is then true.
  std::optional<SampleOutcome> draw(std::span<const float> logits, const AttentionMetrics* attention);
  // A step whose token a person chose: the sampler measures the step (metrics,
  // alternatives, state) as step() would, then `token` is taken instead of its draw
  // (outcome.token and logprob are the forced token's; an inserted thinking text is
  // not inserted). Throws Error for an id outside the vocabulary.
  TokenEvent force(std::span<const float> logits, const AttentionMetrics* attention, int32_t token);
  // Takes `outcome` as this step's result (a branch chose its token): same effects as step().
  TokenEvent accept(const SampleOutcome& outcome);
  // The logits the sampler reads at this point of the answer: the row with the logit
  // bias added and, under a grammar, every token it does not allow at -infinity.
  std::span<const float> constrained(std::span<const float> logits);
  // Whether the answer is decoded under a grammar, and its matcher's state.
  const grammar::GrammarMatcher* matcher() const { return matcher_ ? &*matcher_ : nullptr; }
  // Text released since the last call (complete characters, no pending stop-string prefix).
  std::string take_text();
  // Ends the answer early (client gone, context full): releases held-back text.
  void finish(FinishReason reason);

  bool finished() const { return reason_ != FinishReason::None; }
  FinishReason finish_reason() const { return reason_; }
  int32_t n_generated() const { return n_generated_; }
  int32_t n_inserted() const { return n_inserted_; }
  const std::string& text() const { return text_; }  // everything released or held so far
  Rng& rng() { return rng_; }

  // A copy for a forked sequence, with its own random stream.
  std::unique_ptr<SequenceDecoder> fork(uint64_t stream) const;

 private:
  SequenceDecoder(const SequenceDecoder& other, uint64_t stream);
  // The step's logits with the options' logit bias added (the row itself without one).
  std::span<const float> biased(std::span<const float> logits);
  void append_text(const std::string& bytes);
  void update_visible();

  const Tokenizer& tokenizer_;
  std::shared_ptr<const DecodeOptions> options_;  // read only, shared with forks
  std::unique_ptr<TokenSampler> sampler_;
  std::vector<float> biased_logits_;  // [n_vocab] scratch of biased(), allocated at the first biased step
  Rng rng_;
  TokenStreamDecoder stream_;
  std::optional<grammar::GrammarMatcher> matcher_;  // under a grammar: the text so far, read against it
  grammar::TokenBits allowed_;                      // constrained(): the tokens the grammar allows now
  std::vector<float> masked_logits_;                // constrained(): [n_vocab] scratch
  std::vector<int32_t> thinking_tokens_;
  std::string text_;         // complete UTF-8 text produced so far
  size_t visible_ = 0;       // bytes of text_ that may be shown
  size_t taken_ = 0;         // bytes of text_ already returned by take_text()
  int32_t n_generated_ = 0;
  int32_t n_inserted_ = 0;
  FinishReason reason_ = FinishReason::None;
};

}  // namespace entropix
