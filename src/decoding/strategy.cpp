#include "decoding/strategy.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "decoding/generate.h"
#include "decoding/paths.h"
#include "decoding/adaptive_consistency.h"
#include "decoding/entropix_vote.h"
#include "decoding/entropy_fork.h"
#include "decoding/step_on_row.h"
#include "decoding/strategy_paths.h"
#include "decoding/vote.h"

namespace entropix {

namespace {

// At a LEHV step, before the path takes its draw: forks the path on its top
// candidates, rolls each out together for a short horizon, scores the rollouts and
// continues the path with the best.
void branch(Engine& engine, PathRunner& runner, Path& main, const SampleOutcome& at, const StrategyOptions& o,
            StrategyResult& r, uint64_t stream_base) {
  const int32_t width = std::min<int32_t>(o.branching.width, at.n_alternatives);
  std::vector<Path> rollouts;
  std::vector<Path*> ptrs;
  rollouts.reserve(static_cast<size_t>(width));
  for (int32_t i = 0; i < width; ++i) {
    const Alternative& alt = at.alternatives[static_cast<size_t>(i)];
    rollouts.push_back(fork_taking(engine, main, at, alt.id, alt.prob, stream_base * 64 + static_cast<uint64_t>(i), false));
  }
  for (Path& b : rollouts) ptrs.push_back(&b);
  runner.run(ptrs, o.branching.horizon, [](Path& p, const TokenEvent&) {
    const std::string& t = p.decoder->text();
    return !(t.size() > p.text_start && (t.back() == '.' || t.back() == '\n'));  // sentence or line end
  });
  std::vector<BranchChoice> choices;
  size_t best = 0;
  for (size_t i = 0; i < rollouts.size(); ++i) {
    Path& b = rollouts[i];
    double mean_h = 0;
    for (const auto& t : b.tokens) mean_h += t.entropy;
    mean_h = b.tokens.empty() ? 0 : mean_h / double(b.tokens.size());
    choices.push_back({b.decoder->text().substr(b.text_start), b.mean_logprob() - o.branching.entropy_weight * mean_h});
    r.tokens_spent += static_cast<int64_t>(b.tokens.size());
    if (choices[i].score > choices[best].score) best = i;
  }
  if (o.clarify && o.branching.clarify_margin > 0 && choices.size() > 1) {
    std::vector<size_t> order(choices.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return choices[a].score > choices[b].score; });
    if (choices[order[0]].score - choices[order[1]].score <= o.branching.clarify_margin &&
        choices[order[0]].text != choices[order[1]].text) {
      best = std::min(o.clarify(choices), choices.size() - 1);
    }
  }
  // The best rollout's sequence and decoder replace the path's; the others are freed at once.
  Path& win = rollouts[best];
  main.tokens.insert(main.tokens.end(), win.tokens.begin(), win.tokens.end());
  engine.free_sequence(main.seq);
  main.seq = win.seq;
  main.decoded = std::move(win.decoded);
  main.decoder = std::move(win.decoder);
  main.pending = win.pending;
  for (size_t i = 0; i < rollouts.size(); ++i) {
    if (i != best) engine.free_sequence(rollouts[i].seq);
  }
}

// One answer; with branching, LEHV steps fork on the top candidates, roll out each
// for a short horizon together, and continue with the best rollout.
StrategyResult run_single(Engine& engine, std::span<const int32_t> prompt, const StrategyOptions& o,
                          const TextCallback& on_text, PrefixCache* cache) {
  StrategyResult r;
  PathRunner runner(engine, o.stop);
  AttentionAnalyzer analyzer;
  Path main;
  main.decoder = std::make_unique<SequenceDecoder>(engine.tokenizer(), o.decode);
  const PrefixMatch read = read_prompt(engine, prompt, cache);
  main.seq = read.seq;
  r.n_cached = read.n_cached;
  // Frees whichever sequence the path holds at the end, also when a step throws.
  struct MainRelease {
    Engine& engine;
    Path& path;
    ~MainRelease() {
      if (path.seq >= 0) engine.free_sequence(path.seq);
    }
  } release{engine, main};
  auto emit = [&](Path& p, const TokenEvent& ev) {
    std::string text = p.decoder->take_text();
    if (on_text && !text.empty()) on_text(text, ev.outcome.state, ev.inserted);
  };

  // Each step's draw is looked at before the path takes it: a branch point forks
  // the path as it was before the step.
  int32_t forks_left = o.branching.max_forks;
  for (;;) {
    std::optional<SampleOutcome> draw = draw_on_row(engine, 0, *main.decoder, analyzer);
    if (!draw) break;  // the grammar allows nothing more
    if (draw->branch && forks_left > 0 && draw->n_alternatives > 1) {
      --forks_left;
      ++r.n_branch_points;
      branch(engine, runner, main, *draw, o, r, static_cast<uint64_t>(r.n_branch_points));
      std::string text = main.decoder->take_text();
      if (on_text && !text.empty()) on_text(text, State::LEHV, false);
    } else {
      const TokenEvent ev = main.decoder->accept(*draw);
      record_step(main, ev);
      r.tokens_spent += static_cast<int64_t>(ev.tokens.size());
      emit(main, ev);
    }
    if (main.finished()) break;
    if (runner.feed({&main}).empty()) break;  // the context is full
  }
  std::string rest = main.decoder->take_text();
  if (on_text && !rest.empty()) on_text(rest, State::Adaptive, false);
  count_path(r, main);
  PathSummary s = summarize_path(main, o.extractor, main.mean_logprob());
  r.text = s.text;
  r.answer = s.answer;
  r.n_generated = main.decoder->n_generated();
  r.finish = main.decoder->finish_reason();
  r.paths.push_back(std::move(s));
  r.confidence = path_confidence(main);
  if (cache) {
    const SeqId seq = main.seq;
    main.seq = -1;
    cache->retire(kv_tokens(prompt, main), seq);
  }
  return r;
}

// CoT-decoding: the top-k first tokens, each continued greedily; the path score is
// the mean confidence margin over its answer tokens.
StrategyResult run_cot(Engine& engine, std::span<const int32_t> prompt, const StrategyOptions& o,
                       PrefixCache* cache) {
  StrategyResult r;
  SequenceReleaser release{engine, {}};
  const SeqId root = read_root(engine, prompt, cache, r, release);
  DecodeOptions greedy = o.decode;
  greedy.sampler = SamplerKind::Greedy;
  // The k most probable first tokens, from the raw distribution with the logit bias
  // added and, under a grammar, among the tokens it allows.
  SequenceDecoder first(engine.tokenizer(), greedy);
  const std::span<const float> first_row = first.constrained(engine.logits(0));
  std::vector<float> logits(first_row.begin(), first_row.end());
  std::vector<int32_t> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  const size_t n_allowed = static_cast<size_t>(std::count_if(logits.begin(), logits.end(), [](float l) { return std::isfinite(l); }));
  const size_t k = std::min<size_t>(static_cast<size_t>(std::max(o.k, 1)), std::max<size_t>(n_allowed, 1));
  std::partial_sort(ids.begin(), ids.begin() + static_cast<long>(k), ids.end(),
                    [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)] || (logits[size_t(a)] == logits[size_t(b)] && a < b); });
  GreedySampler first_sampler(greedy.profile);
  Rng unused(0);
  const SampleOutcome base = first_sampler.step(logits, nullptr, unused);
  const LogitMetrics lm = compute_logit_metrics(logits);

  std::vector<Path> paths(k);
  std::vector<Path*> ptrs;
  for (size_t i = 0; i < k; ++i) {
    Path& p = paths[i];
    p.seq = engine.fork(root);
    release.seqs.push_back(p.seq);
    p.decoder = std::make_unique<SequenceDecoder>(engine.tokenizer(), greedy);
    SampleOutcome chosen = base;
    chosen.token = ids[i];
    chosen.logprob = lm.logprob(logits, ids[i]);
    record_step(p, p.decoder->accept(chosen));
    ptrs.push_back(&p);
  }
  PathRunner runner(engine, o.stop);
  runner.run(ptrs, greedy.max_tokens + 1);
  std::map<std::string, double> totals;
  size_t best = 0;
  double best_score = -1;
  for (size_t i = 0; i < k; ++i) {
    Path& p = paths[i];
    const std::string& text = p.decoder->text();
    auto span = o.extractor.extract(text);
    double score = span ? p.mean_margin(span->begin, span->end) : 0.0;
    r.tokens_spent += static_cast<int64_t>(p.tokens.size());
    count_path(r, p);
    r.paths.push_back(summarize_path(p, o.extractor, score));
    if (span) totals[span->value] += score;
    if (score > best_score) {
      best_score = score;
      best = i;
    }
  }
  if (o.aggregate && !totals.empty()) {
    auto top_answer = std::max_element(totals.begin(), totals.end(),
                                       [](const auto& a, const auto& b) { return a.second < b.second; });
    // The best-scoring path among those giving the winning answer.
    double s = -1;
    for (size_t i = 0; i < k; ++i) {
      if (r.paths[i].answer == top_answer->first && r.paths[i].score > s) {
        s = r.paths[i].score;
        best = i;
      }
    }
  }
  r.text = r.paths[best].text;
  r.answer = r.paths[best].answer;
  r.n_generated = r.paths[best].n_tokens;
  r.finish = paths[best].decoder->finish_reason();
  r.confidence = answer_share(r.paths, r.answer);
  if (cache) {
    for (const Path& p : paths) release.retire(*cache, prompt, p);
  }
  return r;
}

// Self-consistency (majority vote) and best-of-N (highest mean log-probability)
// over N sampled answers decoded together, each with its own random stream.
StrategyResult run_samples(Engine& engine, std::span<const int32_t> prompt, const StrategyOptions& o,
                           PrefixCache* cache) {
  StrategyResult r;
  SequenceReleaser release{engine, {}};
  const SeqId root = read_root(engine, prompt, cache, r, release);
  const int32_t n = std::max(o.n, 1);
  std::vector<Path> paths(static_cast<size_t>(n));
  std::vector<Path*> ptrs;
  AttentionAnalyzer analyzer;
  for (int32_t i = 0; i < n; ++i) {
    Path& p = paths[static_cast<size_t>(i)];
    p.seq = engine.fork(root);
    release.seqs.push_back(p.seq);
    DecodeOptions d = o.decode;
    d.seed = sample_seed(o.decode.seed, i);
    p.decoder = std::make_unique<SequenceDecoder>(engine.tokenizer(), d);
    record_step(p, step_on_row(engine, 0, *p.decoder, analyzer));
    ptrs.push_back(&p);
  }
  PathRunner runner(engine, o.stop);
  runner.run(ptrs, o.decode.max_tokens + 1);
  std::map<std::string, int> votes;
  std::map<std::string, size_t> first_with;
  size_t best = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    Path& p = paths[i];
    r.tokens_spent += static_cast<int64_t>(p.tokens.size());
    count_path(r, p);
    r.paths.push_back(summarize_path(p, o.extractor, p.mean_logprob()));
    if (r.paths[i].answer) {
      votes[*r.paths[i].answer] += 1;
      first_with.emplace(*r.paths[i].answer, i);
    }
    if (r.paths[i].score > r.paths[best].score) best = i;
  }
  if (o.kind == StrategyKind::SelfConsistency && !votes.empty()) {
    // Majority; ties go to the answer that appeared first.
    std::string winner;
    int most = -1;
    for (size_t i = 0; i < paths.size(); ++i) {
      const auto& a = r.paths[i].answer;
      if (a && votes[*a] > most) {
        most = votes[*a];
        winner = *a;
      }
    }
    best = first_with[winner];
  }
  r.text = r.paths[best].text;
  r.answer = r.paths[best].answer;
  r.n_generated = r.paths[best].n_tokens;
  r.finish = paths[best].decoder->finish_reason();
  r.confidence = answer_share(r.paths, r.answer);
  if (cache) {
    for (const Path& p : paths) release.retire(*cache, prompt, p);
  }
  return r;
}

int32_t parse_count(std::string_view spec, std::string_view name, int32_t fallback) {
  if (spec.size() == name.size()) return fallback;
  if (spec[name.size()] != ':') throw Error("unknown strategy \"" + std::string(spec) + "\"");
  std::string num(spec.substr(name.size() + 1));
  try {
    size_t used = 0;
    int v = std::stoi(num, &used);
    if (used != num.size() || v < 1 || v > 256) throw Error("");
    return v;
  } catch (...) {
    throw Error("strategy \"" + std::string(spec) + "\": expected a count from 1 to 256 after ':'");
  }
}

}  // namespace

StrategyOptions parse_strategy(std::string_view spec, const DecodeOptions& base) {
  StrategyOptions o;
  o.name = std::string(spec);
  o.decode = base;
  auto starts = [&](std::string_view n) { return spec.substr(0, n.size()) == n && (spec.size() == n.size() || spec[n.size()] == ':'); };
  if (spec == "greedy" || spec == "standard" || spec == "entropix") {
    o.decode.sampler = parse_sampler_kind(spec);
  } else if (spec == "entropix-branch") {
    o.decode.sampler = SamplerKind::Entropix;
    o.decode.profile.branching = true;
  } else if (starts("cot-decoding")) {
    o.kind = StrategyKind::CotDecoding;
    o.k = parse_count(spec, "cot-decoding", 10);
  } else if (starts("self-consistency")) {
    o.kind = StrategyKind::SelfConsistency;
    o.n = parse_count(spec, "self-consistency", 8);
    if (o.decode.sampler == SamplerKind::Greedy) o.decode.sampler = SamplerKind::Standard;
  } else if (starts("best-of-n")) {
    o.kind = StrategyKind::BestOfN;
    o.n = parse_count(spec, "best-of-n", 8);
    if (o.decode.sampler == SamplerKind::Greedy) o.decode.sampler = SamplerKind::Standard;
  } else if (starts("adaptive-consistency")) {
    o.kind = StrategyKind::AdaptiveConsistency;
    o.n = parse_count(spec, "adaptive-consistency", 16);
    if (o.decode.sampler == SamplerKind::Greedy) o.decode.sampler = SamplerKind::Standard;
  } else if (starts("entropix-vote")) {
    o.kind = StrategyKind::EntropixVote;
    o.n = parse_count(spec, "entropix-vote", 2);
  } else if (starts("entropy-fork")) {
    o.kind = StrategyKind::EntropyFork;
    o.fork.k = parse_count(spec, "entropy-fork", 4);
    if (o.fork.k > kMaxAlternatives) throw Error("strategy \"" + std::string(spec) + "\": at most " + std::to_string(kMaxAlternatives) + " paths per fork point");
    o.decode.sampler = SamplerKind::Greedy;
    o.decode.profile.n_alternatives = std::max(o.decode.profile.n_alternatives, o.fork.k);
  } else {
    throw Error("unknown strategy \"" + std::string(spec) +
                "\" (greedy, standard, entropix, entropix-branch, cot-decoding[:k], self-consistency[:n], best-of-n[:n], "
                "adaptive-consistency[:max], entropy-fork[:k], entropix-vote[:n])");
  }
  return o;
}

StrategyResult run_strategy(Engine& engine, std::span<const int32_t> prompt, const StrategyOptions& o,
                            const TextCallback& on_text, PrefixCache* cache) {
  switch (o.kind) {
    case StrategyKind::Single: return run_single(engine, prompt, o, on_text, cache);
    case StrategyKind::CotDecoding: return run_cot(engine, prompt, o, cache);
    case StrategyKind::SelfConsistency:
    case StrategyKind::BestOfN: return run_samples(engine, prompt, o, cache);
    case StrategyKind::AdaptiveConsistency: return run_adaptive_consistency(engine, prompt, o, cache);
    case StrategyKind::EntropyFork: return run_entropy_fork(engine, prompt, o, cache);
    case StrategyKind::EntropixVote: return run_entropix_vote(engine, prompt, o, cache);
  }
  throw Error("unknown strategy kind");
}

}  // namespace entropix
