#include "decoding/adaptive_consistency.h"

#include <algorithm>
#include <deque>

#include "decoding/generate.h"
#include "decoding/strategy_paths.h"
#include "decoding/vote.h"

namespace entropix {

StrategyResult run_adaptive_consistency(Engine& engine, std::span<const int32_t> prompt, const StrategyOptions& o,
                                        PrefixCache* cache) {
  StrategyResult r;
  SequenceReleaser release{engine, {}};
  const SeqId root = read_root(engine, prompt, cache, r, release);
  const int32_t max = std::max(o.n, 1);
  const int32_t batch = std::max(o.adaptive.batch, 1);
  std::deque<Path> paths;
  PromptForks forks(engine, root, o.decode);
  PathRunner runner(engine, o.stop);
  VoteTally votes;
  while (static_cast<int32_t>(paths.size()) < max) {
    // The next answers, each with its own random stream (the streams self-consistency
    // draws, so its first answers are these), decoded together.
    std::vector<Path*> drawn;
    const int32_t first = static_cast<int32_t>(paths.size());
    for (int32_t i = first; i < std::min(first + batch, max); ++i) {
      DecodeOptions d = o.decode;
      d.seed = sample_seed(o.decode.seed, i);
      Path& p = paths.emplace_back(forks.start(d));
      release.seqs.push_back(p.seq);
      drawn.push_back(&p);
    }
    runner.run(drawn, o.decode.max_tokens + 1);
    for (Path* p : drawn) {
      r.tokens_spent += static_cast<int64_t>(p->tokens.size());
      count_path(r, *p);
      r.paths.push_back(summarize_path(*p, o.extractor, p->mean_logprob()));
    }
    votes = tally_votes(r.paths);
    if (votes.top > 0 && majority_settled_probability(votes.top, votes.second) >= o.adaptive.settled) break;
  }
  const size_t best = votes.winner ? votes.winner_path : 0;
  r.text = r.paths[best].text;
  r.answer = r.paths[best].answer;
  r.n_generated = r.paths[best].n_tokens;
  r.finish = paths[best].decoder->finish_reason();
  r.confidence = votes.share();
  if (cache) {
    for (const Path& p : paths) release.retire(*cache, prompt, p);
  }
  return r;
}

}  // namespace entropix
