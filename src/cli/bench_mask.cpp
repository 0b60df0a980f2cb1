#include "cli/bench_mask.h"

#include <chrono>
#include <fmt/core.h>
#include <span>
#include <vector>

#include "core/error.h"
#include "decoding/decode_options.h"
#include "decoding/sequence_decoder.h"
#include "tokenizer/token_trie.h"
#include "tokenizer/tokenizer.h"

namespace entropix {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

constexpr const char* kPrompt = "Answer with a JSON object:";
constexpr uint64_t kSeed = 1234;  // answer i is drawn with seed kSeed + i, in both passes

// Generates answers under options.grammar until `n_gen` masks have been computed; with
// `forced` tokens, one answer of those tokens instead (n_gen is their count).
MaskPass generate_pass(Engine& engine, const DecodeOptions& base, std::span<const int32_t> prompt, int32_t n_gen,
                       std::span<const int32_t> forced) {
  MaskPass pass;
  const grammar::TokenConstraint& constraint = *base.grammar;
  std::vector<BatchToken> batch;
  while (pass.steps < n_gen) {
    DecodeOptions options = base;
    options.seed = kSeed + static_cast<uint64_t>(pass.answers);
    options.max_tokens = n_gen - pass.steps;
    ++pass.answers;
    SequenceDecoder decoder(engine.tokenizer(), options);
    const SeqId seq = engine.new_sequence();
    batch.clear();
    for (size_t i = 0; i < prompt.size(); ++i) batch.push_back({seq, prompt[i], i + 1 == prompt.size()});
    engine.decode(batch);
    while (!decoder.finished()) {
      const std::span<const float> logits = engine.logits(0);
      const uint64_t walks_before = constraint.stats().stack_walks;
      auto start = Clock::now();
      (void)decoder.constrained(logits);
      const double mask = seconds_since(start);
      const uint64_t walks = constraint.stats().stack_walks - walks_before;
      ++pass.steps;
      pass.mask_seconds += mask;
      pass.states_walked += walks;
      if (walks > 0) {
        ++pass.walked_steps;
        pass.walked_mask_seconds += mask;
      }
      // The step computes the mask again, now kept: that lookup is not counted.
      const TokenEvent ev = forced.empty() ? decoder.step(logits, nullptr)
                                           : decoder.force(logits, nullptr, forced[static_cast<size_t>(pass.steps - 1)]);
      if (decoder.finished()) break;
      batch.clear();
      for (size_t i = 0; i < ev.tokens.size(); ++i) batch.push_back({seq, ev.tokens[i], i + 1 == ev.tokens.size()});
      start = Clock::now();
      engine.decode(batch);
      pass.decode_seconds += seconds_since(start);
      ++pass.decodes;
    }
    engine.free_sequence(seq);
  }
  return pass;
}

double ms_per_step(double seconds, int32_t steps) { return steps > 0 ? 1000.0 * seconds / steps : 0.0; }

// The decode step both passes measured, in ms.
double decode_step_ms(const MaskBench& b) {
  return ms_per_step(b.cold.decode_seconds + b.warm.decode_seconds, b.cold.decodes + b.warm.decodes);
}

double percent_of_step(const MaskPass& p, double step_ms) {
  return step_ms > 0 ? 100.0 * ms_per_step(p.mask_seconds, p.steps) / step_ms : 0.0;
}

}  // namespace

MaskBench bench_mask(Engine& engine, const std::string& grammar_name,
                     const std::function<std::shared_ptr<const grammar::TokenConstraint>()>& compile, int32_t n_gen,
                     const std::optional<std::string>& answer) {
  MaskBench b;
  b.grammar_name = grammar_name;
  auto start = Clock::now();
  const std::shared_ptr<const TokenTrie> trie = engine.tokenizer().token_trie();
  b.trie_seconds = seconds_since(start);
  b.n_vocab = trie->n_vocab();
  b.trie_nodes = trie->nodes().size();
  start = Clock::now();
  DecodeOptions options;
  options.grammar = compile();
  b.compile_seconds = seconds_since(start);
  options.sampler = SamplerKind::Standard;
  options.params.temperature = 1.0;
  const std::vector<int32_t> prompt = engine.tokenizer().encode(kPrompt, true, true);
  const std::vector<int32_t> forced = answer ? engine.tokenizer().encode(*answer, false, false) : std::vector<int32_t>{};
  if (answer && forced.empty()) throw Error("the answer to replay has no tokens");
  if (answer) n_gen = static_cast<int32_t>(forced.size());
  try {
    b.cold = generate_pass(engine, options, prompt, n_gen, forced);
  } catch (const Error& e) {
    if (!answer) throw;
    throw Error(std::string("the answer to replay does not match grammar ") + grammar_name + ": " + e.what());
  }
  b.warm = generate_pass(engine, options, prompt, n_gen, forced);
  return b;
}

void print_mask_bench(const MaskBench& b, int n_threads) {
  const double step = decode_step_ms(b);
  const auto pass = [&](const char* name, const MaskPass& p) {
    const std::string walks =
        p.walked_steps == 0 ? std::string("no state walked")
                            : fmt::format("{} states walked in {} steps ({:.3f} ms each), the other steps {:.3f} ms",
                                          p.states_walked, p.walked_steps,
                                          ms_per_step(p.walked_mask_seconds, p.walked_steps),
                                          ms_per_step(p.mask_seconds - p.walked_mask_seconds, p.steps - p.walked_steps));
    fmt::print("| mask {}, {} threads: {:.3f} ms/step over {} steps ({} answer{}), {:.2f}% of a decode step; {} |\n",
               name, n_threads, ms_per_step(p.mask_seconds, p.steps), p.steps, p.answers, p.answers == 1 ? "" : "s",
               percent_of_step(p, step), walks);
  };
  fmt::print("| mask of grammar {}: vocabulary {} tokens, trie {} nodes built in {:.1f} ms, grammar compiled in "
             "{:.2f} ms; decode step {:.2f} ms |\n",
             b.grammar_name, b.n_vocab, b.trie_nodes, 1000 * b.trie_seconds, 1000 * b.compile_seconds, step);
  pass("cold (empty cache)", b.cold);
  pass("warm (masks kept)", b.warm);
}

nlohmann::json mask_bench_json(const MaskBench& b, int n_threads) {
  const double step = decode_step_ms(b);
  const auto pass = [&](const MaskPass& p) {
    return nlohmann::json{{"steps", p.steps},
                          {"answers", p.answers},
                          {"mask_ms_per_step", ms_per_step(p.mask_seconds, p.steps)},
                          {"percent_of_decode_step", percent_of_step(p, step)},
                          {"states_walked", p.states_walked},
                          {"walked_steps", p.walked_steps},
                          {"walked_step_mask_ms", ms_per_step(p.walked_mask_seconds, p.walked_steps)},
                          {"decode_ms_per_step", ms_per_step(p.decode_seconds, p.decodes)}};
  };
  return {{"test", "mask"},
          {"threads", n_threads},
          {"grammar", b.grammar_name},
          {"n_vocab", b.n_vocab},
          {"trie_nodes", static_cast<uint64_t>(b.trie_nodes)},
          {"trie_build_ms", 1000 * b.trie_seconds},
          {"grammar_compile_ms", 1000 * b.compile_seconds},
          {"decode_step_ms", step},
          {"cold", pass(b.cold)},
          {"warm", pass(b.warm)}};
}

}  // namespace entropix
