#include "decoding/entropix_vote.h"

#include <deque>

#include "decoding/generate.h"
#include "decoding/strategy_paths.h"
#include "decoding/vote.h"

namespace entropix {

StrategyResult run_entropix_vote(Engine& engine, std::span<const int32_t> prompt, const StrategyOptions& o,
                                 PrefixCache* cache) {
  StrategyResult r;
  SequenceReleaser release{engine, {}};
  const SeqId root = read_root(engine, prompt, cache, r, release);
  PromptForks forks(engine, root, o.decode);
  PathRunner runner(engine, o.stop);
  std::deque<Path> paths;
  std::vector<double> weights;
  const auto finish = [&](Path& p, const DecodeOptions& d) {
    release.seqs.push_back(p.seq);
    std::vector<Path*> one{&p};
    runner.run(one, d.max_tokens + 1);
    r.tokens_spent += static_cast<int64_t>(p.tokens.size());
    count_path(r, p);
    r.paths.push_back(summarize_path(p, o.extractor, p.mean_logprob()));
    weights.push_back(path_confidence(p));
  };

  DecodeOptions greedy = o.decode;
  greedy.sampler = SamplerKind::Greedy;
  finish(paths.emplace_back(forks.start(greedy)), greedy);
  if (weights[0] < o.vote.confident) {
    DecodeOptions sampled = o.decode;
    sampled.sampler = SamplerKind::Entropix;
    for (int32_t i = 0; i < std::max(o.n, 1); ++i) {
      sampled.seed = sample_seed(o.decode.seed, i);
      finish(paths.emplace_back(forks.start(sampled)), sampled);
      const VoteTally t = tally_votes(r.paths);
      if (t.top > 0 && majority_settled_probability(t.top, t.second) >= o.vote.settled) break;
    }
  }
  const WeightedVote vote = weighted_vote(r.paths, weights);
  const size_t best = vote.winner ? vote.winner_path : 0;
  r.text = r.paths[best].text;
  r.answer = r.paths[best].answer;
  r.n_generated = r.paths[best].n_tokens;
  r.finish = paths[best].decoder->finish_reason();
  r.confidence = paths.size() == 1 ? weights[0] : vote.share;
  if (cache) {
    for (const Path& p : paths) release.retire(*cache, prompt, p);
  }
  return r;
}

}  // namespace entropix
