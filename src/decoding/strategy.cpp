#include "decoding/strategy.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "decoding/generate.h"
#include "decoding/paths.h"
#include "decoding/step_on_row.h"

namespace entropix {

namespace {

void count(StrategyResult& r, const Path& p) {
  for (const auto& t : p.tokens) r.state_counts[static_cast<size_t>(t.state)] += 1;
  r.n_inserted += p.decoder->n_inserted();
}

PathSummary summarize(const Path& p, const AnswerExtractor& ex, double score) {
  std::string text = p.decoder->text().substr(std::min(p.text_start, p.decoder->text().size()));
  auto span = ex.extract(text);
  return {text, span ? std::optional<std::string>(span->value) : std::nullopt, score,
          static_cast<int32_t>(p.tokens.size())};
}

// The tokens a path's sequence holds: the prompt, then what the path decoded.
std::vector<int32_t> kv_tokens(std::span<const int32_t> prompt, const Path& p) {
  std::vector<int32_t> tokens(prompt.begin(), prompt.end());
  tokens.insert(tokens.end(), p.decoded.begin(), p.decoded.end());
  return tokens;
}

// Frees the sequences it holds when it goes, also when a step throws; at the end of a
// strategy the finished paths go to the prefix cache instead.
struct SequenceReleaser {
  Engine& engine;
  std::vector<SeqId> seqs;
  ~SequenceReleaser() {
    for (SeqId s : seqs) engine.free_sequence(s);
  }
  void retire(PrefixCache& cache, std::span<const int32_t> prompt, const Path& p) {
    seqs.erase(std::find(seqs.begin(), seqs.end(), p.seq));
    cache.retire(kv_tokens(prompt, p), p.seq);
  }
};

// At a LEHV step: forks the path on its top candidates, rolls each out together
// for a short horizon, scores the rollouts and continues the path with the best.
void branch(Engine& engine, PathRunner& runner, Path& main, const SampleOutcome& at, const StrategyOptions& o,
            StrategyResult& r, uint64_t stream_base) {
  const int32_t width = std::min<int32_t>(o.branching.width, at.n_alternatives);
  std::vector<Path> rollouts(static_cast<size_t>(width));
  std::vector<Path*> ptrs;
  for (int32_t i = 0; i < width; ++i) {
    Path& b = rollouts[static_cast<size_t>(i)];
    b.seq = engine.fork(main.seq);
    b.decoded = main.decoded;
    b.decoder = main.decoder->fork(stream_base * 64 + static_cast<uint64_t>(i));
    b.text_start = main.decoder->text().size();
    SampleOutcome chosen = at;
    chosen.token = at.alternatives[static_cast<size_t>(i)].id;
    chosen.logprob = std::log(std::max(at.alternatives[static_cast<size_t>(i)].prob, 1e-300));
    chosen.branch = false;
    record_step(b, b.decoder->accept(chosen));
    ptrs.push_back(&b);
  }
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
  PathRunner runner(engine);
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

  TokenEvent ev = step_on_row(engine, 0, *main.decoder, analyzer);
  int32_t forks_left = o.branching.max_forks;
  for (;;) {
    if (ev.outcome.branch && forks_left > 0 && !main.finished() && ev.outcome.n_alternatives > 1) {
      --forks_left;
      ++r.n_branch_points;
      branch(engine, runner, main, ev.outcome, o, r, static_cast<uint64_t>(r.n_branch_points));
      std::string text = main.decoder->take_text();
      if (on_text && !text.empty()) on_text(text, State::LEHV, false);
    } else {
      record_step(main, ev);
      r.tokens_spent += static_cast<int64_t>(ev.tokens.size());
      emit(main, ev);
    }
    if (main.finished()) break;
    auto events = runner.advance({&main});
    if (events.empty()) break;  // the context is full
    ev = std::move(events.front().second);
  }
  std::string rest = main.decoder->take_text();
  if (on_text && !rest.empty()) on_text(rest, State::Adaptive, false);
  count(r, main);
  PathSummary s = summarize(main, o.extractor, main.mean_logprob());
  r.text = s.text;
  r.answer = s.answer;
  r.n_generated = main.decoder->n_generated();
  r.finish = main.decoder->finish_reason();
  r.paths.push_back(std::move(s));
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
  const PrefixMatch read = read_prompt(engine, prompt, cache);
  const SeqId root = read.seq;
  r.n_cached = read.n_cached;
  SequenceReleaser release{engine, {root}};
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
  PathRunner runner(engine);
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
    count(r, p);
    r.paths.push_back(summarize(p, o.extractor, score));
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
  const PrefixMatch read = read_prompt(engine, prompt, cache);
  const SeqId root = read.seq;
  r.n_cached = read.n_cached;
  SequenceReleaser release{engine, {root}};
  const int32_t n = std::max(o.n, 1);
  std::vector<Path> paths(static_cast<size_t>(n));
  std::vector<Path*> ptrs;
  AttentionAnalyzer analyzer;
  for (int32_t i = 0; i < n; ++i) {
    Path& p = paths[static_cast<size_t>(i)];
    p.seq = engine.fork(root);
    release.seqs.push_back(p.seq);
    DecodeOptions d = o.decode;
    d.seed = o.decode.seed * 1000003ULL + static_cast<uint64_t>(i);
    p.decoder = std::make_unique<SequenceDecoder>(engine.tokenizer(), d);
    record_step(p, step_on_row(engine, 0, *p.decoder, analyzer));
    ptrs.push_back(&p);
  }
  PathRunner runner(engine);
  runner.run(ptrs, o.decode.max_tokens + 1);
  std::map<std::string, int> votes;
  std::map<std::string, size_t> first_with;
  size_t best = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    Path& p = paths[i];
    r.tokens_spent += static_cast<int64_t>(p.tokens.size());
    count(r, p);
    r.paths.push_back(summarize(p, o.extractor, p.mean_logprob()));
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
  } else {
    throw Error("unknown strategy \"" + std::string(spec) +
                "\" (greedy, standard, entropix, entropix-branch, cot-decoding[:k], self-consistency[:n], best-of-n[:n])");
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
  }
  throw Error("unknown strategy kind");
}

}  // namespace entropix
