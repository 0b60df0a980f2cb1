#include "decoding/paths.h"

#include <utility>

#include "core/error.h"
#include "decoding/step_on_row.h"

namespace entropix {

double Path::mean_logprob() const {
  if (tokens.empty()) return 0.0;
  double sum = 0;
  for (const auto& t : tokens) sum += t.logprob;
  return sum / double(tokens.size());
}

double Path::mean_margin(size_t begin, size_t end) const {
  double sum = 0;
  int n = 0;
  size_t prev = text_start;
  for (const auto& t : tokens) {
    if (t.text_end > begin && prev < end) {
      sum += t.margin;
      ++n;
    }
    prev = t.text_end;
  }
  return n ? sum / n : 0.0;
}

void record_step(Path& path, const TokenEvent& ev) {
  path.pending = ev.tokens;
  if (ev.end_of_text) return;
  PathToken t;
  t.id = ev.inserted ? -1 : ev.outcome.token;
  t.logprob = ev.inserted ? 0.0 : ev.outcome.logprob;
  t.margin = ev.outcome.metrics.top1_prob - ev.outcome.metrics.top2_prob;
  t.entropy = ev.outcome.metrics.entropy;
  t.varentropy = ev.outcome.metrics.varentropy;
  t.state = ev.outcome.state;
  t.text_end = path.decoder->text().size();
  path.tokens.push_back(t);
}

PathRunner::PathRunner(Engine& engine, std::function<bool()> stop) : engine_(engine), stop_(std::move(stop)) {}

TokenEvent step_path(Engine& engine, size_t row, Path& path, AttentionAnalyzer& analyzer,
                     const DrawCallback& before_take) {
  if (!before_take) return step_on_row(engine, row, *path.decoder, analyzer);
  std::optional<SampleOutcome> draw = draw_on_row(engine, row, *path.decoder, analyzer);
  if (!draw) {
    TokenEvent ev;
    ev.end_of_text = true;
    return ev;
  }
  before_take(path, *draw);
  return path.decoder->accept(*draw);
}

std::vector<Path*> PathRunner::feed(const std::vector<Path*>& paths) {
  batch_.clear();
  std::vector<Path*> active;
  for (Path* p : paths) {
    if (p->finished() || p->pending.empty()) continue;
    if (engine_.seq_length(p->seq) + static_cast<int32_t>(p->pending.size()) > engine_.n_ctx()) {
      p->decoder->finish(FinishReason::Length);  // the context is full
      continue;
    }
    for (size_t i = 0; i < p->pending.size(); ++i) {
      batch_.push_back({p->seq, p->pending[i], i + 1 == p->pending.size()});
    }
    p->decoded.insert(p->decoded.end(), p->pending.begin(), p->pending.end());
    p->pending.clear();
    active.push_back(p);
  }
  if (active.empty()) return active;
  if (stop_ && stop_()) throw Error("the decoding was stopped");
  engine_.decode(batch_);
  tokens_decoded_ += static_cast<int64_t>(batch_.size());
  return active;
}

std::vector<std::pair<Path*, TokenEvent>> PathRunner::advance(const std::vector<Path*>& paths,
                                                             const DrawCallback& before_take) {
  const std::vector<Path*> active = feed(paths);
  std::vector<std::pair<Path*, TokenEvent>> events;
  for (size_t r = 0; r < active.size(); ++r) {
    Path& p = *active[r];
    events.emplace_back(&p, step_path(engine_, r, p, analyzer_, before_take));
  }
  return events;
}

void PathRunner::step(std::vector<Path*>& paths, const PathCallback& on_event) {
  for (auto& [p, ev] : advance(paths)) {
    record_step(*p, ev);
    if (on_event && !on_event(*p, ev)) p->decoder->finish(FinishReason::Cancelled);
  }
}

void PathRunner::run(std::vector<Path*>& paths, int32_t max_steps, const PathCallback& on_event) {
  for (int32_t s = 0; s < max_steps; ++s) {
    bool any = false;
    for (Path* p : paths) any = any || (!p->finished() && !p->pending.empty());
    if (!any) return;
    step(paths, on_event);
  }
}

}  // namespace entropix
