#include "decoding/entropy_fork.h"

#include <deque>

#include "decoding/generate.h"
#include "decoding/step_on_row.h"
#include "decoding/strategy_paths.h"
#include "decoding/vote.h"

namespace entropix {

bool uncertain_step(const TokenMetrics& m, const Profile& profile) {
  return m.entropy >= profile.thresholds.entropy_high || m.varentropy >= profile.thresholds.varentropy_high;
}

StrategyResult run_entropy_fork(Engine& engine, std::span<const int32_t> prompt, const StrategyOptions& o,
                                PrefixCache* cache) {
  StrategyResult r;
  SequenceReleaser release{engine, {}};
  std::deque<Path> paths;  // forks are added while the others step: addresses must stay
  Path& main = paths.emplace_back();
  main.seq = read_root(engine, prompt, cache, r, release);
  main.decoder = std::make_unique<SequenceDecoder>(engine.tokenizer(), o.decode);

  int32_t points_left = o.fork.max_points;
  // Forks a path at an uncertain draw into the next most probable tokens.
  const DrawCallback fork_if_unsure = [&](Path& p, const SampleOutcome& draw) {
    if (points_left <= 0 || draw.insert_thinking || !uncertain_step(draw.metrics, o.decode.profile)) return;
    int32_t made = 0;
    for (const Alternative& alt : draw.alternatives_span()) {
      if (made + 1 >= o.fork.k) break;
      if (alt.id == draw.token || alt.prob <= 0 || engine.tokenizer().is_eog(alt.id)) continue;
      paths.push_back(fork_taking(engine, p, draw, alt.id, alt.prob, paths.size(), true));
      release.seqs.push_back(paths.back().seq);
      ++made;
    }
    if (made > 0) {
      --points_left;
      ++r.n_branch_points;
    }
  };

  AttentionAnalyzer analyzer;
  record_step(main, step_path(engine, 0, main, analyzer, fork_if_unsure));
  PathRunner runner(engine, o.stop);
  for (;;) {
    std::vector<Path*> open;
    for (Path& p : paths)
      if (!p.finished() && !p.pending.empty()) open.push_back(&p);
    if (open.empty()) break;
    auto events = runner.advance(open, fork_if_unsure);
    if (events.empty()) break;  // every open path's context is full
    for (auto& [p, ev] : events) record_step(*p, ev);
  }

  for (const Path& p : paths) {
    r.tokens_spent += static_cast<int64_t>(p.tokens.size() - p.n_inherited);
    count_path(r, p);
    r.paths.push_back(summarize_path(p, o.extractor, p.mean_logprob()));
  }
  const VoteTally votes = tally_votes(r.paths);
  const size_t best = votes.winner ? votes.winner_path : 0;
  r.text = r.paths[best].text;
  r.answer = r.paths[best].answer;
  r.n_generated = r.paths[best].n_tokens;
  r.finish = paths[best].decoder->finish_reason();
  r.confidence = paths.size() > 1 ? votes.share() : path_confidence(paths[0]);
  if (cache) {
    for (const Path& p : paths) release.retire(*cache, prompt, p);
  }
  return r;
}

}  // namespace entropix
