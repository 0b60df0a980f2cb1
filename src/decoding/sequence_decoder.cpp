#include "decoding/sequence_decoder.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <string>
#include <memory>
#include <vector>

#include "core/error.h"
#include "entropix/metrics.h"

namespace entropix {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::None: return "none";
    case FinishReason::Length: return "length";
    case FinishReason::Stop: return "stop";
    case FinishReason::EndOfText: return "stop";
    case FinishReason::Cancelled: return "cancelled";
  }
  return "?";
}

namespace {

// The table of tokens that end a step, when the entropix sampler needs one: built
// once per loaded vocabulary and shared by every answer.
StepEnds step_ends_for(const Tokenizer& tokenizer, const DecodeOptions& o) {
  if (o.sampler != SamplerKind::Entropix || o.profile.helv.boundary.empty()) return nullptr;
  return tokenizer.tokens_ending_with(o.profile.helv.boundary);
}

}  // namespace

SequenceDecoder::SequenceDecoder(const Tokenizer& tokenizer, const DecodeOptions& options)
    : tokenizer_(tokenizer),
      options_(std::make_shared<const DecodeOptions>(options)),
      // The sampler reads the profile inside options_: one copy per answer, shared by its forks.
      sampler_(make_token_sampler(options.sampler, options.params,
                                  std::shared_ptr<const Profile>(options_, &options_->profile),
                                  step_ends_for(tokenizer, options))),
      rng_(options.seed),
      stream_(tokenizer) {
  check_logit_bias(options.logit_bias, tokenizer.n_vocab());
  if (options.grammar) {
    if (options.grammar->n_vocab() != tokenizer.n_vocab())
      throw Error("the grammar was prepared for a vocabulary of " + std::to_string(options.grammar->n_vocab()) +
                  " tokens, the model has " + std::to_string(tokenizer.n_vocab()));
    matcher_ = options.grammar->start();
  }
  // Under a grammar the thinking text is never inserted (it would break the structure).
  if (options.sampler == SamplerKind::Entropix && !options.grammar) {
    // The thinking text in the model's own vocabulary, never a fixed id.
    thinking_tokens_ = tokenizer.encode(options.profile.helv.thinking_text, false, false);
    if (thinking_tokens_.empty()) throw Error("the profile's thinking text tokenizes to nothing");
  }
}

SequenceDecoder::SequenceDecoder(const SequenceDecoder& o, uint64_t stream)
    : tokenizer_(o.tokenizer_),
      options_(o.options_),
      sampler_(o.sampler_->clone()),
      rng_(o.rng_.fork(stream)),
      stream_(o.tokenizer_),
      matcher_(o.matcher_),
      thinking_tokens_(o.thinking_tokens_),
      text_(o.text_),
      visible_(o.visible_),
      taken_(o.taken_),
      n_generated_(o.n_generated_),
      n_inserted_(o.n_inserted_),
      reason_(o.reason_) {}

std::unique_ptr<SequenceDecoder> SequenceDecoder::fork(uint64_t stream) const {
  return std::unique_ptr<SequenceDecoder>(new SequenceDecoder(*this, stream));
}

bool SequenceDecoder::wants_attention() const { return options_->attention_metrics || sampler_->wants_attention(); }

// The bias goes in before the sampler, so the metrics, the state, the policy's
// decision, the alternatives and the log-probabilities all describe the biased
// distribution, the one a token is drawn from (OpenAI's semantics): a banned token
// is never drawn, and its mass no longer makes a step look uncertain.
std::span<const float> SequenceDecoder::biased(std::span<const float> logits) {
  return apply_logit_bias(logits, options_->logit_bias, biased_logits_);
}

std::span<const float> SequenceDecoder::constrained(std::span<const float> logits) {
  logits = biased(logits);
  if (!matcher_) return logits;
  options_->grammar->allowed_tokens(*matcher_, allowed_);
  return grammar::mask_logits(logits, allowed_, masked_logits_);
}

namespace {

// The sampler drew from the allowed tokens: its metrics and logprob move to
// `constrained`, and the model's own distribution's take their place.
void restore_model_view(SampleOutcome& o, std::span<const float> model_logits, const grammar::TokenBits& allowed) {
  o.constrained.active = true;
  o.constrained.entropy = o.metrics.entropy;
  o.constrained.varentropy = o.metrics.varentropy;
  o.constrained.logprob = o.logprob;
  int32_t n = 0;
  for (uint64_t w : allowed) n += std::popcount(w);
  o.constrained.n_allowed = n;
  const LogitMetrics lm = compute_logit_metrics(model_logits);
  const TokenMetrics attention = o.metrics;
  o.metrics = make_token_metrics(lm, nullptr);
  o.metrics.has_attention = attention.has_attention;
  o.metrics.attn_entropy = attention.attn_entropy;
  o.metrics.attn_varentropy = attention.attn_varentropy;
  o.metrics.agreement = attention.agreement;
  o.metrics.interaction = attention.interaction;
  if (o.token >= 0) o.logprob = lm.logprob(model_logits, o.token);
  // Alternatives the grammar rules out have no probability in the draw: drop them.
  int32_t kept = 0;
  for (int32_t i = 0; i < o.n_alternatives; ++i)
    if (o.alternatives[static_cast<size_t>(i)].prob > 0) o.alternatives[static_cast<size_t>(kept++)] = o.alternatives[static_cast<size_t>(i)];
  o.n_alternatives = kept;
}

}  // namespace

TokenEvent SequenceDecoder::step(std::span<const float> logits, const AttentionMetrics* attention) {
  std::optional<SampleOutcome> o = draw(logits, attention);
  if (!o) {
    TokenEvent ev;
    ev.end_of_text = true;
    return ev;
  }
  return accept(*o);
}

std::optional<SampleOutcome> SequenceDecoder::draw(std::span<const float> logits, const AttentionMetrics* attention) {
  if (finished()) throw Error("step() on a finished answer");
  if (!matcher_) return sampler_->step(biased(logits), attention, rng_);
  const std::span<const float> model = biased(logits);
  const std::span<const float> allowed = constrained(logits);
  if (!grammar::any_token(allowed_)) {
    // The grammar allows nothing more and no end of text (a vocabulary that cannot
    // spell what it asks for): the answer ends here.
    finish(FinishReason::Stop);
    return std::nullopt;
  }
  SampleOutcome o = sampler_->step(allowed, attention, rng_);
  if (o.insert_thinking) {
    o.insert_thinking = false;
    o.action = Action::Argmax;
    o.token = compute_logit_metrics(allowed).top1;
    o.logprob = compute_logit_metrics(allowed).logprob(allowed, o.token);
  }
  restore_model_view(o, model, allowed_);
  return o;
}

TokenEvent SequenceDecoder::force(std::span<const float> logits, const AttentionMetrics* attention, int32_t token) {
  if (finished()) throw Error("force() on a finished answer");
  if (token < 0 || token >= tokenizer_.n_vocab() || static_cast<size_t>(token) >= logits.size())
    throw Error("a forced token id must be in [0, " + std::to_string(tokenizer_.n_vocab()) + "), got " +
                std::to_string(token));
  const std::span<const float> model = biased(logits);
  logits = constrained(logits);
  if (matcher_ && !grammar::token_bit(allowed_, token))
    throw Error("token " + std::to_string(token) + " is not allowed by the grammar at this point");
  SampleOutcome o = sampler_->step(logits, attention, rng_);
  o.insert_thinking = false;
  o.branch = false;
  o.token = token;
  o.logprob = 0;
  bool listed = false;
  for (const Alternative& a : o.alternatives_span())
    if (a.id == token) {
      o.logprob = std::log(a.prob);
      listed = true;
    }
  if (!listed) o.logprob = compute_logit_metrics(logits).logprob(logits, token);
  if (matcher_) restore_model_view(o, model, allowed_);
  return accept(o);
}

TokenEvent SequenceDecoder::accept(const SampleOutcome& outcome) {
  if (finished()) throw Error("accept() on a finished answer");
  TokenEvent ev;
  ev.outcome = outcome;
  if (ev.outcome.insert_thinking) {
    ev.inserted = true;
    ev.tokens = thinking_tokens_;
    ++n_inserted_;
  } else if ((!options_->ignore_eos || matcher_) && tokenizer_.is_eog(ev.outcome.token)) {
    // Under a grammar the end of text is allowed only once the match is complete.
    ev.end_of_text = true;
    finish(FinishReason::EndOfText);
    return ev;
  } else {
    ev.tokens = {ev.outcome.token};
    if (matcher_ && !matcher_->accept(tokenizer_.token_to_piece(ev.outcome.token)))
      throw Error("token " + std::to_string(ev.outcome.token) + " is not allowed by the grammar at this point");
  }
  for (int32_t t : ev.tokens) {
    ev.piece += tokenizer_.token_to_piece(t);
    append_text(stream_.push(t));
  }
  n_generated_ += static_cast<int32_t>(ev.tokens.size());
  // A complete match that nothing may extend is the end of the answer.
  if (!finished() && matcher_ && !matcher_->can_continue()) finish(FinishReason::EndOfText);
  if (!finished() && n_generated_ >= options_->max_tokens) finish(FinishReason::Length);
  return ev;
}

void SequenceDecoder::append_text(const std::string& bytes) {
  if (bytes.empty() || finished()) return;
  size_t search_from = text_.size();
  text_ += bytes;
  for (const std::string& stop : options_->stop) {
    if (stop.empty()) continue;
    size_t from = search_from >= stop.size() ? search_from - stop.size() + 1 : 0;
    size_t at = text_.find(stop, from);
    if (at != std::string::npos) {
      text_.resize(at);
      visible_ = std::min(visible_, text_.size());
      reason_ = FinishReason::Stop;
      visible_ = text_.size();
      return;
    }
  }
  update_visible();
}

void SequenceDecoder::update_visible() {
  // Hold back the longest tail of the text that could start a stop string.
  size_t hold = 0;
  for (const std::string& stop : options_->stop) {
    for (size_t len = std::min(stop.size() - 1, text_.size()); len > hold; --len) {
      if (text_.compare(text_.size() - len, len, stop, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  visible_ = text_.size() - hold;
}

std::string SequenceDecoder::take_text() {
  if (visible_ <= taken_) return {};
  std::string out = text_.substr(taken_, visible_ - taken_);
  taken_ = visible_;
  return out;
}

void SequenceDecoder::finish(FinishReason reason) {
  if (reason_ != FinishReason::None) return;
  append_text(stream_.flush());  // may itself end on a stop string
  if (reason_ == FinishReason::None) reason_ = reason;
  visible_ = text_.size();
}

}  // namespace entropix
