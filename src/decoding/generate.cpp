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

PrefixMatch read_prompt(Engine& engine, std::span<const int32_t> prompt, PrefixCache* cache) {
  if (prompt.empty()) throw Error("the prompt has no tokens");
  if (static_cast<int64_t>(prompt.size()) >= engine.n_ctx()) {
    throw Error("the prompt has " + std::to_string(prompt.size()) + " tokens, more than the context size of " +
                std::to_string(engine.n_ctx()) + " allows (raise it with -c)");
  }
  const PrefixMatch read = cache ? cache->match(prompt) : PrefixMatch{engine.new_sequence(), 0};
  std::vector<BatchToken> batch;
  for (size_t i = static_cast<size_t>(read.n_cached); i < prompt.size(); ++i) {
    batch.push_back({read.seq, prompt[i], i + 1 == prompt.size()});
  }
  try {
    engine.decode(batch);
  } catch (...) {
    engine.free_sequence(read.seq);
    throw;
  }
  return read;
}

GenerationStats generate(Engine& engine, std::span<const int32_t> prompt, const DecodeOptions& options,
                         const TokenCallback& on_token, PrefixCache* cache) {
  GenerationStats stats;
  stats.n_prompt = static_cast<int32_t>(prompt.size());
  SequenceDecoder decoder(engine.tokenizer(), options);
  if (decoder.wants_attention() && !engine.options().attention_scores) {
    throw Error("attention metrics were asked for but the engine was loaded without attention scores");
  }
  AttentionAnalyzer analyzer;

  auto start = std::chrono::steady_clock::now();
  const PrefixMatch read = read_prompt(engine, prompt, cache);
  const SeqId seq = read.seq;
  stats.n_cached = read.n_cached;
  stats.prompt_seconds = seconds_since(start);
  // Frees the sequence unless it was handed to the cache, also when a step throws.
  struct Release {
    Engine& e;
    SeqId s;
    ~Release() {
      if (s >= 0) e.free_sequence(s);
    }
  } release{engine, seq};
  // With a cache: the tokens whose keys and values the sequence holds, in order.
  std::vector<int32_t> in_kv;
  if (cache) {
    in_kv.reserve(static_cast<size_t>(engine.n_ctx()));
    in_kv.assign(prompt.begin(), prompt.end());
  }

  start = std::chrono::steady_clock::now();
  std::vector<BatchToken> batch;
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
    if (cache) in_kv.insert(in_kv.end(), ev.tokens.begin(), ev.tokens.end());
  }
  stats.generation_seconds = seconds_since(start);
  stats.n_generated = decoder.n_generated();
  stats.n_inserted = decoder.n_inserted();
  stats.finish = decoder.finish_reason();
  if (cache) {
    release.s = -1;
    cache->retire(in_kv, seq);
  }
  return stats;
}

}  // namespace entropix
