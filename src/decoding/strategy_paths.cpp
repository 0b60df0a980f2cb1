#include "decoding/strategy_paths.h"

#include <algorithm>
#include <cmath>

#include "decoding/generate.h"
#include "decoding/step_on_row.h"

namespace entropix {

void count_path(StrategyResult& r, const Path& p) {
  for (size_t i = p.n_inherited; i < p.tokens.size(); ++i) r.state_counts[static_cast<size_t>(p.tokens[i].state)] += 1;
  r.n_inserted += p.decoder->n_inserted() - p.inserted_inherited;
}

PathSummary summarize_path(const Path& p, const AnswerExtractor& ex, double score) {
  std::string text = p.decoder->text().substr(std::min(p.text_start, p.decoder->text().size()));
  auto span = ex.extract(text);
  std::vector<int32_t> ids = p.decoded;
  ids.insert(ids.end(), p.pending.begin(), p.pending.end());
  return {text, span ? std::optional<std::string>(span->value) : std::nullopt, score,
          static_cast<int32_t>(p.tokens.size()), std::move(ids)};
}

std::vector<int32_t> kv_tokens(std::span<const int32_t> prompt, const Path& p) {
  std::vector<int32_t> tokens(prompt.begin(), prompt.end());
  tokens.insert(tokens.end(), p.decoded.begin(), p.decoded.end());
  return tokens;
}

double path_confidence(const Path& p) {
  double logp = 0;
  for (const auto& t : p.tokens) logp += t.logprob;
  return std::exp(logp);
}

SequenceReleaser::~SequenceReleaser() {
  for (SeqId s : seqs) engine.free_sequence(s);
}

void SequenceReleaser::retire(PrefixCache& cache, std::span<const int32_t> prompt, const Path& p) {
  seqs.erase(std::find(seqs.begin(), seqs.end(), p.seq));
  cache.retire(kv_tokens(prompt, p), p.seq);
}

SeqId read_root(Engine& engine, std::span<const int32_t> prompt, PrefixCache* cache, StrategyResult& r,
                SequenceReleaser& release) {
  const PrefixMatch read = read_prompt(engine, prompt, cache);
  release.seqs.push_back(read.seq);
  r.n_cached = read.n_cached;
  return read.seq;
}

Path fork_taking(Engine& engine, const Path& from, const SampleOutcome& draw, int32_t token, double prob,
                 uint64_t stream, bool keep_history) {
  Path b;
  b.seq = engine.fork(from.seq);
  b.decoded = from.decoded;
  b.decoder = from.decoder->fork(stream);
  if (keep_history) {
    b.tokens = from.tokens;
    b.n_inherited = from.tokens.size();
    b.inserted_inherited = from.decoder->n_inserted();
    b.text_start = from.text_start;
  } else {
    b.text_start = from.decoder->text().size();
  }
  SampleOutcome chosen = draw;
  chosen.token = token;
  chosen.logprob = std::log(std::max(prob, 1e-300));
  chosen.branch = false;
  chosen.insert_thinking = false;
  record_step(b, b.decoder->accept(chosen));
  return b;
}

PromptForks::PromptForks(Engine& engine, SeqId root, const DecodeOptions& options)
    : engine_(engine), root_(root), logits_(engine.logits(0).begin(), engine.logits(0).end()) {
  if (SequenceDecoder(engine.tokenizer(), options).wants_attention()) {
    AttentionAnalyzer analyzer;
    attention_ = row_attention(engine, 0, analyzer);
  }
}

Path PromptForks::start(const DecodeOptions& options) {
  Path p;
  p.seq = engine_.fork(root_);
  p.decoder = std::make_unique<SequenceDecoder>(engine_.tokenizer(), options);
  record_step(p, p.decoder->step(logits_, attention_ ? &*attention_ : nullptr));
  return p;
}

uint64_t sample_seed(uint64_t seed, int32_t i) { return seed * 1000003ULL + static_cast<uint64_t>(i); }

}  // namespace entropix
