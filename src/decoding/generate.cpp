#include "decoding/generate.h"

#include "decoding/step_on_row.h"

#include <chrono>

#include "core/error.h"

namespace entropix {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

GenerationStats generate(Engine& engine, std::span<const int32_t> prompt, const DecodeOptions& options,
                         const TokenCallback& on_token) {
  if (prompt.empty()) throw Error("the prompt has no tokens");
  GenerationStats stats;
  stats.n_prompt = static_cast<int32_t>(prompt.size());
  if (stats.n_prompt >= engine.n_ctx()) {
    throw Error("the prompt has " + std::to_string(prompt.size()) + " tokens, more than the context size of " +
                std::to_string(engine.n_ctx()) + " allows (raise it with -c)");
  }
  SequenceDecoder decoder(engine.tokenizer(), options);
  if (decoder.wants_attention() && !engine.options().attention_scores) {
    throw Error("attention metrics were asked for but the engine was loaded without attention scores");
  }
  AttentionAnalyzer analyzer;
  SeqId seq = engine.new_sequence();
  struct Release {
    Engine& e;
    SeqId s;
    ~Release() { e.free_sequence(s); }
  } release{engine, seq};

  auto start = std::chrono::steady_clock::now();
  std::vector<BatchToken> batch;
  for (size_t i = 0; i < prompt.size(); ++i) batch.push_back({seq, prompt[i], i + 1 == prompt.size()});
  engine.decode(batch);
  stats.prompt_seconds = seconds_since(start);

  start = std::chrono::steady_clock::now();
  while (!decoder.finished()) {
    TokenEvent ev = step_on_row(engine, 0, decoder, analyzer);
    stats.state_counts[static_cast<size_t>(ev.outcome.state)] += 1;
    if (!decoder.finished() && engine.seq_length(seq) + static_cast<int32_t>(ev.tokens.size()) > engine.n_ctx()) {
      decoder.finish(FinishReason::Length);  // the context is full
    }
    if (!on_token(ev, decoder.take_text())) {
      decoder.finish(FinishReason::Cancelled);
      break;
    }
    if (decoder.finished()) break;
    batch.clear();
    for (size_t i = 0; i < ev.tokens.size(); ++i) batch.push_back({seq, ev.tokens[i], i + 1 == ev.tokens.size()});
    engine.decode(batch);
  }
  stats.generation_seconds = seconds_since(start);
  stats.n_generated = decoder.n_generated();
  stats.n_inserted = decoder.n_inserted();
  stats.finish = decoder.finish_reason();
  return stats;
}

}  // namespace entropix
